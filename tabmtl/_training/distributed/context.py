"""The process group: joining the one ``torchrun`` set up, this process's rank, the history.

:func:`init_distributed` joins (or reports the absence of) the process group and returns
a :class:`DistributedContext` with the rank and the collectives the fits need;
:func:`process_rank` is the rank for code that is handed no context (batch iterators);
:func:`distributed_history` is skorch's ``DistributedHistory`` on the group's store.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from skorch.history import DistributedHistory

__all__ = [
    "DistributedContext",
    "current_context",
    "distributed_history",
    "init_distributed",
    "is_active",
    "local_device",
    "process_rank",
]

#: The store of the process group this module started (for DistributedHistory).
_STORE = None


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, the number of processes, its local rank.

    A single process (no ``torchrun``) is ``DistributedContext()``: rank 0 of 1.

    Examples
    --------
    >>> ctx = DistributedContext()
    >>> ctx.is_main, ctx.broadcast("seed"), ctx.all_gather(3)
    (True, 'seed', [3])
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


def is_active() -> bool:
    """Whether this process is in an initialised process group of 2 or more."""
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
        return current_context()
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


def current_context() -> DistributedContext:
    """The context of the process group already initialised, else a single process.

    Starts nothing (unlike :func:`init_distributed`): for work that may use a group the
    caller set up but must not join one as a side effect, such as predicting.

    Examples
    --------
    >>> current_context()          # no process group
    DistributedContext(rank=0, world_size=1, local_rank=0, backend=None)
    """
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
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


def local_device(device, ctx: DistributedContext):
    """The device this process trains on: any CUDA device becomes ``cuda:LOCAL_RANK``.

    ``"cuda"``, ``"cuda:0"`` or ``torch.device("cuda", 3)`` name the GPUs the job runs
    on, not one GPU for every process: each process of a data-parallel fit takes its own,
    the one ``torchrun``'s ``LOCAL_RANK`` gives it. Other devices, and every device in a
    single process, are returned as they are.

    Examples
    --------
    >>> local_device("cuda:0", DistributedContext(rank=3, world_size=4, local_rank=1))
    'cuda:1'
    >>> local_device("cpu", DistributedContext(rank=3, world_size=4, local_rank=1))
    'cpu'
    """
    if ctx.world_size > 1 and str(device).split(":")[0] == "cuda":
        return f"cuda:{ctx.local_rank}"
    return device


def distributed_history(ctx: DistributedContext) -> DistributedHistory:
    """A DistributedHistory on a fresh key prefix (so a second fit reads no stale keys)."""
    token = ctx.broadcast(uuid.uuid4().hex)
    store = dist.PrefixStore(f"tabmtl/history/{token}/", ctx.store)
    return DistributedHistory(store=store, rank=ctx.rank, world_size=ctx.world_size)


def process_rank() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside a process group of 2+.

    Examples
    --------
    >>> process_rank()          # not launched by torchrun
    (0, 1)
    """
    if is_active():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
