"""Progressive layered extraction: stacked levels of shared and task-specific experts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Architecture, MultiTaskBody, mlp
from .mmoe import mix, towers


class ExtractionLevel(nn.Module):
    """One customized gate control (CGC) level of PLE.

    Task ``t``'s gate reads ``t``'s input and mixes ``t``'s own experts with the shared
    ones; unless the level is the last, a shared gate reads the shared input and mixes
    *all* the level's experts into the next level's shared input.
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
        self.shared_experts = nn.ModuleList(mlp(n_inputs, sizes, dropout) for _ in range(n_shared))
        self.task_experts = nn.ModuleDict(
            {t: nn.ModuleList(mlp(n_inputs, sizes, dropout) for _ in range(n_task)) for t in tasks}
        )
        self.task_gates = nn.ModuleDict({t: nn.Linear(n_inputs, n_task + n_shared) for t in tasks})
        n_all = n_shared + n_task * len(tasks)
        self.shared_gate = None if final else nn.Linear(n_inputs, n_all)

    def forward(
        self, task_in: list[torch.Tensor], shared_in: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        shared = [e(shared_in) for e in self.shared_experts]
        own = [[e(x) for e in experts] for experts, x in zip(self.task_experts.values(), task_in)]
        task_out = [
            mix(gate(x), torch.stack(mine + shared, dim=1))
            for gate, x, mine in zip(self.task_gates.values(), task_in, own)
        ]
        if self.shared_gate is None:
            return task_out, None
        every = [out for mine in own for out in mine] + shared
        return task_out, mix(self.shared_gate(shared_in), torch.stack(every, dim=1))


class PLEBody(MultiTaskBody):
    """``n_levels`` extraction levels, then one tower + head per task."""

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
        self.towers = towers(width, task_outputs, tower_layer_sizes, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        task_in, shared_in = [h] * len(self.towers), h
        for level in self.levels:
            task_in, shared_in = level(task_in, shared_in)
        return torch.cat([tower(x) for tower, x in zip(self.towers.values(), task_in)], dim=1)

    def task_modules(self) -> dict[str, nn.Module]:
        # Task-specific means "reached by that task's loss only". A non-final level's
        # shared gate mixes the task experts of that level into the shared path, so
        # those experts (and the gates feeding them) are used by every task and count
        # as shared; only what lies downstream of the last shared gate is truly owned.
        last = len(self.levels) - 1
        owned: dict[str, list[nn.Module]] = {t: [self.towers[t]] for t in self.towers}
        for i, level in enumerate(self.levels):
            experts_feed_shared_gate = i < last
            for t in owned:
                if not experts_feed_shared_gate:
                    owned[t].append(level.task_experts[t])
                # The task gate's output is the next level's task input; it reaches the
                # shared path only through that level's task experts.
                next_feeds_shared = len(level.task_experts[t]) > 0 and i + 1 < last
                if not next_feeds_shared:
                    owned[t].append(level.task_gates[t])
        return {t: nn.ModuleList(mods) for t, mods in owned.items()}


class PLE(Architecture):
    """Progressive layered extraction (Tang et al., RecSys 2020).

    A stack of ``n_levels`` customized-gate-control levels. Each level has
    ``n_shared_experts`` shared experts and ``n_task_experts`` experts per task (MLPs of
    ``expert_layer_sizes``). Task ``t``'s gate (softmax over a linear layer on ``t``'s
    input) mixes ``t``'s experts and the shared ones into ``t``'s next input; at
    non-final levels a shared gate mixes all experts into the next shared input. After
    the last level each task has its own tower and head. Separating task experts from
    shared ones lets tasks keep private features while sharing the rest, which reduces
    the "seesaw" between tasks that MMoE can show.

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
    >>> [len(level.shared_experts) for level in body.levels]
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
