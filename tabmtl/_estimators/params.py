"""Validation of the estimators' parameters, before any data is processed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tabmtl._data.targets.roles import check_auxiliary_params
from tabmtl._nn.numeric_embedding import resolve_numeric_embedding
from tabmtl.errors import InputError


def check_params(params: Mapping) -> None:
    """Raise :class:`~tabmtl.errors.InputError` naming the first parameter out of range.

    ``params`` is an estimator's ``get_params(deep=False)``.

    Examples
    --------
    >>> from tabmtl import MultiTaskEstimator
    >>> check_params(MultiTaskEstimator(dropout=1.5).get_params(deep=False))
    Traceback (most recent call last):
    ...
    tabmtl.errors.InputError: dropout must be in [0, 1), got 1.5.
    """
    if not (0.0 <= params["dropout"] < 1.0):
        raise InputError(f"dropout must be in [0, 1), got {params['dropout']!r}.")
    if not (0.0 <= params["label_smoothing"] < 1.0):
        raise InputError(
            f"label_smoothing must be in [0, 1), got {params['label_smoothing']!r}."
        )
    if params["numeric_scaling"] not in ("standard", "robust"):
        raise InputError(
            f"numeric_scaling must be 'standard' or 'robust', got {params['numeric_scaling']!r}."
        )
    resolve_numeric_embedding(params["numeric_embedding"])  # a clear error for a bad value
    threads = params.get("n_threads")
    if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
        raise InputError(f"n_threads must be None or a positive integer, got {threads!r}.")
    if params["early_stopping"] not in (True, False, "auto"):
        raise InputError(
            f"early_stopping must be True, False or 'auto', got {params['early_stopping']!r}."
        )
    for name in ("max_epochs", "batch_size", "patience", "ensemble_size"):
        value = params[name]
        if name == "patience" and isinstance(value, str) and value == "auto":
            continue
        if not isinstance(value, (int, np.integer)) or value < 1:
            allowed = "a positive integer or 'auto'" if name == "patience" else (
                "a positive integer")
            raise InputError(f"{name} must be {allowed}, got {value!r}.")
    if not (0.0 < params["validation_fraction"] < 1.0):
        raise InputError(
            f"validation_fraction must be in (0, 1), got {params['validation_fraction']!r}."
        )
    if any(int(h) < 1 for h in params["hidden_layer_sizes"]):
        raise InputError(
            f"hidden_layer_sizes must be positive, got {params['hidden_layer_sizes']!r}."
        )
    check_auxiliary_params(params.get("auxiliary"), params.get("auxiliary_weight", 1.0))
    fraction = params["calibration_fraction"]
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float, np.integer, np.floating))
        or not (0.0 <= fraction < 1.0)
    ):
        raise InputError(
            f"calibration_fraction must be a number in [0, 1) (0 turns calibration "
            f"off), got {fraction!r}."
        )
