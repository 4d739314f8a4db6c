"""The ``pyfunc`` side of the tabmtl flavor: what ``mlflow.pyfunc.load_model`` returns.

MLflow's ``pyfunc.load_model`` imports this module (the flavor's ``loader_module``) and
calls :func:`_load_pyfunc` with the path of the model file (the safe, pickle-free
``.tabmtl`` file of :mod:`tabmtl.io._persistence`); the object it returns answers
``predict(model_input, params=None)``.

Schema enforcement hands the model columns in MLflow's types, not the dtypes it was
fitted on: a ``category`` column (declared ``Any``) arrives as plain values, an integer
category as ``int64``, strings from a JSON request as ``object``. tabmtl codes a
categorical column by its values whatever its dtype, but refuses a column whose kind
changed (numbers where it saw categories), so :func:`restore_feature_kinds` gives such a
column back the object dtype; the predictions are then those of ``model.predict`` on the
original frame, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tabmtl._data.columns import dtype_kind
from tabmtl.errors import InputError
from tabmtl.io._persistence import load_model
from tabmtl.io._prediction_columns import probability_columns
from tabmtl.mlflow._signature import PROBA_PARAM

__all__ = ["TabmtlPyfuncModel", "restore_feature_kinds"]


def restore_feature_kinds(model, X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with every column the model saw as categorical given a categorical dtype.

    Parameters
    ----------
    model : MultiTaskEstimator or MultiTaskBlend
        A fitted estimator (a blend: its net's feature kinds, which its boosting
        models share).
    X : pandas.DataFrame
        Features after MLflow's schema enforcement.

    Returns
    -------
    pandas.DataFrame
        ``X`` itself when nothing changed, else a copy whose categorical-in-fit columns
        that now read as numbers are ``object`` (their values untouched, so each still
        finds its category); other columns are left alone.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(20.0), "grade": pd.Categorical([1, 2] * 10)})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, X[["km"]])
    >>> restore_feature_kinds(model, X.astype({"grade": "int64"})).dtypes["grade"]
    dtype('O')
    """
    pre = model.net_.preprocessor_ if hasattr(model, "boosters_") else model.preprocessor_
    kinds = pre.column_kinds_
    changed = [
        c for c in X.columns
        if kinds.get(c) == "categorical" and dtype_kind(X[c].dtype, c) != "categorical"
    ]
    return X.astype(dict.fromkeys(changed, object)) if changed else X


class TabmtlPyfuncModel:
    """A fitted MultiTaskEstimator (or MultiTaskBlend) behind MLflow's ``pyfunc`` interface.

    Parameters
    ----------
    model : MultiTaskEstimator or MultiTaskBlend
        The fitted estimator.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(20.0)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 10})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> wrapped = TabmtlPyfuncModel(model)
    >>> wrapped.predict(X).equals(model.predict(X))
    True
    >>> wrapped.predict(X, params={"proba": True}).columns.tolist()
    ['late_proba_False', 'late_proba_True']
    """

    def __init__(self, model):
        self.model = model

    def get_raw_model(self):
        """The wrapped estimator (MLflow's name for it)."""
        return self.model

    def predict(self, model_input, params: Mapping | None = None) -> pd.DataFrame:
        """``model.predict(model_input)``; with ``params={"proba": True}`` the probabilities.

        Parameters
        ----------
        model_input : pandas.DataFrame
            Feature rows, as MLflow's schema enforcement passes them.
        params : mapping, optional
            ``{"proba": True}`` returns the class probabilities of the classification
            targets instead, one column ``<target>_proba_<class>`` per class (the names
            ``tabmtl predict --proba`` writes).

        Returns
        -------
        pandas.DataFrame
            Indexed like ``model_input``.
        """
        unknown = set(params or {}) - {PROBA_PARAM}
        if unknown:
            raise InputError(
                f"Unknown tabmtl pyfunc params {sorted(unknown)!r}; the one param is "
                f"{PROBA_PARAM!r} (boolean)."
            )
        X = restore_feature_kinds(self.model, pd.DataFrame(model_input))
        if (params or {}).get(PROBA_PARAM):
            proba = self.model.predict_proba(X)
            if not proba:
                raise InputError(
                    f"params={{{PROBA_PARAM!r}: True}} needs a classification target; the "
                    f"targets {list(self.model.target_spec_.target_names_)!r} are all regression."
                )
            return probability_columns(proba)
        return self.model.predict(X)


def _load_pyfunc(path: str) -> TabmtlPyfuncModel:
    """MLflow's loader hook: the model file at ``path`` behind the pyfunc interface."""
    return TabmtlPyfuncModel(load_model(path))
