"""``tabmtl evaluate``: cross-validate multi-task against single-task networks and
gradient boosting, per target; :func:`run_transfer` is the run ``report`` shares."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from tabmtl._cli.errors import EXIT_NEGATIVE_TRANSFER, EXIT_OK, DivergedError, UsageError
from tabmtl._cli.options import (
    add_auxiliary_options,
    add_cv_options,
    add_data_options,
    add_model_options,
    build_estimator,
    describe_estimator,
    include_auxiliary_targets,
)
from tabmtl._cli.runtime import say, thread_limit
from tabmtl._cli.tables import (
    find_column,
    groups_column,
    read_table,
    split_columns,
    write_table,
)
from tabmtl.errors import InputError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and its options to the ``tabmtl`` subcommands."""
    p = commands.add_parser(
        "evaluate", help="cross-validate multi-task vs single-task vs gradient boosting",
        description="K-fold cross-validation, on the same folds, of one multi-task network "
        "for all targets, single-task networks of the same architecture, and a "
        "HistGradientBoosting model per target. Prints per task each model's score ± std "
        "and the multi-task gain, flagging negative transfer.",
    )
    add_data_options(p)
    add_cv_options(p)
    p.add_argument("--scores-csv", metavar="FILE", help="also write every fold's scores")
    add_train_sizes_option(p)
    add_model_options(p)
    add_auxiliary_options(p)
    p.add_argument(
        "--main-fraction", type=float, default=1.0, metavar="F",
        help="with --auxiliary: keep this share (0, 1] of each training fold's main labels, "
        "auxiliary labels complete (the label-scarce view; default: 1)",
    )
    p.set_defaults(handler=run)


def parse_train_sizes(text: str) -> list[float]:
    """``--train-sizes`` value: comma-separated fractions in (0, 1], sorted.

    Examples
    --------
    >>> parse_train_sizes("0.5,0.1,1")
    [0.1, 0.5, 1.0]
    """
    from tabmtl.evaluation._efficiency import check_train_sizes

    try:
        return check_train_sizes([part.strip() for part in text.split(",") if part.strip()])
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("train_sizes", "--train-sizes")) from None


def add_train_sizes_option(p: argparse.ArgumentParser) -> None:
    """Add ``--train-sizes`` (the data-efficiency analysis) to a parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_train_sizes_option(parser)
    >>> parser.parse_args(["--train-sizes", "0.1,1"]).train_sizes
    [0.1, 1.0]
    """
    p.add_argument(
        "--train-sizes", type=parse_train_sizes, metavar="F1,F2,...",
        help="repeat the multi-task vs single-task comparison on nested subsamples of each "
        "training fold (fractions in (0, 1], e.g. 0.1,0.25,0.5,1.0; same folds and seeds) "
        "and report each task's gain at each size",
    )


def _check_metrics(spec, metrics: dict[str, str]) -> None:
    """ValueError unless every metric applies to the targets or kinds it is set for."""
    from tabmtl.evaluation._metrics import resolve_metrics

    resolve_metrics(spec, metrics)


# -- evaluate --------------------------------------------------------------------------------


def parse_metrics(specs: Sequence[str] | None, spec) -> dict[str, str]:
    """``--metric`` values -> ``resolve_metrics`` input.

    ``NAME`` applies to every target kind it fits (``roc_auc``: the classification
    targets; ``neg_rmse``: the regression ones); ``KEY=NAME`` sets it for one target or
    one kind.
    """
    from tabmtl.evaluation._metrics import get_metric, metric_names

    out: dict[str, str] = {}
    for item in specs or ():
        key, sep, name = item.rpartition("=")
        if not sep:
            key, name = "", item
        if name not in metric_names():
            raise UsageError(f"unknown metric {name!r}; choose from {', '.join(metric_names())}")
        if key:
            out[key] = name
            continue
        fits = [t.kind for t in spec.tasks_ if get_metric(name).applies_to(t.kind)]
        if not fits:
            raise UsageError(f"metric {name!r} applies to none of the targets")
        out.update(dict.fromkeys(fits, name))
    return out


def prepare_run(args: argparse.Namespace, command: str) -> dict:
    """Read the table and check the options ``evaluate``, ``report`` and the data-efficiency
    run share: features, targets, the estimator, folds' inputs and metrics."""
    from tabmtl._data.targets import TargetSpec

    frame = read_table(args.data)
    stratify = None
    groups, excluded = groups_column(frame, args.groups)
    include_auxiliary_targets(args)
    X, Y, kinds = split_columns(frame, args, excluded)
    if Y.shape[1] < 2:
        raise UsageError(f"{command} compares multi-task with single-task: give 2+ targets")
    if args.stratify:
        stratify = frame[find_column(frame, args.stratify, "--stratify")]
    est = build_estimator(args, kinds)
    try:
        spec = TargetSpec(targets=est.targets).fit(Y)
        metrics = parse_metrics(args.metric, spec)
        _check_metrics(spec, metrics)  # before hours of fitting
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return dict(X=X, Y=Y, est=est, stratify=stratify, groups=groups, metrics=metrics)


def _data_line(args: argparse.Namespace, command: str, X, Y, what: str, seconds: float) -> str:
    return (
        f"tabmtl {command}: {Path(args.data).name}: {len(X):,} rows, {X.shape[1]} features, "
        f"{Y.shape[1]} targets; {what}; {seconds:.0f}s"
    )


def run_transfer(
    args: argparse.Namespace, command: str, data: dict | None = None
) -> tuple[object, list[str]]:
    """The cross-validation ``evaluate`` and ``report`` share, from their options.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed data, model and cross-validation options.
    command : str
        ``"evaluate"`` or ``"report"``, for messages.
    data : dict, optional
        What :func:`prepare_run` returned, when the caller read the table already.

    Returns
    -------
    result : tabmtl.evaluation._transfer.TransferResult
    header : list of str
        Lines describing the data, the models and the scores, printed above the table.

    Examples
    --------
    >>> result, header = run_transfer(args, "evaluate")  # doctest: +SKIP
    """
    from tabmtl.evaluation._transfer import cross_validate_transfer

    data = prepare_run(args, command) if data is None else data
    X, Y, est = data["X"], data["Y"], data["est"]
    if getattr(est, "auxiliary", None):
        raise UsageError(
            f"{command} compares multi-task with single-task on every target; with "
            "auxiliary targets use `tabmtl evaluate --auxiliary COL`"
        )
    k, t = args.cv, Y.shape[1]
    n_fits = k * (1 + t * (1 if args.no_baseline else 2))
    plan = f"{command}: {n_fits} fits ({k} folds)"
    if args.grouping:
        plan += (
            f" + {k * t * (t - 1) // 2} pairwise fits + up to {k * (t // 2)} to verify the "
            "recommended groups"
        )
    if not args.quiet:
        say(f"{plan}; progress below")
    t0 = time.perf_counter()
    result = _fitting(
        cross_validate_transfer, args, X, Y, est, cv=k, stratify=data["stratify"],
        groups=data["groups"], metrics=data["metrics"], baseline=not args.no_baseline,
        grouping=args.grouping,
    )
    header = [
        _data_line(args, command, X, Y, result.cv_description, time.perf_counter() - t0),
        f"multi-task and single-task models: MultiTaskEstimator({describe_estimator(est)})",
    ]
    if not args.no_baseline:
        header.append(
            "HistGB: HistGradientBoostingRegressor/Classifier per target, scikit-learn "
            "defaults, native categorical splits"
        )
    header.append(
        "scores: mean ± std over folds, higher is better; gain = multi-task minus "
        "single-task, paired by fold"
    )
    return result, header


def _fitting(analysis, args: argparse.Namespace, X, Y, est, **kwargs):
    """Run ``analysis`` under the thread limit, mapping tabmtl's errors to exit codes."""
    from tabmtl._training.net import TrainingDiverged

    try:
        with thread_limit(args.threads):
            return analysis(
                X, Y, est, random_state=est.random_state if est.random_state is not None else 0,
                log=None if args.quiet else say, **kwargs,
            )
    except TrainingDiverged as exc:
        raise DivergedError(str(exc)) from None
    except InputError as exc:  # tabmtl rejected the data; any other error is a bug
        raise UsageError(str(exc)) from None


def run_efficiency(
    args: argparse.Namespace, command: str, data: dict | None = None
) -> tuple[object, list[str]]:
    """The data-efficiency analysis (``--train-sizes``) from the parsed options.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed data, model, cross-validation and ``--train-sizes`` options.
    command : str
        ``"evaluate"`` or ``"report"``, for messages.
    data : dict, optional
        What :func:`prepare_run` returned, when the caller read the table already.

    Returns
    -------
    result : tabmtl.evaluation._efficiency.EfficiencyResult
    header : list of str
        Lines describing the data, the models and the table.

    Examples
    --------
    >>> result, header = run_efficiency(args, "evaluate")  # doctest: +SKIP
    """
    from tabmtl.evaluation._efficiency import data_efficiency

    data = prepare_run(args, command) if data is None else data
    X, Y, est = data["X"], data["Y"], data["est"]
    sizes = args.train_sizes
    if not args.quiet:
        n_fits = len(sizes) * args.cv * (1 + Y.shape[1])
        say(f"{command} --train-sizes: {n_fits} fits ({args.cv} folds x {len(sizes)} "
            "sizes); progress below")
    t0 = time.perf_counter()
    result = _fitting(
        data_efficiency, args, X, Y, est, sizes=sizes, cv=args.cv, stratify=data["stratify"],
        groups=data["groups"], metrics=data["metrics"],
    )
    header = [
        _data_line(args, command, X, Y, result.cv_description, time.perf_counter() - t0),
        f"multi-task and single-task models: MultiTaskEstimator({describe_estimator(est)})",
        "training sizes: nested subsamples of each training fold (one seeded permutation "
        "per fold), scored on the whole held-out fold; same seeds at every size",
        "cells: multi-task gain (multi-task minus single-task score, paired by fold), "
        "mean ± std over folds, at each fraction of the training fold (n≈ its rows)",
    ]
    return result, header


def run_auxiliary(args: argparse.Namespace) -> int:
    """``evaluate --auxiliary``: each main target alone, with all auxiliaries and with
    each one (:func:`tabmtl.evaluation._auxiliary.auxiliary_gain`); the exit code."""
    from tabmtl._data.targets.roles import split_roles
    from tabmtl.evaluation._auxiliary import auxiliary_gain

    data = prepare_run(args, "evaluate")
    X, Y, est = data["X"], data["Y"], data["est"]
    try:
        main, auxiliary = split_roles(est.auxiliary, list(Y.columns))
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if not 0.0 < args.main_fraction <= 1.0:
        raise UsageError(f"--main-fraction must be in (0, 1], got {args.main_fraction!r}")
    if not args.quiet:
        each = len(auxiliary) if 1 < len(auxiliary) <= 5 else 0
        say(f"evaluate --auxiliary: {args.cv * len(main) * (2 + each)} fits ({args.cv} "
            "folds); progress below")
    t0 = time.perf_counter()
    result = _fitting(
        lambda X_, Y_, est_, **kw: auxiliary_gain(X_, Y_, main, auxiliary, est_, **kw),
        args, X, Y, est, cv=args.cv, stratify=data["stratify"], groups=data["groups"],
        metrics=data["metrics"], main_fraction=args.main_fraction,
    )
    what = result.cv_description
    if args.main_fraction < 1:
        what += f", {args.main_fraction:g} of each training fold's main labels"
    print(_data_line(args, "evaluate", X, Y, what, time.perf_counter() - t0))
    print(f"models: MultiTaskEstimator({describe_estimator(est)}), auxiliaries "
          f"{[str(a) for a in auxiliary]!r}")
    print("scores: mean ± std over folds, higher is better; gain = score minus the "
          "target alone, paired by fold; verdict: gain/loss only where the folds support it")
    print()
    print(result.to_markdown())
    if args.scores_csv:
        print(f"fold scores: {write_table(result.scores, args.scores_csv)}")
    if args.fail_on_negative and (result.summary["verdict"] == "loss").any():
        return EXIT_NEGATIVE_TRANSFER
    return EXIT_OK


def print_result(result, header: list[str]) -> None:
    """Print ``header``, the score table, the verdict and any task grouping on stdout."""
    print("\n".join(header))
    print()
    print(result.to_markdown())
    print()
    print(result.verdict())
    if result.grouping is not None:
        print()
        print(result.grouping.describe())


def run(args: argparse.Namespace) -> int:
    """Cross-validate, print the comparison, write ``--scores-csv``; the exit code.

    With ``--train-sizes`` the comparison is the data-efficiency one: the gain table by
    training size is printed and ``--scores-csv`` gets its per-fold scores. With
    ``--auxiliary`` it is the auxiliary-target one (:func:`run_auxiliary`).
    """
    if getattr(args, "auxiliary", None):
        if getattr(args, "train_sizes", None) or args.grouping:
            raise UsageError("--auxiliary has its own label-scarce view (--main-fraction); "
                             "it does not combine with --train-sizes or --grouping")
        return run_auxiliary(args)
    if getattr(args, "train_sizes", None):
        result, header = run_efficiency(args, "evaluate")
        print("\n".join(header))
        print()
        print(result.to_markdown())
        if args.scores_csv:
            print(f"fold scores: {write_table(result.scores, args.scores_csv)}")
        return transfer_exit_code(args, result)  # negative gain at any size
    result, header = run_transfer(args, "evaluate")
    print_result(result, header)
    if args.scores_csv:
        print(f"fold scores: {write_table(result.scores, args.scores_csv)}")
    return transfer_exit_code(args, result)


def transfer_exit_code(args: argparse.Namespace, result) -> int:
    """4 if ``--fail-on-negative`` was given and a task shows negative transfer, else 0.

    ``result`` is a transfer or a data-efficiency result (negative at any size).

    Examples
    --------
    >>> transfer_exit_code(args, result)  # doctest: +SKIP
    0
    """
    if args.fail_on_negative and result.negative_transfer:
        return EXIT_NEGATIVE_TRANSFER
    return EXIT_OK

