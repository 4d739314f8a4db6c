"""Temperature scaling: one scalar per classification head, fitted on held-out rows."""

from __future__ import annotations

import warnings

import numpy as np

from tabmtl._uncertainty.calibration import class_indices

#: Search range of the temperature: beyond it a head is either constant or a hard argmax,
#: and a temperature at the boundary tells that the head's logits carry no usable scale.
TEMPERATURE_RANGE = (0.02, 50.0)

#: Fewest labelled calibration rows a head's temperature is fitted on; below it the head
#: keeps T = 1 (with a warning): a handful of rows, often all predicted right, drives the
#: fitted T to a bound and the probabilities to hard 0/1.
MIN_TEMPERATURE_ROWS = 20

#: How close (in log T) to a bound of :data:`TEMPERATURE_RANGE` counts as at the bound.
_AT_BOUND = 1e-2


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


def fit_temperature(
    logits, y_true, *, name: object = None, min_rows: int = MIN_TEMPERATURE_ROWS
) -> float:
    """Temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)``.

    Temperature scaling (Guo et al., 2017) rescales a head's logits by one scalar fitted
    on held-out rows: it leaves the predicted class unchanged and fixes over- (``T > 1``)
    or under-confidence (``T < 1``). Rows with a missing label (NaN) are ignored. The
    NLL is convex in ``1 / T``; it is minimised over ``log T`` by bounded Brent search
    within :data:`TEMPERATURE_RANGE`.

    The result is always finite and strictly inside the range. With fewer than
    ``min_rows`` labelled rows the head keeps ``T = 1`` (a warning names the target and
    the count); so does a head whose optimum lies at a bound (its calibration rows are
    separable, or carry no usable scale), also with a warning.

    Parameters
    ----------
    logits : array-like of shape (n, K) or (n,)
        Raw head outputs; a 1-d (or one-column) array is the single logit of a binary
        head (sigmoid), otherwise softmax logits.
    y_true : array-like of shape (n,)
        Class indices (0/1 for a binary head), NaN where the label is missing.
    name : object, optional
        The target's name, for the warnings.
    min_rows : int, default MIN_TEMPERATURE_ROWS
        Fewest labelled rows to fit a temperature on.

    Returns
    -------
    float
        The temperature; 1.0 when no row has a label, when too few have, or when the
        optimum is at a bound.

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
    what = "a head" if name is None else f"target {name!r}"
    if not present.any():
        return 1.0
    if present.sum() < min_rows:
        warnings.warn(
            f"Temperature scaling skipped for {what}: only {int(present.sum())} labelled "
            f"calibration row(s), fewer than {min_rows}; its temperature stays 1. Raise "
            "calibration_fraction for a calibrated head.",
            UserWarning,
            stacklevel=2,
        )
        return 1.0
    z = z[present]
    n_classes = 2 if z.ndim == 1 else z.shape[1]
    idx = class_indices(y[present], n_classes)
    lo, hi = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    result = minimize_scalar(
        lambda log_t: _nll(z / np.exp(log_t), idx),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-5},
    )
    log_t = float(result.x)
    if not np.isfinite(log_t) or min(log_t - lo, hi - log_t) < _AT_BOUND:
        warnings.warn(
            f"Temperature scaling of {what} reached a bound of its range "
            f"{TEMPERATURE_RANGE} on {int(present.sum())} labelled calibration rows (they "
            "are separable, or the logits carry no usable scale); its temperature stays "
            "1 rather than making the probabilities hard 0/1 or uniform.",
            UserWarning,
            stacklevel=2,
        )
        return 1.0
    # Brent's search never evaluates the bounds themselves; compare with T = 1 too, so
    # a head that is already calibrated keeps exactly its probabilities
    t = float(np.exp(log_t))
    return t if _nll(z / t, idx) < _nll(z, idx) else 1.0
