"""Which kind a target column is: read from its dtype, or named by the user."""

from __future__ import annotations

import pandas as pd

from tabmtl._data.targets.base import TARGET_KINDS
from tabmtl.errors import InputError, InputTypeError

#: Largest number of distinct values an integer column may have and still be read as
#: class labels; above it the column is a count/amount and becomes a regression target.
MAX_INT_CLASSES = 20

#: A label target with more distinct labels than this, and than half its labelled rows,
#: looks like an identifier or free text, not a class to predict (see
#: :func:`check_label_count`).
MAX_TARGET_CLASSES = 100

#: The kinds a user may name: the registered ones, and "classification" (binary or
#: multiclass by the number of labels).
KIND_NAMES = ("regression", "gaussian", "quantile", "binary", "multiclass", "classification")


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

    Examples
    --------
    >>> import pandas as pd
    >>> infer_kind(pd.Series([1.5, 2.0])), infer_kind(pd.Series(["a", "b", "c"]))
    ('regression', 'multiclass')
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
    raise InputTypeError(
        f"Target column {y.name!r} has dtype {dtype}, which tabmtl cannot read as a target; "
        "use float (regression), bool, category, string or integer labels."
    )


def check_label_count(name: object, n_classes: int, n_labelled: int) -> None:
    """Refuse a label target whose labels look like an identifier or free text.

    A classification target with more than :data:`MAX_TARGET_CLASSES` distinct labels,
    and more than half as many labels as labelled rows (most labels seen once), cannot
    be learned as classes: every class would have a row or two. The one rule of the
    library and the command line (``tabmtl fit`` reports it as bad input).

    Raises
    ------
    InputError
        Naming the column and its counts.

    Examples
    --------
    >>> check_label_count("species", 3, 344)
    >>> check_label_count("id", 344, 344)
    Traceback (most recent call last):
    ...
    tabmtl.errors.InputError: Target column 'id' has 344 distinct labels in 344 labelled rows, ...
    """
    if n_classes > MAX_TARGET_CLASSES and n_classes > n_labelled / 2:
        raise InputError(
            f"Target column {name!r} has {n_classes} distinct labels in {n_labelled} "
            "labelled rows, like an identifier or free text, not classes to predict. If "
            "it is a number to predict, declare it a regression target "
            f"(targets={{{name!r}: 'regression'}}; on the command line --target-kind "
            f"{name}=regression), else drop it from the targets."
        )


def resolve_kind(y: pd.Series, declared: str | None) -> str:
    """The registered kind of column ``y``: ``declared`` (a :data:`KIND_NAMES` entry) or,
    when None, the inferred one; "classification" becomes binary or multiclass."""
    kind = declared or infer_kind(y)
    if kind == "classification":
        kind = "binary" if y.nunique(dropna=True) == 2 else "multiclass"
    if kind not in TARGET_KINDS:
        raise InputError(
            f"Unknown target kind {kind!r} for column {y.name!r}; "
            f"valid kinds are {list(KIND_NAMES)!r}."
        )
    return kind


def _is_text(dtype) -> bool:
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
