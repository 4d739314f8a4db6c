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
    """'numeric', 'categorical' or 'datetime' for one feature column.

    An object column whose values are all datetimes (pandas keeps datetimes of several
    time zones, or naive beside aware ones, as objects) is a datetime column.
    """
    kind = dtype_kind(col.dtype, col.name)
    if kind == "categorical" and col.dtype == object and len(col) and (
        pd.api.types.infer_dtype(col, skipna=True) in ("datetime", "datetime64")
    ):
        return "datetime"
    return kind


def datetime_is_aware(column: pd.Series) -> bool | None:
    """Whether a datetime column's values are time-zone aware; None when it holds no
    value (nothing to tell). A naive/aware mix is an InputError naming the column."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return True
    if pd.api.types.is_datetime64_dtype(column.dtype):
        return False if column.notna().any() else None
    zones = {_stamp(v, column.name).tz is not None for v in column.dropna()}
    if len(zones) > 1:
        raise InputError(
            f"Feature column {column.name!r} mixes naive and time-zone-aware datetimes; "
            "make them all aware (they are read in UTC) or all naive."
        )
    return zones.pop() if zones else None


def _stamp(value, name: object) -> pd.Timestamp:
    """One value of a datetime column or field as a Timestamp: a datetime, a numpy
    datetime64 or a string; a bare number is refused (it is no date, whatever its unit)."""
    if isinstance(value, (bool, np.bool_, int, float, np.number)):
        raise InputError(
            f"Feature column {name!r} held datetimes in fit but got the number {value!r}; "
            "pass a datetime or a string such as '2024-01-31 12:00'."
        )
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"Feature column {name!r} held datetimes in fit but got {value!r}, which is not "
            f"a datetime ({exc})."
        ) from None
    return stamp


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


def datetime_parts(column: pd.Series, aware: bool | None = None) -> np.ndarray:
    """The :data:`DATETIME_PARTS` of a datetime column, float64 ``(n, 6)``, NaN = missing.

    Time-zone-aware datetimes are read in UTC (the same instant gives the same parts in
    any zone). ``aware``: whether the column was aware in fit; a column of the other
    kind (naive for aware, or the reverse) is an InputError naming it.
    """
    is_aware = datetime_is_aware(column)
    if aware is not None and is_aware is not None and is_aware != aware:
        held, now = ("time-zone-aware", "naive") if aware else ("naive", "time-zone-aware")
        raise InputError(
            f"Feature column {column.name!r} held {held} datetimes in fit but {now} ones now; "
            "pass datetimes of the same kind (aware ones are read in UTC)."
        )
    if is_aware:
        stamp = pd.to_datetime(column, utc=True)
    elif isinstance(column.dtype, np.dtype) and column.dtype.kind == "M":
        stamp = column
    else:
        stamp = pd.to_datetime(column.map(lambda v: v if pd.isna(v) else _stamp(v, column.name)))
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
