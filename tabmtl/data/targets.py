"""Target kinds and the target transformer.

A target column becomes one *task*. Its kind (regression, binary, multiclass, or the
distributional regression kinds gaussian and quantile) decides the head's width, the
loss, the default score and how network outputs turn back into the user's values.
:class:`TargetSpec` is the transformer that does this for a whole target frame, in the
spirit of scikit-learn's ``TransformedTargetRegressor``: fit on ``Y``, ``transform`` to
one float32 matrix (class index as float, NaN = missing label), and
``inverse_transform`` network outputs back to a DataFrame in the original dtypes.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.validation import check_is_fitted

from tabmtl.data.features import label_codes

#: Largest number of distinct values an integer column may have and still be read as
#: class labels; above it the column is a count/amount and becomes a regression target.
MAX_INT_CLASSES = 20

KIND_NAMES = ("regression", "gaussian", "quantile", "binary", "multiclass", "classification")

#: Bound on the gaussian head's log-variance (standardised units), applied smoothly as
#: ``B * tanh(raw / B)``: a variance can neither collapse to 0 nor blow up, and the
#: gradient never vanishes the way a hard clamp's would.
LOG_VAR_BOUND = 7.0

#: Levels of the quantile head, lowest to highest; the middle one is the point prediction.
QUANTILE_LEVELS = (0.05, 0.5, 0.95)


class TargetKind:
    """Base class of one task: how a target column is encoded, trained, scored, decoded.

    Subclasses set ``kind`` and implement the methods below. ``fit`` learns what is
    needed from the present (non-missing) values; ``encode`` returns float32 with NaN
    for missing labels; ``decode`` maps raw network outputs of shape
    ``(n, n_outputs)`` back to a Series in the column's original dtype.
    """

    kind: ClassVar[str] = ""
    #: True for the real-valued kinds (regression, gaussian, quantile): a value is
    #: predicted, not a class, and intervals rather than probabilities describe doubt.
    is_regression: ClassVar[bool] = False

    def __init__(self, name: object):
        self.name = name

    n_outputs: int = 1

    def fit(self, y: pd.Series) -> TargetKind:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, y: pd.Series) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:  # pragma: no cover
        raise NotImplementedError

    def decode_record(self, out: np.ndarray) -> object:
        """What :meth:`decode` gives for one row of outputs ``(1, n_outputs)``, as a plain
        Python value (numpy scalars unwrapped; JSON-ready for numbers, bools, strings).

        This generic version goes through :meth:`decode`; kinds override it to skip
        pandas on the serving path (``MultiTaskEstimator.predict_record``).
        """
        return as_python_scalar(self.decode(out[:1], pd.RangeIndex(1)).iloc[0])

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Per-row loss; ``t`` holds encoded labels with missing ones replaced by 0."""
        raise NotImplementedError

    def score(self, y_true: pd.Series, y_pred: pd.Series) -> float:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class RegressionTarget(TargetKind):
    """A real-valued target, standardised in fit and de-standardised in decode."""

    kind = "regression"
    is_regression = True

    def fit(self, y: pd.Series) -> RegressionTarget:
        values = _as_float(y)
        if np.isinf(values).any():
            raise ValueError(
                f"Target column {self.name!r} contains infinite values; a regression target "
                "must be finite (use NaN for a missing label)."
            )
        present = values[~np.isnan(values)]
        if present.size == 0:
            raise ValueError(f"Target column {self.name!r} is entirely missing; drop it.")
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
            raise ValueError(f"Target column {self.name!r} contains infinite values.")
        with np.errstate(over="ignore", invalid="ignore"):
            z = (values - self.mean_) / self.scale_
        if np.isinf(z).any():
            raise ValueError(
                f"Target column {self.name!r} has values too large to standardise "
                "(overflow); rescale it."
            )
        return z.astype(np.float32)

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        return pd.Series(self._point_values(out), index=index, name=self.name).astype(
            self.dtype_
        )

    def decode_record(self, out: np.ndarray) -> object:
        if type(self).decode is not RegressionTarget.decode:  # a subclass decodes its own way
            return super().decode_record(out)
        dtype = np.dtype(getattr(self.dtype_, "numpy_dtype", self.dtype_))
        return float(self._point_values(out[:1]).astype(dtype)[0])

    def _point_values(self, out: np.ndarray) -> np.ndarray:
        """Column 0 of ``out`` in the target's units, float64, within the dtype's range."""
        with np.errstate(over="ignore", invalid="ignore"):
            values = out[:, 0].astype(np.float64) * self.scale_ + self.mean_
        # a prediction past the dtype's range is clipped to its largest finite value
        # rather than becoming inf (e.g. float32 targets near 3e38)
        limit = np.finfo(np.dtype(getattr(self.dtype_, "numpy_dtype", self.dtype_))).max
        return np.clip(values, -limit, limit)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (out[:, 0] - t).square()

    def score(self, y_true: pd.Series, y_pred: pd.Series) -> float:
        return float(r2_score(_as_float(y_true), _as_float(y_pred)))

    # -- uncertainty: what split-conformal calibration and intervals need ---------------

    def destandardize(self, z: np.ndarray) -> np.ndarray:
        """Standardised values -> the target's units, as float64."""
        return np.asarray(z, dtype=np.float64) * self.scale_ + self.mean_

    def conformity_scores(self, out: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Nonconformity of labels ``z`` (standardised) given raw outputs: ``|z - pred|``."""
        return np.abs(np.asarray(z, dtype=np.float64) - out[:, 0].astype(np.float64))

    def conformal_interval(self, out: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
        """Interval whose conformity score is at most ``q``, in the target's units."""
        center = out[:, 0].astype(np.float64)
        return self.destandardize(center - q), self.destandardize(center + q)

    def model_interval(self, out: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """The head's own ``1 - alpha`` interval; a point head has none."""
        raise ValueError(
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
    def _log_var(raw):
        if isinstance(raw, torch.Tensor):
            return LOG_VAR_BOUND * torch.tanh(raw / LOG_VAR_BOUND)
        return LOG_VAR_BOUND * np.tanh(np.asarray(raw, dtype=np.float64) / LOG_VAR_BOUND)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        log_var = GaussianRegressionTarget._log_var(out[:, 1])
        nll = log_var + (t - out[:, 0]).square() * torch.exp(-log_var)
        return 0.5 * (nll + LOG_VAR_BOUND)

    def std_standardized(self, out: np.ndarray) -> np.ndarray:
        """Predicted standard deviation in standardised units."""
        return np.exp(0.5 * self._log_var(out[:, 1]))

    def std(self, out: np.ndarray) -> np.ndarray:
        """Predicted standard deviation in the target's units."""
        return self.std_standardized(out) * self.scale_

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
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        levels = torch.as_tensor(QUANTILE_LEVELS, dtype=out.dtype, device=out.device)
        diff = t[:, None] - out  # > 0: the label is above the quantile
        return torch.maximum(levels * diff, (levels - 1.0) * diff).mean(dim=1)

    def quantiles_standardized(self, out: np.ndarray) -> np.ndarray:
        """Sorted (non-crossing) quantiles, standardised units, shape (n, n_levels)."""
        return np.sort(out.astype(np.float64), axis=1)

    def quantiles(self, out: np.ndarray) -> np.ndarray:
        """Sorted quantiles at :data:`QUANTILE_LEVELS` in the target's units."""
        return self.destandardize(self.quantiles_standardized(out))

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        middle = len(QUANTILE_LEVELS) // 2
        return super().decode(self.quantiles_standardized(out)[:, [middle]], index)

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
            raise ValueError(
                f"The quantile head of {self.name!r} predicts the levels "
                f"{QUANTILE_LEVELS!r}, so its own interval has alpha={lo + 1.0 - hi:g}; "
                f"alpha={alpha:g} needs conformal calibration (calibration_fraction > 0)."
            )
        quant = self.quantiles(out)
        return quant[:, 0], quant[:, -1]


class _LabelTarget(TargetKind):
    """Shared code of the classification kinds: labels <-> class indices."""

    def fit(self, y: pd.Series) -> _LabelTarget:
        present = y[y.notna()]
        if isinstance(y.dtype, pd.CategoricalDtype):
            observed = set(present.unique())
            classes = [c for c in y.dtype.categories if c in observed]
        else:
            classes = list(pd.unique(present))
            try:
                classes = sorted(classes)
            except TypeError:  # mixed label types: keep first-seen order, still deterministic
                pass
        if len(classes) < 2:
            raise ValueError(
                f"Target column {self.name!r} has only one class ({classes!r}) among its "
                "present labels; a classification target needs at least two classes."
            )
        self.classes_ = np.array(classes, dtype=object)
        self.dtype_ = y.dtype
        self._check_n_classes(len(classes))
        return self

    def _check_n_classes(self, n: int) -> None:
        pass

    def _codes(self, y: pd.Series) -> np.ndarray:
        """Class index of each value as float32, NaN where the label is missing."""
        idx = label_codes(y, pd.Index(self.classes_, dtype=object))
        codes = idx.astype(np.float32)
        unknown = (idx < 0) & y.notna().to_numpy()
        if unknown.any():
            bad = pd.unique(y[unknown])[:5]
            raise ValueError(
                f"Target column {self.name!r} contains labels not seen in fit: {list(bad)!r}."
            )
        codes[idx < 0] = np.nan
        return codes

    def encode(self, y: pd.Series) -> np.ndarray:
        return self._codes(y)

    def _class_indices(self, out: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Index into ``classes_`` of each row's predicted class."""
        raise NotImplementedError

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        return self._labels(self._class_indices(out), index)

    def decode_record(self, out: np.ndarray) -> object:
        if type(self).decode is not _LabelTarget.decode:  # a subclass decodes its own way
            return super().decode_record(out)
        return as_python_scalar(self.classes_[self._class_indices(out[:1])[0]])

    def _labels(self, idx: np.ndarray, index: pd.Index) -> pd.Series:
        if isinstance(self.dtype_, pd.CategoricalDtype):
            # from codes: building a Categorical from labels hashes them (~0.3 ms a call)
            codes = self._category_codes()[idx]
            return pd.Series(
                pd.Categorical.from_codes(codes, dtype=self.dtype_), index=index, name=self.name
            )
        return pd.Series(self.classes_[idx], index=index, name=self.name).astype(self.dtype_)

    def _category_codes(self) -> np.ndarray:
        """Code of each class in the target's CategoricalDtype, computed once per fit."""
        cached = _CATEGORY_CODES.get(self)
        if cached is None or cached[0] is not self.classes_ or cached[1] is not self.dtype_:
            codes = self.dtype_.categories.get_indexer(self.classes_)
            cached = (self.classes_, self.dtype_, codes)
            _CATEGORY_CODES[self] = cached
        return cached[2]

    def score(self, y_true: pd.Series, y_pred: pd.Series) -> float:
        return float(accuracy_score(self._codes(y_true), self._codes(y_pred)))


class BinaryTarget(_LabelTarget):
    """Two labels; one logit, trained with binary cross-entropy."""

    kind = "binary"

    def _check_n_classes(self, n: int) -> None:
        if n != 2:
            raise ValueError(
                f"Target column {self.name!r} was declared binary but has {n} classes."
            )

    def proba(self, out: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-out[:, 0].astype(np.float64)))
        return np.column_stack([1.0 - p, p])

    def _class_indices(self, out: np.ndarray) -> np.ndarray:
        return (out[:, 0] > 0).astype(np.intp)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out[:, 0], t, reduction="none")


class MulticlassTarget(_LabelTarget):
    """K labels; K logits, trained with softmax cross-entropy."""

    kind = "multiclass"

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return len(self.classes_)

    def proba(self, out: np.ndarray) -> np.ndarray:
        z = out.astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def _class_indices(self, out: np.ndarray) -> np.ndarray:
        return out.argmax(axis=1)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, t.long(), reduction="none")


#: Per fitted classification task, its classes' category codes (derived state, kept out of
#: the object so that saving and pickling never see it)
_CATEGORY_CODES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

TARGET_KINDS: dict[str, type[TargetKind]] = {
    "regression": RegressionTarget,
    "gaussian": GaussianRegressionTarget,
    "quantile": QuantileRegressionTarget,
    "binary": BinaryTarget,
    "multiclass": MulticlassTarget,
}


def is_regression_kind(kind: str) -> bool:
    """Whether ``kind`` names a real-valued target (regression, gaussian, quantile).

    Examples
    --------
    >>> is_regression_kind("gaussian"), is_regression_kind("binary")
    (True, False)
    """
    cls = TARGET_KINDS.get(kind)
    return bool(cls is not None and cls.is_regression)


def infer_kind(y: pd.Series) -> str:
    """Kind of a target column read from its dtype.

    float -> regression; bool or two labels -> binary; category / object / string ->
    multiclass; integer with at most ``MAX_INT_CLASSES`` distinct values -> binary or
    multiclass, otherwise regression.
    """
    dtype = y.dtype
    n_labels = y.nunique(dropna=True)
    if pd.api.types.is_bool_dtype(dtype):
        return "binary"
    if isinstance(dtype, pd.CategoricalDtype) or _is_text(dtype):
        return "binary" if n_labels == 2 else "multiclass"
    if pd.api.types.is_integer_dtype(dtype):
        if n_labels == 2:
            return "binary"
        return "multiclass" if n_labels <= MAX_INT_CLASSES else "regression"
    if pd.api.types.is_float_dtype(dtype):
        return "regression"
    raise TypeError(
        f"Target column {y.name!r} has dtype {dtype}, which tabmtl cannot read as a target; "
        "use float (regression), bool, category, string or integer labels."
    )


def as_python_scalar(value: object) -> object:
    """``value`` with a numpy scalar unwrapped (``np.int64(3)`` -> ``3``); others as is."""
    return value.item() if isinstance(value, np.generic) else value


def _is_text(dtype) -> bool:
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _as_float(y: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(y.dtype) or pd.api.types.is_timedelta64_dtype(
        y.dtype
    ):  # to_numeric would turn a missing NaT into -9.2e18, a silent bogus label
        raise ValueError(
            f"Regression target {y.name!r} must be numeric; it has dtype {y.dtype} "
            "(convert times to numbers, e.g. seconds, first)."
        )
    try:
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Regression target {y.name!r} must be numeric; it has dtype {y.dtype}."
        ) from exc


class TargetSpec(TransformerMixin, BaseEstimator):
    """The ordered tasks of a target frame: infer kinds, encode, decode.

    Parameters
    ----------
    targets : dict, optional
        Column name -> kind (``"regression"``, ``"binary"``, ``"multiclass"`` or
        ``"classification"``, which picks binary or multiclass by the number of labels;
        ``"gaussian"`` or ``"quantile"`` for a regression target whose head predicts a
        distribution). Columns not named are inferred from their dtype (see
        :func:`infer_kind`).

    Attributes
    ----------
    tasks_ : list of TargetKind
        One fitted task per target column, in column order.
    slices_ : list of slice
        Where each task's outputs sit in the network's concatenated output.
    n_outputs_ : int
        Total width of the network output.

    Examples
    --------
    >>> import pandas as pd
    >>> Y = pd.DataFrame({"eta": [12.0, 30.5, None], "paid": ["card", "cash", "card"]})
    >>> spec = TargetSpec().fit(Y)
    >>> [t.kind for t in spec.tasks_]
    ['regression', 'binary']
    >>> spec.transform(Y).shape
    (3, 2)
    """

    def __init__(self, targets: Mapping[object, str] | None = None):
        self.targets = targets

    def fit(self, Y: pd.DataFrame, y=None) -> TargetSpec:
        Y = _check_target_frame(Y)
        overrides = dict(self.targets or {})
        unknown = [c for c in overrides if c not in Y.columns]
        if unknown:
            raise ValueError(
                f"`targets` names columns that are not in Y: {unknown!r}; "
                f"Y has {list(Y.columns)!r}."
            )
        tasks = []
        for name in Y.columns:
            col = Y[name]
            if col.notna().sum() == 0:
                raise ValueError(f"Target column {name!r} is entirely missing; drop it.")
            kind = overrides.get(name) or infer_kind(col)
            if kind == "classification":
                kind = "binary" if col.nunique(dropna=True) == 2 else "multiclass"
            if kind not in TARGET_KINDS:
                raise ValueError(
                    f"Unknown target kind {kind!r} for column {name!r}; "
                    f"valid kinds are {list(KIND_NAMES)!r}."
                )
            tasks.append(TARGET_KINDS[kind](name).fit(col))
        self.tasks_ = tasks
        self.target_names_ = list(Y.columns)
        stops = np.cumsum([t.n_outputs for t in tasks])
        self.slices_ = [slice(int(b - t.n_outputs), int(b)) for t, b in zip(tasks, stops)]
        self.n_outputs_ = int(stops[-1])
        return self

    @property
    def kinds_(self) -> dict[object, str]:
        """Target name -> kind."""
        check_is_fitted(self, "tasks_")
        return {t.name: t.kind for t in self.tasks_}

    def transform(self, Y: pd.DataFrame) -> np.ndarray:
        """Encode ``Y`` as a float32 matrix, one column per task, NaN = missing label."""
        check_is_fitted(self, "tasks_")
        Y = _check_target_frame(Y)
        missing = [c for c in self.target_names_ if c not in Y.columns]
        if missing:
            raise ValueError(f"Y is missing target columns {missing!r}.")
        out = np.empty((len(Y), len(self.tasks_)), dtype=np.float32)
        for j, task in enumerate(self.tasks_):
            out[:, j] = task.encode(Y[task.name])
        return out

    def inverse_transform(self, raw: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """Network outputs ``(n, n_outputs_)`` -> DataFrame in the targets' own dtypes."""
        check_is_fitted(self, "tasks_")
        index = pd.RangeIndex(len(raw)) if index is None else index
        cols = {t.name: t.decode(raw[:, s], index) for t, s in zip(self.tasks_, self.slices_)}
        return pd.DataFrame(cols, index=index)

    def transform_known(self, Y: pd.DataFrame) -> tuple[np.ndarray, dict[object, int]]:
        """:meth:`transform`, except that a class label unknown to the spec becomes missing.

        Returns the encoded matrix and, per target, how many labels were unknown. For
        data the spec was not fitted on: a streamed fit learns its classes from a sample,
        and a held-out fold may hold labels its training rows lack.
        """
        check_is_fitted(self, "tasks_")
        out = np.empty((len(Y), len(self.tasks_)), dtype=np.float32)
        unknown: dict[object, int] = {}
        for j, task in enumerate(self.tasks_):
            col = Y[task.name]
            if hasattr(task, "classes_"):
                classes = pd.Index(task.classes_, dtype=object)
                if col.dtype == np.bool_:  # two values: a lookup, not a hash per row
                    idx = classes.get_indexer([False, True])[col.to_numpy().astype(np.intp)]
                else:
                    idx = label_codes(col, classes)
                codes = idx.astype(np.float32)
                codes[idx < 0] = np.nan
                n_unknown = int(((idx < 0) & col.notna().to_numpy()).sum())
                if n_unknown:
                    unknown[task.name] = n_unknown
                out[:, j] = codes
            else:
                out[:, j] = task.encode(col)
        return out, unknown

    def inverse_transform_record(self, raw: np.ndarray) -> dict[object, object]:
        """One row of network outputs ``(1, n_outputs_)`` -> ``{target name: value}``.

        The values of :meth:`inverse_transform` for that row, as plain Python scalars
        (see :meth:`TargetKind.decode_record`), without building pandas objects.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> Y = pd.DataFrame({"eta": [10.0, 30.0], "paid": ["card", "cash"]})
        >>> spec = TargetSpec().fit(Y)
        >>> spec.inverse_transform_record(np.array([[1.0, 2.5]]))
        {'eta': 30.0, 'paid': 'cash'}
        """
        check_is_fitted(self, "tasks_")
        raw = np.asarray(raw).reshape(1, -1)
        return {t.name: t.decode_record(raw[:, s]) for t, s in zip(self.tasks_, self.slices_)}

    def predict_proba(self, raw: np.ndarray) -> dict[object, np.ndarray]:
        """Class probabilities of every classification task, keyed by target name."""
        check_is_fitted(self, "tasks_")
        return {
            t.name: t.proba(raw[:, s])
            for t, s in zip(self.tasks_, self.slices_)
            if not t.is_regression
        }


def _check_target_frame(Y) -> pd.DataFrame:
    if isinstance(Y, pd.Series):
        Y = Y.to_frame()
    if not isinstance(Y, pd.DataFrame):
        raise TypeError(f"Y must be a pandas DataFrame or Series, got {type(Y).__name__}.")
    if Y.shape[1] == 0:
        raise ValueError("Y has no columns; pass at least one target column.")
    if Y.columns.duplicated().any():
        dup = list(Y.columns[Y.columns.duplicated()].unique())
        raise ValueError(f"Y has duplicated column names {dup!r}; target names must be unique.")
    as_text = pd.Series([str(c) for c in Y.columns])
    if as_text.duplicated().any():
        # the history (train_loss_<name>), exports and the CLI key tasks by their text
        clash = [c for c in Y.columns if as_text.tolist().count(str(c)) > 1]
        raise ValueError(
            f"Y has column names that read the same as text: {clash!r}; target names must "
            "be distinct as text (they key the per-task history and outputs)."
        )
    return Y
