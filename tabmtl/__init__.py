"""tabmtl: tabular multi-target prediction with one multi-task network."""

from .architectures import (
    ARCHITECTURES,
    PLE,
    Architecture,
    CrossStitch,
    HardSharing,
    MMoE,
    SoftSharing,
)
from .estimator import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor
from .targets import TargetSpec
from .weighting import (
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
    "PCGradWeighting",
    "RLWWeighting",
    "SoftSharing",
    "TargetSpec",
    "UPGradWeighting",
    "UncertaintyWeighting",
    "Weighting",
    "__version__",
]
