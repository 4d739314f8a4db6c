"""Per-task permutation importance (``tabmtl.inspection``).

One small model on the shared mixed table (a regression, a binary and a 3-class target,
a fifth of the labels missing) answers: does every task's importance equal scikit-learn's
``permutation_importance`` run on that task alone with the same seed, does one predict
per shuffle score all tasks, is a datetime column (expanded into several model inputs)
shuffled as one column under its own name. The shared-driver rule and the files are
checked on hand-made importances, without a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score, root_mean_squared_error

from tabmtl import MultiTaskEstimator
from tabmtl.errors import InputError
from tabmtl.inspection import TaskImportance, task_importance
from tabmtl.inspection._output import IMPORTANCE_FILES, write_importance

TINY = dict(hidden_layer_sizes=(16,), max_epochs=8, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    X, Y = make_mixed(240, seed=1, missing=0.2)
    return MultiTaskEstimator(**TINY).fit(X, Y), X, Y


def _one_task_scorer(task: str, metric: str):
    """An independent scorer of one task on its labelled rows, straight from sklearn."""

    def scorer(est, X, y):
        present = y.notna().to_numpy()
        if metric == "roc_auc":
            proba = est.predict_proba(X)[task]
            return roc_auc_score(y[present].astype(bool), proba[True].to_numpy()[present])
        pred = est.predict(X)[task]
        if metric == "neg_rmse":
            return -root_mean_squared_error(y[present].astype(float), pred[present])
        if metric == "r2":
            return r2_score(y[present].astype(float), pred[present])
        return accuracy_score(y[present].astype(str), pred[present].astype(str))

    return scorer


@pytest.mark.parametrize("metrics", [None, {"eta": "neg_rmse", "binary": "roc_auc"}])
def test_every_task_matches_sklearns_permutation_importance_with_the_same_seed(
    fitted, metrics
):
    model, X, Y = fitted
    result = task_importance(model, X, Y, n_repeats=3, random_state=7, metrics=metrics)
    expected = {"eta": "r2", "late": "accuracy", "band": "accuracy"} | dict(
        {"eta": "neg_rmse", "late": "roc_auc"} if metrics else {}
    )
    assert result.metrics == expected
    for j, task in enumerate(result.tasks):
        ours = result.importances[:, j, :]
        theirs = permutation_importance(
            model, X, Y[task], scoring=_one_task_scorer(task, expected[task]),
            n_repeats=3, random_state=7,
        ).importances
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=task)
    # the regression target depends on km: it must be its most important feature, for any
    # sign convention of the metric (higher is better: an error metric is negated)
    assert result.matrix["eta"].idxmax() == "km"
    assert result.matrix.loc["km", "eta"] > 0


def test_one_predict_per_shuffle_scores_every_task(fitted, monkeypatch):
    model, X, Y = fitted
    calls = []
    original = type(model).predict
    monkeypatch.setattr(type(model), "predict", lambda self, X_, **kw: (
        calls.append(len(X_)), original(self, X_, **kw))[1])
    result = task_importance(model, X, Y, n_repeats=2, random_state=0)
    n_features = X.shape[1]
    assert len(calls) == 1 + n_features * 2  # baseline + one per shuffle, not per task
    assert len(result.tasks) == 3


def test_tidy_table_and_matrix_agree(fitted):
    model, X, Y = fitted
    result = task_importance(model, X, Y, n_repeats=2, random_state=0)
    table = result.table
    assert list(table.columns) == ["feature", "task", "metric", "mean", "std"]
    assert len(table) == X.shape[1] * 3
    pivot = table.pivot(index="feature", columns="task", values="mean")
    pd.testing.assert_frame_equal(
        pivot.loc[result.matrix.index, result.matrix.columns], result.matrix,
        check_names=False,
    )
    np.testing.assert_allclose(table["std"], result.importances.std(axis=2).ravel())
    assert result.baseline.index.tolist() == ["eta", "late", "band"]
    assert result.subset(["band"]).matrix.columns.tolist() == ["band"]


def test_a_datetime_column_is_shuffled_as_one_and_reported_under_its_name():
    rng = np.random.default_rng(0)
    n = 300
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 24 * 60, n), "min")
    noise = rng.normal(size=n)
    noise[rng.random(n) < 0.3] = np.nan  # a missing indicator derived from it, too
    X = pd.DataFrame({"when": when, "noise": noise})
    Y = pd.DataFrame({"rush": when.hour.to_numpy() / 4.0 + rng.normal(0, 0.3, n),
                      "night": when.hour.to_numpy() < 6})
    model = MultiTaskEstimator(**{**TINY, "max_epochs": 30}).fit(X, Y)
    encoded = [str(c) for c in model.preprocessor_.get_feature_names_out()]
    assert sum(c.startswith("when__") for c in encoded) > 1  # several inputs from "when"
    result = task_importance(model, X, Y, n_repeats=2, random_state=0)
    assert result.features == ["when", "noise"]
    assert result.matrix.loc["when", "rush"] > 0.3  # R² drop: the hour is the signal
    assert result.matrix.loc["when", "rush"] > 5 * abs(result.matrix.loc["noise", "rush"])
    # shuffling "when" by hand, before preprocessing, is the first repeat's drop
    order = np.arange(n)
    np.random.RandomState(
        np.random.RandomState(0).randint(np.iinfo(np.int32).max + 1)
    ).shuffle(order)
    shuffled = X.assign(when=X["when"].to_numpy()[order])
    by_hand = r2_score(Y["rush"], model.predict(X)["rush"]) - r2_score(
        Y["rush"], model.predict(shuffled)["rush"])
    assert result.importances[0, 0, 0] == pytest.approx(by_hand, abs=1e-9)


def test_bad_input_is_a_clear_input_error(fitted):
    model, X, Y = fitted
    with pytest.raises(InputError, match="n_repeats"):
        task_importance(model, X, Y, n_repeats=0)
    with pytest.raises(InputError, match="'nope'"):
        task_importance(model, X, Y, features=["km", "nope"])
    with pytest.raises(InputError, match="rows"):
        task_importance(model, X, Y.iloc[:10])
    with pytest.raises(InputError, match="'band'"):
        task_importance(model, X, Y.drop(columns="band"))
    with pytest.raises(InputError, match="fitted tabmtl estimator"):
        task_importance(MultiTaskEstimator(), X, Y)
    with pytest.raises(InputError, match="min_tasks"):
        _hand_made().shared_drivers(min_tasks=0)


def _hand_made() -> TaskImportance:
    # features x tasks; each task's score drops in the three repeats are value +- 0.01
    means = np.array([
        [0.50, 0.20, 0.90],  # a: top of every task
        [0.40, 0.00, 0.01],  # b: second of t1 only (t3: under 10% of 0.9)
        [0.00, 0.30, 0.00],  # c: first of t2 only
        [0.01, 0.01, 0.50],  # d: t3's second; t1 and t2: in the top 3 but under 10%
        [-0.02, 0.00, -0.01],  # e: nothing
    ])
    drops = means[:, :, None] + np.array([-0.01, 0.0, 0.01])
    return TaskImportance(
        drops, list("abcde"), ["t1", "t2", "t3"], {"t1": "r2", "t2": "accuracy",
                                                   "t3": "neg_rmse"},
        pd.Series({"t1": 0.8, "t2": 0.9, "t3": -1.0}),
    )


def test_shared_driver_rule():
    result = _hand_made()
    drives = result.drivers(top_k=3, min_share=0.1)
    assert drives.loc["a"].all()
    assert drives.loc["b"].tolist() == [True, False, False]
    assert drives.loc["d"].tolist() == [False, False, True]
    roles = result.shared_drivers()
    assert roles["role"].to_dict() == {
        "a": "shared", "c": "task-specific", "b": "task-specific", "d": "task-specific",
        "e": "minor",
    }
    assert roles.index[0] == "a" and roles.loc["a", "tasks"] == "t1, t2, t3"
    # with top_k=1 only the top feature of each task drives it
    assert result.shared_drivers(top_k=1)["n_tasks"].to_dict() == {
        "a": 2, "c": 1, "b": 0, "d": 0, "e": 0}
    # without the share threshold the weak d drives all three tasks, b two (t1, t3)
    loose = result.shared_drivers(min_share=0.0, min_tasks=3)
    assert loose["role"].to_dict() == {
        "a": "shared", "d": "shared", "b": "task-specific", "c": "task-specific",
        "e": "minor"}
    np.testing.assert_allclose(result.relative()["t3"], [1, 0.01 / 0.9, 0, 0.5 / 0.9,
                                                         -0.01 / 0.9])


def test_write_importance_writes_tables_and_pictures(tmp_path):
    result = _hand_made()
    files = write_importance(result, tmp_path / "out")
    assert set(files) == set(IMPORTANCE_FILES)
    for path in files.values():
        assert path.stat().st_size > 0
    assert files["heatmap"].read_bytes()[:4] == b"\x89PNG"
    tidy = pd.read_csv(files["table"])
    assert tidy.shape == (15, 5)
    drivers = pd.read_csv(files["drivers"], index_col=0)
    assert drivers.loc["a", "role"] == "shared"
    matrix = pd.read_csv(files["matrix"], index_col=0)
    np.testing.assert_allclose(matrix.to_numpy(), result.matrix.to_numpy())
