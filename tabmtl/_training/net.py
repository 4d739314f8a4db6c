"""The skorch net: multi-task loss logged per task, gradient-level strategies' step.

skorch runs the training loop. tabmtl plugs into its documented extension points only:
the criterion (masked per-task losses combined by the weighting module), ``get_loss``
(which also sums each task's loss on the device), ``run_single_epoch`` (reads the sums
and the loss back once per pass instead of once per batch), ``get_iterator``,
``train_step_single``, the default callbacks, and ``fit_loop``/``partial_fit`` (to keep
the best epoch after Ctrl-C).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.dataset import get_len, unpack_data
from skorch.utils import to_tensor

from tabmtl._nn.weighting.base import GradientWeighting
from tabmtl._training.callbacks import BestWeights, TaskLogger, WeightingStep
from tabmtl._training.distributed.loss_scale import global_task_losses
from tabmtl._training.iterators import TensorDataset

#: How many of the training rows a forward pass checks for finite outputs at the end of
#: a fit (see :meth:`MultiTaskNet._outputs_finite`).
PROBE_ROWS = 4096


class TrainingDiverged(ValueError):
    """A task's loss became NaN or infinite during training.

    The estimator that raises it keeps the weights of its best epoch so far (lowest
    validation loss, or training loss without validation), so ``predict`` still works.
    """


@contextmanager
def seeded_rng(seed: int, device: str | torch.device | None) -> Iterator[None]:
    """Seed the global torch generators a fit on ``device`` draws from; restore them after.

    Weight initialisation draws from the CPU generator and dropout from the generator of
    the device it runs on, so a seed decides a fit only if both are seeded, on CUDA and
    on any other accelerator (MPS, XPU...: the device's torch module). Only those are
    forked and seeded: ``torch.manual_seed`` would also reseed every CUDA device's
    generator, and ``fork_rng`` would not restore them, leaving the caller's state changed.

    Examples
    --------
    >>> state = torch.get_rng_state()
    >>> with seeded_rng(0, "cpu"):
    ...     first = torch.rand(1)
    >>> with seeded_rng(0, "cpu"):
    ...     bool(torch.equal(first, torch.rand(1)))
    True
    >>> bool(torch.equal(torch.get_rng_state(), state))
    True
    """
    device = torch.device("cpu" if device is None else device)
    if device.type in ("cpu", "meta"):
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    # any accelerator (cuda, mps, xpu...): its torch module seeds and saves its generator
    module = torch.get_device_module(device.type)
    index = device.index
    if index is None:
        index = module.current_device() if hasattr(module, "current_device") else 0
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        if hasattr(module, "device"):  # cuda, xpu: seed this device's generator only
            with module.device(index):
                module.manual_seed(seed)
        else:  # mps: a single device
            module.manual_seed(seed)
        yield


class MultiTaskNet(NeuralNet):
    """skorch ``NeuralNet`` whose loss is multi-task and logged per task.

    ``get_loss`` computes the masked per-task losses once, adds them to the pass's sums
    on the device (read once per pass for
    :class:`~tabmtl._training.callbacks.TaskLogger`), and returns the weighted total. Two
    default callbacks follow skorch's own: ``task_logger`` (per-task history columns)
    and ``weighting_step`` (moves epoch-level weightings such as DWA on), so a
    ``callbacks`` list cannot drop them by accident.

    A fit interrupted with Ctrl-C (``KeyboardInterrupt``, which skorch's ``partial_fit``
    swallows) drops the unfinished epoch's history row and loads the best epoch's
    weights (see :class:`~tabmtl._training.callbacks.BestWeights`).

    Parameters
    ----------
    task_names : list of str
        One name per task, in the criterion's order: the suffix of the history columns.
    *args, **kwargs
        ``skorch.NeuralNet``'s parameters.

    Attributes
    ----------
    interrupted_ : bool
        Whether the last ``fit``/``partial_fit`` was interrupted (Ctrl-C).
    stopped_early_ : bool
        Whether early stopping ended it; the best epoch's weights are then loaded too.
    best_epoch_ : int or None
        After an interrupted or early-stopped fit, the epoch whose weights were loaded
        (None: no epoch finished); after a normal one, the best epoch so far, whose
        weights the net holds only if it was the last.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl._data.features import FeaturePreprocessor
    >>> from tabmtl._data.targets import TargetSpec
    >>> from tabmtl._training.build import build_net
    >>> from tabmtl._training.iterators import TensorDataset
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = pd.DataFrame({"km": np.arange(9.0)}), pd.DataFrame({"eta": np.arange(9.0)})
    >>> spec, pre = TargetSpec().fit(Y), FeaturePreprocessor().fit(X)
    >>> params = MultiTaskEstimator(max_epochs=2, numeric_embedding=None).get_params(deep=False)
    >>> net = build_net(params, spec, pre, seed=0)
    >>> net = net.fit(TensorDataset(pre.transform(X), spec.transform(Y)), y=None)
    >>> "train_loss_eta" in net.history[-1], net.interrupted_
    (True, False)
    """

    def __init__(self, *args, task_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.task_names = task_names

    def get_default_callbacks(self):
        return [
            *super().get_default_callbacks(),
            ("task_logger", TaskLogger()),
            ("weighting_step", WeightingStep()),
        ]

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt:  # skorch's partial_fit swallows it: remember whose it was
            # skorch's EarlyStopping stops a fit by raising KeyboardInterrupt too
            stopped = any(
                isinstance(cb, EarlyStopping) and cb.misses_ >= cb.patience
                for _, cb in self.callbacks_
            )
            self.stopped_early_, self.interrupted_ = stopped, not stopped
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``; after Ctrl-C it also keeps the best finished epoch.

        Done here, after every ``on_train_end``, so that these weights are what the
        net holds whatever the callbacks loaded.
        """
        self.interrupted_ = self.stopped_early_ = False
        super().partial_fit(X, y, classes, **fit_params)
        best = self._best_weights()
        probe = partial(self._outputs_finite, X)
        if self.interrupted_ or self.stopped_early_:
            if len(self.history) and "train_loss" not in self.history[-1]:
                del self.history[-1]  # the epoch cut short logged batches but no loss
            self.best_epoch_ = None if best is None else best.restore(self, probe=probe)
            return self
        self.best_epoch_ = None if best is None else best.best_epoch(probe=probe)
        if len(self.history) and not self._outputs_finite(X):
            # the last step left weights whose forward pass overflows: no loss computed
            # with them exists yet, so only a forward pass shows it
            raise TrainingDiverged(
                f"Training diverged in epoch {len(self.history)}: the model's outputs on "
                "the training rows are not finite after it (its last steps blew the "
                "weights up). Lower `lr` (or the schedule's peak), or use early_stopping."
            )
        return self

    def _outputs_finite(self, dataset, state: dict | None = None) -> bool:
        """Whether the module's outputs and loss on the first rows of ``dataset`` are
        finite, with ``state`` (a :class:`BestWeights` snapshot) loaded if given.

        The net's own weights are put back afterwards. Only an in-memory
        :class:`~tabmtl._training.iterators.TensorDataset` is probed,
        on its first ``PROBE_ROWS`` rows; another dataset (a stream, perhaps split over
        processes that would all have to take part) counts as finite.
        """
        if not isinstance(dataset, TensorDataset):
            return True
        X, y = dataset.X, dataset.y
        if y is None or not len(X):
            return True
        current = None
        if state is not None:
            current = {
                "module": copy.deepcopy(self.module_.state_dict()),
                "criterion": copy.deepcopy(self.criterion_.state_dict()),
            }
            self.module_.load_state_dict(state["module"])
            self.criterion_.load_state_dict(state["criterion"])
        try:
            batch = (X[:PROBE_ROWS].to(self.device), y[:PROBE_ROWS].to(self.device))
            step = self.validation_step(batch)
            outputs = step["y_pred"]
            outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
            finite = [torch.isfinite(step["loss"]).all()] + [
                torch.isfinite(o).all() for o in outputs if torch.is_tensor(o)
            ]
            return bool(torch.stack(finite).all())
        finally:
            if current is not None:
                self.module_.load_state_dict(current["module"])
                self.criterion_.load_state_dict(current["criterion"])

    def restore_best(self) -> int | None:
        """Load the best *verified* epoch's weights (after divergence); its number."""
        best = self._best_weights()
        self.best_epoch_ = None if best is None else best.restore(self)
        return self.best_epoch_

    def _best_weights(self) -> BestWeights | None:
        return next((cb for _, cb in self.callbacks_ if isinstance(cb, BestWeights)), None)

    def task_losses(self, y_pred, y_true, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task losses and label counts of a batch, added to the epoch's sums.

        The sums stay on the device: :meth:`run_single_epoch` reads them once per pass
        and raises :class:`TrainingDiverged` there, naming the tasks whose loss is not
        finite. In a data-parallel training step the returned losses are rescaled to the
        labels of every process
        (:func:`~tabmtl._training.distributed.loss_scale.global_task_losses`); the sums
        keep this process's own.
        """
        y_true = to_tensor(y_true, device=self.device)
        losses, counts = self.criterion_.task_losses(y_pred, y_true)
        sums = getattr(self, "pass_sums_", None)
        if sums is not None:  # inside run_single_epoch; no host sync per batch
            sums.add_(torch.stack([losses.detach() * counts, counts.to(losses.dtype)]))
        if training:  # data-parallel: each task's mean over every process's labels
            losses = global_task_losses(losses, counts)
        return losses, counts

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's pass over one iterator, with one host transfer per pass, not per batch.

        skorch reads each batch's loss with ``.item()``, a sync point on an accelerator.
        Here the loss (times the batch's rows) and the per-task sums accumulate on the
        device; at the end of the pass they are recorded on the last batch's row:
        ``<prefix>_loss`` (the pass's mean, weighted by rows as skorch weights its batch
        losses), ``<prefix>_batch_size`` (the pass's rows) and ``<prefix>_task_sums``
        (loss times labels and labels per task, what :func:`epoch_task_losses` adds up).
        With skorch's ``DistributedHistory`` every process records its own, so epoch
        losses stay global. A loss that is not finite raises :class:`TrainingDiverged`
        at the end of the pass in which it happened.
        """
        if iterator is None:
            return
        batch_count, rows, loss_sum = 0, 0, None
        self.pass_sums_ = torch.zeros(2, len(self.task_names), device=self.device)
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                n = get_len(batch[0]) if isinstance(batch, (tuple, list)) else get_len(batch)
                weighted = step["loss"].detach() * n
                loss_sum = weighted if loss_sum is None else loss_sum + weighted
                rows += n
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
        finally:
            sums, self.pass_sums_ = self.pass_sums_, None
        if batch_count:
            self._record_pass(prefix, loss_sum, rows, sums)
        self.history.record(prefix + "_batch_count", batch_count)

    def _record_pass(self, prefix: str, loss_sum, rows: int, sums) -> None:
        values = torch.cat([loss_sum.reshape(1).float(), sums.flatten()]).tolist()
        n_tasks = len(self.task_names)
        task_sums = [values[1 : 1 + n_tasks], values[1 + n_tasks :]]
        if not all(np.isfinite(values)):
            bad = {
                name: v for name, v in zip(self.task_names, task_sums[0]) if not np.isfinite(v)
            }
            raise TrainingDiverged(
                f"Training diverged in epoch {len(self.history)}: the {prefix} loss of "
                f"task(s) {list(bad) or list(self.task_names)!r} became "
                f"{list(bad.values()) or [values[0]]!r}. Lower `lr`, check those targets "
                "for extreme values, or use early_stopping."
            )
        self.history.record_batch(prefix + "_loss", values[0] / max(rows, 1))
        self.history.record_batch(prefix + "_batch_size", rows)
        self.history.record_batch(f"{prefix}_task_sums", task_sums)

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

    def get_loss(self, y_pred, y_true, X=None, training=False):
        losses, _ = self.task_losses(y_pred, y_true, training)
        loss = self.criterion_.weighting(losses)
        if training:
            loss = loss + self.module_.penalty()
        return loss

    def train_step_single(self, batch, **fit_params):
        """skorch's step, except that gradient-combining strategies do the backward.

        Either way the step's ``loss`` (``train_loss`` in the history) is the objective
        optimised: the weighted task losses plus the architecture's penalty.
        """
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
        penalty = self.module_.penalty()
        weighting.backward(losses, counts > 0, shared, others, extra=penalty)
        # the objective optimised, as get_loss reports it for loss-level strategies
        extra = penalty.detach() if torch.is_tensor(penalty) else penalty
        return {"loss": weighting(losses.detach()) + extra, "y_pred": y_pred}
