"""Method table: the architectures and a representative set of weighting strategies.

For each dataset, K-fold CV with the same folds for every configuration (the quality
harness's folds, row caps and scoring: ``benchmarks.quality``), of tabmtl with each
configuration plus the single-task baseline (one default network per target). By default
the configurations are a cross: every architecture with equal weighting, and every
weighting with the default architecture (``--full``: every architecture x weighting
pair). Everything else is tabmtl's defaults, its training regime included (early
stopping on a validation split, up to ``max_epochs``); ``--epochs N`` imposes a fixed
budget of N epochs instead, as the 0.1 table did.

Per (dataset, task) the headline score is R² (regression) or ROC-AUC (classification).
The table has one row per configuration and, per dataset, the mean headline score over
its tasks and the mean fit seconds per fold; the last columns are each configuration's
mean rank over all tasks of all datasets (1 = best), how many tasks it beats single-task
on, and its worst task's score minus that task's single-task score. The best value per
column is in bold.

    python -m benchmarks.methods --jobs 2        # the cross, 3 folds, default regime
    python -m benchmarks.methods --quick         # 2 architectures x 2 strategies, tiny data
    python -m benchmarks.methods --architectures sluice --weightings equal --no-single \
        --out results/methods_sluice             # one more row, same folds
    python -m benchmarks.methods --from-scores results/methods/methods_scores.csv \
        results/methods_sluice/methods_scores.csv  # one table from both runs

Writes ``methods.md``, ``methods_scores.csv`` and ``methods.png`` to ``--out``
(default ``results/methods/``, git-ignored).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `datasets` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from benchmarks.baselines import (  # noqa: E402
    FoldOutput,
    Settings,
    fit_predict_tabmtl_multitask,
    fit_predict_tabmtl_single,
)
from benchmarks.quality import PLAN, dataset_folds, score_outputs  # noqa: E402
from benchmarks.speed import synthetic_table  # noqa: E402
from tabmtl import MultiTaskEstimator, TargetSpec  # noqa: E402

ARCHITECTURES = ("hard", "soft", "cross_stitch", "mmoe", "ple", "sluice")
WEIGHTINGS = ("equal", "uncertainty", "dwa", "pcgrad")
SINGLE = "single-task"
HEADLINE = ("R²", "ROC-AUC")


def configurations(
    architectures: Sequence[str], weightings: Sequence[str], *, full: bool, single: bool
) -> list[tuple[str, str]]:
    """(architecture, weighting) pairs: the cross through the defaults, or every pair.

    >>> configurations(["hard", "soft"], ["equal", "dwa"], full=False, single=True)
    [('hard', 'equal'), ('soft', 'equal'), ('hard', 'dwa'), ('single-task', '')]
    """
    if full:
        pairs = [(a, w) for a in architectures for w in weightings]
    else:
        default_arch = MultiTaskEstimator().architecture
        default_weighting = MultiTaskEstimator().weighting
        pairs = [(a, default_weighting) for a in architectures]
        pairs += [(default_arch, w) for w in weightings if w != default_weighting]
    return list(dict.fromkeys(pairs)) + ([(SINGLE, "")] if single else [])


def _fit_predict(config: tuple[str, str], Xtr, Ytr, Xte, spec, settings) -> FoldOutput:
    if config == (SINGLE, ""):
        return fit_predict_tabmtl_single(Xtr, Ytr, Xte, spec, settings)
    architecture, weighting = config
    return fit_predict_tabmtl_multitask(
        Xtr, Ytr, Xte, spec, settings, architecture=architecture, weighting=weighting
    )


def _one_fold(name, fold, train, test, X, Y, spec, settings, configs) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    Xtr, Ytr, Xte, Yte = X.iloc[train], Y.iloc[train], X.iloc[test], Y.iloc[test]
    # untimed warm-up, so torch's one-off start-up is not charged to the first config
    MultiTaskEstimator(max_epochs=1, random_state=0).fit(*synthetic_table(256))
    for config in configs:
        result = _fit_predict(config, Xtr, Ytr, Xte, spec, settings)
        label = SINGLE if config[0] == SINGLE else f"{config[0]} + {config[1]}"
        print(f"  {name} fold {fold}: {label} {result.fit_seconds:.1f}s", flush=True)
        for r in score_outputs(spec, Yte, result.outputs):
            rows.append({"dataset": name, "fold": fold, "config": label,
                         "fit_s": result.fit_seconds, **r})
    return rows


def run(
    names: Sequence[str],
    configs: Sequence[tuple[str, str]],
    *,
    folds: int = 3,
    rows: int | None = None,
    epochs: int | None = None,
    jobs: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Long-form scores: dataset, fold, config, fit_s, task, kind, metric, value.

    Rows are capped as in the quality plan (``PLAN``), or at ``rows`` if smaller; ``epochs``
    None trains with tabmtl's default regime (early stopping), else a fixed budget.
    """
    tasks = []
    for name in names:
        cap = PLAN.get(name, (None, 20))[0]
        cap = rows if cap is None else min(cap, rows or cap)
        X, Y = datasets.load(name, n_rows=cap, random_state=seed)
        spec = TargetSpec(targets=datasets.target_kinds(name)).fit(Y)
        settings = Settings(epochs=epochs, seed=seed)
        splits, _ = dataset_folds(name, X, cap, folds, seed)
        budget = "default regime" if epochs is None else f"{epochs} epochs"
        print(f"{name}: {len(X)} rows, {budget}, {len(configs)} configs, {folds} folds")
        tasks += [
            delayed(_one_fold)(name, f, tr, te, X, Y, spec, settings, configs)
            for f, (tr, te) in enumerate(splits)
        ]
    results = Parallel(n_jobs=jobs, verbose=5 if jobs > 1 else 0)(tasks)
    return pd.DataFrame([r for fold_rows in results for r in fold_rows])


def method_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per config: mean headline score and fit time per dataset, mean rank."""
    head = scores[scores.metric.isin(HEADLINE)]
    per_task = head.groupby(["dataset", "task", "config"], sort=False)["value"].mean()
    ranks = per_task.groupby(["dataset", "task"]).rank(ascending=False)
    single = per_task.xs(SINGLE, level="config")
    gain = per_task - single.reindex(per_task.droplevel("config").index).to_numpy()
    configs = list(dict.fromkeys(scores.config))
    table = pd.DataFrame(index=pd.Index(configs, name="configuration"))
    for name in dict.fromkeys(scores.dataset):
        table[f"{name} score"] = per_task.xs(name, level="dataset").groupby("config").mean()
        fit = scores[scores.dataset == name].drop_duplicates(["fold", "config"])
        table[f"{name} fit s"] = fit.groupby("config")["fit_s"].mean()
    table["mean rank"] = ranks.groupby("config").mean()
    n_tasks = per_task.xs(SINGLE, level="config").size
    table["tasks beating single-task"] = (
        (gain > 0).groupby("config").sum().astype(int).astype(str) + f"/{n_tasks}"
    )
    table["worst task vs single-task"] = gain.groupby("config").min()
    table.loc[SINGLE, "tasks beating single-task"] = "—"
    table.loc[SINGLE, "worst task vs single-task"] = float("nan")
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table with the best value per numeric column in bold."""
    shown = table.copy().astype(object)
    for col in table.columns:
        values = table[col]
        if values.dtype.kind not in "fi":
            continue
        lower_better = col.endswith("fit s") or col == "mean rank"
        if values.isna().all():
            continue
        best = values.min() if lower_better else values.max()
        digits = 1 if col.endswith("fit s") else (2 if col == "mean rank" else 3)
        shown[col] = [
            "—" if pd.isna(v) else (f"**{v:.{digits}f}**" if v == best else f"{v:.{digits}f}")
            for v in values
        ]
    return shown.reset_index().to_markdown(index=False)


def chart(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = table.sort_values("mean rank")
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(ordered) + 1.2))
    colors = ["tab:red" if c == SINGLE else "tab:blue" for c in ordered.index]
    ax.barh(ordered.index[::-1], ordered["mean rank"][::-1], color=colors[::-1])
    ax.set_xlabel("mean rank over all tasks (lower is better)")
    ax.set_title("tabmtl architectures x weighting strategies")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(datasets.NAMES))
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES))
    parser.add_argument("--weightings", default=",".join(WEIGHTINGS))
    parser.add_argument("--full", action="store_true",
                        help="every architecture x weighting pair, not the cross")
    parser.add_argument("--no-single", action="store_true",
                        help="leave out the single-task baseline (e.g. to add rows later)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None,
                        help="row cap per dataset, below the quality plan's caps")
    parser.add_argument(
        "--epochs", type=int, default=None,
        help="a fixed epoch budget (default: tabmtl's regime, early stopping)",
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--from-scores", nargs="+", metavar="CSV",
                        help="build the table from earlier runs' methods_scores.csv")
    parser.add_argument("--out", default=str(ROOT / "results" / "methods"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if args.from_scores:
        scores = pd.concat([pd.read_csv(path) for path in args.from_scores])
        header = f"# method table from {', '.join(args.from_scores)}\n"
    else:
        names = args.datasets.split(",")
        archs, weights = args.architectures.split(","), args.weightings.split(",")
        if args.quick:
            names, archs, weights = ["penguins", "eta_fare"], ["hard", "mmoe"], ["equal", "pcgrad"]
            args.rows, args.epochs, args.folds = 600, 5, 2
        configs = configurations(archs, weights, full=args.full, single=not args.no_single)
        scores = run(names, configs, folds=args.folds, rows=args.rows,
                     epochs=args.epochs, jobs=args.jobs, seed=args.seed)
        budget = "tabmtl's default regime" if args.epochs is None else f"{args.epochs} epochs"
        header = (
            f"# method table ({time.strftime('%Y-%m-%d')}): {args.folds}-fold CV, rows capped as "
            f"the quality plan{'' if args.rows is None else f' and at {args.rows}'}, {budget}, "
            f"seed {args.seed}, 1 torch thread per job, {time.perf_counter() - t0:.0f}s\n"
        )
    header += (
        "\nscore = mean over the dataset's tasks of R² (regression) / ROC-AUC (classification)\n"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if SINGLE not in set(scores.config):
        scores.to_csv(out / "methods_scores.csv", index=False)
        print(f"no single-task rows: scores written to {out / 'methods_scores.csv'}")
        return scores
    table = method_table(scores)
    text = header + "\n" + markdown(table) + "\n"
    (out / "methods.md").write_text(text)
    scores.to_csv(out / "methods_scores.csv", index=False)
    chart(table, out / "methods.png")
    print(text)
    return table


if __name__ == "__main__":
    main()
