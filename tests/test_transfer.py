"""Tests of the transfer analysis (``tabmtl/evaluation/``: transfer, results, folds,
runner, baseline, affinity, grouping).

The grouping, summary, fold and metric logic is tested on constructed inputs whose right
answer is known; one small end-to-end run checks that every model is scored on the same
folds (an independent refit reproduces a fold's score exactly), that the gains are the
paired differences, and that negative transfer is flagged, never hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed
from hypothesis import given, settings
from hypothesis import strategies as st

from tabmtl import MultiTaskEstimator, TargetSpec
from tabmtl.evaluation._baseline import hgb_frame
from tabmtl.evaluation._metrics import score_task
from tabmtl.evaluation._results import supported_loss
from tabmtl.evaluation._runner import _restricted
from tabmtl.evaluation._transfer import (
    HISTGB,
    MULTI_TASK,
    NEGATIVE_FLAG,
    SINGLE_TASK,
    TaskGrouping,
    cross_validate_transfer,
    format_markdown,
    greedy_task_groups,
    make_folds,
    summarize,
)


def _affinity(names, entries):
    """Square matrix from {(i, j): gain of i from j}; unset off-diagonal entries are 0."""
    A = pd.DataFrame(0.0, index=names, columns=names)
    for (i, j), v in entries.items():
        A.loc[i, j] = v
    for n in names:
        A.loc[n, n] = np.nan
    return A


# -- grouping ------------------------------------------------------------------------------


def test_grouping_merges_mutual_gains_and_refuses_one_sided_ones():
    # a and b help each other; d gains a lot from c but c loses from d, so the pair c+d
    # has a higher mean affinity (0.04) than a+b (0.025), yet merging it would hide c's
    # negative transfer: it must stay apart.
    A = _affinity(
        list("abcd"),
        {("a", "b"): 0.02, ("b", "a"): 0.03, ("c", "d"): -0.02, ("d", "c"): 0.10,
         ("a", "c"): -0.01, ("c", "a"): -0.01, ("a", "d"): -0.01, ("d", "a"): -0.01,
         ("b", "c"): -0.01, ("c", "b"): -0.01, ("b", "d"): -0.01, ("d", "b"): -0.01},
    )
    assert greedy_task_groups(A) == [("a", "b"), ("c",), ("d",)]
    # allowing members an expected loss of up to 0.02 lets c and d merge
    assert ("c", "d") in greedy_task_groups(A, min_member_gain=-0.02)


def test_grouping_grows_a_group_only_while_every_member_gains():
    names = list("abcd")
    # all four help each other, some more than others: one group (mean gains would
    # rather keep the best pair a+b apart from weaker helpers; positive linkage merges)
    positive = _affinity(
        names, {(i, j): (0.05 if {i, j} == {"a", "b"} else 0.01)
                for i in names for j in names if i != j}
    )
    assert greedy_task_groups(positive) == [("a", "b", "c", "d")]
    names = list("abc")
    # c helps a and b, but both of them hurt c: c's mean gain in {a, b, c} is negative
    mixed = _affinity(
        names,
        {("a", "b"): 0.02, ("b", "a"): 0.02, ("a", "c"): 0.05, ("b", "c"): 0.05,
         ("c", "a"): -0.01, ("c", "b"): -0.01},
    )
    assert greedy_task_groups(mixed) == [("a", "b"), ("c",)]


def test_grouping_never_merges_an_unknown_affinity_and_keeps_task_order():
    names = ["z", "y", "x"]
    A = _affinity(names, {("z", "x"): 0.05, ("x", "z"): 0.05, ("y", "z"): np.nan})
    A.loc["z", "y"] = np.nan
    groups = greedy_task_groups(A)
    assert groups == [("z", "x"), ("y",)]  # matrix order inside groups and between them
    with pytest.raises(ValueError, match="square"):
        greedy_task_groups(A.iloc[:, :2])


# -- summary -------------------------------------------------------------------------------


def _long(values: dict) -> pd.DataFrame:
    rows = []
    for (task, model), per_fold in values.items():
        for fold, v in enumerate(per_fold):
            rows.append({"task": task, "kind": "binary", "metric": "roc_auc",
                         "model": model, "fold": fold, "value": v})
    return pd.DataFrame(rows)


def test_summary_gain_is_the_paired_difference_and_negative_is_flagged():
    scores = _long(
        {
            ("up", MULTI_TASK): [0.80, 0.70, 0.90],
            ("up", SINGLE_TASK): [0.75, 0.72, 0.85],
            ("up", HISTGB): [0.70, 0.70, 0.70],
            ("down", MULTI_TASK): [0.60, 0.62, 0.58],
            ("down", SINGLE_TASK): [0.65, 0.61, 0.60],
            ("down", HISTGB): [0.90, 0.91, 0.92],
            ("loses", MULTI_TASK): [0.60, 0.62, 0.58],
            ("loses", SINGLE_TASK): [0.63, 0.66, 0.60],
            ("loses", HISTGB): [0.5, 0.5, 0.5],
        }
    )
    s = summarize(scores, ["up", "down", "loses"], [MULTI_TASK, SINGLE_TASK, HISTGB])
    assert list(s.index) == ["up", "down", "loses"]
    assert s.loc["up", "gain_mean"] == pytest.approx(np.mean([0.05, -0.02, 0.05]))
    assert s.loc["up", "gain_std"] == pytest.approx(np.std([0.05, -0.02, 0.05], ddof=1))
    assert s.loc["down", "gain_mean"] == pytest.approx(np.mean([-0.05, 0.01, -0.02]))
    assert not s.loc["up", "negative_transfer"] and not s.loc["up", "within_noise"]
    # -0.02 ± 0.03 over three folds: the folds do not support a loss
    assert not s.loc["down", "negative_transfer"] and s.loc["down", "within_noise"]
    # -0.03, -0.04, -0.02: every fold loses, the paired bound is below zero
    assert s.loc["loses", "negative_transfer"] and not s.loc["loses", "within_noise"]
    assert s.loc["up", "best"] == MULTI_TASK and s.loc["down", "best"] == HISTGB
    assert s.loc["down", "gain_vs_histgb_mean"] == pytest.approx(0.60 - 0.91)


# -- folds ---------------------------------------------------------------------------


def test_folds_keep_groups_whole_and_strata_balanced():
    n = 120
    groups = pd.Series(np.repeat(np.arange(30), 4), name="patient")
    folds, how = make_folds(n, 3, groups=groups, random_state=0)
    assert how == "GroupKFold(3) by patient"
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(n))

    labels = pd.Series(np.where(np.arange(n) < 30, "rare", "common"), name="y")
    folds, how = make_folds(n, 3, stratify=labels, random_state=0)
    assert how == "StratifiedKFold(3) on y"
    assert [int((labels[te] == "rare").sum()) for _, te in folds] == [10, 10, 10]

    # a continuous column is binned, not used as 120 one-member classes
    numbers = pd.Series(np.linspace(0, 1, n), name="x")
    folds, _ = make_folds(n, 4, stratify=numbers, random_state=0)
    assert all(abs(numbers[te].mean() - 0.5) < 0.1 for _, te in folds)

    with pytest.raises(ValueError, match="at least 2"):
        make_folds(n, 1)
    with pytest.raises(ValueError, match="more than"):
        make_folds(5, 6)


def test_restricted_template_keeps_only_the_tasks_per_target_parameters():
    template = MultiTaskEstimator(
        targets={"a": "regression", "b": "binary"},
        class_weight={"b": "balanced"},
        weighting={"a": 2.0, "b": 1.0, "c": 0.5},
        hidden_layer_sizes=(8,),
    )
    single = _restricted(template, ["a"])
    assert single.targets == {"a": "regression"}
    assert single.class_weight is None  # "b" was the only class-weighted target
    assert single.weighting == "equal"
    assert single.hidden_layer_sizes == (8,)  # the architecture is the template's
    pair = _restricted(template, ["b", "c"])
    assert pair.weighting == {"b": 1.0, "c": 0.5}
    assert pair.class_weight == {"b": "balanced"}
    assert template.weighting == {"a": 2.0, "b": 1.0, "c": 0.5}  # the template is untouched


def test_hgb_frame_makes_categories_codes_and_numbers():
    X = pd.DataFrame(
        {
            "city": ["a", "b", None, "a"],
            "flag": [True, False, True, True],
            "many": pd.Categorical([f"v{i % 300}" for i in range(4)],
                                   categories=[f"v{i}" for i in range(300)]),
            "when": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04"]),
            "x": [1.0, 2.0, 3.0, 4.0],
        }
    )
    out = hgb_frame(X)
    assert isinstance(out["city"].dtype, pd.CategoricalDtype)
    assert isinstance(out["flag"].dtype, pd.CategoricalDtype)
    # only 4 of the 300 declared categories are used: unused ones are dropped, so it
    # stays a category within HistGB's bin limit
    assert isinstance(out["many"].dtype, pd.CategoricalDtype)
    assert out["when"].dtype == np.float64 and np.isnan(out["when"].iloc[1])
    assert out["x"].equals(X["x"])
    wide = hgb_frame(pd.DataFrame({"id": [f"row{i}" for i in range(400)]}))
    assert wide["id"].dtype == np.float64  # 400 categories: integer codes instead


def test_format_markdown_pads_columns():
    text = format_markdown([["species", "+0.010"], ["sex", "-0.200"]], ["task", "gain"])
    lines = text.splitlines()
    assert lines[0] == "| task    | gain   |"
    assert lines[1] == "|---------|--------|"
    assert lines[3] == "| sex     | -0.200 |"


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run():
    X, Y = make_mixed(n=160, seed=1)
    template = MultiTaskEstimator(
        max_epochs=3, hidden_layer_sizes=(8,), batch_size=64, random_state=0
    )
    result = cross_validate_transfer(
        X, Y, template, cv=2, grouping=True, metrics={"binary": "roc_auc"}, random_state=0
    )
    return X, Y, template, result


def test_every_model_is_scored_on_the_same_folds_and_seeds(small_run):
    X, Y, template, result = small_run
    tasks = list(Y.columns)
    counts = result.scores.groupby("model").size()
    assert counts.to_dict() == {MULTI_TASK: 6, SINGLE_TASK: 6, HISTGB: 6}  # 3 tasks x 2 folds
    assert result.metrics == {"eta": "r2", "late": "roc_auc", "band": "accuracy"}
    # an independent refit on fold 0 reproduces both the multi-task and a single-task score
    train, test = result.folds[0]
    spec = TargetSpec().fit(Y)
    band = spec.tasks_[2]
    mt = MultiTaskEstimator(**template.get_params()).fit(X.iloc[train], Y.iloc[train])
    st = MultiTaskEstimator(**template.get_params()).fit(X.iloc[train], Y.iloc[train][["band"]])
    for model, est in ((MULTI_TASK, mt), (SINGLE_TASK, st)):  # noqa: B007 - read by query
        expected = score_task(
            band, Y["band"].iloc[test], est.predict(X.iloc[test])["band"], None, "accuracy"
        )
        got = result.scores.query("model == @model and task == 'band' and fold == 0")["value"]
        assert float(got.iloc[0]) == pytest.approx(expected, abs=1e-12)
    # fold 1's models are seeded random_state + 1: a refit with that seed reproduces them
    train, test = result.folds[1]
    st = MultiTaskEstimator(**{**template.get_params(), "random_state": 1}).fit(
        X.iloc[train], Y.iloc[train][["band"]]
    )
    expected = score_task(
        band, Y["band"].iloc[test], st.predict(X.iloc[test])["band"], None, "accuracy"
    )
    got = result.scores.query("model == 'single-task' and task == 'band' and fold == 1")
    assert float(got["value"].iloc[0]) == pytest.approx(expected, abs=1e-12)
    # out-of-fold predictions cover every row exactly once, for every model and task
    for model in (MULTI_TASK, SINGLE_TASK, HISTGB):
        for task in tasks:
            assert np.isfinite(result.predictions[model][task]).all()


def test_gains_are_paired_and_negative_transfer_is_shown(small_run):
    _, Y, _, result = small_run
    wide = result.scores.pivot_table(index=["task", "fold"], columns="model", values="value")
    for task in Y.columns:
        diff = wide.loc[task, MULTI_TASK] - wide.loc[task, SINGLE_TASK]
        assert result.summary.loc[task, "gain_mean"] == pytest.approx(diff.mean())
        assert result.summary.loc[task, "negative_transfer"] == supported_loss(diff.to_numpy())
        assert result.summary.loc[task, "within_noise"] == (
            diff.mean() < 0 and not supported_loss(diff.to_numpy())
        )
    table = result.to_markdown()
    for task in Y.columns:
        row = next(line for line in table.splitlines() if line.startswith(f"| {task} "))
        assert (NEGATIVE_FLAG in row) == bool(result.summary.loc[task, "negative_transfer"])
    negative = result.negative_transfer
    verdict = result.verdict()
    assert "mean gain" not in verdict  # r2, roc_auc and accuracy gains do not average
    assert ("Negative transfer on: " + ", ".join(negative)) in verdict if negative else (
        "No negative transfer" in verdict
    )


def test_histories_hold_held_out_curves_per_task(small_run):
    _, Y, _, result = small_run
    mt = result.histories[MULTI_TASK]
    assert len(mt) == 2 and all(len(h) == 3 for h in mt)
    for task in Y.columns:
        assert np.isfinite(mt[0][f"valid_loss_{task}"]).all()
        assert np.isfinite(mt[0][f"weight_{task}"]).all()
        single = result.histories[f"{SINGLE_TASK}:{task}"][0]
        assert np.isfinite(single[f"valid_loss_{task}"]).all()


def test_grouping_result_is_consistent_with_its_affinities(small_run):
    _, Y, _, result = small_run
    g = result.grouping
    tasks = list(Y.columns)
    assert list(g.affinity.index) == tasks and np.isnan(np.diag(g.affinity)).all()
    assert sorted(t for group in g.groups for t in group) == sorted(tasks)
    assert g.groups == greedy_task_groups(g.affinity)
    for group in g.groups:
        for task in group:
            others = [o for o in group if o != task]
            expected = np.mean([g.affinity.loc[task, o] for o in others]) if others else 0.0
            assert g.expected_gain[task] == pytest.approx(expected)
            verified = g.verified.loc[task]
            if len(group) == 1:
                assert verified["gain_mean"] == 0.0
            elif len(group) == 2:  # a verified pair is exactly the pairwise measurement
                assert verified["gain_mean"] == pytest.approx(g.affinity.loc[task, others[0]])
    # the verification compares with all tasks in one model: the multi-task scores
    for task in tasks:
        assert g.verified.loc[task, "together_mean"] == pytest.approx(
            result.summary.loc[task, f"{MULTI_TASK}_mean"]
        )
    means = g.measured_means
    assert means["all together"] == pytest.approx(result.summary[f"{MULTI_TASK}_mean"].mean())
    assert means["each alone"] == pytest.approx(result.summary[f"{SINGLE_TASK}_mean"].mean())
    assert g.best_measured == means.idxmax()
    assert f"Best measured: {g.best_measured}." in g.describe()


def test_inputs_are_checked():
    X, Y = make_mixed(n=40)
    with pytest.raises(ValueError, match="at least 2 targets"):
        cross_validate_transfer(X, Y[["eta"]], cv=2)
    with pytest.raises(TypeError, match="MultiTaskEstimator"):
        cross_validate_transfer(X, Y, estimator=object(), cv=2)


def _grouping_with(groups, grouped, alone, together):
    tasks = [t for g in groups for t in g]
    verified = pd.DataFrame(
        {"group": [" + ".join(g) for g in groups for _ in g], "grouped_mean": grouped,
         "alone_mean": alone, "together_mean": together},
        index=tasks,
    )
    verified["gain_mean"] = verified["grouped_mean"] - verified["alone_mean"]
    for column in ("grouped", "alone", "together", "gain"):
        verified[f"{column}_std"] = 0.0
    affinity = _affinity(tasks, {})
    return TaskGrouping(affinity, affinity, groups, pd.Series(0.0, index=tasks), verified)


def test_the_measured_comparison_names_what_scored_best():
    split = _grouping_with([("a", "b"), ("c",)], [0.80, 0.70, 0.60], [0.75, 0.70, 0.60],
                           [0.78, 0.66, 0.55])
    assert split.measured_means.round(4).to_dict() == {
        "recommended groups": 0.7, "all together": 0.6633, "each alone": 0.6833
    }
    assert split.best_measured == "recommended groups"
    # one group is "all together": it is not listed twice, and a tie cannot hide which
    one = _grouping_with([("a", "b")], [0.8, 0.7], [0.7, 0.7], [0.8, 0.7])
    assert list(one.measured_means.index) == ["all together", "each alone"]
    assert one.best_measured == "all together"
    assert "(the recommendation is one of these). Best measured: all together." in (
        one.describe()
    )
    assert _grouping_with([("a",), ("b",)], [0.7, 0.7], [0.7, 0.7], [0.6, 0.9]).best_measured == (
        "all together"
    )


def test_every_fold_and_model_uses_the_target_kinds_of_the_whole_table():
    # an integer target with 21 values is a regression on the whole table (above
    # MAX_INT_CLASSES) but its training rows in a fold may hold only 20 of them: every
    # fold must still fit (and score) it as the one kind decided on the whole table
    from tabmtl._data.targets import MAX_INT_CLASSES
    from tabmtl.evaluation._runner import FoldRunner

    rng = np.random.default_rng(0)
    n = 60
    count = np.concatenate([np.arange(MAX_INT_CLASSES + 1), rng.integers(0, 5, n - 21)])
    X = pd.DataFrame({"x": rng.normal(size=n)})
    Y = pd.DataFrame({"count": count, "flag": rng.integers(0, 2, n).astype(bool)})
    fitted_kinds = []

    class Recording(MultiTaskEstimator):
        def fit(self, X, Y, **kwargs):
            super().fit(X, Y, **kwargs)
            fitted_kinds.append(dict(self.target_spec_.kinds_))
            return self

    template = Recording(max_epochs=1, hidden_layer_sizes=(4,), numeric_embedding=None)
    runner = FoldRunner.setup(X, Y, template, cv=3, random_state=0)
    assert runner.tasks["count"].kind == "regression"
    for fold in range(3):
        runner.tabmtl(["count", "flag"], fold, model="multi-task")
        runner.single("count", fold)
    assert len(fitted_kinds) == 6
    assert all(kinds["count"] == "regression" for kinds in fitted_kinds)
    assert all(kinds.get("flag", "binary") == "binary" for kinds in fitted_kinds)
    assert {row["metric"] for row in runner.rows if row["task"] == "count"} == {"r2"}


@settings(max_examples=40, deadline=None)
@given(
    n_values=st.integers(15, 30),
    extra=st.integers(0, 40),
    cv=st.integers(2, 5),
    seed=st.integers(0, 1000),
)
def test_any_fold_split_gives_every_target_its_one_kind(n_values, extra, cv, seed):
    # what each fold's model is told: the kinds of the whole table, whatever its rows
    from tabmtl.evaluation._runner import FoldRunner

    rng = np.random.default_rng(seed)
    count = np.concatenate([np.arange(n_values), rng.integers(0, 3, extra)])
    n = len(count)
    X = pd.DataFrame({"x": rng.normal(size=n)})
    Y = pd.DataFrame({"count": rng.permutation(count), "flag": np.arange(n) % 2 == 0,
                      "size": rng.normal(size=n)})
    runner = FoldRunner.setup(X, Y, MultiTaskEstimator(), cv=cv, random_state=seed)
    whole = {str(t.name): t.kind for t in TargetSpec().fit(runner.Y).tasks_}
    for train, _ in runner.folds:
        for names in (["count"], ["count", "flag", "size"]):
            est = _restricted(runner.template, names)
            fold = TargetSpec(targets=est.targets).fit(runner.Y.iloc[train][names])
            assert {str(k): v for k, v in fold.kinds_.items()} == {n: whole[n] for n in names}
