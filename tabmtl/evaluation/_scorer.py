"""The multi-task scorer: one score per main target and their mean, from one prediction.

:func:`task_scorer` builds the callable scikit-learn takes as ``scoring=`` in
``cross_validate`` and ``GridSearchCV`` (``refit="mean"``); it scores through the metric
registry of :mod:`tabmtl.evaluation._metrics` (where these names are also importable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from tabmtl._data.targets.roles import main_target_names
from tabmtl.errors import InputTypeError
from tabmtl.evaluation._metrics import METRICS, get_metric, resolve_metrics, score_frame
from tabmtl.evaluation._score_scales import check_mean, mean_score


def fitted_multitask(estimator, caller: str = "task_scorer"):
    """The fitted tabmtl estimator behind a search or a pipeline (``caller`` names the
    function in the error raised for anything else)."""
    est = getattr(estimator, "best_estimator_", estimator)
    est = getattr(est, "_final_estimator", est)
    if not hasattr(est, "target_spec_"):
        raise InputTypeError(
            f"{caller} needs a fitted tabmtl estimator (or a pipeline ending in one), "
            f"got {type(est).__name__}."
        )
    return est


def task_scorer(metrics: Mapping[str, str] | None = None, *, mean: str = "unitless") -> Callable:
    """A scorer that returns one score per main target plus their mean.

    An estimator's ``auxiliary`` targets are left out (neither scored nor averaged).

    Parameters
    ----------
    metrics : dict, optional
        Target kind ("regression", "binary", "multiclass") or target name -> metric name
        (see :func:`metric_names`); a target name wins over its kind. A "regression"
        entry also covers the gaussian and quantile kinds unless they have their own.
        Unset kinds use :func:`default_metric` (R² for regression, accuracy for
        classification). "neg_ece" is the negated expected calibration error.
    mean : {"unitless", "raw"}, default="unitless"
        How ``"mean"`` treats scores of different scales (see
        ``tabmtl.evaluation._score_scales``): "unitless" averages the unitless scores
        (R², accuracy, ROC-AUC, ...) and leaves scores in a target's units (RMSE, MAE)
        or in nats (log loss) out, with a warning, unless every task shares one scale;
        "raw" is the plain mean of every score, whatever its scale.

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
        get_metric(name)
    check_mean(mean)

    def scorer(estimator, X, Y) -> dict[str, float]:
        fitted = fitted_multitask(estimator)
        spec = fitted.target_spec_
        main = main_target_names(fitted)  # auxiliary targets are not scored
        resolved = resolve_metrics(spec, chosen)
        Y = _as_target_frame(Y, spec.target_names_)
        pred = _as_target_frame(estimator.predict(X), main)
        needs = any(METRICS[resolved[str(n)]].needs_proba for n in main)
        probas = _probas(estimator, X, spec) if needs else {}
        scores = score_frame(spec, Y, pred, probas, chosen, names=main)
        out = {str(name): float(value) for name, value in scores.items()}
        out["mean"] = mean_score(dict(out), resolved, mean)
        return out

    return scorer


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
