"""Which epoch early stopping keeps on rand_hie, with random-row and person-held-out
validation splits, for the default multi-task net and its single-task fits.

    python -m benchmarks.rand_hie_epochs            # fold 0 of the sharing benchmark's folds

Per fit: the kept epoch, epochs run, and per task the epoch of its lowest validation loss
and the test score (R² / ROC-AUC) on the fold's held-out persons.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from benchmarks.baselines import tabmtl_outputs  # noqa: E402
from benchmarks.quality import dataset_folds, score_outputs  # noqa: E402
from benchmarks.sharing import CANDIDATES, HEADLINE, _estimator_params  # noqa: E402
from tabmtl import MultiTaskEstimator, TargetSpec  # noqa: E402


def fit_one(config, Xtr, Ytr, Xte, Yte, spec, groups, seed) -> list[dict]:
    """Fit one candidate on ``Ytr``'s columns; one row per task."""
    model = MultiTaskEstimator(random_state=seed, **_estimator_params(config, groups, seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(Xtr, Ytr)
    tasks = [t for t in spec.tasks_ if t.name in Ytr.columns]
    scores = score_outputs(spec, Yte, tabmtl_outputs(model, Xte, tasks))
    history = model.history_
    rows = []
    for task in tasks:
        curve = np.array([h[f"valid_loss_{task.name}"] for h in history])
        score = next(r["value"] for r in scores
                     if r["task"] == task.name and r["metric"] in HEADLINE)
        rows.append({"config": config, "fit": "multi" if Ytr.shape[1] > 1 else "single",
                     "task": task.name, "kept epoch": model.best_epoch_,
                     "epochs run": model.n_epochs_, "task's best valid epoch":
                     int(curve.argmin()) + 1, "test score": score})
    return rows


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--multi", default="defaults,group valid")
    parser.add_argument("--single", default="hard,hard + group valid")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    name, seed = "rand_hie", 0
    X, Y = datasets.load(name, random_state=seed)
    groups = datasets.groups(name, random_state=seed).iloc[:, 0].to_numpy()
    spec = TargetSpec(targets=datasets.target_kinds(name)).fit(Y)
    train, test = dataset_folds(name, X, None, 3, seed)[0][args.fold]
    Xtr, Ytr, gtr = X.iloc[train], Y.iloc[train], groups[train]
    Xte, Yte = X.iloc[test], Y.iloc[test]
    rows = []
    for config in args.multi.split(","):
        assert config in CANDIDATES, config
        rows += fit_one(config, Xtr, Ytr, Xte, Yte, spec, gtr[Ytr.notna().any(axis=1)], seed)
    for config in args.single.split(","):
        for task in Y.columns:
            keep = Ytr[task].notna().to_numpy()
            rows += fit_one(config, Xtr[keep], Ytr.loc[keep, [task]], Xte, Yte, spec,
                            gtr[keep], seed)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".4f"))
    return table


if __name__ == "__main__":
    main()
