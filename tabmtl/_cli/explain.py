"""``tabmtl explain``: which features each target of a saved model relies on.

Permutation importance of every feature column for every target at once
(:func:`tabmtl.inspection._importance.task_importance`), written as tables and pictures
(:func:`tabmtl.inspection._output.write_importance`) that ``tabmtl report --importance``
can show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tabmtl._cli.errors import EXIT_OK, UsageError
from tabmtl._cli.evaluate import parse_metrics
from tabmtl._cli.options import add_metric_option, positive_int
from tabmtl._cli.runtime import say, thread_limit
from tabmtl._cli.tables import find_column, read_table
from tabmtl.errors import InputError

_SHOWN_FEATURES = 15  # rows of the table printed on stdout


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``explain`` and its options to the ``tabmtl`` subcommands."""

    p = commands.add_parser(
        "explain", help="per-target permutation importance of a saved model on DATA",
        description="Shuffle each feature column of DATA in turn and measure how much every "
        "target's score drops (one predict per shuffle scores all targets). Writes "
        "importance.csv (feature, task, metric, mean, std), matrix.csv (features x tasks), "
        "drivers.csv (shared drivers and task-specific features), heatmap.png and bars.png.",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by tabmtl fit")
    p.add_argument("data", metavar="DATA", help="CSV or parquet file with features and labels "
                   "(held-out rows show what generalizes)")
    p.add_argument(
        "--target", "-t", action="append", metavar="COL",
        help="a target of the model to explain (repeatable; default: all of its targets "
        "that DATA has)",
    )
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--n-repeats", type=positive_int, default=5, metavar="N",
                   help="shuffles per feature (default: 5)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seed of the shuffles and of --sample (default: 0)")
    p.add_argument("--sample", type=positive_int, metavar="ROWS",
                   help="explain a random sample of ROWS rows (faster on a large table)")
    add_metric_option(p)
    p.add_argument("--top-k", type=positive_int, default=3, metavar="K",
                   help="a feature drives a task when in its top K (default: 3) and at least "
                   "10%% of its top importance; a shared driver drives >= 2 tasks")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Compute the importances ``args`` ask for and write them to ``--out``; the exit code."""
    import pandas as pd

    from tabmtl.inspection._importance import task_importance
    from tabmtl.inspection._output import write_importance
    from tabmtl.io._persistence import ModelFileError, load_model

    if not Path(args.model).exists():
        raise UsageError(f"model file not found: {args.model!r}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} exists and is not a directory")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("tabmtl explain draws with matplotlib: pip install matplotlib") from None
    try:
        est = load_model(args.model)
    except (ModelFileError, ValueError) as exc:
        raise UsageError(f"cannot load model {args.model!r}: {exc}") from None
    features = [str(c) for c in getattr(est, "feature_names_in_", [])]
    if not features:
        raise UsageError(f"model {args.model!r} was not fitted on named columns")
    spec = est.target_spec_
    frame = read_table(args.data)
    if args.sample is not None and args.sample < len(frame):
        frame = frame.sample(n=args.sample, random_state=args.random_state)
    missing = [c for c in features if c not in map(str, frame.columns)]
    if missing:
        raise UsageError(f"{args.data!r} lacks feature column(s) the model needs: {missing!r}")
    X = frame[[find_column(frame, c, "the model") for c in features]]
    targets = _targets(args, spec, frame)
    Y = pd.DataFrame(index=frame.index)
    for name in spec.target_names_:  # every task is scored; one not explained has no label
        Y[name] = frame[find_column(frame, str(name), "--target")] if str(name) in targets \
            else pd.Series(float("nan"), index=frame.index)
    metrics = parse_metrics(args.metric, spec)
    try:
        with thread_limit(args.threads):
            say(f"shuffling {len(features)} column(s) x {args.n_repeats} on {len(X):,} rows")
            result = task_importance(est, X, Y, n_repeats=args.n_repeats,
                                     random_state=args.random_state, metrics=metrics)
    except InputError as exc:  # tabmtl rejected the data or a metric; anything else is a bug
        raise UsageError(f"cannot explain on {args.data!r}: {exc}") from None
    result = result.subset(targets)
    files = write_importance(result, out, top_k=args.top_k)
    print(_summary(result, args.top_k))
    print()
    print(f"files in {out}: " + ", ".join(p.name for p in files.values()))
    return EXIT_OK


def _targets(args: argparse.Namespace, spec, frame) -> list[str]:
    """The model's targets to explain: ``--target``, else every one DATA has."""
    names = [str(n) for n in spec.target_names_]
    if not args.target:
        chosen = [n for n in names if n in map(str, frame.columns)]
        if not chosen:
            raise UsageError(f"DATA has none of the model's targets {names!r}: no labels")
        return chosen
    unknown = [t for t in args.target if t not in names]
    if unknown:
        raise UsageError(f"--target {unknown[0]!r} is not a target of the model; its "
                         f"targets are {names!r}")
    repeated = sorted({t for t in args.target if args.target.count(t) > 1})
    if repeated:
        raise UsageError(f"column(s) {repeated!r} given more than once to --target")
    for t in args.target:
        find_column(frame, t, "--target")
    return list(args.target)


def _summary(result, top_k: int) -> str:
    """The matrix (rounded), each feature's role, shared drivers first."""
    roles = result.shared_drivers(top_k=top_k)
    table = result.matrix.loc[roles.index].round(4)
    table.insert(0, "role", roles["role"])
    shown = table.head(_SHOWN_FEATURES)
    more = len(table) - len(shown)
    lines = [
        "permutation importance (score drop when the column is shuffled; metric per task: "
        + ", ".join(f"{t} {m}" for t, m in result.metrics.items()) + ")",
        shown.to_string(),
    ]
    if more:
        lines.append(f"... {more} more feature(s) in matrix.csv")
    return "\n".join(lines)
