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

from tabmtl.training.distributed.context import (
    DistributedContext,
    distributed_history,
    is_active,
    local_device,
)
from tabmtl.training.distributed.sharding import DistributedSliceIterator
from tabmtl.training.iterators import SliceIterator

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
        flat = torch.cat([part.to(device) for part in parts])
        dist.all_reduce(flat)
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
