"""Per-row, per-task loss weights from ``sample_weight`` and ``class_weight``.

They travel with the encoded targets as T more columns, which
:class:`~tabmtl._nn.loss.MultiTaskLoss` reads as each row's weight in each task's mean.
"""

from __future__ import annotations

import numpy as np

from tabmtl.errors import InputError


def row_task_weights(
    spec, Y, y_enc, sample_weight, class_weight, counted=None
) -> np.ndarray | None:
    """Per-row, per-task loss weights from ``sample_weight`` and ``class_weight``.

    Parameters
    ----------
    spec : TargetSpec
        The fitted target spec.
    Y : DataFrame
        The targets as given (one column per task).
    y_enc : ndarray of shape (n, n_tasks)
        ``spec.transform(Y)``: class codes of the classification targets, NaN if missing.
    sample_weight : array-like of shape (n,) or None
        Each row's weight in every task (finite, >= 0).
    class_weight : "balanced", dict or None
        As :class:`~tabmtl._estimators.frame.MultiTaskEstimator`'s ``class_weight``.
    counted : array of row positions, optional
        The rows whose labels "balanced" counts (the training rows: held-out calibration
        and validation rows are weighted but not counted). Default: every row.

    Returns
    -------
    ndarray of shape (n, n_tasks), float32, or None
        None when every weight would be 1 (the unweighted fast path).

    Examples
    --------
    >>> import pandas as pd
    >>> from tabmtl._data.targets import TargetSpec
    >>> Y = pd.DataFrame({"late": [True, False, False, False]})
    >>> spec = TargetSpec().fit(Y)
    >>> row_task_weights(spec, Y, spec.transform(Y), None, "balanced")[:, 0].tolist()
    [2.0, 0.6666666865348816, 0.6666666865348816, 0.6666666865348816]
    """
    if sample_weight is None and not class_weight:
        return None
    n, n_tasks = y_enc.shape
    weights = np.ones((n, n_tasks), dtype=np.float32)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if len(sw) != n:
            raise InputError(f"sample_weight has {len(sw)} values but Y has {n} rows.")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise InputError("sample_weight must be finite and >= 0.")
        weights *= sw[:, None].astype(np.float32)
    if class_weight:
        chosen = (
            {t.name: class_weight for t in spec.tasks_ if not t.is_regression}
            if class_weight == "balanced"
            else dict(class_weight)
        )
        tasks = {t.name: (j, t) for j, t in enumerate(spec.tasks_)}
        for name, rule in chosen.items():
            if name not in tasks or tasks[name][1].is_regression:
                raise InputError(
                    f"class_weight names {name!r}, which is not a classification target; "
                    f"those are {[t.name for t in spec.tasks_ if not t.is_regression]!r}."
                )
            j, task = tasks[name]
            codes = y_enc[:, j]
            present = ~np.isnan(codes)
            seen = codes if counted is None else codes[counted]
            seen = seen[~np.isnan(seen)].astype(int)
            counts = np.bincount(seen, minlength=len(task.classes_))
            if rule == "balanced":
                per_class = len(seen) / (len(task.classes_) * np.maximum(counts, 1))
            else:
                unknown = [c for c in dict(rule) if c not in list(task.classes_)]
                if unknown:
                    raise InputError(
                        f"class_weight for {name!r} names labels {unknown!r} that are not "
                        f"among its classes {list(task.classes_)!r}."
                    )
                per_class = np.array([float(dict(rule).get(c, 1.0)) for c in task.classes_])
            weights[present, j] *= per_class[codes[present].astype(int)].astype(np.float32)
    return weights
