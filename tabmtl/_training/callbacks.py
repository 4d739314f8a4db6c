"""skorch callbacks of tabmtl's training: per-task logging, the weighting's epoch step and
best weights."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping

#: ``probe(state) -> bool``: whether a saved module/criterion state gives finite outputs.
Probe = Callable[[dict], bool]


def epoch_rows(history) -> list[dict]:
    """The per-epoch rows of a skorch history without their per-batch records.

    What is worth keeping once an epoch is over: saved models, resume checkpoints and
    reports store these.
    """
    return [{k: v for k, v in row.items() if k != "batches"} for row in history]


def epoch_task_losses(row: dict, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Each task's mean loss over an epoch's present labels, and how many there were.

    Batches count by how many labels of the task they held. ``row`` is the epoch's
    history row, ``prefix`` "train" or "valid"; None when the epoch ran no such batch.
    A task without labels has mean NaN.
    """
    rows = [b[f"{prefix}_task_sums"] for b in row["batches"] if f"{prefix}_task_sums" in b]
    if not rows:
        return None
    sums = np.asarray(rows, dtype=np.float64).sum(axis=0)  # (2, T): loss*n and n
    means = np.where(sums[1] > 0, sums[0] / np.maximum(sums[1], 1), np.nan)
    return means, sums[1]


def normalised_objective(history, prefix: str, task_names) -> float:
    """Geometric mean over tasks of the epoch's loss over the task's first-epoch loss.

    The fixed model-selection objective: unlike the weighted loss it does not move when
    a learned weighting (uncertainty, DWA, GradNorm) moves its weights, and no task
    dominates by the scale of its loss. The *geometric* mean counts every task's
    relative progress alike: a task that has already fallen to 2% of its first loss
    (a near-deterministic regression) and improves by a tenth moves the objective as
    much as a noisy task improving by a tenth from 80%, where an arithmetic mean of the
    ratios would hardly notice the first (measured with ``benchmarks/sharing.py``:
    flights' ``air_time`` went from 0.014 to 0.006 R² below its single-task fit, no
    task of the six tables lost more than 0.001 by the change). Tasks without a finite,
    positive first-epoch loss are left out; NaN when none is left.
    """
    first, last = history[0], history[-1]
    ratios = [
        last.get(f"{prefix}_loss_{name}", np.nan) / first.get(f"{prefix}_loss_{name}", np.nan)
        for name in task_names
        if first.get(f"{prefix}_loss_{name}", np.nan) > 0
    ]
    ratios = [r for r in ratios if np.isfinite(r)]
    if not ratios:
        return float("nan")
    # a task whose loss reached exactly 0 (a perfectly fitted class) counts as tiny, not -inf
    return float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-12)))))


class TaskLogger(Callback):
    """Writes each task's epoch loss, the selection objective and the task weights.

    ``train_loss_<task>`` / ``valid_loss_<task>`` are means over the epoch's present
    labels (batches weighted by how many labels of that task they held);
    ``train_objective`` / ``valid_objective`` the :func:`normalised_objective` that early
    stopping and best-epoch selection watch (with ``valid_objective_best``, True on a new
    lowest); ``weight_<task>`` is the task's weight at the end of the epoch (before
    :class:`WeightingStep` moves it on). Task names are the net's ``task_names``;
    ``objective_tasks`` (default: all of them) are the tasks the objective averages over
    (the main targets when some are auxiliary: set through the net's
    ``callbacks__task_logger__objective_tasks``).
    One of :class:`~tabmtl._training.net.MultiTaskNet`'s default callbacks.
    """

    def __init__(self, objective_tasks=None):
        self.objective_tasks = objective_tasks

    def on_epoch_end(self, net, **kwargs):
        history = net.history
        for prefix in ("train", "valid"):
            losses = epoch_task_losses(history[-1], prefix)
            if losses is None:
                continue
            for name, value in zip(net.task_names, losses[0]):
                history.record(f"{prefix}_loss_{name}", float(value))
            selected = net.task_names if self.objective_tasks is None else self.objective_tasks
            objective = normalised_objective(history, prefix, selected)
            history.record(f"{prefix}_objective", objective)
            earlier = [
                row.get(f"{prefix}_objective", np.nan) for row in history[:-1]
            ]
            best = np.nanmin(earlier) if np.isfinite(earlier).any() else np.inf
            history.record(f"{prefix}_objective_best", bool(objective < best))
        weights = net.criterion_.weighting.weights().detach().cpu().tolist()
        for name, w in zip(net.task_names, weights):
            net.history.record(f"weight_{name}", float(w))


class WeightingStep(Callback):
    """Moves an epoch-level weighting (such as DWA) on with the epoch's task losses.

    Calls ``weighting.on_epoch_end`` with each task's mean training loss (NaN for a task
    without labels, or for every task when no training batch ran). One of
    :class:`~tabmtl._training.net.MultiTaskNet`'s default callbacks, right after
    :class:`TaskLogger`: training needs it, logging does not.
    """

    def on_epoch_end(self, net, **kwargs):
        losses = epoch_task_losses(net.history[-1], "train")
        means = [float("nan")] * len(net.task_names) if losses is None else losses[0].tolist()
        net.criterion_.weighting.on_epoch_end(torch.tensor(means, dtype=torch.float32))


class BestWeights(Callback):
    """Keeps an in-memory copy of the module and criterion at the best epoch so far.

    What is watched is what steers training. With skorch's ``EarlyStopping`` among the
    net's callbacks, its monitor (``valid_objective``) and its own rule for a new best
    (below its ``dynamic_threshold_``, the last best less its threshold), so the two
    always keep the same epoch. Without early stopping, ``train_objective`` (see
    :func:`normalised_objective`), even when the net has a validation split: such a
    split (the evaluation runner's test fold, shown in the learning curves) must never
    decide which weights are kept, not even after a divergence or Ctrl-C.

    Used to hand back usable weights when training diverges. An epoch's state is a
    *candidate* until a loss computed with exactly those weights is finite: the next
    epoch's training pass, whose first batch starts from them, ended without divergence
    (the net raises :class:`~tabmtl._training.net.TrainingDiverged` at the end of a pass,
    never per batch, so as not to sync with the device every batch). The epoch's own
    training losses were computed before its last step, which may already have blown
    the weights up.
    """

    def initialize(self):
        self.state_, self.epoch_, self.best_ = None, None, float("inf")
        self.candidate_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        if self.candidate_ is not None and row.get("train_batch_count", 0) > 0:
            # this epoch's training pass began from the candidate's weights and ended finite
            self.best_, self.epoch_, self.state_ = self.candidate_
            self.candidate_ = None
        stopper = next(
            (cb for _, cb in getattr(net, "callbacks_", ()) if isinstance(cb, EarlyStopping)),
            None,
        )
        if stopper is None:
            loss = row.get("train_objective")
            improved = loss is not None and np.isfinite(loss) and loss < self.best_
        else:  # early stopping's verdict, taken before it updates its threshold
            loss = row.get(stopper.monitor)
            improved = loss is not None and np.isfinite(loss) and (
                loss < stopper.dynamic_threshold_
                if stopper.lower_is_better
                else loss > stopper.dynamic_threshold_
            )
        if improved:
            state = {
                "module": copy.deepcopy(net.module_.state_dict()),
                "criterion": copy.deepcopy(net.criterion_.state_dict()),
            }
            self.candidate_ = (loss, row["epoch"], state)

    def best_epoch(self, *, probe: Probe | None = None) -> int | None:
        """The best verified epoch, or None when no epoch finished with a finite loss.

        With ``probe``, the latest candidate counts when all its weights are finite and
        ``probe(state)`` says that the outputs they give are finite: the batch that would
        have verified it never ran (training ended, or was interrupted, right after its
        epoch). Finite weights alone do not make finite outputs: a step with a huge
        learning rate leaves weights of 1e28 whose forward pass overflows.
        """
        if probe is not None and self._finite_candidate(probe):
            return self.candidate_[1]
        return self.epoch_

    def restore(self, net, *, probe: Probe | None = None) -> int | None:
        """Load the best epoch's weights into ``net`` (see :meth:`best_epoch`); its
        number, or None (``net`` untouched) when there is none."""
        if probe is not None and self._finite_candidate(probe):
            self.best_, self.epoch_, self.state_ = self.candidate_
            self.candidate_ = None
        if self.state_ is None:
            return None
        net.module_.load_state_dict(self.state_["module"])
        net.criterion_.load_state_dict(self.state_["criterion"])
        return self.epoch_

    def _finite_candidate(self, probe: Probe) -> bool:
        if self.candidate_ is None:
            return False
        state = self.candidate_[2]
        tensors = [t for part in state.values() for t in part.values()]
        weights_finite = all(
            bool(torch.isfinite(t).all())
            for t in tensors
            if torch.is_tensor(t) and t.is_floating_point()
        )
        return weights_finite and bool(probe(state))
