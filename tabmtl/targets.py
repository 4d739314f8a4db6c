"""Target kinds and the target transformer.

A target column becomes one *task*. Its kind (regression, binary, multiclass) decides the
head's width, the loss, the default score and how network outputs turn back into the
user's values. :class:`TargetSpec` is the transformer that does this for a whole target
frame, in the spirit of scikit-learn's ``TransformedTargetRegressor``: fit on ``Y``,
``transform`` to one float32 matrix (class index as float, NaN = missing label), and
``inverse_transform`` network outputs back to a DataFrame in the original dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.validation import check_is_fitted

from .features import label_codes

#: Largest number of distinct values an integer column may have and still be read as
#: class labels; above it the column is a count/amount and becomes a regression target.
MAX_INT_CLASSES = 20

KIND_NAMES = ("regression", "binary", "multiclass", "classification")


class TargetKind:
    """Base class of one task: how a target column is encoded, trained, scored, decoded.

    Subclasses set ``kind`` and implement the methods below. ``fit`` learns what is
    needed from the present (non-missing) values; ``encode`` returns float32 with NaN
    for missing labels; ``decode`` maps raw network outputs of shape
    ``(n, n_outputs)`` back to a Series in the column's original dtype.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: object):
        self.name = name

    n_outputs: int = 1

    def fit(self, y: pd.Series) -> TargetKind:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, y: pd.Series) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:  # pragma: no cover
        raise NotImplementedError

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
        with np.errstate(over="ignore", invalid="ignore"):
            values = out[:, 0].astype(np.float64) * self.scale_ + self.mean_
        # a prediction past the dtype's range is clipped to its largest finite value
        # rather than becoming inf (e.g. float32 targets near 3e38)
        limit = np.finfo(np.dtype(getattr(self.dtype_, "numpy_dtype", self.dtype_))).max
        values = np.clip(values, -limit, limit)
        return pd.Series(values, index=index, name=self.name).astype(self.dtype_)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (out[:, 0] - t).square()

    def score(self, y_true: pd.Series, y_pred: pd.Series) -> float:
        return float(r2_score(_as_float(y_true), _as_float(y_pred)))


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

    def _labels(self, idx: np.ndarray, index: pd.Index) -> pd.Series:
        labels = self.classes_[idx]
        if isinstance(self.dtype_, pd.CategoricalDtype):
            return pd.Series(pd.Categorical(labels, dtype=self.dtype_), index=index, name=self.name)
        return pd.Series(labels, index=index, name=self.name).astype(self.dtype_)

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

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        return self._labels((out[:, 0] > 0).astype(np.intp), index)

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

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        return self._labels(out.argmax(axis=1), index)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, t.long(), reduction="none")


TARGET_KINDS: dict[str, type[TargetKind]] = {
    "regression": RegressionTarget,
    "binary": BinaryTarget,
    "multiclass": MulticlassTarget,
}


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
        ``"classification"``, which picks binary or multiclass by the number of labels).
        Columns not named are inferred from their dtype (see :func:`infer_kind`).

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

    def predict_proba(self, raw: np.ndarray) -> dict[object, np.ndarray]:
        """Class probabilities of every classification task, keyed by target name."""
        check_is_fitted(self, "tasks_")
        return {
            t.name: t.proba(raw[:, s])
            for t, s in zip(self.tasks_, self.slices_)
            if t.kind != "regression"
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
