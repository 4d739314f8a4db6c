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

    def on_epoch_end(self, epoch_losses: torch.Tensor) -> None:
        """Called after each training epoch with the epoch's mean loss per task."""


class EpochMeanWeights(LossWeighting):
    """Mixin for strategies whose weights change every step: report the epoch's mean."""

    def _init_weight_log(self, n_tasks: int) -> None:
        self.register_buffer("_weight_sum", torch.zeros(n_tasks))
        self.register_buffer("_weight_steps", torch.zeros(n_tasks))
        self.register_buffer("_last_mean", torch.full((n_tasks,), float("nan")))

    def _log_weights(self, weights: torch.Tensor, present: torch.Tensor | None = None) -> None:
        present = torch.ones_like(weights, dtype=torch.bool) if present is None else present
        self._weight_sum += torch.where(present, weights.detach(), 0.0)
        self._weight_steps += present

    def weights(self) -> torch.Tensor:
        if self._weight_steps.any():
            return self._weight_sum / self._weight_steps.clamp(min=1)
        return self._last_mean

    def on_epoch_end(self, epoch_losses: torch.Tensor) -> None:
        self._last_mean = self.weights().clone()
        self._weight_sum.zero_()
        self._weight_steps.zero_()


class GradientWeighting(EpochMeanWeights):
    """Base of strategies that combine per-task *gradients* on the shared parameters.

    The net calls :meth:`backward` instead of ``loss.backward()``: it must leave in
    ``.grad`` of every shared parameter the combined gradient, and in every other
    parameter the gradient of the summed task losses (each of those parameters belongs
    to one task, so that is its own task's gradient). ``forward`` is the plain sum, used
    for the validation loss.
    """

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return losses.sum()

    def backward(
        self,
        losses: torch.Tensor,
        present: torch.Tensor,
        shared: list[nn.Parameter],
        others: list[nn.Parameter],
        extra: torch.Tensor | float = 0.0,
    ) -> None:  # pragma: no cover - abstract
        """Fill ``.grad``; ``present`` marks tasks with labels in this batch."""
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
    """Base of the weighting configs.

    Examples
    --------
    >>> from tabmtl import WEIGHTINGS, UncertaintyWeighting, Weighting
    >>> isinstance(UncertaintyWeighting(), Weighting), WEIGHTINGS["uncertainty"].__name__
    (True, 'UncertaintyWeighting')
    """

    def build(self, task_names: Sequence[object]) -> LossWeighting:  # pragma: no cover
        raise NotImplementedError
