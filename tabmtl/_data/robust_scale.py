"""Robust scaling with smooth clipping of numeric features (RealMLP's input transform).

Holzmüller et al. (2024, "Better by Default") scale each numeric column by its
interquartile range around the median, fall back to the range when the quartiles
coincide (mostly-constant columns such as amounts that are usually zero), and then squash
with a smooth clip ``x / sqrt(1 + (x / 3)^2)``: bulk values stay near-linear, a lab value
or money amount 1,000 IQRs out lands just under 3 instead of dominating a layer's input.
Standard scaling lets such outliers set the scale of the whole column.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


def smooth_clip(x, bound: float = 3.0):
    """``x / sqrt(1 + (x / bound)^2)``: identity near 0, tends to ``±bound``.

    Written in operators only, so it serves numpy arrays and torch tensors alike (the
    network's :class:`~tabmtl._nn.inputs.RobustNumeric` applies it in the graph).
    """
    return x / (1.0 + (x / bound) ** 2) ** 0.5


class RobustSmoothClipScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Median-centred, IQR-scaled (range when the IQR is 0), then smoothly clipped.

    Parameters
    ----------
    clip : float or None, default=3.0
        Bound of the smooth clip; None scales without clipping.

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        Per-column median.
    scale_ : ndarray of shape (n_features,)
        What the centred column is divided by: the IQR, else half the range, else 1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])
    >>> RobustSmoothClipScaler().fit_transform(X).ravel().round(2)
    array([-0.95, -0.49,  0.  ,  0.49,  3.  ])
    """

    def __init__(self, clip: float | None = 3.0):
        self.clip = clip

    def fit(self, X, y=None) -> RobustSmoothClipScaler:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        q1, median, q3 = np.nanquantile(X, [0.25, 0.5, 0.75], axis=0)
        low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        iqr, half_range = q3 - q1, (high - low) / 2.0
        self.center_ = median
        self.scale_ = np.where(iqr > 0, iqr, np.where(half_range > 0, half_range, 1.0))
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "scale_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        out = (X - self.center_) / self.scale_
        return out if self.clip is None else smooth_clip(out, float(self.clip))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
