"""Plots and a self-contained HTML page for a transfer analysis.

:func:`write_report` turns a :class:`tabmtl.evaluation.transfer.TransferResult` into PNG files a
person would rather look at than a table — per-task learning curves (multi-task against
single-task, on the held-out fold), task weights over epochs, per-task gain bars, the
models' scores, predicted against actual values for regression targets, reliability
curves for classification targets, the pairwise affinity heat map when grouping ran —
plus ``overview.png`` (all of them on one canvas) and ``report.html``, one file with
every image embedded (base64), so it can be mailed or attached as is.

Needs matplotlib (drawn with the non-interactive Agg backend).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tabmtl.evaluation.transfer import (
    HISTGB,
    MULTI_TASK,
    NEGATIVE_FLAG,
    SINGLE_TASK,
    TransferResult,
    is_regression_task,
)

#: Colour of each model in every plot.
MODEL_COLORS = {MULTI_TASK: "#1f77b4", SINGLE_TASK: "#ff7f0e", HISTGB: "#2ca02c"}
_GAIN_COLORS = {True: "#2e7d32", False: "#c62828"}  # positive, negative
_MAX_POINTS = 3000  # scatter points per regression panel (a random subset beyond that)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(max_cols, max(1, n))
    return math.ceil(n / cols), cols


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)  # tight_layout already fitted it: no second draw
    _pyplot().close(fig)
    return path


def _epoch_mean(frames: Sequence[pd.DataFrame], column: str) -> pd.DataFrame | None:
    """Mean, min and max over folds of one history column, by epoch (folds may differ
    in length with early stopping)."""
    series = [f.set_index("epoch")[column] for f in frames if column in f]
    if not series:
        return None
    table = pd.concat(series, axis=1)
    return pd.DataFrame({"mean": table.mean(axis=1), "lo": table.min(axis=1),
                         "hi": table.max(axis=1)})


# -- drawing on one axis (shared by the single plots and the overview) --------------------


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _task_names(result: TransferResult) -> list[str]:
    return [str(t.name) for t in result.spec.tasks_]


def _draw_learning_curve(ax, result: TransferResult, task: str, small: bool = False) -> None:
    """One task's loss per epoch: multi-task solid, single-task dashed; thick = held-out
    fold (band: min to max over folds), thin = training."""
    curves = [
        (MULTI_TASK, result.histories.get(MULTI_TASK, []), "-"),
        (SINGLE_TASK, result.histories.get(f"{SINGLE_TASK}:{task}", []), "--"),
    ]
    for model, frames, style in curves:
        color = MODEL_COLORS[model]
        held_out = _epoch_mean(frames, f"valid_loss_{task}")
        train = _epoch_mean(frames, f"train_loss_{task}")
        if held_out is not None:
            ax.plot(held_out.index, held_out["mean"], style, color=color, lw=2,
                    label=f"{model}, held-out")
            ax.fill_between(held_out.index, held_out["lo"], held_out["hi"], color=color,
                            alpha=0.15, lw=0)
        if train is not None:
            ax.plot(train.index, train["mean"], style, color=color, lw=0.8, alpha=0.7,
                    label=f"{model}, train")
    kind = result.spec.tasks_[_task_names(result).index(task)].kind
    ax.set_title(f"{task} ({kind}): loss", fontsize=9)
    _integer_epochs(ax)
    if not small:
        ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _draw_task_weights(ax, result: TransferResult) -> None:
    """Each task's loss weight per epoch in the multi-task model (mean over folds)."""
    frames = result.histories.get(MULTI_TASK, [])
    constant = True
    for i, task in enumerate(_task_names(result)):
        weights = _epoch_mean(frames, f"weight_{task}")
        if weights is None:
            continue
        constant &= bool(np.ptp(weights["mean"].to_numpy()) < 1e-9)
        ax.plot(weights.index, weights["mean"], color=f"C{i % 10}", lw=1.8, label=task,
                ls="-" if i < 10 else "--")
        ax.fill_between(weights.index, weights["lo"], weights["hi"], color=f"C{i % 10}",
                        alpha=0.12, lw=0)
    title = "Task weights over epochs (multi-task, mean over folds)"
    if constant:
        title += "\nconstant: this weighting does not adapt (e.g. weighting='equal')"
    ax.set_title(title, fontsize=9)
    _integer_epochs(ax)
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="best")


def _draw_gains(ax, result: TransferResult, legend_below: bool = True) -> None:
    """Multi-task gain over single-task per task (bars ± std over folds; negative in red
    and labelled); diamonds: gain over HistGB."""
    s = result.summary
    tasks = list(s.index)
    y = np.arange(len(tasks))[::-1]
    gains = s["gain_mean"].to_numpy(dtype=float)
    stds = np.nan_to_num(s["gain_std"].to_numpy(dtype=float))
    colors = [_GAIN_COLORS[bool(g >= 0)] if np.isfinite(g) else "#9e9e9e" for g in gains]
    ax.barh(y, np.nan_to_num(gains), xerr=stds, color=colors, alpha=0.85, capsize=3,
            label="multi-task - single-task")
    span = np.nanmax(np.abs(np.concatenate([gains + stds, gains - stds, [1e-3]])))
    if "gain_vs_histgb_mean" in s:
        vs_hgb = s["gain_vs_histgb_mean"].to_numpy(dtype=float)
        shown = np.clip(vs_hgb, -1.5 * span, 1.5 * span)  # far-off diamonds sit at the edge
        ax.plot(shown, y, "D", color="#424242", ms=5, label="multi-task - HistGB")
    ax.axvline(0, color="black", lw=0.8)
    for yi, neg in zip(y, s["negative_transfer"]):
        if neg:  # at the right edge, clear of the bars and error bars
            ax.text(0.99, yi, "negative transfer", transform=ax.get_yaxis_transform(),
                    ha="right", va="center", fontsize=8, color=_GAIN_COLORS[False],
                    fontweight="bold")
    ax.set_yticks(y, [f"{t} ({s.loc[t, 'metric']})" for t in tasks], fontsize=8)
    ax.set_xlim(-1.6 * span, 1.6 * span)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("score difference (higher is better; ± std over folds)", fontsize=8)
    ax.set_title("Multi-task gain per task (red: negative transfer)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    if legend_below:
        ax.legend(fontsize=7, loc="upper center", ncol=2, frameon=False,
                  bbox_to_anchor=(0.5, -0.16 - 1.0 / (3 + len(tasks))))
    else:  # in a crowded figure: inside, where it hides the least
        ax.legend(fontsize=6, loc="best", frameon=True, framealpha=0.8)


def _draw_scores(ax, result: TransferResult, task: str) -> None:
    """Each model's score on one task, mean ± std over folds."""
    s, models = result.summary, result.models
    means = np.array([s.loc[task, f"{m}_mean"] for m in models], dtype=float)
    stds = np.nan_to_num(np.array([s.loc[task, f"{m}_std"] for m in models], dtype=float))
    x = np.arange(len(models))
    ax.bar(x, np.nan_to_num(means), yerr=stds, capsize=3,
           color=[MODEL_COLORS.get(m, "gray") for m in models])
    finite = np.isfinite(means)
    if finite.any():
        lo, hi = np.min((means - stds)[finite]), np.max((means + stds)[finite])
        pad = max(0.2 * (hi - lo), 0.005)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xticks(x, ["MT", "ST", "HGB"][: len(models)], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    negative = bool(s.loc[task, "negative_transfer"])
    ax.set_title(f"{task}: {s.loc[task, 'metric']}" + ("  ⚠" if negative else ""),
                 fontsize=9, color=_GAIN_COLORS[False] if negative else "black")
    ax.grid(axis="y", alpha=0.3)


def _draw_predicted_vs_actual(ax, result: TransferResult, task: str) -> None:
    """Out-of-fold multi-task predictions of a regression target against the truth."""
    truth = pd.to_numeric(result.Y[task], errors="coerce").to_numpy(dtype=float)
    pred = result.predictions[MULTI_TASK][task]
    ok = np.flatnonzero(np.isfinite(truth) & np.isfinite(pred))
    if len(ok) > _MAX_POINTS:
        ok = np.random.default_rng(0).choice(ok, _MAX_POINTS, replace=False)
    ax.scatter(truth[ok], pred[ok], s=6, alpha=0.35, color=MODEL_COLORS[MULTI_TASK], lw=0)
    if len(ok):
        lo = float(min(truth[ok].min(), pred[ok].min()))
        hi = float(max(truth[ok].max(), pred[ok].max()))
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--")
    score = result.summary.loc[task, f"{MULTI_TASK}_mean"]
    ax.set_title(f"{task}: predicted vs actual ({result.metrics[task]} {score:.3f})",
                 fontsize=9)
    ax.set_xlabel("actual", fontsize=8)
    ax.set_ylabel("predicted (out of fold)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _reliability(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, ...]:
    """Mean predicted probability and observed frequency in equal-count bins."""
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, min(n_bins, len(p))) if len(b)]
    return (np.array([p[b].mean() for b in bins]), np.array([y[b].mean() for b in bins]))


def _draw_calibration(ax, result: TransferResult, task: str) -> None:
    """Reliability curves of every model on one classification target. Binary: the
    probability of the second class against its observed frequency; multiclass: top-class
    confidence against accuracy. On the diagonal = calibrated."""
    spec_task = result.spec.tasks_[_task_names(result).index(task)]
    present = result.Y[task].notna().to_numpy()
    codes = np.full(len(result.Y), -1)
    codes[present] = spec_task.encode(result.Y[task][present]).astype(int)
    for model in result.models:
        proba = result.predictions.get(model, {}).get(task)
        if proba is None:
            continue
        ok = present & np.isfinite(proba).all(axis=1)
        if not ok.any():
            continue
        if spec_task.kind == "binary":
            p, y = proba[ok, 1], (codes[ok] == 1).astype(float)
        else:
            p = proba[ok].max(axis=1)
            y = (proba[ok].argmax(axis=1) == codes[ok]).astype(float)
        x_mean, y_mean = _reliability(y, p)
        ax.plot(x_mean, y_mean, "o-", ms=3, lw=1.3, color=MODEL_COLORS.get(model),
                label=model)
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    if spec_task.kind == "binary":
        ax.set_title(f"{task}: calibration of P({spec_task.classes_[1]})", fontsize=9)
        ax.set_xlabel("predicted probability", fontsize=8)
        ax.set_ylabel("observed frequency", fontsize=8)
    else:
        ax.set_title(f"{task}: top-class calibration", fontsize=9)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _draw_outcome(ax, result: TransferResult, task: str) -> None:
    """Predicted vs actual for a regression target, calibration for a classifier."""
    spec_task = result.spec.tasks_[_task_names(result).index(task)]
    if is_regression_task(spec_task):
        _draw_predicted_vs_actual(ax, result, task)
    else:
        _draw_calibration(ax, result, task)


def _draw_affinity(ax, result: TransferResult, annotate: bool = True):
    """Heat map of the pairwise affinities; returns the image (for a colour bar)."""
    affinity = result.grouping.affinity
    values = affinity.to_numpy(dtype=float)
    n = len(affinity)
    limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit)
    for i in range(n if annotate else 0):
        for j in range(n):
            finite = np.isfinite(values[i, j])
            text = "·" if i == j else (f"{values[i, j]:+.3f}" if finite else "n/a")
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if n < 7 else 6)
    names = [str(t) for t in affinity.index]
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("trained together with", fontsize=8)
    ax.set_ylabel("gain of task", fontsize=8)
    groups = "  ".join("{" + ", ".join(g) + "}" for g in result.grouping.groups)
    title = f"Pairwise affinity; recommended groups:\n{groups}"
    if result.grouping.best_measured is not None:
        title += f"\nbest measured on the folds: {result.grouping.best_measured}"
    ax.set_title(title, fontsize=8)
    return image


def _draw_table(ax, result: TransferResult) -> None:
    """The per-task score table, negative-transfer rows shaded red."""
    headers, rows = result.table_rows()
    keep = [i for i, h in enumerate(headers) if h not in ("kind", "best")]
    headers = [headers[i] for i in keep]
    rows = [[r[i] for i in keep] for r in rows]
    rows = [[c.replace(NEGATIVE_FLAG, "NEGATIVE") for c in r] for r in rows]
    ax.set_axis_off()
    # the table fills the axes exactly; columns as wide as their longest text
    chars = np.array([max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))])
    table = ax.table(cellText=rows, colLabels=headers, cellLoc="left", bbox=[0, 0, 1, 1],
                     colWidths=list((chars + 2) / (chars + 2).sum()))
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#dddddd")
        if r == 0:
            cell.set_facecolor("#f0f0f0")
        elif result.summary["negative_transfer"].iloc[r - 1]:
            cell.set_facecolor("#ffebee")
    ax.set_title("Scores per task (mean ± std over folds)", fontsize=9)


# -- the single plots ----------------------------------------------------------------------


def _panels(result: TransferResult, tasks: Sequence[str], draw, path: Path, title: str,
            size: tuple[float, float], max_cols: int = 4, legend: bool = False) -> Path:
    plt = _pyplot()
    rows, cols = _grid(len(tasks), max_cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows),
                             squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        draw(ax, result, task)
    for ax in axes.flat[len(tasks):]:
        ax.set_axis_off()
    bottom = 0.0
    if legend:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
        bottom = 0.12 / rows
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.08 / rows))
    return _save(fig, path)


def plot_learning_curves(result: TransferResult, path: Path) -> Path:
    """One panel per task: loss per epoch, multi-task (solid) vs single-task (dashed).

    A multi-task held-out curve below the single-task one is transfer at work; one that
    turns up earlier is a task the shared model overfits.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
        result, _task_names(result), _draw_learning_curve, path,
        "Learning curves per task: multi-task (solid) vs single-task (dashed); thick = "
        "held-out fold, thin = training; mean over folds", (4.2, 3.1), legend=True,
    )


def plot_task_weights(result: TransferResult, path: Path) -> Path:
    """Each task's loss weight per epoch in the multi-task model.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    _draw_task_weights(ax, result)
    fig.tight_layout()
    return _save(fig, path)


def plot_gains(result: TransferResult, path: Path) -> Path:
    """Per-task multi-task gain bars, negative transfer in red.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(result.summary) + 1.6))
    _draw_gains(ax, result)
    fig.tight_layout()
    return _save(fig, path)


def plot_scores(result: TransferResult, path: Path) -> Path:
    """Each model's score per task (mean ± std over folds), side by side.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
        result, _task_names(result), _draw_scores, path,
        "Scores per task, mean ± std over folds (MT multi-task, ST single-task, HGB HistGB)",
        (2.9, 2.5),
    )


def plot_predicted_vs_actual(result: TransferResult, path: Path) -> Path | None:
    """Predicted vs actual per regression target (None if there is none).

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
    tasks = [str(t.name) for t in result.spec.tasks_ if is_regression_task(t)]
    if not tasks:
        return None
    return _panels(result, tasks, _draw_predicted_vs_actual, path,
                   "Predicted vs actual, regression targets (out-of-fold, multi-task)",
                   (3.8, 3.6), max_cols=3)


def plot_calibration(result: TransferResult, path: Path) -> Path | None:
    """Reliability curves per classification target (None if there is none).

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
    tasks = [str(t.name) for t in result.spec.tasks_ if not is_regression_task(t)]
    if not tasks:
        return None
    return _panels(result, tasks, _draw_calibration, path,
                   "Calibration, classification targets (out-of-fold, equal-count bins; "
                   "diagonal = calibrated)", (3.5, 3.4), legend=True)


def plot_affinity(result: TransferResult, path: Path) -> Path | None:
    """Heat map of the pairwise affinities (None unless grouping ran).

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
    plt = _pyplot()
    n = len(result.grouping.affinity)
    fig, ax = plt.subplots(figsize=(0.9 * n + 2.8, 0.75 * n + 2.2))
    image = _draw_affinity(ax, result)
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
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
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
    plt = _pyplot()
    tasks = _task_names(result)
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
    _draw_table(fig.add_subplot(grid[0, :3]), result)
    _draw_gains(fig.add_subplot(grid[0, 3]), result, legend_below=False)
    for k, task in enumerate(tasks):
        _draw_learning_curve(fig.add_subplot(grid[1 + k // cols, k % cols]), result, task,
                            small=True)
        _draw_outcome(fig.add_subplot(grid[1 + task_rows + k // cols, k % cols]), result, task)
    last = 1 + 2 * task_rows
    _draw_task_weights(fig.add_subplot(grid[last, :2]), result)
    if result.grouping is not None:
        ax = fig.add_subplot(grid[last, 2:])
        fig.colorbar(_draw_affinity(ax, result, annotate=len(tasks) <= 6), ax=ax, shrink=0.8)
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
    color = _GAIN_COLORS[False] if result.negative_transfer else "black"
    fig.suptitle(f"{title}   ·   {result.cv_description}\n{result.verdict()}", fontsize=13,
                 color=color)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


# -- the page ------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #212121; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.neg td { background: #ffebee; } td.flag { color: #c62828; font-weight: bold; }
pre { background: #f5f5f5; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; } .verdict { font-size: 1.1em; font-weight: bold; }
.neg-text { color: #c62828; } figcaption { color: #555; font-size: 0.9em; margin-bottom: 1.4em; }
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                negative_rows: Sequence[bool] = ()) -> str:
    neg = list(negative_rows) + [False] * (len(rows) - len(negative_rows))
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"]
    for row, is_neg in zip(rows, neg):
        cells = []
        for value in row:
            cls = ' class="flag"' if value == NEGATIVE_FLAG else (
                ' class="num"' if value and value[0] in "+-0123456789" else "")
            cells.append(f"<td{cls}>{html.escape(value)}</td>")
        out.append(f'<tr{" class=neg" if is_neg else ""}>' + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


_CAPTIONS = {
    "gain": "Multi-task score minus single-task score per task, paired by fold (bars, "
    "± std); red bars are negative transfer. Diamonds: multi-task minus HistGB.",
    "scores": "Each model's score per task, mean ± std over folds.",
    "learning_curves": "Loss per epoch per task. Solid: the multi-task model; dashed: the "
    "single-task model of the same architecture. Thick: held-out fold (or the early-stopping "
    "split); thin: training. Shaded: min to max over folds.",
    "task_weights": "The weight of each task's loss in the multi-task objective per epoch.",
    "predicted_vs_actual": "Out-of-fold predictions of the multi-task model against the "
    "truth; the dashed line is a perfect prediction.",
    "calibration": "Reliability of the predicted probabilities (out of fold, equal-count "
    "bins): on the diagonal, a predicted 30% happens 30% of the time.",
    "affinity": "Pairwise affinity: the row task's score when trained with the column task, "
    "minus its score alone.",
}


def write_report(
    result: TransferResult,
    out_dir: str | Path,
    *,
    title: str = "tabmtl transfer report",
    command: str | None = None,
    details: Sequence[str] = (),
) -> dict[str, Path]:
    """Write the plots, ``overview.png``, ``report.html`` and the tables to ``out_dir``.

    Parameters
    ----------
    result : TransferResult
        From :func:`tabmtl.evaluation.transfer.cross_validate_transfer`.
    out_dir : str or Path
        Folder (created if missing).
    title : str
        Page and overview title.
    command : str, optional
        The command that produced the result, shown on the page for reproducibility.
    details : sequence of str
        Lines describing the data, folds and models.

    Returns
    -------
    dict
        Name -> written path: ``html``, ``overview``, one per plot, ``summary``
        (summary.csv), ``scores`` (scores.csv, every fold) and ``table`` (table.md).

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> from tabmtl.evaluation.transfer import cross_validate_transfer
    >>> X, Y = datasets.load("penguins")
    >>> result = cross_validate_transfer(X, Y, MultiTaskEstimator(max_epochs=5), cv=2)
    >>> files = write_report(result, "penguins-report")  # doctest: +SKIP
    >>> files["html"]  # doctest: +SKIP
    PosixPath('penguins-report/report.html')
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = {
        "gain": plot_gains(result, out / "gain.png"),
        "scores": plot_scores(result, out / "scores.png"),
        "learning_curves": plot_learning_curves(result, out / "learning_curves.png"),
        "task_weights": plot_task_weights(result, out / "task_weights.png"),
        "predicted_vs_actual": plot_predicted_vs_actual(result, out / "predicted_vs_actual.png"),
        "calibration": plot_calibration(result, out / "calibration.png"),
        "affinity": plot_affinity(result, out / "affinity.png"),
    }
    plots = {k: v for k, v in plots.items() if v is not None}
    files: dict[str, Path] = dict(plots)
    files["overview"] = plot_overview(result, out / "overview.png", title)
    files["summary"] = out / "summary.csv"
    result.summary.to_csv(files["summary"])
    files["scores"] = out / "scores.csv"
    result.scores.to_csv(files["scores"], index=False)
    files["table"] = out / "table.md"
    files["table"].write_text(result.to_markdown() + "\n", encoding="utf-8")
    files["html"] = out / "report.html"
    files["html"].write_text(_page(result, plots, title, command, details), encoding="utf-8")
    return files


def _page(result, plots, title, command, details) -> str:
    headers, rows = result.table_rows()
    verdict_class = "verdict neg-text" if result.negative_transfer else "verdict"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(line)}</p>" for line in details]
    if command:
        parts.append(f"<pre>{html.escape(command)}</pre>")
    parts += [
        f'<p class="{verdict_class}">{html.escape(result.verdict())}</p>',
        "<h2>Scores per task</h2>",
        _html_table(headers, rows, list(result.summary["negative_transfer"])),
    ]
    if result.fit_seconds:
        times = ", ".join(f"{m} {s:.1f}s" for m, s in result.fit_seconds.items())
        parts.append(f"<p>Total fit time over all folds: {html.escape(times)}.</p>")
    order = ["gain", "scores", "learning_curves", "task_weights", "predicted_vs_actual",
             "calibration"]
    names = {"gain": "Multi-task gain", "scores": "Scores", "learning_curves":
             "Learning curves", "task_weights": "Task weights", "predicted_vs_actual":
             "Predicted vs actual", "calibration": "Calibration"}
    for key in order:
        if key in plots:
            parts += [f"<h2>{names[key]}</h2>", "<figure>", _img(plots[key]),
                      f"<figcaption>{html.escape(_CAPTIONS[key])}</figcaption></figure>"]
    if result.grouping is not None:
        g = result.grouping
        parts.append("<h2>Which tasks to train together</h2>")
        groups = "  ".join("{" + ", ".join(grp) + "}" for grp in g.groups)
        parts.append(f"<p>Recommended from pairwise gains: {html.escape(groups)}</p>")
        if g.best_measured is not None:
            parts.append(f'<p class="verdict">Best measured on the folds: '
                         f"{html.escape(g.best_measured)}.</p>")
        if "affinity" in plots:
            parts += ["<figure>", _img(plots["affinity"]),
                      f"<figcaption>{html.escape(_CAPTIONS['affinity'])}</figcaption>",
                      "</figure>"]
        parts.append(f"<pre>{html.escape(g.describe())}</pre>")
    parts.append("<p>Produced by tabmtl; every image is embedded in this file.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
