"""Scoring labels a model never saw: counted as wrong, as scikit-learn's classifiers do.

A held-out fold (or any scored data) may hold a class that the model's training rows
lacked, such as a rare class in ``cross_validate``. Refusing to score it would fail the
fold (or drop it with ``error_score=nan``); tabmtl scores it like scikit-learn scores a
classifier on a class outside its ``classes_``:

* label metrics (accuracy, balanced accuracy): such a row is wrong (balanced accuracy
  gets a recall of 0 for that class);
* log loss and ECE: the model gave the class probability 0; log loss clips it to
  scikit-learn's ``eps`` (``numpy.finfo(float64).eps``), so each such row adds
  ``-log(eps)`` ≈ 36.04;
* ROC-AUC: computed over the rows of the seen classes (a ranking of a class the model
  has no score for is undefined).

A :class:`UserWarning` names the task, the labels and how many rows hold them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from tabmtl._data.targets import TargetKind


def truth_codes(task: TargetKind, y_true: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Class index of each (present) label of ``y_true``, and the mask of unseen ones.

    A label outside ``task.classes_`` gets the index ``len(task.classes_)``: a class of
    its own, which no prediction ever names. Warns once per call when there is one.

    Examples
    --------
    >>> from tabmtl import TargetSpec
    >>> (task,) = TargetSpec().fit(pd.DataFrame({"c": ["a", "b"]})).tasks_
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     codes, unseen = truth_codes(task, pd.Series(["b", "z", "a"]))
    >>> codes.tolist(), unseen.tolist()
    ([1, 2, 0], [False, True, False])
    """
    codes, unseen = task.encode_known(y_true)
    codes = np.where(unseen, len(task.classes_), codes).astype(np.int64)
    if unseen.any():
        labels = sorted(map(str, pd.unique(y_true[unseen])))
        warnings.warn(
            f"Target {task.name!r}: the model never saw the label(s) {labels[:10]!r} "
            f"({int(unseen.sum())} row(s)); they are scored as wrong (probability 0 for "
            "the true class; ROC-AUC over the seen classes' rows only).",
            UserWarning,
            stacklevel=3,
        )
    return codes, unseen


def with_unseen_class(proba: np.ndarray) -> np.ndarray:
    """``proba`` with a last column of zeros: the probability of the unseen class(es)."""
    proba = np.asarray(proba, dtype=np.float64)
    return np.hstack([proba, np.zeros((len(proba), 1))])
