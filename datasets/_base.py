"""Shared machinery of the dataset builders: schema, parquet cache, validation, summary.

Every builder module declares a :class:`DatasetSpec` (which columns are features, which
are targets and of which kind) and a ``build_frame()`` function returning one DataFrame
with exactly those columns. This module writes that frame to a parquet file with the
schema stored as JSON in the file's schema metadata, reads it back with the declared
dtypes, and checks the dtype conventions all datasets share:

* regression targets are ``float64`` (missing label = NaN);
* binary targets are pandas ``"boolean"`` (missing label = ``<NA>``);
* multiclass targets are pandas ``category`` (missing label = NaN);
* categorical features are pandas ``category``; numeric features are int or float;
  no datetime column is ever a feature.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Key of the JSON schema in the parquet file's schema metadata.
METADATA_KEY = b"tabmtl.dataset"

TARGET_KINDS = ("regression", "binary", "multiclass")
FEATURE_KINDS = ("numeric", "categorical")

#: Environment variable that moves the cache folder (default: ``datasets/_cache``).
CACHE_ENV = "TABMTL_DATA_CACHE"


@dataclass(frozen=True)
class DatasetSpec:
    """Declared schema of one benchmark dataset.

    Parameters
    ----------
    name : str
        Registry name, also the parquet file's stem.
    version : int
        Bumped whenever the builder's output changes; a cached file whose stored
        schema (version included) differs is rebuilt on the next load.
    features : Mapping[str, str]
        Feature column -> ``"numeric"`` or ``"categorical"``, in output order.
    targets : Mapping[str, str]
        Target column -> ``"regression"``, ``"binary"`` or ``"multiclass"``.
    build : Callable[[], pd.DataFrame]
        Returns the full frame: features, targets and groups columns.
    source : str
        Where the data comes from (package and file).
    license : str
        Licence of the data.
    groups : tuple of str, default=()
        Identifier columns stored next to the data but neither features nor targets
        (e.g. a person id for grouped cross-validation).
    dropped : Mapping[str, str], default={}
        Source column -> why it is not a feature (leakage, identifier, redundancy).
    """

    name: str
    version: int
    features: Mapping[str, str]
    targets: Mapping[str, str]
    build: Callable[[], pd.DataFrame]
    source: str
    license: str
    groups: tuple[str, ...] = ()
    dropped: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad_t = {c: k for c, k in self.targets.items() if k not in TARGET_KINDS}
        bad_f = {c: k for c, k in self.features.items() if k not in FEATURE_KINDS}
        if bad_t or bad_f:
            raise ValueError(f"{self.name}: unknown kinds {bad_t or bad_f!r}")
        overlap = set(self.features) & set(self.targets)
        if overlap:
            raise ValueError(f"{self.name}: columns both feature and target: {overlap!r}")

    @property
    def columns(self) -> list[str]:
        """All stored columns: features, then targets, then groups."""
        return [*self.features, *self.targets, *self.groups]

    def metadata(self) -> dict[str, object]:
        """The JSON-serialisable schema written into the parquet file."""
        return {
            "name": self.name,
            "version": self.version,
            "features": dict(self.features),
            "targets": dict(self.targets),
            "groups": list(self.groups),
            "dropped": dict(self.dropped),
            "source": self.source,
            "license": self.license,
        }


def cache_dir() -> Path:
    """Folder holding the built parquet files (created on demand, git-ignored)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(__file__).resolve().parent / "_cache"


def cache_path(spec: DatasetSpec) -> Path:
    """Parquet file of one dataset."""
    return cache_dir() / f"{spec.name}.parquet"


def validate(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    """Raise ``ValueError`` unless ``frame`` follows ``spec`` and the dtype conventions."""
    if list(frame.columns) != spec.columns:
        raise ValueError(
            f"{spec.name}: columns {list(frame.columns)!r} differ from the declared "
            f"{spec.columns!r}"
        )
    problems = []
    for col, kind in spec.features.items():
        dtype = frame[col].dtype
        if kind == "categorical" and not isinstance(dtype, pd.CategoricalDtype):
            problems.append(f"feature {col!r} must be category, is {dtype}")
        if kind == "numeric" and (
            not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        ):
            problems.append(f"feature {col!r} must be int or float, is {dtype}")
    for col, kind in spec.targets.items():
        dtype = frame[col].dtype
        ok = {
            "regression": dtype == np.float64,
            "binary": isinstance(dtype, pd.BooleanDtype),
            "multiclass": isinstance(dtype, pd.CategoricalDtype),
        }[kind]
        if not ok:
            problems.append(f"{kind} target {col!r} has dtype {dtype}")
        if frame[col].notna().sum() == 0:
            problems.append(f"target {col!r} is entirely missing")
    if problems:
        raise ValueError(f"{spec.name}: " + "; ".join(problems))


def write(frame: pd.DataFrame, spec: DatasetSpec, path: Path | None = None) -> Path:
    """Validate ``frame`` and write it atomically to the cache as parquet.

    The schema (``spec.metadata()``) is stored as JSON under :data:`METADATA_KEY` in the
    parquet schema metadata, next to pandas' own metadata.
    """
    validate(frame, spec)
    path = cache_path(spec) if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(spec.metadata()).encode()
    table = table.replace_schema_metadata(meta)
    # Write to a temporary file in the same folder, then rename: a concurrent reader
    # never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{spec.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_metadata(path: Path) -> dict[str, object] | None:
    """The stored schema of a parquet file, or None if it has none or cannot be read."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    raw = meta.get(METADATA_KEY)
    return None if raw is None else json.loads(raw)


def is_current(spec: DatasetSpec) -> bool:
    """Whether the cached file exists and was written with exactly this schema.

    Any change of the declared schema (version, columns, kinds, notes) makes the cached
    file stale; a change of a builder's logic alone must bump its ``VERSION``.
    """
    path = cache_path(spec)
    if not path.exists():
        return False
    meta = read_metadata(path)
    return meta == json.loads(json.dumps(spec.metadata()))


def read(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """Read a built parquet file and check it against ``spec``."""
    frame = pq.read_table(path).to_pandas()
    for col, kind in spec.targets.items():  # belt and braces: pin the declared dtypes
        if kind == "binary" and not isinstance(frame[col].dtype, pd.BooleanDtype):
            frame[col] = frame[col].astype("boolean")
        elif kind == "regression":
            frame[col] = frame[col].astype(np.float64)
    validate(frame, spec)
    return frame


def to_boolean(values: pd.Series, true: object, false: object) -> pd.Series:
    """Map a two-valued column to pandas ``"boolean"``; anything else becomes ``<NA>``."""
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[values == true] = True
    out[values == false] = False
    return out


def summarize(frame: pd.DataFrame, spec: DatasetSpec) -> str:
    """Plain-text summary: rows, columns, per-target kind/missing rate/distribution."""
    lines = [
        f"{spec.name}: {len(frame):,} rows, {len(spec.features)} features, "
        f"{len(spec.targets)} targets",
        f"  {'target':<16} {'kind':<11} {'missing':>8}  distribution of present labels",
    ]
    for col, kind in spec.targets.items():
        y = frame[col]
        present = y.dropna()
        if kind == "regression":
            desc = (
                f"mean {present.mean():.4g}, sd {present.std():.4g}, "
                f"min {present.min():.4g}, max {present.max():.4g}"
            )
        elif kind == "binary":
            desc = f"True {present.astype(bool).mean():.2%} of {len(present):,}"
        else:
            shares = present.value_counts(normalize=True, sort=False)
            desc = ", ".join(f"{k} {v:.1%}" for k, v in shares.items())
        lines.append(f"  {col:<16} {kind:<11} {y.isna().mean():>8.2%}  {desc}")
    miss = frame[list(spec.features)].isna().mean()
    miss = miss[miss > 0]
    feats = ", ".join(f"{c} {m:.2%}" for c, m in miss.items()) if len(miss) else "none"
    lines.append(f"  features with missing values: {feats}")
    return "\n".join(lines)
