"""Between the blend's outputs and the user's values: labels in, decoded columns out.

An output is the common format of the evaluation tools (:mod:`tabmtl.evaluation._outputs`):
values ``(n,)`` of a regression target, or class probabilities ``(n, K)`` in the order of
the task's ``classes_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmtl._data.targets import TargetKind


def empty_output(task: TargetKind, n: int) -> np.ndarray:
    """An output for ``n`` rows, all NaN (filled fold by fold)."""
    shape = (n,) if task.is_regression else (n, len(task.classes_))
    return np.full(shape, np.nan)


def encoded_labels(task: TargetKind, y: pd.Series) -> np.ndarray:
    """Values (regression) or class indices, NaN where the label is missing."""
    if task.is_regression:
        return pd.to_numeric(y).to_numpy(dtype=np.float64, na_value=np.nan)
    return task.encode(y).astype(np.float64)


def decode_output(task: TargetKind, output: np.ndarray, index: pd.Index) -> pd.Series:
    """A blended output as the target's own values: the value in the target's dtype, or
    the most probable class as a label of the target's dtype."""
    if task.is_regression:
        return pd.Series(output, index=index, name=task.name).astype(task.dtype_)
    labels = task.classes_[np.asarray(output).argmax(axis=1)]
    if isinstance(task.dtype_, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(labels, dtype=task.dtype_), index=index, name=task.name)
    return pd.Series(labels, index=index, name=task.name).astype(task.dtype_)


def temper(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``softmax(log(proba) / temperature)``: the same ranking of classes
    in each row, flatter for a temperature above 1, sharper below.

    Examples
    --------
    >>> temper(np.array([[0.2, 0.8]]), 1.0).round(3).tolist()
    [[0.2, 0.8]]
    >>> temper(np.array([[0.2, 0.8]]), 2.0).round(3).tolist()
    [[0.333, 0.667]]
    """
    if temperature == 1.0:
        return proba
    z = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
