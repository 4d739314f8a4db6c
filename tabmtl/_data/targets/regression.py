"""The real-valued target kinds: a point head, a gaussian head and a quantile head.

All three standardise the target in fit and decode in its own units; the gaussian and
quantile heads also describe the doubt about a prediction (a standard deviation, a set
of quantiles), from which split-conformal calibration builds intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tabmtl._data.targets.base import TargetKind, as_tensor, decoding_constant
from tabmtl.errors import InputError

#: Bound on the gaussian head's log-variance (standardised units), applied smoothly as
#: ``B * tanh(raw / B)``: a variance can neither collapse to 0 nor blow up, and the
#: gradient never vanishes the way a hard clamp's would.
LOG_VAR_BOUND = 7.0

#: Levels of the quantile head, lowest to highest; the middle one is the point prediction.
QUANTILE_LEVELS = (0.05, 0.5, 0.95)


class RegressionTarget(TargetKind):
    """A real-valued target, standardised in fit and de-standardised in decode.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> task = RegressionTarget("eta").fit(pd.Series([10.0, 20.0, 30.0]))
    >>> task.decode(np.array([[0.0], [1.0]]), pd.RangeIndex(2)).round(2).tolist()
    [20.0, 28.16]
    """

    kind = "regression"
    is_regression = True

    def fit(self, y: pd.Series) -> RegressionTarget:
        values = _as_float(y)
        if np.isinf(values).any():
            raise InputError(
                f"Target column {self.name!r} contains infinite values; a regression target "
                "must be finite (use NaN for a missing label)."
            )
        present = values[~np.isnan(values)]
        if present.size == 0:
            raise InputError(f"Target column {self.name!r} is entirely missing; drop it.")
        # mean and std in units of the largest magnitude: the variance of values near 1e300
        # would overflow to inf (and a scale of inf would turn every label into 0)
        unit = float(np.abs(present).max())
        unit = unit if unit > 0 else 1.0
        z = present / unit
        self.mean_ = float(z.mean()) * unit
        std = float(z.std()) * unit
        # A constant target still trains (the head learns the constant); scale 1 avoids /0.
        self.scale_ = std if std > 0 and np.isfinite(std) else 1.0
        self.dtype_ = y.dtype if pd.api.types.is_float_dtype(y.dtype) else np.dtype("float64")
        self.encode(y)  # raises, naming the column, if standardising overflows
        return self

    def encode(self, y: pd.Series) -> np.ndarray:
        values = _as_float(y)
        if np.isinf(values).any():
            raise InputError(f"Target column {self.name!r} contains infinite values.")
        with np.errstate(over="ignore", invalid="ignore"):
            z = (values - self.mean_) / self.scale_
        if np.isinf(z).any():
            raise InputError(
                f"Target column {self.name!r} has values too large to standardise "
                "(overflow); rescale it."
            )
        return z.astype(np.float32)

    # -- decoding: one path, in torch ops (predict and the exported graph) ---------------

    def decode_outputs(
        self, out: torch.Tensor, temperature: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """``{"prediction": column 0 in the target's units}``, float64, within the dtype's
        finite range."""
        return {"prediction": self._in_range(self._to_target_units(out.double()[:, 0]))}

    def _to_target_units(self, z: torch.Tensor) -> torch.Tensor:
        return z * decoding_constant(self.scale_) + decoding_constant(self.mean_)

    def _in_range(self, values: torch.Tensor) -> torch.Tensor:
        # a prediction past the dtype's range is clipped to its largest finite value
        # rather than becoming inf (e.g. float32 targets near 3e38)
        limit = decoding_constant(np.finfo(self._numpy_dtype()).max)
        return torch.clamp(values, -limit, limit)

    def _numpy_dtype(self) -> np.dtype:
        return np.dtype(getattr(self.dtype_, "numpy_dtype", self.dtype_))

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        prediction = self.decoded(out)["prediction"]
        return pd.Series(prediction, index=index, name=self.name).astype(self.dtype_)

    def decode_record(self, out: np.ndarray) -> object:
        return float(self.decoded(out[:1])["prediction"].astype(self._numpy_dtype())[0])

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        return (out[:, 0] - t).square()

    # -- uncertainty: what split-conformal calibration and intervals need ---------------

    def destandardize(self, z: np.ndarray) -> np.ndarray:
        """Standardised values -> the target's units, as float64."""
        return self._to_target_units(torch.from_numpy(np.array(z, dtype=np.float64))).numpy()

    def conformity_scores(self, out: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Nonconformity of labels ``z`` (standardised) given raw outputs: ``|z - pred|``."""
        return np.abs(np.asarray(z, dtype=np.float64) - out[:, 0].astype(np.float64))

    def conformal_interval(self, out: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        """Interval whose conformity score is at most ``q``, in the target's units."""
        center = out[:, 0].astype(np.float64)
        return self.destandardize(center - q), self.destandardize(center + q)

    def model_interval(self, out: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """The head's own ``1 - alpha`` interval; a point head has none."""
        raise InputError(
            f"Target {self.name!r} has a point-prediction head (kind {self.kind!r}), which "
            "gives no interval by itself: fit with calibration_fraction > 0 for conformal "
            "intervals, or declare it targets={name: 'gaussian'} or 'quantile'."
        )


class GaussianRegressionTarget(RegressionTarget):
    """A real-valued target with a heteroscedastic Gaussian head: mean and log-variance.

    Two outputs in standardised units: the mean and the raw log-variance, squashed to
    ``LOG_VAR_BOUND * tanh(raw / LOG_VAR_BOUND)``. Trained with the Gaussian negative
    log-likelihood ``0.5 * (log_var + (t - mean)^2 / exp(log_var))``, shifted by the
    constant ``0.5 * LOG_VAR_BOUND`` so that it is never negative (the gradients are
    unchanged; weightings such as "uncertainty", DWA and GradNorm assume positive
    losses). ``decode`` returns the mean; :meth:`std` the predicted standard deviation.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> task = GaussianRegressionTarget("eta").fit(pd.Series([10.0, 20.0, 30.0]))
    >>> out = np.array([[0.0, 0.0]])  # mean 0 and log-variance 0, standardised
    >>> float(task.decode(out, pd.RangeIndex(1)).iloc[0]), float(task.std(out)[0])
    (20.0, 8.16496580927726)
    """

    kind = "gaussian"
    n_outputs = 2

    @staticmethod
    def log_variance(raw: torch.Tensor) -> torch.Tensor:
        """The bounded log-variance ``LOG_VAR_BOUND * tanh(raw / LOG_VAR_BOUND)``."""
        return LOG_VAR_BOUND * torch.tanh(raw / LOG_VAR_BOUND)

    @staticmethod
    def combine_members(out: torch.Tensor) -> torch.Tensor:
        """The members' mixture as one gaussian: the mean of their means, and the mean of
        their variances plus the variance of their means (as a raw log-variance)."""
        means = out[..., 0]
        variances = torch.exp(GaussianRegressionTarget.log_variance(out[..., 1]))
        total = variances.mean(dim=1) + means.var(dim=1, unbiased=False)
        bounded = (torch.log(total) / LOG_VAR_BOUND).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
        atanh = 0.5 * (torch.log1p(bounded) - torch.log1p(-bounded))  # exporters lack atanh
        return torch.stack([means.mean(dim=1), LOG_VAR_BOUND * atanh], dim=1)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        log_var = GaussianRegressionTarget.log_variance(out[:, 1])
        nll = log_var + (t - out[:, 0]).square() * torch.exp(-log_var)
        return 0.5 * (nll + LOG_VAR_BOUND)

    def decode_outputs(
        self, out: torch.Tensor, temperature: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """The mean as ``"prediction"`` and the standard deviation as ``"std"``, both in
        the target's units."""
        std = self._std_standardized(out) * decoding_constant(self.scale_)
        return {**super().decode_outputs(out), "std": std}

    def _std_standardized(self, out: torch.Tensor) -> torch.Tensor:
        return torch.exp(0.5 * self.log_variance(out.double()[:, 1]))

    def std_standardized(self, out: np.ndarray) -> np.ndarray:
        """Predicted standard deviation in standardised units."""
        return self._std_standardized(as_tensor(out)).numpy()

    def std(self, out: np.ndarray) -> np.ndarray:
        """Predicted standard deviation in the target's units."""
        return self.decoded(out)["std"]

    def conformity_scores(self, out: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Normalised residuals ``|z - mean| / std``: intervals stay heteroscedastic."""
        return super().conformity_scores(out, z) / self.std_standardized(out)

    def conformal_interval(self, out: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        center = out[:, 0].astype(np.float64)
        half = q * self.std_standardized(out)
        return self.destandardize(center - half), self.destandardize(center + half)

    def model_interval(self, out: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval of the predicted normal distribution."""
        from scipy.stats import norm

        return self.conformal_interval(out, float(norm.ppf(1.0 - alpha / 2.0)))


class QuantileRegressionTarget(RegressionTarget):
    """A real-valued target with a quantile head at :data:`QUANTILE_LEVELS`.

    One output per level (standardised units), trained with the mean pinball loss over
    the levels. Quantiles are sorted at predict so they never cross; ``decode`` returns
    the median. Its own interval is the outer levels, ``alpha = 0.1``; with conformal
    calibration (CQR, Romano et al. 2019) the outer levels are widened or narrowed to
    reach any ``1 - alpha``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> task = QuantileRegressionTarget("eta").fit(pd.Series([10.0, 20.0, 30.0]))
    >>> task.quantiles(np.array([[1.0, -1.0, 0.0]])).round(2).tolist()  # crossing, sorted
    [[11.84, 20.0, 28.16]]
    """

    kind = "quantile"
    n_outputs = len(QUANTILE_LEVELS)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        levels = torch.as_tensor(QUANTILE_LEVELS, dtype=out.dtype, device=out.device)
        diff = t[:, None] - out  # > 0: the label is above the quantile
        return torch.maximum(levels * diff, (levels - 1.0) * diff).mean(dim=1)

    def decode_outputs(
        self, out: torch.Tensor, temperature: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """The median as ``"prediction"`` and the sorted quantiles ``(n, n_levels)`` as
        ``"quantiles"``, both in the target's units."""
        quantiles = self._sorted(out)
        median = quantiles[:, len(QUANTILE_LEVELS) // 2]
        return {
            "prediction": self._in_range(self._to_target_units(median)),
            "quantiles": self._to_target_units(quantiles),
        }

    @staticmethod
    def _sorted(out: torch.Tensor) -> torch.Tensor:
        return torch.sort(out.double(), dim=1).values  # non-crossing quantiles

    def quantiles_standardized(self, out: np.ndarray) -> np.ndarray:
        """Sorted (non-crossing) quantiles, standardised units, shape (n, n_levels)."""
        return self._sorted(as_tensor(out)).numpy()

    def quantiles(self, out: np.ndarray) -> np.ndarray:
        """Sorted quantiles at :data:`QUANTILE_LEVELS` in the target's units."""
        return self.decoded(out)["quantiles"]

    def conformity_scores(self, out: np.ndarray, z: np.ndarray) -> np.ndarray:
        """CQR scores ``max(lower - z, z - upper)`` of the outer levels (negative inside)."""
        q = self.quantiles_standardized(out)
        z = np.asarray(z, dtype=np.float64)
        return np.maximum(q[:, 0] - z, z - q[:, -1])

    def conformal_interval(self, out: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        quant = self.quantiles_standardized(out)
        lower, upper = quant[:, 0] - q, quant[:, -1] + q
        # a negative correction may not turn the interval inside out
        middle = 0.5 * (lower + upper)
        lower, upper = np.minimum(lower, middle), np.maximum(upper, middle)
        return self.destandardize(lower), self.destandardize(upper)

    def model_interval(self, out: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """The outer levels, when they are the ``alpha / 2`` and ``1 - alpha / 2`` ones."""
        lo, hi = QUANTILE_LEVELS[0], QUANTILE_LEVELS[-1]
        if not (np.isclose(lo, alpha / 2.0) and np.isclose(hi, 1.0 - alpha / 2.0)):
            raise InputError(
                f"The quantile head of {self.name!r} predicts the levels "
                f"{QUANTILE_LEVELS!r}, so its own interval has alpha={lo + 1.0 - hi:g}; "
                f"alpha={alpha:g} needs conformal calibration (calibration_fraction > 0)."
            )
        quant = self.quantiles(out)
        return quant[:, 0], quant[:, -1]


def _as_float(y: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(y.dtype) or pd.api.types.is_timedelta64_dtype(
        y.dtype
    ):  # to_numeric would turn a missing NaT into -9.2e18, a silent bogus label
        raise InputError(
            f"Regression target {y.name!r} must be numeric; it has dtype {y.dtype} "
            "(convert times to numbers, e.g. seconds, first)."
        )
    try:
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"Regression target {y.name!r} must be numeric; it has dtype {y.dtype}."
        ) from exc
