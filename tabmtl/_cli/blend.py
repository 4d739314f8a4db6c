"""``tabmtl fit --blend``: fit a :class:`~tabmtl._ensemble.MultiTaskBlend` (the multi-task
net and per-target LightGBM, blended per task) instead of the net alone, and save it.

The model options describe the net the blend cross-fits (``--blend-cv`` folds, then a
refit on all rows); the file is written by :func:`tabmtl.save_model`, so ``tabmtl
predict`` reads it like any model file. The per-task weights, chosen on out-of-fold
predictions, are printed and written next to the model (``<model>.weights.csv``, the
tidy ``task_blend_weights_``). What a blend cannot do is refused before any fitting,
naming the option.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tabmtl._cli.errors import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from tabmtl._cli.runtime import say, thread_limit
from tabmtl.errors import InputError

#: Folds of the cross-fitting that chooses the weights, when ``--blend-cv`` is not given.
DEFAULT_BLEND_CV = 5
#: ``fit`` options a blend cannot honour, and why (checked when given with ``--blend``).
_REFUSED = {
    "stream": ("--stream", "a blend cross-fits in memory; it cannot train from parquet "
               "batches"),
    "auxiliary": ("--auxiliary", "a blend predicts and weighs every target it fits; it has "
                  "no auxiliary targets"),
    "auxiliary_weight": ("--auxiliary-weight", "a blend has no auxiliary targets"),
}


def _folds(text: str) -> int:
    """An argparse ``type``: a number of folds, at least 2."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected a number of folds of at least 2, got {text!r}")
    return value


def add_blend_options(p: argparse.ArgumentParser) -> None:
    """Add ``--blend`` and ``--blend-cv K`` to the ``fit`` parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_blend_options(parser)
    >>> parser.parse_args(["--blend", "--blend-cv", "3"]).blend_cv
    3
    """
    g = p.add_argument_group("blend (see docs/blend.md)")
    g.add_argument(
        "--blend", action="store_true",
        help="fit a MultiTaskBlend: the net above and one LightGBM per target, blended "
        "with per-task weights chosen on out-of-fold predictions (needs lightgbm); prints "
        "the weights and writes them to <MODEL stem>.weights.csv",
    )
    g.add_argument(
        "--blend-cv", type=_folds, metavar="K",
        help=f"cross-fitting folds that choose the weights (default: {DEFAULT_BLEND_CV})",
    )


def check_blend_options(args: argparse.Namespace, est) -> None:
    """Refuse, naming the option, what ``fit --blend`` cannot do (before reading data)."""
    if not args.blend:
        if args.blend_cv is not None:
            raise UsageError("--blend-cv needs --blend")
        return
    for dest, (option, why) in _REFUSED.items():
        if getattr(args, dest, None):
            raise UsageError(f"{option} cannot be used with --blend: {why}")
    if est.checkpoint_dir is not None:
        raise UsageError(
            "checkpoint_dir (from --config) cannot be used with --blend: the blend fits its "
            "net once per fold and once more on all rows, so there is no one run to resume"
        )
    if importlib.util.find_spec("lightgbm") is None:
        raise UsageError(
            "--blend needs lightgbm (its models are saved in LightGBM's text format): "
            "pip install lightgbm"
        )


def weights_path(out: Path) -> Path:
    """Where the weights CSV of the model file ``out`` goes: ``<stem>.weights.csv``.

    Examples
    --------
    >>> weights_path(Path("runs/model.tabmtl")).as_posix()
    'runs/model.weights.csv'
    """
    return out.with_name(f"{out.stem}.weights.csv")


def weights_table(blend):
    """Task x learner weights, the labelled rows behind them and each learner's
    out-of-fold score (``oof_scores_``), tasks in the blend's order."""
    import pandas as pd

    tidy = blend.task_blend_weights_
    tasks = list(dict.fromkeys(tidy["task"]))
    table = tidy.pivot(index="task", columns="learner", values="weight")
    table = table.reindex(index=tasks, columns=list(dict.fromkeys(tidy["learner"])))
    table.columns = [f"weight {c}" for c in table.columns]
    table["labelled rows"] = tidy.groupby("task", sort=False)["n_labelled"].first()
    scores = blend.oof_scores_.reindex(tasks)
    scores.columns = [f"oof score {c}" for c in scores.columns]
    return pd.concat([table, scores], axis=1).rename_axis("task").reset_index()


class BlendInterrupted(BaseException):
    """Ctrl-C during a blend's fit, raised where a net's fit would swallow a
    KeyboardInterrupt (so not one)."""


#: Whether Ctrl-C was pressed during the blend fit in progress (module state: the nets'
#: callbacks are clones, so they cannot share an attribute of their own).
_CTRL_C = {"pressed": False}


def _stop_on_ctrl_c():
    """A skorch callback that ends a net's fit with :class:`BlendInterrupted` once Ctrl-C
    was pressed. A net's fit swallows KeyboardInterrupt (it keeps its best epoch), which
    inside a blend would only cut one of its nets short and fit the others on."""
    from skorch.callbacks import Callback

    class StopOnCtrlC(Callback):
        def on_batch_begin(self, net, **kwargs):
            if _CTRL_C["pressed"]:
                raise BlendInterrupted

    return StopOnCtrlC()


@contextlib.contextmanager
def _ctrl_c_ends_the_blend() -> Iterator[None]:
    """Within the block, Ctrl-C marks the blend interrupted (and interrupts as usual)."""
    _CTRL_C["pressed"] = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def pressed(signum, frame):
        _CTRL_C["pressed"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, pressed)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def fit_blend(args: argparse.Namespace, X, Y, est, out: Path, groups=None) -> int:
    """Fit a blend of ``est`` and per-target LightGBM on ``X``, ``Y``; save it to ``out``
    and print its weights. ``groups`` (``--groups``) keep each unit on one side of the
    cross-fitting folds and of the nets' early stopping. Returns the exit code."""
    from tabmtl._ensemble import MultiTaskBlend
    from tabmtl._training.net import TrainingDiverged
    from tabmtl.io._persistence import save_model

    cv = args.blend_cv or DEFAULT_BLEND_CV
    est.set_params(verbose=0, callbacks=[_stop_on_ctrl_c()])  # cv + 1 fits: no epoch tables
    blend = MultiTaskBlend(est, cv=cv, n_jobs=args.threads or 1,
                           random_state=est.random_state)
    csv = weights_path(out)
    if not args.quiet:
        say(f"fitting a blend: the net and LightGBM per target, {cv} cross-fitting folds "
            "then a refit on all rows")
    t0 = time.perf_counter()
    with thread_limit(args.threads), contextlib.redirect_stdout(sys.stderr), \
            _ctrl_c_ends_the_blend():
        try:
            blend.fit(X, Y, groups=groups)
        except TrainingDiverged as exc:
            say(f"error: {exc}; nothing saved")
            return EXIT_DIVERGED
        except (KeyboardInterrupt, BlendInterrupted):
            _CTRL_C["pressed"] = True
        except InputError as exc:  # tabmtl rejected the data; any other error is a bug
            raise UsageError(str(exc)) from None
    if _CTRL_C["pressed"]:  # also when the net being trained swallowed it at the very end
        say("interrupted: a blend is saved only once fully fitted; nothing saved")
        return EXIT_INTERRUPTED
    seconds = time.perf_counter() - t0
    for net in (blend.net_, blend.estimator):  # the callback is this run's, not the model's
        net.set_params(callbacks=None)
    try:
        written = save_model(blend, out)
        blend.task_blend_weights_.to_csv(csv, index=False)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r} or {str(csv)!r}: {exc}") from None
    except InputError as exc:  # e.g. a boosting model without a safe format
        raise UsageError(f"cannot save the blend: {exc}") from None
    print(f"saved {written}")
    print(
        "targets: " + ", ".join(f"{t.name} ({t.kind})" for t in blend.target_spec_.tasks_)
        + f"; {X.shape[1]} features; blend of {' + '.join(blend.learners_)} on {cv} folds "
        f"in {seconds:.1f}s"
    )
    print(f"blend weights per task (chosen on out-of-fold predictions; also in {csv}):")
    table = weights_table(blend)
    print(table.to_string(formatters={
        c: (lambda v: f"{v:.2f}") if c.startswith("weight") else (lambda v: f"{v:.4f}")
        for c in table.columns if c.startswith(("weight", "oof"))
    }, index=False))
    return EXIT_OK
