"""The user's feature columns: their kinds, and their values as numbers or label codes.

Helpers shared by the feature preprocessor, the target kinds and the estimators: what
kind a column is (numeric, categorical, datetime), a frame view of any 2-D input, the
numeric parts of a datetime column, and the position of each value among known labels.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

from tabmtl.errors import InputError, InputTypeError

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
            raise InputTypeError(f"Feature column {name!r} is complex; tabmtl needs real values.")
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "categorical"
    raise InputTypeError(
        f"Feature column {name!r} has dtype {dtype}, which tabmtl cannot encode; "
        "convert it to numbers, strings or a category."
    )


def datetime_parts(column: pd.Series) -> np.ndarray:
    """The :data:`DATETIME_PARTS` of a datetime column, float64 ``(n, 6)``, NaN = missing."""
    stamp = pd.to_datetime(column)
    return np.column_stack(
        [
            getattr(stamp.dt, part).to_numpy(dtype=np.float64, na_value=np.nan)
            for part in DATETIME_PARTS
        ]
    )



def check_unique_names(X: pd.DataFrame) -> None:
    """Raise a ValueError naming the duplicated column names of ``X``, if any."""
    if X.columns.duplicated().any():
        dup = list(X.columns[X.columns.duplicated()].unique())
        raise InputError(f"X has duplicated column names {dup!r}; names must be unique.")


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
        raise InputError(f"X must be 2-dimensional, got an array of shape {arr.shape}.")
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
#: Index objects are immutable, so the pair's identity decides the lookup. An entry
#: leaves the moment either Index dies (the weak references' callback), before its id can
#: be reused, so a new Index never meets a dead one's lookup, and dead entries never
#: crowd out live ones; the bound only caps live pairs.
_CATEGORY_LOOKUPS: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, np.ndarray]] = {}
_MAX_CATEGORY_LOOKUPS = 256


def _category_lookup(labels: pd.Index, categories: pd.Index) -> np.ndarray:
    """Position in ``labels`` of each category, then -1 (the code of a missing value)."""
    key = (id(labels), id(categories))
    hit = _CATEGORY_LOOKUPS.get(key)
    if hit is not None and hit[0]() is labels and hit[1]() is categories:
        return hit[2]
    lookup = np.append(labels.get_indexer(categories), -1)
    lookup.flags.writeable = False  # shared between calls
    if len(_CATEGORY_LOOKUPS) >= _MAX_CATEGORY_LOOKUPS:
        _CATEGORY_LOOKUPS.clear()

    def forget(ref: weakref.ref) -> None:  # this entry only, never a later one
        entry = _CATEGORY_LOOKUPS.get(key)
        if entry is not None and ref in (entry[0], entry[1]):
            del _CATEGORY_LOOKUPS[key]

    _CATEGORY_LOOKUPS[key] = (weakref.ref(labels, forget), weakref.ref(categories, forget), lookup)
    return lookup


def as_python_scalar(value: object) -> object:
    """``value`` with a numpy scalar unwrapped (``np.int64(3)`` -> ``3``); others as is."""
    return value.item() if isinstance(value, np.generic) else value
