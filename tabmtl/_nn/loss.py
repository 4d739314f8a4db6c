"""The multi-task criterion: masked per-task losses combined by a weighting."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tabmtl._data.targets import TARGET_KINDS
from tabmtl._nn.weighting.base import LossWeighting


class MultiTaskLoss(nn.Module):
    """Masked per-task losses combined by a weighting module (the skorch criterion).

    ``y`` holds one column per task, NaN where the label is missing; each task's loss is
    the mean over its present labels only, so a missing label drops out of that task
    alone. Outputs ``(batch, k, n_outputs)`` of an ensemble's ``k`` members give each
    task the mean of its members' losses. ``label_smoothing`` is passed to every kind's
    loss (classification kinds smooth their targets; regression kinds ignore it).
    """

    def __init__(
        self,
        kinds: Sequence[str],
        slices: Sequence[tuple[int, int]],
        weighting: LossWeighting,
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.kinds = list(kinds)
        self.slices = [tuple(s) for s in slices]
        self.weighting = weighting
        self.label_smoothing = float(label_smoothing)

    def task_losses(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task masked mean losses and the number of labels behind each.

        ``y`` may carry a second block of T columns: per-row, per-task weights (sample and
        class weights); each task's loss is then the weighted mean over its present labels.
        """
        n_tasks = len(self.kinds)
        weights = None
        if y.shape[1] == 2 * n_tasks:
            y, weights = y[:, :n_tasks], y[:, n_tasks:]
        present = ~torch.isnan(y)
        safe = torch.where(present, y, torch.zeros_like(y))
        members = out.shape[1] if out.dim() == 3 else 1
        if members > 1:  # every member of a row against the row's labels
            out = out.reshape(-1, out.shape[2])
            safe = safe.repeat_interleave(members, dim=0)
        per_row = torch.stack(
            [
                TARGET_KINDS[kind].loss(out[:, a:b], safe[:, j], self.label_smoothing)
                for j, (kind, (a, b)) in enumerate(zip(self.kinds, self.slices))
            ],
            dim=1,
        )
        if members > 1:  # each row's loss: the mean of its members' losses
            per_row = per_row.reshape(-1, members, per_row.shape[1]).mean(dim=1)
        counts = present.sum(dim=0)
        mass = present.to(per_row.dtype) if weights is None else present * weights
        total = mass.sum(dim=0)
        # a task with no (or only zero-weight) labels in the batch contributes 0
        losses = torch.where(total > 0, (per_row * mass).sum(dim=0) / total.clamp(min=1e-12), 0.0)
        return losses, counts

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.weighting(self.task_losses(out, y)[0])
