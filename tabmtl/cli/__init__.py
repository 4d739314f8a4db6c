"""The ``tabmtl`` command line: fit, predict, evaluate and report on a table file.

::

    tabmtl fit DATA --target COL [--target COL ...] [--drop COL ...] [--config FILE] --out MODEL
    tabmtl predict MODEL DATA --out PREDICTIONS [--proba] [--keep COL ...]
    tabmtl evaluate DATA --target COL --target COL ... [--cv K] [--stratify COL] [--groups COL]
    tabmtl report DATA --target COL --target COL ... --out DIR

DATA is a CSV (``.csv``, ``.tsv``, optionally compressed: ``.csv.gz``) or parquet file
(``.parquet``, ``.pq``). Every column that is neither a target nor dropped is a feature.
Progress (epoch tables, progress bars, one line per cross-validation fit) goes to
stderr; results (tables, written paths) go to stdout.

Exit codes (stable, for scripts):

- 0: success (also ``fit`` stopped with Ctrl-C: the best epoch so far is saved);
- 1: unexpected error (a bug: the traceback is printed);
- 2: usage error or bad input: missing or unreadable file, unknown column, a column that
  cannot be a target, an invalid option or config value (one line naming the problem);
- 3: training diverged (``fit`` still saves the best epoch before it, when there is one);
- 4: ``evaluate`` / ``report`` with ``--fail-on-negative`` found negative transfer;
- 130: interrupted with Ctrl-C before anything could be saved.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_NEGATIVE_TRANSFER = 4
EXIT_INTERRUPTED = 130

#: File suffixes read and written as parquet; everything else must be CSV-like.
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")

#: A classification target with more distinct labels than this (and than half its
#: labelled rows) looks like an identifier or free text, not something to predict.
MAX_TARGET_CLASSES = 100


class UsageError(Exception):
    """Bad input or options: reported as one line, exit code 2."""


# -- reading and writing tables ------------------------------------------------------------


def _table_format(path: Path) -> str:
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
    tabmtl.cli.UsageError: file not found: 'no/such/file.csv'
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise UsageError(f"file not found: {str(path)!r}")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a directory, not a data file")
    fmt = _table_format(path)
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


def _write_table(frame, path: str) -> str:
    """Write ``frame`` as parquet or CSV by the suffix of ``path`` (``-``: CSV to stdout)."""
    if path == "-":
        frame.to_csv(sys.stdout, index=False)
        return "<stdout>"
    target = Path(path)
    fmt = _table_format(target)
    _check_writable(target)
    try:
        if fmt == "parquet":
            frame.to_parquet(target, index=False)
        else:
            frame.to_csv(target, index=False, sep="\t" if fmt == "tsv" else ",")
    except OSError as exc:
        raise UsageError(f"cannot write {str(target)!r}: {exc}") from None
    return str(target)


def _check_writable(path: Path) -> None:
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


def _column(frame, name: str, option: str) -> object:
    """The frame's column label matching ``name`` (CSV labels are strings already)."""
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
    from tabmtl.data.targets import TargetSpec

    name = column.name
    try:
        spec = TargetSpec(targets={name: kind} if kind else None).fit(column.to_frame())
    except (ValueError, TypeError) as exc:
        raise UsageError(f"column {str(name)!r} cannot be a target: {exc}") from None
    task = spec.tasks_[0]
    classes = getattr(task, "classes_", None)
    if classes is not None:
        labelled = int(column.notna().sum())
        if len(classes) > MAX_TARGET_CLASSES and len(classes) > labelled / 2:
            raise UsageError(
                f"column {str(name)!r} cannot be a target: it has {len(classes)} distinct "
                f"labels in {labelled} labelled rows, like an identifier or free text. "
                "If it is a number to predict, pass --target-kind "
                f"{name}=regression."
            )
    return task.kind


def _parse_assignments(items: Sequence[str] | None, option: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{option} expects NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def _read_parquet_head(source: str, rows: int = 10_000):
    """The first ``rows`` rows of a parquet file, folder or glob (for ``fit --stream``)."""
    from tabmtl.io.streaming import _as_dataset

    try:
        return _as_dataset(source).head(rows).to_pandas()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # pyarrow's errors for a non-parquet input vary
        raise UsageError(
            f"cannot read {source!r} as parquet (--stream needs parquet): {exc}"
        ) from None


def _split_columns(frame, args, extra_excluded: Sequence[str] = ()):
    """Features and targets of ``frame`` from ``--target``, ``--drop`` and ``--target-kind``.

    Returns
    -------
    X, Y : pandas.DataFrame
    kinds : dict
        Declared kinds (``--target-kind``), target label -> kind.
    """
    from tabmtl.data.targets import KIND_NAMES

    if not args.target:
        raise UsageError("no target: pass --target COL (once per target column)")
    targets = [_column(frame, t, "--target") for t in args.target]
    repeated = sorted({str(t) for t in targets if targets.count(t) > 1})
    if repeated:
        raise UsageError(f"column(s) {repeated!r} given more than once to --target")
    dropped = [_column(frame, d, "--drop") for d in args.drop or ()]
    both = [str(t) for t in targets if t in dropped]
    if both:
        raise UsageError(f"column(s) {both!r} are both a --target and dropped with --drop")
    declared = {}
    for name, kind in _parse_assignments(args.target_kind, "--target-kind").items():
        label = _column(frame, name, "--target-kind")
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


# -- estimator options ---------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer widths such as 128,64; got {text!r}"
        )
    return sizes


#: CLI option dest -> MultiTaskEstimator parameter.
_ESTIMATOR_OPTIONS = {
    "architecture": "architecture",
    "weighting": "weighting",
    "hidden": "hidden_layer_sizes",
    "dropout": "dropout",
    "max_epochs": "max_epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "early_stopping": "early_stopping",
    "validation_fraction": "validation_fraction",
    "patience": "patience",
    "class_weight": "class_weight",
    "random_state": "random_state",
    "device": "device",
}


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA", help="CSV or parquet file")
    p.add_argument(
        "--target", "-t", action="append", metavar="COL",
        help="a target column (repeat for several targets)",
    )
    p.add_argument(
        "--drop", action="append", metavar="COL",
        help="a column that is neither feature nor target, e.g. an id (repeatable)",
    )
    p.add_argument(
        "--target-kind", action="append", metavar="COL=KIND",
        help="declare a target's kind instead of inferring it from the dtype: regression, "
        "binary, multiclass, classification (and gaussian, quantile where available)",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    from tabmtl import ARCHITECTURES, WEIGHTINGS

    g = p.add_argument_group(
        "model (MultiTaskEstimator parameters; these override --config)"
    )
    g.add_argument(
        "--config", metavar="FILE",
        help="JSON (or TOML) file of MultiTaskEstimator parameters, e.g. "
        '{"hidden_layer_sizes": [64, 32], "weighting": {"eta": 1.0, "fare": 0.5}}',
    )
    g.add_argument("--architecture", choices=list(ARCHITECTURES), help="default: soft")
    g.add_argument(
        "--weighting", choices=list(WEIGHTINGS),
        help="how task losses are combined (default: equal; fixed per-target weights via "
        "--config)",
    )
    g.add_argument(
        "--hidden", type=_hidden_sizes, metavar="W1,W2,...",
        help="hidden layer widths (default: 128,64)",
    )
    g.add_argument("--dropout", type=float, help="default: 0.1")
    g.add_argument("--max-epochs", type=_positive_int, help="default: 100")
    g.add_argument("--batch-size", type=_positive_int, help="default: 256")
    g.add_argument("--lr", type=float, help="AdamW learning rate (default: 1e-3)")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: 0)")
    g.add_argument(
        "--early-stopping", action=argparse.BooleanOptionalAction, default=None,
        help="hold out --validation-fraction of the rows and stop when their loss stalls",
    )
    g.add_argument("--validation-fraction", type=float, help="default: 0.1")
    g.add_argument("--patience", type=_positive_int, help="default: 10")
    g.add_argument(
        "--class-weight", choices=["balanced"],
        help="balance the classes of every classification target's loss",
    )
    g.add_argument("--random-state", type=int, help="seed (default: 0 on the command line)")
    g.add_argument("--device", help='torch device, e.g. "cuda" (default: cpu)')
    g.add_argument(
        "--threads", type=_positive_int,
        help="CPU threads for torch and the gradient-boosting baseline (default: all)",
    )


def _load_config(path: str | None) -> dict:
    """Estimator parameters from a JSON or TOML file; keys are checked, values later."""
    if path is None:
        return {}
    from tabmtl.estimators import MultiTaskEstimator

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"config file not found: {path!r}")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise UsageError("TOML config files need Python 3.11+; use JSON") from None
            config = tomllib.loads(text)
        else:
            config = json.loads(text)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and TOMLDecodeError
        raise UsageError(f"config file {path!r} is not valid: {exc}") from None
    if not isinstance(config, dict):
        raise UsageError(f"config file {path!r} must hold an object of parameter: value pairs")
    valid = set(MultiTaskEstimator().get_params(deep=False)) - {"callbacks", "verbose"}
    unknown = sorted(set(config) - valid)
    if unknown:
        raise UsageError(
            f"config file {path!r}: unknown parameter(s) {unknown!r}; valid ones are "
            f"{sorted(valid)!r}"
        )
    if isinstance(config.get("hidden_layer_sizes"), list):
        config["hidden_layer_sizes"] = tuple(config["hidden_layer_sizes"])
    return config


def _build_estimator(args, declared_kinds: dict):
    """A MultiTaskEstimator from ``--config``, then the command-line options over it."""
    from tabmtl.estimators import MultiTaskEstimator

    params = {"random_state": 0}  # reproducible by default on the command line
    params.update(_load_config(getattr(args, "config", None)))
    for dest, param in _ESTIMATOR_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            params[param] = value
    if declared_kinds:
        params["targets"] = {**(params.get("targets") or {}), **declared_kinds}
    try:
        est = MultiTaskEstimator(**params)
        est._begin_fit()  # ranges (dropout, epochs, ...) before any data is processed
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid model parameters: {exc}") from None
    return est


def _describe_estimator(est) -> str:
    """The parameters that define the networks: the main ones and any non-default."""
    from tabmtl.estimators import MultiTaskEstimator

    defaults = MultiTaskEstimator().get_params(deep=False)
    shown = ["architecture", "weighting", "hidden_layer_sizes", "dropout", "max_epochs",
             "batch_size", "lr", "random_state"]
    params = est.get_params(deep=False)
    extra = [
        k for k, v in params.items()
        if k not in shown and k not in ("verbose", "callbacks") and v != defaults[k]
    ]
    return ", ".join(f"{k}={params[k]!r}" for k in shown + extra)


@contextlib.contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)


class _InterruptFlag:
    """Ctrl-C handler that records the interrupt, then raises KeyboardInterrupt as usual
    (skorch's training loop catches it and ends training after the current batch)."""

    def __init__(self):
        self.raised = False

    def __call__(self, signum, frame):
        self.raised = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def _watch_interrupt() -> Iterator[_InterruptFlag]:
    flag = _InterruptFlag()
    try:
        previous = signal.signal(signal.SIGINT, flag)
    except ValueError:  # not the main thread: no handler, Ctrl-C cannot reach us anyway
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- fit -----------------------------------------------------------------------------------


def _finish_interrupted(est) -> int | None:
    """After Ctrl-C in training: drop the unfinished epoch's history row and load the best
    epoch's weights; its number, or None if no epoch finished."""
    import torch

    net = est.net_
    history = net.history
    if len(history) and "train_loss" not in history[-1]:
        del history[-1]  # the epoch that was cut short logged batches but no losses
    best_weights = dict(net.callbacks_)["best_weights"]
    # BestWeights holds the latest best epoch as a "candidate" until the next batch shows
    # its weights give a finite loss (a guard against divergence). Ctrl-C may land before
    # that batch; weights that are all finite are then as good as verified.
    candidate = getattr(best_weights, "candidate_", None)
    if candidate is not None:
        state = candidate[2]
        tensors = [t for part in state.values() for t in part.values() if torch.is_tensor(t)]
        if all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point()):
            best_weights.best_, best_weights.epoch_, best_weights.state_ = candidate
            best_weights.candidate_ = None
    best = best_weights.restore(net)
    est.n_epochs_ = len(history)
    return best


def _cmd_fit(args) -> int:
    from tabmtl.io.persistence import save_model
    from tabmtl.training.net import TrainingDiverged

    if args.stream:
        # out of core: columns and target kinds are checked on the first rows only; the
        # fit reads record batches (tabmtl.io.streaming.fit_parquet), never the whole table
        frame = _read_parquet_head(args.data)
    else:
        frame = read_table(args.data)
    X, Y, kinds = _split_columns(frame, args)
    est = _build_estimator(args, kinds)
    est.set_params(verbose=0 if args.quiet else 1)
    out = Path(args.out)
    _check_writable(out)
    rows = "streamed rows" if args.stream else f"{len(X):,} rows"
    _say(
        f"fitting {len(Y.columns)} target(s) on {rows} x {X.shape[1]} features: "
        f"{_describe_estimator(est)}"
    )
    diverged = None
    t0 = time.perf_counter()
    with (
        _thread_limit(args.threads),
        contextlib.redirect_stdout(sys.stderr),  # skorch prints its epoch table
        _watch_interrupt() as interrupt,
    ):
        try:
            if args.stream:
                from tabmtl.io.streaming import fit_parquet

                fit_parquet(est, args.data, list(Y.columns), features=list(X.columns))
            else:
                est.fit(X, Y)
        except TrainingDiverged as exc:
            diverged = exc
        except KeyboardInterrupt:
            _say("interrupted before training started; nothing saved")
            return EXIT_INTERRUPTED
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
    seconds = time.perf_counter() - t0
    note = ""
    if diverged is not None:
        _say(f"error: {diverged}")
        if not hasattr(est, "net_"):
            return EXIT_DIVERGED
        note = " (training diverged: this is the best epoch before it)"
    elif interrupt.raised:
        best = _finish_interrupted(est)
        if best is None:
            _say("interrupted before the first epoch finished; nothing saved")
            return EXIT_INTERRUPTED
        monitor = "validation" if est.early_stopping else "training"
        _say(  # on a line of its own: a progress bar may have left the cursor mid-line
            f"\ninterrupted after {est.n_epochs_} epoch(s): restored epoch {best}, the best "
            f"{monitor} loss so far, and saving it"
        )
        note = f" (interrupted: best epoch {best} of {est.n_epochs_})"
    try:
        written = save_model(est, out)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r}: {exc}") from None
    last = est.history_[-1]
    losses = ", ".join(
        f"{t.name} {last.get(f'train_loss_{t.name}', float('nan')):.4f}"
        for t in est.target_spec_.tasks_
    )
    print(f"saved {written}{note}")
    print(
        "targets: "
        + ", ".join(f"{t.name} ({t.kind})" for t in est.target_spec_.tasks_)
        + f"; {X.shape[1]} features; {est.n_epochs_} epochs in {seconds:.1f}s"
    )
    print(f"last epoch's training loss per task: {losses}")
    return EXIT_DIVERGED if diverged is not None else EXIT_OK


# -- predict -------------------------------------------------------------------------------


def _cmd_predict(args) -> int:
    import pandas as pd

    from tabmtl.io.persistence import ModelFileError, load_model

    if not Path(args.model).exists():
        raise UsageError(f"model file not found: {args.model!r}")
    try:
        est = load_model(args.model)
    except (ModelFileError, ValueError) as exc:
        raise UsageError(f"cannot load model {args.model!r}: {exc}") from None
    frame = read_table(args.data)
    if args.out != "-":
        _table_format(Path(args.out))  # fail on a bad suffix before predicting
        _check_writable(Path(args.out))
    features = [str(c) for c in getattr(est, "feature_names_in_", [])]
    if not features:
        raise UsageError(f"model {args.model!r} was not fitted on named columns")
    missing = [c for c in features if c not in map(str, frame.columns)]
    if missing:
        raise UsageError(
            f"{args.data!r} lacks feature column(s) the model needs: {missing!r}"
        )
    X = frame[[_column(frame, c, "the model") for c in features]]
    keep = [_column(frame, k, "--keep") for k in args.keep or ()]
    try:
        with _thread_limit(args.threads):
            pred = est.predict(X)
            proba = est.predict_proba(X) if args.proba else {}
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot predict on {args.data!r}: {exc}") from None
    parts = [frame[keep]] if keep else []
    parts.append(pred)
    for name, p in proba.items():
        parts.append(p.set_axis([f"{name}_proba_{c}" for c in p.columns], axis=1))
    out = pd.concat(parts, axis=1)
    clash = sorted({str(c) for c in out.columns[out.columns.duplicated()]})
    if clash:
        raise UsageError(f"--keep column(s) {clash!r} clash with prediction columns")
    where = _write_table(out, args.out)
    message = f"wrote {len(out):,} rows x {out.shape[1]} columns to {where}"
    print(message, file=sys.stderr if args.out == "-" else sys.stdout)
    return EXIT_OK


# -- evaluate and report -------------------------------------------------------------------


def _parse_metrics(specs: Sequence[str] | None, spec) -> dict[str, str]:
    """``--metric`` values -> ``resolve_metrics`` input.

    ``NAME`` applies to every target kind it fits (``roc_auc``: the classification
    targets; ``neg_rmse``: the regression ones); ``KEY=NAME`` sets it for one target or
    one kind.
    """
    from tabmtl.evaluation.metrics import metric_names
    from tabmtl.evaluation.transfer import _REGRESSION_METRICS, is_regression_task

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
        fits = [
            t.kind for t in spec.tasks_
            if is_regression_task(t) == (name in _REGRESSION_METRICS)
        ]
        if not fits:
            raise UsageError(f"metric {name!r} applies to none of the targets")
        out.update(dict.fromkeys(fits, name))
    return out


def _run_transfer(args, command: str):
    from tabmtl.data.targets import TargetSpec
    from tabmtl.evaluation.transfer import cross_validate_transfer, resolve_metrics
    from tabmtl.training.net import TrainingDiverged

    frame = read_table(args.data)
    groups = stratify = None
    extra_excluded = []
    if args.groups:
        label = _column(frame, args.groups, "--groups")
        groups = frame[label]
        extra_excluded.append(label)  # an id that decides folds must not be a feature
    X, Y, kinds = _split_columns(frame, args, extra_excluded)
    if Y.shape[1] < 2:
        raise UsageError(f"{command} compares multi-task with single-task: give 2+ targets")
    if args.stratify:
        stratify = frame[_column(frame, args.stratify, "--stratify")]
    est = _build_estimator(args, kinds)
    try:
        spec = TargetSpec(targets=est.targets).fit(Y)
        metrics = _parse_metrics(args.metric, spec)
        resolve_metrics(spec, metrics)  # check before hours of fitting
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    k, t = args.cv, Y.shape[1]
    n_fits = k * (1 + t * (1 if args.no_baseline else 2))
    plan = f"{command}: {n_fits} fits ({k} folds)"
    if args.grouping:
        plan += (
            f" + {k * t * (t - 1) // 2} pairwise fits + up to {k * (t // 2)} to verify the "
            "recommended groups"
        )
    if not args.quiet:
        _say(f"{plan}; progress below")
    log = None if args.quiet else _say
    t0 = time.perf_counter()
    try:
        with _thread_limit(args.threads):
            result = cross_validate_transfer(
                X, Y, est, cv=k, stratify=stratify, groups=groups, metrics=metrics,
                baseline=not args.no_baseline, grouping=args.grouping,
                random_state=est.random_state if est.random_state is not None else 0,
                log=log,
            )
    except TrainingDiverged as exc:
        raise _Diverged(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    header = [
        f"tabmtl {command}: {Path(args.data).name}: {len(X):,} rows, {X.shape[1]} features, "
        f"{Y.shape[1]} targets; {result.cv_description}; "
        f"{time.perf_counter() - t0:.0f}s",
        f"multi-task and single-task models: MultiTaskEstimator({_describe_estimator(est)})",
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


class _Diverged(Exception):
    pass


def _print_result(result, header: list[str]) -> None:
    print("\n".join(header))
    print()
    print(result.to_markdown())
    print()
    print(result.verdict())
    if result.grouping is not None:
        print()
        print(result.grouping.describe())


def _cmd_evaluate(args) -> int:
    result, header = _run_transfer(args, "evaluate")
    _print_result(result, header)
    if args.scores_csv:
        print(f"fold scores: {_write_table(result.scores, args.scores_csv)}")
    if args.fail_on_negative and result.negative_transfer:
        return EXIT_NEGATIVE_TRANSFER
    return EXIT_OK


def _cmd_report(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("tabmtl report draws with matplotlib: pip install matplotlib") from None
    from tabmtl.evaluation.report import write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} exists and is not a directory")
    result, header = _run_transfer(args, "report")
    _print_result(result, header)
    command = "tabmtl " + " ".join(shlex.quote(a) for a in args.argv)
    files = write_report(result, out, title=f"tabmtl report: {Path(args.data).name}",
                         command=command, details=header)
    print()
    print(f"report: {files['html']}")
    print("files: " + ", ".join(str(p.name) for k, p in files.items() if k != "html"))
    if args.fail_on_negative and result.negative_transfer:
        return EXIT_NEGATIVE_TRANSFER
    return EXIT_OK


# -- the parser ----------------------------------------------------------------------------


def _add_cv_options(p: argparse.ArgumentParser) -> None:
    from tabmtl.evaluation.metrics import metric_names

    g = p.add_argument_group("cross-validation")
    g.add_argument("--cv", type=_positive_int, default=5, metavar="K", help="folds (default: 5)")
    g.add_argument(
        "--stratify", metavar="COL",
        help="keep COL's label proportions in every fold (numbers are binned by quantile)",
    )
    g.add_argument(
        "--groups", metavar="COL",
        help="rows with the same COL value (e.g. a patient id) stay in one fold; COL is "
        "not used as a feature",
    )
    g.add_argument(
        "--metric", action="append", metavar="[KEY=]NAME",
        help=f"score with NAME ({', '.join(metric_names())}): for every target it fits, or "
        "KEY=NAME for one target or kind (default: r2 for regression, accuracy for "
        "classification)",
    )
    g.add_argument(
        "--no-baseline", action="store_true",
        help="skip the HistGradientBoosting baseline per target",
    )
    g.add_argument(
        "--grouping", action="store_true",
        help="also fit a model per pair of targets and recommend which tasks to train "
        "together; costs T(T-1)/2 x K more fits for T targets, plus one per recommended "
        "group and fold to verify it",
    )
    g.add_argument(
        "--fail-on-negative", action="store_true",
        help=f"exit with code {EXIT_NEGATIVE_TRANSFER} if any task shows negative transfer",
    )
    g.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tabmtl",
        description="Multi-target prediction on a table: fit one multi-task network, "
        "predict, and measure whether training the targets together helps each of them.",
        epilog="Exit codes: 0 ok; 1 unexpected error; 2 bad input or usage; 3 training "
        "diverged; 4 negative transfer with --fail-on-negative; 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "fit", help="fit a model on DATA and save it",
        description="Fit one multi-task network on DATA and save it (a .tabmtl file). "
        "Ctrl-C stops training and saves the best epoch so far.",
    )
    _add_data_options(p)
    p.add_argument("--out", "-o", required=True, metavar="MODEL", help="model file (.tabmtl)")
    p.add_argument("--quiet", "-q", action="store_true", help="no epoch table or progress bar")
    p.add_argument(
        "--stream", action="store_true",
        help="train out of core from a parquet file, folder or glob, reading record batches "
        "(preprocessing fitted on a bounded reservoir sample; see tabmtl.io.streaming)",
    )
    _add_model_options(p)
    p.set_defaults(handler=_cmd_fit)

    p = sub.add_parser(
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
    p.add_argument("--threads", type=_positive_int, help="CPU threads for torch")
    p.set_defaults(handler=_cmd_predict)

    p = sub.add_parser(
        "evaluate", help="cross-validate multi-task vs single-task vs gradient boosting",
        description="K-fold cross-validation, on the same folds, of one multi-task network "
        "for all targets, single-task networks of the same architecture, and a "
        "HistGradientBoosting model per target. Prints per task each model's score ± std "
        "and the multi-task gain, flagging negative transfer.",
    )
    _add_data_options(p)
    _add_cv_options(p)
    p.add_argument("--scores-csv", metavar="FILE", help="also write every fold's scores")
    _add_model_options(p)
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser(
        "report", help="evaluate, plus plots and a self-contained HTML page",
        description="Everything evaluate does, plus plots (learning curves per task, task "
        "weights, gain bars, predicted vs actual, calibration) as PNGs and report.html.",
    )
    _add_data_options(p)
    _add_cv_options(p)
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    _add_model_options(p)
    p.set_defaults(handler=_cmd_report)
    return parser


def _safe_streams() -> None:
    """Never crash on a terminal that cannot show ± or ⚠: replace what it cannot encode."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Run the ``tabmtl`` command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code (see the module docstring).

    Examples
    --------
    >>> main(["predict", "missing.tabmtl", "data.csv", "--out", "p.csv"])  # doctest: +SKIP
    tabmtl predict: error: model file not found: 'missing.tabmtl'
    2
    """
    _safe_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.argv = argv
    try:
        return args.handler(args)
    except UsageError as exc:
        _say(f"tabmtl {args.command}: error: {exc}")
        return EXIT_USAGE
    except _Diverged as exc:
        _say(f"tabmtl {args.command}: error: {exc}")
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        _say(f"tabmtl {args.command}: interrupted; nothing written")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `tabmtl predict ... --out - | head`
        # Python's advice on EPIPE: point stdout at devnull so the exit flush cannot fail
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception:
        traceback.print_exc()
        _say(f"tabmtl {args.command}: unexpected error (please report it with the traceback)")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
