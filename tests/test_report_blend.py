"""Blend weights in the report (``tabmtl/evaluation/_blending.py``): how much each task
needs boosting, from the out-of-fold predictions of the multi-task net and of HistGB on
the same folds (greedy ensemble selection, as ``MultiTaskBlend`` fits
``task_blend_weights_``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_report_figures import TASKS, _result

from tabmtl.evaluation._blending import blend_weights
from tabmtl.evaluation._metrics import score_output
from tabmtl.evaluation._results import HISTGB, MULTI_TASK


def _known_result():
    """mass: HistGB exact, the net noisy; sex: the net right, HistGB a coin; species:
    each model right on its own half of the rows (a half-and-half blend beats either)."""
    result = _result()
    rng = np.random.default_rng(1)
    n = len(result.Y)
    mass = result.Y["mass"].to_numpy()
    result.predictions[HISTGB]["mass"] = mass.copy()
    result.predictions[MULTI_TASK]["mass"] = mass + rng.normal(0, 400, n)
    sex = result.Y["sex"].to_numpy().astype(int)
    right = np.column_stack([1 - sex, sex]) * 0.9 + 0.05
    result.predictions[MULTI_TASK]["sex"] = right
    result.predictions[HISTGB]["sex"] = rng.dirichlet(np.ones(2), n)
    codes = result.task("species").encode(result.Y["species"]).astype(int)
    truth = np.eye(3)[codes]
    half = (np.arange(n) % 2 == 0)[:, None]
    sure, unsure = 0.9 * truth + 0.1 / 3, np.full((n, 3), 1 / 3)
    result.predictions[MULTI_TASK]["species"] = np.where(half, sure, unsure)
    result.predictions[HISTGB]["species"] = np.where(half, unsure, sure)
    return result


def test_blend_weights_show_which_task_needs_boosting():
    result = _known_result()
    table = blend_weights(result)
    assert list(table.index) == TASKS
    assert table.loc["mass", "boosting_weight"] > 0.9
    assert table.loc["sex", "boosting_weight"] < 0.1
    assert 0.2 < table.loc["species", "boosting_weight"] < 0.8
    np.testing.assert_allclose(table["net_weight"] + table["boosting_weight"], 1.0)


def test_blended_score_is_the_score_of_the_weighted_outputs_on_the_same_folds():
    result = _known_result()
    table = blend_weights(result)
    for task in TASKS:
        w = table.loc[task, "boosting_weight"]
        spec = result.task(task)
        blended = ((1 - w) * result.predictions[MULTI_TASK][task]
                   + w * result.predictions[HISTGB][task])
        per_fold = [score_output(spec, result.Y[task].iloc[test], blended[test],
                                 result.metrics[task]) for _, test in result.folds]
        assert table.loc[task, "blend_score"] == pytest.approx(np.mean(per_fold))
        net = [score_output(spec, result.Y[task].iloc[test],
                            result.predictions[MULTI_TASK][task][test], result.metrics[task])
               for _, test in result.folds]
        assert table.loc[task, "net_score"] == pytest.approx(np.mean(net))
    # mass: the blend is (nearly) HistGB, far above the noisy net
    assert table.loc["mass", "blend_score"] > table.loc["mass", "net_score"] + 0.1


def test_no_boosting_baseline_no_blend():
    result = _result()
    result.models = [m for m in result.models if m != HISTGB]
    del result.predictions[HISTGB]
    assert blend_weights(result) is None


def test_the_report_shows_how_much_each_task_needs_boosting(tmp_path):
    from tabmtl.evaluation._report import write_report

    files = write_report(_known_result(), tmp_path / "r")
    assert files["blend"].name == "blend_weights.png" and files["blend"].exists()
    assert files["blend_summary"].name == "blend_weights.csv"
    page = files["html"].read_text(encoding="utf-8")
    section = page.split("How much each task needs boosting</h2>")[1].split("<h2>")[0]
    assert "<td>mass</td>" in section and 'alt="blend_weights"' in section
    for header in ("HistGB weight", "multi-task", "HistGB", "blend"):
        assert f"<th>{header}</th>" in section
