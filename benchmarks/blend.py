"""Blend benchmark: MultiTaskBlend against the multi-task net, LightGBM and HistGB alone.

For each dataset, K-fold cross-validation with the same folds for every model (the
quality benchmark's :func:`~benchmarks.quality.dataset_folds`) of

- ``net``       tabmtl ``MultiTaskEstimator`` at its defaults (targets' kinds declared);
- ``LightGBM``  LightGBM per target at its defaults, native categorical splits;
- ``HistGB``    HistGradientBoosting per target, native categorical splits;
- ``blend``     ``MultiTaskBlend`` at its defaults (the same net and LightGBM), its
  weights chosen on ``--inner-cv`` folds of each outer training part only.

Scores are the headline ones (R² for a value, ROC-AUC for classes), through the quality
benchmark's :func:`~benchmarks.quality.score_outputs`; rows whose label is missing leave
that task's score only. Prints a markdown table: per dataset its mean over tasks, then
each task, a column per model, the best single model and the blend's margin over it,
the blend's mean weight on boosting, and fit seconds per fold.

    python -m benchmarks.blend --datasets penguins,framingham --rows 1500 --folds 3

Every model runs on one thread (torch, LightGBM, OpenMP).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from benchmarks.baselines import (  # noqa: E402
    Settings,
    fit_predict_hgb,
    fit_predict_lgbm,
    fit_predict_tabmtl_defaults,
)
from benchmarks.quality import dataset_folds, score_outputs  # noqa: E402
from tabmtl import MultiTaskEstimator, TargetSpec  # noqa: E402
from tabmtl.ensemble import MultiTaskBlend  # noqa: E402

HEADLINE = ("R²", "ROC-AUC")
MODELS = ("net", "LightGBM", "HistGB", "blend")


def _blend_outputs(blend: MultiTaskBlend, X: pd.DataFrame, spec: TargetSpec) -> dict:
    """The blend's outputs in the benchmark spec's class order (a class absent from the
    training part gets probability 0)."""
    outputs = blend.blended_outputs(X)
    fitted = {t.name: t for t in blend.target_spec_.tasks_}
    out = {}
    for task in spec.tasks_:
        value = outputs[task.name]
        if not task.is_regression:
            frame = pd.DataFrame(value, columns=pd.Index(fitted[task.name].classes_, dtype=object))
            value = frame.reindex(columns=pd.Index(task.classes_, dtype=object), fill_value=0.0)
            value = value.to_numpy(dtype=np.float64)
        out[task.name] = value
    return out


def one_fold(name, fold, Xtr, Ytr, Xte, Yte, spec, kinds, seed, inner_cv) -> tuple[list, list]:
    """Score rows and weight rows of every model on one outer fold."""
    settings = Settings(epochs=None, seed=seed)
    results = {
        "net": fit_predict_tabmtl_defaults(Xtr, Ytr, Xte, spec, settings, targets=kinds),
        "LightGBM": fit_predict_lgbm(Xtr, Ytr, Xte, spec, settings),
        "HistGB": fit_predict_hgb(Xtr, Ytr, Xte, spec, settings),
    }
    blend = MultiTaskBlend(
        MultiTaskEstimator(targets=kinds, random_state=seed), cv=inner_cv, random_state=seed
    )
    t0 = time.perf_counter()
    blend.fit(Xtr, Ytr)
    fit_s = time.perf_counter() - t0
    rows = []
    for model, (outputs, seconds) in {
        **{m: (r.outputs, r.fit_seconds) for m, r in results.items()},
        "blend": (_blend_outputs(blend, Xte, spec), fit_s),
    }.items():
        for r in score_outputs(spec, Yte, outputs):
            if r["metric"] in HEADLINE:
                rows.append({"dataset": name, "fold": fold, "model": model, "fit_s": seconds, **r})
    weights = blend.task_blend_weights_.assign(dataset=name, fold=fold)
    print(f"  {name} fold {fold}: blend {fit_s:.1f}s", flush=True)
    return rows, weights


def run(names, *, folds: int, rows: int | None, seed: int, inner_cv: int):
    scores, weights = [], []
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        for name in names:
            X, Y = datasets.load(name, n_rows=rows, random_state=seed)
            kinds = datasets.target_kinds(name)
            spec = TargetSpec(targets=kinds).fit(Y)
            splits, cv = dataset_folds(name, X, rows, folds, seed)
            print(f"{name}: {len(X)} rows, {cv}", flush=True)
            for f, (tr, te) in enumerate(splits):
                s, w = one_fold(name, f, X.iloc[tr], Y.iloc[tr], X.iloc[te], Y.iloc[te],
                                spec, kinds, seed, inner_cv)
                scores += s
                weights.append(w)
    return pd.DataFrame(scores), pd.concat(weights, ignore_index=True)


def table(scores: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: its mean over tasks, then one row per task; a column per model."""
    per_task = scores.groupby(["dataset", "task", "model"], sort=False)["value"].mean()
    wide = per_task.unstack("model").reindex(columns=list(MODELS))
    boost = weights[weights.learner == "boosting"].groupby(["dataset", "task"])["weight"].mean()
    boost.index = boost.index.set_levels(boost.index.levels[1].astype(str), level=1)
    out = []
    for dataset, group in wide.groupby(level="dataset", sort=False):
        mean = group.mean().to_frame().T
        mean.index = pd.MultiIndex.from_tuples([(dataset, "mean")])
        out += [mean, group]
    result = pd.concat(out)
    parts = result[["net", "LightGBM", "HistGB"]]
    result["best part"] = parts.max(axis=1)
    result["blend - best"] = result["blend"] - result["best part"]
    result["boosting weight"] = [
        boost.get((d, t), np.nan) if t != "mean"
        else boost[d].mean() if d in boost.index.get_level_values(0) else np.nan
        for d, t in result.index
    ]
    return result.round(4)


def time_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Fit seconds per fold: dataset by model."""
    once = scores.drop_duplicates(["dataset", "fold", "model"])
    fit = once.groupby(["dataset", "model"], sort=False)["fit_s"].mean().unstack("model")
    return fit.reindex(columns=list(MODELS)).round(1)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(datasets.NAMES))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--inner-cv", type=int, default=5, help="the blend's own cv")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    scores, weights = run(args.datasets.split(","), folds=args.folds, rows=args.rows,
                          seed=args.seed, inner_cv=args.inner_cv)
    result = table(scores, weights)
    print("\nHeadline score (R² / ROC-AUC), mean over outer folds\n")
    print(result.rename_axis(["dataset", "task"]).reset_index().to_markdown(index=False))
    print("\nFit seconds per fold\n")
    print(time_table(scores).to_markdown())
    print(f"\n{time.perf_counter() - started:.0f} s")
    return result


if __name__ == "__main__":
    main()
