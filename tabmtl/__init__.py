"""tabmtl: tabular multi-target prediction with one multi-task network."""

from .architectures import ARCHITECTURES, Architecture, HardSharing
from .estimator import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor
from .targets import TargetSpec
from .weighting import WEIGHTINGS, EqualWeighting, FixedWeighting, UncertaintyWeighting, Weighting

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "WEIGHTINGS",
    "Architecture",
    "EqualWeighting",
    "FixedWeighting",
    "HardSharing",
    "MultiTaskClassifier",
    "MultiTaskEstimator",
    "MultiTaskRegressor",
    "TargetSpec",
    "UncertaintyWeighting",
    "Weighting",
    "__version__",
]
