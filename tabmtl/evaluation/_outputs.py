"""The common output format of every model the evaluation tools compare.

One array per target for the scored rows: the predicted value ``(n,)`` of a regression
target in its own units, or the class probabilities ``(n, K)`` of a classification
target with columns in the order of its fitted task's ``classes_``. Whatever the model
(a tabmtl network, a per-target baseline), its outputs in this format go through the
same scoring code (:func:`tabmtl.evaluation._metrics.score_output`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tabmtl._data.targets import TargetKind
from tabmtl._estimators import MultiTaskEstimator


def tabmtl_outputs(
    model: MultiTaskEstimator, X: pd.DataFrame, tasks: Sequence[TargetKind]
) -> dict[object, np.ndarray]:
    """Outputs of a fitted tabmtl estimator for ``tasks``, in the common format.

    Parameters
    ----------
    model : MultiTaskEstimator
        Fitted on (at least) the targets of ``tasks``.
    X : pandas.DataFrame
        The rows to predict.
    tasks : sequence of TargetKind
        Fitted tasks (e.g. of a spec fitted on all targets) whose class order the
        probabilities follow; a class the model never saw gets probability 0.

    Returns
    -------
    dict
        Task name -> predicted values ``(n,)`` or class probabilities ``(n, K)``.

    Examples
    --------
    >>> outputs = tabmtl_outputs(model, X_test, spec.tasks_)  # doctest: +SKIP
    """
    pred = model.predict(X) if any(t.is_regression for t in tasks) else None
    proba = model.predict_proba(X) if not all(t.is_regression for t in tasks) else {}
    out = {}
    for task in tasks:
        if task.is_regression:
            out[task.name] = pred[task.name].to_numpy(dtype=np.float64)
        else:
            classes = pd.Index(task.classes_, dtype=object)
            p = proba[task.name].reindex(columns=classes, fill_value=0.0)
            out[task.name] = p.to_numpy(dtype=np.float64)
    return out


def aligned_proba(proba: np.ndarray, model_classes: np.ndarray, n_classes: int) -> np.ndarray:
    """A classifier's probabilities with each column at its class index.

    For a scikit-learn classifier fit on class indices (``task.encode``): a class absent
    from its training rows gets probability 0.

    Examples
    --------
    >>> aligned_proba(np.array([[0.25, 0.75]]), np.array([0, 2]), 3).tolist()
    [[0.25, 0.0, 0.75]]
    """
    out = np.zeros((len(proba), n_classes), dtype=np.float64)
    out[:, np.asarray(model_classes, dtype=np.int64)] = proba
    return out
