"""Per-task scores and multi-task scorers for cross-validation and search.

``task_scorer()`` returns one scikit-learn scorer callable that predicts once and gives a
dict: one score per target plus their ``mean``. scikit-learn accepts such a callable as
``scoring=`` in ``cross_validate`` and ``GridSearchCV`` (use ``refit="mean"``). Scores are
NaN-aware: rows whose label is missing leave that task's score only, and a task that
cannot be scored on a fold (no labels, one class for ROC-AUC) gives NaN, which the
``mean`` skips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from tabmtl.uncertainty.calibration import expected_calibration_error

#: Default metric per target kind.
DEFAULT_METRICS = {
    "regression": "r2",
    "gaussian": "r2",
    "quantile": "r2",
    "binary": "accuracy",
    "multiclass": "accuracy",
}


def _ece(y_true, proba, labels=None) -> float:
    """ECE with the keyword ``score_task`` passes to probability metrics."""
    return expected_calibration_error(y_true, proba)


# name -> (function, needs probabilities, sign): every score is "higher is better".
_METRICS: dict[str, tuple[Callable, bool, float]] = {
    "r2": (r2_score, False, 1.0),
    "neg_rmse": (root_mean_squared_error, False, -1.0),
    "neg_mae": (mean_absolute_error, False, -1.0),
    "accuracy": (accuracy_score, False, 1.0),
    "balanced_accuracy": (balanced_accuracy_score, False, 1.0),
    "roc_auc": (roc_auc_score, True, 1.0),
    "neg_log_loss": (log_loss, True, -1.0),
    "neg_ece": (_ece, True, -1.0),
}
_REGRESSION_ONLY = {"r2", "neg_rmse", "neg_mae"}


def metric_names() -> list[str]:
    """The metric names ``task_scorer`` understands."""
    return sorted(_METRICS)


def score_task(task, y_true: pd.Series, y_pred: pd.Series, proba, metric: str) -> float:
    """Score one fitted task on the rows where its label is present.

    ``proba`` is the (n, K) class-probability array of a classification task (or None).
    """
    if metric not in _METRICS:
        raise ValueError(f"Unknown metric {metric!r}; valid names are {metric_names()!r}.")
    if task.is_regression != (metric in _REGRESSION_ONLY):
        raise ValueError(f"Metric {metric!r} does not apply to {task.kind} target {task.name!r}.")
    present = y_true.notna().to_numpy()
    if not present.any():
        return float("nan")
    fn, needs_proba, sign = _METRICS[metric]
    if task.is_regression:
        truth = y_true[present].to_numpy(dtype=np.float64)
        return sign * float(fn(truth, y_pred[present].to_numpy(dtype=np.float64)))
    truth = task.encode(y_true[present]).astype(int)
    if needs_proba:
        p = proba[present]
        labels = np.arange(p.shape[1])
        if len(np.unique(truth)) < 2:
            return float("nan")  # ROC-AUC / log-loss undefined on a one-class fold
        if metric == "roc_auc":
            value = fn(truth, p[:, 1]) if p.shape[1] == 2 else fn(
                truth, p, multi_class="ovr", labels=labels
            )
        else:
            value = fn(truth, p, labels=labels)
        return sign * float(value)
    return sign * float(fn(truth, task.encode(y_pred[present]).astype(int)))


def _fitted_multitask(estimator):
    """The fitted MultiTaskEstimator behind a search or a pipeline."""
    est = getattr(estimator, "best_estimator_", estimator)
    est = getattr(est, "_final_estimator", est)
    if not hasattr(est, "target_spec_"):
        raise TypeError(
            f"task_scorer needs a fitted tabmtl estimator (or a pipeline ending in one), "
            f"got {type(est).__name__}."
        )
    return est


def task_scorer(metrics: Mapping[str, str] | None = None) -> Callable:
    """A scorer that returns one score per target plus their mean.

    Parameters
    ----------
    metrics : dict, optional
        Target kind ("regression", "binary", "multiclass") or target name -> metric name
        (see :func:`metric_names`); a target name wins over its kind. A "regression"
        entry also covers the gaussian and quantile kinds unless they have their own.
        Unset kinds use ``DEFAULT_METRICS`` (R² for regression, accuracy for
        classification). "neg_ece" is the negated expected calibration error.

    Returns
    -------
    callable
        ``scorer(estimator, X, Y) -> dict`` with a key per target and ``"mean"``.

    Examples
    --------
    >>> from sklearn.model_selection import cross_validate
    >>> scorer = task_scorer({"binary": "roc_auc"})
    >>> # cross_validate(MultiTaskEstimator(), X, Y, scoring=scorer)["test_mean"]
    """
    chosen = dict(metrics or {})
    for name in chosen.values():
        if name not in _METRICS:
            raise ValueError(f"Unknown metric {name!r}; valid names are {metric_names()!r}.")

    def scorer(estimator, X, Y) -> dict[str, float]:
        model = _fitted_multitask(estimator)
        spec = model.target_spec_
        Y = _as_target_frame(Y, spec.target_names_)
        pred = _as_target_frame(estimator.predict(X), spec.target_names_)
        needs = any(_METRICS[_metric_of(t, chosen)][1] for t in spec.tasks_)
        probas = _probas(estimator, X, spec) if needs else {}
        scores = {}
        for task in spec.tasks_:
            metric = _metric_of(task, chosen)
            scores[str(task.name)] = score_task(
                task, Y[task.name], pred[task.name], probas.get(task.name), metric
            )
        values = np.array(list(scores.values()), dtype=float)
        scores["mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        return scores

    return scorer


def _metric_of(task, chosen: Mapping[str, str]) -> str:
    """The metric of a task: its name's entry, its kind's, "regression" for the
    distributional regression kinds, else the default."""
    for key in (task.name, task.kind, "regression" if task.is_regression else None):
        if key is not None and key in chosen:
            return chosen[key]
    return DEFAULT_METRICS[task.kind]


def _as_target_frame(Y, names) -> pd.DataFrame:
    if isinstance(Y, pd.DataFrame):
        return Y
    if isinstance(Y, pd.Series):
        return Y.to_frame(names[0])
    arr = np.asarray(Y, dtype=object) if np.asarray(Y).dtype.kind in "OUS" else np.asarray(Y)
    return pd.DataFrame(arr.reshape(len(arr), -1), columns=names)


def _probas(estimator, X, spec) -> dict:
    proba = estimator.predict_proba(X)
    if isinstance(proba, dict):
        return {name: np.asarray(p) for name, p in proba.items()}
    if not isinstance(proba, list):
        proba = [proba]
    names = [t.name for t in spec.tasks_ if not t.is_regression]
    return dict(zip(names, proba))
