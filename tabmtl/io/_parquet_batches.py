"""Mini-batches from a parquet stream: row-group order, dealing to processes, shuffling.

:class:`ParquetBatchIterator` is the skorch ``iterator_train``/``iterator_valid`` of a
streamed fit; :func:`deal_row_groups` shares each epoch's row groups out to the
``torchrun`` processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tabmtl._training.distributed import process_rank
from tabmtl.errors import InputError
from tabmtl.io._parquet import RowGroup
from tabmtl.io._parquet_stream import ParquetStream
from tabmtl.io._prefetch import Prefetch

__all__ = ["ParquetBatchIterator", "deal_row_groups"]


def deal_row_groups(
    row_groups: Sequence[RowGroup], order: Sequence[int], world_size: int
) -> list[list[int]]:
    """Deal row groups (indices, in ``order``) to ``world_size`` processes, balancing rows.

    Greedy: each row group goes to the process holding the fewest rows so far (ties to
    the lowest rank). Every process computes the same deal from the same order.

    Examples
    --------
    >>> groups = [RowGroup(0, i, n) for i, n in enumerate([10, 10, 10, 5])]
    >>> deal_row_groups(groups, [0, 1, 2, 3], 2)
    [[0, 2], [1, 3]]
    """
    loads = [0] * world_size
    dealt: list[list[int]] = [[] for _ in range(world_size)]
    for i in order:
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        dealt[rank].append(int(i))
        loads[rank] += row_groups[i].num_rows
    return dealt


class ParquetBatchIterator:
    """skorch ``iterator_train``/``iterator_valid`` over a :class:`ParquetStream`.

    Each pass (epoch) reads the stream's row groups, in a fresh random order when
    ``shuffle``, encodes them a record batch at a time in a background thread, and yields
    mini-batches of ``batch_size`` rows. With ``shuffle``, rows go through a buffer of
    ``shuffle_buffer_batches * stream.batch_rows`` rows (at least one batch): whenever it
    is full, a random quarter of it is emitted as whole mini-batches and the rest stays,
    so each mini-batch is a random draw from rows of several row groups; at the end of
    the pass the buffer is emitted too. Every pass yields each row once, in
    ``ceil(rows / batch_size)`` batches (only the last one may be short).

    Under ``torch.distributed`` (or with explicit ``rank``/``world_size``) each process
    reads only the row groups dealt to it (:func:`deal_row_groups`, the same deal on every
    process) and every process yields the same number of batches, because a collective
    step that one process skips hangs the others: ``ceil(max rows per process /
    batch_size)``. Each process first yields every row of its share once (the shares are
    disjoint and cover every row); a shorter share is then padded, in training, with
    whole batches of its own rows read again (as ``DistributedSampler`` pads with
    repeats), and in validation with empty batches, which count for nothing.

    The buffer size and read-ahead are the stream's (``shuffle_buffer_batches``,
    ``prefetch``), so that skorch passes this iterator only the usual arguments.

    Parameters
    ----------
    dataset : ParquetStream
    batch_size : int, default=256
    shuffle : bool, default=False
    seed : int, optional
        Seeds the row-group order (shared by all processes) and the buffer draws.
    device : str, optional
        Where batches are moved.
    rank, world_size : int, optional
        The process and number of processes; read from ``torch.distributed`` when None.

    Examples
    --------
    As a streamed fit sets it up (:func:`~tabmtl.io._streaming.fit_parquet` does this)::

        net.set_params(iterator_train=ParquetBatchIterator,
                       iterator_valid=ParquetBatchIterator)
        net.fit(stream, y=None)           # stream: a ParquetStream

    or directly; here the second of two processes, in order (as validation reads):

    >>> import pandas as pd, tempfile, os
    >>> from tabmtl._data.features import FeaturePreprocessor
    >>> from tabmtl._data.targets import TargetSpec
    >>> from tabmtl.io._parquet import ParquetSource
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> frame = pd.DataFrame({"km": [1.0, 2.0, 3.0, 4.0, 5.0], "eta": [3.0, 6, 9, 12, 15]})
    >>> frame.to_parquet(path, row_group_size=2)
    >>> src = ParquetSource(path)
    >>> stream = ParquetStream(src, src.row_groups, ["km"], ["eta"],
    ...                        FeaturePreprocessor().fit(frame[["km"]]),
    ...                        TargetSpec().fit(frame[["eta"]]), prefetch=0)
    >>> it = ParquetBatchIterator(stream, batch_size=2, rank=1, world_size=2)
    >>> [len(X) for X, y in it]  # rank 0 holds 3 rows (2 batches): one empty batch pads
    [2, 0]
    """

    def __init__(
        self,
        dataset: ParquetStream,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        if not isinstance(dataset, ParquetStream):
            raise TypeError(f"ParquetBatchIterator needs a ParquetStream, got {type(dataset)}.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.device = device
        self.buffer_rows = dataset.shuffle_buffer_batches * dataset.batch_rows
        self.prefetch = dataset.prefetch
        if rank is None or world_size is None:
            rank, world_size = process_rank()
        self.rank, self.world_size = int(rank), int(world_size)
        if seed is None:  # fresh entropy, without reseeding torch's global generator
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] % 2**62)
        seed = int(seed)
        # two generators: the row-group order must be identical on every process, while
        # the buffer draws (which depend on each process's own rows) may differ
        self.order_generator = torch.Generator().manual_seed(seed)
        self.buffer_generator = torch.Generator().manual_seed(seed + 7919 * (self.rank + 1))

    def epoch_plan(self) -> tuple[list[RowGroup], int | None]:
        """This process's row groups for the next pass, and its batch count (None: all)."""
        groups = self.dataset.row_groups
        n = len(groups)
        order = (
            torch.randperm(n, generator=self.order_generator).tolist()
            if self.shuffle
            else list(range(n))
        )
        if self.world_size == 1:
            return [groups[i] for i in order], None
        dealt = deal_row_groups(groups, order, self.world_size)
        mine = [groups[i] for i in dealt[self.rank]]
        most = max(sum(groups[i].num_rows for i in part) for part in dealt)
        if self.shuffle and not mine:
            raise InputError(
                f"The training data has {n} row group(s), fewer than the {self.world_size} "
                "processes, so some process would have no rows; write the parquet with "
                "smaller row groups (e.g. row_group_size=65_536) or more files."
            )
        return mine, -(-most // self.batch_size)

    def __iter__(self):
        self.dataset.reset_counts()
        mine, n_batches = self.epoch_plan()
        source = self.dataset.chunks(mine)  # each of this process's rows once
        prefetch = Prefetch(source, self.prefetch) if self.prefetch > 0 else None
        chunks = prefetch if prefetch is not None else source
        batches = self._shuffled(chunks) if self.shuffle else self._in_order(chunks)
        try:
            produced = 0
            for X, y in batches:
                produced += 1
                yield self._to_device(X), self._to_device(y)
            if n_batches is None or produced >= n_batches:
                return
            if self.shuffle:  # a short share: whole batches of its own rows again
                yield from self._padding(mine, n_batches - produced)
                return
            empty_X = torch.zeros((0, self.dataset.n_features), dtype=torch.float32)
            empty_y = torch.zeros((0, self.dataset.n_targets), dtype=torch.float32)
            for _ in range(n_batches - produced):  # validation: empty batches count 0
                yield self._to_device(empty_X), self._to_device(empty_y)
        finally:
            if prefetch is not None:
                prefetch.close()

    def _padding(self, groups: list[RowGroup], n: int):
        """``n`` full batches of rows read again from ``groups`` (the share's padding).

        The stream's counts are left as the share's single pass made them.
        """
        counts = self.dataset.counts_
        saved = {**counts, "unknown_labels": dict(counts["unknown_labels"])}
        read = list(self.dataset.row_groups_read_)
        padding = self._in_order(self._cycle(groups))
        try:
            for _ in range(n):
                X, y = next(padding)
                yield self._to_device(X), self._to_device(y)
        finally:
            padding.close()
            self.dataset.counts_, self.dataset.row_groups_read_ = saved, read

    def _cycle(self, groups: list[RowGroup]):
        while True:
            read = 0
            for X_enc, y_enc in self.dataset.chunks(groups):
                read += len(X_enc)
                yield X_enc, y_enc
            if read == 0:
                raise InputError("A process's row groups hold no labelled row at all.")

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device) if self.device is not None else t

    def _in_order(self, chunks):
        """Full mini-batches across record-batch boundaries, then the remainder."""
        bs = self.batch_size
        pending_X: list[torch.Tensor] = []
        pending_y: list[torch.Tensor] = []
        held = 0
        for X_enc, y_enc in chunks:
            pending_X.append(torch.from_numpy(X_enc))
            pending_y.append(torch.from_numpy(y_enc))
            held += len(X_enc)
            if held < bs:
                continue
            X, y = torch.cat(pending_X), torch.cat(pending_y)
            cut = held - held % bs
            for start in range(0, cut, bs):
                yield X[start : start + bs], y[start : start + bs]
            pending_X, pending_y, held = [X[cut:]], [y[cut:]], held - cut
        if held:
            yield torch.cat(pending_X), torch.cat(pending_y)

    def _shuffled(self, chunks):
        """Mini-batches drawn at random from a bounded buffer of encoded rows.

        Every row that enters the buffer leaves it once: a full buffer emits a random
        share of whole batches, and what is left at the end of the chunks is emitted
        too, the last batch possibly short. So a pass yields ``ceil(rows / batch_size)``
        batches holding each row once.
        """
        bs, gen = self.batch_size, self.buffer_generator
        capacity = max(self.buffer_rows, bs)
        emit = max(bs, (capacity // 4) // bs * bs)  # whole batches, at most the capacity
        held_X: list[torch.Tensor] = []  # the buffer, as pieces joined only when full
        held_y: list[torch.Tensor] = []
        held = 0
        for X_enc, y_enc in chunks:
            held_X.append(torch.from_numpy(X_enc))
            held_y.append(torch.from_numpy(y_enc))
            held += len(X_enc)
            if held < capacity:
                continue
            buf_X, buf_y = torch.cat(held_X), torch.cat(held_y)
            while len(buf_X) >= capacity:
                perm = torch.randperm(len(buf_X), generator=gen)
                out, keep = perm[:emit], perm[emit:]
                X_out, y_out = buf_X[out], buf_y[out]
                buf_X, buf_y = buf_X[keep], buf_y[keep]
                for start in range(0, emit, bs):
                    yield X_out[start : start + bs], y_out[start : start + bs]
            held_X, held_y, held = [buf_X], [buf_y], len(buf_X)
        if held:
            buf_X, buf_y = torch.cat(held_X), torch.cat(held_y)
            perm = torch.randperm(held, generator=gen)
            buf_X, buf_y = buf_X[perm], buf_y[perm]
            for start in range(0, held, bs):
                yield buf_X[start : start + bs], buf_y[start : start + bs]
