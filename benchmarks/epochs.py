"""Epochs a default fit runs and keeps, per ``patience``: the load-free part of fit time.

One fit per table on fold 0 of the sharing benchmark's folds (``benchmarks/quality.py``'s
row caps), one torch thread; per patience the best epoch, the epochs run and the mean
seconds per epoch.

    python -m benchmarks.epochs --patience 16,6
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `datasets` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from benchmarks.quality import PLAN, dataset_folds  # noqa: E402
from tabmtl import MultiTaskEstimator  # noqa: E402


def epochs_table(names, patiences, seed: int = 0) -> pd.DataFrame:
    """One row per (table, patience): training rows, best epoch, epochs run, s/epoch."""
    rows = []
    for name in names:
        cap = PLAN.get(name, (None, 20))[0]
        X, Y = datasets.load(name, n_rows=cap, random_state=seed)
        splits, _ = dataset_folds(name, X, cap, 3, seed)
        train = splits[0][0]
        for patience in patiences:
            model = MultiTaskEstimator(random_state=seed, patience=patience)
            model.fit(X.iloc[train], Y.iloc[train])
            seconds = sum(row["dur"] for row in model.net_.history) / model.n_epochs_
            rows.append({"table": name, "training rows": len(train), "patience": patience,
                         "best epoch": model.best_epoch_, "epochs run": model.n_epochs_,
                         "s per epoch": round(seconds, 3)})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(datasets.NAMES))
    parser.add_argument("--patience", default="16,6", help="comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = epochs_table(args.datasets.split(","),
                         [int(p) for p in args.patience.split(",")], args.seed)
    print(table.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
