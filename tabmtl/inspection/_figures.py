"""Pictures of a :class:`~tabmtl.inspection._importance.TaskImportance`.

:func:`plot_importance_heatmap` draws the features x tasks matrix (colour: each task's
importance as a share of its largest one, since tasks are scored with different metrics;
numbers: the raw score drops) with the shared drivers marked; :func:`plot_importance_bars`
draws one bar chart per task. Features are ordered by role (shared drivers first, see
:meth:`~tabmtl.inspection._importance.TaskImportance.shared_drivers`) then by mean share.
Needs matplotlib (``pip install 'tabmtl[report]'``), drawn with the Agg backend.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from tabmtl.evaluation._drawing import text_color
from tabmtl.evaluation._figures import pyplot
from tabmtl.inspection._importance import MINOR, SHARED, SPECIFIC, TaskImportance

#: Bar colour of each feature role.
ROLE_COLORS = {SHARED: "#1f77b4", SPECIFIC: "#ff7f0e", MINOR: "#9e9e9e"}


def _ordered(result: TaskImportance, max_features: int | None, **rule):
    roles = result.shared_drivers(**rule)
    return roles if max_features is None else roles.head(max_features)


def panel_roles(result: TaskImportance, task: str, *, top_k: int = 3, min_share: float = 0.1,
                min_tasks: int = 2):
    """Each feature's role *in one task's panel*: a shared driver or task-specific when
    it drives ``task`` (and at least ``min_tasks`` tasks, or fewer), minor when it does
    not drive this task, whatever it does for the others.

    Parameters
    ----------
    result : TaskImportance
        From :func:`~tabmtl.inspection._importance.task_importance`.
    task : str
        The task of the panel.
    top_k, min_share, min_tasks
        The rule of :meth:`TaskImportance.shared_drivers`.

    Returns
    -------
    pandas.Series
        Feature -> role, in ``result.features`` order.

    Examples
    --------
    >>> panel_roles(result, "eta")["km"]  # doctest: +SKIP
    'shared'
    """
    drives = result.drivers(top_k, min_share)
    n_tasks = drives.sum(axis=1)
    here = drives[task]
    roles = np.where(~here, MINOR, np.where(n_tasks >= min_tasks, SHARED, SPECIFIC))
    return pd.Series(roles, index=drives.index, name="role").reindex(result.features)


def _rule_text(top_k: int, min_share: float, min_tasks: int) -> str:
    return (f"shared driver: top {top_k} of >= {min_tasks} tasks, >= {min_share:.0%} of "
            "the task's top importance")


def plot_importance_heatmap(
    result: TaskImportance,
    path: str | Path,
    *,
    max_features: int | None = 30,
    top_k: int = 3,
    min_share: float = 0.1,
    min_tasks: int = 2,
) -> Path:
    """Write the features x tasks heat map of ``result`` to ``path`` (PNG).

    Parameters
    ----------
    result : TaskImportance
        From :func:`~tabmtl.inspection._importance.task_importance`.
    path : str or Path
        The PNG to write.
    max_features : int or None, default=30
        Rows shown (shared drivers first); None: all.
    top_k, min_share, min_tasks
        The shared-driver rule of :meth:`TaskImportance.shared_drivers`.

    Returns
    -------
    Path

    Examples
    --------
    >>> plot_importance_heatmap(result, "heatmap.png")  # doctest: +SKIP
    PosixPath('heatmap.png')
    """
    plt = pyplot()
    rule = dict(top_k=top_k, min_share=min_share, min_tasks=min_tasks)
    roles = _ordered(result, max_features, **rule)
    features = list(roles.index)
    share = result.relative().loc[features].to_numpy(dtype=float)
    raw = result.matrix.loc[features].to_numpy(dtype=float)
    drives = result.drivers(top_k, min_share).loc[features].to_numpy()
    n_f, n_t = share.shape
    fig, ax = plt.subplots(figsize=(max(6.0, 3.2 + 0.8 * n_t), 2.0 + 0.34 * n_f))
    image = ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(n_f):
        for j in range(n_t):
            color = text_color(image.cmap(image.norm(np.nan_to_num(share[i, j]))))
            text = f"{raw[i, j]:.3f}" if np.isfinite(raw[i, j]) else "n/a"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color,
                    fontweight="bold" if drives[i, j] else "normal")
    ax.set_xticks(range(n_t), [f"{t}\n({result.metrics[t]})" for t in result.tasks],
                  rotation=45, ha="right", fontsize=8)
    labels = [f"{f}  [{r}]" if r != MINOR else f for f, r in zip(features, roles["role"])]
    ax.set_yticks(range(n_f), labels, fontsize=8)
    for tick, role in zip(ax.get_yticklabels(), roles["role"]):
        tick.set_color(ROLE_COLORS[role] if role != MINOR else "#212121")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("share of the task's top importance", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_title("Permutation importance per task\nnumbers: score drop when shuffled; "
                 f"bold: drives the task\n{_rule_text(**rule)}", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_importance_bars(
    result: TaskImportance,
    path: str | Path,
    *,
    max_features: int = 10,
    top_k: int = 3,
    min_share: float = 0.1,
    min_tasks: int = 2,
) -> Path:
    """Write one bar chart per task (its ``max_features`` most important features, mean
    ± std over the repeats, coloured by their role in that task, :func:`panel_roles`) to
    ``path`` (PNG).

    Examples
    --------
    >>> plot_importance_bars(result, "bars.png")  # doctest: +SKIP
    PosixPath('bars.png')
    """
    plt = pyplot()
    rule = dict(top_k=top_k, min_share=min_share, min_tasks=min_tasks)
    table = result.table
    n = len(result.tasks)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    height = 1.3 + 0.3 * min(max_features, len(result.features))  # inches per panel row
    total = height * rows + 0.9  # plus the title and the legend
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, total), squeeze=False)
    for ax, task in zip(axes.flat, result.tasks):
        part = table[table["task"] == task].sort_values("mean", ascending=False)
        part = part.head(max_features).iloc[::-1]
        y = np.arange(len(part))
        role = panel_roles(result, task, **rule)  # its role for this task, not overall
        ax.barh(y, np.nan_to_num(part["mean"]), xerr=np.nan_to_num(part["std"]), capsize=2,
                color=[ROLE_COLORS[role[f]] for f in part["feature"]])
        ax.set_yticks(y, list(part["feature"]), fontsize=7)
        ax.axvline(0, color="black", lw=0.8)
        score = result.baseline[task]
        ax.set_title(f"{task}: {result.metrics[task]} {score:.3f}", fontsize=9)
        ax.set_xlabel("score drop when shuffled", fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ROLE_COLORS.values()]
    labels = ["drives this task and others (shared)", "drives this task only",
              "does not drive this task"]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Permutation importance per task ({_rule_text(**rule)})", fontsize=9)
    fig.tight_layout(rect=(0, 0.45 / total, 1, 1 - 0.45 / total))
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path
