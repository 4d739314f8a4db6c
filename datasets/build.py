"""Build dataset parquet files from the command line.

Usage::

    python -m datasets.build flights          # one dataset
    python -m datasets.build all              # every dataset
    python -m datasets.build penguins rand_hie

Each build always rebuilds (ignores the cache) and prints rows, columns, targets with
their kinds and missing rates, features with missing values, and the elapsed seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import NAMES, _base, build_parquet, spec


def build_one(name: str) -> float:
    """Rebuild one dataset, print its summary and return the elapsed seconds."""
    start = time.perf_counter()
    path = build_parquet(name, force=True)
    elapsed = time.perf_counter() - start
    s = spec(name)
    frame = _base.read(path, s)
    print(_base.summarize(frame, s))
    size = path.stat().st_size / 2**20
    print(f"  built in {elapsed:.2f} s -> {path} ({size:.1f} MiB)\n")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m datasets.build", description="Build benchmark dataset parquet files."
    )
    parser.add_argument(
        "names",
        nargs="+",
        choices=[*NAMES, "all"],
        metavar="NAME",
        help=f"dataset name(s) or 'all'; one of {', '.join(NAMES)}",
    )
    args = parser.parse_args(argv)
    names = list(NAMES) if "all" in args.names else list(dict.fromkeys(args.names))
    total = 0.0
    for name in names:
        total += build_one(name)
    if len(names) > 1:
        print(f"total: {total:.2f} s for {len(names)} datasets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
