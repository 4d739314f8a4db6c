"""Hard parameter sharing: one shared MLP trunk, one head per task."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tabmtl._nn.architectures.base import Architecture, MultiTaskBody, Owners, owned_by
from tabmtl._nn.layers import ParallelMLP, SharedMLP, TaskHeads


class HardSharingBody(MultiTaskBody):
    """Shared trunk; per-task towers and private paths (batched, optional); fused heads."""

    def __init__(
        self, n_inputs, task_outputs, hidden_layer_sizes, dropout, head_layer_sizes,
        private_layer_sizes=(),
    ):
        super().__init__()
        self.tasks = tuple(task_outputs)
        self.trunk = SharedMLP(n_inputs, hidden_layer_sizes, dropout)
        self.towers = (
            ParallelMLP(len(task_outputs), self.trunk.out_features, head_layer_sizes, dropout)
            if head_layer_sizes else None
        )
        self.private = (
            ParallelMLP(len(task_outputs), n_inputs, private_layer_sizes, dropout)
            if private_layer_sizes else None
        )
        width = self.towers.out_features if self.towers else self.trunk.out_features
        width += self.private.out_features if self.private else 0
        self.heads = TaskHeads(width, task_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.trunk(h)
        if self.towers:
            z = self.towers(z)  # (T, batch, width)
        if self.private:  # each head reads the shared features and its task's own
            own = self.private(h)  # (T, batch, private width)
            if z.dim() == 2:
                z = z.unsqueeze(0).expand(own.shape[0], -1, -1)
            z = torch.cat([z, own], dim=-1)
        return self.heads(z)

    def parameter_owners(self) -> dict[str, Owners]:
        owners = owned_by(self.trunk, "trunk", None)
        if self.towers:
            owners |= owned_by(self.towers, "towers", self.tasks)
        if self.private:
            owners |= owned_by(self.private, "private", self.tasks)
        return owners | owned_by(self.heads, "heads", self.heads.output_owners)


class HardSharing(Architecture):
    """Hard parameter sharing (Caruana 1997): a shared trunk feeds one head per task.

    The trunk is the estimator's ``hidden_layer_sizes`` MLP; each head is a linear layer,
    or a small per-task tower when ``head_layer_sizes`` is given. The towers run batched
    and the heads as one fused layer (``tabmtl._nn.layers``).

    ``private_layer_sizes`` protects tasks from negative transfer: each task also gets a
    private MLP on the embedded input, trained by its own loss alone, and its head reads
    the shared features and its private ones side by side. A task the others do not help
    (one that depends on features they ignore) then keeps its single-task score while
    related tasks still gain (``tests/test_sharing.py``). It is off by default: on the six
    project tables narrow private paths cost more tasks than they saved
    (``python -m benchmarks.sharing``; README, "Sharing that pays"). Turn it on where
    ``tabmtl evaluate`` flags negative transfer.

    Parameters
    ----------
    head_layer_sizes : tuple of int, default=()
        Hidden sizes of each task's own tower between the trunk and its output layer.
    private_layer_sizes : tuple of int, default=()
        Hidden sizes of each task's private path from the embedded input to its head
        (none by default). ``(16,)`` adds one 16-wide layer per task.

    Examples
    --------
    >>> body = HardSharing().build(8, {"eta": 1, "mode": 3}, (16,), 0.0)
    >>> import torch
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    >>> HardSharing(private_layer_sizes=(4,)).build(8, {"eta": 1}, (16,), 0.0).heads.weight.shape
    torch.Size([1, 20])
    """

    def __init__(
        self, head_layer_sizes: Sequence[int] = (), private_layer_sizes: Sequence[int] = ()
    ):
        self.head_layer_sizes = head_layer_sizes
        self.private_layer_sizes = private_layer_sizes

    def build(self, n_inputs, task_outputs, hidden_layer_sizes, dropout) -> HardSharingBody:
        return HardSharingBody(
            n_inputs, task_outputs, tuple(hidden_layer_sizes), dropout,
            tuple(self.head_layer_sizes), tuple(self.private_layer_sizes),
        )
