"""Auxiliary targets: trained on, never selected on, predicted or scored by default."""

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed
from sklearn.base import clone

from tabmtl import MultiTaskEstimator
from tabmtl.errors import InputError
from tabmtl.evaluation._metrics import task_scorer

FAST = dict(hidden_layer_sizes=(16,), max_epochs=5, random_state=0, numeric_embedding=None)


def latent_table(seed: int = 0, n: int = 600, n_main: int = 40, n_test: int = 1000):
    """``main`` and ``aux`` both measure a latent factor that 16 features show only
    noisily (24 more are pure noise); ``main`` is labelled on ``n_main`` rows, ``aux``
    on all of them; ``noise`` is an unrelated target. Returns train X, Y and test X, Y."""
    rng = np.random.default_rng(seed)
    total = n + n_test
    z = rng.normal(size=total)
    X = pd.DataFrame({f"x{i}": z + 2.5 * rng.normal(size=total) for i in range(16)})
    for i in range(24):
        X[f"n{i}"] = rng.normal(size=total)
    Y = pd.DataFrame(
        {
            "main": z + 0.2 * rng.normal(size=total),
            "aux": z + 0.2 * rng.normal(size=total),
            "noise": rng.normal(size=total),
        }
    )
    Y.loc[n_main : n - 1, "main"] = np.nan  # scarce main labels; auxiliaries complete
    return X.iloc[:n], Y.iloc[:n], X.iloc[n:], Y.iloc[n:][["main"]]


LATENT = dict(  # one plain trunk: the auxiliary mechanism is under test, not the body
    architecture="hard", hidden_layer_sizes=(32,), early_stopping=False, random_state=0,
    numeric_embedding=None, batch_size=64,
)


def test_related_auxiliary_beats_single_task_on_scarce_main_labels():
    X, Y, X_test, Y_test = latent_table()
    # the single-task fit sees only the 40 labelled rows: give it more epochs (steps)
    single = MultiTaskEstimator(max_epochs=100, **LATENT).fit(X, Y[["main"]])
    helped = MultiTaskEstimator(auxiliary="aux", max_epochs=40, **LATENT).fit(
        X, Y[["main", "aux"]]
    )
    unrelated = MultiTaskEstimator(auxiliary="noise", max_epochs=40, **LATENT).fit(
        X, Y[["main", "noise"]]
    )
    alone, with_aux = single.score(X_test, Y_test), helped.score(X_test, Y_test)
    with_noise = unrelated.score(X_test, Y_test)
    # measured: 0.358 alone, 0.436 with the auxiliary, 0.392 with the unrelated one
    assert with_aux >= alone + 0.03, (alone, with_aux)
    assert with_noise >= alone - 0.03, (alone, with_noise)
    assert with_aux > with_noise


def test_rows_labelled_only_for_auxiliaries_train_the_shared_layers():
    X, Y, _, _ = latent_table(n=300)
    est = MultiTaskEstimator(auxiliary="aux", max_epochs=1, **{**LATENT, "batch_size": 300})
    est.fit(X, Y[["main", "aux"]])
    # one batch of all 300 rows: every row (260 with the auxiliary label only) was kept
    assert est.history_[-1, "batches", -1, "train_batch_size"] == 300


def test_kept_epoch_is_the_best_for_the_main_targets():
    X, Y, _, _ = latent_table(n=600, n_main=600)
    Y = Y.copy()
    Y.loc[Y.index[80:], "noise"] = np.nan  # an unrelated auxiliary on few rows
    est = MultiTaskEstimator(
        auxiliary="noise", hidden_layer_sizes=(64,), numeric_embedding=None, batch_size=32,
        early_stopping=True, validation_fraction=0.3, patience=8, max_epochs=60,
        lr=3e-3, random_state=0,
    ).fit(X, Y[["main", "noise"]])
    history = pd.DataFrame(est.history_.to_list())
    main = history["valid_loss_main"] / history["valid_loss_main"].iloc[0]
    every = np.sqrt(main * history["valid_loss_noise"] / history["valid_loss_noise"].iloc[0])
    kept = int(history["epoch"].iloc[int(np.nanargmin(main))])
    assert est.best_epoch_ == kept
    np.testing.assert_allclose(history["valid_objective"], main, rtol=1e-6)
    # the objective over every task would have kept another epoch (measured: 11, not 3)
    assert int(history["epoch"].iloc[int(np.nanargmin(every))]) != kept


def test_predict_returns_main_targets_unless_asked(mixed):
    X, Y = mixed
    est = MultiTaskEstimator(auxiliary=["late"], **FAST).fit(X, Y)
    assert list(est.predict(X.head(3)).columns) == ["eta", "band"]
    assert list(est.predict(X.head(3), include_auxiliary=True).columns) == list(Y.columns)
    assert sorted(est.predict_proba(X.head(3))) == ["band"]
    assert sorted(est.predict_proba(X.head(3), include_auxiliary=True)) == ["band", "late"]
    record = X.iloc[0].to_dict()
    assert sorted(est.predict_record(record)) == ["band", "eta"]
    assert sorted(est.predict_record(record, include_auxiliary=True)) == ["band", "eta", "late"]
    assert sorted(est.predict_proba_record(record)) == ["band"]
    assert est.main_targets_ == ["eta", "band"] and est.auxiliary_targets_ == ["late"]


def test_score_ignores_auxiliaries(mixed):
    X, Y = mixed
    est = MultiTaskEstimator(auxiliary="late", **FAST).fit(X, Y)
    assert list(est.score_tasks(X, Y).index) == ["eta", "band"]
    Y_bad = Y.assign(late=~Y["late"])  # wrong auxiliary labels change nothing
    assert est.score(X, Y_bad) == est.score(X, Y)
    assert est.score(X, Y.drop(columns="late")) == est.score(X, Y)
    scores = task_scorer()(est, X, Y)
    assert sorted(scores) == ["band", "eta", "mean"]
    assert scores["mean"] == pytest.approx(est.score(X, Y))


def test_save_load_keeps_the_roles(mixed, tmp_path):
    from tabmtl.io._persistence import load_model, save_model

    X, Y = mixed
    est = MultiTaskEstimator(auxiliary=["late"], auxiliary_weight=0.5, **FAST).fit(X, Y)
    path = save_model(est, tmp_path / "m.tabmtl")
    loaded = load_model(path)
    assert loaded.auxiliary == ["late"] and loaded.auxiliary_weight == 0.5
    assert loaded.main_targets_ == ["eta", "band"]
    pd.testing.assert_frame_equal(loaded.predict(X.head(5)), est.predict(X.head(5)))
    assert loaded.score(X, Y) == est.score(X, Y)


def test_auxiliary_weight_scales_the_auxiliary_loss(mixed):
    X, Y = mixed
    full = MultiTaskEstimator(auxiliary="late", **FAST).fit(X, Y)
    zero = MultiTaskEstimator(auxiliary="late", auxiliary_weight=0.0, **FAST).fit(X, Y)
    assert full.history_[-1]["train_loss_late"] > 0
    assert zero.history_[-1]["train_loss_late"] == 0.0
    # a learned weighting still trains with scaled auxiliary losses
    MultiTaskEstimator(
        auxiliary="late", auxiliary_weight=0.3, weighting="uncertainty", **FAST
    ).fit(X, Y)
    MultiTaskEstimator(auxiliary="late", auxiliary_weight=0.3, weighting="pcgrad", **FAST).fit(
        X, Y
    )


@pytest.mark.parametrize(
    ("auxiliary", "message"),
    [
        ("lab_a", "auxiliary target 'lab_a' is not a target column"),
        (["eta", "late", "band"], "Every target"),
        (["eta", "eta"], "more than once"),
    ],
)
def test_bad_auxiliary_is_a_clear_error(mixed, auxiliary, message):
    X, Y = mixed
    with pytest.raises(InputError, match=message):
        MultiTaskEstimator(auxiliary=auxiliary, **FAST).fit(X, Y)


def test_bad_auxiliary_weight_is_a_clear_error(mixed):
    X, Y = mixed
    with pytest.raises(InputError, match="auxiliary_weight"):
        MultiTaskEstimator(auxiliary="late", auxiliary_weight=-1.0, **FAST).fit(X, Y)


def test_clone_and_get_params_include_the_roles():
    est = MultiTaskEstimator(auxiliary=["a", "b"], auxiliary_weight=0.25)
    params = clone(est).get_params()
    assert params["auxiliary"] == ["a", "b"] and params["auxiliary_weight"] == 0.25
    assert MultiTaskEstimator().get_params()["auxiliary"] is None


def test_tuning_objective_leaves_auxiliaries_out():
    from tabmtl.tuning._objective import CrossValidationObjective
    from tabmtl.tuning._space import SearchSpace

    X, Y = make_mixed(60)
    est = MultiTaskEstimator(auxiliary="late", **FAST)
    space = SearchSpace(est, {"lr": [1e-2]}, replace=True)
    objective = CrossValidationObjective(
        est, X, Y, [(np.arange(30), np.arange(30, 60))], space,
        {"eta": 1.0, "late": 1.0, "band": 1.0},
    )
    assert objective.weights == {"eta": 1.0, "band": 1.0}
    with pytest.raises(InputError, match="only auxiliary"):
        CrossValidationObjective(est, X, Y, [], space, {"late": 1.0})


def test_auxiliary_gain_pairs_each_configuration_with_the_single_task_fit():
    from tabmtl.evaluation._auxiliary import auxiliary_gain

    X, Y, _, _ = latent_table(n=300, n_main=300)
    est = MultiTaskEstimator(max_epochs=20, **{**LATENT, "early_stopping": False})
    result = auxiliary_gain(X, Y, "main", ["aux", "noise"], est, cv=3, main_fraction=0.25)
    summary = result.summary.set_index("model")
    assert list(summary.index) == ["alone", "all auxiliaries", "+aux", "+noise"]
    scores = result.scores
    alone = scores[scores.model == "alone"].set_index("fold")["value"]
    with_aux = scores[scores.model == "+aux"].set_index("fold")["value"]
    np.testing.assert_allclose(
        scores[scores.model == "+aux"]["gain"], (with_aux - alone).to_numpy()
    )
    # 25% of the main labels (about 50 rows per fold): the measuring auxiliary helps
    # (measured +0.131 ± 0.086 over 3 folds; the noise rule calls that within noise)
    assert summary.loc["+aux", "gain"] > 0.02
    assert summary.loc["alone", "verdict"] == ""
    assert set(summary["verdict"]) <= {"", "gain", "loss", "within noise"}
    table = result.to_markdown()
    assert "all auxiliaries" in table and "verdict" in table


def test_auxiliary_gain_rejects_unknown_and_overlapping_names():
    from tabmtl.evaluation._auxiliary import auxiliary_gain

    X, Y, _, _ = latent_table(n=60, n_main=60)
    with pytest.raises(InputError, match="'lab' is not a target column"):
        auxiliary_gain(X, Y, "main", "lab")
    with pytest.raises(InputError, match="both main and auxiliary"):
        auxiliary_gain(X, Y, "main", ["main", "aux"])


def test_a_gain_counts_only_when_the_folds_support_it():
    from tabmtl.evaluation._auxiliary import _verdict

    assert _verdict(np.array([0.03, 0.025, 0.035])) == "gain"
    assert _verdict(np.array([0.003, -0.010, 0.020])) == "within noise"
    assert _verdict(np.array([-0.03, -0.025, -0.035])) == "loss"


def _cli(capsys, monkeypatch, cwd, *args):
    from tabmtl._cli import main

    monkeypatch.chdir(cwd)
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def table_csv(tmp_path):
    X, Y = make_mixed(120)
    path = tmp_path / "t.csv"
    X.join(Y).to_csv(path, index=False)
    return path


def test_cli_fit_auxiliary_saves_the_roles(capsys, monkeypatch, table_csv, tmp_path):
    from tabmtl.io._persistence import load_model

    code, out, err = _cli(
        capsys, monkeypatch, tmp_path, "fit", table_csv, "-t", "eta", "--auxiliary", "late",
        "--auxiliary", "band", "--auxiliary-weight", "0.5", "--max-epochs", "2", "-q",
        "-o", "m.tabmtl",
    )
    assert code == 0, err
    assert "late (binary, auxiliary)" in out
    model = load_model(tmp_path / "m.tabmtl")
    assert model.auxiliary == ["late", "band"] and model.auxiliary_weight == 0.5
    assert model.main_targets_ == ["eta"]


def test_cli_fit_all_auxiliary_is_a_usage_error(capsys, monkeypatch, table_csv, tmp_path):
    code, _, err = _cli(
        capsys, monkeypatch, tmp_path, "fit", table_csv, "--auxiliary", "late",
        "--max-epochs", "1", "-q", "-o", "m.tabmtl",
    )
    assert code == 2 and "Every target" in err


def test_cli_evaluate_auxiliary_prints_the_gain_table(capsys, monkeypatch, table_csv, tmp_path):
    code, out, err = _cli(
        capsys, monkeypatch, tmp_path, "evaluate", table_csv, "-t", "eta", "--auxiliary",
        "late", "--auxiliary", "band", "--cv", "2", "--max-epochs", "2", "-q",
        "--main-fraction", "0.5", "--scores-csv", "s.csv",
    )
    assert code == 0, err
    for model in ("alone", "all auxiliaries", "+late", "+band"):
        assert f"| {model}" in out
    scores = pd.read_csv(tmp_path / "s.csv")
    assert set(scores["task"]) == {"eta"} and len(scores) == 2 * 4


def test_auto_early_stopping_counts_the_main_targets_labels():
    # 600 rows, but only 40 with a main label: a validation split would hold about 4 main
    # labels to choose the epoch with, so "auto" runs the whole budget as for 40 rows
    X, Y, _, _ = latent_table(n=600, n_main=40)
    est = MultiTaskEstimator(auxiliary="aux", hidden_layer_sizes=(8,), max_epochs=2,
                             numeric_embedding=None, random_state=0)
    assert est.fit(X, Y[["main", "aux"]]).early_stopping_ is False
    assert est.set_params(auxiliary=None).fit(X, Y[["main", "aux"]]).early_stopping_ is True


def test_export_keeps_the_auxiliary_heads(mixed, tmp_path):
    pytest.importorskip("onnx")
    from tabmtl.io._export import export_onnx, read_metadata

    X, Y = mixed
    est = MultiTaskEstimator(auxiliary="late", **FAST).fit(X, Y)
    meta = read_metadata(export_onnx(est, tmp_path / "m.onnx", dynamo=False))
    assert {o["target"] for o in meta["tabmtl.outputs"]} == {"eta", "late", "band"}


def test_benchmark_runs_a_tiny_setting():
    import importlib
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # `benchmarks` and `datasets` are top-level folders
        sys.path.insert(0, root)
    bench = importlib.import_module("benchmarks.auxiliary")
    rows = bench.run_setting("penguins", [0.5], folds=2, max_each=3, max_epochs=2)
    assert [r[3] for r in rows] == ["alone", "all auxiliaries", "+species", "+sex_male"]
    assert all(r[2] == "0.5" for r in rows)


def test_cli_evaluate_auxiliary_rejects_train_sizes(capsys, monkeypatch, table_csv, tmp_path):
    code, _, err = _cli(
        capsys, monkeypatch, tmp_path, "evaluate", table_csv, "-t", "eta", "--auxiliary",
        "late", "--train-sizes", "0.5,1", "-q",
    )
    assert code == 2 and "--main-fraction" in err
