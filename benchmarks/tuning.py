"""Tuning benchmark: tabmtl tuned with Optuna against tabmtl's defaults and LightGBM
tuned with Optuna per target, on the same folds with the same trial budget.

For each dataset (framingham: 8 clinical binary targets; eta_fare: 2 regression targets,
sampled), with the quality benchmark's loading and folds (``dataset_folds``):

- ``tabmtl tuned``   :func:`tabmtl.tuning.tune` over the default search space, ``--trials``
  trials, the objective the mean headline score over the targets;
- ``tabmtl default`` ``MultiTaskEstimator()`` cross-validated on the same folds;
- ``LightGBM tuned`` one Optuna study (TPE, same seed) per target, ``--trials`` trials,
  the target's headline score.

Scores are the headline metric of the quality benchmark (R² / ROC-AUC) through the
metric registry, averaged over the folds. The tuned rows report the best trial's
cross-validated score on the folds the search chose it on, so they carry the same
selection optimism for tabmtl and LightGBM. Wall time: the whole search (or the default
model's cross-validation) per dataset, on one thread.

    nice -n 10 python -m benchmarks.tuning                      # ~20 min on 2 cores
    python -m benchmarks.tuning --datasets eta_fare --trials 3 --folds 2 --epochs 5
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from benchmarks.quality import METRICS, dataset_folds  # noqa: E402
from tabmtl import MultiTaskEstimator, TargetSpec  # noqa: E402
from tabmtl.evaluation._baseline import hgb_frame  # noqa: E402
from tabmtl.evaluation._metrics import score_output, task_scorer  # noqa: E402
from tabmtl.evaluation._outputs import aligned_proba  # noqa: E402
from tabmtl.tuning import tune  # noqa: E402

#: Dataset -> rows (None: all). eta_fare is sampled so the run fits in ~20 minutes.
ROWS = {"framingham": None, "eta_fare": 3000}
#: The headline metric of each kind, as the quality benchmark reports it.
HEADLINE = {kind: names[0] for kind, names in METRICS.items()}


def _lgbm_trial(trial, task, X: pd.DataFrame, y: pd.Series, folds, seed: int) -> float:
    """One LightGBM configuration's mean headline score over the folds, for one target."""
    import lightgbm as lgb

    params = dict(
        n_estimators=trial.suggest_int("n_estimators", 50, 600, log=True),
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        num_leaves=trial.suggest_int("num_leaves", 7, 127, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 5, 100, log=True),
        colsample_bytree=trial.suggest_float("colsample_bytree", 0.5, 1.0),
        reg_lambda=trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        random_state=seed, n_jobs=1, verbose=-1,
    )
    metric = HEADLINE[task.kind]
    scores = []
    for train, test in folds:
        present = train[y.iloc[train].notna().to_numpy()]
        target = y.iloc[present]
        if task.is_regression:
            model = lgb.LGBMRegressor(**params).fit(X.iloc[present], target.to_numpy(float))
            output = model.predict(X.iloc[test])
        else:
            codes = task.encode(target).astype(int)
            model = lgb.LGBMClassifier(**params).fit(X.iloc[present], codes)
            output = aligned_proba(model.predict_proba(X.iloc[test]), model.classes_,
                                   len(task.classes_))
        scores.append(score_output(task, y.iloc[test], output, metric))
    return float(np.nanmean(scores))


def lightgbm_tuned(X, Y, folds, trials: int, seed: int) -> dict[str, float]:
    """Per target: the best LightGBM trial's mean headline score over the folds."""
    spec = TargetSpec().fit(Y)
    frame = hgb_frame(X)  # native categorical splits, as the quality benchmark's LightGBM
    best = {}
    for task in spec.tasks_:
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.optimize(
            lambda t, task=task: _lgbm_trial(t, task, frame, Y[task.name], folds, seed),
            n_trials=trials,
        )
        best[str(task.name)] = study.best_value
    return best


def default_tabmtl(X, Y, folds, epochs: int, seed: int, metrics) -> dict[str, float]:
    """Per target: MultiTaskEstimator's mean score over the folds at its defaults."""
    scorer = task_scorer(metrics)
    rows = []
    for train, test in folds:
        est = MultiTaskEstimator(max_epochs=epochs, random_state=seed)
        est.fit(X.iloc[train], Y.iloc[train])
        rows.append(scorer(est, X.iloc[test], Y.iloc[test]))
    return pd.DataFrame(rows).drop(columns="mean").mean().to_dict()


def run(names: Sequence[str], *, trials: int, folds: int, epochs: int, seed: int) -> pd.DataFrame:
    """Long table: dataset, task, model, score, and each model's wall seconds."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metrics = {"binary": HEADLINE["binary"], "multiclass": HEADLINE["multiclass"]}
    rows = []
    for name in names:
        X, Y = datasets.load(name, n_rows=ROWS.get(name), random_state=seed)
        cv, _ = dataset_folds(name, X, ROWS.get(name), folds, seed)
        timed = {}
        t0 = time.perf_counter()
        result = tune(MultiTaskEstimator(max_epochs=epochs, random_state=seed), X, Y, cv=cv,
                      n_trials=trials, metrics=metrics, seed=seed, progress=True)
        timed["tabmtl tuned"] = (result.best_task_scores, time.perf_counter() - t0)
        print(f"{name}: best tabmtl trial {result.best_params}", file=sys.stderr)
        t0 = time.perf_counter()
        timed["tabmtl default"] = (default_tabmtl(X, Y, cv, epochs, seed, metrics),
                                   time.perf_counter() - t0)
        t0 = time.perf_counter()
        timed["LightGBM tuned"] = (lightgbm_tuned(X, Y, cv, trials, seed),
                                   time.perf_counter() - t0)
        for model, (scores, seconds) in timed.items():
            for task, score in scores.items():
                rows.append({"dataset": name, "task": task, "model": model, "score": score,
                             "seconds": seconds})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, *, trials: int, folds: int, epochs: int, seed: int) -> str:
    """Per-task scores (a column per model, best in bold) and wall time per dataset."""
    models = list(dict.fromkeys(table.model))
    wide = table.pivot_table(index=["dataset", "task"], columns="model", values="score",
                             sort=False)[models]
    sizes = ", ".join(f"{n} {'all rows' if r is None else f'{r:,} rows'}"
                      for n, r in ROWS.items() if n in set(table.dataset))
    lines = [
        f"Budget: {trials} trials per study, {folds} folds (the same for every model), "
        f"tabmtl max_epochs={epochs} with its early stopping, seed {seed}, one thread; "
        f"{sizes}. Scores: R² (regression) / ROC-AUC (binary), mean over folds; tuned "
        "rows are the best trial's score on the folds it was selected on.",
        "",
        "| dataset | task | " + " | ".join(models) + " |",
        "|---|---|" + "---:|" * len(models),
    ]
    for (dataset, task), row in wide.iterrows():
        best = row.max()
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in row]
        lines.append(f"| {dataset} | {task} | " + " | ".join(cells) + " |")
    seconds = table.groupby(["dataset", "model"], sort=False)["seconds"].first().unstack()
    for dataset, row in seconds.iterrows():
        cells = [f"{row[m]:.0f} s" for m in models]
        lines.append(f"| {dataset} | *wall time* | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="framingham,eta_fare")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    names = [n for n in args.datasets.split(",") if n]
    t0 = time.perf_counter()
    table = run(names, trials=args.trials, folds=args.folds, epochs=args.epochs,
                seed=args.seed)
    text = markdown(table, trials=args.trials, folds=args.folds, epochs=args.epochs,
                    seed=args.seed)
    print(text)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return text


if __name__ == "__main__":
    main()
