"""Wall time of ``tabmtl fit`` by torch thread count (issue 24, item 17).

Each run is a fresh ``tabmtl fit`` process (``--threads K``, or none for torch's default
of one thread per core), on penguins (344 rows) and on a synthetic table (``--rows``),
timed end to end. Run it once on an idle machine and once while another job keeps the
cores busy; the load average is printed with each figure.

    python -m benchmarks.threads --repeats 2 --rows 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PENGUINS = Path(__file__).resolve().parents[1] / "datasets" / "_cache" / "penguins.parquet"


def synthetic(rows: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    frame["y1"] = X[:, :5].sum(axis=1) + rng.normal(size=rows)
    frame["y2"] = X[:, 5:10].sum(axis=1) > 0
    frame.to_parquet(path)


def time_fit(data: Path, targets: list[str], threads: int | None, extra: list[str]) -> float:
    out = Path(tempfile.mkdtemp()) / "m.tabmtl"
    cmd = [sys.executable, "-m", "tabmtl", "fit", str(data), "--out", str(out), "--quiet"]
    cmd += [a for t in targets for a in ("--target", t)] + extra
    if threads is not None:
        cmd += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--threads", default="default,1,2")
    args = parser.parse_args()
    settings = [None if t == "default" else int(t) for t in args.threads.split(",")]
    folder = Path(tempfile.mkdtemp())
    big = folder / "big.parquet"
    synthetic(args.rows, big)
    cases = [
        ("penguins", PENGUINS, ["species", "sex_male", "body_mass_g"], []),
        (f"synthetic {args.rows}x20", big, ["y1", "y2"], ["--max-epochs", "5"]),
    ]
    print(f"cores: {os.cpu_count()}")
    for name, path, targets, extra in cases:
        for threads in settings:
            for _ in range(args.repeats):
                load = os.getloadavg()[0]
                seconds = time_fit(path, targets, threads, extra)
                label = "default" if threads is None else threads
                print(f"{name:22s} threads={label!s:8s} {seconds:7.1f} s  (load {load:.1f})",
                      flush=True)


if __name__ == "__main__":
    main()
