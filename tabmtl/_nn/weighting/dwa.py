"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import LossWeighting, Weighting


class DWALoss(LossWeighting):
    """lambda_i = T softmax_i(r_i / temperature), r_i = L_i(epoch-1) / L_i(epoch-2).

    A task whose loss falls slowly gets more weight. The first two epochs use equal
    weights (no ratio yet).
    """

    def __init__(self, n_tasks: int, temperature: float):
        super().__init__()
        self.temperature = float(temperature)
        self.register_buffer("lambdas", torch.ones(n_tasks))
        self.register_buffer("previous", torch.full((2, n_tasks), float("nan")))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.lambdas * losses).sum()

    def weights(self) -> torch.Tensor:
        return self.lambdas

    def on_epoch_end(self, epoch_losses: torch.Tensor) -> None:
        self.previous = torch.stack([self.previous[1], epoch_losses.to(self.previous)])
        ratio = self.previous[1] / self.previous[0]
        if torch.isfinite(ratio).all():
            n = len(ratio)
            self.lambdas = n * torch.softmax(ratio / self.temperature, dim=0)


class DWAWeighting(Weighting):
    """Dynamic Weight Average: weight tasks by how slowly their loss is falling.

    Parameters
    ----------
    temperature : float, default=2.0
        Softness of the weighting; large values approach equal weights.

    Examples
    --------
    >>> import torch
    >>> dwa = DWAWeighting().build(["a", "b"])
    >>> for epoch_losses in ([1.0, 1.0], [0.5, 0.9]):
    ...     dwa.on_epoch_end(torch.tensor(epoch_losses))
    >>> bool(dwa.weights()[1] > dwa.weights()[0])  # b improved less, so it gets more weight
    True
    """

    def __init__(self, temperature: float = 2.0):
        self.temperature = temperature

    def build(self, task_names: Sequence[object]) -> DWALoss:
        if not self.temperature > 0:
            raise ValueError(f"DWA temperature must be > 0, got {self.temperature!r}.")
        return DWALoss(len(task_names), self.temperature)
