"""The default feature preprocessor.

Numeric columns: median imputation with a missing indicator, then standard scaling
(scikit-learn's ``SimpleImputer`` and ``StandardScaler``). Categorical columns (bool,
category, object, string): integer codes for the network's embeddings, with code 0
reserved for "unknown" (a category unseen in fit, or a missing value), so predict never
fails on a new category. Datetime columns are expanded into numeric parts.

The output is one float32 matrix: the scaled numeric block first, then one column of
codes per categorical column (codes are small integers, exact in float32). One matrix
keeps skorch's dataset and split machinery working unchanged; the network splits it.
"""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour", "minute")


def column_kind(col: pd.Series) -> str:
    """'numeric', 'categorical' or 'datetime' for one feature column."""
    return dtype_kind(col.dtype, col.name)


#: Kind of the common numpy dtypes by ``dtype.kind``: the answer of the checks in
#: :func:`dtype_kind`, without their cost (a tenth of a millisecond per column at predict)
_NUMPY_KINDS = {"f": "numeric", "i": "numeric", "u": "numeric", "b": "categorical",
                "O": "categorical"}


def dtype_kind(dtype, name: object) -> str:
    """'numeric', 'categorical' or 'datetime' for a feature column's dtype."""
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS:
        return _NUMPY_KINDS[dtype.kind]
    # CategoricalDtype first: is_bool_dtype infers the type of a category's categories
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_complex_dtype(dtype):
            raise TypeError(f"Feature column {name!r} is complex; tabmtl needs real values.")
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "categorical"
    raise TypeError(
        f"Feature column {name!r} has dtype {dtype}, which tabmtl cannot encode; "
        "convert it to numbers, strings or a category."
    )


class FeaturePreprocessor(TransformerMixin, BaseEstimator):
    """Turn a DataFrame of mixed features into the network's float32 input matrix.

    Parameters
    ----------
    max_embedding_dim : int, default=16
        Upper bound of a categorical column's embedding width.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Column names seen in fit (positions ``"x0"``, ``"x1"``... for an array).
    column_kinds_ : dict
        Column -> 'numeric', 'categorical' or 'datetime'.
    categories_ : dict
        Categorical column -> Index of the categories seen in fit (code ``i + 1``).
    n_numeric_ : int
        Width of the numeric block (values plus missing indicators).
    cardinalities_ : list of int
        Number of codes per categorical column, the unknown code included.
    embedding_dims_ : list of int
        Embedding width per categorical column.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"km": [1.0, None, 3.0], "zone": ["a", "b", "a"]})
    >>> pre = FeaturePreprocessor().fit(X)
    >>> out = pre.transform(pd.DataFrame({"km": [2.0], "zone": ["new"]}))
    >>> out.shape, out[0, -1]  # km, km-missing indicator, zone code (0 = unknown)
    ((1, 3), np.float32(0.0))
    """

    def __init__(self, max_embedding_dim: int = 16):
        self.max_embedding_dim = max_embedding_dim

    def fit(self, X: pd.DataFrame, y=None) -> FeaturePreprocessor:
        X = as_frame(X)
        check_unique_names(X)
        if len(X) == 0:
            raise ValueError("X is empty (0 rows); fit needs at least one row.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.column_kinds_ = {c: column_kind(X[c]) for c in X.columns}
        self.categories_ = {}
        for c in self._columns("categorical"):
            present = X[c].dropna()
            values = list(pd.unique(present))
            try:
                values = sorted(values)
            except TypeError:  # mixed types: first-seen order, deterministic for given data
                pass
            self.categories_[c] = pd.Index(values, dtype=object)
        numeric = self._numeric_block(X)
        if numeric.shape[1]:
            # fit on each column divided by its largest magnitude, so that the scaler's
            # variance cannot overflow (values near 1e300 square to inf), then map the
            # statistics back to the columns' own units
            unit = np.max(np.abs(np.nan_to_num(numeric, nan=0.0)), axis=0, initial=0.0)
            unit = np.where(unit > 0, unit, 1.0)
            self.numeric_ = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
            ).fit(numeric / unit)  # an array: names such as 0 and "0" need not be distinct
            imputer, scaler = self.numeric_[0], self.numeric_[1]
            # transform applies these fitted statistics with numpy: same numbers as the
            # pipeline, without its per-call validation (a 1-row predict is ~10x faster)
            k = numeric.shape[1]
            self._medians = imputer.statistics_.astype(np.float64) * unit
            indicator = imputer.indicator_
            self._indicator_columns = indicator.features_ if indicator is not None else []
            self._mean = scaler.mean_.astype(np.float64)
            self._mean[:k] *= unit
            self._scale = scaler.scale_.astype(np.float64)
            # the scaler gives a constant column scale 1 (it never divides by ~0); keep that
            constant = self._scale[:k] != np.sqrt(scaler.var_[:k])
            self._scale[:k] = np.where(constant, 1.0, self._scale[:k] * unit)
            self.n_numeric_ = len(self._mean)
            # kept as plain names so a saved model needs no sklearn objects (persistence)
            self._numeric_names_out = [
                str(n) for n in self.numeric_.get_feature_names_out(self._numeric_names())
            ]
            self._scale_numeric(numeric)  # raises, naming the column, if scaling overflows
        else:
            self.numeric_ = None
            self.n_numeric_ = 0
        self.cardinalities_ = [len(self.categories_[c]) + 1 for c in self.categories_]
        self.embedding_dims_ = [
            int(min(self.max_embedding_dim, max(1, round(1.6 * k**0.56))))
            for k in self.cardinalities_
        ]
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "column_kinds_")
        X = self._check_schema(as_frame(X))
        if len(X) == 0:
            width = self.n_numeric_ + len(self.categories_)
            return np.zeros((0, width), dtype=np.float32)
        blocks = []
        if self.n_numeric_:
            blocks.append(self._scale_numeric(self._numeric_block(X)))
        for c, cats in self.categories_.items():
            codes = label_codes(X[c], cats).astype(np.float32) + 1.0  # unknown -1 -> 0
            blocks.append(codes[:, None])
        if not blocks:
            return np.zeros((len(X), 0), dtype=np.float32)
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)

    def transform_record(self, record: Mapping) -> np.ndarray:
        """Encode one row given as a mapping ``{column: value}``; shape ``(1, width)``.

        The matrix :meth:`transform` makes of a one-row frame holding the same values,
        built without pandas (tens of microseconds instead of milliseconds): the
        preprocessing of ``MultiTaskEstimator.predict_record``. A numeric column takes a
        real number, or None / NaN / ``pd.NA`` when missing; a categorical column any
        hashable value, matched to the fitted categories by equality as in a dict
        (missing or unseen -> code 0); a datetime column anything ``pd.to_datetime``
        reads. Every fitted column must be present, and no other.

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"km": [1.0, None, 3.0], "zone": ["a", "b", "a"]})
        >>> pre = FeaturePreprocessor().fit(X)
        >>> row = pre.transform_record({"km": None, "zone": "new"})
        >>> frame = pd.DataFrame({"km": [None], "zone": ["new"]}).astype({"km": float})
        >>> bool((row == pre.transform(frame)).all())
        True
        """
        check_is_fitted(self, "column_kinds_")
        if not isinstance(record, Mapping):
            raise TypeError(
                f"record must be a mapping {{column: value}}, got {type(record).__name__}."
            )
        kinds = self.column_kinds_
        if len(record) != len(kinds) or any(c not in record for c in kinds):
            missing = [c for c in kinds if c not in record]
            extra = [c for c in record if c not in kinds]
            raise ValueError(
                f"The record does not have the columns seen in fit: missing {missing!r}, "
                f"unexpected {extra!r}."
            )
        row = np.empty((1, self.n_numeric_ + len(self.categories_)), dtype=np.float32)
        if self.n_numeric_:
            numeric_cols = self._columns("numeric")
            values = [_record_number(record[c], c) for c in numeric_cols]
            infinite = [c for c, v in zip(numeric_cols, values) if math.isinf(v)]
            if infinite:
                raise ValueError(
                    f"Feature column {infinite[0]!r} is infinite; pass NaN (imputed) or a "
                    "finite number."
                )
            for c in self._columns("datetime"):
                values.extend(_datetime_parts(pd.Series([record[c]]))[0])
            row[:, : self.n_numeric_] = self._scale_numeric(
                np.asarray(values, dtype=np.float64)[None, :]
            )
        for j, (c, lookup) in enumerate(self._category_dicts().items()):
            row[0, self.n_numeric_ + j] = _record_code(lookup, record[c], c) + 1
        return row

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "column_kinds_")
        names = []
        if self.n_numeric_:
            names += list(self._numeric_names_out)
        names += [f"{c}__code" for c in self.categories_]
        return np.asarray(names, dtype=object)

    # -- helpers -------------------------------------------------------------------------

    def _columns(self, kind: str) -> list:
        return [c for c, k in self.column_kinds_.items() if k == kind]

    def _category_dicts(self) -> dict[object, dict[object, int]]:
        """Categorical column -> {category: position}, built once per fitted state."""
        cached = _RECORD_LOOKUPS.get(self)
        if cached is None or cached[0] is not self.categories_:  # first call, or refitted
            dicts = {c: {v: i for i, v in enumerate(cats)} for c, cats in self.categories_.items()}
            cached = (self.categories_, dicts)
            _RECORD_LOOKUPS[self] = cached
        return cached[1]

    def _numeric_names(self) -> list[str]:
        names = [str(c) for c in self._columns("numeric")]
        for c in self._columns("datetime"):
            names += [f"{c}__{part}" for part in DATETIME_PARTS]
        return names

    def _numeric_block(self, X: pd.DataFrame) -> np.ndarray:
        """Numeric columns, then datetime parts, as one float64 matrix (NaN = missing).

        ``X`` has the fitted columns in the fitted order (fit's own frame, or one that
        passed :meth:`_check_schema`), so numeric columns are taken by position: a
        selection by names costs ~1 ms even for one row.
        """
        numeric_cols = self._columns("numeric")
        positions = [i for i, kind in enumerate(self.column_kinds_.values()) if kind == "numeric"]
        parts = [X.take(positions, axis=1).to_numpy(dtype=np.float64, na_value=np.nan)]
        infinite = np.isinf(parts[0]).any(axis=0)
        if infinite.any():
            bad = [c for c, flag in zip(numeric_cols, infinite) if flag]
            raise ValueError(
                f"Feature column {bad[0]!r} contains infinite values (infinite columns: "
                f"{bad!r}); replace them with NaN (imputed) or finite numbers."
            )
        for c in self._columns("datetime"):
            parts.append(_datetime_parts(X[c]))
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def _scale_numeric(self, values: np.ndarray) -> np.ndarray:
        """Median-impute, append missing indicators, standardise (the fitted pipeline)."""
        missing = np.isnan(values)
        filled = np.where(missing, self._medians, values)
        full = np.hstack([filled, missing[:, self._indicator_columns]])
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = (full - self._mean) / self._scale
        # finite in float64 is not enough: the network reads float32
        finite = np.abs(scaled[:, : values.shape[1]]) <= np.finfo(np.float32).max
        if not finite.all():
            names = self._numeric_names()
            bad = [names[j] for j in np.flatnonzero(~finite.all(axis=0))]
            raise ValueError(
                f"Feature columns {bad!r} have values too large to scale (overflow); "
                "rescale them."
            )
        return scaled.astype(np.float32)

    def _check_schema(self, X: pd.DataFrame) -> pd.DataFrame:
        check_unique_names(X)  # X[name] must be one column, or the layout shifts silently
        expected = list(self.feature_names_in_)
        if X.columns.tolist() != expected:  # else exactly the fitted columns, in order
            missing = [c for c in expected if c not in X.columns]
            extra = [c for c in X.columns if c not in self.column_kinds_]
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing columns {missing!r}")
                if extra:
                    parts.append(f"unexpected columns {extra!r}")
                raise ValueError(
                    "X does not have the columns seen in fit: " + "; ".join(parts) + "."
                )
            X = X[expected]  # columns are matched by name, so a reordered frame is fine
        # names from ``expected`` (X's columns now): iterating X.dtypes' index is slower
        for c, dtype in zip(expected, X.dtypes.tolist()):
            kind = dtype_kind(dtype, c)
            if kind != self.column_kinds_[c]:
                raise ValueError(
                    f"Feature column {c!r} was {self.column_kinds_[c]} in fit but is {kind} "
                    f"(dtype {dtype}) now."
                )
        return X


def _datetime_parts(column: pd.Series) -> np.ndarray:
    """The :data:`DATETIME_PARTS` of a datetime column, float64 ``(n, 6)``, NaN = missing."""
    stamp = pd.to_datetime(column)
    return np.column_stack(
        [
            getattr(stamp.dt, part).to_numpy(dtype=np.float64, na_value=np.nan)
            for part in DATETIME_PARTS
        ]
    )


#: Per fitted preprocessor, the category dicts of ``transform_record`` (derived state,
#: kept out of the object so that saving and pickling never see it)
_RECORD_LOOKUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _record_number(value, column: object) -> float:
    """A record's value for a numeric column as a float; NaN when missing."""
    if type(value) is float or type(value) is int:  # the common case, before the ABC checks
        return float(value)
    if value is None or value is pd.NA:
        return np.nan
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise ValueError(
        f"Feature column {column!r} was numeric in fit but the record holds {value!r} "
        f"({type(value).__name__})."
    )


def _record_code(lookup: dict, value, column: object) -> int:
    """Position of a record's value among a column's categories; -1 if missing or unseen."""
    if value is None or value is pd.NA or value is pd.NaT:
        return -1
    if isinstance(value, float) and value != value:  # NaN
        return -1
    try:
        return lookup.get(value, -1)
    except TypeError as exc:  # unhashable, e.g. a list
        raise TypeError(
            f"Feature column {column!r} got {value!r}, which cannot be a category."
        ) from exc


def check_unique_names(X: pd.DataFrame) -> None:
    """Raise a ValueError naming the duplicated column names of ``X``, if any."""
    if X.columns.duplicated().any():
        dup = list(X.columns[X.columns.duplicated()].unique())
        raise ValueError(f"X has duplicated column names {dup!r}; names must be unique.")


def as_frame(X) -> pd.DataFrame:
    """A DataFrame view of ``X``; arrays get positional column names ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got an array of shape {arr.shape}.")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def label_codes(values: pd.Series, labels: pd.Index) -> np.ndarray:
    """Position of each value in ``labels``; -1 for a missing or unknown value."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # map the few categories, then gather: avoids hashing every row
        lookup = _category_lookup(labels, values.dtype.categories)
        return lookup[values.array.codes]
    if values.dtype == np.bool_:  # two values: look them up once, not a hash per row
        return labels.get_indexer([False, True])[values.to_numpy().astype(np.intp)]
    return labels.get_indexer(values)


#: (labels, categories) -> lookup of :func:`label_codes`, for categorical columns whose
#: dtype is reused from call to call (slices of one frame, a server's fixed dtype), where
#: mapping the categories again would be most of a small predict's preprocessing. Both
#: Index objects are immutable, so the pair's identity decides the lookup; the weak
#: references tell the live pair from new objects that happen to reuse a dead one's id.
_CATEGORY_LOOKUPS: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, np.ndarray]] = {}


def _category_lookup(labels: pd.Index, categories: pd.Index) -> np.ndarray:
    """Position in ``labels`` of each category, then -1 (the code of a missing value)."""
    key = (id(labels), id(categories))
    hit = _CATEGORY_LOOKUPS.get(key)
    if hit is not None and hit[0]() is labels and hit[1]() is categories:
        return hit[2]
    lookup = np.append(labels.get_indexer(categories), -1)
    lookup.flags.writeable = False  # shared between calls
    if len(_CATEGORY_LOOKUPS) >= 256:  # bounded: entries of dead frames are dropped here
        _CATEGORY_LOOKUPS.clear()
    _CATEGORY_LOOKUPS[key] = (weakref.ref(labels), weakref.ref(categories), lookup)
    return lookup
