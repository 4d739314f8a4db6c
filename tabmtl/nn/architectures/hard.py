"""Hard parameter sharing: one shared MLP trunk, one head per task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Architecture, MultiTaskBody, concat_heads, heads, mlp


class HardSharingBody(MultiTaskBody):
    def __init__(self, n_inputs, task_outputs, hidden_layer_sizes, dropout, head_layer_sizes):
        super().__init__()
        self.trunk = mlp(n_inputs, hidden_layer_sizes, dropout)
        width = hidden_layer_sizes[-1] if len(hidden_layer_sizes) else n_inputs
        towers = {}
        for task, k in task_outputs.items():
            tower = mlp(width, head_layer_sizes, dropout)
            last = head_layer_sizes[-1] if len(head_layer_sizes) else width
            towers[task] = nn.Sequential(tower, nn.Linear(last, k))
        self.heads = nn.ModuleDict(towers) if head_layer_sizes else heads(width, task_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return concat_heads(self.heads, self.trunk(h))

    def task_modules(self) -> dict[str, nn.Module]:
        return dict(self.heads.items())


class HardSharing(Architecture):
    """Hard parameter sharing (Caruana 1997): a shared trunk feeds one head per task.

    The trunk is the estimator's ``hidden_layer_sizes`` MLP; each head is a linear layer,
    or a small per-task tower when ``head_layer_sizes`` is given.

    Parameters
    ----------
    head_layer_sizes : tuple of int, default=()
        Hidden sizes of each task's own tower between the trunk and its output layer.

    Examples
    --------
    >>> body = HardSharing().build(8, {"eta": 1, "mode": 3}, (16,), 0.0)
    >>> import torch
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    """

    def __init__(self, head_layer_sizes: Sequence[int] = ()):
        self.head_layer_sizes = head_layer_sizes

    def build(self, n_inputs, task_outputs, hidden_layer_sizes, dropout) -> HardSharingBody:
        return HardSharingBody(
            n_inputs, task_outputs, tuple(hidden_layer_sizes), dropout,
            tuple(self.head_layer_sizes),
        )
