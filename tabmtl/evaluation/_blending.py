"""How much each task needs boosting: blend weights from a transfer analysis.

A transfer analysis already holds out-of-fold predictions of the multi-task net and of
the HistGB baseline on the same folds. :func:`blend_weights` fits, per task, the weights
of a blend of the two by greedy ensemble selection
(:func:`tabmtl._ensemble.weights.greedy_weights`, as
:class:`~tabmtl._ensemble.MultiTaskBlend` fits its ``task_blend_weights_``) and scores
the blend on the same folds; :func:`plot_blend_weights` draws the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tabmtl._ensemble.weights import greedy_weights
from tabmtl.evaluation._metrics import score_output
from tabmtl.evaluation._results import HISTGB, MULTI_TASK, TransferResult


def _labels(result: TransferResult, task: str) -> np.ndarray:
    """The truth as ``greedy_weights`` reads it: values, or class indices (NaN missing)."""
    spec = result.task(task)
    if spec.is_regression:
        return pd.to_numeric(result.Y[task], errors="coerce").to_numpy(dtype=float)
    codes, _ = spec.encode_known(result.Y[task])
    return codes.astype(float)


def _fold_mean(result: TransferResult, task: str, output: np.ndarray) -> float:
    """Mean over the analysis's folds of the task's score of ``output`` on each test fold."""
    spec, metric = result.task(task), result.metrics[task]
    scores = []
    for _, test in result.folds:
        y = result.Y[task].iloc[test]
        keep = y.notna().to_numpy() & np.isfinite(output[test]).reshape(len(test), -1).all(1)
        if keep.any():
            scores.append(score_output(spec, y[keep], output[test][keep], metric))
    return float(np.mean(scores)) if scores else float("nan")


def blend_weights(result: TransferResult, n_steps: int = 50) -> pd.DataFrame | None:
    """Per task, the blend weights of the multi-task net and HistGB, and the scores.

    The weights come from greedy ensemble selection on the out-of-fold predictions of
    every labelled row (the task's own loss: squared error, or log loss); the scores are
    means over the analysis's folds, as in its table. The blended score is measured on
    the rows the weights were chosen on, so it is slightly optimistic: read it as what
    boosting can add, not as a held-out score.

    Parameters
    ----------
    result : TransferResult
        From :func:`~tabmtl.evaluation._transfer.cross_validate_transfer` with the
        baseline (``baseline=True``).
    n_steps : int, default=50
        Greedy picks; the weights are multiples of ``1 / n_steps``.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by task: ``metric``, ``net_weight``, ``boosting_weight`` (they sum to
        1), ``net_score``, ``boosting_score`` and ``blend_score``; None without HistGB
        predictions.

    Examples
    --------
    >>> table = blend_weights(result)  # doctest: +SKIP
    >>> table.loc["body_mass_g", "boosting_weight"]  # doctest: +SKIP
    0.62
    """
    predictions = result.predictions
    if MULTI_TASK not in predictions or HISTGB not in predictions:
        return None
    rows = {}
    for task in result.task_names:
        net = np.asarray(predictions[MULTI_TASK][task], dtype=float)
        boost = np.asarray(predictions[HISTGB][task], dtype=float)
        y = _labels(result, task)
        finite = (np.isfinite(net).reshape(len(net), -1).all(1)
                  & np.isfinite(boost).reshape(len(boost), -1).all(1))
        y = np.where(finite, y, np.nan)  # rows without both predictions take no part
        if np.isnan(y).all():
            weights = np.array([np.nan, np.nan])
        else:
            weights = greedy_weights([np.nan_to_num(net), np.nan_to_num(boost)], y,
                                     result.task(task).is_regression, n_steps=n_steps)
        blended = weights[0] * net + weights[1] * boost
        rows[task] = {
            "metric": result.metrics[task],
            "net_weight": float(weights[0]),
            "boosting_weight": float(weights[1]),
            "net_score": _fold_mean(result, task, net),
            "boosting_score": _fold_mean(result, task, boost),
            "blend_score": _fold_mean(result, task, blended),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_blend_weights(table: pd.DataFrame, path: str | Path) -> Path:
    """One stacked bar per task: the net's share and HistGB's share of the blend.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`blend_weights`.
    path : str or Path
        The PNG file to write.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_blend_weights(blend_weights(result), "blend_weights.png")  # doctest: +SKIP
    PosixPath('blend_weights.png')
    """
    from tabmtl.evaluation._drawing import MODEL_COLORS
    from tabmtl.evaluation._figures import pyplot

    plt = pyplot()
    tasks = list(table.index)
    y = np.arange(len(tasks))[::-1]
    net = table["net_weight"].to_numpy(dtype=float)
    boost = table["boosting_weight"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 0.38 * len(tasks) + 0.9))
    ax.barh(y, np.nan_to_num(net), color=MODEL_COLORS[MULTI_TASK], label="multi-task net")
    ax.barh(y, np.nan_to_num(boost), left=np.nan_to_num(net), color=MODEL_COLORS[HISTGB],
            label="HistGB")
    for yi, b in zip(y, boost):
        if np.isfinite(b):
            ax.text(1.01, yi, f"{b:.0%}", va="center", fontsize=8,
                    transform=ax.get_yaxis_transform())
    ax.set_yticks(y, [str(t) for t in tasks], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the blend (right: HistGB's share)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("How much each task needs boosting: blend weights on the out-of-fold "
                 "predictions", fontsize=9)
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="upper center",
              bbox_to_anchor=(0.5, -0.3 if len(tasks) < 4 else -0.18))
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # the legend below, no empty margin
    plt.close(fig)
    return path
