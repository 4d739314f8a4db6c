"""The MLflow signature of a fitted MultiTaskEstimator: its features, targets and params.

MLflow checks every ``pyfunc`` input against the model's signature before the model sees
it (schema enforcement). :func:`infer_model_signature` starts from MLflow's own
``infer_signature(X, model.predict(X))`` and changes two things so that the frame the
model was fitted on passes unchanged:

- a ``category`` feature column is declared ``Any``: MLflow has no categorical type and
  refuses to convert a category column to the ``string`` (or ``long``) it infers for it.
  Its values reach the model as plain objects, which the pyfunc wrapper restores to a
  categorical column (:func:`tabmtl.mlflow._pyfunc.restore_feature_kinds`);
- the inference parameter ``proba`` (boolean, default ``False``) is declared: MLflow drops
  any parameter its signature does not name.
"""

from __future__ import annotations

import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

try:
    from mlflow.types.schema import AnyType
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tabmtl.mlflow needs MLflow 2.19 or newer (its `Any` column type); upgrade with "
        "pip install -U 'tabmtl[mlflow]'."
    ) from exc

from tabmtl.errors import InputTypeError

__all__ = ["PROBA_PARAM", "infer_model_signature"]

#: The pyfunc inference parameter that asks for class probabilities instead of labels.
PROBA_PARAM = "proba"


def infer_model_signature(model, X: pd.DataFrame | None = None) -> ModelSignature:
    """The signature of ``model`` on features like ``X``: inputs, outputs and ``proba``.

    Parameters
    ----------
    model : MultiTaskEstimator
        A fitted estimator.
    X : pandas.DataFrame, optional
        Feature rows like the ones the model will serve (the training frame or a sample
        of it: missing values in an integer column make MLflow declare it ``double``).
        Without it the signature holds the ``proba`` parameter only.

    Returns
    -------
    mlflow.models.ModelSignature
        Inputs: ``X``'s columns (``category`` columns as ``Any``); outputs: the columns of
        ``model.predict(X)``; params: ``proba`` (boolean, default False).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(20.0), "zone": pd.Categorical(["a", "b"] * 10)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 10})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> infer_model_signature(model, X).inputs.input_names()
    ['km', 'zone']
    """
    params = ParamSchema([ParamSpec(PROBA_PARAM, "boolean", False)])
    if X is None:
        return ModelSignature(params=params)
    if not isinstance(X, pd.DataFrame):
        raise InputTypeError(f"X must be a pandas DataFrame of features, got {type(X).__name__}.")
    inferred = infer_signature(X, model.predict(X))
    categorical = {c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}
    inputs = Schema([
        ColSpec(AnyType(), spec.name, required=spec.required) if spec.name in categorical
        else spec
        for spec in inferred.inputs.inputs
    ])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs, params=params)
