"""The README demo: one multi-task network on a bundled dataset, cross-validated.

Fits tabmtl's MultiTaskEstimator with default settings on every fold of a K-fold split
and prints one row per target: its kind, the missing-label rate, and the mean ± std of
the default score (R² for regression, accuracy for classification) plus ROC-AUC / RMSE.

    python -m benchmarks.demo                 # penguins, 5 folds
    python -m benchmarks.demo --dataset rand_hie --rows 5000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import KFold, cross_validate

import datasets
from tabmtl import MultiTaskEstimator, TargetSpec
from tabmtl.evaluation._metrics import get_metric, task_scorer

#: Target kind -> the second metric shown and its label.
SECOND = {
    "regression": ("neg_rmse", "RMSE"),
    "binary": ("roc_auc", "ROC-AUC"),
    "multiclass": ("neg_log_loss", "log-loss"),
}


def run(name: str, folds: int, rows: int | None, seed: int) -> pd.DataFrame:
    X, Y = datasets.load(name, n_rows=rows, random_state=seed)
    model = MultiTaskEstimator(random_state=seed)
    cv = KFold(folds, shuffle=True, random_state=seed)
    t0 = time.perf_counter()
    default = cross_validate(model, X, Y, cv=cv, scoring=task_scorer())
    extra = cross_validate(
        model, X, Y, cv=cv, scoring=task_scorer({k: m for k, (m, _) in SECOND.items()})
    )
    elapsed = time.perf_counter() - t0
    kinds = TargetSpec().fit(Y).kinds_
    rows_out = []
    for target, kind in kinds.items():
        a, b = default[f"test_{target}"], extra[f"test_{target}"]
        metric, other = SECOND[kind]
        sign = get_metric(metric).sign  # RMSE and log-loss shown as errors, not negated
        rows_out.append({
            "target": target,
            "kind": kind,
            "missing labels": f"{Y[target].isna().mean():.1%}",
            "score (R² / accuracy)": f"{a.mean():.3f} ± {a.std():.3f}",
            "second metric": f"{other} {sign * b.mean():.3f} ± {b.std():.3f}",
        })
    table = pd.DataFrame(rows_out)
    print(f"# tabmtl MultiTaskEstimator (defaults) on `{name}`: {len(X)} rows, "
          f"{X.shape[1]} features, {folds}-fold CV, {elapsed:.1f}s for both passes\n")
    print(table.to_markdown(index=False))
    print(f"\nmean over tasks: {np.mean(default['test_mean']):.3f}")
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="penguins", choices=datasets.NAMES)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=None, help="sample this many rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    return run(args.dataset, args.folds, args.rows, args.seed)


if __name__ == "__main__":
    main()
