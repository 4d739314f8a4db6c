"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import LossWeighting, Weighting


class UncertaintyLoss(LossWeighting):
    """L = sum_i 0.5 * exp(-s_i) * L_i + 0.5 * s_i, with s_i = log sigma_i^2 learned.

    A noisy task earns a large sigma and so a small weight exp(-s_i); the 0.5 s_i term
    stops every sigma from growing without bound.
    """

    def __init__(self, n_tasks: int, init_log_var: float):
        super().__init__()
        self.log_var = nn.Parameter(torch.full((n_tasks,), float(init_log_var)))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.exp(-self.log_var) * losses + self.log_var).sum()

    def weights(self) -> torch.Tensor:
        return torch.exp(-self.log_var).detach()


class UncertaintyWeighting(Weighting):
    """Learned task weights from each task's homoscedastic uncertainty.

    After fit, ``estimator.task_weights_`` holds exp(-s_i) per target: the weight the
    optimisation settled on (high for precise tasks, low for noisy ones).

    Parameters
    ----------
    init_log_var : float, default=0.0
        Starting log-variance of every task (0 -> all weights start at 1).

    Examples
    --------
    >>> import torch
    >>> loss = UncertaintyWeighting().build(["eta", "fare"])
    >>> loss(torch.tensor([1.0, 1.0]))
    tensor(1., grad_fn=<MulBackward0>)
    """

    def __init__(self, init_log_var: float = 0.0):
        self.init_log_var = init_log_var

    def build(self, task_names: Sequence[object]) -> UncertaintyLoss:
        return UncertaintyLoss(len(task_names), self.init_log_var)
