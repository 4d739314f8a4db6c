"""Out-of-core benchmark: streamed training from parquet against the in-memory path.

A generated wide table (40 float32 numeric + 8 categorical features, a regression, a
binary and a 4-class target; rows in random order) is written on demand to
``results/streaming/`` (git-ignored) in row groups of 65,536 rows, and for the streamed
paths also of 10,000 and 200,000 rows (``--row-groups``): memory must stay flat in the
number of rows whatever the file's layout. The paths train the estimator defaults (soft
sharing, batch 256) for one epoch:

- **streamed**: ``tabmtl.io._streaming.fit_parquet`` on the file (sampling pass + epoch);
- **tabmtl fit --stream**: the command line on the file (column checks, then the same
  streamed fit, then saving the model), what a user runs;
- **in memory**: ``pd.read_parquet`` of the whole table, then ``MultiTaskEstimator.fit``
  (only up to ``--max-in-memory`` rows: it holds the table several times over).

Three tables:

1. **Scaling**: each size, row-group size and path in a fresh process, so that its peak
   RSS is its own; "peak RSS vs smallest" compares it with the smallest size of the same
   path and row-group size. Training rows/s is rows over the epoch (skorch's ``dur``;
   for the stream it includes reading and encoding, for the in-memory path the data were
   read and encoded before); end-to-end adds the sampling pass, or the parquet read and
   the preprocessing.
2. **Paired rate**: the two paths' epochs alternate in one process, ``--repeats`` times;
   the median of the per-pair ratios (what the machine's load drifts do not move).
3. **Thread placement** on the 2 cores: torch's intra-op threads, pyarrow's decoding
   pool and the background read-ahead thread.

The machine is shared and noisy: read the ratios within a table.

    python -m benchmarks.streaming                       # 200k, 2M, 10M rows; ~1 hour
    python -m benchmarks.streaming --sizes 20000 50000 --paired-rows 20000 --thread-rows 0
    python -m benchmarks.streaming --sizes 200000 2000000 --row-groups 200000 \
        --paths "tabmtl fit --stream" --paired-rows 0 --thread-rows 0   # issue 15, item 10
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
import traceback
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd

N_NUMERIC = 40
CARDINALITIES = (3, 7, 12, 30, 60, 150, 400, 1000)
TARGETS = ["reg", "bin", "cls"]
ROW_GROUP = 65_536
DATA_DIR = Path(__file__).resolve().parents[1] / "results" / "streaming"


def table_chunk(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of the wide table (each chunk from its own seed)."""
    rng = np.random.default_rng([seed, 20_26])
    numeric = rng.normal(size=(n, N_NUMERIC)).astype(np.float32)
    frame = pd.DataFrame(numeric, columns=[f"f{i}" for i in range(N_NUMERIC)])
    signal = numeric[:, 0] + 0.5 * numeric[:, 1] - numeric[:, 2] * numeric[:, 3]
    for j, k in enumerate(CARDINALITIES):
        codes = rng.integers(0, k, n)
        frame[f"c{j}"] = pd.Categorical.from_codes(codes, [f"v{i}" for i in range(k)])
        signal = signal + 0.3 * np.sin(codes)
    frame["reg"] = signal + rng.normal(0, 0.3, n)
    frame["bin"] = (signal + rng.normal(0, 0.5, n)) > 0
    frame["cls"] = pd.Categorical(np.digitize(signal, [-1, 0, 1]).astype(str))
    return frame


def build_file(n_rows: int, row_group: int = ROW_GROUP) -> Path:
    """The table of ``n_rows`` rows as parquet, written once, chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    layout = "" if row_group == ROW_GROUP else f"_rg{row_group}"
    path = DATA_DIR / f"wide_{n_rows}{layout}.parquet"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    writer = None
    chunk = 500_000
    for i, start in enumerate(range(0, n_rows, chunk)):
        table = pa.Table.from_pandas(
            table_chunk(min(chunk, n_rows - start), seed=i), preserve_index=False
        )
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema)
        writer.write_table(table.cast(writer.schema), row_group_size=row_group)
    writer.close()
    partial.rename(path)
    return path


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(measure, args: tuple, queue) -> None:
    try:
        queue.put(measure(*args))
    except BaseException:  # reported by the parent, which would otherwise wait forever
        queue.put({"error": traceback.format_exc()})


def in_child(measure, *args) -> dict:
    """``measure(*args)`` in a fresh (spawned) process: its peak RSS is its own."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(measure, args, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(f"{measure.__name__} exited with {proc.exitcode}") from None
    proc.join()
    if "error" in result:
        raise RuntimeError(f"{measure.__name__} failed:\n{result['error']}")
    return result


def _setup(torch_threads: int, arrow_threads: int) -> list[str]:
    """Threads as asked, then a tiny fit so imports and first calls are paid untimed."""
    os.environ["OMP_NUM_THREADS"] = str(torch_threads)  # before torch is imported here
    import pyarrow as pa
    import torch

    from tabmtl import MultiTaskEstimator

    torch.set_num_threads(torch_threads)
    pa.set_cpu_count(arrow_threads)
    features = [c for c in table_chunk(1, 0).columns if c not in TARGETS]
    warm = table_chunk(2_000, seed=99)
    MultiTaskEstimator(max_epochs=1, random_state=0).fit(warm[features], warm[TARGETS])
    return features


def measure_fit(mode: str, path: str, n_rows: int, torch_threads: int = 1,
                arrow_threads: int = 1, prefetch: int = 2) -> dict:
    """One epoch from the file, in memory or streamed: time and peak memory."""
    features = _setup(torch_threads, arrow_threads)
    from tabmtl import MultiTaskEstimator
    from tabmtl.io._streaming import fit_parquet

    baseline = _peak_mib()
    model = MultiTaskEstimator(max_epochs=1, random_state=0)
    t0 = time.perf_counter()
    if mode == "streamed":
        fit_parquet(model, path, TARGETS, prefetch=prefetch, use_threads=arrow_threads > 1)
    elif mode == COMMAND_LINE:
        model = _fit_on_the_command_line(path, torch_threads)
    else:
        frame = pd.read_parquet(path)
        model.fit(frame[features], frame[TARGETS])
        del frame
    total = time.perf_counter() - t0
    epoch = model.history_[-1]["dur"]
    return {"rows": n_rows, "path": mode, "torch threads": torch_threads,
            "arrow threads": arrow_threads, "read-ahead": prefetch, "fit (s)": total,
            "epoch (s)": epoch, "training rows/s": n_rows / epoch,
            "end-to-end rows/s": n_rows / total, "peak RSS (MiB)": _peak_mib(),
            "RSS before fit (MiB)": baseline}


COMMAND_LINE = "tabmtl fit --stream"
PATHS = ("in memory", "streamed", COMMAND_LINE)


def _fit_on_the_command_line(path: str, torch_threads: int):
    """``tabmtl fit PATH --stream`` (one epoch, defaults otherwise); the saved model."""
    from tabmtl._cli import main as tabmtl
    from tabmtl.io._persistence import load_model

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "model.tabmtl")
        argv = ["fit", path, "--stream", *[a for t in TARGETS for a in ("--target", t)],
                "--max-epochs", "1", "--threads", str(torch_threads), "--quiet", "--out", out]
        with contextlib.redirect_stdout(io.StringIO()):
            code = tabmtl(argv)
        if code != 0:
            raise RuntimeError(f"tabmtl {' '.join(argv)} exited with {code}")
        return load_model(out)


def measure_paired(path: str, n_rows: int, repeats: int) -> dict:
    """Epoch rates of both paths alternating in one process (load drifts cancel out)."""
    features = _setup(1, 1)
    from tabmtl import MultiTaskEstimator
    from tabmtl.io._streaming import fit_parquet

    frame = pd.read_parquet(path)
    X, Y = frame[features], frame[TARGETS]
    del frame
    memory, streamed = [], []
    for seed in range(repeats):
        memory.append(MultiTaskEstimator(max_epochs=1, random_state=seed).fit(X, Y))
        streamed.append(fit_parquet(MultiTaskEstimator(max_epochs=1, random_state=seed),
                                    path, TARGETS))
    rates = [(m.history_[-1]["dur"], s.history_[-1]["dur"]) for m, s in zip(memory, streamed)]
    return {"rows": f"{n_rows:,}", "repeats": repeats,
            "in-memory epoch (s, median)": statistics.median(m for m, _ in rates),
            "streamed epoch (s, median)": statistics.median(s for _, s in rates),
            "streamed rows/s vs in memory (median of pairs)":
                statistics.median(m / s for m, s in rates)}


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000, 10_000_000])
    parser.add_argument("--row-groups", type=int, nargs="+", default=[10_000, ROW_GROUP, 200_000],
                        help="row-group sizes of the streamed paths' files (in memory reads "
                        f"the {ROW_GROUP:,}-row layout only)")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--max-in-memory", type=int, default=2_000_000)
    parser.add_argument("--paired-rows", type=int, default=500_000,
                        help="rows of the alternating rate comparison (0 skips it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thread-rows", type=int, default=100_000,
                        help="rows of the thread-placement runs (0 skips them)")
    args = parser.parse_args(argv)
    tables = {}
    fmt = dict(index=False, floatfmt=",.2f")

    records = []
    for n in args.sizes:
        for mode in args.paths:
            if mode == "in memory":
                layouts = [ROW_GROUP] if n <= args.max_in_memory else []
            else:
                layouts = args.row_groups
            for row_group in layouts:
                record = in_child(measure_fit, mode, str(build_file(n, row_group)), n)
                records.append({**record, "row group": row_group})
        print(f"# done {n:,} rows", flush=True)
    scaling = tables["scaling"] = pd.DataFrame(records)
    smallest = scaling.groupby(["path", "row group"])["peak RSS (MiB)"].transform("first")
    scaling["peak RSS vs smallest"] = scaling["peak RSS (MiB)"] / smallest
    columns = ["rows", "path", "row group", "epoch (s)", "training rows/s", "fit (s)",
               "end-to-end rows/s", "peak RSS (MiB)", "peak RSS vs smallest",
               "RSS before fit (MiB)"]
    print("\n# one epoch, a fresh process per row (torch 1 thread, pyarrow 1 thread, "
          "read-ahead 2)\n")
    print(scaling[columns].round(2).to_markdown(**fmt))

    if args.paired_rows:
        paired = in_child(measure_paired, str(build_file(args.paired_rows)), args.paired_rows,
                          args.repeats)
        tables["paired"] = pd.DataFrame([paired])
        print(f"\n# training rate, streamed vs in memory: {args.repeats} alternating pairs "
              "of epochs in one process\n")
        print(tables["paired"].round(3).to_markdown(**fmt))

    if args.thread_rows:
        path = str(build_file(args.thread_rows))
        configs = [("in memory", 1, 1, 0), ("in memory", 2, 1, 0),
                   ("streamed", 1, 1, 2), ("streamed", 1, 2, 2), ("streamed", 2, 1, 2),
                   ("streamed", 2, 2, 2), ("streamed", 1, 1, 0), ("streamed", 2, 2, 0)]
        threads = tables["threads"] = pd.DataFrame(
            [in_child(measure_fit, m, path, args.thread_rows, t, a, p) for m, t, a, p in configs]
        )
        base = threads.iloc[0]["training rows/s"]
        threads["rows/s vs in memory, 1 thread"] = threads["training rows/s"] / base
        columns = ["path", "torch threads", "arrow threads", "read-ahead", "training rows/s",
                   "rows/s vs in memory, 1 thread", "end-to-end rows/s", "peak RSS (MiB)"]
        print(f"\n# thread placement, {args.thread_rows:,} rows, one epoch, 2 cores\n")
        print(threads[columns].round(2).to_markdown(**fmt))
    return tables


if __name__ == "__main__":
    main()
