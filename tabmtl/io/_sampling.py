"""A bounded uniform sample of a parquet source, drawn in one pass (bottom-k keys).

The streamed fit fits its preprocessing and targets on this sample: a median (for
imputation) cannot be streamed exactly in bounded memory, a sample can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from tabmtl.errors import InputError
from tabmtl.io._parquet import ParquetSource, RowGroup

__all__ = ["reservoir_sample"]


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
        raise InputError(f"sample_rows must be a positive integer, got {n_rows!r}.")
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
        raise InputError("The parquet source has no rows.")
    compact()
    order = np.argsort(piece_keys[0], kind="stable")  # random, reproducible row order
    return pieces[0].take(pa.array(order))
