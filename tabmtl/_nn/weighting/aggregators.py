"""Gradient aggregators from torchjd (the one module that imports it).

PCGrad, CAGrad, MGDA, IMTL-G, UPGrad and Aligned-MTL are well implemented and tested in
torchjd; tabmtl only adapts them: per-task gradients on the shared parameters form a
Jacobian (one row per task with labels in the batch), the aggregator turns it into one
update, and every task-specific parameter gets its own task's gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchjd import aggregation
from torchjd.autojac import backward as jac_backward
from torchjd.autojac import jac_to_grad

from .base import GradientWeighting, Weighting


class AggregatedGradients(GradientWeighting):
    """Combine task gradients on the shared parameters with a torchjd aggregator.

    With ``normalize="l2"`` each task's gradient (its row of the Jacobian on the shared
    parameters) is scaled to unit length before the aggregator sees it, so the update
    depends on the gradients' directions only, not on each loss's scale.
    """

    def __init__(self, n_tasks: int, aggregator: nn.Module, normalize: str | None = None):
        super().__init__()
        if normalize not in (None, "l2"):
            raise ValueError(f"normalize must be None or 'l2', got {normalize!r}.")
        self.aggregator = aggregator
        self.normalize = normalize
        self._init_weight_log(n_tasks)

    def backward(self, losses, present, shared, others, extra=0.0) -> None:
        others = [p for p in others if p.requires_grad]
        rows = losses[present]
        if shared and len(rows):
            # tasks without labels in this batch have no gradient: leave them out, or a
            # min-norm rule (MGDA) would pick their zero row and stop training
            jac_backward(list(rows), inputs=shared, retain_graph=True)
            if self.normalize == "l2":
                _unit_rows(shared)
            weights = jac_to_grad(shared, self.aggregator)
            if weights is not None:
                full = torch.zeros_like(losses.detach())
                full[present] = weights.detach().to(full)
                self._log_weights(full, present)
        if others:
            torch.autograd.backward(losses.sum() + extra, inputs=others)


def _unit_rows(params: list[nn.Parameter]) -> None:
    """Scale each task's row of the Jacobian (in the ``.jac`` fields) to unit L2 norm."""
    jacs = [p.jac for p in params]
    norms = torch.sqrt(sum(j.reshape(len(j), -1).square().sum(dim=1) for j in jacs))
    scale = torch.where(norms > 0, 1.0 / norms.clamp(min=1e-12), 1.0)
    for j in jacs:
        j.mul_(scale.reshape(-1, *[1] * (j.dim() - 1)).to(j))


class _TorchJDWeighting(Weighting):
    """Config for one torchjd aggregator; subclasses say which, with which arguments."""

    def _aggregator(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def build(self, task_names: Sequence[object]) -> AggregatedGradients:
        try:
            aggregator = self._aggregator()
        except ImportError as exc:  # CAGrad needs cvxpy, UPGrad a QP solver
            raise ImportError(
                f"{type(self).__name__} needs optional solvers ({exc}); install them with "
                "pip install 'tabmtl[gradients]'."
            ) from exc
        return AggregatedGradients(len(task_names), aggregator)


class PCGradWeighting(_TorchJDWeighting):
    """PCGrad (Yu et al., NeurIPS 2020): project away the conflicting part of each task
    gradient before summing.

    Examples
    --------
    >>> PCGradWeighting().build(["a", "b"]).aggregator
    PCGrad()
    """

    def _aggregator(self) -> nn.Module:
        return aggregation.PCGrad()


class CAGradWeighting(_TorchJDWeighting):
    """CAGrad (Liu et al., NeurIPS 2021): the update closest to the mean gradient that
    improves the worst task; ``c`` is the radius (0 = mean gradient). Needs ``cvxpy`` and
    ``clarabel`` (``pip install 'tabmtl[gradients]'``).

    Examples
    --------
    >>> CAGradWeighting(c=0.4).c
    0.4
    """

    def __init__(self, c: float = 0.4):
        self.c = c

    def _aggregator(self) -> nn.Module:
        return aggregation.CAGrad(c=self.c)


class MGDAWeighting(_TorchJDWeighting):
    """MGDA (Sener & Koltun, NeurIPS 2018): the min-norm convex combination of the task
    gradients, a common descent direction.

    By default on unit-normalised task gradients (``normalize="l2"``, the paper's
    gradient normalisation). On raw gradients the min-norm point weighs each task about
    inversely to its squared gradient norm, so a task whose loss has the larger
    gradients (typically a regression beside classifications) gets a weight near 0 on
    the shared layers and is starved: on a small mixed table under hard sharing its R²
    stayed far below equal weighting's. ``normalize=None`` is the raw rule.

    Examples
    --------
    >>> MGDAWeighting().build(["a", "b"]).aggregator
    MGDA(epsilon=0.001, max_iters=100)
    """

    def __init__(self, epsilon: float = 1e-3, max_iters: int = 100, normalize: str | None = "l2"):
        self.epsilon = epsilon
        self.max_iters = max_iters
        self.normalize = normalize

    def _aggregator(self) -> nn.Module:
        return aggregation.MGDA(epsilon=self.epsilon, max_iters=self.max_iters)

    def build(self, task_names: Sequence[object]) -> AggregatedGradients:
        module = super().build(task_names)
        module.normalize = self.normalize
        if self.normalize not in (None, "l2"):
            raise ValueError(f"normalize must be None or 'l2', got {self.normalize!r}.")
        return module


class IMTLWeighting(_TorchJDWeighting):
    """IMTL-G (Liu et al., ICLR 2021): the update whose projection on every task's unit
    gradient is equal.

    Examples
    --------
    >>> IMTLWeighting().build(["a", "b"]).aggregator
    IMTLG()
    """

    def _aggregator(self) -> nn.Module:
        return aggregation.IMTLG()


class UPGradWeighting(_TorchJDWeighting):
    """UPGrad (Quinton & Rey, 2024): project each task gradient onto the dual cone of all
    of them and average, so no task's loss increases to first order. Needs a QP solver
    (``pip install 'tabmtl[gradients]'``).

    Examples
    --------
    >>> type(UPGradWeighting().build(["a", "b"]).aggregator).__name__
    'UPGrad'
    """

    def _aggregator(self) -> nn.Module:
        return aggregation.UPGrad()


class AlignedMTLWeighting(_TorchJDWeighting):
    """Aligned-MTL (Senushkin et al., CVPR 2023): align the principal components of the
    task gradients so the update is stable and conflict-free.

    Examples
    --------
    >>> AlignedMTLWeighting().build(["a", "b"]).aggregator
    AlignedMTL(pref_vector=None, scale_mode='min')
    """

    def _aggregator(self) -> nn.Module:
        return aggregation.AlignedMTL()
