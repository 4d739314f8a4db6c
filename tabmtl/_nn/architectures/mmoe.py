"""Multi-gate mixture of experts: shared experts, one softmax gate per task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tabmtl._nn.architectures.base import Architecture, MultiTaskBody, Owners, owned_by
from tabmtl._nn.layers import ParallelLinear, ParallelMLP, TaskHeads


class TaskTowers(nn.Module):
    """Per task: an MLP of ``sizes`` (possibly empty) and its output layer, batched.

    Input (T, batch, width), task ``t``'s at ``[t]``; output the concatenated task outputs.
    """

    def __init__(
        self, n_inputs: int, task_outputs: dict[str, int], sizes: Sequence[int], dropout: float
    ):
        super().__init__()
        self.tasks = tuple(task_outputs)
        self.towers = ParallelMLP(len(task_outputs), n_inputs, sizes, dropout)
        self.heads = TaskHeads(self.towers.out_features, task_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.towers(x))

    def parameter_owners(self, prefix: str) -> dict[str, Owners]:
        """Every parameter belongs to its task (member t, or head rows of task t)."""
        return owned_by(self.towers, f"{prefix}.towers", self.tasks) | owned_by(
            self.heads, f"{prefix}.heads", self.heads.output_owners
        )


def weighted_sum(weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Per gate, the weighted sum of the expert outputs.

    (G, batch, E) weights x (E, batch, width) experts -> (G, batch, width).
    """
    return torch.einsum("gbe,ebd->gbd", weights, experts)


def mix(gate_logits: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Softmax-weighted sums of expert outputs: (G, batch, E) logits -> (G, batch, width)."""
    return weighted_sum(torch.softmax(gate_logits, dim=-1), experts)


class MMoEBody(MultiTaskBody):
    """Experts on the input (batched); each task's gate (one fused gate layer) mixes
    them for that task's tower (batched) and head (fused)."""

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
        self.tasks = tuple(task_outputs)
        self.experts = ParallelMLP(n_experts, n_inputs, expert_layer_sizes, dropout)
        self.gates = ParallelLinear(len(task_outputs), n_inputs, n_experts)
        self.towers = TaskTowers(
            self.experts.out_features, task_outputs, tower_layer_sizes, dropout
        )

    def gate_weights(self, h: torch.Tensor) -> torch.Tensor:
        """Each task's mixing weights over the experts, shape (batch, n_tasks, n_experts)."""
        return torch.softmax(self.gates(h), dim=-1).transpose(0, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.towers(mix(self.gates(h), self.experts(h)))

    def parameter_owners(self) -> dict[str, Owners]:
        return (
            owned_by(self.experts, "experts", None)
            | owned_by(self.gates, "gates", self.tasks)
            | self.towers.parameter_owners("towers")
        )


class MMoE(Architecture):
    """Multi-gate mixture-of-experts (Ma et al., KDD 2018).

    ``n_experts`` shared expert MLPs read the input; each task has a softmax gate (a
    linear layer on the input) that weights the experts' outputs, and its own tower
    and head on that mixture. Tasks that disagree can use different experts instead
    of fighting over one trunk. Experts are shared; gates, towers and heads belong to
    their task. Experts, gates and towers each run as one batched layer per depth
    (``tabmtl._nn.layers``).

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
