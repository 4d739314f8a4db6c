"""Temperature scaling: one scalar per classification head, fitted on held-out rows."""

from __future__ import annotations

import numpy as np

from tabmtl.uncertainty.calibration import class_indices

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
    idx = class_indices(y[present], n_classes)
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
