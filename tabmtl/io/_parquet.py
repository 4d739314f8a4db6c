"""Parquet sources: a file, folder, glob or list of files, read one row group at a time.

:func:`parquet_dataset` resolves what a user names (a file, a folder, a glob pattern, a
list of files or a ``pyarrow.dataset`` dataset) into a ``pyarrow.dataset.Dataset``;
:class:`ParquetSource` lists its files and row groups from the footers alone and reads
given row groups as bounded record batches; :func:`to_frame` is the one conversion of
those batches to pandas.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["ParquetSource", "RowGroup", "parquet_dataset", "to_frame"]

#: Bytes each open parquet reader buffers per column (instead of whole column chunks).
_READ_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class RowGroup:
    """One row group of one file: the unit that is shuffled and dealt out to processes."""

    file: int
    index: int
    num_rows: int


def parquet_dataset(source) -> ds.Dataset:
    """The ``pyarrow.dataset`` dataset behind a parquet file, folder, glob or list of files.

    Parameters
    ----------
    source : str, path, list of them, or pyarrow.dataset.Dataset
        A parquet file, a folder of them, a glob pattern (``"trips/2024-*.parquet"``), a
        list of files, or a dataset (returned as is).

    Returns
    -------
    pyarrow.dataset.Dataset

    Raises
    ------
    FileNotFoundError
        When the file or folder does not exist or the pattern matches nothing.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pd.DataFrame({"x": range(10)}).to_parquet(path)
    >>> parquet_dataset(path).head(3).num_rows
    3
    """
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


def to_frame(data: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """One conversion for the sample and every batch, so dtypes agree between them.

    Dictionary columns become pandas categoricals (their categories may differ from batch
    to batch; the preprocessor and targets map values, not codes, so that is harmless).

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_frame(pa.table({"x": [1, 2]})).x.tolist()
    [1, 2]
    """
    return data.to_pandas()


class ParquetSource:
    """The files and row groups behind a parquet file, folder, glob pattern or list of files.

    Only footers are read here (row counts come from the metadata); rows are read later,
    one row group at a time, through buffered streams so that memory does not grow with
    the size of a column chunk.

    Parameters
    ----------
    source : str, path, list of them, or pyarrow.dataset.Dataset
        A parquet file, a folder of them, a glob pattern (``"trips/2024-*.parquet"``), a
        list of files, or a ``pyarrow.dataset`` dataset (for other filesystems); see
        :func:`parquet_dataset`.

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
        dataset = parquet_dataset(source)
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

    def head(self, rows: int = 10_000, columns: Sequence[str] | None = None) -> pa.Table:
        """The first ``rows`` rows (of ``columns``, default all), read like any other batch.

        Unlike ``pyarrow.dataset.Dataset.head``, which reads several row groups ahead in
        parallel (so its memory grows with the file up to that read-ahead), this reads
        only the record batches it returns, through the same buffered reader as
        :meth:`read`.

        Examples
        --------
        >>> import pandas as pd, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
        >>> pd.DataFrame({"x": range(10)}).to_parquet(path, row_group_size=4)
        >>> ParquetSource(path).head(6)["x"].to_pylist()
        [0, 1, 2, 3, 4, 5]
        """
        columns = self.column_names if columns is None else list(columns)
        batches, held = [], 0
        reader = self.read(self.row_groups, columns, rows)
        try:
            for batch in reader:
                batches.append(batch.slice(0, rows - held))
                held += batches[-1].num_rows
                if held >= rows:
                    break
        finally:
            reader.close()  # closes the open file now, not when the generator is collected
        if not batches:
            return self.schema.empty_table().select(columns)
        return pa.Table.from_batches(batches)

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
