"""The per-target boosting learner of the blend: its input frame, its default models, fits.

One model per target, fitted on the rows where that target is labelled. Categorical
columns go in as pandas categories (LightGBM reads the category dtype, scikit-learn's
HistGradientBoosting is built with ``categorical_features="from_dtype"``); the categories
are those of the training rows, so a value unseen in fit is missing at predict time.

The built-in learners are ``"lightgbm"`` (LightGBM, extras ``dev``/``bench``) and
``"histgb"`` (scikit-learn's HistGradientBoosting), both at their library defaults and
on ``n_jobs`` threads (1 unless asked: LightGBM's ``n_jobs``; HistGB's OpenMP pool
through ``threadpoolctl``); by default the blend takes LightGBM when it can be
imported, else HistGB (:func:`default_boosting_names`).

Examples
--------
>>> frame = BoostingFrame().fit(pd.DataFrame({"city": ["a", "b"], "x": [1.0, 2.0]}))
>>> [str(t) for t in frame.transform(pd.DataFrame({"city": ["b", "z"], "x": [0.0, 1.0]})).dtypes]
['category', 'float64']
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from tabmtl._data.targets import TargetKind
from tabmtl.evaluation._baseline import MAX_CATEGORIES
from tabmtl.evaluation._outputs import aligned_proba


def lightgbm_available() -> bool:
    """Whether LightGBM can be imported (the default boosting library when it can)."""
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return False
    return True


#: The built-in boosting learners, by the name they have in the blend's tables.
BUILTIN = ("lightgbm", "histgb")


def default_boosting_names() -> tuple[str, ...]:
    """The blend's boosting learners when none are named: LightGBM when it can be
    imported, else HistGB (adding HistGB next to LightGBM did not pay for its fit time
    in the blend benchmark, docs/blend.md)."""
    return ("lightgbm",) if lightgbm_available() else ("histgb",)


def builtin_boosting(
    name: str, is_regression: bool, *, random_state: object = None, n_jobs: int = 1
) -> BaseEstimator:
    """The built-in learner ``name`` (``"lightgbm"`` or ``"histgb"``) at its library's
    defaults, on ``n_jobs`` threads, categorical columns split as categories.

    Examples
    --------
    >>> type(builtin_boosting("histgb", True)).__name__
    'HistGradientBoostingRegressor'
    """
    if name == "lightgbm":
        if not lightgbm_available():
            raise ImportError(
                "The boosting learner 'lightgbm' needs LightGBM (pip install lightgbm)."
            )
        import lightgbm as lgb

        cls = lgb.LGBMRegressor if is_regression else lgb.LGBMClassifier
        return cls(random_state=random_state, n_jobs=n_jobs, verbose=-1)
    if name == "histgb":
        cls = HistGradientBoostingRegressor if is_regression else HistGradientBoostingClassifier
        return cls(categorical_features="from_dtype", random_state=random_state)
    raise ValueError(f"Unknown boosting learner {name!r}; the built-in ones are {list(BUILTIN)}.")


def default_boosting(is_regression: bool, *, random_state: object = None, n_jobs: int = 1):
    """LightGBM's regressor or classifier at its defaults, else HistGradientBoosting's.

    Examples
    --------
    >>> type(default_boosting(True)).__name__ in {"LGBMRegressor", "HistGradientBoostingRegressor"}
    True
    """
    name = "lightgbm" if lightgbm_available() else "histgb"
    return builtin_boosting(name, is_regression, random_state=random_state, n_jobs=n_jobs)


def boosting_templates(
    boosting, template, is_regression: bool, *, random_state: object = None, n_jobs: int = 1
) -> dict[str, BaseEstimator]:
    """A task's boosting learners, name -> template.

    ``template`` (the blend's ``regressor`` or ``classifier``) wins when given: one
    estimator is the learner ``"boosting"``, a dict names its own. Otherwise the built-in
    learners named by ``boosting`` (a name, a sequence of names, or ``"auto"`` for
    :func:`default_boosting_names`).

    Examples
    --------
    >>> list(boosting_templates(("histgb",), None, True))
    ['histgb']
    """
    if template is not None:
        if isinstance(template, Mapping):
            if not template:
                raise ValueError("A dict of boosting templates needs at least one entry.")
            return {_learner_name(k): v for k, v in template.items()}
        return {"boosting": template}
    if boosting is None or (isinstance(boosting, str) and boosting == "auto"):
        names = default_boosting_names()
    elif isinstance(boosting, str):
        names = (boosting,)
    else:
        names = tuple(boosting)
    if len(set(names)) != len(names):
        raise ValueError(f"boosting names a learner twice: {list(names)}.")
    return {
        name: builtin_boosting(name, is_regression, random_state=random_state, n_jobs=n_jobs)
        for name in names
    }


def _learner_name(name) -> str:
    if not isinstance(name, str) or name in ("net", "single_task", "blend"):
        raise ValueError(
            f"A boosting learner's name must be a string other than 'net', 'single_task' "
            f"and 'blend'; got {name!r}."
        )
    return name


class BoostingFrame:
    """Features as the boosting models read them, with the training rows' categories.

    Text, bool and category columns become pandas categories whose categories are those
    seen in :meth:`fit` (more than ``MAX_CATEGORIES`` of them: integer codes, as
    HistGradientBoosting splits natively on at most 255); datetimes become numbers.
    """

    def fit(self, X: pd.DataFrame) -> BoostingFrame:
        self.categories_: dict[object, pd.Index] = {}
        for c in X.columns:
            col = X[c]
            if _is_categorical(col):
                present = col.dropna()
                if isinstance(col.dtype, pd.CategoricalDtype):
                    cats = col.dtype.categories[col.dtype.categories.isin(present.unique())]
                else:
                    cats = pd.Index(pd.unique(present.astype(object)))
                    try:
                        cats = cats.sort_values()
                    except TypeError:
                        pass
                self.categories_[c] = pd.Index(cats, dtype=object)
        self.columns_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for c in self.columns_:
            col = X[c]
            if c in self.categories_:
                cats = self.categories_[c]
                known = col.astype(object)
                values = pd.Categorical(known.where(known.isin(cats)), categories=cats)
                if len(cats) > MAX_CATEGORIES:
                    codes = values.codes.astype("float64")
                    out[c] = pd.Series(np.where(codes < 0, np.nan, codes), index=X.index)
                else:
                    out[c] = pd.Series(values, index=X.index)
            elif pd.api.types.is_datetime64_any_dtype(col.dtype):
                out[c] = col.astype("int64").where(col.notna()).astype("float64")
            else:
                out[c] = pd.to_numeric(col, errors="coerce").astype("float64")
        return pd.DataFrame(out, index=X.index)


def _is_categorical(col: pd.Series) -> bool:
    dtype = col.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


class _ConstantClassifier(BaseEstimator):
    """The one class a training fold holds, with probability 1 (a fold can lack the
    others of a rare-class task; the boosting libraries refuse a single class)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.ones((len(X), 1))


def fit_boosting(
    template: BaseEstimator, task: TargetKind, X: pd.DataFrame, y: pd.Series, *, n_jobs: int = 1
) -> BaseEstimator:
    """A clone of ``template`` fitted on the rows of ``X`` (a :class:`BoostingFrame`'s
    output) where ``y`` is labelled; a classifier learns the task's class indices.

    A training part holding one class only gets a constant classifier instead.
    """
    present = y.notna().to_numpy()
    Xp = X[present]
    if task.is_regression:
        target = y[present].to_numpy(dtype=np.float64)
    else:
        target = task.encode(y[present]).astype(np.int64)
        if len(np.unique(target)) < 2:
            return _ConstantClassifier().fit(Xp, target)
    model = clone(template)
    with threadpool_limits(limits=n_jobs, user_api="openmp"):
        return model.fit(Xp, target)


def boosting_output(model, task: TargetKind, X: pd.DataFrame, *, n_jobs: int = 1) -> np.ndarray:
    """A fitted model's values, or probabilities in ``task.classes_`` order (0 for a
    class absent from its training rows)."""
    with threadpool_limits(limits=n_jobs, user_api="openmp"):
        if task.is_regression:
            return np.asarray(model.predict(X), dtype=np.float64)
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    return aligned_proba(proba, model.classes_, len(task.classes_))
