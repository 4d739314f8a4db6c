"""The PNG figures of a transfer analysis: one per picture, and the overview canvas.

Each ``plot_*`` function writes one PNG file from the ``draw_*`` functions of
:mod:`tabmtl.evaluation._drawing`; :func:`plot_overview` puts all of them on one canvas.
Needs matplotlib (drawn with the non-interactive Agg backend).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from tabmtl.evaluation._drawing import (
    GAIN_COLORS,
    MODEL_COLORS,
    constant_task_weights,
    draw_affinity,
    draw_calibration,
    draw_gains,
    draw_learning_curve,
    draw_outcome,
    draw_predicted_vs_actual,
    draw_scores,
    draw_table,
    draw_task_weights,
)
from tabmtl.evaluation._results import HISTGB, MULTI_TASK, SINGLE_TASK, TransferResult


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; a clear error without it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "tabmtl's figures need matplotlib: pip install 'tabmtl[report]'"
        ) from None
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(max_cols, max(1, n))
    return math.ceil(n / cols), cols


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)  # tight_layout already fitted it: no second draw
    pyplot().close(fig)
    return path


def _wrapped(title: str, width_inches: float, fontsize: float) -> str:
    """``title`` broken into lines that fit ``width_inches`` at ``fontsize`` points (an
    average character is about 0.6 em wide)."""
    chars = max(20, int(width_inches * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.wrap(title, chars)) or title


def panel_figure(result: TransferResult, tasks: Sequence[str], draw: Callable, title: str,
                 size: tuple[float, float], max_cols: int = 4, legend: bool = False):
    """A figure of one ``draw(ax, result, task)`` panel per task on a grid.

    The title is wrapped to the figure's width, so a one-panel figure with a long title
    keeps all of it.
    """
    plt = pyplot()
    rows, cols = _grid(len(tasks), max_cols)
    width = size[0] * cols
    title = _wrapped(title, 0.95 * width, 10)
    lines = title.count("\n") + 1
    height = size[1] * rows + 0.18 * (lines - 1)  # room for the extra title lines
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        draw(ax, result, task)
    for ax in axes.flat[len(tasks):]:
        ax.set_axis_off()
    bottom = 0.0
    if legend:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4 if cols > 1 else 2,
                   fontsize=8, frameon=False)
        bottom = (0.12 if cols > 1 else 0.2) / rows
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 1 - (0.06 + 0.05 * (lines - 1)) / rows))
    return fig


def _panels(result: TransferResult, tasks: Sequence[str], draw: Callable, path: Path,
            title: str, size: tuple[float, float], max_cols: int = 4,
            legend: bool = False) -> Path:
    """One ``draw(ax, result, task)`` panel per task on a grid, saved to ``path``."""
    return _save(panel_figure(result, tasks, draw, title, size, max_cols, legend), path)


def plot_learning_curves(result: TransferResult, path: Path) -> Path:
    """One panel per task: loss per epoch, multi-task (solid) vs single-task (dashed).

    A multi-task held-out curve below the single-task one is transfer at work; one that
    turns up earlier is a task the shared model overfits.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_learning_curves(result, Path("learning_curves.png"))  # doctest: +SKIP
    PosixPath('learning_curves.png')
    """
    return _panels(
        result, result.task_names, draw_learning_curve, path,
        "Learning curves per task: multi-task (solid) vs single-task (dashed); thick = "
        "held-out fold, thin = training; mean over the epochs all folds reached (dotted: "
        "one longer fold)", (4.2, 3.1), legend=True,
    )


def plot_task_weights(result: TransferResult, path: Path) -> Path:
    """Each task's loss weight per epoch in the multi-task model.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_task_weights(result, Path("task_weights.png"))  # doctest: +SKIP
    PosixPath('task_weights.png')
    """
    plt = pyplot()
    flat = constant_task_weights(result) is not None  # a one-row table: a small figure
    width = 6.5 if not flat else min(12.0, max(4.0, 1.0 + 1.1 * len(result.task_names)))
    fig, ax = plt.subplots(figsize=(width, 3.4 if not flat else 1.3))
    draw_task_weights(ax, result)
    fig.tight_layout()
    return _save(fig, path)


def plot_gains(result: TransferResult, path: Path) -> Path:
    """Per-task multi-task gain bars, negative transfer in red.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_gains(result, Path("gain.png"))  # doctest: +SKIP
    PosixPath('gain.png')
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(result.summary) + 1.6))
    draw_gains(ax, result)
    fig.tight_layout()
    return _save(fig, path)


def plot_scores(result: TransferResult, path: Path) -> Path:
    """Each model's score per task (mean ± std over folds), side by side.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_scores(result, Path("scores.png"))  # doctest: +SKIP
    PosixPath('scores.png')
    """
    return _panels(
        result, result.task_names, draw_scores, path,
        "Scores per task, mean ± std over folds (MT multi-task, ST single-task, HGB HistGB)",
        (2.9, 2.5),
    )


def plot_predicted_vs_actual(result: TransferResult, path: Path) -> Path | None:
    """Predicted vs actual per regression target (None if there is none).

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path or None
        The written file; None (nothing written) when there is nothing to draw.

    Examples
    --------
    >>> plot_predicted_vs_actual(result, Path("predicted_vs_actual.png"))  # doctest: +SKIP
    PosixPath('predicted_vs_actual.png')
    """
    tasks = [str(t.name) for t in result.spec.tasks_ if t.is_regression]
    if not tasks:
        return None
    return _panels(result, tasks, draw_predicted_vs_actual, path,
                   "Predicted vs actual, regression targets (out-of-fold, multi-task)",
                   (3.8, 3.6), max_cols=3)


def plot_calibration(result: TransferResult, path: Path) -> Path | None:
    """Reliability curves per classification target (None if there is none).

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path or None
        The written file; None (nothing written) when there is nothing to draw.

    Examples
    --------
    >>> plot_calibration(result, Path("calibration.png"))  # doctest: +SKIP
    PosixPath('calibration.png')
    """
    tasks = [str(t.name) for t in result.spec.tasks_ if not t.is_regression]
    if not tasks:
        return None
    return _panels(result, tasks, draw_calibration, path,
                   "Calibration, classification targets (out-of-fold, equal-count bins; "
                   "diagonal = calibrated)", (3.5, 3.4), legend=True)


def plot_affinity(result: TransferResult, path: Path) -> Path | None:
    """Heat map of the pairwise affinities (None unless grouping ran).

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.

    Returns
    -------
    Path or None
        The written file; None (nothing written) when there is nothing to draw.

    Examples
    --------
    >>> plot_affinity(result, Path("affinity.png"))  # doctest: +SKIP
    PosixPath('affinity.png')
    """
    if result.grouping is None:
        return None
    plt = pyplot()
    n = len(result.grouping.affinity)
    fig, ax = plt.subplots(figsize=(0.9 * n + 2.8, 0.75 * n + 2.2))
    image = draw_affinity(ax, result)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return _save(fig, path)


def plot_overview(result: TransferResult, path: Path, title: str) -> Path:
    """One dashboard: the table and the gain bars, every task's learning curve and its
    calibration (or predicted vs actual), the task weights and, with grouping, the
    affinity heat map.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation._transfer.cross_validate_transfer`.
    path : Path
        The PNG file to write.
    title : str
        Heading of the canvas.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_overview(result, Path("overview.png"), "my report")  # doctest: +SKIP
    PosixPath('overview.png')
    """
    plt = pyplot()
    tasks = result.task_names
    cols = 4
    task_rows = math.ceil(len(tasks) / cols)
    table_height = 0.25 * len(tasks) + 0.9
    last_height = 3.4 if result.grouping is None else max(3.4, 0.4 * len(tasks) + 1.6)
    heights = [table_height] + [2.3] * (2 * task_rows) + [last_height]
    hspace = 0.35  # gap between rows, as a fraction of the mean row height
    # inches: the panels, the gaps, and 1.3 above (title) and below (labels, legend)
    fig_height = sum(heights) * (1 + hspace * (len(heights) - 1) / len(heights)) + 2.6
    fig = plt.figure(figsize=(17, fig_height))
    grid = fig.add_gridspec(len(heights), cols, height_ratios=heights, hspace=hspace,
                            top=1 - 1.3 / fig_height, bottom=1.3 / fig_height, wspace=0.3)
    draw_table(fig.add_subplot(grid[0, :3]), result)
    draw_gains(fig.add_subplot(grid[0, 3]), result, legend_below=False)
    for k, task in enumerate(tasks):
        draw_learning_curve(fig.add_subplot(grid[1 + k // cols, k % cols]), result, task,
                            small=True)
        draw_outcome(fig.add_subplot(grid[1 + task_rows + k // cols, k % cols]), result, task)
    last = 1 + 2 * task_rows
    draw_task_weights(fig.add_subplot(grid[last, :2]), result)
    if result.grouping is not None:
        ax = fig.add_subplot(grid[last, 2:])
        fig.colorbar(draw_affinity(ax, result, annotate=len(tasks) <= 6), ax=ax, shrink=0.8)
    legend = [
        plt.Line2D([], [], color=MODEL_COLORS[MULTI_TASK], lw=2, label="multi-task"),
        plt.Line2D([], [], color=MODEL_COLORS[SINGLE_TASK], lw=2, ls="--",
                   label="single-task"),
        plt.Line2D([], [], color=MODEL_COLORS[HISTGB], lw=2, label="HistGB"),
        plt.Line2D([], [], color="gray", lw=2, label="held-out loss (thick)"),
        plt.Line2D([], [], color="gray", lw=0.8, label="training loss (thin)"),
    ]
    fig.legend(handles=legend, loc="upper center", ncol=5, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    color = GAIN_COLORS[False] if result.negative_transfer else "black"
    fig.suptitle(f"{title}   ·   {result.cv_description}\n{result.verdict()}", fontsize=13,
                 color=color)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


