"""Blend benchmark: MultiTaskBlend against the multi-task net, LightGBM and HistGB alone.

For each dataset, K-fold cross-validation with the same folds for every model (the
quality benchmark's :func:`~benchmarks.quality.dataset_folds`) of

- ``net``       tabmtl ``MultiTaskEstimator`` at its defaults (targets' kinds declared);
- ``LightGBM``  LightGBM per target at its defaults, native categorical splits;
- ``HistGB``    HistGradientBoosting per target, native categorical splits;
- ``blend``     ``MultiTaskBlend`` at its defaults (the same net; its boosting learners
  ``--boosting``, its weight rule ``--selection``), its weights chosen on ``--inner-cv``
  folds of each outer training part only (grouped like the outer folds on a grouped
  table, through ``fit(groups=...)``).

``--compare`` adds, from the same fits, the blend with other weight rules
(``blend[score]``...) or with fewer of its learners (``loss:net+lightgbm``): they differ
only in the weights they read off the same out-of-fold outputs, so no learner is
refitted for them (their fit time is the whole blend's).

Scores are the headline ones (R² for a value, ROC-AUC for classes), through the quality
benchmark's :func:`~benchmarks.quality.score_outputs`; rows whose label is missing leave
that task's score only. Prints a markdown table: per dataset its mean over tasks, then
each task, a column per model, the best single model (net, LightGBM, HistGB) and the
blend's margin over it, the blend's mean weight on its boosting learners; then per
dataset how many tasks the blend (and each compared rule) is within 0.002 of the best
single model on; then fit seconds per fold of each model, of the three parts together
and the blend's multiple of that.

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
from tabmtl._ensemble import MultiTaskBlend  # noqa: E402
from tabmtl._ensemble.decoding import encoded_labels  # noqa: E402
from tabmtl._ensemble.weights import SELECTIONS, choose_weights  # noqa: E402
from tabmtl._ensemble.weights import blend as weighted  # noqa: E402

HEADLINE = ("R²", "ROC-AUC")
PARTS = ("net", "LightGBM", "HistGB")
MODELS = (*PARTS, "blend")
#: A task counts as met when the blend is at most this far below the best part.
NOISE = 0.002


def _blend_outputs(blend: MultiTaskBlend, X: pd.DataFrame, spec: TargetSpec) -> dict:
    """The blend's outputs in the benchmark spec's class order (a class absent from the
    training part gets probability 0)."""
    return _align(blend, blend.blended_outputs(X), spec)


def _align(blend: MultiTaskBlend, outputs: dict, spec: TargetSpec) -> dict:
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


def _compared(blend: MultiTaskBlend, X: pd.DataFrame, Ytr: pd.DataFrame, spec, rules) -> dict:
    """Model name -> outputs of the blend's refitted learners on ``X`` with the weights
    each rule in ``rules`` reads off the blend's own out-of-fold outputs."""
    learner_out = blend.learner_outputs(X)
    out = {}
    for item in rules:
        rule, _, subset = item.partition(":")
        outputs = {}
        for task in blend.target_spec_.tasks_:
            names = blend.task_learners_[task.name]
            if subset:
                names = [n for n in names if n in subset.split("+")]
            w = choose_weights([blend.oof_outputs_[n][task.name] for n in names],
                               encoded_labels(task, Ytr[task.name]), task.is_regression,
                               blend.n_steps, rule, blend.oof_fold_)
            outputs[task.name] = weighted([learner_out[n][task.name] for n in names], w)
        out[f"blend[{item}]"] = _align(blend, outputs, spec)
    return out


def one_fold(
    name, fold, Xtr, Ytr, Xte, Yte, spec, kinds, seed, inner_cv, *, groups=None,
    boosting="auto", selection="loss", compare=(),
) -> tuple[list, list]:
    """Score rows and weight rows of every model on one outer fold."""
    settings = Settings(epochs=None, seed=seed)
    results = {
        # the net alone gets the groups its copies in the blend get (early stopping)
        "net": fit_predict_tabmtl_defaults(Xtr, Ytr, Xte, spec, settings, groups,
                                           targets=kinds),
        "LightGBM": fit_predict_lgbm(Xtr, Ytr, Xte, spec, settings),
        "HistGB": fit_predict_hgb(Xtr, Ytr, Xte, spec, settings),
    }
    blend = MultiTaskBlend(
        MultiTaskEstimator(targets=kinds, random_state=seed), cv=inner_cv, random_state=seed,
        boosting=boosting, selection=selection,
    )
    t0 = time.perf_counter()
    blend.fit(Xtr, Ytr, groups=groups)
    fit_s = time.perf_counter() - t0
    rows = []
    extra = _compared(blend, Xte, Ytr, spec, [r for r in compare if r != selection])
    for model, (outputs, seconds) in {
        **{m: (r.outputs, r.fit_seconds) for m, r in results.items()},
        "blend": (_blend_outputs(blend, Xte, spec), fit_s),
        **{m: (o, fit_s) for m, o in extra.items()},
    }.items():
        for r in score_outputs(spec, Yte, outputs):
            if r["metric"] in HEADLINE:
                rows.append({"dataset": name, "fold": fold, "model": model, "fit_s": seconds, **r})
    weights = blend.task_blend_weights_.assign(dataset=name, fold=fold)
    print(f"  {name} fold {fold}: blend {fit_s:.1f}s", flush=True)
    return rows, weights


def run(names, *, folds: int, rows: int | None, seed: int, inner_cv: int, **blend_options):
    scores, weights = [], []
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        for name in names:
            X, Y = datasets.load(name, n_rows=rows, random_state=seed)
            kinds = datasets.target_kinds(name)
            spec = TargetSpec(targets=kinds).fit(Y)
            splits, cv = dataset_folds(name, X, rows, folds, seed)
            groups = datasets.groups(name, n_rows=rows, random_state=seed)
            print(f"{name}: {len(X)} rows, {cv}", flush=True)
            for f, (tr, te) in enumerate(splits):
                inner = None if groups is None else groups.iloc[tr, 0].to_numpy()
                s, w = one_fold(name, f, X.iloc[tr], Y.iloc[tr], X.iloc[te], Y.iloc[te],
                                spec, kinds, seed, inner_cv, groups=inner, **blend_options)
                scores += s
                weights.append(w)
    return pd.DataFrame(scores), pd.concat(weights, ignore_index=True)


def table(scores: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: its mean over tasks, then one row per task; a column per model."""
    per_task = scores.groupby(["dataset", "task", "model"], sort=False)["value"].mean()
    models = list(dict.fromkeys([*MODELS, *scores.model]))
    wide = per_task.unstack("model").reindex(columns=models)
    boosting = weights[weights.learner != "net"]
    boost = boosting.groupby(["dataset", "fold", "task"])["weight"].sum()
    boost = boost.groupby(level=["dataset", "task"]).mean()
    boost.index = boost.index.set_levels(boost.index.levels[1].astype(str), level=1)
    out = []
    for dataset, group in wide.groupby(level="dataset", sort=False):
        mean = group.mean().to_frame().T
        mean.index = pd.MultiIndex.from_tuples([(dataset, "mean")])
        out += [mean, group]
    result = pd.concat(out)
    parts = result[list(PARTS)]
    result["best part"] = parts.max(axis=1)
    result["blend - best"] = result["blend"] - result["best part"]
    for model in models[len(MODELS):]:
        result[f"{model} - best"] = result[model] - result["best part"]
    result["boosting weight"] = [
        boost.get((d, t), np.nan) if t != "mean"
        else boost[d].mean() if d in boost.index.get_level_values(0) else np.nan
        for d, t in result.index
    ]
    return result


def met_table(result: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (and over all): tasks, and how many each blend is within ``NOISE`` of
    the best part on; whether its mean is."""
    blends = [c[: -len(" - best")] for c in result.columns if c.endswith(" - best")]
    tasks = result[result.index.get_level_values(1) != "mean"]
    means = result[result.index.get_level_values(1) == "mean"].droplevel(1)
    rows = {}
    for dataset, group in tasks.groupby(level=0, sort=False):
        rows[dataset] = {"tasks": len(group)}
        for b in blends:
            rows[dataset][f"{b}: tasks met"] = int((group[f"{b} - best"] >= -NOISE).sum())
            rows[dataset][f"{b}: mean - best"] = means.loc[dataset, f"{b} - best"]
    out = pd.DataFrame.from_dict(rows, orient="index")
    total = out.sum()
    for b in blends:
        total[f"{b}: mean - best"] = np.nan
    out.loc["all"] = total
    for b in blends:
        out[f"{b}: share met"] = out[f"{b}: tasks met"] / out["tasks"]
    return out.round(4)


def time_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Fit seconds per fold: dataset by model, the three parts together and the blend's
    multiple of them."""
    once = scores[scores.model.isin(MODELS)].drop_duplicates(["dataset", "fold", "model"])
    fit = once.groupby(["dataset", "model"], sort=False)["fit_s"].mean().unstack("model")
    fit = fit.reindex(columns=list(MODELS))
    fit["parts together"] = fit[list(PARTS)].sum(axis=1)
    fit["blend / parts"] = fit["blend"] / fit["parts together"]
    return fit.round(1)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(datasets.NAMES))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--inner-cv", type=int, default=5, help="the blend's own cv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boosting", default="auto",
                        help="the blend's boosting learners: auto, or names joined by commas")
    parser.add_argument("--selection", default=MultiTaskBlend().selection, choices=SELECTIONS)
    parser.add_argument("--compare", default="",
                        help="other weight rules (and learner subsets) to score from the same "
                        "fits, e.g. score,best,loss:net+lightgbm")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    boosting = args.boosting if args.boosting == "auto" else tuple(args.boosting.split(","))
    compare = tuple(r for r in args.compare.split(",") if r)
    unknown = [r for r in compare if r.partition(":")[0] not in SELECTIONS]
    if unknown:
        parser.error(f"--compare: unknown rules {unknown}; choose from {list(SELECTIONS)}")
    scores, weights = run(args.datasets.split(","), folds=args.folds, rows=args.rows,
                          seed=args.seed, inner_cv=args.inner_cv, boosting=boosting,
                          selection=args.selection, compare=compare)
    result = table(scores, weights)
    print(f"\nblend: boosting={boosting!r}, selection={args.selection!r}")
    print("\nHeadline score (R² / ROC-AUC), mean over outer folds\n")
    printed = result.round(4).rename_axis(["dataset", "task"]).reset_index()
    print(printed.to_markdown(index=False))
    print(f"\nTasks within {NOISE} of the best part (net, LightGBM, HistGB)\n")
    print(met_table(result).to_markdown())
    print("\nFit seconds per fold\n")
    print(time_table(scores).to_markdown())
    print(f"\n{time.perf_counter() - started:.0f} s")
    return result


if __name__ == "__main__":
    main()
