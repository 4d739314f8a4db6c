"""The scikit-learn-facing estimators."""

from tabmtl.estimators.arrays import MultiTaskClassifier, MultiTaskRegressor
from tabmtl.estimators.base import MultiTaskBase
from tabmtl.estimators.frame import MultiTaskEstimator

__all__ = ["MultiTaskBase", "MultiTaskClassifier", "MultiTaskEstimator", "MultiTaskRegressor"]
