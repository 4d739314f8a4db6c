"""The architecture extension point.

An *architecture* is a small scikit-learn-style config object (its hyper-parameters are
``get_params``/``set_params`` reachable, so ``architecture__<param>`` works in a grid
search) with one method, :meth:`Architecture.build`, that returns the torch body once
the input width and the tasks are known in ``fit``.

A body maps the embedded input ``h`` (batch, n_inputs) to the concatenated task outputs
(batch, sum of head widths) and says which of its parameters are shared by all tasks:
gradient-based weighting strategies combine per-task gradients on exactly those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from sklearn.base import BaseEstimator
from torch import nn


class MultiTaskBody(nn.Module):
    """Base of every architecture's torch module.

    Subclasses implement ``forward(h) -> Tensor`` returning the task outputs
    concatenated in task order, and :meth:`task_modules` (task name -> the modules only
    that task uses). Everything else is shared.
    """

    def task_modules(self) -> dict[str, nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        """Parameters that only ``task`` uses."""
        return self.task_modules()[task].parameters()

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters used by every task (the ones task gradients conflict on)."""
        owned = {id(p) for m in self.task_modules().values() for p in m.parameters()}
        return (p for p in self.parameters() if id(p) not in owned)

    def penalty(self) -> torch.Tensor | float:
        """Regulariser added to the training loss (e.g. soft sharing's tower distance)."""
        return 0.0


class Architecture(BaseEstimator):
    """Base of the architecture configs: hyper-parameters in ``__init__``, ``build`` in fit."""

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> MultiTaskBody:  # pragma: no cover - abstract
        raise NotImplementedError


def mlp(n_inputs: int, sizes: Sequence[int], dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout blocks; an empty ``sizes`` is the identity."""
    layers: list[nn.Module] = []
    width = n_inputs
    for size in sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    return nn.Sequential(*layers)


def heads(n_inputs: int, task_outputs: dict[str, int]) -> nn.ModuleDict:
    """One linear head per task (regression: 1 value, binary: 1 logit, K-class: K logits)."""
    return nn.ModuleDict({t: nn.Linear(n_inputs, k) for t, k in task_outputs.items()})


def concat_heads(module_dict: nn.ModuleDict, h: torch.Tensor) -> torch.Tensor:
    return torch.cat([head(h) for head in module_dict.values()], dim=1)
