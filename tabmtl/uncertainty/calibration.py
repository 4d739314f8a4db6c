"""Calibration: expected calibration error, reliability curves, temperature scaling and
split-conformal prediction intervals.

Everything here works on plain numpy arrays so that the estimator can store the fitted
state (temperatures, conformal quantiles) as floats and the evaluation report can call
the metrics without a fitted model.
"""

from __future__ import annotations

import numpy as np


def _class_indices(y_true, n_classes: int) -> np.ndarray:
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
    y = _class_indices(y_true, p.shape[1])
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} rows but proba has {len(p)}.")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # right-closed bins (a, b]; confidence 0 cannot occur for K >= 2, so bin 0 is (0, 1/B]
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, int(n_bins) - 1)
    count = np.bincount(bins, minlength=int(n_bins)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf_mean = np.bincount(bins, weights=confidence, minlength=int(n_bins)) / count
        acc_mean = np.bincount(bins, weights=correct, minlength=int(n_bins)) / count
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


# -- split-conformal intervals ---------------------------------------------------------------


def conformal_quantile(scores, alpha: float) -> float:
    """Finite-sample corrected ``1 - alpha`` quantile of calibration scores.

    The ``k``-th smallest score with ``k = ceil((n + 1) * (1 - alpha))``: for a new row
    exchangeable with the ``n`` calibration rows, its score is at most this value with
    probability at least ``1 - alpha`` (split conformal prediction, Vovk et al. 2005;
    Lei et al. 2018). NaN scores (rows without a label) are ignored.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Nonconformity scores of the calibration rows.
    alpha : float
        Miscoverage level in (0, 1).

    Returns
    -------
    float
        The quantile; ``inf`` when ``k > n`` (too few rows for that ``alpha``: the only
        interval with the guarantee is unbounded), NaN when there is no score at all.

    Examples
    --------
    >>> conformal_quantile([0.1, 0.4, 0.2, 0.3], alpha=0.25)  # k = ceil(5 * 0.75) = 4
    0.4
    >>> conformal_quantile([0.1, 0.4, 0.2, 0.3], alpha=0.1)  # k = 5 > n
    inf
    """
    alpha = _check_alpha(alpha)
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = np.sort(s[~np.isnan(s)])
    n = len(s)
    if n == 0:
        return float("nan")
    # the small tolerance keeps e.g. (19 + 1) * 0.95 = 19.000000000000004 at k = 19
    k = int(np.ceil((n + 1) * (1.0 - alpha) - 1e-9))
    if k > n:
        return float("inf")
    return float(s[max(k, 1) - 1])


def _check_alpha(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}.") from None
    if not (0.0 < value < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
    return value


def interval_coverage(y_true, lower, upper) -> dict[str, float]:
    """Empirical coverage and mean width of prediction intervals.

    Rows whose label is missing (NaN) are left out, so are rows with an unbounded
    interval from the width (they still count as covered).

    Parameters
    ----------
    y_true, lower, upper : array-like of shape (n,)
        Labels and interval bounds.

    Returns
    -------
    dict
        ``coverage`` (share of labelled rows inside ``[lower, upper]``), ``mean_width``
        and ``n`` (labelled rows).

    Examples
    --------
    >>> interval_coverage([1.0, 5.0, float("nan")], [0.0, 0.0, 0.0], [2.0, 4.0, 1.0])
    {'coverage': 0.5, 'mean_width': 3.0, 'n': 2}
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    lo = np.asarray(lower, dtype=np.float64).ravel()
    hi = np.asarray(upper, dtype=np.float64).ravel()
    if not (len(y) == len(lo) == len(hi)):
        raise ValueError(f"y_true, lower, upper have {len(y)}, {len(lo)}, {len(hi)} rows.")
    present = ~np.isnan(y)
    n = int(present.sum())
    if n == 0:
        return {"coverage": float("nan"), "mean_width": float("nan"), "n": 0}
    y, lo, hi = y[present], lo[present], hi[present]
    width = hi - lo
    finite = np.isfinite(width)
    return {
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "mean_width": float(width[finite].mean()) if finite.any() else float("inf"),
        "n": n,
    }


# -- temperature scaling ---------------------------------------------------------------------

#: Search range of the temperature: beyond it a head is either constant or a hard argmax,
#: and a temperature at the boundary tells that the head's logits carry no usable scale.
TEMPERATURE_RANGE = (0.02, 50.0)


def _as_logits(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim not in (1, 2):
        raise ValueError(f"logits must have shape (n,) or (n, K); got {z.shape}.")
    return z


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of class indices ``y`` under logits ``z``."""
    if z.ndim == 1:  # one logit of a binary head: -log sigmoid(+-z)
        signed = np.where(y == 1, z, -z)
        return float(np.mean(np.logaddexp(0.0, -signed)))
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(y)), y]))


def fit_temperature(logits, y_true) -> float:
    """Temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)``.

    Temperature scaling (Guo et al., 2017) rescales a head's logits by one scalar fitted
    on held-out rows: it leaves the predicted class unchanged and fixes over- (``T > 1``)
    or under-confidence (``T < 1``). Rows with a missing label (NaN) are ignored. The
    NLL is convex in ``1 / T``; it is minimised over ``log T`` by bounded Brent search
    within :data:`TEMPERATURE_RANGE`.

    Parameters
    ----------
    logits : array-like of shape (n, K) or (n,)
        Raw head outputs; a 1-d (or one-column) array is the single logit of a binary
        head (sigmoid), otherwise softmax logits.
    y_true : array-like of shape (n,)
        Class indices (0/1 for a binary head), NaN where the label is missing.

    Returns
    -------
    float
        The temperature; 1.0 when no row has a label.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> true_logit = rng.normal(0, 2, 5000)
    >>> y = (rng.random(5000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    >>> round(fit_temperature(3 * true_logit, y), 1)  # three times over-confident
    3.0
    """
    from scipy.optimize import minimize_scalar

    z = _as_logits(logits)
    y = np.asarray(y_true, dtype=np.float64).ravel()
    if len(y) != len(z):
        raise ValueError(f"y_true has {len(y)} rows but logits have {len(z)}.")
    present = ~np.isnan(y)
    if not present.any():
        return 1.0
    z = z[present]
    n_classes = 2 if z.ndim == 1 else z.shape[1]
    idx = _class_indices(y[present], n_classes)
    lo, hi = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    result = minimize_scalar(
        lambda log_t: _nll(z / np.exp(log_t), idx),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-5},
    )
    # Brent's search never evaluates the bounds themselves; compare with T = 1 too, so
    # a head that is already calibrated keeps exactly its probabilities
    t = float(np.exp(result.x))
    return t if _nll(z / t, idx) < _nll(z, idx) else 1.0
