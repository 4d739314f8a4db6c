"""In-memory batches for one process's share of the rows under ``torch.distributed``."""

from __future__ import annotations

import torch

from tabmtl._training.distributed.context import process_rank
from tabmtl._training.iterators import SliceIterator

__all__ = ["DistributedSliceIterator"]


class DistributedSliceIterator(SliceIterator):
    """:class:`~tabmtl._training.iterators.SliceIterator` over this process's share of the rows.

    With ``shuffle`` (training): one permutation per epoch from a generator seeded alike
    on every process, padded with its first rows to a multiple of ``world_size`` and
    dealt out by stride, so the shares are disjoint up to the padding and equal in size
    (the ``DistributedSampler`` scheme). Without (validation): contiguous shares, and
    every process yields the same number of batches, the short ones ending with empty
    batches. In a single process it is exactly ``SliceIterator``.

    Parameters
    ----------
    dataset, batch_size, shuffle, seed, device
        As for :class:`~tabmtl._training.iterators.SliceIterator`.
    rank, world_size : int, optional
        Default: from ``torch.distributed`` (0 of 1 without a process group).

    Examples
    --------
    >>> from tabmtl._training.iterators import TensorDataset
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
            rank, world_size = process_rank()
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
