"""The tabmtl MLflow flavor: log, load and serve a fitted MultiTaskEstimator or
MultiTaskBlend.

An MLflow model directory written here holds the project's safe model file
(``model.tabmtl``, :func:`~tabmtl.save_model`: JSON and tensors, no pickle;
for a :class:`~tabmtl.MultiTaskBlend`, its blend file with LightGBM's text
models), the flavor's ``estimator`` naming which,
the ``MLmodel`` file naming two flavors, and the environment files (``requirements.txt``,
``conda.yaml``, ``python_env.yaml``) pinned to the running versions of tabmtl, torch,
skorch, scikit-learn, pandas, numpy and MLflow.

- ``tabmtl``: :func:`load_model` gives back the estimator (or blend) itself;
- ``python_function``: ``mlflow.pyfunc.load_model(uri).predict(X)`` returns
  ``model.predict(X)``, and ``predict(X, params={"proba": True})`` the class
  probabilities (``tabmtl.mlflow._pyfunc``).

Constants: ``FLAVOR_NAME`` (``"tabmtl"``), ``MODEL_FILE`` (the model file's name in the
directory) and ``PROBA_PARAM`` (the pyfunc ``params`` key that asks for probabilities).

Needs ``mlflow`` or ``mlflow-skinny`` (``pip install 'tabmtl[mlflow]'``); the rest of
tabmtl imports without it.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

try:
    import mlflow
    import mlflow.pyfunc  # by its full name: `pyfunc` here is tabmtl.mlflow._pyfunc
    import yaml
    from mlflow.models import Model, ModelSignature
    from mlflow.models.model import MLMODEL_FILE_NAME, ModelInfo
    from mlflow.models.utils import _save_example
    from mlflow.utils.environment import (
        _CONDA_ENV_FILE_NAME,
        _CONSTRAINTS_FILE_NAME,
        _PYTHON_ENV_FILE_NAME,
        _REQUIREMENTS_FILE_NAME,
        _process_pip_requirements,
        _PythonEnv,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"tabmtl.mlflow needs MLflow ({exc}); install it with pip install 'tabmtl[mlflow]'."
    ) from exc
from packaging.version import Version

from tabmtl.errors import InputTypeError
from tabmtl.io import _persistence as persistence
from tabmtl.mlflow._signature import PROBA_PARAM, infer_model_signature

__all__ = [
    "FLAVOR_NAME",
    "MODEL_FILE",
    "PROBA_PARAM",
    "get_default_pip_requirements",
    "infer_model_signature",
    "load_model",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "tabmtl"
#: The model file inside an MLflow model directory.
MODEL_FILE = "model.tabmtl"
# The distributions a served model needs at the versions it was fitted with (the network's
# numbers depend on them), besides tabmtl itself and MLflow.
_PINNED = ("torch", "skorch", "scikit-learn", "pandas", "numpy")


def get_default_pip_requirements() -> list[str]:
    """The running versions of tabmtl, MLflow and the libraries its predictions depend on.

    Returns
    -------
    list of str
        ``name==version`` for tabmtl, the installed MLflow distribution (``mlflow`` or
        ``mlflow-skinny``), torch, skorch, scikit-learn, pandas and numpy; local version
        labels (``+cpu``) are dropped so that pip can install them from PyPI.

    Examples
    --------
    >>> get_default_pip_requirements()[0].startswith("tabmtl==")
    True
    """
    from tabmtl import __version__

    return [f"tabmtl=={__version__}", _mlflow_requirement()] + [
        f"{name}=={Version(importlib.metadata.version(name)).public}" for name in _PINNED
    ]


def save_model(
    model,
    path: str | os.PathLike,
    *,
    input_example=None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    metadata: Mapping | None = None,
    mlflow_model: Model | None = None,
) -> Path:
    """Write ``model`` as an MLflow model directory at ``path`` (tabmtl + pyfunc flavors).

    Parameters
    ----------
    model : MultiTaskEstimator or MultiTaskBlend
        A fitted estimator, or a fitted blend (its boosting models must be LightGBM's,
        which have a safe text format).
    path : str or path-like
        The directory to create; it must not exist, or be empty.
    input_example : pandas.DataFrame, optional
        A few feature rows; saved with the model and, without ``signature``, the rows the
        signature is inferred from (:func:`infer_model_signature`).
    signature : mlflow.models.ModelSignature or False, optional
        The signature to record; default: inferred from ``input_example``, or, without
        one, only the ``proba`` parameter (inputs then go unchecked). ``False``: none, and
        MLflow then ignores ``params`` at prediction time.
    pip_requirements : list of str or str, optional
        Replaces :func:`get_default_pip_requirements` (a list, or a requirements file).
    extra_pip_requirements : list of str or str, optional
        Added to the default requirements.
    metadata : mapping, optional
        Free-form metadata for the ``MLmodel`` file.
    mlflow_model : mlflow.models.Model, optional
        The model configuration to add the flavors to (:func:`log_model` passes its own).

    Returns
    -------
    pathlib.Path
        The model directory.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os, mlflow
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(20.0)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 10})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model"), input_example=X)
    >>> mlflow.pyfunc.load_model(str(path)).predict(X).equals(model.predict(X))
    True
    """
    from tabmtl import MultiTaskBlend, MultiTaskEstimator, __version__

    if not isinstance(model, (MultiTaskEstimator, MultiTaskBlend)):
        raise InputTypeError(
            "tabmtl.mlflow saves a MultiTaskEstimator or a MultiTaskBlend (DataFrames in "
            f"and out), got {type(model).__name__}."
        )
    path = Path(path).resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"MLflow model path {str(path)!r} already exists and is not empty.")
    path.mkdir(parents=True, exist_ok=True)
    mlflow_model = Model() if mlflow_model is None else mlflow_model
    if input_example is not None:
        _save_example(mlflow_model, input_example, str(path))
    if signature is None:
        signature = infer_model_signature(model, input_example)
    if signature is not False:
        mlflow_model.signature = signature
    if metadata is not None:
        mlflow_model.metadata = dict(metadata)
    persistence.save_model(model, path / MODEL_FILE)
    mlflow.pyfunc.add_to_model(
        mlflow_model,
        loader_module="tabmtl.mlflow._pyfunc",
        data=MODEL_FILE,
        conda_env=_CONDA_ENV_FILE_NAME,
        python_env=_PYTHON_ENV_FILE_NAME,
    )
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        tabmtl_version=__version__,
        data=MODEL_FILE,
        estimator=type(model).__name__,
        format_version=_format_version(model),
    )
    mlflow_model.save(str(path / MLMODEL_FILE_NAME))
    conda_env, requirements, constraints = _process_pip_requirements(
        get_default_pip_requirements(), pip_requirements, extra_pip_requirements
    )
    with open(path / _CONDA_ENV_FILE_NAME, "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    if constraints:
        (path / _CONSTRAINTS_FILE_NAME).write_text("\n".join(constraints))
    (path / _REQUIREMENTS_FILE_NAME).write_text("\n".join(requirements))
    _PythonEnv.current().to_yaml(str(path / _PYTHON_ENV_FILE_NAME))
    return path


def log_model(
    model,
    name: str = "model",
    *,
    input_example=None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    metadata: Mapping | None = None,
    registered_model_name: str | None = None,
    **kwargs,
) -> ModelInfo:
    """Log ``model`` to the active run (one is started if none is) as an MLflow model.

    Parameters
    ----------
    model : MultiTaskEstimator or MultiTaskBlend
        A fitted estimator or blend.
    name : str, default="model"
        The model's name (MLflow 3; the artifact path under the run in MLflow 2).
    input_example, signature, pip_requirements, extra_pip_requirements, metadata
        As in :func:`save_model`.
    registered_model_name : str, optional
        Also register the model under this name.
    **kwargs
        Passed to ``mlflow.models.Model.log`` (e.g. ``params``, ``tags``, ``step``,
        ``model_id`` in MLflow 3).

    Returns
    -------
    mlflow.models.model.ModelInfo
        Its ``model_uri`` loads the model (``models:/<model_id>`` in MLflow 3,
        ``runs:/<run_id>/<name>`` in MLflow 2).

    Examples
    --------
    >>> import numpy as np, pandas as pd, mlflow
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(20.0)})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, X[["km"]])
    >>> with mlflow.start_run():  # doctest: +SKIP
    ...     info = log_model(model, "eta", input_example=X.head())
    >>> load_model(info.model_uri).predict(X).equals(model.predict(X))  # doctest: +SKIP
    True
    """
    # MLflow 3 names the model (`name`; `artifact_path`, deprecated, must still be given);
    # MLflow 2 has only `artifact_path`.
    if "name" in inspect.signature(Model.log).parameters:
        where = {"name": name, "artifact_path": None}
    else:
        where = {"artifact_path": name}
    return Model.log(
        flavor=sys.modules[__name__],
        registered_model_name=registered_model_name,
        model=model,
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        **where,
        **kwargs,
    )


def load_model(model_uri: str, dst_path: str | None = None):
    """The estimator logged or saved at ``model_uri``.

    Parameters
    ----------
    model_uri : str
        Where the model is: a local directory, ``runs:/<run_id>/<name>``,
        ``models:/<model_id>`` or ``models:/<registered name>/<version>``.
    dst_path : str, optional
        Local directory to download the model to (default: a temporary one).

    Returns
    -------
    MultiTaskEstimator or MultiTaskBlend
        The fitted estimator (or blend), read from the flavor's safe model file.

    Examples
    --------
    >>> model = load_model("runs:/<run_id>/model")  # doctest: +SKIP
    """
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst_path))
    flavors = Model.load(str(local / MLMODEL_FILE_NAME)).flavors
    if FLAVOR_NAME not in flavors:
        raise ValueError(
            f"The MLflow model at {model_uri!r} has no {FLAVOR_NAME!r} flavor (it has "
            f"{sorted(flavors)!r})."
        )
    return persistence.load_model(local / flavors[FLAVOR_NAME].get("data", MODEL_FILE))


def _format_version(model) -> int:
    """The version of the file format ``model`` is saved in (a model or a blend file)."""
    if type(model).__name__ == "MultiTaskBlend":
        from tabmtl._ensemble.persistence import FORMAT_VERSION

        return FORMAT_VERSION
    return persistence.FORMAT_VERSION


def _mlflow_requirement() -> str:
    """``mlflow==x`` or, where only the skinny client is installed, ``mlflow-skinny==x``."""
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return f"{dist}=={Version(importlib.metadata.version(dist)).public}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return f"mlflow=={mlflow.__version__}"
