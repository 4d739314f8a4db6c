"""Multi-gate mixture of experts: shared experts, one softmax gate per task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Architecture, MultiTaskBody, mlp


def towers(
    n_inputs: int, task_outputs: dict[str, int], sizes: Sequence[int], dropout: float
) -> nn.ModuleDict:
    """Per task: an MLP of ``sizes`` (possibly empty) followed by its output layer."""
    last = sizes[-1] if len(sizes) else n_inputs
    return nn.ModuleDict(
        {t: nn.Sequential(mlp(n_inputs, sizes, dropout), nn.Linear(last, k))
         for t, k in task_outputs.items()}
    )


def mix(gate_logits: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Softmax-weighted sum of expert outputs: (batch, E) x (batch, E, width) -> (batch, width)."""
    return torch.einsum("be,bed->bd", torch.softmax(gate_logits, dim=1), experts)


class MMoEBody(MultiTaskBody):
    """Experts on the input; each task's gate mixes them for that task's tower."""

    def __init__(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        expert_layer_sizes: Sequence[int],
        dropout: float,
        n_experts: int,
        tower_layer_sizes: Sequence[int],
    ):
        super().__init__()
        width = expert_layer_sizes[-1] if len(expert_layer_sizes) else n_inputs
        self.experts = nn.ModuleList(
            mlp(n_inputs, expert_layer_sizes, dropout) for _ in range(n_experts)
        )
        self.gates = nn.ModuleDict({t: nn.Linear(n_inputs, n_experts) for t in task_outputs})
        self.towers = towers(width, task_outputs, tower_layer_sizes, dropout)

    def gate_weights(self, h: torch.Tensor) -> torch.Tensor:
        """Each task's mixing weights over the experts, shape (batch, n_tasks, n_experts)."""
        return torch.stack([torch.softmax(g(h), dim=1) for g in self.gates.values()], dim=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        experts = torch.stack([e(h) for e in self.experts], dim=1)  # (batch, E, width)
        return torch.cat(
            [tower(mix(gate(h), experts))
             for gate, tower in zip(self.gates.values(), self.towers.values())],
            dim=1,
        )

    def task_modules(self) -> dict[str, nn.Module]:
        return {t: nn.ModuleList([self.gates[t], self.towers[t]]) for t in self.gates}


class MMoE(Architecture):
    """Multi-gate mixture-of-experts (Ma et al., KDD 2018).

    ``n_experts`` shared expert MLPs read the input; each task has a softmax gate (a
    linear layer on the input) that weights the experts' outputs, and its own tower
    and head on that mixture. Tasks that disagree can use different experts instead
    of fighting over one trunk. Experts are shared; gates, towers and heads belong to
    their task.

    Parameters
    ----------
    n_experts : int, default=4
        Number of shared experts.
    expert_layer_sizes : tuple of int, optional
        Hidden sizes of each expert; the estimator's ``hidden_layer_sizes`` when None.
    tower_layer_sizes : tuple of int, default=()
        Hidden sizes of each task's tower between its mixture and its output layer.

    Examples
    --------
    >>> import torch
    >>> body = MMoE(n_experts=3).build(8, {"eta": 1, "mode": 3}, (16,), 0.0)
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    >>> body.gate_weights(torch.zeros(2, 8)).shape  # (batch, tasks, experts)
    torch.Size([2, 2, 3])
    """

    def __init__(
        self,
        n_experts: int = 4,
        expert_layer_sizes: Sequence[int] | None = None,
        tower_layer_sizes: Sequence[int] = (),
    ):
        self.n_experts = n_experts
        self.expert_layer_sizes = expert_layer_sizes
        self.tower_layer_sizes = tower_layer_sizes

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> MMoEBody:
        if int(self.n_experts) < 1:
            raise ValueError(f"n_experts must be >= 1, got {self.n_experts!r}.")
        sizes = hidden_layer_sizes if self.expert_layer_sizes is None else self.expert_layer_sizes
        return MMoEBody(
            n_inputs, task_outputs, tuple(sizes), dropout, int(self.n_experts),
            tuple(self.tower_layer_sizes),
        )
