"""The large-data and FLOP benchmarks' own pieces, on tiny sizes (their figures are in docs)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
stream_e2e = importlib.import_module("benchmarks.stream_e2e")
flops = importlib.import_module("benchmarks.flops")


def test_generated_table_has_50_columns_mixed_targets_and_missing_labels():
    chunk = stream_e2e.table_chunk(20_000, seed=3)
    assert chunk.shape[1] == 50
    for target, share in stream_e2e.MISSING_LABELS.items():
        assert abs(chunk[target].isna().mean() - share) < 0.02, target
    assert sorted(chunk["cls"].dropna().unique()) == ["a", "b", "c", "d"]
    assert sorted(chunk["bin"].dropna().unique()) == ["no", "yes"]
    assert chunk["reg"].dtype == np.float32
    again = stream_e2e.table_chunk(20_000, seed=3)
    assert chunk.equals(again)  # a chunk is a function of its seed


def test_table_is_written_chunk_by_chunk_in_bounded_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(stream_e2e, "CHUNK", 3_000)
    monkeypatch.setattr(stream_e2e, "ROW_GROUP", 1_000)
    path = stream_e2e.build_file(tmp_path, 7_500)
    meta = pq.read_metadata(path)
    assert meta.num_rows == 7_500 and meta.num_columns == 50
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert max(sizes) == 1_000 and sum(sizes) == 7_500
    assert not list(tmp_path.glob("*.partial"))
    assert stream_e2e.build_file(tmp_path, 7_500) == path  # written once, then reused


def test_matmul_chain_replays_exactly_the_steps_flops():
    torch.set_num_threads(1)
    step, n_params = flops.training_step("hard", batch_size=32, embedding=False)
    assert n_params > 0
    step()
    counted = flops.count_flops(step)
    recorder = flops._RecordProducts()
    with recorder:
        step()
    assert counted > 0 and recorder.calls
    assert flops.count_flops(flops.matmul_chain(recorder.calls)) == counted


def test_measure_reports_rates_at_each_thread_count():
    row = flops.measure("mmoe", batch_size=32, threads=[1], steps=2, repeats=1,
                        embedding=False)
    assert row["MFLOP / step"] > 0
    assert row["step GFLOP/s (1t)"] > 0 and row["matmuls GFLOP/s (1t)"] > 0
    assert row["step / matmuls (1t)"] > 0
