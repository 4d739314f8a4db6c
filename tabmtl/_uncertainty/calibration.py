"""Calibration metrics of predicted probabilities: reliability curves and the expected
calibration error.

They work on plain numpy arrays, so the evaluation report calls them without a fitted
model. Temperature scaling is in :mod:`tabmtl._uncertainty.temperature`, split-conformal
intervals in :mod:`tabmtl._uncertainty.conformal`, and the fitted state of both in
:class:`tabmtl._uncertainty.calibrator.Calibrator`.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve


def class_indices(y_true, n_classes: int) -> np.ndarray:
    """``y_true`` as integer class indices ``0..n_classes-1``.

    Accepts integer-like indices or, for binary problems, booleans. Anything else must
    already be mapped to indices by the caller (the column order of ``proba``).
    """
    y = np.asarray(y_true)
    if y.dtype == bool:
        y = y.astype(np.intp)
    try:
        y_float = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "y_true must hold class indices matching the columns of proba "
            f"(0..{n_classes - 1}); got non-numeric labels. Map labels to indices first."
        ) from exc
    if not np.all(np.isfinite(y_float)) or np.any(y_float != np.round(y_float)):
        raise ValueError("y_true must hold integer class indices without missing values.")
    idx = y_float.astype(np.intp)
    if idx.size and (idx.min() < 0 or idx.max() >= n_classes):
        raise ValueError(
            f"y_true holds class indices outside 0..{n_classes - 1} (proba has "
            f"{n_classes} columns)."
        )
    return idx


def _check_proba(proba) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:  # probability of the positive class of a binary problem
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must have shape (n, K) with K >= 2; got {p.shape}.")
    return p


def reliability_curve(y_true, proba, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Confidence-vs-accuracy table of top-label predictions in equal-width bins.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class indices matching the columns of ``proba`` (booleans for binary work too).
    proba : array-like of shape (n, K) or (n,)
        Predicted class probabilities; a 1-d array is read as P(class 1) of a binary task.
    n_bins : int, default 15
        Number of equal-width confidence bins on [0, 1].

    Returns
    -------
    dict
        ``bin_edges`` (n_bins + 1,), and per bin ``confidence`` (mean top-label
        probability), ``accuracy`` (share of correct top labels) and ``count``. Empty bins
        have NaN confidence and accuracy and count 0.

    Examples
    --------
    >>> import numpy as np
    >>> curve = reliability_curve([0, 1, 1], np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
    ...                           n_bins=5)
    >>> curve["count"].tolist()
    [0, 0, 1, 1, 1]
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    p = _check_proba(proba)
    y = class_indices(y_true, p.shape[1])
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} rows but proba has {len(p)}.")
    n_bins = int(n_bins)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins (a, b], as calibration_curve draws them; confidence 0 cannot occur
    # for K >= 2, so bin 0 is (0, 1/B]
    count = np.bincount(
        np.searchsorted(edges[1:-1], confidence), minlength=n_bins
    ).astype(np.int64)
    conf_mean = np.full(n_bins, np.nan)
    acc_mean = np.full(n_bins, np.nan)
    if len(y):  # calibration_curve needs a row; it reports the non-empty bins only
        used = count > 0
        acc_mean[used], conf_mean[used] = calibration_curve(
            correct, confidence, n_bins=n_bins, strategy="uniform"
        )
    return {"bin_edges": edges, "confidence": conf_mean, "accuracy": acc_mean, "count": count}


def expected_calibration_error(y_true, proba, n_bins: int = 15) -> float:
    """Expected calibration error of the top-label prediction.

    The count-weighted mean of ``|accuracy - confidence|`` over ``n_bins`` equal-width
    confidence bins (Guo et al., 2017). 0 is perfectly calibrated.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class indices matching the columns of ``proba`` (booleans for binary work too).
    proba : array-like of shape (n, K) or (n,)
        Predicted class probabilities; a 1-d array is read as P(class 1) of a binary task.
    n_bins : int, default 15
        Number of equal-width confidence bins.

    Returns
    -------
    float
        The ECE in [0, 1]; NaN when there are no rows.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])
    >>> round(expected_calibration_error([0, 0, 0, 1], proba), 3)  # 90% sure, 75% right
    0.15
    """
    curve = reliability_curve(y_true, proba, n_bins=n_bins)
    count = curve["count"]
    total = count.sum()
    if total == 0:
        return float("nan")
    used = count > 0
    gaps = np.abs(curve["accuracy"][used] - curve["confidence"][used])
    return float(np.sum(gaps * count[used]) / total)
