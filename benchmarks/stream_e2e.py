"""Large data end to end: ``tabmtl fit --stream`` and ``tabmtl predict --stream`` at 100k-10M rows.

A generated 50-column table (40 float32 numeric features with a few missing values, 7
categorical features, and three targets with missing labels: a regression ``reg``, a
binary ``bin`` and a 4-class ``cls``) is written chunk by chunk with pyarrow's
``ParquetWriter`` (memory stays at one chunk) into ``--dir`` (default: a folder under the
system's temporary directory, never the repository), 65,536-row row groups. Each size is
then run through the command line as a user runs it, each command in its own process:

- ``tabmtl fit DATA --stream --target reg --target bin --target cls --max-epochs 1
  --threads 1 --quiet --out MODEL`` (defaults otherwise: early stopping holds out
  row groups for validation);
- ``tabmtl predict MODEL DATA --stream --threads 1 --out PREDICTIONS``.

Peak RSS and CPU time are the child's own (``os.wait4``'s resource usage of that process,
so no other command's leaks in). On a shared machine wall-clock rates move with the
other work; rows per CPU-second (user + system time of the child, all its threads) do
not, or much less. Rows/s: end to end is rows over the command's wall time
(interpreter start, imports, the sampling pass, the epoch with its validation pass,
saving); the epoch rate is the rows the epoch reads (training, and the held-out
validation row groups it scores) over the epoch's duration in the saved model's history
(skorch's ``dur``). The 100k row's end-to-end rates carry the fixed cost of starting
(seconds), which the epoch rate does not.

    python -m benchmarks.stream_e2e                                   # 100k, 1M, 10M rows
    python -m benchmarks.stream_e2e --sizes 20000 100000 --dir /tmp/s  # a quick look
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_NUMERIC = 40
CARDINALITIES = (3, 8, 20, 50, 200, 1000, 5000)
TARGETS = ("reg", "bin", "cls")
ROW_GROUP = 65_536
CHUNK = 250_000
MISSING_LABELS = {"reg": 0.10, "bin": 0.20, "cls": 0.30}


def table_chunk(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of the 50-column table (each chunk from its own seed)."""
    rng = np.random.default_rng([seed, 25])
    numeric = rng.normal(size=(n, N_NUMERIC)).astype(np.float32)
    signal = numeric[:, 0] + 0.5 * numeric[:, 1] - numeric[:, 2] * numeric[:, 3]
    frame = pd.DataFrame(numeric, columns=[f"x{i}" for i in range(N_NUMERIC)])
    for j in range(5):  # a few features with 2% missing values
        frame.loc[rng.random(n) < 0.02, f"x{35 + j}"] = np.nan
    for j, k in enumerate(CARDINALITIES):
        codes = rng.integers(0, k, n)
        frame[f"c{j}"] = pd.Categorical.from_codes(codes, [f"v{i}" for i in range(k)])
        signal = signal + 0.3 * np.sin(codes)
    reg = (signal + rng.normal(0, 0.3, n)).astype(np.float32)
    reg[rng.random(n) < MISSING_LABELS["reg"]] = np.nan
    frame["reg"] = reg
    yes = (signal + rng.normal(0, 0.5, n)) > 0
    frame["bin"] = pd.array(np.where(yes, "yes", "no"), dtype="string")
    frame.loc[rng.random(n) < MISSING_LABELS["bin"], "bin"] = pd.NA
    cls = np.array(["a", "b", "c", "d"])[np.digitize(signal, [-1, 0, 1])]
    frame["cls"] = pd.array(cls, dtype="string")
    frame.loc[rng.random(n) < MISSING_LABELS["cls"], "cls"] = pd.NA
    return frame


def build_file(folder: Path, n_rows: int) -> Path:
    """The table of ``n_rows`` rows in ``folder``, written once, one chunk in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"mixed_{n_rows}.parquet"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    writer = None
    try:
        for i, start in enumerate(range(0, n_rows, CHUNK)):
            chunk = table_chunk(min(CHUNK, n_rows - start), seed=i)
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table.cast(writer.schema), row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()
    partial.rename(path)
    return path


def run_child(argv: list[str]) -> dict:
    """``argv`` in a child process: exit code, wall seconds, its own peak RSS, stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{stderr[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "stdout": stdout}


def tabmtl(*args: str) -> list[str]:
    return [sys.executable, "-m", "tabmtl", *args]


def measure(path: Path, n_rows: int, folder: Path) -> dict:
    """Fit then predict ``path`` on the command line; times, rates and peak RSS."""
    import pyarrow.parquet as pq

    from tabmtl.io._persistence import load_model

    model_path = folder / f"model_{n_rows}.tabmtl"
    pred_path = folder / f"pred_{n_rows}.parquet"
    targets = [a for t in TARGETS for a in ("--target", t)]
    fit = run_child(tabmtl("fit", str(path), "--stream", *targets, "--max-epochs", "1",
                           "--threads", "1", "--quiet", "--out", str(model_path)))
    model = load_model(model_path)
    epoch = model.history_[-1]
    reported = re.search(r"epochs in ([\d.]+)s", fit["stdout"])
    predict = run_child(tabmtl("predict", str(model_path), str(path), "--stream",
                               "--threads", "1", "--out", str(pred_path)))
    written = pq.read_metadata(pred_path).num_rows
    if written != n_rows:
        raise RuntimeError(f"predict wrote {written:,} rows for {n_rows:,}")
    pred_path.unlink()
    model_path.unlink()
    return {
        "rows": n_rows,
        "file (MiB)": path.stat().st_size / 2**20,
        "fit wall (s)": fit["wall"],
        "fit in command (s)": float(reported.group(1)) if reported else float("nan"),
        "epoch (s)": epoch["dur"],
        "epoch rows/s": n_rows / epoch["dur"],
        "fit end-to-end rows/s": n_rows / fit["wall"],
        "fit CPU (s)": fit["cpu"],
        "fit rows per CPU-s": n_rows / fit["cpu"],
        "fit peak RSS (MiB)": fit["rss_mib"],
        "predict wall (s)": predict["wall"],
        "predict rows/s": n_rows / predict["wall"],
        "predict CPU (s)": predict["cpu"],
        "predict rows per CPU-s": n_rows / predict["cpu"],
        "predict peak RSS (MiB)": predict["rss_mib"],
    }


def _markdown(table: pd.DataFrame) -> str:
    shown = table.copy()
    shown["rows"] = [f"{n:,}" for n in shown["rows"]]
    return shown.to_markdown(index=False, floatfmt=",.1f", colalign=["right"] * shown.shape[1])


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the tables go (default: a new temporary folder)")
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the generated tables (they are reused when present)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="tabmtl_stream_"))
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for n in args.sizes:
        t0 = time.perf_counter()
        path = build_file(folder, n)
        print(f"# {n:,} rows written in {time.perf_counter() - t0:.0f}s to {path}", flush=True)
        records.append(measure(path, n, folder))
        print(_markdown(pd.DataFrame(records[-1:])), flush=True)
        if not args.keep_files:
            path.unlink()
    table = pd.DataFrame(records)
    print("\n# tabmtl fit --stream (1 epoch) and predict --stream, a process each, "
          "1 thread\n")
    print(_markdown(table))
    small, large = table.iloc[0], table.iloc[-1]
    for rate in ("epoch rows/s", "fit end-to-end rows/s", "fit rows per CPU-s",
                 "predict rows/s", "predict rows per CPU-s"):
        print(f"{rate} at {int(large['rows']):,} rows / at {int(small['rows']):,}: "
              f"{large[rate] / small[rate]:.2f} (target >= 0.75)")
    if len(table) >= 2:
        previous = table.iloc[-2]
        for rss in ("fit peak RSS (MiB)", "predict peak RSS (MiB)"):
            print(f"{rss} at {int(large['rows']):,} rows / at {int(previous['rows']):,}: "
                  f"{large[rss] / previous[rss]:.2f} (target <= 1.3)")
    return table


if __name__ == "__main__":
    main()
