"""The gain-vs-training-size figure of a data-efficiency analysis (one panel per task).

Needs matplotlib (drawn with the non-interactive Agg backend).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tabmtl.evaluation._efficiency import EfficiencyResult
from tabmtl.evaluation._figures import pyplot


def plot_efficiency(result: EfficiencyResult, path: str | Path, max_cols: int = 4) -> Path:
    """Per task, the multi-task gain (mean ± std over folds) against the training size.

    Each fold's gain is drawn as a faint point; zero (no gain) is a dashed line. A curve
    that falls from left to right is "multi-task helps most with little data".

    Parameters
    ----------
    result : EfficiencyResult
        From :func:`tabmtl.evaluation._efficiency.data_efficiency`.
    path : str or Path
        The PNG file to write.
    max_cols : int, default=4
        Panels per row.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_efficiency(result, "efficiency.png")  # doctest: +SKIP
    PosixPath('efficiency.png')
    """
    plt = pyplot()
    tasks = result.task_names
    cols = min(max_cols, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    sizes = np.asarray(result.sizes, dtype=float)
    for ax, task in zip(axes.flat, tasks):
        part = result.summary[result.summary["task"] == task].set_index("size").loc[sizes]
        folds = result.scores[result.scores["task"] == task]
        ax.axhline(0.0, color="#9e9e9e", linestyle="--", linewidth=0.8)
        ax.scatter(folds["size"], folds["gain"], s=10, color="#1f77b4", alpha=0.35,
                   label="one fold")
        ax.errorbar(sizes, part["gain_mean"], yerr=part["gain_std"].fillna(0.0), marker="o",
                    color="#1f77b4", capsize=3, label="mean ± std")
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{s:g}\n(n≈{n:.0f})" for s, n in zip(sizes, part["n_train"])],
                      fontsize=7)
        ax.minorticks_off()
        ax.set_title(f"{task} ({part['metric'].iloc[0]})", fontsize=9)
        ax.set_xlabel("fraction of the training fold", fontsize=8)
        ax.set_ylabel("multi-task gain", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes.flat[len(tasks):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Multi-task gain by training size (multi-task minus single-task, by fold)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.1 / rows, 1, 1 - 0.06 / rows))
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
