"""Conclusions that respect the folds' noise (``tabmtl/evaluation/_results.py``,
``grouping.py``, ``report.py``).

On hand-made fold scores whose verdict is known: a grouping is recommended over training
all tasks together only when the folds support it (the corrected paired t test of
:func:`~tabmtl.evaluation._results.supported_loss`, on the per-fold mean score over
tasks); otherwise the report says to train all together, differences within noise. Where
the pairwise recommendation and the measurement disagree, the measurement leads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmtl.evaluation._results import (
    NEGATIVE_FLAG,
    NOISE_FLAG,
    TaskGrouping,
)

TASKS = ["species", "sex", "mass"]


def _grouping(groups, grouped, alone, together) -> TaskGrouping:
    """``grouped`` etc.: task -> per-fold scores; the verified table and fold scores."""
    rows = []
    for group in groups:
        for task in group:
            for fold in range(len(together[task])):
                rows.append({"task": task, "group": " + ".join(group), "fold": fold,
                             "grouped": grouped[task][fold], "alone": alone[task][fold],
                             "together": together[task][fold],
                             "gain": grouped[task][fold] - alone[task][fold]})
    long = pd.DataFrame(rows)
    cols = ["grouped", "alone", "together", "gain"]
    stats = long.groupby("task", sort=False)[cols].agg(["mean", "std"])
    stats.columns = [f"{a}_{b}" for a, b in stats.columns]
    stats.insert(0, "group", long.drop_duplicates("task").set_index("task")["group"])
    A = pd.DataFrame(0.01, index=TASKS, columns=TASKS)
    return TaskGrouping(A, A * 0, list(groups), pd.Series(0.0, index=TASKS),
                        verified=stats.reindex(TASKS), fold_scores=long)


GROUPS = [("species", "mass"), ("sex",)]


def test_a_grouping_within_noise_is_not_recommended_over_training_together():
    # the recommended groups score 0.880 against 0.890 all together, and each alone is
    # a hair better than together on average but swings from fold to fold
    together = {"species": [0.97, 0.95, 0.96], "sex": [0.85, 0.80, 0.84],
                "mass": [0.85, 0.88, 0.86]}
    grouped = {"species": [0.96, 0.95, 0.95], "sex": [0.80, 0.79, 0.80],
               "mass": [0.86, 0.87, 0.86]}
    alone = {"species": [0.99, 0.93, 0.96], "sex": [0.88, 0.77, 0.85],
             "mass": [0.86, 0.86, 0.88]}
    g = _grouping(GROUPS, grouped, alone, together)
    choice, supported = g.decision
    assert choice == "all together" and supported is False
    text = g.conclusion()
    assert "train all together (differences within noise)" in text
    assert "disagrees: the conclusion follows the measurement" in text
    # the measurement leads, before the pairwise prediction
    assert text.index("Measured") < text.index("pairwise")
    assert "Nadeau" in text and "90%" in text  # the rule is stated


def test_a_grouping_the_folds_support_is_recommended():
    together = {t: [0.80, 0.70, 0.75, 0.78] for t in TASKS}
    grouped = {t: [0.85, 0.76, 0.80, 0.84] for t in TASKS}  # +0.05 .. +0.06 every fold
    alone = {t: [0.79, 0.70, 0.74, 0.77] for t in TASKS}
    g = _grouping(GROUPS, grouped, alone, together)
    assert g.decision == ("recommended groups", True)
    assert "train in the recommended groups" in g.conclusion()
    assert "(agrees)" in g.conclusion()
    assert "{species, mass} + {sex}" in g.conclusion()


def test_training_each_alone_is_recommended_only_with_support():
    together = {t: [0.70, 0.72, 0.71] for t in TASKS}
    alone = {t: [0.80, 0.83, 0.81] for t in TASKS}  # every fold, by 0.10
    g = _grouping([(t,) for t in TASKS], alone, alone, together)
    assert g.decision == ("each alone", True)
    assert "train each task alone" in g.conclusion()


def test_the_per_task_flag_of_the_verification_follows_the_noise_rule():
    together = {t: [0.8, 0.8, 0.8] for t in TASKS}
    grouped = {"species": [0.70, 0.71, 0.69], "mass": [0.79, 0.81, 0.80],
               "sex": [0.8, 0.8, 0.8]}
    alone = {"species": [0.80, 0.80, 0.80], "mass": [0.80, 0.80, 0.81],
             "sex": [0.8, 0.8, 0.8]}
    g = _grouping(GROUPS, grouped, alone, together)
    table = g.describe()
    # the last rows of each task: the verification table (after the affinity matrix)
    species = [line for line in table.splitlines() if line.startswith("| species")][-1]
    mass = [line for line in table.splitlines() if line.startswith("| mass ")][-1]
    assert NEGATIVE_FLAG in species  # -0.10 on every fold
    assert NOISE_FLAG in mass and NEGATIVE_FLAG not in mass  # -0.01, +0.01, -0.01: noise


def test_without_fold_scores_the_decision_says_noise_was_not_judged():
    A = pd.DataFrame(0.0, index=TASKS, columns=TASKS)
    verified = pd.DataFrame({"group": "species + mass", "grouped_mean": [0.9, 0.8, 0.7],
                             "alone_mean": 0.8, "together_mean": 0.85, "gain_mean": 0.0},
                            index=TASKS)
    for c in ("grouped", "alone", "together", "gain"):
        verified[f"{c}_std"] = 0.0
    g = TaskGrouping(A, A, GROUPS, pd.Series(0.0, index=TASKS), verified)
    assert g.decision[1] is None
    assert "not judged" in g.conclusion()


@pytest.mark.parametrize("fold_gains, flagged", [
    ([-0.003, 0.010, -0.016], False),  # the issue's -0.003 ± 0.013: within noise
    ([-0.03, -0.04, -0.02], True),
])
def test_the_headline_flags_negative_transfer_only_with_support(fold_gains, flagged):
    from tabmtl.evaluation._results import MULTI_TASK, SINGLE_TASK, summarize

    rows = []
    for fold, gain in enumerate(fold_gains):
        for model, value in ((SINGLE_TASK, 0.9), (MULTI_TASK, 0.9 + gain)):
            rows.append({"task": "species", "kind": "multiclass", "metric": "accuracy",
                         "model": model, "fold": fold, "value": value})
        for model in (SINGLE_TASK, MULTI_TASK):
            rows.append({"task": "sex", "kind": "binary", "metric": "accuracy",
                         "model": model, "fold": fold, "value": 0.8})
    s = summarize(pd.DataFrame(rows), ["species", "sex"], [MULTI_TASK, SINGLE_TASK])
    assert bool(s.loc["species", "negative_transfer"]) is flagged
    assert bool(s.loc["species", "within_noise"]) is (not flagged)
    assert np.isfinite(s.loc["species", "gain_mean"])


def test_the_report_page_leads_the_grouping_section_with_the_measurement(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_report_figures import _result

    from tabmtl.evaluation._report import write_report

    together = {"species": [0.97, 0.95, 0.96], "sex": [0.85, 0.80, 0.84],
                "mass": [0.85, 0.88, 0.86]}
    grouped = {"species": [0.96, 0.95, 0.95], "sex": [0.80, 0.79, 0.80],
               "mass": [0.86, 0.87, 0.86]}
    g = _grouping(GROUPS, grouped, together, together)
    page = write_report(_result(grouping=g), tmp_path)["html"].read_text(encoding="utf-8")
    section = page.split("Which tasks to train together</h2>")[1]
    assert section.index("Measured on the same folds") < section.index("Predicted from")
    assert "train all together" in section.split("Predicted from")[0]
    assert "corrected paired t test" in page.split("<h2>")[0]  # the rule, by the headline


def test_fail_on_negative_with_train_sizes_uses_the_same_noise_rule():
    from tabmtl.evaluation._efficiency import EfficiencyResult, summarize_efficiency

    rows = []
    gains = {("noisy", 0.5): [-0.003, 0.010, -0.016], ("noisy", 1.0): [0.01, 0.0, 0.02],
             ("loses", 0.5): [0.01, 0.0, 0.02], ("loses", 1.0): [-0.03, -0.04, -0.02]}
    for (task, size), per_fold in gains.items():
        for fold, gain in enumerate(per_fold):
            rows.append({"size": size, "n_train": 100 * size, "fold": fold, "task": task,
                         "metric": "r2", "mt_score": 0.8 + gain, "st_score": 0.8,
                         "gain": gain})
    scores = pd.DataFrame(rows)
    result = EfficiencyResult(scores, summarize_efficiency(scores), "KFold(3)")
    assert result.negative_transfer == ["loses"]  # noisy's -0.003 ± 0.013 is noise
