"""Cross-stitch networks: per-task towers whose activations are linearly mixed."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from .base import Architecture, MultiTaskBody, heads, mlp


def stitch_init(n_tasks: int, self_weight: float) -> torch.Tensor:
    """TxT mixing matrix: ``self_weight`` on the diagonal, the rest spread evenly.

    Rows sum to 1 so, at init, each task sees a convex mix dominated by its own tower.
    """
    if n_tasks == 1:
        return torch.ones(1, 1)  # nothing to mix with: start as the identity
    off = (1.0 - self_weight) / (n_tasks - 1)
    return torch.full((n_tasks, n_tasks), off).fill_diagonal_(self_weight)


class CrossStitchBody(MultiTaskBody):
    """Task towers layer by layer, a learned TxT cross-stitch unit after each layer."""

    def __init__(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
        self_weight: float,
    ):
        super().__init__()
        widths = [n_inputs, *hidden_layer_sizes]
        # towers[t][l] is task t's l-th Linear -> ReLU (-> Dropout) block.
        self.towers = nn.ModuleDict(
            {
                t: nn.ModuleList(mlp(a, (b,), dropout) for a, b in pairwise(widths))
                for t in task_outputs
            }
        )
        init = stitch_init(len(task_outputs), self_weight)
        self.stitches = nn.ParameterList(
            nn.Parameter(init.clone()) for _ in hidden_layer_sizes
        )
        self.heads = heads(widths[-1], task_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        xs = [h] * len(self.towers)
        for depth, stitch in enumerate(self.stitches):
            out = torch.stack([tower[depth](x) for tower, x in zip(self.towers.values(), xs)])
            # x'_t = sum_s A[t, s] x_s over the (T, batch, width) stack
            xs = list(torch.einsum("ts,sbd->tbd", stitch, out).unbind(0))
        return torch.cat([head(x) for head, x in zip(self.heads.values(), xs)], dim=1)

    def task_modules(self) -> dict[str, nn.Module]:
        # Only the heads: through the stitches every task's output depends on every
        # tower, so the towers receive (and conflict on) all tasks' gradients and count
        # as shared for the gradient-weighting strategies.
        return dict(self.heads.items())

    def mixing_matrices(self) -> list[torch.Tensor]:
        """The current TxT cross-stitch matrices, one per hidden layer (detached)."""
        return [s.detach().clone() for s in self.stitches]


class CrossStitch(Architecture):
    """Cross-stitch networks (Misra et al. 2016): per-task towers that share by mixing.

    Each task has its own tower of the estimator's ``hidden_layer_sizes``; after each
    hidden layer a cross-stitch unit, a learned TxT matrix ``A``, replaces the task
    activations with linear combinations ``x'_t = sum_s A[t, s] x_s``. Then one head
    per task. ``A`` starts near the identity (``init_self_weight`` on the diagonal,
    the rest shared evenly among the other tasks), so training begins from almost
    separate networks and learns how much to share per layer.

    Because every task's output depends on every tower through the mixing, the towers
    and the stitches are the shared parameters; only the heads are task-specific.

    Parameters
    ----------
    init_self_weight : float, default=0.9
        Initial diagonal of every cross-stitch matrix (each row sums to 1).

    Examples
    --------
    >>> import torch
    >>> body = CrossStitch().build(8, {"eta": 1, "mode": 3}, (16, 8), 0.0)
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    >>> body.mixing_matrices()[0]
    tensor([[0.9000, 0.1000],
            [0.1000, 0.9000]])
    """

    def __init__(self, init_self_weight: float = 0.9):
        self.init_self_weight = init_self_weight

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> CrossStitchBody:
        if not 0.0 <= self.init_self_weight <= 1.0:
            raise ValueError(
                f"init_self_weight must be in [0, 1], got {self.init_self_weight!r}."
            )
        return CrossStitchBody(
            n_inputs, task_outputs, tuple(hidden_layer_sizes), dropout,
            float(self.init_self_weight),
        )
