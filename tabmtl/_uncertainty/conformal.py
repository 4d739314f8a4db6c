"""Split-conformal prediction intervals: the corrected quantile and empirical coverage."""

from __future__ import annotations

import numpy as np


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
    alpha = check_alpha(alpha)
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


def check_alpha(alpha: object) -> float:
    """``alpha`` as a float in (0, 1), or a ValueError that says what it must be."""
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
