"""Out-of-core training and prediction from parquet: record batches in, never the whole table.

:func:`fit_parquet` trains a :class:`~tabmtl.MultiTaskEstimator` on a parquet file, folder,
glob or list of files in two kinds of pass, each holding a bounded number of rows:

1. **One sampling pass** draws a uniform reservoir sample of ``sample_rows`` rows (bottom-k
   random keys, so the sample is the same for the same seed and files) and fits the
   :class:`~tabmtl.data.targets.TargetSpec` and :class:`~tabmtl.data.features.FeaturePreprocessor`
   on it, exactly as an in-memory ``fit`` would on those rows. A sample rather than
   streaming statistics because the preprocessor needs more than moments: median
   imputation needs a median, and exact streaming medians need memory that grows with the
   data (a mean and variance could be streamed exactly, but not a median); the category
   and class sets are also read off the sample, which keeps ID-like columns from growing
   the embedding tables without bound. A category the sample missed (rarer than about
   1 in ``sample_rows``) maps to the "unknown" code at training and predict time, like
   any category unseen in fit; a target label the sample missed counts as a missing label
   (that row drops out of that task's loss) and is reported in a warning.
2. **Training epochs** read the row groups ("fragments") in a new random order each epoch
   and pass the encoded rows through a bounded shuffle buffer (``shuffle_buffer_batches``
   record batches of ``batch_rows`` rows) from which mini-batches are drawn at random, so
   a file sorted by time or by a label still trains on mixed batches: each mini-batch
   mixes rows of every row group in the buffer. The mixing scale is a row group: write
   sorted files with row groups well below the buffer (e.g. ``row_group_size=65_536``).

Validation comes from a separate source (``validation="valid.parquet"``) or from held-out
row groups (``validation=0.1``; by default ``estimator.validation_fraction`` of them when
``early_stopping`` is on): skorch's own split needs ``len()`` and random access, which a
stream has not. Launched by ``torchrun`` (``WORLD_SIZE > 1``), the training is
data-parallel: each epoch's row groups are dealt out to the processes, and every process
runs the same number of batches (see :mod:`tabmtl.training.distributed`).

Examples
--------
::

    from tabmtl import MultiTaskEstimator
    from tabmtl.io.streaming import fit_parquet, predict_parquet

    model = fit_parquet(MultiTaskEstimator(max_epochs=2), "trips/*.parquet",
                        targets=["eta", "fare", "payment"])
    predict_parquet(model, "new_trips.parquet", "predictions.parquet", keep_columns=["trip_id"])
"""

from __future__ import annotations

import glob
import os
import queue
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.helper import predefined_split

from tabmtl.data.features import FeaturePreprocessor
from tabmtl.data.targets import TargetSpec
from tabmtl.training.distributed import _process_rank
from tabmtl.training.iterators import SliceIterator

__all__ = [
    "ParquetBatchIterator",
    "ParquetSource",
    "ParquetStream",
    "RowGroup",
    "fit_parquet",
    "predict_parquet",
    "reservoir_sample",
]

#: Bytes each open parquet reader buffers per column (instead of whole column chunks).
_READ_BUFFER_BYTES = 1 << 20


# -- the source: files and row groups -----------------------------------------------------


@dataclass(frozen=True)
class RowGroup:
    """One row group of one file: the unit that is shuffled and dealt out to processes."""

    file: int
    index: int
    num_rows: int


class ParquetSource:
    """The files and row groups behind a parquet file, folder, glob pattern or list of files.

    Only footers are read here (row counts come from the metadata); rows are read later,
    one row group at a time, through buffered streams so that memory does not grow with
    the size of a column chunk.

    Parameters
    ----------
    source : str, path, list of them, or pyarrow.dataset.Dataset
        A parquet file, a folder of them, a glob pattern (``"trips/2024-*.parquet"``), a
        list of files, or a ``pyarrow.dataset`` dataset (for other filesystems).

    Attributes
    ----------
    files : list of str
        The files, in a stable order.
    schema : pyarrow.Schema
        The (first file's) schema.
    row_groups : list of RowGroup
        Every row group of every file.
    num_rows : int
        Total rows.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pd.DataFrame({"x": range(10)}).to_parquet(path, row_group_size=4)
    >>> src = ParquetSource(path)
    >>> src.num_rows, [g.num_rows for g in src.row_groups]
    (10, [4, 4, 2])
    """

    def __init__(self, source):
        dataset = _as_dataset(source)
        self.filesystem = dataset.filesystem
        self.files = list(dataset.files)
        if not self.files:
            raise FileNotFoundError(f"No parquet file found at {source!r}.")
        self.schema = dataset.schema
        self._metadata = [
            pq.read_metadata(f, filesystem=self.filesystem) for f in self.files
        ]
        self.row_groups = [
            RowGroup(i, j, md.row_group(j).num_rows)
            for i, md in enumerate(self._metadata)
            for j in range(md.num_row_groups)
            if md.row_group(j).num_rows > 0
        ]
        self.num_rows = sum(g.num_rows for g in self.row_groups)

    @property
    def column_names(self) -> list[str]:
        """Data columns (a pandas index written as a column is left out)."""
        index_columns = set()
        meta = self.schema.pandas_metadata or {}
        for col in meta.get("index_columns", []):
            if isinstance(col, str):
                index_columns.add(col)
        return [n for n in self.schema.names if n not in index_columns]

    def read(
        self,
        row_groups: Iterable[RowGroup],
        columns: Sequence[str],
        batch_rows: int,
        use_threads: bool = True,
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows from ``row_groups``, in order."""
        handles: dict[int, pq.ParquetFile] = {}
        try:
            for group in row_groups:
                handle = handles.get(group.file)
                if handle is None:
                    for old in handles.values():  # one open file at a time
                        old.close()
                    handles.clear()
                    handle = handles[group.file] = pq.ParquetFile(
                        self.files[group.file],
                        metadata=self._metadata[group.file],
                        filesystem=self.filesystem,
                        buffer_size=_READ_BUFFER_BYTES,
                        pre_buffer=False,
                    )
                yield from handle.iter_batches(
                    batch_size=batch_rows,
                    row_groups=[group.index],
                    columns=list(columns),
                    use_threads=use_threads,
                )
        finally:
            for handle in handles.values():
                handle.close()


def _as_dataset(source) -> ds.Dataset:
    if isinstance(source, ds.Dataset):
        return source
    if isinstance(source, ParquetSource):
        raise TypeError("pass the original source, not a ParquetSource")
    if isinstance(source, (list, tuple)):
        paths: str | list[str] = [str(p) for p in source]
    else:
        text = os.fspath(source)
        if glob.has_magic(text):
            paths = sorted(glob.glob(text))
            if not paths:
                raise FileNotFoundError(f"No file matches the pattern {text!r}.")
        else:
            if not Path(text).exists():
                raise FileNotFoundError(f"No such parquet file or folder: {text!r}.")
            paths = text
    return ds.dataset(paths, format="parquet")


# -- the bounded sampling pass ------------------------------------------------------------


def reservoir_sample(
    source: ParquetSource,
    columns: Sequence[str],
    n_rows: int,
    seed: int = 0,
    batch_rows: int = 65_536,
    row_groups: Sequence[RowGroup] | None = None,
) -> pa.Table:
    """A uniform random sample of ``n_rows`` rows (all rows if fewer) in one pass.

    Bottom-k sampling: every row gets a uniform random key and the ``n_rows`` smallest keys
    are kept, which is a uniform sample without replacement (like reservoir "algorithm
    R", but vectorised per record batch). Once ``n_rows`` are held, only rows whose key
    beats the current k-th smallest are kept at all, so the work after the first
    ``n_rows`` falls off like ``n_rows / rows seen``; memory stays below ``2 * n_rows``
    rows plus one record batch.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pd.DataFrame({"x": range(1000)}).to_parquet(path, row_group_size=100)
    >>> sample = reservoir_sample(ParquetSource(path), ["x"], 50, seed=0)
    >>> sample.num_rows, 0 <= min(sample["x"].to_pylist()) < max(sample["x"].to_pylist())
    (50, True)
    """
    if n_rows < 1:
        raise ValueError(f"sample_rows must be a positive integer, got {n_rows!r}.")
    # salted: keys must not replay a stream the data itself may have been drawn from
    # (a table generated with default_rng(0) and sampled with seed 0 would be sorted)
    rng = np.random.default_rng([int(seed), 0x5A3D1E])
    pieces: list[pa.Table] = []
    piece_keys: list[np.ndarray] = []
    held = 0
    threshold = np.inf

    def compact() -> None:
        nonlocal held, threshold
        table = pa.concat_tables(pieces).unify_dictionaries()
        keys = np.concatenate(piece_keys)
        if len(keys) > n_rows:
            keep = np.argpartition(keys, n_rows - 1)[:n_rows]
            table, keys = table.take(pa.array(keep)), keys[keep]
            threshold = float(keys.max())
        pieces[:] = [table.combine_chunks()]
        piece_keys[:] = [keys]
        held = len(keys)

    groups = source.row_groups if row_groups is None else row_groups
    for batch in source.read(groups, columns, batch_rows):
        keys = rng.random(batch.num_rows)
        chosen = keys < threshold
        if not chosen.any():
            continue
        table = pa.Table.from_batches([batch])
        if not chosen.all():
            table, keys = table.filter(pa.array(chosen)), keys[chosen]
        pieces.append(table)
        piece_keys.append(keys)
        held += len(keys)
        if held >= 2 * n_rows:
            compact()
    if not pieces:
        raise ValueError("The parquet source has no rows.")
    compact()
    order = np.argsort(piece_keys[0], kind="stable")  # random, reproducible row order
    return pieces[0].take(pa.array(order))


# -- record batch -> encoded arrays ------------------------------------------------------


def _to_frame(data: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """One conversion for the sample and every batch, so dtypes agree between them.

    Dictionary columns become pandas categoricals (their categories may differ from batch
    to batch; the preprocessor and targets map values, not codes, so that is harmless).
    """
    return data.to_pandas()


class ParquetStream(torch.utils.data.IterableDataset):
    """Encoded ``(X, y)`` chunks of a parquet source, for :class:`ParquetBatchIterator`.

    A torch ``IterableDataset`` (so skorch takes it as a dataset as is) whose
    ``__len__`` is the row count from the metadata. :meth:`chunks` reads given row groups
    in a given order and encodes each record batch with the fitted preprocessor and
    target spec; rows without any label are skipped (and counted), like an in-memory fit
    drops them.

    Parameters
    ----------
    source : ParquetSource
    row_groups : list of RowGroup
        The row groups this stream covers (e.g. all but the held-out ones).
    features, targets : list of str
        Column names.
    preprocessor : FeaturePreprocessor
    target_spec : TargetSpec
    batch_rows : int, default=16384
        Rows per record batch read (and encoded) at a time.
    use_threads : bool, default=True
        Let pyarrow decode columns in parallel (its CPU pool, ``pa.set_cpu_count``).
    shuffle_buffer_batches : int, default=16
        Size of the training shuffle buffer, in record batches of ``batch_rows`` rows.
    prefetch : int, default=2
        Encoded record batches read ahead in a background thread (0: no thread).

    Attributes
    ----------
    counts_ : dict
        Since the last :meth:`reset_counts`: ``rows_read``, ``rows_unlabelled`` and
        ``unknown_labels`` (target -> count).
    row_groups_read_ : list of RowGroup
        Row groups read since the last :meth:`reset_counts`, in order.
    """

    def __init__(
        self,
        source: ParquetSource,
        row_groups: Sequence[RowGroup],
        features: Sequence[str],
        targets: Sequence[str],
        preprocessor: FeaturePreprocessor,
        target_spec: TargetSpec,
        batch_rows: int = 16_384,
        use_threads: bool = True,
        shuffle_buffer_batches: int = 16,
        prefetch: int = 2,
    ):
        self.source = source
        self.row_groups = list(row_groups)
        self.features = list(features)
        self.targets = list(targets)
        self.preprocessor = preprocessor
        self.target_spec = target_spec
        self.batch_rows = int(batch_rows)
        self.use_threads = use_threads
        self.shuffle_buffer_batches = max(int(shuffle_buffer_batches), 1)
        self.prefetch = max(int(prefetch), 0)
        self.n_features = preprocessor.n_numeric_ + len(preprocessor.categories_)
        self.n_targets = len(target_spec.tasks_)
        self.reset_counts()

    def __len__(self) -> int:
        return sum(g.num_rows for g in self.row_groups)

    def reset_counts(self) -> None:
        self.counts_ = {"rows_read": 0, "rows_unlabelled": 0, "unknown_labels": {}}
        self.row_groups_read_: list[RowGroup] = []

    def encode(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        """Encoded features and targets of one record batch (labelled rows only)."""
        # two conversions of column subsets: no copy of a whole frame's columns
        X_enc = self.preprocessor.transform(_to_frame(batch.select(self.features)))
        y_enc, unknown = self.target_spec.transform_known(
            _to_frame(batch.select(self.targets))
        )
        labelled = ~np.isnan(y_enc).all(axis=1)
        counts = self.counts_
        counts["rows_read"] += batch.num_rows
        counts["rows_unlabelled"] += int((~labelled).sum())
        for name, n in unknown.items():
            counts["unknown_labels"][name] = counts["unknown_labels"].get(name, 0) + n
        if not labelled.all():
            X_enc, y_enc = X_enc[labelled], y_enc[labelled]
        return X_enc, y_enc

    def chunks(self, row_groups: Iterable[RowGroup]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Encoded chunks of ``row_groups`` read in the given order (empty ones skipped)."""
        columns = list(dict.fromkeys(self.features + self.targets))
        for group in row_groups:
            self.row_groups_read_.append(group)
            for batch in self.source.read([group], columns, self.batch_rows, self.use_threads):
                X_enc, y_enc = self.encode(batch)
                if len(X_enc):
                    yield X_enc, y_enc

    def __iter__(self):
        for X_enc, y_enc in self.chunks(self.row_groups):
            yield torch.from_numpy(X_enc), torch.from_numpy(y_enc)


# -- the training iterator ----------------------------------------------------------------


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


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class _Prefetch:
    """Runs an iterator in a background thread, at most ``depth`` items ahead.

    Reading and encoding the next record batches then overlaps the training step (pyarrow
    and most numpy work release the GIL); the bounded queue bounds the memory.
    """

    _DONE = object()

    def __init__(self, iterable: Iterable, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iterable,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterable: Iterable) -> None:
        try:
            for item in iterable:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()


class ParquetBatchIterator:
    """skorch ``iterator_train``/``iterator_valid`` over a :class:`ParquetStream`.

    Each pass (epoch) reads the stream's row groups, in a fresh random order when
    ``shuffle``, encodes them a record batch at a time in a background thread, and yields
    mini-batches of ``batch_size`` rows. With ``shuffle``, rows go through a buffer of
    ``shuffle_buffer_batches * stream.batch_rows`` rows: whenever it is full, a random
    quarter of it is emitted as mini-batches and the rest stays, so each mini-batch is a
    random draw from rows of several row groups.

    Under ``torch.distributed`` (or with explicit ``rank``/``world_size``) each process
    reads only the row groups dealt to it (:func:`deal_row_groups`, the same deal on every
    process) and every process yields the same number of batches, because a collective
    step that one process skips hangs the others: training runs
    ``ceil(max rows per process / batch_size)`` full batches, a process that runs out of
    rows starting again on its own row groups (like ``DistributedSampler`` pads with
    repeats); validation pads with empty batches, which count for nothing.

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
            rank, world_size = _process_rank()
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
            raise ValueError(
                f"The training data has {n} row group(s), fewer than the {self.world_size} "
                "processes, so some process would have no rows; write the parquet with "
                "smaller row groups (e.g. row_group_size=65_536) or more files."
            )
        return mine, -(-most // self.batch_size)

    def __iter__(self):
        self.dataset.reset_counts()
        mine, n_batches = self.epoch_plan()
        if self.shuffle and n_batches is not None:
            source = self._cycle(mine)  # a process that runs dry starts over on its groups
        else:
            source = self.dataset.chunks(mine)
        prefetch = _Prefetch(source, self.prefetch) if self.prefetch > 0 else None
        chunks = prefetch if prefetch is not None else source
        batches = self._shuffled(chunks) if self.shuffle else self._in_order(chunks)
        try:
            produced = 0
            for X, y in batches:
                if n_batches is not None and produced == n_batches:
                    break
                produced += 1
                yield self._to_device(X), self._to_device(y)
            if n_batches is not None:
                if produced < n_batches and self.shuffle:  # pragma: no cover - cycle is endless
                    raise RuntimeError("the training stream ended early")
                empty_X = torch.zeros((0, self.dataset.n_features), dtype=torch.float32)
                empty_y = torch.zeros((0, self.dataset.n_targets), dtype=torch.float32)
                for _ in range(n_batches - produced):  # validation: empty batches count 0
                    yield self._to_device(empty_X), self._to_device(empty_y)
        finally:
            if prefetch is not None:
                prefetch.close()

    def _cycle(self, groups: list[RowGroup]):
        while True:
            read = 0
            for X_enc, y_enc in self.dataset.chunks(groups):
                read += len(X_enc)
                yield X_enc, y_enc
            if read == 0:
                raise ValueError("A process's row groups hold no labelled row at all.")

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
        """Mini-batches drawn at random from a bounded buffer of encoded rows."""
        bs, gen = self.batch_size, self.buffer_generator
        emit = max(bs, (self.buffer_rows // 4) // bs * bs)
        held_X: list[torch.Tensor] = []  # the buffer, as pieces joined only when full
        held_y: list[torch.Tensor] = []
        held = 0
        for X_enc, y_enc in chunks:
            held_X.append(torch.from_numpy(X_enc))
            held_y.append(torch.from_numpy(y_enc))
            held += len(X_enc)
            if held < self.buffer_rows:
                continue
            buf_X, buf_y = torch.cat(held_X), torch.cat(held_y)
            while len(buf_X) >= self.buffer_rows:
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


# -- fit and predict ----------------------------------------------------------------------


def fit_parquet(
    estimator,
    source,
    targets: Sequence[str],
    *,
    features: Sequence[str] | None = None,
    validation=None,
    sample_rows: int = 100_000,
    batch_rows: int = 16_384,
    shuffle_buffer_batches: int = 16,
    prefetch: int = 2,
    use_threads: bool = True,
):
    """Fit ``estimator`` on parquet data too large for memory, reading record batches.

    See the module docstring for how the sample, the shuffling and the validation work.
    The fitted estimator is an ordinary one: ``predict`` on in-memory frames, pickling and
    searches work as after ``fit``; :func:`predict_parquet` predicts a parquet source
    batch by batch. Under ``torchrun`` (``WORLD_SIZE > 1``) the fit is data-parallel
    (:mod:`tabmtl.training.distributed`): rank 0 draws the sample and fits the preprocessing, the
    others receive it, and each epoch's row groups are dealt out to the processes.

    Parameters
    ----------
    estimator : MultiTaskEstimator
        Its parameters are used as in ``fit`` (``batch_size`` is per process under
        ``torchrun``); ``targets`` (kind overrides) too. ``class_weight`` and
        ``calibration_fraction`` are not supported on a stream (they need every label or
        held-out rows in memory) and raise.
    source : str, path, list or pyarrow.dataset.Dataset
        Parquet file, folder, glob pattern or list of files.
    targets : list of str
        Target columns.
    features : list of str, optional
        Feature columns; default every other column.
    validation : float, source or None
        A fraction of row groups held out (fixed for the whole fit), or a separate parquet
        source. None: no validation, unless ``estimator.early_stopping`` is set, in which
        case ``estimator.validation_fraction`` of the row groups are held out.
    sample_rows : int, default=100_000
        Rows of the reservoir sample the preprocessing and targets are fitted on.
    batch_rows : int, default=16_384
        Rows per record batch read and encoded at a time.
    shuffle_buffer_batches : int, default=16
        Shuffle buffer size in record batches (``16 * 16_384`` rows by default).
    prefetch : int, default=2
        Record batches read ahead in a background thread (0 reads in the training thread).
    use_threads : bool, default=True
        pyarrow's multi-threaded column decoding (see the benchmark on thread pinning).

    Returns
    -------
    estimator
        Fitted, with ``preprocessor_``, ``target_spec_``, ``net_``, ``n_epochs_``,
        ``feature_names_in_`` and ``n_features_in_`` as after ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from tabmtl import MultiTaskEstimator
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"km": rng.uniform(1, 20, 2000), "zone": rng.choice(["a", "b"], 2000)})
    >>> df["eta"], df["late"] = 3 * df.km + rng.normal(size=2000), df.km > 10
    >>> path = os.path.join(tempfile.mkdtemp(), "trips.parquet")
    >>> df.to_parquet(path, row_group_size=250)
    >>> model = fit_parquet(MultiTaskEstimator(max_epochs=3, random_state=0), path,
    ...                     targets=["eta", "late"])
    >>> model.predict(df.head(2)[["km", "zone"]]).dtypes.tolist()
    [dtype('float64'), dtype('bool')]
    """
    from tabmtl.estimators import MultiTaskEstimator
    from tabmtl.training import distributed

    if not isinstance(estimator, MultiTaskEstimator):
        raise TypeError(
            f"fit_parquet fits a MultiTaskEstimator (DataFrame targets), got "
            f"{type(estimator).__name__}."
        )
    seed = estimator._begin_fit()
    if estimator.class_weight:
        raise ValueError(
            "class_weight needs the class counts of every row; it is not supported by "
            "fit_parquet. Leave it None."
        )
    if float(getattr(estimator, "calibration_fraction", 0.0) or 0.0) > 0:
        raise ValueError(
            "calibration_fraction > 0 holds rows out in memory; it is not supported by "
            "fit_parquet. Leave it 0."
        )
    for name, value in (("batch_rows", batch_rows), ("sample_rows", sample_rows)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")

    ctx = distributed.init_distributed(device=estimator.device)
    src = ParquetSource(source)
    targets = list(targets)
    columns = src.column_names
    missing = [c for c in targets + list(features or []) if c not in columns]
    if missing:
        raise ValueError(f"Columns {missing!r} are not in the parquet source {columns!r}.")
    features = [c for c in columns if c not in targets] if features is None else list(features)
    overlap = set(features) & set(targets)
    if overlap:
        raise ValueError(f"Columns {sorted(overlap)!r} are both features and targets.")

    seed = ctx.broadcast(seed)  # one seed: the same deal of row groups
    train_groups, valid_source, valid_groups = _split_validation(
        src, validation, estimator, seed
    )

    fitted: tuple | Exception | None = None
    if ctx.rank == 0:
        try:
            sample = _to_frame(
                reservoir_sample(
                    src, features + targets, sample_rows, seed, max(batch_rows, 65_536)
                )
            )
            spec = TargetSpec(targets=estimator.targets).fit(sample[targets])
            pre = FeaturePreprocessor().fit(sample[features])
            fitted = (spec, pre, sample[features].iloc[:0])
        except Exception as exc:  # every process raises it, rather than waiting for rank 0
            fitted = exc
    fitted = ctx.broadcast(fitted)
    if isinstance(fitted, Exception):
        raise fitted
    spec, pre, schema_frame = fitted
    validate_data(estimator, schema_frame, skip_check_array=True, reset=True)

    def stream(source_: ParquetSource, groups: Sequence[RowGroup]) -> ParquetStream:
        return ParquetStream(
            source_, groups, features, targets, pre, spec, batch_rows, use_threads,
            shuffle_buffer_batches, prefetch,
        )

    train = stream(src, train_groups)
    valid = None if valid_source is None else stream(valid_source, valid_groups)

    def configure(net) -> None:
        net.set_params(
            train_split=predefined_split(valid) if valid is not None else None,
            iterator_train=ParquetBatchIterator,
            iterator_valid=ParquetBatchIterator,
        )
        if ctx.world_size > 1:
            distributed.make_data_parallel(net, ctx)

    estimator._fit_encoded(train, pre, spec, seed, configure=configure)
    # an ordinary fitted net again: in-memory iterators, no reference to the streams
    # (plain attributes: skorch's set_params refuses these on an initialised net)
    net = estimator.net_
    net.train_split, net.iterator_train, net.iterator_valid = None, SliceIterator, SliceIterator
    if ctx.world_size > 1:
        distributed.finish_data_parallel(estimator.net_, ctx)
    _warn_skipped(train)
    return estimator


def _split_validation(src: ParquetSource, validation, estimator, seed: int):
    """(training row groups, validation source or None, validation row groups)."""
    groups = src.row_groups
    fraction = None
    if validation is None:
        if estimator.early_stopping:
            fraction = float(estimator.validation_fraction)
    elif isinstance(validation, (float, np.floating)) and not isinstance(validation, bool):
        fraction = float(validation)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation as a fraction must be in (0, 1), got {validation!r}.")
    else:
        valid_src = ParquetSource(validation)
        return groups, valid_src, valid_src.row_groups
    if fraction is None:
        return groups, None, []
    if len(groups) < 2:
        raise ValueError(
            f"Holding out {fraction:.0%} of the row groups for validation needs at least 2 "
            f"row groups; the source has {len(groups)}. Write it with smaller row groups "
            "or pass validation='valid.parquet'."
        )
    n_valid = min(max(1, round(fraction * len(groups))), len(groups) - 1)
    order = np.random.default_rng(seed).permutation(len(groups))
    held = set(order[:n_valid].tolist())
    train = [g for i, g in enumerate(groups) if i not in held]
    valid = [g for i, g in enumerate(groups) if i in held]
    return train, src, valid


def _warn_skipped(stream: ParquetStream) -> None:
    counts = stream.counts_
    if counts["rows_unlabelled"]:
        warnings.warn(
            f"Skipped {counts['rows_unlabelled']} of {counts['rows_read']} rows read in the "
            "last epoch that have no target label at all.",
            UserWarning,
            stacklevel=3,
        )
    if counts["unknown_labels"]:
        warnings.warn(
            f"Labels absent from the sample were treated as missing in the last epoch "
            f"(target: rows) {counts['unknown_labels']!r}; raise sample_rows to learn "
            "those classes.",
            UserWarning,
            stacklevel=3,
        )


def predict_parquet(
    estimator,
    source,
    out=None,
    *,
    method: str = "predict",
    keep_columns: Sequence[str] = (),
    batch_rows: int = 65_536,
):
    """Predict a parquet source batch by batch, writing the predictions to parquet.

    Parameters
    ----------
    estimator : fitted MultiTaskEstimator
    source : str, path, list or pyarrow.dataset.Dataset
        Parquet file, folder, glob or list of files holding the feature columns.
    out : str or path, optional
        The parquet file to write (one row per input row, in order). None returns one
        DataFrame instead, so only for outputs that fit in memory.
    method : str, default="predict"
        ``"predict"``, or ``"predict_proba"`` (columns ``<target>=<class>``).
    keep_columns : list of str
        Input columns copied in front of the predictions (e.g. an ID).
    batch_rows : int, default=65_536
        Rows read and predicted at a time.

    Returns
    -------
    str or pandas.DataFrame
        ``out`` (as a string), or the predictions.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from tabmtl import MultiTaskEstimator
    >>> folder = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"id": range(300), "km": np.linspace(1, 20, 300)})
    >>> df["eta"] = 3 * df.km
    >>> df.to_parquet(os.path.join(folder, "trips.parquet"), row_group_size=100)
    >>> model = fit_parquet(MultiTaskEstimator(max_epochs=2, random_state=0),
    ...                     os.path.join(folder, "trips.parquet"), ["eta"], features=["km"])
    >>> out = predict_parquet(model, os.path.join(folder, "trips.parquet"),
    ...                       os.path.join(folder, "pred.parquet"), keep_columns=["id"])
    >>> pd.read_parquet(out).columns.tolist()
    ['id', 'eta']
    """
    check_is_fitted(estimator, "net_")
    if method not in ("predict", "predict_proba"):
        raise ValueError(f"method must be 'predict' or 'predict_proba', got {method!r}.")
    src = ParquetSource(source)
    features = [str(c) for c in estimator.feature_names_in_]
    keep_columns = list(keep_columns)
    columns = list(dict.fromkeys(features + keep_columns))
    missing = [c for c in columns if c not in src.column_names]
    if missing:
        raise ValueError(f"Columns {missing!r} are not in the parquet source.")
    writer = None
    frames = []
    try:
        for batch in src.read(src.row_groups, columns, batch_rows):
            frame = _to_frame(batch)
            result = getattr(estimator, method)(frame[features])
            if method == "predict_proba":
                result = pd.concat(
                    {name: p for name, p in result.items()}, axis=1
                )
                result.columns = [f"{t}={c}" for t, c in result.columns]
            result = pd.concat(
                [frame[keep_columns].reset_index(drop=True), result.reset_index(drop=True)],
                axis=1,
            )
            if out is None:
                frames.append(result)
                continue
            table = pa.Table.from_pandas(result, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(os.fspath(out), table.schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    if out is None:
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if writer is None:
        raise ValueError("The parquet source has no rows to predict.")
    return os.fspath(out)
