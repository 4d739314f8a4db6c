"""``tabmtl predict``: predict every target of a saved model for the rows of a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabmtl._cli.errors import EXIT_OK, UsageError
from tabmtl._cli.options import positive_int
from tabmtl._cli.runtime import thread_limit
from tabmtl._cli.tables import (
    check_writable,
    find_column,
    read_parquet_head,
    read_table,
    table_format,
    write_table,
)
from tabmtl.errors import InputError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``predict`` and its options to the ``tabmtl`` subcommands."""
    p = commands.add_parser(
        "predict", help="predict the targets of a saved model for DATA",
        description="Predict every target of MODEL for the rows of DATA (which needs the "
        "model's feature columns; other columns are ignored).",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by tabmtl fit")
    p.add_argument("data", metavar="DATA", help="CSV or parquet file")
    p.add_argument(
        "--out", "-o", required=True, metavar="PREDICTIONS",
        help="output .parquet or .csv (- for CSV on stdout)",
    )
    p.add_argument(
        "--proba", action="store_true",
        help="add class probabilities: a column <target>_proba_<label> per class",
    )
    p.add_argument(
        "--keep", action="append", metavar="COL",
        help="copy a column of DATA (e.g. an id) into the output (repeatable)",
    )
    p.add_argument(
        "--stream", action="store_true",
        help="predict out of core from a parquet file, folder or glob, batch by batch, into "
        "a .parquet PREDICTIONS file (tabmtl.io._streaming.predict_parquet)",
    )
    p.add_argument(
        "--threads", type=positive_int,
        help="CPU threads for torch (default: 1, or $TABMTL_THREADS)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the predictions (and probabilities) ``args`` ask for; the exit code."""
    import pandas as pd

    from tabmtl.io._persistence import ModelFileError, load_model
    from tabmtl.io._prediction_columns import probability_columns

    if not Path(args.model).exists():
        raise UsageError(f"model file not found: {args.model!r}")
    try:
        est = load_model(args.model)
    except (ModelFileError, ValueError) as exc:
        raise UsageError(f"cannot load model {args.model!r}: {exc}") from None
    if args.stream:
        return _run_streamed(est, args)
    frame = read_table(args.data)
    if args.out != "-":
        table_format(Path(args.out))  # fail on a bad suffix before predicting
        check_writable(Path(args.out))
    features = [str(c) for c in getattr(est, "feature_names_in_", [])]
    if not features:
        raise UsageError(f"model {args.model!r} was not fitted on named columns")
    missing = [c for c in features if c not in map(str, frame.columns)]
    if missing:
        raise UsageError(
            f"{args.data!r} lacks feature column(s) the model needs: {missing!r}"
        )
    X = frame[[find_column(frame, c, "the model") for c in features]]
    keep = [find_column(frame, k, "--keep") for k in args.keep or ()]
    try:
        with thread_limit(args.threads):
            pred = est.predict(X)
            proba = est.predict_proba(X) if args.proba else {}
    except InputError as exc:  # tabmtl rejected the data; any other error is a bug
        raise UsageError(f"cannot predict on {args.data!r}: {exc}") from None
    parts = [frame[keep]] if keep else []
    parts.append(pred)
    if proba:
        parts.append(probability_columns(proba))
    out = pd.concat(parts, axis=1)
    clash = sorted({str(c) for c in out.columns[out.columns.duplicated()]})
    if clash:
        raise UsageError(f"--keep column(s) {clash!r} clash with prediction columns")
    where = write_table(out, args.out)
    message = f"wrote {len(out):,} rows x {out.shape[1]} columns to {where}"
    print(message, file=sys.stderr if args.out == "-" else sys.stdout)
    return EXIT_OK


def _run_streamed(est, args: argparse.Namespace) -> int:
    """``predict --stream``: record batches in, parquet row groups out, never the whole table."""
    import pyarrow.parquet as pq

    from tabmtl.io._streaming import predict_parquet

    out = Path(args.out)
    if args.out == "-" or table_format(out) != "parquet":
        raise UsageError(f"--stream writes parquet: --out {args.out!r} is not a .parquet file")
    check_writable(out)
    read_parquet_head(args.data, rows=1)  # a missing or non-parquet DATA: one line
    methods = ("predict", "predict_proba") if args.proba else ("predict",)
    try:
        with thread_limit(args.threads):
            predict_parquet(est, args.data, out, method=methods, keep_columns=args.keep or ())
    except InputError as exc:  # tabmtl rejected the data; any other error is a bug
        raise UsageError(f"cannot predict on {args.data!r}: {exc}") from None
    meta = pq.read_metadata(out)
    print(f"wrote {meta.num_rows:,} rows x {meta.num_columns} columns to {out}")
    return EXIT_OK
