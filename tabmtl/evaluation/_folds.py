"""Cross-validation folds of the transfer analysis: K-fold, stratified and/or grouped.

Every model of an analysis is fit on the same folds, so their scores pair fold by fold.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from tabmtl.errors import InputError

#: Numeric columns with more distinct values than this are binned before stratifying.
_MAX_STRATA = 20



def _strata(values: pd.Series, n_splits: int) -> np.ndarray:
    """Labels to stratify on: the column itself, numbers with many values binned by
    quantile, and missing values as a stratum of their own."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        if numbers.nunique() > _MAX_STRATA:
            bins = pd.qcut(numbers, q=min(10, max(2, 2 * n_splits)), duplicates="drop")
            codes = bins.cat.codes.to_numpy()
            return np.where(numbers.isna().to_numpy(), -1, codes).astype(str)
    labels = values.astype(object).where(values.notna(), "<missing>")
    return labels.astype(str).to_numpy()


def make_folds(
    n_rows: int,
    cv: int | object = 5,
    *,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    random_state: int | None = 0,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Cross-validation folds over ``n_rows`` rows and a description of how they were made.

    Parameters
    ----------
    n_rows : int
        Number of rows.
    cv : int, splitter or iterable of (train, test), default=5
        K for a shuffled K-fold split (stratified and/or grouped as asked), a
        scikit-learn splitter, or explicit folds.
    stratify : pandas.Series, optional
        Labels whose proportions every fold keeps (numbers with many distinct values are
        binned by quantile; a missing value is a stratum of its own).
    groups : pandas.Series, optional
        Group of each row (e.g. a patient id): a group is never on both sides of a fold.
    random_state : int, optional
        Seed of the shuffle.

    Returns
    -------
    folds : list of (train, test) integer arrays
    description : str

    Examples
    --------
    >>> folds, how = make_folds(10, 5)
    >>> len(folds), how
    (5, 'KFold(5)')
    """
    placeholder = np.zeros((n_rows, 1))
    keys = None if groups is None else groups.astype(object).astype(str).to_numpy()
    if isinstance(cv, (int, np.integer)):
        k = int(cv)
        if k < 2:
            raise InputError(f"cv must be at least 2 folds, got {k}.")
        if k > n_rows:
            raise InputError(f"cv={k} folds is more than the {n_rows} rows.")
        strata = None if stratify is None else _strata(stratify, k)
        if strata is not None and keys is not None:
            splitter = StratifiedGroupKFold(k, shuffle=True, random_state=random_state)
            how = f"StratifiedGroupKFold({k}) on {stratify.name}, groups {groups.name}"
        elif keys is not None:
            splitter = GroupKFold(k, shuffle=True, random_state=random_state)
            how = f"GroupKFold({k}) by {groups.name}"
        elif strata is not None:
            splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
            how = f"StratifiedKFold({k}) on {stratify.name}"
        else:
            splitter = KFold(k, shuffle=True, random_state=random_state)
            how = f"KFold({k})"
        with warnings.catch_warnings():
            # "the least populated class has only N members": the split is still valid
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            folds = list(splitter.split(placeholder, strata, keys))
    elif hasattr(cv, "split"):
        y = None if stratify is None else _strata(stratify, cv.get_n_splits())
        folds, how = list(cv.split(placeholder, y, keys)), repr(cv)
    else:
        folds = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
        how = f"{len(folds)} given folds"
    if len(folds) < 2:
        raise InputError("Cross-validation needs at least 2 folds.")
    return [(np.asarray(tr), np.asarray(te)) for tr, te in folds], how

