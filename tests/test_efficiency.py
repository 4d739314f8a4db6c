"""Data efficiency: nested subsamples of the same folds, the gain per size, its figure,
its report panels (with the sluice sharing heat map) and ``evaluate --train-sizes``."""

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

from tabmtl import MultiTaskEstimator
from tabmtl._cli import EXIT_OK, EXIT_USAGE, main
from tabmtl.errors import InputError
from tabmtl.evaluation._efficiency import (
    EfficiencyResult,
    check_train_sizes,
    data_efficiency,
    nested_subsample,
)
from tabmtl.evaluation._efficiency_figures import plot_efficiency
from tabmtl.evaluation._report import write_report
from tabmtl.evaluation._sluice_figures import learned_sharing, plot_sluice_sharing
from tabmtl.evaluation._transfer import MULTI_TASK, SINGLE_TASK, cross_validate_transfer

TINY = dict(hidden_layer_sizes=(8,), max_epochs=3, lr=1e-2)


def test_subsamples_are_nested_seeded_and_ordered():
    train = np.arange(100, 150)  # a training fold's row positions
    subsets = nested_subsample(train, [0.1, 0.25, 0.5, 1.0], seed=[0, 1])
    assert [len(subsets[f]) for f in (0.1, 0.25, 0.5, 1.0)] == [5, 13, 25, 50]  # ⌈f·n⌉
    assert np.array_equal(subsets[1.0], train)
    for small, large in [(0.1, 0.25), (0.25, 0.5), (0.5, 1.0)]:
        assert np.isin(subsets[small], subsets[large]).all()
        assert (np.diff(subsets[small]) > 0).all()  # the fold's own order kept
    again = nested_subsample(train, [0.25], seed=[0, 1])[0.25]
    other_fold = nested_subsample(train, [0.25], seed=[0, 2])[0.25]
    assert np.array_equal(again, subsets[0.25]) and not np.array_equal(other_fold, again)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [([0.0, 0.5], "fractions in \\(0, 1\\], got 0.0"), ([1.5], "got 1.5"),
     (["half"], "must be numbers"), ([], "is empty"), ([float("nan")], "got nan")],
)
def test_bad_train_sizes_are_one_line_input_errors(sizes, message):
    with pytest.raises(InputError, match=message):
        check_train_sizes(sizes)


@pytest.fixture(scope="module")
def efficiency():
    X, Y = make_mixed(120, seed=3)
    est = MultiTaskEstimator(**TINY)
    return X, Y, est, data_efficiency(X, Y, est, sizes=(1.0, 0.4), cv=2, random_state=5)


def test_scores_pair_multi_and_single_task_per_size_fold_and_task(efficiency):
    _, _, _, result = efficiency
    scores = result.scores
    assert isinstance(result, EfficiencyResult)
    assert list(scores.columns) == ["size", "n_train", "fold", "task", "metric", "mt_score",
                                    "st_score", "gain"]
    assert len(scores) == 2 * 2 * 3 and result.sizes == [0.4, 1.0]
    np.testing.assert_allclose(scores["gain"], scores["mt_score"] - scores["st_score"])
    n = scores.groupby(["size", "fold"])["n_train"].first()
    assert n[1.0, 0] == 60 and n[0.4, 0] == 24  # half of 120 rows per fold; ⌈0.4·60⌉
    assert set(scores["metric"]) == {"r2", "accuracy"}
    summary = result.summary
    assert list(summary[["size", "task"]].itertuples(index=False, name=None)) == [
        (0.4, "eta"), (0.4, "late"), (0.4, "band"), (1.0, "eta"), (1.0, "late"), (1.0, "band")]
    by_hand = scores.groupby(["size", "task"])["gain"].agg(["mean", "std"])
    for row in summary.itertuples():
        assert row.gain_mean == pytest.approx(by_hand.loc[(row.size, row.task), "mean"])
        assert row.gain_std == pytest.approx(by_hand.loc[(row.size, row.task), "std"])
    assert result.gain_table().shape == (3, 2)
    table = result.to_markdown()
    assert "0.4 (n≈24)" in table and "1 (n≈60)" in table and table.count("±") == 6


def test_full_size_is_the_transfer_comparison_on_the_same_folds_and_seeds(efficiency):
    X, Y, est, result = efficiency
    transfer = cross_validate_transfer(X, Y, est, cv=2, baseline=False, random_state=5)
    wide = transfer.scores.pivot_table(index=["fold", "task"], columns="model", values="value")
    full = result.scores[result.scores["size"] == 1.0].set_index(["fold", "task"])
    np.testing.assert_allclose(full["mt_score"], wide.loc[full.index, MULTI_TASK], rtol=1e-9)
    np.testing.assert_allclose(full["st_score"], wide.loc[full.index, SINGLE_TASK], rtol=1e-9)
    # the subsample trains on less: the scores differ from the full size's
    small = result.scores[result.scores["size"] == 0.4].set_index(["fold", "task"])
    assert not np.allclose(small["mt_score"], full["mt_score"])


def test_figures_and_report_panels(efficiency, tmp_path):
    X, Y, est, result = efficiency
    path = plot_efficiency(result, tmp_path / "efficiency.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    sluice = MultiTaskEstimator(architecture="sluice", **TINY, random_state=0).fit(X, Y)
    sharing = learned_sharing(sluice)
    assert set(sharing["to_task"]) == {"eta", "late", "band"}
    assert plot_sluice_sharing(sharing, tmp_path / "s.png").stat().st_size > 1000
    transfer = cross_validate_transfer(X.head(60), Y.head(60), est, cv=2, baseline=False)
    files = write_report(transfer, tmp_path / "report", efficiency=result, sharing=sharing)
    page = files["html"].read_text(encoding="utf-8")
    assert "Sharing learned by sluice" in page and "Multi-task gain by training size" in page
    assert files["efficiency"].exists() and files["sluice_sharing"].exists()
    assert len(pd.read_csv(files["efficiency_summary"])) == 6
    with pytest.raises(ValueError, match="architecture='sluice'"):
        learned_sharing(est.fit(X, Y))


def test_cli_evaluate_train_sizes(capsys, monkeypatch, tmp_path):
    X, Y = make_mixed(80, seed=4)
    pd.concat([X, Y], axis=1).to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", "t.csv", "--target", "eta", "--target", "late", "--cv", "2",
            "--hidden", "8", "--max-epochs", "2", "--quiet"]
    code = main([*args, "--train-sizes", "0.5,1", "--scores-csv", "eff.csv"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "training sizes: nested subsamples" in out and "0.5 (n≈20)" in out
    assert [line.split("|")[1].strip() for line in out.splitlines()
            if line.startswith("| eta") or line.startswith("| late")] == ["eta", "late"]
    assert len(pd.read_csv("eff.csv")) == 2 * 2 * 2
    code = main([*args, "--train-sizes", "0.5,2"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE or code is None
    assert "--train-sizes must be fractions in (0, 1], got '2'" in err
