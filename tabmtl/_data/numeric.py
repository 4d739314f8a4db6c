"""The numeric block's scikit-learn pipeline: median imputation with missing indicators,
then standard scaling.

It is fitted without overflow on any magnitude (each column divided by its largest
absolute value first), and its statistics are then expressed in the columns' own units,
so that applying them by hand (the one-row fast path, an exported recipe) gives the
pipeline's numbers exactly. A saved model keeps only the statistics;
:func:`numeric_pipeline` rebuilds the fitted pipeline from them.
"""

from __future__ import annotations

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def fit_numeric_pipeline(values: np.ndarray) -> Pipeline:
    """The pipeline fitted on ``values`` (float64, NaN = missing), in their own units.

    Examples
    --------
    >>> import numpy as np
    >>> pipeline = fit_numeric_pipeline(np.array([[1.0], [np.nan], [3.0]]))
    >>> pipeline.transform(np.array([[np.nan]])).round(3).tolist()  # median, indicator
    [[0.0, 1.414]]
    """
    # the scaler's variance of values near 1e300 would overflow (their squares are inf)
    unit = np.max(np.abs(np.nan_to_num(values, nan=0.0)), axis=0, initial=0.0)
    unit = np.where(unit > 0, unit, 1.0)
    pipeline = _new_pipeline().fit(values / unit)  # an array: names such as 0, "0" may clash
    imputer, scaler = pipeline[0], pipeline[1]
    k = values.shape[1]
    mean = scaler.mean_.astype(np.float64)
    mean[:k] *= unit
    scale = scaler.scale_.astype(np.float64)
    # the scaler gives a constant column scale 1 (it never divides by ~0); keep that
    constant = scale[:k] != np.sqrt(scaler.var_[:k])
    scale[:k] = np.where(constant, 1.0, scale[:k] * unit)
    _set_statistics(pipeline, imputer.statistics_.astype(np.float64) * unit, mean, scale)
    return pipeline


def numeric_pipeline(
    medians: np.ndarray, indicator_columns, mean: np.ndarray, scale: np.ndarray
) -> Pipeline:
    """A fitted pipeline with these statistics (those of :func:`pipeline_statistics`)."""
    # fitted on two rows that only mark which columns have a missing indicator
    rows = np.zeros((2, len(medians)))
    rows[1, indicator_columns] = np.nan
    pipeline = _new_pipeline().fit(rows)
    _set_statistics(pipeline, medians, mean, scale)
    return pipeline


def pipeline_statistics(
    pipeline: Pipeline,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(medians, indicator_columns, mean, scale)`` of a fitted pipeline, as float64 copies:
    the value columns' medians, the positions of the columns with a missing indicator,
    and the mean and scale of every output column (values, then indicators)."""
    imputer, scaler = pipeline[0], pipeline[1]
    indicator = imputer.indicator_
    indicator_columns = indicator.features_ if indicator is not None else np.zeros(0, int)
    return (
        imputer.statistics_.astype(np.float64),
        np.asarray(indicator_columns),
        scaler.mean_.astype(np.float64),
        scaler.scale_.astype(np.float64),
    )


def _new_pipeline() -> Pipeline:
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    ).set_output(transform="default")  # arrays, whatever sklearn's global config says


def _set_statistics(
    pipeline: Pipeline, medians: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> None:
    """Give a fitted pipeline these statistics (its steps' public fitted attributes)."""
    imputer, scaler = pipeline[0], pipeline[1]
    imputer.statistics_ = np.array(medians, dtype=np.float64)
    scaler.mean_ = np.array(mean, dtype=np.float64)
    scaler.scale_ = np.array(scale, dtype=np.float64)
    with np.errstate(over="ignore"):
        scaler.var_ = np.square(scaler.scale_)  # unused by transform; consistent with scale_
