"""Progressive layered extraction: stacked levels of shared and task-specific experts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tabmtl._nn.architectures.base import (
    Architecture,
    MultiTaskBody,
    Owners,
    owned_by,
    repeat_each,
)
from tabmtl._nn.architectures.mmoe import TaskTowers, weighted_sum
from tabmtl._nn.layers import ParallelLinear, ParallelMLP


class ExtractionLevel(nn.Module):
    """One customized gate control (CGC) level of PLE.

    Task ``t``'s gate reads ``t``'s input and mixes ``t``'s own experts with the shared
    ones; unless the level is the last, a shared gate reads the shared input and mixes
    *all* the level's experts into the next level's shared input. The shared experts,
    the task experts (task-major: task t's are members ``t*n .. t*n+n-1``) and the task
    gates each run as one batched layer per depth.
    """

    def __init__(
        self,
        n_inputs: int,
        tasks: Sequence[str],
        sizes: Sequence[int],
        dropout: float,
        n_shared: int,
        n_task: int,
        final: bool,
    ):
        super().__init__()
        self.tasks = tuple(tasks)
        self.n_task = n_task
        self.shared_experts = ParallelMLP(n_shared, n_inputs, sizes, dropout)
        self.task_experts = (
            ParallelMLP(len(tasks) * n_task, n_inputs, sizes, dropout) if n_task else None
        )
        self.task_gates = ParallelLinear(len(tasks), n_inputs, n_task + n_shared)
        n_all = n_shared + n_task * len(tasks)
        self.shared_gate = None if final else nn.Linear(n_inputs, n_all)

    def forward(
        self, task_in: torch.Tensor, shared_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``task_in`` is (batch, in) when every task reads the same input, else
        (T, batch, in); returns the next (T, batch, width) task inputs and shared input."""
        n = self.n_task
        shared = self.shared_experts(shared_in)  # (S, batch, width)
        gates = torch.softmax(self.task_gates(task_in), dim=-1)  # (T, batch, n + S)
        task_out = weighted_sum(gates[..., n:], shared)
        own = None
        if self.task_experts is not None:
            per_member = task_in if task_in.dim() == 2 else task_in.repeat_interleave(n, dim=0)
            own = self.task_experts(per_member)  # (T * n, batch, width)
            mine = own.unflatten(0, (len(self.tasks), n))
            task_out = task_out + torch.einsum("tbn,tnbd->tbd", gates[..., :n], mine)
        if self.shared_gate is None:
            return task_out, None
        # the shared gate's columns: every task expert (task-major), then the shared ones
        weights = torch.softmax(self.shared_gate(shared_in), dim=-1).unsqueeze(0)
        n_own = len(self.tasks) * n
        shared_out = weighted_sum(weights[..., n_own:], shared)
        if own is not None:
            shared_out = shared_out + weighted_sum(weights[..., :n_own], own)
        return task_out, shared_out[0]

    def parameter_owners(self, prefix: str, feeds_shared: bool, gates_feed_shared: bool):
        """Owners of this level's parameters.

        ``feeds_shared``: the level has a shared gate, so its task experts reach every
        task; ``gates_feed_shared``: the task gates' outputs reach the shared path (through
        the next level's task experts).
        """
        owners: dict[str, Owners] = {
            name: None for name, _ in self.named_parameters(prefix=prefix)
        }
        if self.task_experts is not None and not feeds_shared:
            owners |= owned_by(
                self.task_experts, f"{prefix}.task_experts", repeat_each(self.tasks, self.n_task)
            )
        if not gates_feed_shared:
            owners |= owned_by(self.task_gates, f"{prefix}.task_gates", self.tasks)
        return owners


class PLEBody(MultiTaskBody):
    """``n_levels`` extraction levels, then one tower + head per task (batched, fused)."""

    def __init__(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        expert_layer_sizes: Sequence[int],
        dropout: float,
        n_shared_experts: int,
        n_task_experts: int,
        n_levels: int,
        tower_layer_sizes: Sequence[int],
    ):
        super().__init__()
        tasks = list(task_outputs)
        width = expert_layer_sizes[-1] if len(expert_layer_sizes) else n_inputs
        self.levels = nn.ModuleList(
            ExtractionLevel(
                n_inputs if i == 0 else width, tasks, expert_layer_sizes, dropout,
                n_shared_experts, n_task_experts, final=i == n_levels - 1,
            )
            for i in range(n_levels)
        )
        self.towers = TaskTowers(width, task_outputs, tower_layer_sizes, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        task_in, shared_in = h, h  # the first level's task gates and experts all read h
        for level in self.levels:
            task_in, shared_in = level(task_in, shared_in)
        return self.towers(task_in)

    def parameter_owners(self) -> dict[str, Owners]:
        # Task-specific means "reached by that task's loss only". A non-final level's
        # shared gate mixes the task experts of that level into the shared path, so
        # those experts (and the gates feeding them) are used by every task and count
        # as shared; only what lies downstream of the last shared gate is truly owned.
        last = len(self.levels) - 1
        owners: dict[str, Owners] = {}
        for i, level in enumerate(self.levels):
            # The task gate's output is the next level's task input; it reaches the
            # shared path only through that level's task experts.
            gates_feed_shared = level.n_task > 0 and i + 1 < last
            owners |= level.parameter_owners(f"levels.{i}", i < last, gates_feed_shared)
        return owners | self.towers.parameter_owners("towers")


class PLE(Architecture):
    """Progressive layered extraction (Tang et al., RecSys 2020).

    A stack of ``n_levels`` customized-gate-control levels. Each level has
    ``n_shared_experts`` shared experts and ``n_task_experts`` experts per task (MLPs of
    ``expert_layer_sizes``). Task ``t``'s gate (softmax over a linear layer on ``t``'s
    input) mixes ``t``'s experts and the shared ones into ``t``'s next input; at
    non-final levels a shared gate mixes all experts into the next shared input. After
    the last level each task has its own tower and head. Separating task experts from
    shared ones lets tasks keep private features while sharing the rest, which reduces
    the "seesaw" between tasks that MMoE can show. Each level's shared experts, task
    experts and task gates, and the towers, run as one batched layer per depth
    (``tabmtl._nn.layers``).

    Shared experts and shared gates are shared parameters. Task experts, task gates and
    towers are task parameters where only their task reaches them: with
    ``n_levels > 1`` the task experts of non-final levels also feed the shared gate,
    hence every task, so they (and the task gates before them) count as shared.

    Parameters
    ----------
    n_shared_experts : int, default=2
        Shared experts per level.
    n_task_experts : int, default=1
        Experts per task per level.
    n_levels : int, default=2
        Number of extraction levels (1 is a single CGC layer).
    expert_layer_sizes : tuple of int, optional
        Hidden sizes of each expert; the estimator's ``hidden_layer_sizes`` when None.
    tower_layer_sizes : tuple of int, default=()
        Hidden sizes of each task's tower between the last level and its output layer.

    Examples
    --------
    >>> import torch
    >>> body = PLE(n_levels=2).build(8, {"eta": 1, "mode": 3}, (16,), 0.0)
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    >>> [level.shared_experts.n_members for level in body.levels]
    [2, 2]
    """

    def __init__(
        self,
        n_shared_experts: int = 2,
        n_task_experts: int = 1,
        n_levels: int = 2,
        expert_layer_sizes: Sequence[int] | None = None,
        tower_layer_sizes: Sequence[int] = (),
    ):
        self.n_shared_experts = n_shared_experts
        self.n_task_experts = n_task_experts
        self.n_levels = n_levels
        self.expert_layer_sizes = expert_layer_sizes
        self.tower_layer_sizes = tower_layer_sizes

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> PLEBody:
        for name, low in (("n_shared_experts", 1), ("n_task_experts", 0), ("n_levels", 1)):
            if int(getattr(self, name)) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)!r}.")
        sizes = hidden_layer_sizes if self.expert_layer_sizes is None else self.expert_layer_sizes
        return PLEBody(
            n_inputs, task_outputs, tuple(sizes), dropout, int(self.n_shared_experts),
            int(self.n_task_experts), int(self.n_levels), tuple(self.tower_layer_sizes),
        )
