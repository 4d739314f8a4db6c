"""Soft parameter sharing: one tower per task, pulled together by a distance penalty."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tabmtl._nn.architectures.base import Architecture, MultiTaskBody, Owners, owned_by
from tabmtl._nn.layers import ParallelLinear, ParallelMLP, TaskHeads


class SoftSharingBody(MultiTaskBody):
    """Per-task towers run batched (member t is task t's), fused heads; :meth:`penalty`
    ties the towers' layers."""

    def __init__(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
        strength: float,
    ):
        super().__init__()
        self.strength = float(strength)
        self.tasks = tuple(task_outputs)
        self.towers = ParallelMLP(len(task_outputs), n_inputs, hidden_layer_sizes, dropout)
        self.heads = TaskHeads(self.towers.out_features, task_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.heads(self.towers(h))

    def parameter_owners(self) -> dict[str, Owners]:
        return owned_by(self.towers, "towers", self.tasks) | owned_by(
            self.heads, "heads", self.heads.output_owners
        )

    def tied_layers(self) -> list[ParallelLinear]:
        """The towers' hidden layers, each holding every task's copy (the tied layers).

        Heads are left out: their widths differ between tasks (1 value vs K logits) and
        their weights mean different things, so there is nothing to pull them toward.
        """
        return list(self.towers.layers)

    def penalty(self) -> torch.Tensor | float:
        """``strength * sum_layers sum_tasks ||W_t - mean_s W_s||²`` (biases included).

        Computed on the stacked (T, ...) parameters as they are: no copies.
        """
        if self.strength == 0 or len(self.tasks) < 2:
            return 0.0
        total = 0.0
        for layer in self.tied_layers():
            for stacked in (layer.weight, layer.bias):
                total = total + (stacked - stacked.mean(dim=0)).square().sum()
        return self.strength * total


class SoftSharing(Architecture):
    """Soft parameter sharing (Duong et al. 2015): separate towers kept close by a penalty.

    Every task gets its own MLP tower (the estimator's ``hidden_layer_sizes``) and
    head, so no body parameter is shared; instead the training loss gets
    ``penalty * sum_l sum_t ||W_t^l - mean_s W_s^l||²`` over the towers' hidden layers
    (weights and biases), which pulls corresponding layers toward their mean. Large
    values approach hard sharing, 0 gives independent networks (which then share only
    the categorical embeddings). The towers run as one batched MLP and the heads as one
    fused layer (``tabmtl._nn.layers``).

    Parameters
    ----------
    penalty : float, default=1e-2
        Strength of the squared-L2 pull of each tower's layers toward the towers' mean.
        The sum runs over every weight, so wider towers are tied harder at equal
        strength. With the default widths (128, 64) and standardised targets, 1e-2
        cuts the towers' relative spread to about a third of that of untied towers
        without costing fit; 1e-3 leaves them nearly independent.

    Examples
    --------
    >>> import torch
    >>> body = SoftSharing(penalty=0.01).build(8, {"eta": 1, "mode": 3}, (16,), 0.0)
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    >>> list(body.shared_parameters())
    []
    >>> bool(body.penalty() > 0)
    True
    """

    def __init__(self, penalty: float = 1e-2):
        self.penalty = penalty

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> SoftSharingBody:
        if not self.penalty >= 0:  # also rejects NaN
            raise ValueError(f"penalty must be >= 0, got {self.penalty!r}.")
        return SoftSharingBody(
            n_inputs, task_outputs, tuple(hidden_layer_sizes), dropout, self.penalty
        )
