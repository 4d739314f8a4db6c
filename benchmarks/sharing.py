"""Sharing that pays: each multi-task configuration against its own single-task fits.

For each dataset, K-fold CV with the same folds for every configuration (the quality
harness's folds and row caps): tabmtl fitted on all targets at once with a candidate's
settings, and the *same* settings fitted on one target at a time (the single-task
counterpart a user would compare against). Per task the headline score is R²
(regression) or ROC-AUC (classification). The table has one row per candidate: mean
score per dataset, how many tasks beat their single-task fit, the worst task's gap to it
(multi-task - single-task, averaged over folds) and the fit time relative to LightGBM
fitted per target in the same run.

    python -m benchmarks.sharing --datasets star --rows 4000          # the diagnosis table
    python -m benchmarks.sharing --candidates "hard,mmoe" --folds 3   # chosen candidates

Candidates are named settings (``CANDIDATES``); ``--single-of NAME`` fits single-task
counterparts with one candidate's settings for every row (default: each its own).
Writes ``sharing.md`` and ``sharing_scores.csv`` to ``--out`` (default
``results/sharing/``, git-ignored).
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
    MODELS,
    Settings,
    fit_predict_tabmtl_defaults,
)
from benchmarks.quality import PLAN, dataset_folds, score_outputs  # noqa: E402
from benchmarks.speed import synthetic_table  # noqa: E402
from tabmtl import (  # noqa: E402
    PLE,
    HardSharing,
    MMoE,
    MultiTaskEstimator,
    PiecewiseLinearEmbedding,
    TargetSpec,
)


#: Named candidate settings (MultiTaskEstimator keyword arguments).
def _cosine(epochs: int, lr: float | None = None) -> dict:
    """A fixed budget of ``epochs`` with a cosine learning-rate decay, no early stopping."""
    from skorch.callbacks import LRScheduler

    params = {"early_stopping": False, "max_epochs": epochs,
              "callbacks": [LRScheduler(policy="CosineAnnealingLR", T_max=epochs)]}
    return params if lr is None else {**params, "lr": lr}


CANDIDATES: dict[str, dict] = {
    "hard": {"architecture": "hard"},
    "hard + uncertainty": {"architecture": "hard", "weighting": "uncertainty"},
    "soft": {"architecture": "soft"},
    "mmoe": {"architecture": "mmoe"},
    "mmoe + uncertainty": {"architecture": "mmoe", "weighting": "uncertainty"},
    "mmoe 8": {"architecture": MMoE(n_experts=8)},
    "ple": {"architecture": "ple"},
    "ple + uncertainty": {"architecture": "ple", "weighting": "uncertainty"},
    # one level, one shared and one private expert per task, mixed by the task's gate
    "ple 1+1": {"architecture": PLE(n_shared_experts=1, n_task_experts=1, n_levels=1)},
    "ple 1+1 + uncertainty": {"architecture": PLE(n_shared_experts=1, n_task_experts=1,
                                                  n_levels=1), "weighting": "uncertainty"},
    "sluice": {"architecture": "sluice"},
    "hard + private 16": {"architecture": HardSharing(private_layer_sizes=(16,))},
    "hard + private 32": {"architecture": HardSharing(private_layer_sizes=(32,))},
    "hard + private 64": {"architecture": HardSharing(private_layer_sizes=(64,))},
    "hard k=4": {"architecture": "hard", "ensemble_size": 4},
    "defaults": {},
    # fit-time levers (issue #25), each a change of the default's settings
    "patience 8": {"patience": 8},
    "patience 6": {"patience": 6},
    "patience 4": {"patience": 4},
    "patience 16": {"patience": 16},  # the 0.2.0 development default, before issue #25
    "hard + patience 16": {"architecture": "hard", "patience": 16},
    "experts 64-32": {"architecture": MMoE(expert_layer_sizes=(64, 32))},
    "2 experts": {"architecture": MMoE(n_experts=2)},
    "batch 512": {"batch_size": 512},
    "batch 32": {"batch_size": 32},  # TabM's rule below ~3k rows (framingham, penguins)
    "lr 2e-3 + patience 8": {"lr": 2e-3, "patience": 8},
    "bins 16 d8": {"numeric_embedding": PiecewiseLinearEmbedding(n_bins=16, d_embedding=8)},
    "bins 16 d8 + patience 8": {
        "numeric_embedding": PiecewiseLinearEmbedding(n_bins=16, d_embedding=8), "patience": 8},
    # fixed-budget cosine schedules instead of early stopping (docs/sharing.md, "Fit time")
    "cosine 20": _cosine(20),
    "cosine 12": _cosine(12),
    "cosine 12 lr 3e-3": _cosine(12, lr=3e-3),
    # rand_hie diagnosis (docs/sharing.md, "rand_hie: where sharing loses"): every fit
    # gets the table's groups (early stopping on whole persons) unless "random valid"
    "random valid": {"valid_split": "rows"},
    "hard + random valid": {"architecture": "hard", "valid_split": "rows"},
    "uncertainty": {"weighting": "uncertainty"},
    "dropout 0.2": {"dropout": 0.2},
    "weight decay 1e-2": {"weight_decay": 1e-2},
    "lr 5e-4": {"lr": 5e-4},
}
HEADLINE = ("R²", "ROC-AUC")
#: A candidate's ``"valid_split"``: every tabmtl fit on a table with units (``datasets.groups``,
#: rand_hie's persons) gets them as ``fit(groups=)``, so early stopping holds out whole
#: units as a user with unit ids would; ``"rows"`` fits without them (random rows).
ROWS = "rows"


def _estimator_params(config: str, groups, seed: int) -> tuple[dict, object]:
    """A candidate's MultiTaskEstimator keyword arguments, and the ``groups`` to fit with."""
    params = dict(CANDIDATES[config])
    if params.pop("valid_split", None) == ROWS:
        return params, None
    return params, groups


BOOSTING = "lgbm"


def _one_fold(name, fold, train, test, X, Y, spec, candidates, single_of, seed,
              groups=None) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    Xtr, Ytr, Xte, Yte = X.iloc[train], Y.iloc[train], X.iloc[test], Y.iloc[test]
    gtr = None if groups is None else groups[train]
    MultiTaskEstimator(max_epochs=1, random_state=0).fit(*synthetic_table(256))  # warm-up
    tasks = [t for t in spec.tasks_ if t.name in Ytr.columns]

    def record(config, role, outputs, fit_s, single_config=None):
        for r in score_outputs(spec, Yte, outputs):
            rows.append({"dataset": name, "fold": fold, "config": config, "role": role,
                         "fit_s": fit_s, "single_config": single_config, **r})

    settings = Settings(epochs=None, seed=seed)
    lgbm = MODELS[BOOSTING][1](Xtr, Ytr, Xte, spec, settings)
    record(BOOSTING, "reference", lgbm.outputs, lgbm.fit_seconds)
    singles_done: dict[str, tuple[dict, float]] = {}
    for config in candidates:
        params, fit_groups = _estimator_params(config, gtr, seed)
        multi = fit_predict_tabmtl_defaults(Xtr, Ytr, Xte, spec, settings, fit_groups,
                                            **params)
        outputs, fit_s = multi.outputs, multi.fit_seconds
        record(config, "multi", outputs, fit_s)
        single_config = single_of or config
        if single_config not in singles_done:
            outs, total = {}, 0.0
            for task in tasks:
                labelled = Ytr[task.name].notna().to_numpy()
                single_params, single_groups = _estimator_params(
                    single_config, None if gtr is None else gtr[labelled], seed
                )
                single = fit_predict_tabmtl_defaults(
                    Xtr[labelled], Ytr.loc[labelled, [task.name]], Xte, spec, settings,
                    single_groups, **single_params,
                )
                outs.update(single.outputs)
                total += single.fit_seconds
            singles_done[single_config] = (outs, total)
        outs, total = singles_done[single_config]
        record(config, "single", outs, total, single_config)
        print(f"  {name} fold {fold}: {config} {fit_s:.1f}s (single {total:.1f}s, "
              f"{BOOSTING} {lgbm.fit_seconds:.1f}s)", flush=True)
    return rows


def run(names: Sequence[str], candidates: Sequence[str], *, folds: int = 3,
        rows: int | None = None, single_of: str | None = None, jobs: int = 1,
        seed: int = 0) -> pd.DataFrame:
    """Long-form scores: dataset, fold, config, role, fit_s, task, kind, metric, value."""
    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {list(CANDIDATES)}")
    jobs_list = []
    for name in names:
        cap = PLAN.get(name, (None, 20))[0]
        cap = rows if cap is None else min(cap, rows or cap)
        X, Y = datasets.load(name, n_rows=cap, random_state=seed)
        spec = TargetSpec(targets=datasets.target_kinds(name)).fit(Y)
        splits, _ = dataset_folds(name, X, cap, folds, seed)
        group_frame = datasets.groups(name, n_rows=cap, random_state=seed)
        groups = None if group_frame is None else group_frame.iloc[:, 0].to_numpy()
        print(f"{name}: {len(X)} rows, {len(candidates)} candidates, {folds} folds", flush=True)
        jobs_list += [
            delayed(_one_fold)(name, f, tr, te, X, Y, spec, candidates, single_of, seed,
                               groups)
            for f, (tr, te) in enumerate(splits)
        ]
    results = Parallel(n_jobs=jobs)(jobs_list)
    return pd.DataFrame([r for fold_rows in results for r in fold_rows])


def with_single_of(scores: pd.DataFrame, single_config: str) -> pd.DataFrame:
    """Every candidate's single-task rows replaced by the fits made with ``single_config``'s
    settings (any run of ``--single-of single_config`` in ``scores``, same folds)."""
    if "single_config" not in scores:
        raise SystemExit("these scores do not say which settings fitted their single-task "
                         "rows (written before the single_config column)")
    singles = scores[(scores.role == "single") & (scores.single_config == single_config)]
    if singles.empty:
        raise SystemExit(f"no single-task fits with {single_config!r} settings in the scores")
    singles = singles.drop_duplicates(["dataset", "fold", "task", "metric"])
    others = scores[scores.role != "single"]
    configs = others.loc[others.role == "multi", "config"].unique()
    copies = [singles.assign(config=config) for config in configs]
    return pd.concat([others, *copies], ignore_index=True)


def per_task_gain(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (config, dataset, task): multi, single and their gap, averaged over folds."""
    head = scores[scores.metric.isin(HEADLINE) & (scores.role != "reference")]
    table = head.pivot_table(index=["config", "dataset", "task"], columns="role",
                             values="value", aggfunc="mean", sort=False)
    table["gain"] = table["multi"] - table["single"]
    return table


def sharing_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate: mean score per dataset, tasks beating single-task, worst gap,
    fit time over LightGBM's."""
    gains = per_task_gain(scores)
    head = scores[scores.metric.isin(HEADLINE)]
    configs = [c for c in dict.fromkeys(scores.config) if c != BOOSTING]
    out = pd.DataFrame(index=pd.Index([*configs, BOOSTING], name="candidate"))
    fits = scores.drop_duplicates(["dataset", "fold", "config", "role"])
    for name in dict.fromkeys(scores.dataset):
        part = head[(head.dataset == name) & (head.role != "single")]
        out[name] = part.groupby("config")["value"].mean()
    n = gains.groupby("config").size()
    out["beats single-task"] = ((gains["gain"] > 0).groupby("config").sum().astype(int)
                                .astype(str) + "/" + n.astype(str))
    out["worst vs single-task"] = gains["gain"].groupby("config").min()
    lgbm_s = fits[fits.config == BOOSTING].fit_s.sum()
    multi = fits[fits.role == "multi"].groupby("config").fit_s.sum()
    out["fit time / LightGBM"] = multi / lgbm_s
    out.loc[BOOSTING, "fit time / LightGBM"] = 1.0
    return out


def markdown(table: pd.DataFrame) -> str:
    shown = table.copy().astype(object)
    for col in table.columns:
        if table[col].dtype.kind == "f":
            shown[col] = ["—" if pd.isna(v) else f"{v:+.3f}" if col.startswith("worst")
                          else f"{v:.2f}" if col.startswith("fit") else f"{v:.3f}"
                          for v in table[col]]
    return shown.fillna("—").reset_index().to_markdown(index=False)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(datasets.NAMES))
    parser.add_argument("--candidates", default="hard,hard + uncertainty,mmoe,ple")
    parser.add_argument("--single-of", default=None,
                        help="fit every single-task counterpart with this candidate's settings")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results" / "sharing"))
    parser.add_argument("--from-scores", nargs="+", metavar="CSV",
                        help="one table from earlier runs' sharing_scores.csv (same folds)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    candidates = [c.strip() for c in args.candidates.split(",")]
    if args.from_scores:  # runs share the single-task and LightGBM fits: keep one copy
        scores = pd.concat([pd.read_csv(path) for path in args.from_scores])
        scores = scores.drop_duplicates(["dataset", "fold", "config", "role", "task", "metric"])
        if args.single_of:
            scores = with_single_of(scores, args.single_of)
    else:
        scores = run(args.datasets.split(","), candidates, folds=args.folds, rows=args.rows,
                     single_of=args.single_of, jobs=args.jobs, seed=args.seed)
    table = sharing_table(scores)
    gains = per_task_gain(scores)
    header = (f"# sharing table ({time.strftime('%Y-%m-%d')}): {args.folds}-fold CV, rows "
              f"capped as the quality plan{'' if args.rows is None else f' and at {args.rows}'}"
              f", seed {args.seed}, 1 torch thread, {time.perf_counter() - t0:.0f}s\n")
    text = (header + "\n" + markdown(table) + "\n\n## per task (multi - single)\n\n"
            + gains.reset_index().to_markdown(index=False, floatfmt="+.4f") + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sharing.md").write_text(text)
    scores.to_csv(out / "sharing_scores.csv", index=False)
    print(text)
    return table


if __name__ == "__main__":
    main()
