"""``tabmtl report``: everything ``evaluate`` does, plus plots and a self-contained HTML page."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from tabmtl._cli.errors import UsageError
from tabmtl._cli.evaluate import (
    add_train_sizes_option,
    prepare_run,
    print_result,
    run_efficiency,
    run_transfer,
    transfer_exit_code,
)
from tabmtl._cli.options import add_cv_options, add_data_options, add_model_options


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``report`` and its options to the ``tabmtl`` subcommands."""
    p = commands.add_parser(
        "report", help="evaluate, plus plots and a self-contained HTML page",
        description="Everything evaluate does, plus plots (learning curves per task, task "
        "weights, gain bars, predicted vs actual, calibration and, with the HistGB "
        "baseline, blend weights: how much each task needs boosting) as PNGs and "
        "report.html. Negative transfer is flagged, and a grouping preferred over training "
        "all together, only when the folds support it (corrected paired t test, 90% "
        "one-sided).",
    )
    add_data_options(p)
    add_cv_options(p)
    add_train_sizes_option(p)
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--importance", metavar="DIR",
        help="a folder written by tabmtl explain: add its feature-importance panel",
    )
    add_model_options(p)
    p.set_defaults(handler=run)


def _learned_sharing(data: dict):
    """A sluice model's learned sharing, from one more fit on every row; None otherwise.

    The cross-validation keeps no fitted model, and what a sluice network learned to share
    is best read from the model trained on all the data, as ``tabmtl fit`` would train it.
    """
    from sklearn.base import clone

    from tabmtl._nn.architectures import Sluice, resolve_architecture

    est = data["est"]
    if not isinstance(resolve_architecture(est.architecture), Sluice):
        return None
    from tabmtl.evaluation._sluice_figures import learned_sharing

    return learned_sharing(clone(est).fit(data["X"], data["Y"]))


def run(args: argparse.Namespace) -> int:
    """Evaluate, then write the plots and report.html to ``--out``; the exit code."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("tabmtl report draws with matplotlib: pip install matplotlib") from None
    from tabmtl.evaluation._report import write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} exists and is not a directory")
    if args.importance is not None:  # before the cross-validation, not after it
        from tabmtl.inspection._output import IMPORTANCE_FILES

        if not (Path(args.importance) / IMPORTANCE_FILES["drivers"]).is_file():
            raise UsageError(f"--importance {args.importance!r} is not a folder written by "
                             "tabmtl explain (no drivers.csv)")
    data = prepare_run(args, "report")
    result, header = run_transfer(args, "report", data)
    print_result(result, header)
    efficiency = run_efficiency(args, "report", data)[0] if args.train_sizes else None
    command = "tabmtl " + " ".join(shlex.quote(a) for a in args.argv)
    files = write_report(result, out, title=f"tabmtl report: {Path(args.data).name}",
                         command=command, details=header, importance=args.importance,
                         efficiency=efficiency, sharing=_learned_sharing(data))
    print()
    print(f"report: {files['html']}")
    print("files: " + ", ".join(str(p.name) for k, p in files.items() if k != "html"))
    if efficiency is not None and transfer_exit_code(args, efficiency):
        return transfer_exit_code(args, efficiency)  # negative at one of the sizes
    return transfer_exit_code(args, result)

