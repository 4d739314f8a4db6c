"""Identical replicas: gradient averaging, parameter digests, a net made data-parallel.

Every process trains one replica of the network; :class:`ReplicaSync` makes the same
update on each (DDP's all-reduce, the criterion's parameters and buffers included), and
:func:`parameter_digest` lets the processes prove they agree after a fit.
"""

from __future__ import annotations

import hashlib

import torch
import torch.distributed as dist
from skorch.callbacks import Callback, Checkpoint, ProgressBar, TrainEndCheckpoint
from skorch.history import DistributedHistory

from tabmtl._training.distributed.context import (
    DistributedContext,
    distributed_history,
    is_active,
    local_device,
)
from tabmtl._training.distributed.sharding import DistributedSliceIterator
from tabmtl._training.iterators import SliceIterator

__all__ = [
    "ReplicaSync",
    "finish_data_parallel",
    "main_process_callbacks",
    "make_data_parallel",
    "parameter_digest",
]

#: Callbacks only rank 0 runs: files and terminal output, not training.
MAIN_ONLY_NAMES = ("checkpoint", "progress_bar")
MAIN_ONLY_TYPES = (Checkpoint, TrainEndCheckpoint, ProgressBar)


def main_process_callbacks(callbacks, ctx: DistributedContext) -> list:
    """``callbacks`` without checkpoints and progress bars on every rank but 0.

    Every process would otherwise write the same checkpoint files (racing on them) and
    draw its own progress bar. A callback counts as one by its name (``"checkpoint"``,
    ``"progress_bar"``) or its type (skorch's ``Checkpoint``, ``TrainEndCheckpoint``,
    ``ProgressBar`` and their subclasses); entries may be ``(name, callback)`` pairs
    or bare callbacks, as skorch takes them.

    Examples
    --------
    >>> from skorch.callbacks import EpochTimer
    >>> cbs = [("progress_bar", ProgressBar()), ("timer", EpochTimer())]
    >>> [n for n, _ in main_process_callbacks(cbs, DistributedContext(rank=1, world_size=2))]
    ['timer']
    """
    callbacks = list(callbacks or [])
    if ctx.is_main:
        return callbacks

    def main_only(entry) -> bool:
        name, cb = entry if isinstance(entry, tuple) else (None, entry)
        return name in MAIN_ONLY_NAMES or isinstance(cb, MAIN_ONLY_TYPES)

    return [entry for entry in callbacks if not main_only(entry)]


def _state_tensors(net):
    for module in (net.module_, net.criterion_):
        yield from module.parameters()
        yield from module.buffers()


class ReplicaSync(Callback):
    """Keeps data-parallel replicas identical: DDP's all-reduce, criterion included.

    It also stops every process together when one diverges: each step's all-reduce
    carries, per task, whether a process's loss has become NaN or infinite, and if any
    has, every process raises ``TrainingDiverged`` naming the tasks and the processes
    (before the step is taken), instead of one process raising while the others wait
    for it in the next collective. Validation batches are checked in
    :meth:`on_batch_end`.

    ``on_train_begin`` copies rank 0's parameters and buffers (module and criterion) to
    every process. ``on_grad_computed`` (after the backward pass, before the optimizer
    step, where skorch calls it) averages every learnable parameter's gradient and every
    floating-point buffer of the module and criterion over the processes, in one
    flattened all-reduce. Does nothing outside an initialised process group of 2 or more,
    so a model fitted with it trains and predicts normally in a single process later.

    Examples
    --------
    First among the callbacks, so that clipping and the like see the averaged gradient
    (:func:`make_data_parallel` adds it so):

    >>> from tabmtl import MultiTaskEstimator
    >>> model = MultiTaskEstimator(callbacks=[("replica_sync", ReplicaSync())])
    """

    def on_train_begin(self, net, **kwargs):
        if not is_active():
            return
        with torch.no_grad():
            for tensor in _state_tensors(net):
                dist.broadcast(tensor.data, src=0)

    def on_grad_computed(self, net, named_parameters=None, **kwargs):
        if not is_active():
            return
        params = [p for _, p in net.get_all_learnable_params()]
        buffers = [
            b
            for module in (net.module_, net.criterion_)
            for b in module.buffers()
            if b.is_floating_point()
        ]
        if not params and not buffers:
            return
        device = (params or buffers)[0].device
        parts = [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float()
            for p in params
        ]
        parts.append(
            torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
        )
        parts += [b.detach().reshape(-1).float() for b in buffers]
        n_flags = len(parts)
        parts += self._divergence_flags(net, device)  # summed, not averaged
        flat = torch.cat([part.to(device) for part in parts])
        dist.all_reduce(flat)
        flags = flat[sum(p.numel() for p in parts[:n_flags]) :]
        self._raise_if_diverged(net, flags, "train")
        flat /= dist.get_world_size()
        offset = 0
        grads = []
        for p in params:
            grads.append(flat[offset : offset + p.numel()].view_as(p).to(p.dtype))
            offset += p.numel()
        has_grad = flat[offset : offset + len(params)] > 0
        offset += len(params)
        for p, g, present in zip(params, grads, has_grad.tolist()):
            p.grad = g.clone() if present else None
        with torch.no_grad():
            for b in buffers:
                b.copy_(flat[offset : offset + b.numel()].view_as(b))
                offset += b.numel()


    def on_batch_end(self, net, training=False, **kwargs):
        """After each validation batch: stop every process if one's loss is not finite.

        A stream's validation row groups are dealt out, so one process may meet a row
        whose loss overflows while the others do not; alone it would raise and leave
        the others waiting for it at the end of the epoch. (Training batches are
        checked in :meth:`on_grad_computed`, inside the gradients' all-reduce.)
        """
        if training or not is_active():
            return
        flags = torch.cat(self._divergence_flags(net, net.device))
        dist.all_reduce(flags)
        self._raise_if_diverged(net, flags.cpu(), "valid")

    @staticmethod
    def _divergence_flags(net, device) -> list[torch.Tensor]:
        """Per task, 1 where this process's loss so far this pass is not finite; then
        a one-hot of this process's rank where any is (which processes diverged)."""
        sums = _pass_sums(net)
        n_tasks = len(getattr(net, "task_names", ()) or ())
        if sums is None:
            bad = torch.zeros(n_tasks, device=device)
        else:
            bad = (~torch.isfinite(sums[0])).float().to(device)
        who = torch.zeros(dist.get_world_size(), device=device)
        who[dist.get_rank()] = bad.amax() if len(bad) else 0.0
        return [bad, who]

    @staticmethod
    def _raise_if_diverged(net, flags: torch.Tensor, prefix: str) -> None:
        """Raise ``TrainingDiverged`` on every process when any process flagged a task."""
        n_tasks = len(flags) - dist.get_world_size()
        bad, who = flags[:n_tasks], flags[n_tasks:]
        if not bool((who > 0).any()):
            return
        from tabmtl._training.net import TrainingDiverged  # the net imports this package

        names = [str(n) for n, b in zip(net.task_names, bad.tolist()) if b > 0]
        ranks = [r for r, w in enumerate(who.tolist()) if w > 0]
        raise TrainingDiverged(
            f"Training diverged in epoch {len(net.history)} on process(es) {ranks} of "
            f"{dist.get_world_size()}: the {prefix} loss of task(s) {names!r} became "
            "NaN or infinite; every process stops here. Lower `lr`, check those targets "
            "for extreme values, or use early_stopping."
        )


def _pass_sums(net):
    """The net's per-task sums of the pass under way (None outside a pass)."""
    return getattr(net, "pass_sums_", None)


def parameter_digest(net) -> str:
    """SHA-1 of every parameter and buffer of the module and criterion (replica check)."""
    h = hashlib.sha1()
    for tensor in _state_tensors(net):
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def make_data_parallel(net, ctx: DistributedContext) -> None:
    """Turn a freshly built (not yet initialised) skorch net into a data-parallel one.

    Adds :class:`ReplicaSync` (first, so gradient clipping and the like see the averaged
    gradient), a :class:`~skorch.history.DistributedHistory`, puts each process on its
    own GPU (:func:`local_device`) and leaves printing, progress bars and checkpoint files
    to rank 0.
    """
    device = local_device(net.device, ctx)
    net.set_params(device=device, iterator_train__device=device, iterator_valid__device=device)
    net.callbacks = main_process_callbacks(
        [("replica_sync", ReplicaSync()), *(net.callbacks or [])], ctx
    )
    if not ctx.is_main:
        net.verbose = 0
    net.history = distributed_history(ctx)


def finish_data_parallel(net, ctx: DistributedContext) -> None:
    """After a data-parallel fit: a plain History again, and proof the replicas agree."""
    if isinstance(net.history, DistributedHistory):
        net.history = net.history.history  # synced
    if net.iterator_train is DistributedSliceIterator:  # later (partial_)fits: one process
        net.iterator_train = SliceIterator
    digests = ctx.all_gather(parameter_digest(net))
    if len(set(digests)) != 1:  # pragma: no cover - would be a bug in ReplicaSync
        raise RuntimeError(f"The replicas' parameters differ after the fit: {digests!r}.")
