"""``tune()``: an Optuna study over a tabmtl estimator that can be stopped, resumed and
shared.

The study lives in Optuna's storage: in memory by default, or any database URL
(``sqlite:///tuning.db``, PostgreSQL, MySQL). Calling ``tune`` again with the same
storage and study name continues the study (its ``n_trials`` add up), and several
processes or machines running ``tune`` against one database share one study through
Optuna's own distributed mode: each trial's random draws are seeded by the seed and its
trial number (:mod:`tabmtl.tuning._sampler`), so continued and shared studies explore new
points, and running trials send heartbeats (``tabmtl.tuning._storage``), so a dead
worker's trial is failed and run again. A configuration the estimator rejects fails
only its trial. The study records its targets (user attribute
``targets``) so that it cannot be continued on other targets by mistake. Ctrl-C ends
the search after the running trial is discarded; finished trials stay in the storage.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.base import clone

from tabmtl.errors import InputError
from tabmtl.evaluation._folds import make_folds
from tabmtl.tuning._dependency import import_optuna
from tabmtl.tuning._objective import (
    CrossValidationObjective,
    objective_weights,
    task_names,
)
from tabmtl.tuning._params import COMPONENTS, component_config, component_name, same_value
from tabmtl.tuning._sampler import TrialSeededSampler
from tabmtl.tuning._space import SearchSpace
from tabmtl.tuning._storage import open_storage

optuna = import_optuna()


@dataclass
class TuningResult:
    """What :func:`tune` found.

    Attributes
    ----------
    study : optuna.Study
        The whole study (every trial of every run, in its storage).
    best_params : dict
        Estimator parameters of the best trial (components built, ready for
        ``set_params``); empty when no trial finished.
    best_value : float
        Its cross-validated objective (higher is better); NaN when no trial finished.
    best_task_scores : dict
        Its mean score per task over the folds.
    interrupted : bool
        Whether Ctrl-C ended this run.
    best_estimator_ : estimator or None
        The best parameters fitted on all rows (``tune(..., refit=True)``).
    best_config : dict
        The base estimator's non-default parameters and the best trial's values, flat
        and JSON-able (what :meth:`~tabmtl.tuning.TuningResult.write_config` writes).

    Examples
    --------
    >>> result = TuningResult(None, {"lr": 0.01}, 0.9, {"y": 0.9}, best_config={"lr": 0.01})
    >>> result.best_config
    {'lr': 0.01}
    """

    study: object
    best_params: dict
    best_value: float
    best_task_scores: dict
    interrupted: bool = False
    best_estimator_: object = None
    best_config: dict = field(default_factory=dict)

    def write_config(self, path: str | Path) -> Path:
        """Write ``best_config`` as JSON that ``tabmtl fit --config`` reads."""
        path = Path(path)
        path.write_text(json.dumps(self.best_config, indent=2) + "\n", encoding="utf-8")
        return path


def _config(space: SearchSpace, stored: Mapping[str, object], base) -> dict:
    """The best trial as flat JSON-able parameters: the base estimator's non-default
    ones, then the tuned ones (``numeric_embedding__d_embedding`` beside
    ``numeric_embedding``, as searched).

    A component instance of the base (``architecture=MMoE(n_experts=2)``) is written as
    its name and its non-default settings, so that ``tabmtl fit --config`` builds the
    same one; a tuned component replaces it with its own settings. A parameter JSON
    cannot hold (an unregistered class) is left out with a warning naming it.
    """
    defaults = type(base)().get_params(deep=False)
    tuned = space.decode_values(stored)
    config: dict[str, object] = {}
    unwritten = []
    for name, value in base.get_params(deep=False).items():
        if name in ("callbacks", "verbose") or same_value(value, defaults.get(name)):
            continue
        entries = (component_config(name, value) if name in COMPONENTS
                   else _plain_entry(name, value))
        if entries is None:
            unwritten.append(f"{name}={value!r}")
        elif name not in tuned:  # a tuned component brings its own settings
            config.update(entries)
    for name in list(tuned):
        component = name.split("__", 1)[0]
        if "__" in name and component not in tuned and component not in config:
            # its settings need its name beside (the base's, a default name)
            config[component] = component_name(component, base.get_params()[component])
    config.update(tuned)
    if unwritten:
        warnings.warn(
            f"best_config leaves out {', '.join(unwritten)}: a config file cannot name "
            "it, so `tabmtl fit --config` would use the default; set it yourself.",
            UserWarning, stacklevel=3,
        )
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _plain_entry(name: str, value: object) -> dict[str, object] | None:
    """``{name: value}`` when JSON can hold the value, else None."""
    try:
        json.dumps(list(value) if isinstance(value, tuple) else value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return {name: value}


def open_study(storage, study_name: str, targets: list[str], sampler, pruner,
               heartbeat_interval: int | None = None):
    """Create or load the study; a one-line InputError for an unreachable storage or a
    study of other targets. A URL opens with ``tabmtl.tuning._storage.open_storage``.

    Examples
    --------
    >>> study = open_study(None, "demo", ["y"], None, None)
    >>> study.user_attrs["targets"]
    ['y']
    """
    if isinstance(storage, str):
        storage = open_storage(storage, heartbeat_interval)
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", sampler=sampler,
        pruner=pruner, load_if_exists=True,
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise InputError(f"study {study_name!r} minimises; tabmtl studies maximise a score.")
    stored = study.user_attrs.get("targets")
    if stored is None:
        study.set_user_attr("targets", list(targets))
    elif list(stored) != list(targets):
        raise InputError(
            f"study {study_name!r} was created for targets {stored!r}, not {list(targets)!r}; "
            "choose another study name"
        )
    return study


def progress_printer(n_trials: int | None, stream=None):
    """An ``optimize`` callback printing trial, state, value, best so far and elapsed time.

    Examples
    --------
    >>> callback = progress_printer(10)
    """
    start = time.perf_counter()
    finished = [0]

    def callback(study, trial) -> None:
        finished[0] += 1
        state = trial.state.name.lower()
        complete = trial.state == optuna.trial.TrialState.COMPLETE
        value = f" value {trial.value:.4f}" if complete else ""  # a pruned one: its loss
        if "fail_reason" in trial.user_attrs and not complete:
            value = f" ({trial.user_attrs['fail_reason']})"
        try:
            best = f"best {study.best_value:.4f} (trial {study.best_trial.number})"
        except ValueError:  # no trial has finished yet
            best = "no finished trial yet"
        total = f"/{n_trials}" if n_trials else ""
        print(
            f"trial {trial.number} {state}{value}; {best}; {finished[0]}{total} this run, "
            f"{time.perf_counter() - start:.0f}s elapsed",
            file=stream or sys.stderr, flush=True,
        )

    return callback


def tune(
    estimator, X, Y, *, cv=3, n_trials: int | None = 20, timeout: float | None = None,
    scoring=None, metrics: Mapping[str, str] | None = None,
    search_space: Mapping[str, object] | None = None, replace_space: bool = False,
    storage=None, study_name: str = "tabmtl", seed: int = 0, groups=None,
    pruner=None, pruning: bool = True, refit: bool = False, progress: bool = True,
    heartbeat_interval: int | None = 60,
) -> TuningResult:
    """Search the estimator's hyper-parameters with Optuna, by cross-validation.

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        Unfitted; its parameters are the base that the sampled ones override.
    X, Y : DataFrames (or arrays for the array estimators)
    cv : int, splitter or folds, default=3
        As in ``tabmtl.evaluation._folds.make_folds`` (shuffled with ``seed``); every
        trial uses the same folds.
    n_trials : int or None, default=20
        Trials this call runs (added to those already in the study); None: until
        ``timeout``.
    timeout : float, optional
        Seconds after which no new trial starts.
    scoring : None, "mean", a target name or dict of target -> weight
        The objective: mean of the per-task scores, one task's, or a weighted mean.
    metrics : dict, optional
        Target name or kind -> metric name (default: R² / accuracy), see
        :func:`~tabmtl.metrics.resolve_metrics`.
    search_space : dict, optional
        Parameter -> Optuna distribution or list of choices (None drops a default
        dimension), merged over ``tabmtl.tuning._space.DEFAULT_SPACE`` unless
        ``replace_space``.
    storage : str or optuna storage, optional
        A database URL such as ``"sqlite:///tuning.db"`` (continued when it exists;
        shared by concurrent workers), or an Optuna storage object; None keeps the study
        in memory.
    study_name : str, default="tabmtl"
    seed : int, default=0
        Seeds the folds, the estimator when its ``random_state`` is None, and the TPE
        sampler's draws with the trial number (see
        ``tabmtl.tuning._sampler.TrialSeededSampler``): the same seed on a fresh
        storage gives the same trials, while a continued study or several workers on
        one study sample new points (their trials have new numbers).
    groups : pandas.Series, optional
        Rows of one group stay in one fold.
    pruner : optuna pruner, optional
        Default: ``MedianPruner(n_startup_trials=5, n_warmup_steps=10)``.
    pruning : bool, default=True
        Report per-epoch validation losses to the pruner (needs early stopping's
        validation split).
    refit : bool, default=False
        Fit the best parameters on all rows as ``best_estimator_``.
    progress : bool, default=True
        One line per finished trial on stderr.
    heartbeat_interval : int or None, default=60
        With a database URL: seconds between a running trial's heartbeats. A trial
        whose worker died (killed, machine lost) is failed once its heartbeat is twice
        that old, and its configuration is queued again for a worker to finish (see
        ``tabmtl.tuning._storage``); None: no heartbeats.

    Returns
    -------
    TuningResult

    Raises
    ------
    InputError
        For bad arguments, an unreachable storage, a study of other targets, and when
        every trial of this call failed (a configuration the estimator rejects, such as
        a sluice subspace count that does not divide a width, fails only its trial: its
        ``fail_reason`` user attribute and the progress line say why).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"x": np.linspace(0, 1, 40)}); Y = pd.DataFrame({"y": X.x * 2})
    >>> result = tune(MultiTaskEstimator(max_epochs=3), X, Y, cv=2, n_trials=2,
    ...               search_space={"lr": [1e-3, 1e-2]}, replace_space=True, progress=False)
    >>> sorted(result.best_params)
    ['lr']
    """
    names = task_names(Y)
    weights = objective_weights(scoring, names)
    space = SearchSpace(estimator, search_space, replace=replace_space)
    if n_trials is not None and (not isinstance(n_trials, int) or n_trials < 1):
        raise InputError(f"n_trials must be a positive integer or None, got {n_trials!r}.")
    if n_trials is None and timeout is None:
        raise InputError("Give n_trials or timeout: otherwise the search never ends.")
    base = clone(estimator)
    if base.get_params().get("random_state", 0) is None:
        base.set_params(random_state=seed)
    folds, _ = make_folds(len(X), cv, groups=groups, random_state=seed)
    sampler = TrialSeededSampler(seed=seed)
    pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    objective = CrossValidationObjective(base, X, Y, folds, space, weights, metrics, pruning)
    ran: list = []  # the trials this call finished, in every state
    callbacks = [lambda _study, trial: ran.append(trial)]
    if progress:
        callbacks.append(progress_printer(n_trials))
    interrupted = False
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines instead
    try:
        study = open_study(storage, study_name, names, sampler, pruner, heartbeat_interval)
        try:
            # a rejected configuration (ValueError: e.g. a sluice subspace count that does
            # not divide a width) or a diverged training fails its trial, not the search
            study.optimize(objective, n_trials=n_trials, timeout=timeout,
                           callbacks=callbacks, catch=(ValueError,))
        except KeyboardInterrupt:  # Optuna has already marked the running trial as failed
            interrupted = True
    finally:
        optuna.logging.set_verbosity(verbosity)
    _raise_if_all_failed(ran, interrupted)
    return _result(study, space, X, Y, base, refit, interrupted)


def _raise_if_all_failed(ran: list, interrupted: bool) -> None:
    """An InputError when every trial of this call failed with a reason: a problem of
    every configuration (the data, the space) rather than of one unlucky sample."""
    fail = optuna.trial.TrialState.FAIL
    if interrupted or not ran or any(t.state != fail for t in ran):
        return
    last = ran[-1]
    reason = last.user_attrs.get("fail_reason")
    if reason:
        raise InputError(f"every trial failed ({len(ran)} this run); the last, trial "
                         f"{last.number} with {last.params}: {reason}")


def _result(study, space, X, Y, base, refit, interrupted) -> TuningResult:
    try:
        best = study.best_trial
    except ValueError:  # no finished trial
        return TuningResult(study, {}, float("nan"), {}, interrupted)
    params = space.decode(best.params)
    result = TuningResult(
        study, params, float(best.value), dict(best.user_attrs.get("task_scores", {})),
        interrupted, best_config=_config(space, best.params, base),
    )
    if refit and not interrupted:
        result.best_estimator_ = clone(base).set_params(**params).fit(X, Y)
    return result
