"""``tabmtl fit``: fit one multi-task network on a table and save it (``--blend``: a
blend of the network and per-target LightGBM, :mod:`tabmtl._cli.blend`).

Ctrl-C stops training after the current batch; the best epoch so far is restored and
saved (exit code 0). A diverged run still saves the best epoch before it (exit code 3).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from tabmtl._cli.blend import add_blend_options, check_blend_options, fit_blend
from tabmtl._cli.errors import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from tabmtl._cli.options import (
    add_auxiliary_options,
    add_data_options,
    add_model_options,
    build_estimator,
    describe_estimator,
    include_auxiliary_targets,
)
from tabmtl._cli.runtime import say, thread_limit
from tabmtl._cli.tables import (
    check_writable,
    groups_column,
    read_parquet_head,
    read_table,
    split_columns,
)
from tabmtl.errors import InputError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``fit`` and its options to the ``tabmtl`` subcommands."""
    p = commands.add_parser(
        "fit", help="fit a model on DATA and save it",
        description="Fit one multi-task network on DATA and save it (a .tabmtl file). "
        "Ctrl-C stops training and saves the best epoch so far.",
    )
    add_data_options(p)
    p.add_argument("--out", "-o", required=True, metavar="MODEL", help="model file (.tabmtl)")
    p.add_argument("--quiet", "-q", action="store_true", help="no epoch table or progress bar")
    p.add_argument(
        "--stream", action="store_true",
        help="train out of core from a parquet file, folder or glob, reading record batches "
        "(preprocessing fitted on a bounded reservoir sample; see tabmtl.io._streaming)",
    )
    p.add_argument(
        "--groups", metavar="COL",
        help="rows with the same COL value (e.g. a patient id) are one unit: early stopping "
        "holds out whole units (MultiTaskEstimator.fit(groups=)); COL is not used as a "
        "feature",
    )
    add_model_options(p)
    add_auxiliary_options(p)
    add_blend_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fit and save the model ``args`` describe; the exit code."""
    from tabmtl._training.net import TrainingDiverged
    from tabmtl.io._persistence import save_model

    if args.stream:
        # out of core: columns and target kinds are checked on the first rows only; the
        # fit reads record batches (tabmtl.io._streaming.fit_parquet), never the whole table
        frame = read_parquet_head(args.data)
    else:
        frame = read_table(args.data)
    include_auxiliary_targets(args)
    if args.groups and args.stream:
        raise UsageError("--groups is not supported with --stream")
    groups, excluded = groups_column(frame, args.groups)
    X, Y, kinds = split_columns(frame, args, excluded)
    est = build_estimator(args, kinds)
    check_blend_options(args, est)
    est.set_params(verbose=0 if args.quiet else 1)
    out = Path(args.out)
    check_writable(out)
    if args.blend:
        return fit_blend(args, X, Y, est, out, groups)
    rows = "streamed rows" if args.stream else f"{len(X):,} rows"
    say(
        f"fitting {len(Y.columns)} target(s) on {rows} x {X.shape[1]} features: "
        f"{describe_estimator(est)}"
    )
    diverged = None
    t0 = time.perf_counter()
    with (
        thread_limit(args.threads),
        contextlib.redirect_stdout(sys.stderr),  # skorch prints its epoch table
    ):
        try:
            if args.stream:
                from tabmtl.io._streaming import fit_parquet

                fit_parquet(est, args.data, list(Y.columns), features=list(X.columns))
            else:
                est.fit(X, Y, groups=groups)
        except TrainingDiverged as exc:
            diverged = exc
        except KeyboardInterrupt:
            say("interrupted before training started; nothing saved")
            return EXIT_INTERRUPTED
        except InputError as exc:  # tabmtl rejected the data; any other error is a bug
            raise UsageError(str(exc)) from None
    seconds = time.perf_counter() - t0
    note = ""
    if diverged is not None:
        say(f"error: {diverged}")
        if not hasattr(est, "net_"):
            return EXIT_DIVERGED
        note = " (training diverged: this is the best epoch before it)"
    elif est.interrupted_:  # the fit has restored its best finished epoch
        best = est.best_epoch_
        if best is None:
            say("interrupted before the first epoch finished; nothing saved")
            return EXIT_INTERRUPTED
        monitor = "validation" if est.early_stopping else "training"
        say(  # on a line of its own: a progress bar may have left the cursor mid-line
            f"\ninterrupted after {est.n_epochs_} epoch(s): restored epoch {best}, the best "
            f"{monitor} loss so far, and saving it"
        )
        note = f" (interrupted: best epoch {best} of {est.n_epochs_})"
    try:
        written = save_model(est, out)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r}: {exc}") from None
    print(f"saved {written}{note}")
    auxiliary = est.auxiliary_targets_
    print(
        "targets: "
        + ", ".join(
            f"{t.name} ({t.kind}{', auxiliary' if t.name in auxiliary else ''})"
            for t in est.target_spec_.tasks_
        )
        + f"; {X.shape[1]} features; {est.n_epochs_} epochs in {seconds:.1f}s"
    )
    print(kept_epoch_summary(est, diverged=diverged is not None))
    return EXIT_DIVERGED if diverged is not None else EXIT_OK


def kept_epoch(est, *, diverged: bool = False) -> int:
    """The epoch whose weights a fitted estimator holds.

    The best epoch when the fit was stopped early, interrupted or diverged, or when early
    stopping watched a validation split (it loads its best epoch at the end); else, the
    last epoch (a fit without early stopping keeps its final weights).
    """
    restored = diverged or est.interrupted_ or bool(getattr(est, "early_stopping_", False))
    if restored and est.best_epoch_ is not None:
        return int(est.best_epoch_)
    return int(est.n_epochs_)


def kept_epoch_summary(est, *, diverged: bool = False) -> str:
    """One line: the kept epoch and its per-task validation losses (training losses,
    said so, when the fit had no validation split)."""
    epoch = kept_epoch(est, diverged=diverged)
    row = next((r for r in est.history_ if r.get("epoch") == epoch), est.history_[-1])
    tasks = [str(t.name) for t in est.target_spec_.tasks_]
    has_valid = any(f"valid_loss_{t}" in row for t in tasks)
    prefix, what = ("valid", "validation") if has_valid else ("train", "training")
    losses = ", ".join(f"{t} {row.get(f'{prefix}_loss_{t}', float('nan')):.4f}" for t in tasks)
    objective = row.get(f"{prefix}_objective", float("nan"))
    source = "" if has_valid else ", no validation split"
    return (
        f"kept epoch {epoch} of {est.n_epochs_} ({what} objective {objective:.4f}{source}); "
        f"its {what} loss per task: {losses}"
    )
