"""Intervals and calibration benchmark: coverage and width of 90% intervals, ECE.

For each dataset, K-fold cross-validation with the same folds for every model. On each
training fold:

- ``gauss+conf``  tabmtl with gaussian heads on the regression targets and
  ``calibration_fraction`` of the training rows held out for split-conformal calibration
  (normalised scores ``|y - mean| / std``) and temperature scaling;
- ``gauss``       the same fitted model, its own normal intervals (``method="model"``,
  no conformal correction);
- ``point+conf``  tabmtl with plain point heads, conformal on absolute residuals;
- ``quant+conf``  tabmtl with quantile heads (0.05, 0.5, 0.95), conformalised (CQR);
- ``quant``       the same fitted model, its own 0.05 / 0.95 quantiles;
- ``hgb-q``       single-task ``HistGradientBoostingRegressor(loss="quantile")`` at 0.05
  and 0.95, one pair per target, trained on every labelled training row;
- ``hgb-q+conf``  the same, trained on the rows tabmtl trains on and conformalised (CQR)
  on the rows tabmtl calibrates on.

Per regression target: empirical coverage of the held-out fold's labels (mean ± sd over
folds) and the mean interval width in the target's units. Per classification target of
the ``gauss+conf`` model: expected calibration error (15 bins) on the held-out fold
before and after temperature scaling, and the fitted temperature. Rows whose label is
missing leave that target's figures only.

Datasets: ``flights`` (ETA: ``air_time`` and ``arr_delay``, plus ``cancelled``; a row
sample), ``rand_hie`` (health-care use: ``meddol_log1p``, ``mdvis``, ``binexp``,
``any_admission``; ``GroupKFold`` on the person so nobody is on both sides) and
``framingham`` (eight binary diagnoses; ECE only: it has no regression target). With the
default epoch budget the heads are already close to calibrated, so ``framingham`` is run
once more for ECE with ``--overfit-epochs`` (150) epochs: over-confident heads, which is
what temperature scaling is for.

Threads: ``--threads`` (default 2) for torch (``torch.set_num_threads``) and for the
OpenMP pool of HistGradientBoosting (``threadpoolctl``).

    python -m benchmarks.intervals                 # 3 folds, flights 40k rows (~15 min)
    python -m benchmarks.intervals --quick         # 2 folds, 3000 rows, 5 epochs
    python -m benchmarks.intervals --datasets flights --folds 5 --rows 50000

Prints markdown tables; ``--out FILE.csv`` also writes every fold's figures.
"""

from __future__ import annotations

import os

# Before numpy / torch / sklearn load their thread pools; threadpoolctl enforces it below.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import GroupKFold, KFold
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `datasets` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from tabmtl import MultiTaskEstimator  # noqa: E402
from tabmtl._data.targets import TargetSpec  # noqa: E402
from tabmtl._uncertainty.calibration import expected_calibration_error  # noqa: E402
from tabmtl._uncertainty.conformal import conformal_quantile, interval_coverage  # noqa: E402

#: Datasets and their default row caps (None = every row).
DATASETS = {"flights": 40_000, "rand_hie": None, "framingham": None}

#: Extra ECE-only run: this dataset trained for many more epochs than the default, so that
#: its heads are over-confident and temperature scaling has something to correct.
OVERFIT_DATASET = "framingham"

METHODS = ("gauss+conf", "gauss", "point+conf", "quant+conf", "quant", "hgb-q", "hgb-q+conf")


@dataclass
class Config:
    alpha: float = 0.1
    calibration_fraction: float = 0.2
    folds: int = 3
    epochs: int = 30
    batch_size: int = 512
    seed: int = 0


def _tabmtl(config: Config, kinds: dict) -> MultiTaskEstimator:
    return MultiTaskEstimator(
        targets=kinds,
        calibration_fraction=config.calibration_fraction,
        max_epochs=config.epochs,
        batch_size=config.batch_size,
        random_state=config.seed,
    )


def _fit(model: MultiTaskEstimator, X: pd.DataFrame, Y: pd.DataFrame) -> MultiTaskEstimator:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "dropping rows with no label at all"
        return model.fit(X, Y)


def _interval_rows(model, X_test, Y_test, config, methods: dict[str, str]) -> list[dict]:
    """Coverage rows of a fitted tabmtl model for each (name -> predict_interval method)."""
    rows = []
    regression = [t.name for t in model.target_spec_.tasks_ if t.is_regression]
    for name, method in methods.items():
        report = model.interval_coverage(
            X_test, Y_test[regression], alpha=config.alpha, method=method
        )
        for target, row in report.iterrows():
            rows.append({"target": target, "method": name, **row.to_dict()})
    return rows


def _quantile_pair(X, y, levels, config: Config) -> list[HistGradientBoostingRegressor]:
    return [
        HistGradientBoostingRegressor(
            loss="quantile",
            quantile=q,
            categorical_features="from_dtype",
            random_state=config.seed,
        ).fit(X, y)
        for q in levels
    ]


def _hgb_rows(X_tr, Y_tr, X_te, Y_te, targets, config, calibration_mask) -> list[dict]:
    """Single-task quantile gradient boosting at alpha/2 and 1 - alpha/2, raw and CQR."""
    lo_level, hi_level = config.alpha / 2, 1 - config.alpha / 2
    rows = []
    for target in targets:
        labelled = Y_tr[target].notna().to_numpy()
        y = Y_tr[target].to_numpy(dtype=np.float64, na_value=np.nan)
        truth = Y_te[target].to_numpy(dtype=np.float64, na_value=np.nan)

        lo, hi = _quantile_pair(X_tr[labelled], y[labelled], (lo_level, hi_level), config)
        raw = interval_coverage(truth, lo.predict(X_te), hi.predict(X_te))
        rows.append({"target": target, "method": "hgb-q", **raw})

        train = labelled & ~calibration_mask
        lo, hi = _quantile_pair(X_tr[train], y[train], (lo_level, hi_level), config)
        cal = labelled & calibration_mask
        scores = np.maximum(lo.predict(X_tr[cal]) - y[cal], y[cal] - hi.predict(X_tr[cal]))
        q = conformal_quantile(scores, config.alpha)
        lower, upper = lo.predict(X_te) - q, hi.predict(X_te) + q
        rows.append(
            {"target": target, "method": "hgb-q+conf", **interval_coverage(truth, lower, upper)}
        )
    return rows


def _calibration_mask(Y_tr: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """The rows of a training fold that tabmtl holds out for calibration (same rule)."""
    labelled = Y_tr.notna().any(axis=1).to_numpy()
    n = int(labelled.sum())
    held = np.random.default_rng(seed).permutation(n)[: round(fraction * n)]
    mask = np.zeros(len(Y_tr), dtype=bool)
    mask[np.flatnonzero(labelled)[held]] = True
    return mask


def _ece_rows(model, X_test, Y_test) -> list[dict]:
    """ECE before and after temperature scaling for every classification head."""
    raw = model._raw_predict(X_test)
    untempered = model.target_spec_.predict_proba(raw)
    tempered = model.predict_proba(X_test)
    rows = []
    for j, task in enumerate(model.target_spec_.tasks_):
        if task.is_regression:
            continue
        present = Y_test[task.name].notna().to_numpy()
        y = task.encode(Y_test[task.name][present]).astype(int)
        rows.append(
            {
                "target": task.name,
                "ece_before": expected_calibration_error(y, untempered[task.name][present]),
                "ece_after": expected_calibration_error(y, tempered[task.name].to_numpy()[present]),
                "temperature": float(model.temperatures_[j]),
                "n": int(present.sum()),
            }
        )
    return rows


def run_dataset(
    name: str, n_rows: int | None, config: Config, ece_only: bool = False, label: str = ""
) -> tuple[list, list, float]:
    """Interval and ECE rows of every fold of one dataset (ECE rows only if ``ece_only``)."""
    X, Y = datasets.load(name, n_rows=n_rows, random_state=config.seed)
    spec = TargetSpec().fit(Y)
    regression = [t.name for t in spec.tasks_ if t.is_regression]
    groups = datasets.groups(name, n_rows=n_rows, random_state=config.seed)
    if groups is not None:
        folds = GroupKFold(config.folds, shuffle=True, random_state=config.seed).split(
            X, groups=groups.iloc[:, 0]
        )
    else:
        folds = KFold(config.folds, shuffle=True, random_state=config.seed).split(X)
    interval_rows, ece_rows = [], []
    t0 = time.perf_counter()
    for fold, (tr, te) in enumerate(folds):
        X_tr, Y_tr = X.iloc[tr].reset_index(drop=True), Y.iloc[tr].reset_index(drop=True)
        X_te, Y_te = X.iloc[te].reset_index(drop=True), Y.iloc[te].reset_index(drop=True)
        tag = {"dataset": label or name, "fold": fold}
        gauss = _fit(_tabmtl(config, dict.fromkeys(regression, "gaussian")), X_tr, Y_tr)
        ece_rows += [{**tag, **r} for r in _ece_rows(gauss, X_te, Y_te)]
        if ece_only or not regression:
            continue
        interval_rows += [
            {**tag, **r}
            for r in _interval_rows(
                gauss, X_te, Y_te, config, {"gauss+conf": "conformal", "gauss": "model"}
            )
        ]
        point = _fit(_tabmtl(config, {}), X_tr, Y_tr)
        interval_rows += [
            {**tag, **r}
            for r in _interval_rows(point, X_te, Y_te, config, {"point+conf": "conformal"})
        ]
        quant = _fit(_tabmtl(config, dict.fromkeys(regression, "quantile")), X_tr, Y_tr)
        interval_rows += [
            {**tag, **r}
            for r in _interval_rows(
                quant, X_te, Y_te, config, {"quant+conf": "conformal", "quant": "model"}
            )
        ]
        mask = _calibration_mask(Y_tr, config.calibration_fraction, config.seed)
        X_tr_cat, X_te_cat = _categorical(X_tr), _categorical(X_te)
        interval_rows += [
            {**tag, **r}
            for r in _hgb_rows(X_tr_cat, Y_tr, X_te_cat, Y_te, regression, config, mask)
        ]
        print(
            f"  {label or name} fold {fold + 1}/{config.folds}: {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
    return interval_rows, ece_rows, time.perf_counter() - t0


def _categorical(X: pd.DataFrame) -> pd.DataFrame:
    """Text columns as category, for HistGradientBoosting's native categorical splits."""
    X = X.copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]) and not isinstance(
            X[col].dtype, pd.CategoricalDtype
        ):
            X[col] = X[col].astype("category")
    return X


def _mean_sd(values: pd.Series, digits: int) -> str:
    if len(values) < 2:
        return f"{values.mean():.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def interval_table(rows: list[dict], alpha: float) -> str:
    frame = pd.DataFrame(rows)
    lines = [
        f"| dataset | target | method | coverage (target {1 - alpha:.2f}) | mean width "
        "| width / hgb-q |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, target), group in frame.groupby(["dataset", "target"], sort=False):
        base = group[group["method"] == "hgb-q"]["mean_width"].mean()
        for method in METHODS:
            g = group[group["method"] == method]
            if g.empty:
                continue
            lines.append(
                f"| {dataset} | {target} | {method} | {_mean_sd(g['coverage'], 3)} | "
                f"{_mean_sd(g['mean_width'], 2)} | {g['mean_width'].mean() / base:.2f} |"
            )
    return "\n".join(lines)


def ece_table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    lines = [
        "| dataset | target | ECE before | ECE after | temperature |",
        "|---|---|---|---|---|",
    ]
    for (dataset, target), g in frame.groupby(["dataset", "target"], sort=False):
        lines.append(
            f"| {dataset} | {target} | {_mean_sd(g['ece_before'], 4)} | "
            f"{_mean_sd(g['ece_after'], 4)} | {_mean_sd(g['temperature'], 2)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds, 3000 rows, 5 epochs")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None, help="row cap for every dataset")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--calibration-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--overfit-epochs",
        type=int,
        default=None,
        help=f"epochs of the extra over-fitted {OVERFIT_DATASET} ECE run (0: skip; "
        "default 150, --quick 20)",
    )
    parser.add_argument("--out", default=None, help="CSV file for every fold's figures")
    args = parser.parse_args(argv)

    config = Config(
        alpha=args.alpha,
        calibration_fraction=args.calibration_fraction,
        folds=args.folds or (2 if args.quick else 3),
        epochs=args.epochs or (5 if args.quick else 30),
        seed=args.seed,
    )
    torch.set_num_threads(args.threads)
    interval_rows, ece_rows, seconds = [], [], {}
    with threadpool_limits(limits=args.threads):
        for name in args.datasets.split(","):
            cap = args.rows or (3000 if args.quick else DATASETS.get(name))
            iv, ece, seconds[name] = run_dataset(name, cap, config)
            interval_rows += iv
            ece_rows += ece
        overfit = (
            args.overfit_epochs if args.overfit_epochs is not None else (20 if args.quick else 150)
        )
        if overfit and OVERFIT_DATASET in args.datasets.split(","):
            label = f"{OVERFIT_DATASET}, {overfit} epochs"
            cap = args.rows or (3000 if args.quick else DATASETS.get(OVERFIT_DATASET))
            _, ece, seconds[label] = run_dataset(
                OVERFIT_DATASET, cap, replace(config, epochs=overfit), ece_only=True, label=label
            )
            ece_rows += ece

    command = "python -m benchmarks.intervals " + " ".join(argv or sys.argv[1:])
    print(
        f"`{command.strip()}`: {config.folds} folds, {config.epochs} epochs, "
        f"calibration_fraction {config.calibration_fraction}, alpha {config.alpha}, "
        f"{args.threads} thread(s); seconds per dataset: "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
    )
    if interval_rows:
        print(f"\n### {1 - config.alpha:.0%} prediction intervals on held-out folds\n")
        print(interval_table(interval_rows, config.alpha))
    if ece_rows:
        print("\n### Expected calibration error (15 bins) on held-out folds\n")
        print(ece_table(ece_rows))
    if args.out:
        pd.concat([pd.DataFrame(interval_rows), pd.DataFrame(ece_rows)]).to_csv(
            args.out, index=False
        )


if __name__ == "__main__":
    main()
