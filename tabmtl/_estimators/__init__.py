"""The scikit-learn-facing estimators."""

from tabmtl._estimators.arrays import MultiTaskClassifier, MultiTaskRegressor
from tabmtl._estimators.base import MultiTaskBase
from tabmtl._estimators.frame import MultiTaskEstimator

__all__ = ["MultiTaskBase", "MultiTaskClassifier", "MultiTaskEstimator", "MultiTaskRegressor"]
