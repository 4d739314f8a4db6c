"""Tables on the command line: reading and writing CSV / parquet files, and choosing the
feature and target columns of a table from ``--target``, ``--drop`` and ``--target-kind``."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from tabmtl._cli.errors import UsageError

#: File suffixes read and written as parquet; everything else must be CSV-like.
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")


# -- reading and writing tables ------------------------------------------------------------


def table_format(path: Path) -> str:
    """``"parquet"``, ``"csv"`` or ``"tsv"`` by the suffix of ``path``; UsageError if none fits.

    Examples
    --------
    >>> table_format(Path("scores.csv.gz"))
    'csv'
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in PARQUET_SUFFIXES:
        return "parquet"
    if last in CSV_SUFFIXES:
        return "tsv" if last == ".tsv" else "csv"
    raise UsageError(
        f"cannot tell the format of {str(path)!r} from its suffix; use .csv, .tsv or "
        ".parquet (CSV may be compressed, e.g. .csv.gz)."
    )


def read_table(path: str | Path):
    """Read a CSV or parquet file into a DataFrame, with errors a user can act on.

    Parameters
    ----------
    path : str or Path
        ``.csv`` / ``.tsv`` (optionally ``.gz``, ``.bz2``, ``.zip``, ``.xz``, ``.zst``)
        or ``.parquet`` / ``.pq``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    UsageError
        Missing file, unknown format, unreadable or empty table.

    Examples
    --------
    >>> read_table("no/such/file.csv")
    Traceback (most recent call last):
    ...
    tabmtl._cli.errors.UsageError: file not found: 'no/such/file.csv'
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise UsageError(f"file not found: {str(path)!r}")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a directory, not a data file")
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except Exception as exc:  # parser errors come in many types; all mean "unreadable"
        raise UsageError(f"cannot read {str(path)!r}: {type(exc).__name__}: {exc}") from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise UsageError(f"{str(path)!r} has no rows or no columns")
    if frame.columns.duplicated().any():
        dup = list(frame.columns[frame.columns.duplicated()].unique())
        raise UsageError(f"{str(path)!r} has duplicated column names {dup!r}")
    return frame


def write_table(frame, path: str) -> str:
    """Write ``frame`` as parquet or CSV by the suffix of ``path`` (``-``: CSV to stdout).

    Returns
    -------
    str
        Where it went: the path, or ``"<stdout>"``.

    Examples
    --------
    >>> import pandas as pd
    >>> write_table(pd.DataFrame({"a": [1]}), "-")
    a
    1
    '<stdout>'
    """
    if path == "-":
        frame.to_csv(sys.stdout, index=False)
        return "<stdout>"
    target = Path(path)
    fmt = table_format(target)
    check_writable(target)
    try:
        if fmt == "parquet":
            frame.to_parquet(target, index=False)
        else:
            frame.to_csv(target, index=False, sep="\t" if fmt == "tsv" else ",")
    except OSError as exc:
        raise UsageError(f"cannot write {str(target)!r}: {exc}") from None
    return str(target)


def check_writable(path: Path) -> None:
    """UsageError unless ``path`` can be written: its folder exists and it is no folder.

    Examples
    --------
    >>> check_writable(Path("model.tabmtl"))
    """
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist")
    if path.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: it is a directory")


# -- columns and targets -------------------------------------------------------------------


def _unknown_column(name: str, option: str, columns: Sequence) -> UsageError:
    names = [str(c) for c in columns]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    return UsageError(f"unknown column {name!r} given to {option}.{hint} The table has: {shown}")


def groups_column(frame, name: str | None) -> tuple[object, list]:
    """``--groups``: the unit id column (None without the option) and the columns it
    takes out of the features (an id that decides folds or validation rows is no
    feature)."""
    if not name:
        return None, []
    label = find_column(frame, name, "--groups")
    return frame[label], [label]


def find_column(frame, name: str, option: str) -> object:
    """The frame's column label matching ``name`` (CSV labels are strings already).

    A name that matches no column raises UsageError naming ``option`` and the closest
    column names.

    Examples
    --------
    >>> import pandas as pd
    >>> find_column(pd.DataFrame({2024: [1]}), "2024", "--target")
    2024
    """
    for c in frame.columns:
        if str(c) == name:
            return c
    raise _unknown_column(name, option, frame.columns)


def check_target(column, kind: str | None = None) -> str:
    """The kind a column would have as a target; UsageError if it cannot be one.

    Parameters
    ----------
    column : pandas.Series
        The candidate target column.
    kind : str, optional
        A declared kind (``--target-kind``), else the kind is inferred from the dtype.

    Returns
    -------
    str
        The task kind ("regression", "binary", "multiclass", ...).

    Examples
    --------
    >>> import pandas as pd
    >>> check_target(pd.Series([1.5, 2.0, 3.5], name="y"))
    'regression'
    """
    from tabmtl._data.targets import TargetSpec

    name = column.name
    try:
        spec = TargetSpec(targets={name: kind} if kind else None).fit(column.to_frame())
    except (ValueError, TypeError) as exc:
        raise UsageError(f"column {str(name)!r} cannot be a target: {exc}") from None
    # the library's own rules (an identifier-like label column is refused there too:
    # tabmtl._data.targets.check_label_count), reported as bad input
    return spec.tasks_[0].kind


def _parse_assignments(items: Sequence[str] | None, option: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{option} expects NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def read_parquet_head(source: str, rows: int = 10_000):
    """The first ``rows`` rows of a parquet file, folder or glob (for ``fit --stream``).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> read_parquet_head("data/*.parquet")  # doctest: +SKIP
    """
    try:
        from tabmtl.io._parquet import ParquetSource, to_frame

        # bounded: the dataset's own head() reads row groups ahead, memory that grows
        # with the file (the whole of a 10-row-group file for 10,000 rows)
        return to_frame(ParquetSource(source).head(rows))
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # pyarrow's errors for a non-parquet input vary
        raise UsageError(
            f"cannot read {source!r} as parquet (--stream needs parquet): {exc}"
        ) from None


def split_columns(frame, args, extra_excluded: Sequence[str] = ()):
    """Features and targets of ``frame`` from ``--target``, ``--drop`` and ``--target-kind``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The whole table.
    args : argparse.Namespace
        Parsed options with ``target``, ``drop`` and ``target_kind``.
    extra_excluded : sequence of labels
        Columns that are no features either (e.g. ``--groups``).

    Returns
    -------
    X, Y : pandas.DataFrame
    kinds : dict
        Declared kinds (``--target-kind``), target label -> kind.
    """
    from tabmtl._data.targets import KIND_NAMES

    if not args.target:
        raise UsageError("no target: pass --target COL (once per target column)")
    targets = [find_column(frame, t, "--target") for t in args.target]
    repeated = sorted({str(t) for t in targets if targets.count(t) > 1})
    if repeated:
        raise UsageError(f"column(s) {repeated!r} given more than once to --target")
    dropped = [find_column(frame, d, "--drop") for d in args.drop or ()]
    both = [str(t) for t in targets if t in dropped]
    if both:
        raise UsageError(f"column(s) {both!r} are both a --target and dropped with --drop")
    declared = {}
    for name, kind in _parse_assignments(args.target_kind, "--target-kind").items():
        label = find_column(frame, name, "--target-kind")
        if label not in targets:
            raise UsageError(f"--target-kind names {name!r}, which is not a --target")
        if kind not in KIND_NAMES:
            raise UsageError(
                f"--target-kind {name}={kind}: unknown kind; choose from {', '.join(KIND_NAMES)}"
            )
        declared[label] = kind
    for t in targets:
        check_target(frame[t], declared.get(t))
    excluded = set(targets) | set(dropped) | set(extra_excluded)
    features = [c for c in frame.columns if c not in excluded]
    if not features:
        raise UsageError("no feature columns left after removing the targets and --drop")
    return frame[features], frame[targets], declared


