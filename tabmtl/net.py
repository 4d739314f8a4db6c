"""The torch side: network, multi-task loss, fast batching and the skorch net.

skorch runs the training loop. tabmtl plugs into its documented extension points only:
``dataset`` and ``iterator_train``/``iterator_valid`` (batches are slices of prebuilt
tensors, never per-row ``__getitem__`` + collate), the criterion (masked per-task losses
combined by the weighting module), and ``get_loss`` (which also logs each task's loss).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import Dataset, Subset

from .architectures.base import MultiTaskBody
from .targets import TARGET_KINDS
from .weighting.base import GradientWeighting, LossWeighting


class TrainingDiverged(ValueError):
    """A task's loss became NaN or infinite during training.

    The estimator that raises it keeps the weights of its best epoch so far (lowest
    validation loss, or training loss without validation), so ``predict`` still works.
    """


class TabularNetwork(nn.Module):
    """Numeric block + categorical embeddings -> architecture body -> task outputs.

    Input is the preprocessor's float32 matrix: ``n_numeric`` scaled columns followed by
    one column of integer codes per categorical feature.
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        embedding_dims: Sequence[int],
        body: MultiTaskBody,
    ):
        super().__init__()
        self.n_numeric = n_numeric
        self.embeddings = nn.ModuleList(
            nn.Embedding(k, d) for k, d in zip(cardinalities, embedding_dims)
        )
        self.body = body

    @property
    def n_inputs(self) -> int:
        return self.n_numeric + sum(e.embedding_dim for e in self.embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embeddings:
            codes = x[:, self.n_numeric :].long()
            parts = [x[:, : self.n_numeric]]
            parts += [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
            x = torch.cat(parts, dim=1)
        return self.body(x)

    def shared_parameters(self):
        """Embeddings and the body's shared parameters."""
        yield from self.embeddings.parameters()
        yield from self.body.shared_parameters()

    def penalty(self) -> torch.Tensor | float:
        return self.body.penalty()


class MultiTaskLoss(nn.Module):
    """Masked per-task losses combined by a weighting module (the skorch criterion).

    ``y`` holds one column per task, NaN where the label is missing; each task's loss is
    the mean over its present labels only, so a missing label drops out of that task
    alone.
    """

    def __init__(
        self,
        kinds: Sequence[str],
        slices: Sequence[tuple[int, int]],
        weighting: LossWeighting,
    ):
        super().__init__()
        self.kinds = list(kinds)
        self.slices = [tuple(s) for s in slices]
        self.weighting = weighting

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
        per_row = torch.stack(
            [
                TARGET_KINDS[kind].loss(out[:, a:b], safe[:, j])
                for j, (kind, (a, b)) in enumerate(zip(self.kinds, self.slices))
            ],
            dim=1,
        )
        counts = present.sum(dim=0)
        mass = present.to(per_row.dtype) if weights is None else present * weights
        total = mass.sum(dim=0)
        # a task with no (or only zero-weight) labels in the batch contributes 0
        losses = torch.where(total > 0, (per_row * mass).sum(dim=0) / total.clamp(min=1e-12), 0.0)
        return losses, counts

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.weighting(self.task_losses(out, y)[0])


class TensorDataset(Dataset):
    """Features and encoded targets held as two tensors (``y`` may be None at predict)."""

    def __init__(self, X, y=None):
        self.X = torch.as_tensor(X, dtype=torch.float32)
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):  # only for generic tools; training never indexes rows
        return self.X[i], (self.y[i] if self.y is not None else torch.zeros(()))


def _tensors(dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The (X, y) tensors behind a TensorDataset or a skorch/torch Subset of one."""
    if isinstance(dataset, Subset):
        X, y = _tensors(dataset.dataset)
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        return X[idx], (None if y is None else y[idx])
    if isinstance(dataset, TensorDataset):
        return dataset.X, dataset.y
    raise TypeError(f"tabmtl's batch iterator needs a TensorDataset, got {type(dataset)}.")


class SliceIterator:
    """Mini-batches as slices of prebuilt tensors (a shuffle is one permutation per epoch).

    Used as skorch's ``iterator_train``/``iterator_valid``: skorch calls it with the
    dataset and the ``iterator_*__`` parameters, then loops over it once per epoch.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
    ):
        X, y = _tensors(dataset)
        self.X = X.to(device) if device is not None else X
        self.y = None if y is None else y.to(self.X.device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = None
        if shuffle:
            self.generator = torch.Generator()
            self.generator.manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**63))

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        X, y, bs = self.X, self.y, self.batch_size
        if self.shuffle:
            perm = torch.randperm(len(X), generator=self.generator).to(X.device)
            X = X[perm]
            y = None if y is None else y[perm]
        for start in range(0, len(X), bs):
            yb = y[start : start + bs] if y is not None else None
            yield X[start : start + bs], yb


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
