"""The architecture extension point.

An *architecture* is a small scikit-learn-style config object (its hyper-parameters are
``get_params``/``set_params`` reachable, so ``architecture__<param>`` works in a grid
search) with one method, :meth:`Architecture.build`, that returns the torch body once
the input width and the tasks are known in ``fit``.

A body maps the embedded input ``h`` (batch, n_inputs) to the concatenated task outputs
(batch, sum of head widths) and declares, per parameter, who uses it
(:meth:`MultiTaskBody.parameter_owners`): every task (shared), or one task per slice
along the parameter's first dimension (a batched parameter holding one member per task,
or a fused head's rows). Gradient-based weighting strategies combine per-task gradients
on exactly the shared parameters; every other parameter is reached slice by slice by
one task only, so the gradient of the summed losses is each task's own gradient there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from sklearn.base import BaseEstimator
from torch import nn

#: Who uses a parameter: None = every task; a task name = that task alone; a tuple =
#: the task that uses each index along the parameter's first dimension.
Owners = str | tuple[str, ...] | None


def owned_by(module: nn.Module, prefix: str, owners: Owners) -> dict[str, Owners]:
    """``owners`` for every parameter of ``module`` (named as in the body, under ``prefix``)."""
    return {f"{prefix}.{name}": owners for name, _ in module.named_parameters()}


class MultiTaskBody(nn.Module):
    """Base of every architecture's torch module.

    Subclasses implement ``forward(h) -> Tensor`` returning the task outputs
    concatenated in task order, and declare who uses each parameter with
    :meth:`parameter_owners` (or, the older way, :meth:`task_modules`: task name -> the
    modules only that task uses, everything else shared).
    """

    def task_modules(self) -> dict[str, nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def parameter_owners(self) -> dict[str, Owners]:
        """Parameter name -> its :data:`Owners`; by default from :meth:`task_modules`."""
        owner_of = {id(p): t for t, m in self.task_modules().items() for p in m.parameters()}
        return {name: owner_of.get(id(p)) for name, p in self.named_parameters()}

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters used by every task (the ones task gradients conflict on)."""
        owners = self.parameter_owners()
        return (p for name, p in self.named_parameters() if owners[name] is None)

    def task_parameters(self, task: str) -> list[tuple[nn.Parameter, object]]:
        """The parts of the parameters only ``task`` uses, as ``(parameter, index)`` pairs.

        ``parameter[index]`` is the task's part: ``index`` is ``...`` for a whole
        parameter, else a tensor of positions along the first dimension.
        """
        owners = self.parameter_owners()
        parts: list[tuple[nn.Parameter, object]] = []
        for name, p in self.named_parameters():
            owner = owners[name]
            if owner == task:
                parts.append((p, ...))
            elif isinstance(owner, tuple) and task in owner:
                positions = [i for i, t in enumerate(owner) if t == task]
                parts.append((p, torch.tensor(positions, device=p.device)))
        return parts

    def penalty(self) -> torch.Tensor | float:
        """Regulariser added to the training loss (e.g. soft sharing's tower distance)."""
        return 0.0


class Architecture(BaseEstimator):
    """Base of the architecture configs: hyper-parameters in ``__init__``, ``build`` in fit.

    Examples
    --------
    >>> from tabmtl import ARCHITECTURES, Architecture, HardSharing
    >>> isinstance(HardSharing(), Architecture), ARCHITECTURES["hard"] is HardSharing
    (True, True)
    """

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> MultiTaskBody:  # pragma: no cover - abstract
        raise NotImplementedError


def repeat_each(tasks: Sequence[str], n: int) -> tuple[str, ...]:
    """Owners of ``n`` batched members per task, task-major (``a, a, b, b`` for n=2)."""
    return tuple(t for t in tasks for _ in range(n))
