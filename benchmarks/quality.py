"""Quality benchmark: tabmtl multi-task against single-task and hand-written baselines.

For each dataset, K-fold cross-validation with the *same folds for every model* of

- ``mt``      tabmtl ``MultiTaskEstimator``, default settings, one network for all targets;
- ``st``      tabmtl single-task: the same estimator fit on one target at a time;
- ``hgb``     scikit-learn HistGradientBoosting{Regressor,Classifier} per target;
- ``mlp``     scikit-learn MLP{Regressor,Classifier} per target, same trunk (128, 64);
- ``skorch``  plain skorch ``NeuralNet`` with a hand-written multi-head module and loss.

Per task: mean ± std over folds of R² and RMSE (regression) or ROC-AUC, accuracy and
log-loss (classification); a row whose label is missing leaves that task's score only.
Per model and dataset: fit seconds per fold. Every model's test outputs go through one
scoring function (:func:`score_outputs`, built on
:func:`tabmtl.evaluation._metrics.score_output`).

Threads: every model runs on ``--threads`` threads (default 1): torch via
``torch.set_num_threads``, HistGradientBoosting's OpenMP pool and the BLAS behind
sklearn's MLP via ``threadpoolctl``, so fit times compare like for like.

Folds: ``KFold(k, shuffle=True, random_state=seed)``, except that a dataset declaring
groups (``rand_hie``: several person-years per person) uses
``GroupKFold(k, shuffle=True, random_state=seed)`` so no person is on both sides.

    python -m benchmarks.quality              # all datasets, 5 folds (~20 min, 2 cores)
    python -m benchmarks.quality --quick      # 3 folds, <= 1500 rows, 5 epochs
    python -m benchmarks.quality --datasets penguins,framingham --folds 3 --models mt,hgb

Writes ``quality.md`` (tables), ``quality_scores.csv`` (every fold's scores),
``quality_times.csv`` (every fold's fit time) and ``quality.png`` to ``--out``
(default ``results/quality/``, git-ignored).
"""

from __future__ import annotations

import os

# Before numpy / torch / sklearn load their thread pools; threadpoolctl enforces it below.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import GroupKFold, KFold
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `datasets` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from benchmarks.baselines import MODELS, FoldOutput, Settings  # noqa: E402
from benchmarks.speed import synthetic_table  # noqa: E402
from tabmtl import TargetSpec  # noqa: E402
from tabmtl.evaluation._metrics import get_metric, score_output  # noqa: E402

#: Full-mode plan, dataset -> (row cap or None for all rows, epochs). Chosen so the whole
#: run takes about 20 minutes on 2 shared cores: small tables get more epochs (a few
#: optimizer steps per epoch), large ones are sampled to 20k rows.
PLAN: dict[str, tuple[int | None, int]] = {
    "flights": (20_000, 20),
    "framingham": (None, 40),
    "penguins": (None, 100),
    "rand_hie": (None, 20),
    "eta_fare": (20_000, 20),
    "star": (None, 20),
}
QUICK_ROWS, QUICK_EPOCHS, QUICK_FOLDS = 1500, 5, 3
DEFAULT_FOLDS = 5

#: Metrics per task kind; the first one is the task's headline score.
METRICS = {
    "regression": ("r2", "neg_rmse"),
    "binary": ("roc_auc", "accuracy", "neg_log_loss"),
    "multiclass": ("roc_auc", "accuracy", "neg_log_loss"),
}
#: Metric name -> its name in tables/CSV; neg_* metrics are reported positive (the error
#: itself), so lower is better for them (the registry's sign says which).
METRIC_LABELS = {
    "r2": "R²",
    "neg_rmse": "RMSE",
    "roc_auc": "ROC-AUC",
    "accuracy": "accuracy",
    "neg_log_loss": "log-loss",
}


# -- scoring -------------------------------------------------------------------------------


def score_outputs(spec: TargetSpec, Y_test: pd.DataFrame, outputs: dict) -> list[dict]:
    """Every metric of every task for one model on one test fold.

    ``outputs[target]`` is a regression prediction ``(n,)`` or class probabilities
    ``(n, K)`` in the order of the task's ``classes_`` (see ``benchmarks.baselines``).
    Rows with a missing label are dropped from that task's score only, by ``score_output``;
    the predicted label of a classification task is the most probable class.

    Returns
    -------
    list of dict
        ``{"task", "kind", "metric", "value"}`` rows, ``value`` in the metric's natural
        sign (RMSE and log-loss positive, lower is better).
    """
    rows = []
    for task in spec.tasks_:
        if task.name not in outputs:
            continue
        for metric in METRICS[task.kind]:
            value = score_output(task, Y_test[task.name], outputs[task.name], metric)
            value *= get_metric(metric).sign  # the error itself, not its negation
            rows.append(
                {
                    "task": str(task.name),
                    "kind": task.kind,
                    "metric": METRIC_LABELS[metric],
                    "value": value,
                }
            )
    return rows


# -- the run -------------------------------------------------------------------------------


@dataclass
class Report:
    """What a run produced: long-form fold results and the rendered tables."""

    scores: pd.DataFrame  # dataset, task, kind, model, fold, metric, value
    times: pd.DataFrame  # dataset, model, fold, fit_s
    plan: pd.DataFrame  # dataset, rows, labelled rows per task, epochs, folds, cv
    models: list[str]  # display names, in table order
    elapsed_s: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and std over folds per dataset, task, metric and model."""
        keys = ["dataset", "task", "kind", "metric", "model"]
        return self.scores.groupby(keys, sort=False)["value"].agg(["mean", "std"]).reset_index()

    @property
    def table(self) -> pd.DataFrame:
        """Headline score (R² / ROC-AUC) means: one row per (dataset, task), a column
        per model."""
        s = self.summary
        head = s[s.metric.isin(["R²", "ROC-AUC"])]
        wide = head.pivot_table(
            index=["dataset", "task"], columns="model", values="mean", sort=False
        )
        return wide.reindex(columns=self.models)


def dataset_folds(name: str, X: pd.DataFrame, n_rows: int | None, k: int, seed: int) -> tuple:
    """The dataset's folds, computed once and reused by every model."""
    groups = datasets.groups(name, n_rows=n_rows, random_state=seed)
    if groups is not None:
        cv = GroupKFold(k, shuffle=True, random_state=seed)
        key = groups.iloc[:, 0].to_numpy()
        return list(cv.split(X, groups=key)), f"GroupKFold({k}) by {groups.columns[0]}"
    cv = KFold(k, shuffle=True, random_state=seed)
    return list(cv.split(X)), f"KFold({k})"


def run(
    names: Sequence[str] = datasets.NAMES,
    *,
    folds: int = DEFAULT_FOLDS,
    rows: int | None = None,
    epochs: int | None = None,
    models: Sequence[str] = tuple(MODELS),
    quick: bool = False,
    seed: int = 0,
    threads: int = 1,
    out: str | Path | None = None,
    log: Callable[[str], None] | None = print,
) -> Report:
    """Cross-validate every model on every dataset; optionally write the report files.

    Parameters
    ----------
    names : sequence of str
        Datasets (from ``datasets.NAMES``).
    folds : int
        Number of CV folds (the same folds for every model).
    rows, epochs : int, optional
        Override the plan's row cap / epoch budget for every dataset.
    models : sequence of str
        Keys of ``benchmarks.baselines.MODELS``.
    quick : bool
        Smoke-run plan: at most 1500 rows and 5 epochs per dataset.
    seed : int
        Seeds the row sample, the folds and every model.
    threads : int
        Threads for torch, OpenMP and BLAS, the same for every model.
    out : path, optional
        Folder for ``quality.md``, the CSVs and ``quality.png``; nothing written if None.
    log : callable, optional
        Progress lines (None: silent).
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"Unknown models {unknown!r}; choose from {list(MODELS)!r}.")
    say = log or (lambda _msg: None)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    score_rows, time_rows, plan_rows = [], [], []
    with threadpool_limits(limits=threads):
        if names:
            _warm_up(models, seed)
        for name in names:
            cap, n_epochs = PLAN.get(name, (None, 20))
            if quick:
                cap = QUICK_ROWS if cap is None else min(cap, QUICK_ROWS)
                n_epochs = QUICK_EPOCHS
            cap = rows if rows is not None else cap
            n_epochs = epochs if epochs is not None else n_epochs
            X, Y = datasets.load(name, n_rows=cap, random_state=seed)
            spec = TargetSpec(targets=datasets.target_kinds(name)).fit(Y)
            splits, cv_name = dataset_folds(name, X, cap, folds, seed)
            plan_rows.append(
                {
                    "dataset": name,
                    "rows": len(X),
                    "features": X.shape[1],
                    "targets": Y.shape[1],
                    "labelled": ", ".join(f"{c} {Y[c].notna().mean():.1%}" for c in Y),
                    "epochs": n_epochs,
                    "cv": cv_name,
                }
            )
            say(
                f"[{time.perf_counter() - started:6.0f}s] {name}: {len(X)} rows, "
                f"{n_epochs} epochs, {cv_name}"
            )
            settings = Settings(epochs=n_epochs, seed=seed)
            for fold, (train, test) in enumerate(splits):
                Xtr, Ytr = X.iloc[train], Y.iloc[train]
                Xte, Yte = X.iloc[test], Y.iloc[test]
                for key in models:
                    label, fit_predict = MODELS[key]
                    result: FoldOutput = fit_predict(Xtr, Ytr, Xte, spec, settings)
                    base = {"dataset": name, "model": label, "fold": fold}
                    time_rows.append({**base, "fit_s": result.fit_seconds})
                    for r in score_outputs(spec, Yte, result.outputs):
                        score_rows.append({**base, **r})
                    say(
                        f"[{time.perf_counter() - started:6.0f}s]   fold {fold} {label}: "
                        f"fit {result.fit_seconds:.1f}s"
                    )
            report = _report(score_rows, time_rows, plan_rows, models, started)
            if out is not None:  # after each dataset, so a long run keeps what it has done
                write(report, out, threads=threads, seed=seed, folds=folds)
    report = _report(score_rows, time_rows, plan_rows, models, started)
    if out is not None:
        report.files = write(report, out, threads=threads, seed=seed, folds=folds)
    return report


def _warm_up(models: Sequence[str], seed: int) -> None:
    """One untimed tiny fit per model, so one-off costs (torch's first kernels, lazy
    imports) are not charged to whichever model happens to run first."""
    X, Y = synthetic_table(200, seed=seed)  # every target kind, numeric + categorical
    spec = TargetSpec().fit(Y)
    for key in models:
        MODELS[key][1](X, Y, X, spec, Settings(epochs=1, seed=seed))


def _report(score_rows, time_rows, plan_rows, models, started) -> Report:
    cols = ["dataset", "task", "kind", "model", "fold", "metric", "value"]
    return Report(
        scores=pd.DataFrame(score_rows, columns=cols),
        times=pd.DataFrame(time_rows, columns=["dataset", "model", "fold", "fit_s"]),
        plan=pd.DataFrame(plan_rows),
        models=[MODELS[m][0] for m in models],
        elapsed_s=time.perf_counter() - started,
    )


# -- rendering -----------------------------------------------------------------------------


def _cells(group: pd.DataFrame, models: list[str], higher: bool, digits: int) -> dict:
    """'mean ± std' per model, the best mean in bold (ties at the shown precision too)."""
    by_model = group.set_index("model")
    means = by_model["mean"].reindex(models)
    best = np.nanmax(means.round(digits)) if higher else np.nanmin(means.round(digits))
    cells = {}
    for m in models:
        if m not in by_model.index or not np.isfinite(by_model.loc[m, "mean"]):
            cells[m] = "n/a"
            continue
        mean, std = by_model.loc[m, "mean"], by_model.loc[m, "std"]
        text = f"{mean:.{digits}f} ± {0.0 if np.isnan(std) else std:.{digits}f}"
        cells[m] = f"**{text}**" if round(mean, digits) == best else text
    return cells


def _digits(metric: str, values: pd.Series) -> int:
    if metric in ("RMSE",) and values.abs().max() >= 10:
        return 2
    return 3


def metric_table(report: Report, metrics: Sequence[str]) -> pd.DataFrame:
    """Rows (dataset, task[, metric]) x model columns of 'mean ± std', best in bold."""
    s = report.summary
    s = s[s.metric.isin(metrics)]
    rows = []
    for (dataset, task, kind, metric), g in s.groupby(
        ["dataset", "task", "kind", "metric"], sort=False
    ):
        name = next(n for n, label in METRIC_LABELS.items() if label == metric)
        higher = get_metric(name).sign > 0
        row = {"dataset": dataset, "task": task, "kind": kind, "metric": metric}
        row.update(_cells(g, report.models, higher, _digits(metric, g["mean"])))
        rows.append(row)
    return pd.DataFrame(rows)


def time_table(report: Report) -> pd.DataFrame:
    """Fit seconds per fold (mean ± std) per dataset and model, plus a run total."""
    t = report.times
    rows = []
    for dataset, g in t.groupby("dataset", sort=False):
        stats = g.groupby("model")["fit_s"].agg(["mean", "std"])
        row = {"dataset": dataset}
        for m in report.models:
            mean, std = stats.loc[m, "mean"], stats.loc[m, "std"]
            row[m] = f"{mean:.1f} ± {0.0 if np.isnan(std) else std:.1f}"
        rows.append(row)
    totals = t.groupby("model")["fit_s"].sum()
    rows.append(
        {
            "dataset": "**total (all folds)**",
            **{m: f"{totals.get(m, 0.0):.0f}" for m in report.models},
        }
    )
    return pd.DataFrame(rows)


def markdown(report: Report, *, threads: int, seed: int, folds: int) -> str:
    """The whole report as markdown: setup, headline scores, other metrics, fit times."""
    head_metrics = ["R²", "ROC-AUC"]
    other = [m for m in ("RMSE", "accuracy", "log-loss") if m in set(report.scores.metric)]
    lines = [
        "# tabmtl quality benchmark",
        "",
        f"{folds}-fold CV, the same folds for every model; seed {seed}; "
        f"{threads} thread(s) for every model (torch.set_num_threads, OMP_NUM_THREADS and "
        f"BLAS via threadpoolctl); torch {torch.__version__}; run time "
        f"{report.elapsed_s / 60:.1f} min. Rows with a missing label are left out of that "
        "task's score only; per-target models train on the rows labelled for their target. "
        "Neural models: trunk (128, 64), batch 256, lr 1e-3, the epochs below.",
        "",
        "## Datasets",
        "",
        report.plan.to_markdown(index=False),
        "",
        "## Headline score per task (R² for regression, ROC-AUC for classification; "
        "higher is better, best in bold)",
        "",
        metric_table(report, head_metrics).drop(columns="metric").to_markdown(index=False),
        "",
    ]
    if other:
        lines += [
            "## Other metrics (RMSE and log-loss: lower is better; best in bold)",
            "",
            metric_table(report, other).to_markdown(index=False),
            "",
        ]
    lines += [
        "## Fit time per fold (seconds, mean ± std; all targets of the dataset)",
        "",
        time_table(report).to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)


def chart(report: Report, path: str | Path) -> Path:
    """Bars of each model's headline score (± std) per dataset x task; best marked ★."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report.summary
    s = s[s.metric.isin(["R²", "ROC-AUC"])]
    panels = list(s.groupby(["dataset", "task"], sort=False))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    models = report.models
    for ax, ((dataset, task), g) in zip(axes.flat, panels):
        g = g.set_index("model").reindex(models)
        means, stds = g["mean"].to_numpy(), np.nan_to_num(g["std"].to_numpy())
        x = np.arange(len(models))
        ax.bar(x, means, yerr=stds, color=colors[: len(models)], capsize=3)
        finite = np.isfinite(means)
        if finite.any():
            best = int(np.nanargmax(means))
            lo = np.nanmin((means - stds)[finite])
            hi = np.nanmax((means + stds)[finite])
            pad = max(0.15 * (hi - lo), 0.005)
            ax.set_ylim(lo - pad, hi + 2 * pad)
            ax.annotate(
                "★", (best, means[best] + stds[best]), ha="center", va="bottom", fontsize=12
            )
        ax.set_title(f"{dataset}: {task} ({g['metric'].dropna().iloc[0]})", fontsize=9)
        ax.set_xticks(x, [str(i + 1) for i in x], fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[i]) for i in range(len(models))]
    fig.legend(
        handles,
        [f"{i + 1}: {m}" for i, m in enumerate(models)],
        loc="lower center",
        ncol=min(len(models), 5),
        fontsize=9,
        frameon=False,
    )
    fig.suptitle("Headline score per task, mean ± std over folds (★ best)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(report: Report, out: str | Path, *, threads: int, seed: int, folds: int) -> dict:
    """Write quality.md, quality_scores.csv, quality_times.csv and quality.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "markdown": out / "quality.md",
        "scores": out / "quality_scores.csv",
        "times": out / "quality_times.csv",
        "chart": out / "quality.png",
    }
    files["markdown"].write_text(markdown(report, threads=threads, seed=seed, folds=folds))
    report.scores.to_csv(files["scores"], index=False)
    report.times.to_csv(files["times"], index=False)
    chart(report, files["chart"])
    return files


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_FOLDS} folds, <= {QUICK_ROWS} rows, {QUICK_EPOCHS} epochs",
    )
    parser.add_argument(
        "--datasets", default=",".join(datasets.NAMES), help="comma-separated dataset names"
    )
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}"
    )
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None, help="row cap for every dataset")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "results" / "quality"))
    args = parser.parse_args(argv)
    folds = args.folds or (QUICK_FOLDS if args.quick else DEFAULT_FOLDS)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report = run(
        names,
        folds=folds,
        rows=args.rows,
        epochs=args.epochs,
        models=models,
        quick=args.quick,
        seed=args.seed,
        threads=args.threads,
        out=args.out,
        log=lambda msg: print(msg, flush=True),
    )
    print()
    print(markdown(report, threads=args.threads, seed=args.seed, folds=folds))
    print(f"written: {', '.join(str(p) for p in report.files.values())}")
    return report


if __name__ == "__main__":
    main()
