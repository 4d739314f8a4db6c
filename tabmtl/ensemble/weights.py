"""Blend weights of one task: greedy ensemble selection on out-of-fold predictions.

Caruana et al. (2004), "Ensemble selection from libraries of models": start from the best
single learner, then repeatedly add (with replacement) the learner whose addition lowers
the blend's loss most; a learner's weight is the share of the ``n_steps`` picks it got.
The weights are non-negative and sum to one, and a learner that never helps keeps 0. The
loss is the task's own: squared error of values (regression), log loss of the blended
class probabilities (classification).

Examples
--------
>>> y = np.array([0.0, 1.0, 2.0, 3.0])
>>> good, bad = y + np.array([0.1, -0.1, 0.1, -0.1]), np.zeros(4)
>>> greedy_weights([good, bad], y, is_regression=True).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Probabilities are clipped to [EPS, 1] in the log loss.
EPS = 1e-15


def task_loss(output: np.ndarray, y: np.ndarray, is_regression: bool) -> float:
    """Mean squared error of values, or log loss of probabilities ``(n, K)`` given class
    indices ``y``; rows whose ``y`` is NaN are left out."""
    y = np.asarray(y, dtype=np.float64)
    present = ~np.isnan(y)
    if not present.any():
        return float("nan")
    if is_regression:
        diff = np.asarray(output, dtype=np.float64)[present] - y[present]
        return float(np.mean(diff * diff))
    proba = np.asarray(output, dtype=np.float64)[present]
    picked = proba[np.arange(len(proba)), y[present].astype(np.int64)]
    return float(-np.mean(np.log(np.clip(picked, EPS, 1.0))))


def blend(outputs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The weighted sum of the learners' outputs (values, or probabilities per class)."""
    total = np.zeros_like(np.asarray(outputs[0], dtype=np.float64))
    for output, w in zip(outputs, weights):
        if w:
            total = total + float(w) * np.asarray(output, dtype=np.float64)
    return total


def greedy_weights(
    outputs: Sequence[np.ndarray], y: np.ndarray, is_regression: bool, n_steps: int = 50
) -> np.ndarray:
    """Non-negative weights summing to one, one per learner, by greedy ensemble selection.

    Parameters
    ----------
    outputs : sequence of ndarray
        Each learner's out-of-fold output on the same rows: values ``(n,)`` or class
        probabilities ``(n, K)``.
    y : ndarray of shape (n,)
        Labels: values, or class indices; NaN (a missing label) rows take no part.
    is_regression : bool
        Squared error (True) or log loss (False).
    n_steps : int, default=50
        Picks; the weights are multiples of ``1 / n_steps``.

    Returns
    -------
    ndarray of shape (n_learners,)
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}.")
    y = np.asarray(y, dtype=np.float64)
    present = ~np.isnan(y)
    outs = [np.asarray(o, dtype=np.float64)[present] for o in outputs]
    y = y[present]
    counts = np.zeros(len(outs), dtype=np.int64)
    total = np.zeros_like(outs[0])
    for step in range(n_steps):
        losses = [task_loss((total + o) / (step + 1), y, is_regression) for o in outs]
        best = int(np.nanargmin(losses)) if np.isfinite(losses).any() else 0
        counts[best] += 1
        total = total + outs[best]
    return counts / n_steps
