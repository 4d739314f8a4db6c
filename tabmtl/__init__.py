"""tabmtl: tabular multi-target prediction with one multi-task network."""

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
