"""``tabmtl tune``: search a model's hyper-parameters with Optuna and write the best as a
``--config`` file for ``tabmtl fit``.

The study lives in a database (default: SQLite beside ``--out``), so running the same
command again continues it, and several machines running it against one database URL
share it. Ctrl-C keeps every finished trial and still writes the best so far.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tabmtl._cli.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError
from tabmtl._cli.evaluate import parse_metrics
from tabmtl._cli.options import (
    add_data_options,
    add_metric_option,
    add_model_options,
    build_estimator,
    positive_int,
)
from tabmtl._cli.runtime import say, thread_limit
from tabmtl._cli.tables import check_writable, read_table, split_columns
from tabmtl.errors import InputError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``tune`` and its options to the ``tabmtl`` subcommands."""
    p = commands.add_parser(
        "tune", help="search hyper-parameters (Optuna) and write the best as a --config file",
        description="Cross-validate sampled MultiTaskEstimator configurations in an Optuna "
        "study and write the best as JSON that `tabmtl fit --config` reads. Needs the "
        "extra: pip install 'tabmtl[tune]'. Re-running the same command continues the "
        "study; Ctrl-C keeps every finished trial.",
    )
    add_data_options(p)
    p.add_argument("--out", "-o", required=True, metavar="CONFIG",
                   help="JSON file of the best parameters (for tabmtl fit --config)")
    p.add_argument("--trials", type=positive_int, default=20, metavar="N",
                   help="trials this run adds to the study (default: 20)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="start no new trial after S seconds")
    p.add_argument("--storage", metavar="URL",
                   help="study database, any SQLAlchemy URL (e.g. postgresql://host/db, "
                   "shared by workers on several machines); default: "
                   "sqlite:///<CONFIG stem>.optuna.db beside --out")
    p.add_argument("--study", default="tabmtl", metavar="NAME",
                   help="study name in the storage (default: tabmtl)")
    p.add_argument("--cv", type=positive_int, default=3, metavar="K",
                   help="folds per trial (default: 3)")
    p.add_argument("--objective", default="mean", metavar="mean|COL|COL=W,...",
                   help="what to maximise: the mean of the per-target scores (default), "
                   "one target's score, or a weighted mean such as eta=2,fare=1")
    add_metric_option(p)
    p.add_argument("--space", metavar="FILE",
                   help='JSON search space over the default one: {"lr": {"low": 1e-4, '
                   '"high": 1e-2, "log": true}, "batch_size": [128, 256], "ensemble_size": '
                   "null} (a list: choices; low/high: a range, integer when both are; "
                   "null: not searched)")
    p.add_argument("--only-space", action="store_true",
                   help="search only the parameters of --space, not the default space")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    add_model_options(p)
    p.set_defaults(handler=run)


def _objective(text: str) -> str | dict[str, float]:
    """``--objective`` -> ``tune``'s ``scoring``."""
    if "=" not in text:
        return text
    weights = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            raise UsageError(f"--objective {item!r}: expected COL=WEIGHT") from None
    return weights


def read_space(path: str | None) -> dict:
    """A ``--space`` JSON file as ``tune``'s ``search_space``."""
    if path is None:
        return {}
    from tabmtl.tuning._dependency import import_optuna

    dists = import_optuna().distributions
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --space {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"--space {path!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"--space {path!r} must hold an object of parameter: range pairs")
    space = {}
    for name, spec in raw.items():
        if isinstance(spec, dict):
            try:
                low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
                integer = isinstance(low, int) and isinstance(high, int)
                cls = dists.IntDistribution if integer else dists.FloatDistribution
                spec = cls(low, high, log=log)
            except (KeyError, TypeError, ValueError) as exc:
                raise UsageError(f"--space {name!r}: bad range {spec!r} ({exc})") from None
        space[name] = spec
    return space


def run(args: argparse.Namespace) -> int:
    """Run the search ``args`` describe and write the best configuration; the exit code."""
    try:
        from tabmtl.tuning import tune
    except ImportError as exc:
        raise UsageError(str(exc)) from None

    frame = read_table(args.data)
    X, Y, kinds = split_columns(frame, args)
    est = build_estimator(args, kinds)
    try:
        from tabmtl._data.targets import TargetSpec

        metrics = parse_metrics(args.metric, TargetSpec(targets=est.targets).fit(Y))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    check_writable(out)
    storage = args.storage or f"sqlite:///{out.with_name(out.stem + '.optuna.db')}"
    say(f"tuning {len(Y.columns)} target(s) on {len(X):,} rows: study {args.study!r} in "
        f"{storage}, {args.trials} trial(s) x {args.cv} folds")
    with thread_limit(args.threads):
        try:
            result = tune(
                est, X, Y, cv=args.cv, n_trials=args.trials, timeout=args.timeout,
                scoring=_objective(args.objective), metrics=metrics or None,
                search_space=read_space(args.space),
                replace_space=args.only_space, storage=storage, study_name=args.study,
                seed=0 if est.random_state is None else est.random_state,
                progress=not args.quiet,
            )
        except InputError as exc:
            raise UsageError(str(exc)) from None
    if not result.best_config:
        say("no trial finished; nothing written")
        return EXIT_INTERRUPTED if result.interrupted else EXIT_OK
    try:
        result.write_config(out)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r}: {exc}") from None
    best = result.study.best_trial
    note = " (interrupted: best of the finished trials)" if result.interrupted else ""
    print(f"wrote {out}{note}: trial {best.number} of {len(result.study.trials)} in the "
          f"study, score {result.best_value:.4f}")
    print("per target: " + ", ".join(f"{t} {s:.4f}" for t, s in result.best_task_scores.items()))
    print(f"fit it: tabmtl fit {args.data} --config {out} ...; continue the search: same "
          f"command (--storage {storage} --study {args.study})")
    return EXIT_OK
