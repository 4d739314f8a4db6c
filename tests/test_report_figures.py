"""Tests of the report's pictures (``tabmtl/evaluation/_drawing.py``, ``figures.py``,
``report.py`` and ``tabmtl/inspection/_figures.py``).

Each picture is drawn from a hand-made :class:`TransferResult` (fold scores, histories
and predictions chosen so the right picture is known) and checked on the matplotlib
objects it draws: the learning curve of folds of different lengths, the legend's
swatches, the score axis, the heat map's text colour, the title's fit, the explain bars'
roles, and the files a report writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tabmtl import TargetSpec  # noqa: E402
from tabmtl.evaluation import _drawing as drawing  # noqa: E402
from tabmtl.evaluation import _figures as figures  # noqa: E402
from tabmtl.evaluation._report import write_report  # noqa: E402
from tabmtl.evaluation._results import (  # noqa: E402
    HISTGB,
    MULTI_TASK,
    SINGLE_TASK,
    TaskGrouping,
    TransferResult,
    summarize,
)

TASKS = ["species", "sex", "mass"]


def _history(n_epochs: int, level: float, weights=(1.0, 1.0, 1.0)) -> pd.DataFrame:
    rows = []
    for e in range(1, n_epochs + 1):
        row = {"epoch": e}
        for t, w in zip(TASKS, weights):
            row[f"train_loss_{t}"] = level / e
            row[f"valid_loss_{t}"] = level / e + 0.1
            row[f"weight_{t}"] = w if np.isscalar(w) else w[e - 1]
        rows.append(row)
    return pd.DataFrame(rows)


def _result(gains=None, level=0.95, lengths=(8, 8, 8), weights=(1.0, 1.0, 1.0),
            grouping=None) -> TransferResult:
    """Three folds, three tasks; multi-task score = ``level + gain`` per fold."""
    rng = np.random.default_rng(0)
    n = 60
    Y = pd.DataFrame({
        "species": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "sex": rng.random(n) < 0.5,
        "mass": rng.normal(4000, 500, n),
    })
    spec = TargetSpec().fit(Y)
    gains = gains or {"species": [-0.02, -0.03, -0.025], "sex": [0.01, 0.02, 0.015],
                      "mass": [0.01, -0.01, 0.0]}
    kinds = {"species": ("multiclass", "accuracy"), "sex": ("binary", "accuracy"),
             "mass": ("regression", "r2")}
    rows = []
    for task in TASKS:
        for fold in range(3):
            single = level - 0.01 * fold
            for model, value in ((SINGLE_TASK, single), (MULTI_TASK, single + gains[task][fold]),
                                 (HISTGB, single + 0.005)):
                rows.append({"task": task, "kind": kinds[task][0], "metric": kinds[task][1],
                             "model": model, "fold": fold, "value": value})
    scores = pd.DataFrame(rows)
    models = [MULTI_TASK, SINGLE_TASK, HISTGB]
    folds = [(np.setdiff1d(np.arange(n), np.arange(k, n, 3)), np.arange(k, n, 3))
             for k in range(3)]
    proba = rng.dirichlet(np.ones(3), n)
    binary = rng.dirichlet(np.ones(2), n)
    predictions = {m: {"species": proba, "sex": binary,
                       "mass": Y["mass"].to_numpy() + rng.normal(0, 100, n)} for m in models}
    histories = {MULTI_TASK: [_history(k, 1.0 + i, weights) for i, k in enumerate(lengths)]}
    for task in TASKS:
        histories[f"{SINGLE_TASK}:{task}"] = [_history(k, 1.2) for k in lengths]
    return TransferResult(
        scores=scores, summary=summarize(scores, TASKS, models), histories=histories,
        predictions=predictions, Y=Y, spec=spec,
        metrics={t: kinds[t][1] for t in TASKS}, folds=folds, cv_description="KFold(3)",
        models=models, grouping=grouping,
    )


def _ax():
    fig, ax = plt.subplots()
    return fig, ax


# -- learning curves -----------------------------------------------------------------------


def test_learning_curve_mean_uses_only_the_epochs_every_fold_reached():
    # folds of 10, 6 and 8 epochs; the longest fold has the lowest losses, so a mean over
    # whichever folds reached an epoch would drop at epoch 7 and again at 9
    result = _result(lengths=(6, 10, 8))
    fig, ax = _ax()
    drawing.draw_learning_curve(ax, result, "species")
    mean_lines = [ln for ln in ax.get_lines() if ln.get_label() == f"{MULTI_TASK}, held-out"]
    assert len(mean_lines) == 1
    x, y = mean_lines[0].get_data()
    assert list(x) == list(range(1, 7))  # common epochs only
    # no jump: the mean over the same folds decreases smoothly (loss ~ level / epoch)
    steps = np.diff(np.asarray(y, dtype=float))
    assert (steps < 0).all() and np.abs(steps[-1]) < np.abs(steps[0])
    # the longer folds still show, each on its own, past the common epochs
    tails = [ln for ln in ax.get_lines() if ln.get_label().startswith("_fold")]
    assert {int(max(ln.get_xdata())) for ln in tails} >= {10, 8}
    plt.close(fig)


# -- task weights --------------------------------------------------------------------------


def test_flat_task_weights_are_a_small_table_not_a_row_of_lines(tmp_path):
    flat = figures.plot_task_weights(_result(), tmp_path / "flat.png")
    moving = figures.plot_task_weights(
        _result(weights=(np.linspace(1, 2, 8), 1.0, np.linspace(1, 0.5, 8))),
        tmp_path / "moving.png",
    )
    from PIL import Image

    flat_h = Image.open(flat).size[1]
    assert flat_h < 0.5 * Image.open(moving).size[1]
    fig, ax = _ax()
    drawing.draw_task_weights(ax, _result())
    assert not ax.get_lines() and len(ax.tables) == 1  # a table, not three flat lines
    plt.close(fig)


# -- gain bars -----------------------------------------------------------------------------


def test_gain_legend_swatches_have_the_colours_of_the_bars():
    result = _result()  # species (first) loses, sex gains
    fig, ax = _ax()
    drawing.draw_gains(ax, result)
    legend = ax.get_legend()
    swatches = {t.get_text(): to_hex(h.get_facecolor())
                for t, h in zip(legend.get_texts(), legend.legend_handles)
                if hasattr(h, "get_facecolor") and t.get_text().startswith("multi-task - single")}
    bars = {to_hex(p.get_facecolor()) for p in ax.patches}
    assert swatches and set(swatches.values()) <= bars
    positive = [c for label, c in swatches.items() if "gain" in label or ">" in label]
    assert positive == [drawing.GAIN_COLORS[True]]
    plt.close(fig)


# -- scores --------------------------------------------------------------------------------


def test_score_axis_starts_at_zero_so_small_differences_look_small():
    result = _result(level=0.97)
    fig, ax = _ax()
    drawing.draw_scores(ax, result, "sex")
    lo, hi = ax.get_ylim()
    assert lo <= 0 < 0.97 < hi
    # the values are written on the bars, since the axis no longer magnifies them
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("0.9") for t in texts)
    plt.close(fig)


# -- affinity heat map ---------------------------------------------------------------------


def test_text_colour_follows_the_cells_luminance():
    assert drawing.text_color((0.4, 0.0, 0.12, 1.0)) == "white"  # dark red
    assert drawing.text_color((0.02, 0.19, 0.38, 1.0)) == "white"  # dark blue
    assert drawing.text_color((0.97, 0.97, 0.97, 1.0)) == "black"  # near white
    assert drawing.text_color((0.96, 0.65, 0.51, 1.0)) == "black"  # light salmon


def _grouping(affinity_values) -> TaskGrouping:
    A = pd.DataFrame(affinity_values, index=TASKS, columns=TASKS, dtype=float)
    return TaskGrouping(A, A * 0, [(t,) for t in TASKS], pd.Series(0.0, index=TASKS))


def test_dark_cells_of_the_affinity_map_carry_white_numbers():
    values = [[np.nan, -0.01, -0.09], [-0.08, np.nan, -0.25], [0.02, 0.04, np.nan]]
    result = _result(grouping=_grouping(values))
    fig, ax = _ax()
    drawing.draw_affinity(ax, result)
    colors = {t.get_text(): to_hex(t.get_color()) for t in ax.texts}
    assert colors["-0.250"] == "#ffffff"  # the darkest cell
    assert colors["-0.010"] == "#000000" and colors["+0.020"] == "#000000"
    plt.close(fig)


# -- titles --------------------------------------------------------------------------------


def test_a_one_panel_figure_keeps_its_whole_title():
    result = _result()
    fig = figures.panel_figure(
        result, ["mass"], drawing.draw_predicted_vs_actual,
        "Predicted vs actual, regression targets (out-of-fold, multi-task)", (3.8, 3.6),
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig._suptitle.get_window_extent(renderer)
    width, height = fig.canvas.get_width_height()
    assert box.x0 >= 0 and box.x1 <= width and box.y1 <= height
    plt.close(fig)


# -- files ---------------------------------------------------------------------------------


def test_report_lists_every_file_it_writes(tmp_path):
    files = write_report(_result(), tmp_path / "r")
    written = {p.name for p in (tmp_path / "r").iterdir()}
    assert {p.name for p in files.values()} == written
    assert {"scores.png", "scores.csv"} <= written
    assert len(set(files.values())) == len(files)


# -- explain's bars ------------------------------------------------------------------------


def test_explain_bars_colour_a_feature_by_its_role_in_that_tasks_panel():
    from tabmtl.inspection._figures import panel_roles
    from tabmtl.inspection._importance import MINOR, SHARED, SPECIFIC, TaskImportance

    # f1 drives t1 and t2 (shared), but is tiny for t3 (< 10% of t3's top)
    matrix = np.array([[0.5, 0.4, 0.01], [0.0, 0.0, 0.9], [0.3, 0.0, 0.0]])
    result = TaskImportance(
        importances=np.repeat(matrix[:, :, None], 2, axis=2), features=["f1", "f2", "f3"],
        tasks=["t1", "t2", "t3"], metrics={"t1": "r2", "t2": "r2", "t3": "r2"},
        baseline=pd.Series([0.9, 0.8, 0.7], index=["t1", "t2", "t3"]),
    )
    assert result.shared_drivers().loc["f1", "role"] == SHARED
    assert panel_roles(result, "t1").to_dict() == {"f1": SHARED, "f2": MINOR, "f3": SPECIFIC}
    assert panel_roles(result, "t3").to_dict() == {"f1": MINOR, "f2": SPECIFIC, "f3": MINOR}


def test_importance_heat_map_numbers_follow_the_cells_luminance(tmp_path, monkeypatch):
    from tabmtl.inspection import _figures as inspection_figures
    from tabmtl.inspection._importance import TaskImportance

    # shares 1.0 (dark), 0.65 (mid blue: black reads better) and 0.05 (pale) in task t1
    matrix = np.array([[1.0], [0.65], [0.05]])
    result = TaskImportance(
        importances=np.repeat(matrix[:, :, None], 2, axis=2), features=["a", "b", "c"],
        tasks=["t1"], metrics={"t1": "r2"}, baseline=pd.Series([0.9], index=["t1"]),
    )
    drawn = {}
    monkeypatch.setattr(inspection_figures, "_save",
                        lambda fig, path: drawn.setdefault("fig", fig) and path)
    inspection_figures.plot_importance_heatmap(result, tmp_path / "h.png")
    ax = drawn["fig"].axes[0]
    colors = {t.get_text(): to_hex(t.get_color()) for t in ax.texts}
    assert colors["1.000"] == "#ffffff"
    assert colors["0.650"] == "#000000" and colors["0.050"] == "#000000"
    plt.close(drawn["fig"])
