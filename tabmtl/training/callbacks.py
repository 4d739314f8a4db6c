"""skorch callbacks that tabmtl's training adds: per-task logging and best weights."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from skorch.callbacks import Callback


def epoch_rows(history) -> list[dict]:
    """The per-epoch rows of a skorch history without their per-batch records.

    What is worth keeping once an epoch is over: saved models, resume checkpoints and
    reports store these.
    """
    return [{k: v for k, v in row.items() if k != "batches"} for row in history]


class TaskLogger(Callback):
    """Writes each task's epoch loss and current weight into the skorch history.

    ``train_loss_<task>`` / ``valid_loss_<task>`` are means over the epoch's present
    labels (batches weighted by how many labels of that task they held), and
    ``weight_<task>`` is the task's weight at the end of the epoch.
    """

    def __init__(self, task_names: Sequence[str]):
        self.task_names = task_names

    def on_epoch_end(self, net, **kwargs):
        batches = net.history[-1, "batches"]
        for prefix in ("train", "valid"):
            rows = [b[f"{prefix}_task_sums"] for b in batches if f"{prefix}_task_sums" in b]
            if not rows:
                continue
            sums = np.asarray(rows, dtype=np.float64).sum(axis=0)  # (2, T): loss*n and n
            means = sums[0] / np.maximum(sums[1], 1)
            for name, value, n in zip(self.task_names, means, sums[1]):
                net.history.record(f"{prefix}_loss_{name}", float(value) if n else float("nan"))
        weighting = net.criterion_.weighting
        for name, w in zip(self.task_names, weighting.weights().detach().cpu().tolist()):
            net.history.record(f"weight_{name}", float(w))
        row = net.history[-1]
        train = [row.get(f"train_loss_{name}", float("nan")) for name in self.task_names]
        weighting.on_epoch_end(torch.tensor(train, dtype=torch.float32))


class BestWeights(Callback):
    """Keeps an in-memory copy of the module and criterion at the best epoch so far.

    Monitors ``valid_loss`` when there is a validation split, else ``train_loss``; used to
    hand back usable weights when training diverges. An epoch's state is a *candidate*
    until a loss computed with exactly those weights (the next training batch's, taken
    before its optimizer step) is finite: the epoch's own training losses were computed
    before its last step, which may already have blown the weights up.
    """

    def initialize(self):
        self.state_, self.epoch_, self.best_ = None, None, float("inf")
        self.candidate_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        loss = row.get("valid_loss", row.get("train_loss"))
        if loss is not None and np.isfinite(loss) and loss < self.best_:
            state = {
                "module": copy.deepcopy(net.module_.state_dict()),
                "criterion": copy.deepcopy(net.criterion_.state_dict()),
            }
            self.candidate_ = (loss, row["epoch"], state)

    def on_batch_end(self, net, training=False, **kwargs):
        # reached only when the batch's losses were finite (else TrainingDiverged)
        if training and self.candidate_ is not None:
            self.best_, self.epoch_, self.state_ = self.candidate_
            self.candidate_ = None

    def restore(self, net) -> int | None:
        """Load the best verified epoch's weights into ``net``; its number, or None."""
        if self.state_ is None:
            return None
        net.module_.load_state_dict(self.state_["module"])
        net.criterion_.load_state_dict(self.state_["criterion"])
        return self.epoch_
