"""The default feature preprocessor.

Numeric columns: median imputation with a missing indicator, then standard scaling
(scikit-learn's ``SimpleImputer`` and ``StandardScaler``). Categorical columns (bool,
category, object, string): integer codes for the network's embeddings, with code 0
reserved for "unknown" (a category unseen in fit, or a missing value), so predict never
fails on a new category. Datetime columns are expanded into numeric parts; time-zone-
aware datetimes are converted to UTC first (the same instant gives the same parts in any
zone), and a column mixing naive and aware datetimes is refused.

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
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from tabmtl._data.columns import (
    DATETIME_PARTS,
    as_frame,
    check_unique_names,
    column_kind,
    datetime_is_aware,
    datetime_parts,
    dtype_kind,
    label_codes,
)
from tabmtl._data.numeric import fit_numeric_pipeline, numeric_pipeline, pipeline_statistics
from tabmtl._data.recipe import build_recipe
from tabmtl.errors import InputError, InputTypeError

# the column helpers were defined here first; importable from here as before
__all__ = ["DATETIME_PARTS", "FeaturePreprocessor", "as_frame", "check_unique_names",
           "column_kind", "dtype_kind", "label_codes"]


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
            raise InputError("X is empty (0 rows); fit needs at least one row.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.column_kinds_ = {c: column_kind(X[c]) for c in X.columns}
        # aware datetimes are read in UTC; predict must then get aware ones too
        self.datetime_aware_ = {c: datetime_is_aware(X[c]) for c in self._columns("datetime")}
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
            self.numeric_ = fit_numeric_pipeline(numeric)
            # also kept as plain arrays: a saved model holds no sklearn objects, and
            # transform_record applies them without the pipeline
            self._medians, self._indicator_columns, self._mean, self._scale = (
                pipeline_statistics(self.numeric_)
            )
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
        """Encode ``X`` as the network's float32 input matrix ``(n, width)``.

        Numeric columns and datetime parts go through the fitted scikit-learn pipeline
        (median imputation with missing indicators, standard scaling); categorical
        columns become codes, 0 for a missing or unseen category. Time-zone-aware
        datetimes are read in UTC; a datetime column must be naive, or aware, as in fit.
        """
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
        (missing or unseen -> code 0); a datetime column a datetime (``datetime``,
        ``pd.Timestamp``, ``np.datetime64``) or a string ``pd.Timestamp`` reads, aware
        (read in UTC) or naive as in fit, never a bare number. Every fitted column must
        be present, and no other.

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
            raise InputTypeError(
                f"record must be a mapping {{column: value}}, got {type(record).__name__}."
            )
        kinds = self.column_kinds_
        if len(record) != len(kinds) or any(c not in record for c in kinds):
            missing = [c for c in kinds if c not in record]
            extra = [c for c in record if c not in kinds]
            raise InputError(
                f"The record does not have the columns seen in fit: missing {missing!r}, "
                f"unexpected {extra!r}."
            )
        row = np.empty((1, self.n_numeric_ + len(self.categories_)), dtype=np.float32)
        if self.n_numeric_:
            numeric_cols = self._columns("numeric")
            values = [_record_number(record[c], c) for c in numeric_cols]
            infinite = [c for c, v in zip(numeric_cols, values) if math.isinf(v)]
            if infinite:
                raise InputError(
                    f"Feature column {infinite[0]!r} is infinite; pass NaN (imputed) or a "
                    "finite number."
                )
            for c in self._columns("datetime"):  # a datetime, a string; not a number
                field = pd.Series([record[c]], dtype=object, name=c)
                values.extend(datetime_parts(field, self._aware(c))[0])
            row[:, : self.n_numeric_] = self._scale_record(
                np.asarray(values, dtype=np.float64)[None, :]
            )
        for j, (c, lookup) in enumerate(self._category_dicts().items()):
            row[0, self.n_numeric_ + j] = _record_code(lookup, record[c], c) + 1
        return row

    def recipe(self) -> dict:
        """How :meth:`transform` builds its matrix, as plain JSON-ready numbers.

        For a server without tabmtl (the exported models' ``tabmtl.preprocessing``): a
        numeric value (or a datetime part) missing -> its median; then every numeric
        column and missing indicator ``(value - mean) / scale``; a category -> ``1 +``
        its position in ``categories``, 0 when missing or unseen. Column order: numeric
        values, indicators, codes.

        Examples
        --------
        >>> import pandas as pd
        >>> pre = FeaturePreprocessor().fit(pd.DataFrame({"km": [1.0, 3.0], "zone": ["a", "b"]}))
        >>> pre.recipe()["numeric"], pre.recipe()["categorical"][0]["categories"]
        ([{'column': 'km', 'source': 'km', 'median': 2.0, 'mean': 2.0, 'scale': 1.0}], ['a', 'b'])
        """
        check_is_fitted(self, "column_kinds_")
        sources = [(str(c), None) for c in self._columns("numeric")]
        sources += [(str(c), part) for c in self._columns("datetime") for part in DATETIME_PARTS]
        statistics = (
            (self._medians, self._indicator_columns, self._mean, self._scale)
            if self.n_numeric_ else None  # all categorical: no numeric block
        )
        names = [str(n) for n in self.get_feature_names_out()]
        return build_recipe(sources, names, statistics, self.categories_)

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

    def _aware(self, column) -> bool | None:
        """Whether datetime ``column`` was time-zone aware in fit (None: unknown)."""
        return getattr(self, "datetime_aware_", {}).get(column)

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
            raise InputError(
                f"Feature column {bad[0]!r} contains infinite values (infinite columns: "
                f"{bad!r}); replace them with NaN (imputed) or finite numbers."
            )
        for c in self._columns("datetime"):
            parts.append(datetime_parts(X[c], self._aware(c)))
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def _scale_numeric(self, values: np.ndarray) -> np.ndarray:
        """Median-impute, append missing indicators, standardise: the fitted pipeline."""
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = self._numeric_pipeline().transform(values)
        return self._checked_float32(scaled, values.shape[1])

    def _scale_record(self, values: np.ndarray) -> np.ndarray:
        """:meth:`_scale_numeric` of one row, with the statistics applied in numpy: the
        same numbers without the pipeline's per-call validation (~10x faster)."""
        missing = np.isnan(values)
        filled = np.where(missing, self._medians, values)
        full = np.hstack([filled, missing[:, self._indicator_columns]])
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = (full - self._mean) / self._scale
        return self._checked_float32(scaled, values.shape[1])

    def _checked_float32(self, scaled: np.ndarray, n_values: int) -> np.ndarray:
        """``scaled`` as float32, or a ValueError naming the columns that overflow it."""
        # finite in float64 is not enough: the network reads float32
        finite = np.abs(scaled[:, :n_values]) <= np.finfo(np.float32).max
        if not finite.all():
            names = self._numeric_names()
            bad = [names[j] for j in np.flatnonzero(~finite.all(axis=0))]
            raise InputError(
                f"Feature columns {bad!r} have values too large to scale (overflow); "
                "rescale them."
            )
        return scaled.astype(np.float32)

    def _numeric_pipeline(self) -> Pipeline:
        """The fitted pipeline, rebuilt from the saved statistics for a loaded model."""
        if self.numeric_ is not None:
            return self.numeric_
        cached = _RESTORED_PIPELINES.get(self)
        if cached is None or cached[0] is not self._medians:  # first call, or refitted
            pipeline = numeric_pipeline(
                self._medians, self._indicator_columns, self._mean, self._scale
            )
            cached = (self._medians, pipeline)
            _RESTORED_PIPELINES[self] = cached
        return cached[1]

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
                raise InputError(
                    "X does not have the columns seen in fit: " + "; ".join(parts) + "."
                )
            X = X[expected]  # columns are matched by name, so a reordered frame is fine
        # names from ``expected`` (X's columns now): iterating X.dtypes' index is slower
        for c, dtype in zip(expected, X.dtypes.tolist()):
            kind = dtype_kind(dtype, c)
            if kind != self.column_kinds_[c] and not (  # datetimes kept as objects
                self.column_kinds_[c] == "datetime" and getattr(dtype, "kind", "") == "O"
            ):
                raise InputError(
                    f"Feature column {c!r} was {self.column_kinds_[c]} in fit but is {kind} "
                    f"(dtype {dtype}) now."
                )
        return X


#: Per loaded preprocessor (saved without its sklearn objects), the pipeline rebuilt from
#: its statistics (derived state, kept out of the object like the lookups below)
_RESTORED_PIPELINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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
    raise InputError(
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
        raise InputTypeError(
            f"Feature column {column!r} got {value!r}, which cannot be a category."
        ) from exc


