"""Encoded ``(X, y)`` chunks of a parquet source: the dataset a streamed fit trains on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import torch

from tabmtl._data.features import FeaturePreprocessor
from tabmtl._data.targets import TargetSpec
from tabmtl.io._parquet import ParquetSource, RowGroup, to_frame

__all__ = ["ParquetStream"]


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

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> frame = pd.DataFrame({"km": [1.0, 2.0, 3.0, 4.0], "eta": [3.0, 6.0, None, 12.0]})
    >>> frame.to_parquet(path, row_group_size=2)
    >>> src = ParquetSource(path)
    >>> stream = ParquetStream(src, src.row_groups, ["km"], ["eta"],
    ...                        FeaturePreprocessor().fit(frame[["km"]]),
    ...                        TargetSpec().fit(frame[["eta"]]))
    >>> len(stream), [len(X) for X, y in stream], stream.counts_["rows_unlabelled"]
    (4, [2, 1], 1)
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
        X_enc = self.preprocessor.transform(to_frame(batch.select(self.features)))
        y_enc, unknown = self.target_spec.transform_known(
            to_frame(batch.select(self.targets))
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
