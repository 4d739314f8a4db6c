"""The skorch net: multi-task loss logged per task, gradient-level strategies' step.

skorch runs the training loop. tabmtl plugs into its documented extension points only:
the criterion (masked per-task losses combined by the weighting module), ``get_loss``
(which also logs each task's loss), ``get_iterator`` and ``train_step_single``.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from tabmtl.nn.weighting.base import GradientWeighting


class TrainingDiverged(ValueError):
    """A task's loss became NaN or infinite during training.

    The estimator that raises it keeps the weights of its best epoch so far (lowest
    validation loss, or training loss without validation), so ``predict`` still works.
    """


class MultiTaskNet(NeuralNet):
    """skorch ``NeuralNet`` whose loss is multi-task and logged per task.

    Only ``get_loss`` is overridden: it computes the masked per-task losses once,
    records them for :class:`TaskLogger`, and returns the weighted total.
    """

    def task_losses(self, y_pred, y_true, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task losses and label counts of a batch, recorded for :class:`TaskLogger`.

        Raises :class:`TrainingDiverged`, naming the tasks, when a loss is not finite.
        """
        y_true = to_tensor(y_true, device=self.device)
        losses, counts = self.criterion_.task_losses(y_pred, y_true)
        prefix = "train" if training else "valid"
        record = torch.stack([losses.detach() * counts, counts.to(losses.dtype)]).cpu().tolist()
        if not all(np.isfinite(record[0])):  # checked on values already on the host
            names = self._task_names()
            bad = {names[j]: v for j, v in enumerate(record[0]) if not np.isfinite(v)}
            raise TrainingDiverged(
                f"Training diverged in epoch {len(self.history)}: the {prefix} loss of "
                f"task(s) {list(bad)!r} became {list(bad.values())!r}. Lower `lr`, check "
                "those targets for extreme values, or use early_stopping."
            )
        self.history.record_batch(f"{prefix}_task_sums", record)
        return losses, counts

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; the training one is kept so its shuffle state can be saved.

        A resumed fit sets ``pending_shuffle_state_`` (see ``ResumeCheckpoint``): the new
        iterator continues the interrupted fit's shuffle sequence instead of restarting it.
        """
        iterator = super().get_iterator(dataset, training=training)
        if training:
            self.train_iterator_ = iterator
            state = getattr(self, "pending_shuffle_state_", None)
            generator = getattr(iterator, "generator", None)
            if state is not None and generator is not None:
                generator.set_state(state)
            self.pending_shuffle_state_ = None
        return iterator

    def _task_names(self) -> list[str]:
        return list(dict(self.callbacks_)["task_logger"].task_names)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        losses, _ = self.task_losses(y_pred, y_true, training)
        loss = self.criterion_.weighting(losses)
        if training:
            loss = loss + self.module_.penalty()
        return loss

    def train_step_single(self, batch, **fit_params):
        """skorch's step, except that gradient-combining strategies do the backward."""
        weighting = self.criterion_.weighting
        if not isinstance(weighting, GradientWeighting):
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        losses, counts = self.task_losses(y_pred, yi, training=True)
        shared = [p for p in self.module_.shared_parameters() if p.requires_grad]
        shared_ids = {id(p) for p in shared}
        others = [p for _, p in self.get_all_learnable_params() if id(p) not in shared_ids]
        weighting.backward(losses, counts > 0, shared, others, extra=self.module_.penalty())
        return {"loss": weighting(losses.detach()), "y_pred": y_pred}
