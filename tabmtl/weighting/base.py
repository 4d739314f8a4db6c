"""The task-weighting extension point.

A *weighting strategy* is a small scikit-learn-style config object (hyper-parameters in
``__init__``, reachable as ``weighting__<param>``) whose :meth:`Weighting.build` returns a
torch module once the task names are known. The module's ``forward(losses)`` takes the
vector of per-task losses and returns the scalar to minimise; ``weights()`` returns the
current per-task weights for the history. Learnable weights are parameters of that
module, which lives inside the skorch criterion, so the optimizer trains them with no
special code in the loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sklearn.base import BaseEstimator
from torch import nn


class LossWeighting(nn.Module):
    """Base of the weighting modules: per-task losses in, one scalar out."""

    def forward(self, losses: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def weights(self) -> torch.Tensor:  # pragma: no cover - abstract
        """Current weight of each task (for the history and ``task_weights_``)."""
        raise NotImplementedError


class LinearCombination(LossWeighting):
    """L = sum_i lambda_i L_i with fixed lambdas."""

    def __init__(self, lambdas: Sequence[float]):
        super().__init__()
        self.register_buffer("lambdas", torch.as_tensor(list(lambdas), dtype=torch.float32))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.lambdas * losses).sum()

    def weights(self) -> torch.Tensor:
        return self.lambdas


class Weighting(BaseEstimator):
    """Base of the weighting configs."""

    def build(self, task_names: Sequence[object]) -> LossWeighting:  # pragma: no cover
        raise NotImplementedError
