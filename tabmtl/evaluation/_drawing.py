"""Drawing a transfer analysis on one matplotlib axis, one picture at a time.

Each ``draw_*`` function fills the axis it is given, so the single plots and the
overview canvas of :mod:`tabmtl.evaluation._figures` share them: learning curves, task
weights, gain bars, scores, predicted vs actual, reliability curves, the affinity heat
map and the score table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from tabmtl.evaluation._results import (
    HISTGB,
    MULTI_TASK,
    NEGATIVE_FLAG,
    SINGLE_TASK,
    TransferResult,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: Colour of each model in every plot.
MODEL_COLORS = {MULTI_TASK: "#1f77b4", SINGLE_TASK: "#ff7f0e", HISTGB: "#2ca02c"}
#: Colour of a positive and of a negative gain.
GAIN_COLORS = {True: "#2e7d32", False: "#c62828"}
#: Colour, legend label and short label (the overview) of each kind of gain bar.
_GAIN_STYLE = {
    "gain": (GAIN_COLORS[True], "multi-task - single-task >= 0", "gain"),
    "noise": ("#ef9a9a", "multi-task - single-task < 0, within noise", "loss within noise"),
    "loss": (GAIN_COLORS[False], "multi-task - single-task < 0, negative transfer",
             "negative transfer"),
    "n/a": ("#9e9e9e", "multi-task - single-task: n/a", "n/a"),
}
_MAX_POINTS = 3000  # scatter points per regression panel (a random subset beyond that)


def _epoch_table(frames: Sequence[pd.DataFrame], column: str) -> pd.DataFrame | None:
    """One history column, epochs x folds (NaN where a fold had stopped)."""
    series = [f.set_index("epoch")[column].rename(k) for k, f in enumerate(frames)
              if column in f]
    return pd.concat(series, axis=1) if series else None


def _epoch_mean(frames: Sequence[pd.DataFrame], column: str) -> pd.DataFrame | None:
    """Mean, min and max over folds of one history column, by epoch, over the epochs
    *every* fold reached: folds differ in length with early stopping, and a mean over
    whichever folds are left would jump where the shortest stops."""
    table = _epoch_table(frames, column)
    if table is None:
        return None
    table = table.dropna(how="any")
    return pd.DataFrame({"mean": table.mean(axis=1), "lo": table.min(axis=1),
                         "hi": table.max(axis=1)})


def _fold_tails(frames: Sequence[pd.DataFrame], column: str) -> list[pd.Series]:
    """Each fold's curve past the epochs every fold reached (from the last common one)."""
    table = _epoch_table(frames, column)
    if table is None:
        return []
    common = table.dropna(how="any").index
    start = common.max() if len(common) else table.index.min()
    tails = []
    for k in table.columns:
        part = table.loc[table.index >= start, k].dropna()
        if len(part) > 1:
            tails.append(part)
    return tails


def text_color(rgba: Sequence[float]) -> str:
    """``"white"`` or ``"black"``: the text colour readable on a cell of colour ``rgba``,
    by its relative luminance (WCAG's formula on linearised sRGB): white below 0.179,
    where white and black text have the same contrast ratio with the cell.

    Examples
    --------
    >>> text_color((0.1, 0.1, 0.4, 1.0)), text_color((0.95, 0.9, 0.9, 1.0))
    ('white', 'black')
    """
    channels = np.asarray(rgba[:3], dtype=float)
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ [0.2126, 0.7152, 0.0722])
    return "white" if luminance < 0.179 else "black"


def _gain_kind(gain: float, negative: bool) -> str:
    if not np.isfinite(gain):
        return "n/a"
    if gain >= 0:
        return "gain"
    return "loss" if negative else "noise"


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def draw_learning_curve(ax: Axes, result: TransferResult, task: str, small: bool = False) -> None:
    """One task's loss per epoch: multi-task solid, single-task dashed; thick = held-out
    fold (band: min to max over folds), thin = training. The means and bands cover the
    epochs every fold reached; a fold that trained longer continues on its own, dotted."""
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
            for k, tail in enumerate(_fold_tails(frames, f"valid_loss_{task}")):
                ax.plot(tail.index, tail.to_numpy(), ":", color=color, lw=1.0, alpha=0.6,
                        label=f"_fold {k} past the shortest fold")
        if train is not None:
            ax.plot(train.index, train["mean"], style, color=color, lw=0.8, alpha=0.7,
                    label=f"{model}, train")
    kind = result.task(task).kind
    ax.set_title(f"{task} ({kind}): loss", fontsize=9)
    _integer_epochs(ax)
    if not small:
        ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def constant_task_weights(result: TransferResult) -> pd.Series | None:
    """Each task's loss weight when no weight ever moved (any epoch, any fold), else None.

    A weighting that does not adapt (``weighting="equal"``, fixed weights) needs a table,
    not a row of flat lines.
    """
    frames = result.histories.get(MULTI_TASK, [])
    values = {}
    for task in result.task_names:
        table = _epoch_table(frames, f"weight_{task}")
        if table is None:
            continue
        flat = table.to_numpy(dtype=float)
        flat = flat[np.isfinite(flat)]
        if len(flat) == 0 or np.ptp(flat) > 1e-9:
            return None
        values[task] = float(flat[0])
    return pd.Series(values, name="weight") if values else None


def draw_task_weights(ax: Axes, result: TransferResult) -> None:
    """Each task's loss weight per epoch in the multi-task model (mean over folds); a
    one-row table when the weights never moved."""
    constant = constant_task_weights(result)
    if constant is not None:
        ax.set_axis_off()
        table = ax.table(cellText=[[f"{w:g}" for w in constant]], rowLabels=["weight"],
                         colLabels=list(constant.index), cellLoc="center", loc="upper center")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        for cell in table.get_celld().values():
            cell.set_edgecolor("#dddddd")
        ax.set_title("Task weights: constant over every epoch and fold\n(this weighting "
                     "does not adapt)", fontsize=9)
        return
    frames = result.histories.get(MULTI_TASK, [])
    for i, task in enumerate(result.task_names):
        weights = _epoch_mean(frames, f"weight_{task}")
        if weights is None:
            continue
        ax.plot(weights.index, weights["mean"], color=f"C{i % 10}", lw=1.8, label=task,
                ls="-" if i < 10 else "--")
        ax.fill_between(weights.index, weights["lo"], weights["hi"], color=f"C{i % 10}",
                        alpha=0.12, lw=0)
    ax.set_title("Task weights over epochs (multi-task, mean over folds)", fontsize=9)
    _integer_epochs(ax)
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="best")


def draw_gains(ax: Axes, result: TransferResult, legend_below: bool = True) -> None:
    """Multi-task gain over single-task per task (bars ± std over folds; negative in red
    and labelled); diamonds: gain over HistGB."""
    s = result.summary
    tasks = list(s.index)
    y = np.arange(len(tasks))[::-1]
    gains = s["gain_mean"].to_numpy(dtype=float)
    stds = np.nan_to_num(s["gain_std"].to_numpy(dtype=float))
    kinds = [_gain_kind(g, neg) for g, neg in zip(gains, s["negative_transfer"])]
    ax.barh(y, np.nan_to_num(gains), xerr=stds, color=[_GAIN_STYLE[k][0] for k in kinds],
            alpha=0.85, capsize=3)
    span = np.nanmax(np.abs(np.concatenate([gains + stds, gains - stds, [1e-3]])))
    if "gain_vs_histgb_mean" in s:
        vs_hgb = s["gain_vs_histgb_mean"].to_numpy(dtype=float)
        shown = np.clip(vs_hgb, -1.5 * span, 1.5 * span)  # far-off diamonds sit at the edge
        ax.plot(shown, y, "D", color="#424242", ms=5, label="multi-task - HistGB")
    ax.axvline(0, color="black", lw=0.8)
    for yi, neg in zip(y, s["negative_transfer"]):
        if neg:  # at the right edge, clear of the bars and error bars
            ax.text(0.99, yi, "negative transfer", transform=ax.get_yaxis_transform(),
                    ha="right", va="center", fontsize=8, color=GAIN_COLORS[False],
                    fontweight="bold")
    ax.set_yticks(y, [f"{t} ({s.loc[t, 'metric']})" for t in tasks], fontsize=8)
    ax.set_xlim(-1.6 * span, 1.6 * span)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("score difference (higher is better; ± std over folds)", fontsize=8)
    ax.set_title("Multi-task gain per task\n(red: negative transfer; pale red: a loss "
                 "within noise)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    # one swatch per kind of bar drawn, in the bars' own colours
    # the crowded overview's legend sits inside the axis: the short labels there
    handles = [Patch(facecolor=_GAIN_STYLE[k][0], alpha=0.85,
                     label=_GAIN_STYLE[k][1] if legend_below else _GAIN_STYLE[k][2])
               for k in _GAIN_STYLE if k in kinds]
    handles += ax.get_legend_handles_labels()[0]  # the HistGB diamonds
    if legend_below:
        ax.legend(handles=handles, fontsize=7, loc="upper center", ncol=2, frameon=False,
                  bbox_to_anchor=(0.5, -0.16 - 1.0 / (3 + len(tasks))))
    else:  # in a crowded figure: inside, where it hides the least
        ax.legend(handles=handles, fontsize=6, loc="best", frameon=True, framealpha=0.8)


def draw_scores(ax: Axes, result: TransferResult, task: str) -> None:
    """Each model's score on one task, mean ± std over folds, as bars from zero.

    The axis always includes 0, so a bar's length is its score and a difference of
    0.015 between 0.95 and 0.965 looks as small as it is; the values are written on the
    bars (and the best one in bold) for the differences the eye cannot read.
    """
    s, models = result.summary, result.models
    means = np.array([s.loc[task, f"{m}_mean"] for m in models], dtype=float)
    stds = np.nan_to_num(np.array([s.loc[task, f"{m}_std"] for m in models], dtype=float))
    x = np.arange(len(models))
    ax.bar(x, np.nan_to_num(means), yerr=stds, capsize=3,
           color=[MODEL_COLORS.get(m, "gray") for m in models])
    finite = np.isfinite(means)
    if finite.any():
        lo = min(0.0, float(np.min((means - stds)[finite])))
        hi = max(0.0, float(np.max((means + stds)[finite])))
        if lo == 0.0 and hi <= 1.0 and s.loc[task, "metric"] != "r2":
            hi = 1.0  # a bounded score (accuracy, AUC): its whole scale
        pad = 0.12 * (hi - lo) or 0.05
        ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
        best = int(np.nanargmax(means))
        for xi, m, sd in zip(x, means, stds):
            if not np.isfinite(m):
                continue
            inside = abs(m) > 0.3 * (hi - lo)  # room for the text in the bar
            beyond = m + sd if m >= 0 else m - sd  # outside: past the error bar
            ax.text(xi, m / 2 if inside else beyond, f"{m:.3f}", rotation=90, fontsize=7,
                    ha="center", va="center" if inside else ("bottom" if m >= 0 else "top"),
                    color="white" if inside else "black",
                    fontweight="bold" if xi == best else "normal")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, ["MT", "ST", "HGB"][: len(models)], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    negative = bool(s.loc[task, "negative_transfer"])
    ax.set_title(f"{task}: {s.loc[task, 'metric']}" + ("  ⚠" if negative else ""),
                 fontsize=9, color=GAIN_COLORS[False] if negative else "black")
    ax.grid(axis="y", alpha=0.3)


def draw_predicted_vs_actual(ax: Axes, result: TransferResult, task: str) -> None:
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


def draw_calibration(ax: Axes, result: TransferResult, task: str) -> None:
    """Reliability curves of every model on one classification target. Binary: the
    probability of the second class against its observed frequency; multiclass: top-class
    confidence against accuracy. On the diagonal = calibrated."""
    spec_task = result.task(task)
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
        y_mean, x_mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
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


def draw_outcome(ax: Axes, result: TransferResult, task: str) -> None:
    """Predicted vs actual for a regression target, calibration for a classifier."""
    if result.task(task).is_regression:
        draw_predicted_vs_actual(ax, result, task)
    else:
        draw_calibration(ax, result, task)


def draw_affinity(ax: Axes, result: TransferResult, annotate: bool = True):
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
            color = text_color(image.cmap(image.norm(values[i, j]))) if finite else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if n < 7 else 6,
                    color=color)
    names = [str(t) for t in affinity.index]
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("trained together with", fontsize=8)
    ax.set_ylabel("gain of task", fontsize=8)
    groups = "  ".join("{" + ", ".join(g) + "}" for g in result.grouping.groups)
    title = f"Pairwise affinity; recommended groups:\n{groups}"
    decision = result.grouping.decision
    if decision is not None:
        choice, supported = decision
        why = {True: "the folds support it", False: "others within noise",
               None: "noise not judged"}[supported]
        title += f"\nmeasured on the folds: {choice} ({why})"
    ax.set_title(title, fontsize=8)
    return image


def draw_table(ax: Axes, result: TransferResult) -> None:
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


