"""Random Loss Weighting (Lin et al., TMLR 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import EpochMeanWeights, Weighting


class RLWLoss(EpochMeanWeights):
    """Each training step draws lambda = T softmax(z), z ~ N(0, I); evaluation uses 1s."""

    def __init__(self, n_tasks: int):
        super().__init__()
        self.n_tasks = n_tasks
        self._init_weight_log(n_tasks)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return losses.sum()
        # global torch RNG: the estimator seeds it, so fits stay reproducible
        z = torch.randn(self.n_tasks, device=losses.device)
        lambdas = self.n_tasks * torch.softmax(z, dim=0)
        self._log_weights(lambdas)
        return (lambdas * losses).sum()


class RLWWeighting(Weighting):
    """Random loss weights, redrawn every step (a strong, cheap baseline).

    Examples
    --------
    >>> import torch
    >>> rlw = RLWWeighting().build(["a", "b", "c"]).train()
    >>> _ = rlw(torch.ones(3))
    >>> round(float(rlw.weights().sum()), 4)
    3.0
    """

    def build(self, task_names: Sequence[object]) -> RLWLoss:
        return RLWLoss(len(task_names))
