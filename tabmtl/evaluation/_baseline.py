"""The per-target gradient-boosting baseline of the transfer analysis and the benchmarks.

scikit-learn's ``HistGradientBoostingRegressor`` / ``HistGradientBoostingClassifier``
with default settings and native categorical splits, one model per target, trained on
the rows where that target is labelled: a strong non-neural reference to read a
multi-task gain against.

Examples
--------
>>> hX = hgb_frame(X)  # doctest: +SKIP
>>> model = fit_hgb(task, hX.iloc[train], y.iloc[train], random_state=0)  # doctest: +SKIP
>>> hgb_output(model, task, hX.iloc[test])  # values, or (n, K) probabilities  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from tabmtl._data.targets import TargetKind
from tabmtl.evaluation._outputs import aligned_proba

#: Categorical columns with more categories than this become integer codes (HistGB
#: splits natively on at most 255 categories).
MAX_CATEGORIES = 250


def hgb_frame(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` as HistGradientBoosting reads it.

    Text / bool columns become categories (native categorical splits), categories beyond
    its bin limit integer codes, datetimes numbers. Call it on every row at once (train
    and test together) so the codes agree between them.

    Examples
    --------
    >>> frame = hgb_frame(pd.DataFrame({"city": ["a", "b"], "x": [1.0, 2.0]}))
    >>> [str(t) for t in frame.dtypes]
    ['category', 'float64']
    """
    out = {}
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[c] = col.astype("int64").where(col.notna()).astype("float64")
            continue
        is_text = pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(
            col.dtype
        )
        if pd.api.types.is_bool_dtype(col.dtype) or is_text:
            col = col.astype("category")
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.cat.remove_unused_categories()
            if len(col.cat.categories) > MAX_CATEGORIES:
                codes = col.cat.codes.astype("float64")
                col = codes.where(codes >= 0)
        out[c] = col
    return pd.DataFrame(out, index=X.index)


def fit_hgb(
    task: TargetKind, X: pd.DataFrame, y: pd.Series, *, random_state: object = None
) -> HistGradientBoostingRegressor | HistGradientBoostingClassifier:
    """Fit the baseline of one task on the rows of ``X`` (from :func:`hgb_frame`) where
    ``y`` is labelled; a classifier learns the task's class indices."""
    present = y.notna().to_numpy()
    if task.is_regression:
        model = HistGradientBoostingRegressor(
            categorical_features="from_dtype", random_state=random_state
        )
        return model.fit(X[present], y[present].to_numpy(dtype=np.float64))
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", random_state=random_state
    )
    return model.fit(X[present], task.encode(y[present]).astype(np.int64))


def hgb_output(model, task: TargetKind, X: pd.DataFrame) -> np.ndarray:
    """A fitted baseline's output for ``X`` in the common format
    (:mod:`tabmtl.evaluation._outputs`): values, or probabilities in ``task.classes_``
    order (0 for a class absent from its training rows)."""
    if task.is_regression:
        return np.asarray(model.predict(X), dtype=np.float64)
    return aligned_proba(model.predict_proba(X), model.classes_, len(task.classes_))
