"""tabmtl: tabular multi-target prediction with one multi-task network.

The public API lives in a few short homes; everything else (``tabmtl._nn``,
``tabmtl._training``, ``tabmtl._estimators``...) is internal and may move between releases.

- :mod:`tabmtl`: the estimators, architectures, loss weightings, numeric embeddings,
  :class:`MultiTaskBlend`, :func:`save_model` and :func:`load_model`;
- :mod:`tabmtl.metrics`: :func:`~tabmtl.metrics.task_scorer`, the metric registry and
  per-task scoring;
- :mod:`tabmtl.evaluation`: transfer analysis, task grouping, data efficiency, the report;
- :mod:`tabmtl.inspection`: per-task permutation importance;
- :mod:`tabmtl.tuning`: hyper-parameter search with Optuna;
- :mod:`tabmtl.io`: fitting and predicting from parquet streams, ONNX / torch.export;
- :mod:`tabmtl.distributed`: data-parallel fits under ``torchrun``;
- :mod:`tabmtl.mlflow`: the MLflow flavor;
- :mod:`tabmtl.errors`: the input errors tabmtl raises.

Besides classes and functions, :mod:`tabmtl` exports the registries that name its
components: ``ARCHITECTURES`` (name -> architecture class), ``WEIGHTINGS`` (name -> loss
weighting class), ``NUMERIC_EMBEDDINGS`` (name -> numeric embedding class), and
``__version__``.

Names are imported on first use, so ``import tabmtl`` is cheap.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from tabmtl import MultiTaskEstimator
>>> X = pd.DataFrame({"km": np.arange(20.0)})
>>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 10})
>>> MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y).predict(X).shape
(20, 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabmtl import _compat
from tabmtl._lazy import lazy_exports
from tabmtl._version import __version__

_ARCHITECTURES = "tabmtl._nn.architectures"
_WEIGHTING = "tabmtl._nn.weighting"
_EMBEDDING = "tabmtl._nn.numeric_embedding"

#: Public name -> the internal module that defines it.
_EXPORTS = {
    "TargetSpec": "tabmtl._data.targets",
    "MultiTaskClassifier": "tabmtl._estimators",
    "MultiTaskEstimator": "tabmtl._estimators",
    "MultiTaskRegressor": "tabmtl._estimators",
    "MultiTaskBlend": "tabmtl._ensemble",
    "save_model": "tabmtl.io._persistence",
    "load_model": "tabmtl.io._persistence",
    **dict.fromkeys(
        [
            "ARCHITECTURES",
            "PLE",
            "Architecture",
            "CrossStitch",
            "HardSharing",
            "MMoE",
            "Sluice",
            "SoftSharing",
        ],
        _ARCHITECTURES,
    ),
    **dict.fromkeys(
        [
            "NUMERIC_EMBEDDINGS",
            "NumericEmbedding",
            "PeriodicEmbedding",
            "PiecewiseLinearEmbedding",
        ],
        _EMBEDDING,
    ),
    **dict.fromkeys(
        [
            "WEIGHTINGS",
            "AlignedMTLWeighting",
            "CAGradWeighting",
            "DWAWeighting",
            "EqualWeighting",
            "FixedWeighting",
            "GradNormWeighting",
            "IMTLWeighting",
            "MGDAWeighting",
            "PCGradWeighting",
            "RLWWeighting",
            "UncertaintyWeighting",
            "UPGradWeighting",
            "Weighting",
        ],
        _WEIGHTING,
    ),
}

__all__ = [
    "ARCHITECTURES",
    "NUMERIC_EMBEDDINGS",
    "PLE",
    "WEIGHTINGS",
    "AlignedMTLWeighting",
    "Architecture",
    "CAGradWeighting",
    "CrossStitch",
    "DWAWeighting",
    "EqualWeighting",
    "FixedWeighting",
    "GradNormWeighting",
    "HardSharing",
    "IMTLWeighting",
    "MGDAWeighting",
    "MMoE",
    "MultiTaskBlend",
    "MultiTaskClassifier",
    "MultiTaskEstimator",
    "MultiTaskRegressor",
    "NumericEmbedding",
    "PCGradWeighting",
    "PeriodicEmbedding",
    "PiecewiseLinearEmbedding",
    "RLWWeighting",
    "Sluice",
    "SoftSharing",
    "TargetSpec",
    "UPGradWeighting",
    "UncertaintyWeighting",
    "Weighting",
    "__version__",
    "load_model",
    "save_model",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

# The 0.1 import paths (tabmtl.persistence, tabmtl.export, ...) keep working, with a
# FutureWarning naming each name's new home, until 0.3.
_compat.install()

if TYPE_CHECKING:  # what static tools and IDEs see
    from tabmtl._data.targets import TargetSpec
    from tabmtl._ensemble import MultiTaskBlend
    from tabmtl._estimators import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor
    from tabmtl._nn.architectures import (
        ARCHITECTURES,
        PLE,
        Architecture,
        CrossStitch,
        HardSharing,
        MMoE,
        Sluice,
        SoftSharing,
    )
    from tabmtl._nn.numeric_embedding import (
        NUMERIC_EMBEDDINGS,
        NumericEmbedding,
        PeriodicEmbedding,
        PiecewiseLinearEmbedding,
    )
    from tabmtl._nn.weighting import (
        WEIGHTINGS,
        AlignedMTLWeighting,
        CAGradWeighting,
        DWAWeighting,
        EqualWeighting,
        FixedWeighting,
        GradNormWeighting,
        IMTLWeighting,
        MGDAWeighting,
        PCGradWeighting,
        RLWWeighting,
        UncertaintyWeighting,
        UPGradWeighting,
        Weighting,
    )
    from tabmtl.io._persistence import load_model, save_model
