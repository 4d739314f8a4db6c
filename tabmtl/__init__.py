"""tabmtl: tabular multi-target prediction with one multi-task network.

The public names below are imported on first use (PEP 562), so that ``import tabmtl``
(and the command line's ``tabmtl --help``, which imports ``tabmtl.cli``) does not import
torch and scikit-learn until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers and IDEs; at run time see __getattr__
    from tabmtl.data.targets import TargetSpec
    from tabmtl.estimators import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor
    from tabmtl.nn.architectures import (
        ARCHITECTURES,
        PLE,
        Architecture,
        CrossStitch,
        HardSharing,
        MMoE,
        Sluice,
        SoftSharing,
    )
    from tabmtl.nn.numeric_embedding import (
        NUMERIC_EMBEDDINGS,
        NumericEmbedding,
        PeriodicEmbedding,
        PiecewiseLinearEmbedding,
    )
    from tabmtl.nn.weighting import (
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

#: Public name -> the module that defines it.
_LAZY = {
    "TargetSpec": "tabmtl.data.targets",
    "MultiTaskClassifier": "tabmtl.estimators",
    "MultiTaskEstimator": "tabmtl.estimators",
    "MultiTaskRegressor": "tabmtl.estimators",
    "ARCHITECTURES": "tabmtl.nn.architectures",
    "PLE": "tabmtl.nn.architectures",
    "Architecture": "tabmtl.nn.architectures",
    "CrossStitch": "tabmtl.nn.architectures",
    "HardSharing": "tabmtl.nn.architectures",
    "MMoE": "tabmtl.nn.architectures",
    "Sluice": "tabmtl.nn.architectures",
    "SoftSharing": "tabmtl.nn.architectures",
    "NUMERIC_EMBEDDINGS": "tabmtl.nn.numeric_embedding",
    "NumericEmbedding": "tabmtl.nn.numeric_embedding",
    "PeriodicEmbedding": "tabmtl.nn.numeric_embedding",
    "PiecewiseLinearEmbedding": "tabmtl.nn.numeric_embedding",
    "WEIGHTINGS": "tabmtl.nn.weighting",
    "AlignedMTLWeighting": "tabmtl.nn.weighting",
    "CAGradWeighting": "tabmtl.nn.weighting",
    "DWAWeighting": "tabmtl.nn.weighting",
    "EqualWeighting": "tabmtl.nn.weighting",
    "FixedWeighting": "tabmtl.nn.weighting",
    "GradNormWeighting": "tabmtl.nn.weighting",
    "IMTLWeighting": "tabmtl.nn.weighting",
    "MGDAWeighting": "tabmtl.nn.weighting",
    "PCGradWeighting": "tabmtl.nn.weighting",
    "RLWWeighting": "tabmtl.nn.weighting",
    "UncertaintyWeighting": "tabmtl.nn.weighting",
    "UPGradWeighting": "tabmtl.nn.weighting",
    "Weighting": "tabmtl.nn.weighting",
}

__version__ = "0.1.0"

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
]


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tabmtl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
