"""Auxiliary targets on the project tables: does training on related columns help the
column that matters, and more so when its labels are scarce?

For each setting (a table, one main target, the other columns as auxiliaries) and each
share of the main labels kept in every training fold (auxiliary labels stay complete),
:func:`tabmtl.evaluation._auxiliary.auxiliary_gain` cross-validates the main target
alone, with all auxiliaries and (for up to ``--max-each`` auxiliaries) with each one, on
the same folds and seeds; a gain or loss is called only when the folds support it
(``tabmtl.evaluation._results.supported_loss``). Prints one markdown table::

    python -m benchmarks.auxiliary                                   # the docs table
    python -m benchmarks.auxiliary --settings penguins --fractions 1,0.25 --folds 3

Scores: ROC-AUC for binary targets, R² for regression ones, accuracy for multiclass.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `datasets` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from tabmtl import MultiTaskEstimator  # noqa: E402
from tabmtl.evaluation._auxiliary import auxiliary_gain  # noqa: E402
from tabmtl.evaluation._results import format_markdown  # noqa: E402

#: name -> (dataset, main target, auxiliary targets or None for "every other target",
#: rows kept or None for all).
SETTINGS: dict[str, tuple[str, str, list | None, int | None]] = {
    "framingham": ("framingham", "STROKE", None, 2000),
    "framingham-chd": ("framingham", "ANYCHD", None, 2000),
    "penguins": ("penguins", "body_mass_g", None, None),
    # the examples: a fare model learning from the trip's duration, one score
    # with the others as auxiliaries, one outcome with related ones
    "eta_fare": ("eta_fare", "fare", None, 2000),
    "star": ("star", "math3", None, 2000),
    "flights": ("flights", "arr_delay", None, 2000),
    "rand_hie": ("rand_hie", "any_admission", None, 2000),
}

METRICS = {"binary": "roc_auc"}


def run_setting(name: str, fractions, folds: int, max_each: int, max_epochs: int,
                auxiliary_weight: float | None = None, log=None) -> list[list[object]]:
    """Table rows of one setting, one per (fraction, model)."""
    dataset, main, auxiliary, n_rows = SETTINGS[name]
    X, Y = datasets.load(dataset, n_rows=n_rows)
    auxiliary = auxiliary or [c for c in Y.columns if c != main]
    est = MultiTaskEstimator(max_epochs=max_epochs, random_state=0)
    if auxiliary_weight is not None:
        est.set_params(auxiliary_weight=auxiliary_weight)
    rows = []
    for fraction in fractions:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = auxiliary_gain(
                X, Y, main, auxiliary, est, cv=folds, max_each=max_each,
                main_fraction=fraction, metrics=METRICS, log=log,
            )
        seconds = time.perf_counter() - t0
        for r in result.summary.itertuples():
            gain = "" if r.model == "alone" else f"{r.gain:+.3f} ± {r.gain_std:.3f}"
            rows.append([
                f"{dataset} ({len(X):,} rows)", f"{main} ({r.metric})", f"{fraction:g}",
                r.model, f"{r.mean:.3f} ± {r.std:.3f}", gain, r.verdict, f"{seconds:.0f}s",
            ])
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated, from {sorted(SETTINGS)}")
    parser.add_argument("--fractions", default="1,0.25,0.1",
                        help="shares of each training fold's main labels kept")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--max-each", type=int, default=3,
                        help="fit each auxiliary alone when there are at most this many")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--auxiliary-weight", type=float, default=None,
                        help="default: MultiTaskEstimator's")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    fractions = [float(f) for f in args.fractions.split(",")]
    log = (lambda msg: print(msg, file=sys.stderr)) if args.verbose else None
    rows = []
    for name in args.settings.split(","):
        rows += run_setting(name, fractions, args.folds, args.max_each, args.max_epochs,
                            args.auxiliary_weight, log)
    headers = ["table", "main target", "main labels", "model", "score", "gain vs alone",
               "verdict", "time"]
    print(format_markdown(rows, headers))


if __name__ == "__main__":
    main()
