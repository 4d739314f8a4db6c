"""Every epoch of a streamed fit visits every training row exactly once (issue 29, item 1).

The rows carry their id as the feature; the batches are decoded back to ids and counted,
per epoch, over 1 to 3 processes (explicit ranks, in one process).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabmtl._data.features import FeaturePreprocessor
from tabmtl._data.targets import TargetSpec
from tabmtl.io._parquet import ParquetSource
from tabmtl.io._parquet_batches import ParquetBatchIterator
from tabmtl.io._parquet_stream import ParquetStream


def _stream(path, n: int, row_group_size: int, **kwargs) -> tuple[ParquetStream, dict]:
    ids = np.arange(n, dtype=float)
    frame = pd.DataFrame({"rid": ids, "y": np.sin(ids)})
    frame.to_parquet(path, row_group_size=row_group_size)
    pre = FeaturePreprocessor().fit(frame[["rid"]])
    encoded = pre.transform(frame[["rid"]])[:, 0]
    decode = {round(float(v), 4): i for i, v in enumerate(encoded)}
    assert len(decode) == n
    src = ParquetSource(path)
    stream = ParquetStream(
        src, src.row_groups, ["rid"], ["y"], pre, TargetSpec().fit(frame[["y"]]), **kwargs
    )
    return stream, decode


def _epoch(stream, decode, world: int, batch_size: int, seed: int, epochs: int = 2,
           shuffle: bool = True):
    """Per epoch and rank: the ids of each batch."""
    iterators = [
        ParquetBatchIterator(
            stream, batch_size=batch_size, shuffle=shuffle, seed=seed, rank=r, world_size=world
        )
        for r in range(world)
    ]
    out = []
    for _ in range(epochs):
        out.append(
            [[[decode[round(float(v), 4)] for v in xb[:, 0]] for xb, _ in it] for it in iterators]
        )
    return out


def _check_epoch(ranks: list[list[list[int]]], n: int, batch_size: int, pad: int | None = None
                 ) -> None:
    counts = {len(batches) for batches in ranks}
    assert len(counts) == 1, counts  # every process runs the same number of batches
    seen: Counter = Counter()
    for batches in ranks:
        share = [i for b in batches for i in b]
        own = set(share)
        # the share: each of this process's rows once, then whole padding batches of its
        # own rows (a short share is padded, as DistributedSampler does)
        n_share = -(-len(own) // batch_size)
        first = [i for b in batches[:n_share] for i in b]
        assert sorted(first) == sorted(own), "a row repeated or lost within a share"
        # training pads with whole batches, validation with empty ones
        assert all(len(b) == (batch_size if pad is None else pad) for b in batches[n_share:])
        seen.update(own)
    assert sorted(seen) == list(range(n))  # every training row ...
    assert set(seen.values()) == {1}  # ... in exactly one share


@pytest.mark.parametrize("world", [1, 2])
@pytest.mark.parametrize("buffer_batches", [1, 2, 5, 40])
def test_every_row_once_per_epoch(tmp_path, world, buffer_batches):
    n, bs = 1000, 48  # 1000 is not a multiple of 48
    stream, decode = _stream(
        tmp_path / "t.parquet", n, 90, batch_rows=32, shuffle_buffer_batches=buffer_batches,
        prefetch=1,
    )
    epochs = _epoch(stream, decode, world, bs, seed=3)
    for ranks in epochs:
        _check_epoch(ranks, n, bs)
        if world == 1:
            assert sum(len(b) for b in ranks[0]) == n  # one process: no padding at all
    assert epochs[0] != epochs[1]  # and a fresh order every epoch


@settings(deadline=None)  # examples: the profile's (conftest: ci 40, long 2000)
@given(
    n=st.integers(1, 200),
    row_group_size=st.integers(8, 120),
    batch_size=st.integers(1, 70),
    batch_rows=st.integers(1, 64),
    buffer_batches=st.integers(1, 6),
    world=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    shuffle=st.booleans(),
    prefetch=st.integers(0, 2),
)
def test_any_row_stream_configuration_visits_each_row_once(
    tmp_path_factory, n, row_group_size, batch_size, batch_rows, buffer_batches, world, seed,
    shuffle, prefetch,
):
    groups = -(-n // row_group_size)
    if groups < world:  # refused with a clear error (tested in test_streaming)
        world = groups
    path = tmp_path_factory.mktemp("rows") / "t.parquet"
    stream, decode = _stream(
        path, n, row_group_size, batch_rows=batch_rows, shuffle_buffer_batches=buffer_batches,
        prefetch=prefetch,
    )
    for ranks in _epoch(stream, decode, world, batch_size, seed, shuffle=shuffle):
        _check_epoch(ranks, n, batch_size, pad=None if shuffle else 0)
