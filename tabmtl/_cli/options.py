"""Options shared by the commands: the data and model options, the cross-validation
options, the ``--config`` file, and the estimator they build."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tabmtl._cli.errors import EXIT_NEGATIVE_TRANSFER, UsageError
from tabmtl._cli.names import ARCHITECTURE_NAMES, METRIC_NAMES, WEIGHTING_NAMES

# -- option types and groups ---------------------------------------------------------------


def positive_int(text: str) -> int:
    """An argparse ``type``: ``text`` as an integer of at least 1.

    Examples
    --------
    >>> positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _hidden_sizes(text: str) -> tuple[int, ...]:
    """An argparse ``type``: ``"128,64"`` -> ``(128, 64)``."""
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
    "auxiliary": "auxiliary",
    "auxiliary_weight": "auxiliary_weight",
    "random_state": "random_state",
    "device": "device",
}


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Add DATA, ``--target``, ``--drop`` and ``--target-kind`` to a command's parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_data_options(parser)
    >>> parser.parse_args(["t.csv", "-t", "y"]).target
    ['y']
    """
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


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Add ``--config``, the MultiTaskEstimator options and ``--threads`` to a parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_model_options(parser)
    >>> parser.parse_args(["--hidden", "16,8"]).hidden
    (16, 8)
    """
    g = p.add_argument_group(
        "model (MultiTaskEstimator parameters; these override --config)"
    )
    g.add_argument(
        "--config", metavar="FILE",
        help="JSON (or TOML) file of MultiTaskEstimator parameters, e.g. "
        '{"hidden_layer_sizes": [64, 32], "weighting": {"eta": 1.0, "fare": 0.5}}',
    )
    g.add_argument("--architecture", choices=ARCHITECTURE_NAMES, help="default: mmoe")
    g.add_argument(
        "--weighting", choices=WEIGHTING_NAMES,
        help="how task losses are combined (default: equal; fixed per-target weights via "
        "--config)",
    )
    g.add_argument(
        "--hidden", type=_hidden_sizes, metavar="W1,W2,...",
        help="hidden layer widths (default: 128,64)",
    )
    g.add_argument("--dropout", type=float, help="default: 0.1")
    g.add_argument("--max-epochs", type=positive_int, help="default: 200")
    g.add_argument("--batch-size", type=positive_int, help="default: 256")
    g.add_argument("--lr", type=float, help="AdamW learning rate (default: 1e-3)")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: 0)")
    g.add_argument(
        "--early-stopping", action=argparse.BooleanOptionalAction, default=None,
        help="hold out --validation-fraction of the rows and stop when their loss stalls "
        "(default: from 200 training rows on)",
    )
    g.add_argument("--validation-fraction", type=float, help="default: 0.1")
    g.add_argument("--patience", type=positive_int, help="default: auto (6 epochs, more "
                   "when an epoch has under 3 batches)")
    g.add_argument(
        "--class-weight", choices=["balanced"],
        help="balance the classes of every classification target's loss",
    )
    g.add_argument("--random-state", type=int, help="seed (default: 0 on the command line)")
    g.add_argument("--device", help='torch device, e.g. "cuda" (default: cpu)')
    g.add_argument(
        "--threads", type=positive_int,
        help="CPU threads for torch and the gradient-boosting baseline (default: 1, or "
        "$TABMTL_THREADS; measured faster than one per core for these small networks, "
        "many times so on a busy machine)",
    )


def add_auxiliary_options(p: argparse.ArgumentParser) -> None:
    """Add ``--auxiliary COL`` (repeatable) and ``--auxiliary-weight W`` to a parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_auxiliary_options(parser)
    >>> parser.parse_args(["--auxiliary", "a", "--auxiliary", "b"]).auxiliary
    ['a', 'b']
    """
    g = p.add_argument_group("auxiliary targets (see docs/auxiliary.md)")
    g.add_argument(
        "--auxiliary", action="append", metavar="COL",
        help="a target column that only helps train the others (repeatable; it need not "
        "be given with --target too): trained on, but not predicted, scored or "
        "early-stopped on",
    )
    g.add_argument(
        "--auxiliary-weight", type=float, metavar="W",
        help="factor on the auxiliary targets' losses (default: 0.5)",
    )


def include_auxiliary_targets(args: argparse.Namespace) -> None:
    """Make every ``--auxiliary`` column a ``--target`` too (in place).

    Examples
    --------
    >>> args = argparse.Namespace(target=["y"], auxiliary=["lab", "y"])
    >>> include_auxiliary_targets(args); args.target
    ['y', 'lab']
    """
    auxiliary = getattr(args, "auxiliary", None) or []
    targets = list(args.target or [])
    args.target = targets + [a for a in auxiliary if a not in targets]


def add_metric_option(parser) -> None:
    """Add ``--metric [KEY=]NAME`` (repeatable; see ``tabmtl._cli.evaluate.parse_metrics``)."""
    parser.add_argument(
        "--metric", action="append", metavar="[KEY=]NAME",
        help=f"score with NAME ({', '.join(METRIC_NAMES)}): for every target it fits, or "
        "KEY=NAME for one target or kind (default: r2 for regression, accuracy for "
        "classification)",
    )


def add_cv_options(p: argparse.ArgumentParser) -> None:
    """Add the cross-validation options of ``evaluate`` and ``report`` to a parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_cv_options(parser)
    >>> parser.parse_args(["--cv", "3"]).cv
    3
    """

    g = p.add_argument_group("cross-validation")
    g.add_argument("--cv", type=positive_int, default=5, metavar="K", help="folds (default: 5)")
    g.add_argument(
        "--stratify", metavar="COL",
        help="keep COL's label proportions in every fold (numbers are binned by quantile)",
    )
    g.add_argument(
        "--groups", metavar="COL",
        help="rows with the same COL value (e.g. a patient id) stay in one fold, and every "
        "fit's early stopping holds out whole units; COL is not used as a feature",
    )
    add_metric_option(g)
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


# -- the estimator they build --------------------------------------------------------------


def _load_config(path: str | None) -> dict:
    """Estimator parameters from a JSON or TOML file; keys are checked, values later."""
    if path is None:
        return {}
    from tabmtl._estimators import MultiTaskEstimator

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
    from tabmtl.tuning._params import COMPONENTS, component_settings, estimator_params

    defaults = MultiTaskEstimator().get_params(deep=False)
    valid = set(defaults) - {"callbacks", "verbose"}
    # a component's own settings (numeric_embedding__d_embedding), as tabmtl tune writes
    settings = set().union(*(component_settings(c) for c in COMPONENTS))
    unknown = sorted(set(config) - valid - settings)
    if unknown:
        raise UsageError(
            f"config file {path!r}: unknown parameter(s) {unknown!r}; valid ones are "
            f"{sorted(valid)!r} and a component's settings such as "
            "'numeric_embedding__d_embedding'"
        )
    try:
        return estimator_params(config, defaults)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config file {path!r}: {exc}") from None


def build_estimator(args: argparse.Namespace, declared_kinds: dict):
    """A MultiTaskEstimator from ``--config``, then the command-line options over it.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed model options (see :func:`add_model_options`).
    declared_kinds : dict
        Target label -> kind from ``--target-kind``; merged into ``targets``.

    Returns
    -------
    MultiTaskEstimator
        Unfitted, its parameters already validated (UsageError if one is invalid).

    Examples
    --------
    >>> args = argparse.Namespace(hidden=(8,), max_epochs=2)
    >>> build_estimator(args, {}).hidden_layer_sizes
    (8,)
    """
    from tabmtl._estimators import MultiTaskEstimator

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


def describe_estimator(est) -> str:
    """The parameters that define the networks: the main ones and any non-default.

    Examples
    --------
    >>> from tabmtl._estimators import MultiTaskEstimator
    >>> describe_estimator(MultiTaskEstimator())  # doctest: +ELLIPSIS
    "architecture='mmoe', weighting='equal', hidden_layer_sizes=(128, 64), ..."
    """
    from tabmtl._estimators import MultiTaskEstimator

    defaults = MultiTaskEstimator().get_params(deep=False)
    shown = ["architecture", "weighting", "hidden_layer_sizes", "dropout", "max_epochs",
             "batch_size", "lr", "random_state"]
    params = est.get_params(deep=False)
    extra = [
        k for k, v in params.items()
        if k not in shown and k not in ("verbose", "callbacks") and v != defaults[k]
    ]
    return ", ".join(f"{k}={params[k]!r}" for k in shown + extra)
