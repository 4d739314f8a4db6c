"""Cross-stitch networks: per-task towers whose activations are linearly mixed."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from tabmtl._nn.architectures.base import Architecture, MultiTaskBody, Owners, owned_by
from tabmtl._nn.layers import ParallelLinear, TaskHeads, dropout


def stitch_init(n_tasks: int, self_weight: float) -> torch.Tensor:
    """TxT mixing matrix: ``self_weight`` on the diagonal, the rest spread evenly.

    Rows sum to 1 so, at init, each task sees a convex mix dominated by its own tower.
    """
    if n_tasks == 1:
        return torch.ones(1, 1)  # nothing to mix with: start as the identity
    off = (1.0 - self_weight) / (n_tasks - 1)
    return torch.full((n_tasks, n_tasks), off).fill_diagonal_(self_weight)


class CrossStitchBody(MultiTaskBody):
    """Task towers layer by layer (batched: member t of each layer is task t's), a
    learned TxT cross-stitch unit after each layer, fused heads."""

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
        n_tasks = len(task_outputs)
        self.dropout = float(dropout)
        self.layers = nn.ModuleList(
            ParallelLinear(n_tasks, a, b) for a, b in pairwise(widths)
        )
        init = stitch_init(n_tasks, self_weight)
        self.stitches = nn.ParameterList(
            nn.Parameter(init.clone()) for _ in hidden_layer_sizes
        )
        self.heads = TaskHeads(widths[-1], task_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = h  # (batch, n_inputs), read by every tower's first layer
        for layer, stitch in zip(self.layers, self.stitches):
            out = dropout(torch.relu(layer(x)), self.dropout, self.training)
            # x'_t = sum_s A[t, s] x_s over the (T, batch, width) stack
            x = torch.einsum("ts,sbd->tbd", stitch, out)
        return self.heads(x)

    def parameter_owners(self) -> dict[str, Owners]:
        # Only the heads: through the stitches every task's output depends on every
        # tower, so the towers receive (and conflict on) all tasks' gradients and count
        # as shared for the gradient-weighting strategies.
        owners = {name: None for name, _ in self.named_parameters()}
        return owners | owned_by(self.heads, "heads", self.heads.output_owners)

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
