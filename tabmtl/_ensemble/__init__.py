"""Ensembles around the multi-task net: :class:`MultiTaskBlend` blends it with
per-target gradient boosting, with weights chosen per task out of fold."""

from tabmtl._ensemble.blend import MultiTaskBlend
from tabmtl._ensemble.weights import choose_weights, greedy_weights

__all__ = ["MultiTaskBlend", "choose_weights", "greedy_weights"]
