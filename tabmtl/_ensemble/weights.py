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
from sklearn.metrics import roc_auc_score

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


def task_score(
    output: np.ndarray, y: np.ndarray, is_regression: bool, folds: np.ndarray | None = None
) -> float:
    """The task's headline score on its labelled rows: R² of values, or ROC-AUC of class
    probabilities ``(n, K)`` given class indices ``y`` (binary: of the second class;
    more classes: the mean one-vs-rest ROC-AUC over the classes present). Higher is
    better; NaN without two distinct labels.

    With ``folds`` (the cross-fitting fold of each row), a ROC-AUC is the mean of the
    folds' own, weighted by their labelled rows: out-of-fold probabilities come from a
    different model in each fold, and pooling them would count the folds' differences
    in scale as ranking errors that one refitted model does not make.

    Examples
    --------
    >>> task_score(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0.0, 1.0]), False)
    1.0
    """
    y = np.asarray(y, dtype=np.float64)
    present = ~np.isnan(y)
    out = np.asarray(output, dtype=np.float64)[present]
    y = y[present]
    if folds is not None and not is_regression:
        groups = np.asarray(folds)[present]
        parts = [(task_score(out[groups == g], y[groups == g], False), (groups == g).sum())
                 for g in np.unique(groups)]
        parts = [(s, n) for s, n in parts if np.isfinite(s)]
        if not parts:
            return float("nan")
        return float(np.average([s for s, _ in parts], weights=[n for _, n in parts]))
    if is_regression:
        sst = float(np.sum((y - y.mean()) ** 2))
        return float("nan") if sst == 0 else 1.0 - float(np.sum((y - out) ** 2)) / sst
    codes = y.astype(np.int64)
    seen = np.unique(codes)
    if len(seen) < 2:
        return float("nan")
    if out.shape[1] == 2:
        return float(roc_auc_score(codes, out[:, 1]))
    return float(np.mean([roc_auc_score(codes == k, out[:, k]) for k in seen]))


def greedy_weights(
    outputs: Sequence[np.ndarray],
    y: np.ndarray,
    is_regression: bool,
    n_steps: int = 50,
    objective: str = "loss",
    folds: np.ndarray | None = None,
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
        Squared error / R² (True) or log loss / ROC-AUC (False).
    n_steps : int, default=50
        Picks; the weights are multiples of ``1 / n_steps``.
    objective : {"loss", "score"}, default="loss"
        ``"loss"``: every pick lowers :func:`task_loss` most, all ``n_steps`` are made.
        ``"score"``: every pick raises :func:`task_score` most, and selection stops at
        the first pick that does not raise it (the weights of the best blend seen).
    folds : ndarray of shape (n,), optional
        Each row's cross-fitting fold, for the per-fold ROC-AUC of :func:`task_score`.

    Returns
    -------
    ndarray of shape (n_learners,)
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}.")
    if objective not in ("loss", "score"):
        raise ValueError(f"objective must be 'loss' or 'score', got {objective!r}.")
    y = np.asarray(y, dtype=np.float64)
    present = ~np.isnan(y)
    outs = [np.asarray(o, dtype=np.float64)[present] for o in outputs]
    y = y[present]
    folds = None if folds is None else np.asarray(folds)[present]
    if objective == "loss":
        def cost(o):
            return task_loss(o, y, is_regression)
    else:
        def cost(o):
            return -task_score(o, y, is_regression, folds)
    counts = np.zeros(len(outs), dtype=np.int64)
    total = np.zeros_like(outs[0])
    best_cost = np.inf
    for step in range(n_steps):
        costs = np.array([cost((total + o) / (step + 1)) for o in outs])
        best = int(np.nanargmin(costs)) if np.isfinite(costs).any() else 0
        if objective == "score" and step > 0 and not costs[best] < best_cost:
            break
        best_cost = min(best_cost, costs[best]) if np.isfinite(costs[best]) else best_cost
        counts[best] += 1
        total = total + outs[best]
    return counts / counts.sum()


#: How :func:`choose_weights` can choose.
SELECTIONS = ("loss", "guarded", "score", "best")


def choose_weights(
    outputs: Sequence[np.ndarray],
    y: np.ndarray,
    is_regression: bool,
    n_steps: int = 50,
    selection: str = "loss",
    folds: np.ndarray | None = None,
) -> np.ndarray:
    """A task's blend weights from its learners' out-of-fold outputs.

    ``selection``:

    - ``"loss"``: :func:`greedy_weights` on the task's loss;
    - ``"guarded"``: the same, unless the best single learner's :func:`task_score` is at
      least the blend's: then that learner alone (a log-loss-optimal blend can lose
      ROC-AUC);
    - ``"score"``: :func:`greedy_weights` on the task's score, stopping when it stops
      rising;
    - ``"best"``: the single learner of the best score.

    The scores are :func:`task_score`'s, per fold of ``folds`` when given.

    Examples
    --------
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> choose_weights([y + 0.1, np.zeros(4)], y, True).tolist()
    [0.96, 0.04]
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {list(SELECTIONS)}, got {selection!r}.")
    if selection == "score":
        return greedy_weights(outputs, y, is_regression, n_steps, "score", folds)
    scores = np.array([task_score(o, y, is_regression, folds) for o in outputs])
    single = np.zeros(len(outputs))
    single[int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0] = 1.0
    if selection == "best":
        return single
    w = greedy_weights(outputs, y, is_regression, n_steps)
    blended = task_score(blend(outputs, w), y, is_regression, folds)
    if selection == "guarded" and not blended > np.nanmax(scores, initial=-np.inf):
        return single
    return w
