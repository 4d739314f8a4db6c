"""The multi-task criterion with a fixed factor on some tasks' losses (auxiliary targets)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tabmtl._nn.loss import MultiTaskLoss


class ScaledMultiTaskLoss(MultiTaskLoss):
    """:class:`MultiTaskLoss` whose per-task losses are multiplied by fixed ``scales``
    before the weighting sees them (``auxiliary_weight`` on the auxiliary targets).

    Every weighting strategy then combines the scaled losses as it would any others: a
    fixed or equal weighting multiplies the factor in, while strategies that normalise
    each task's loss scale away (uncertainty, DWA, GradNorm, the gradient aggregators)
    largely undo it. The history's per-task losses are the scaled ones too.

    Examples
    --------
    >>> from tabmtl._nn.weighting import resolve_weighting
    >>> loss = ScaledMultiTaskLoss(["regression", "regression"], [(0, 1), (1, 2)],
    ...                            resolve_weighting("equal").build(["a", "b"]),
    ...                            scales=[1.0, 0.5])
    >>> losses, _ = loss.task_losses(torch.zeros(2, 2), torch.ones(2, 2))
    >>> losses.tolist()
    [1.0, 0.5]
    """

    def __init__(self, *args, scales: Sequence[float], **kwargs):
        super().__init__(*args, **kwargs)
        self.scales = [float(s) for s in scales]

    def task_losses(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        losses, counts = super().task_losses(out, y)
        scales = torch.as_tensor(self.scales, dtype=losses.dtype, device=losses.device)
        return losses * scales, counts
