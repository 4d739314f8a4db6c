"""What the blend accepts: the target frame, task sizes, one-row records."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tabmtl._data.targets import TargetSpec
from tabmtl.errors import InputError, InputTypeError


def record_frame(record: Mapping) -> pd.DataFrame:
    """A one-row frame of a record ``{feature: value}``."""
    if not isinstance(record, Mapping):
        raise InputTypeError(
            f"A record is a mapping {{feature: value}}, got {type(record).__name__}."
        )
    return pd.DataFrame({name: [value] for name, value in record.items()})


def check_targets(Y, n_rows: int) -> pd.DataFrame:
    """``Y`` as a target frame (a Series becomes one column) of ``n_rows`` rows."""
    if isinstance(Y, pd.Series):
        Y = Y.to_frame()
    if not isinstance(Y, pd.DataFrame):
        raise InputTypeError(
            f"Y must be a pandas DataFrame with one column per target, got {type(Y).__name__}."
        )
    if len(Y) != n_rows:
        raise InputError(f"X has {n_rows} rows but Y has {len(Y)}.")
    return Y


def check_task_sizes(spec: TargetSpec, Y: pd.DataFrame, folds: list) -> None:
    """Every task needs two labelled rows per fold to be cross-fitted for its weights."""
    need = 2 * len(folds)
    for task in spec.tasks_:
        n = int(Y[task.name].notna().sum())
        if n < need:
            raise InputError(
                f"Target {task.name!r} has {n} labelled rows; choosing its blend weights "
                f"on {len(folds)} cross-fitting folds needs at least {need}. Lower cv, or "
                "fit it with MultiTaskEstimator alone."
            )
