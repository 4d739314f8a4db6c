"""Which scores may be averaged: the scale of each metric, and the mean over tasks.

A multi-task score's ``mean`` (``task_scorer``, ``refit="mean"``) is only meaningful over
scores of one scale. The unitless metrics (R², accuracy, balanced accuracy, ROC-AUC,
ECE) share one: 1 (or 0 for ECE) is perfect whatever the target. Log loss is in nats
per row, comparable across classification tasks but not with the unitless ones. RMSE
and MAE are in the units of their target: an MAE of 8.5 grams beside an AUC of 0.9
would decide a plain mean by itself, so each such score is a scale of its own.

:func:`mean_score` averages the scores of one scale only and says which tasks it left
out; ``mean="raw"`` is the explicit choice of the plain mean over every task.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

#: The ``mean`` choices of :func:`mean_score`: "unitless" (default) averages the tasks
#: scored by a unitless metric (or, when every task shares one other scale, all of
#: them) and leaves the rest out with a warning; "raw" is the plain mean of every
#: task's score, whatever its scale.
MEAN_CHOICES = ("unitless", "raw")

#: Metrics whose scores are unitless and comparable across targets.
UNITLESS_METRICS = frozenset({"r2", "accuracy", "balanced_accuracy", "roc_auc", "neg_ece"})


def metric_scale(metric: str, target: object) -> str:
    """The scale of ``metric``'s score on ``target``: scores average only within one.

    Examples
    --------
    >>> metric_scale("roc_auc", "late"), metric_scale("neg_mae", "eta")
    ('unitless', "units of 'eta'")
    """
    if metric in UNITLESS_METRICS:
        return "unitless"
    if metric == "neg_log_loss":
        return "nats"
    return f"units of {target!r}"


def check_mean(mean: str) -> str:
    """``mean`` if it is one of :data:`MEAN_CHOICES`, else a ValueError listing them."""
    from tabmtl.errors import InputError

    if mean not in MEAN_CHOICES:
        raise InputError(f"mean must be one of {list(MEAN_CHOICES)!r}, got {mean!r}.")
    return mean


def mean_score(
    scores: Mapping[str, float], metrics: Mapping[str, str], mean: str = "unitless"
) -> float:
    """The mean over tasks of ``scores`` (task -> score; NaN scores skipped).

    With ``mean="unitless"``, when the tasks' metrics (task -> metric name) do not all
    share one scale (see :func:`metric_scale`), only the unitless ones are averaged and
    a warning names the tasks left out; NaN when none is unitless. With
    ``mean="raw"``, the plain mean of every score.

    Examples
    --------
    >>> mean_score({"a": 0.5, "b": 0.7}, {"a": "r2", "b": "accuracy"})
    0.6
    """
    check_mean(mean)
    names = list(scores)
    if mean == "unitless":
        scales = {name: metric_scale(metrics[name], name) for name in names}
        if len(set(scales.values())) > 1:
            left_out = {n: metrics[n] for n in names if scales[n] != "unitless"}
            warnings.warn(
                f"Scores of different scales are not averaged: {left_out!r} "
                "(in their targets' units or in nats) are left out of the mean, which is "
                "over the unitless scores only. Pass mean='raw' to task_scorer for the "
                "plain mean of every score, or score those targets with a unitless metric.",
                UserWarning,
                stacklevel=3,
            )
            names = [n for n in names if scales[n] == "unitless"]
    values = np.array([scores[n] for n in names], dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
