"""Data-parallel training on ``torch.distributed``, launched by ``torchrun``.

tabmtl does not run a cluster of its own: ``torchrun`` starts one process per GPU (or per
CPU slot) on each node, and :func:`fit_distributed` (in-memory ``X``/``Y``) or
:func:`tabmtl.io.streaming.fit_parquet` (parquet, out of core) trains one replica of the
network in each process:

- the process group comes from torchrun's environment (``RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR``...): gloo on CPU, NCCL on GPU (each process on ``cuda:LOCAL_RANK``);
- every epoch the rows (or parquet row groups) are dealt out so that each process sees a
  disjoint share, and every process runs the *same number* of batches: a collective
  step that one process skips would hang the others. Training pads a short share with
  repeated rows, as ``torch.utils.data.DistributedSampler`` does. A stream's validation
  row groups are dealt out too, short shares padded with empty batches (which count for
  nothing); in memory every process scores the whole validation split, because the
  validation iterator also serves ``predict`` (which calibration calls inside fit);
- after each backward pass :class:`ReplicaSync` averages the gradients over the processes
  in one all-reduce, exactly the update DDP makes, for the criterion's learnable
  parameters (uncertainty weighting's log-variances) as well as the module's, and
  averages the loss modules' running buffers (GradNorm's weights); parameters start from
  rank 0's. Every replica therefore holds identical parameters after every step. (The
  module is not wrapped in ``DistributedDataParallel`` itself: DDP only synchronises the
  module it wraps, and its autograd hooks expect a single backward per forward, which the
  gradient-combining weightings such as PCGrad or GradNorm do not make.);
- skorch's :class:`~skorch.history.DistributedHistory` collects every process's batch
  records, so the epoch losses, early stopping and the best-epoch choice are global and
  identical on all processes;
- after fit, every process holds the same fitted estimator (with an ordinary
  ``History``); :func:`predict_distributed` splits a prediction over the processes and
  gathers it once, on rank 0.

``batch_size`` is per process: the effective batch is ``world_size * batch_size``.

Examples
--------
``train.py``, run as ``torchrun --nproc_per_node 2 train.py``::

    import pandas as pd
    from tabmtl import MultiTaskEstimator
    from tabmtl.training.distributed import fit_distributed, predict_distributed

    trips = pd.read_parquet("trips.parquet")
    X, Y = trips[["km", "zone"]], trips[["eta", "late"]]
    model = fit_distributed(MultiTaskEstimator(random_state=0), X, Y)
    pred = predict_distributed(model, X)    # a DataFrame on rank 0, None elsewhere
"""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from skorch.callbacks import Callback
from skorch.history import DistributedHistory

from tabmtl.training.iterators import SliceIterator

__all__ = [
    "DistributedContext",
    "DistributedSliceIterator",
    "ReplicaSync",
    "fit_distributed",
    "init_distributed",
    "parameter_digest",
    "predict_distributed",
]

#: The store of the process group this module started (for DistributedHistory).
_STORE = None


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, the number of processes, its local rank.

    A single process (no ``torchrun``) is ``DistributedContext()``: rank 0 of 1.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    store: object | None = field(default=None, repr=False, compare=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, obj):
        """``obj`` as rank 0 has it (any picklable object), on every process."""
        if self.world_size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj) -> list:
        """Every process's ``obj``, by rank, on every process."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_distributed(
    backend: str | None = None, *, device: str = "cpu", timeout_s: float = 1800.0
) -> DistributedContext:
    """Join the process group that ``torchrun`` set up, or report a single process.

    Idempotent: with a process group already initialised (by this function or by the
    caller), it returns that group's context. Without ``WORLD_SIZE > 1`` in the
    environment it returns ``DistributedContext()`` and initialises nothing.

    Parameters
    ----------
    backend : str, optional
        "gloo" or "nccl"; default NCCL when ``device`` is CUDA, else gloo.
    device : str, default="cpu"
        The estimator's device; with CUDA each process uses ``cuda:LOCAL_RANK``.
    timeout_s : float, default=1800
        How long a collective or the history's store waits for the other processes
        before failing (rather than hanging forever).

    Examples
    --------
    >>> init_distributed()          # not launched by torchrun
    DistributedContext(rank=0, world_size=1, local_rank=0, backend=None)
    """
    global _STORE
    if dist.is_available() and dist.is_initialized():
        store = _STORE
        if store is None:  # the caller made the group: use its store
            store = dist.distributed_c10d._get_default_store()
        return DistributedContext(
            dist.get_rank(),
            dist.get_world_size(),
            int(os.environ.get("LOCAL_RANK", "0")),
            dist.get_backend(),
            store,
        )
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistributedContext()
    if not dist.is_available():  # pragma: no cover - torch built without distributed
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed.")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend or ("nccl" if str(device).startswith("cuda") else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    timeout = timedelta(seconds=float(timeout_s))
    # the env:// rendezvous gives us the store, which DistributedHistory needs as well
    store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
    store.set_timeout(timeout)
    dist.init_process_group(
        backend, store=store, rank=rank, world_size=world_size, timeout=timeout
    )
    _STORE = store
    return DistributedContext(rank, world_size, local_rank, backend, store)


def _history(ctx: DistributedContext) -> DistributedHistory:
    """A DistributedHistory on a fresh key prefix (so a second fit reads no stale keys)."""
    token = ctx.broadcast(uuid.uuid4().hex)
    store = dist.PrefixStore(f"tabmtl/history/{token}/", ctx.store)
    return DistributedHistory(store=store, rank=ctx.rank, world_size=ctx.world_size)


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
    """

    def on_train_begin(self, net, **kwargs):
        if not _active():
            return
        with torch.no_grad():
            for tensor in _state_tensors(net):
                dist.broadcast(tensor.data, src=0)

    def on_grad_computed(self, net, named_parameters=None, **kwargs):
        if not _active():
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


def _process_rank() -> tuple[int, int]:
    if _active():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class DistributedSliceIterator(SliceIterator):
    """:class:`~tabmtl.net.SliceIterator` over this process's share of the rows.

    With ``shuffle`` (training): one permutation per epoch from a generator seeded alike
    on every process, padded with its first rows to a multiple of ``world_size`` and
    dealt out by stride, so the shares are disjoint up to the padding and equal in size
    (the ``DistributedSampler`` scheme). Without (validation): contiguous shares, and
    every process yields the same number of batches, the short ones ending with empty
    batches. In a single process it is exactly ``SliceIterator``.

    Parameters
    ----------
    dataset, batch_size, shuffle, seed, device
        As for :class:`~tabmtl.net.SliceIterator`.
    rank, world_size : int, optional
        Default: from ``torch.distributed`` (0 of 1 without a process group).

    Examples
    --------
    >>> from tabmtl.net import TensorDataset
    >>> data = TensorDataset(torch.arange(5.0)[:, None], torch.zeros(5, 1))
    >>> [len(xb) for xb, _ in DistributedSliceIterator(data, 2, rank=1, world_size=2)]
    [2, 0]
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        super().__init__(dataset, batch_size, shuffle, seed, device)
        if rank is None or world_size is None:
            rank, world_size = _process_rank()
        self.rank, self.world_size = int(rank), int(world_size)

    def _n_batches(self) -> int:
        """Batches per epoch, the same on every process."""
        per_process = -(-len(self.X) // self.world_size)  # the largest share
        return -(-per_process // self.batch_size)

    def _share(self) -> torch.Tensor:
        """This epoch's row indices for this process."""
        n, world = len(self.X), self.world_size
        if self.shuffle:
            perm = torch.randperm(n, generator=self.generator)
            total = -(-n // world) * world
            if n and total > n:
                perm = perm.repeat(-(-total // n))[:total]
            return perm[self.rank :: world]
        per_process = -(-n // world)
        start = min(self.rank * per_process, n)
        return torch.arange(start, min(start + per_process, n))

    def __len__(self) -> int:
        return super().__len__() if self.world_size == 1 else self._n_batches()

    def __iter__(self):
        if self.world_size == 1:
            yield from super().__iter__()
            return
        rows, n_batches = self._share().to(self.X.device), self._n_batches()
        bs = self.batch_size
        for b in range(n_batches):
            idx = rows[b * bs : (b + 1) * bs]
            yield self.X[idx], (self.y[idx] if self.y is not None else None)


@contextmanager
def _temporary_params(estimator, params: dict):
    old = {k: getattr(estimator, k) for k in params}
    estimator.set_params(**params)
    try:
        yield
    finally:
        estimator.set_params(**old)


def _fingerprint(X, Y) -> tuple:
    """Shape, columns and a hash of the first rows: cheap evidence that ranks agree."""
    parts = []
    for data in (X, Y):
        if data is None:
            parts.append(None)
            continue
        frame = data if isinstance(data, (pd.DataFrame, pd.Series)) else pd.DataFrame(
            np.asarray(data).reshape(len(data), -1)
        )
        try:
            digest = int(pd.util.hash_pandas_object(frame.head(1000), index=False).sum())
        except TypeError:  # unhashable cells: shape and names still compared
            digest = None
        names = frame.columns if isinstance(frame, pd.DataFrame) else [frame.name]
        columns = [str(c) for c in names]
        parts.append((frame.shape, columns, digest))
    return tuple(parts)


def parameter_digest(net) -> str:
    """SHA-1 of every parameter and buffer of the module and criterion (replica check)."""
    h = hashlib.sha1()
    for tensor in _state_tensors(net):
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def make_data_parallel(net, ctx: DistributedContext) -> None:
    """Turn a freshly built (not yet initialised) skorch net into a data-parallel one.

    Adds :class:`ReplicaSync` (first, so gradient clipping and the like see the averaged
    gradient), a :class:`~skorch.history.DistributedHistory`, and leaves printing,
    progress bars and checkpoint files to rank 0.
    """
    callbacks = [("replica_sync", ReplicaSync()), *(net.callbacks or [])]
    if not ctx.is_main:
        callbacks = [(n, cb) for n, cb in callbacks if n not in ("checkpoint", "progress_bar")]
        net.verbose = 0
    net.callbacks = callbacks
    net.history = _history(ctx)


def finish_data_parallel(net, ctx: DistributedContext) -> None:
    """After a data-parallel fit: a plain History again, and proof the replicas agree."""
    if isinstance(net.history, DistributedHistory):
        net.history = net.history.history  # synced
    if net.iterator_train is DistributedSliceIterator:  # later (partial_)fits: one process
        net.iterator_train = SliceIterator
    digests = ctx.all_gather(parameter_digest(net))
    if len(set(digests)) != 1:  # pragma: no cover - would be a bug in ReplicaSync
        raise RuntimeError(f"The replicas' parameters differ after the fit: {digests!r}.")


def fit_distributed(estimator, X, Y=None, *, timeout_s: float = 1800.0, **fit_params):
    """``estimator.fit(X, Y)`` as one data-parallel fit over the ``torchrun`` processes.

    Every process calls it with the same ``X`` and ``Y`` (checked); each trains on its
    share of the rows per epoch with gradients averaged after every step, so all of them
    end with the same fitted estimator. In a single process (no ``torchrun``) it is
    ``estimator.fit(X, Y)``.

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        Fitted in place. ``batch_size`` is per process. ``random_state=None`` draws one
        seed on rank 0 for everyone. ``checkpoint_dir`` is not supported (the processes
        would race on the files and could resume from different epochs).
    X, Y
        As for ``estimator.fit``.
    timeout_s : float, default=1800
        Passed to :func:`init_distributed` when this call starts the process group.
    **fit_params
        Passed to ``estimator.fit`` (e.g. ``sample_weight``).

    Returns
    -------
    estimator

    Examples
    --------
    In a script launched by ``torchrun --nproc_per_node 2 train.py``::

        model = fit_distributed(MultiTaskEstimator(early_stopping=True), X, Y)
    """
    ctx = init_distributed(device=estimator.device, timeout_s=timeout_s)
    if ctx.world_size == 1:
        return estimator.fit(X, Y, **fit_params)
    if estimator.checkpoint_dir is not None:
        raise ValueError(
            "fit_distributed does not support checkpoint_dir; add a skorch Checkpoint "
            "callback on rank 0 instead, or train in one process."
        )
    prints = ctx.all_gather(_fingerprint(X, Y))
    if any(p != prints[0] for p in prints):
        raise ValueError(
            "fit_distributed needs the same X and Y on every process (each process takes "
            f"its share itself); the processes passed different data: {prints!r}."
        )
    params = {
        "random_state": ctx.broadcast(estimator._begin_fit()),
        "callbacks": [("replica_sync", ReplicaSync()), *(estimator.callbacks or [])],
        "net_kwargs": {
            **(estimator.net_kwargs or {}),
            "history": _history(ctx),
            # validation is not sharded: the validation iterator also serves predict
            # (calibration predicts inside fit), and DistributedHistory averages the
            # identical per-process validation losses into the same number anyway
            "iterator_train": DistributedSliceIterator,
        },
    }
    if not ctx.is_main:
        params["verbose"] = 0
    if str(estimator.device) == "cuda":
        params["device"] = f"cuda:{ctx.local_rank}"
    with _temporary_params(estimator, params):
        estimator.fit(X, Y, **fit_params)
    finish_data_parallel(estimator.net_, ctx)
    return estimator


def predict_distributed(estimator, X, method: str = "predict"):
    """``estimator.<method>(X)`` split over the processes and gathered once, on rank 0.

    Each process predicts a contiguous share of the rows; one ``gather`` brings the
    shares to rank 0, which returns the whole result in the order of ``X`` (the same
    type as ``estimator.<method>`` returns). Other ranks return None. In a single
    process it is ``estimator.<method>(X)``.

    Examples
    --------
    After ``fit_distributed``, in every process::

        pred = predict_distributed(model, X)            # rank 0: a DataFrame; others: None
        proba = predict_distributed(model, X, method="predict_proba")
    """
    ctx = init_distributed(device=getattr(estimator, "device", "cpu"))
    predict = getattr(estimator, method)
    if ctx.world_size == 1:
        return predict(X)
    bounds = np.linspace(0, len(X), ctx.world_size + 1).round().astype(int)
    lo, hi = int(bounds[ctx.rank]), int(bounds[ctx.rank + 1])
    share = X.iloc[lo:hi] if isinstance(X, (pd.DataFrame, pd.Series)) else X[lo:hi]
    part = predict(share)
    gathered = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(part, gathered, dst=0)
    return _concat(gathered) if ctx.is_main else None


def _concat(parts: list):
    first = parts[0]
    if isinstance(first, (pd.DataFrame, pd.Series)):
        return pd.concat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, list):
        return [_concat([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate(parts)
