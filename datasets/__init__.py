"""Offline benchmark datasets for tabular multi-target prediction.

Each dataset is built from an installed package (or generated), written once to a
parquet file in ``datasets/_cache/`` with its schema (features, targets and their kinds)
in the file's metadata, and loaded as an ``(X, Y)`` pair of DataFrames::

    >>> import datasets
    >>> X, Y = datasets.load("penguins", n_rows=100)
    >>> datasets.target_kinds("penguins")
    {'species': 'multiclass', 'sex_male': 'binary', 'body_mass_g': 'regression'}

Conventions: regression targets are ``float64`` (NaN = missing label), binary targets
pandas ``"boolean"`` (``<NA>`` = missing), multiclass targets ``category``; categorical
features are ``category``, numeric features int or float, and ``X`` has no datetime
column. Each dataset has a card in ``datasets/cards/<name>.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import _base, eta_fare, flights, framingham, penguins, rand_hie, star
from ._base import DatasetSpec, cache_dir

__all__ = [
    "NAMES",
    "DatasetSpec",
    "build_parquet",
    "cache_dir",
    "feature_kinds",
    "groups",
    "load",
    "spec",
    "target_kinds",
]

_SPECS: dict[str, DatasetSpec] = {
    m.SPEC.name: m.SPEC for m in (flights, framingham, penguins, rand_hie, eta_fare, star)
}

#: Names of the available datasets.
NAMES: tuple[str, ...] = tuple(_SPECS)

# In-process cache of full frames, keyed by name and the parquet file's identity.
_FRAMES: dict[str, tuple[tuple[str, int, int], pd.DataFrame]] = {}


def spec(name: str) -> DatasetSpec:
    """The declared schema of a dataset.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.

    Returns
    -------
    DatasetSpec
    """
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"Unknown dataset {name!r}; available: {list(NAMES)!r}") from None


def target_kinds(name: str) -> dict[str, str]:
    """Target column -> ``"regression"``, ``"binary"`` or ``"multiclass"``, in order."""
    return dict(spec(name).targets)


def feature_kinds(name: str) -> dict[str, str]:
    """Feature column -> ``"numeric"`` or ``"categorical"``, in order."""
    return dict(spec(name).features)


def build_parquet(name: str, force: bool = False) -> Path:
    """Build a dataset's parquet file unless an up-to-date one is cached.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    force : bool, default=False
        Rebuild even if the cached file is current.

    Returns
    -------
    pathlib.Path
        The parquet file.

    Notes
    -----
    Not named ``build``: that is the CLI submodule (``python -m datasets.build``), and
    importing it would shadow a package attribute of the same name.
    """
    s = spec(name)
    if force or not _base.is_current(s):
        _base.write(s.build(), s)
        _FRAMES.pop(name, None)
    return _base.cache_path(s)


def _frame(name: str) -> pd.DataFrame:
    s = spec(name)
    path = build_parquet(name)
    st = os.stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size)
    cached = _FRAMES.get(name)
    if cached is None or cached[0] != key:
        cached = (key, _base.read(path, s))
        _FRAMES[name] = cached
    return cached[1]


def _rows(frame: pd.DataFrame, n_rows: int | None, random_state: int) -> pd.DataFrame:
    if n_rows is None or n_rows >= len(frame):
        if n_rows is not None and n_rows < 1:
            raise ValueError(f"n_rows must be positive, got {n_rows!r}")
        return frame
    if n_rows < 1:
        raise ValueError(f"n_rows must be positive, got {n_rows!r}")
    return frame.sample(n=n_rows, random_state=random_state).reset_index(drop=True)


def load(
    name: str, n_rows: int | None = None, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load a dataset as features and targets, building and caching it on first use.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    n_rows : int, optional
        If given and smaller than the dataset, a random sample of that many rows
        (without replacement, seeded by ``random_state``, in random order); otherwise
        the whole dataset in file order.
    random_state : int, default=0
        Seed of the sample.

    Returns
    -------
    X : pandas.DataFrame
        Feature columns (category or numeric dtypes), RangeIndex.
    Y : pandas.DataFrame
        Target columns in the declared kinds' dtypes, same index as ``X``.
    """
    s = spec(name)
    frame = _rows(_frame(name), n_rows, random_state)
    return frame[list(s.features)].copy(), frame[list(s.targets)].copy()


def groups(name: str, n_rows: int | None = None, random_state: int = 0) -> pd.DataFrame | None:
    """Group identifiers aligned with :func:`load` (same arguments, same rows).

    For grouped cross-validation: ``rand_hie`` has several person-years per person
    (``zper``), so a random row split puts the same person on both sides.

    Returns
    -------
    pandas.DataFrame or None
        The dataset's group columns, or None if it declares none.
    """
    s = spec(name)
    if not s.groups:
        return None
    frame = _rows(_frame(name), n_rows, random_state)
    return frame[list(s.groups)].copy()
