"""The cross-validated objective of a trial: fit the sampled estimator on each fold and
score it through the metric registry.

The value is a weighted mean of the per-task scores (main targets only: an estimator's
``auxiliary`` targets are not scored), each averaged over the folds
(``tabmtl.evaluation._metrics.task_scorer``: higher is better, a row without a label
leaves that task's score only, a task that cannot be scored on a fold is skipped). The
weights come from ``scoring``: every task equally, one named task, or a weight per task.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from tabmtl._data.targets.roles import auxiliary_names
from tabmtl.errors import InputError
from tabmtl.evaluation._metrics import task_scorer
from tabmtl.tuning._pruning import EpochPruning, TrialReporter
from tabmtl.tuning._space import SearchSpace


def task_names(Y) -> list[str]:
    """The task names the estimator will give the columns of ``Y`` (as strings).

    Examples
    --------
    >>> task_names(pd.DataFrame({"a": [1.0], "b": [2.0]})), task_names(np.zeros((3, 2)))
    (['a', 'b'], ['y0', 'y1'])
    """
    if isinstance(Y, pd.DataFrame):
        return [str(c) for c in Y.columns]
    if isinstance(Y, pd.Series):
        return [str(Y.name)]
    shape = np.shape(Y)
    return [f"y{j}" for j in range(1 if len(shape) == 1 else shape[1])]


def objective_weights(scoring, names: Sequence[str]) -> dict[str, float]:
    """Task -> weight of its score in the objective.

    Parameters
    ----------
    scoring : None, "mean", a task name, or dict of task name -> weight
        None / "mean": every task equally; a name: that task alone; a dict: those tasks
        with those (non-negative) weights.
    names : list of str
        The task names (see :func:`task_names`).

    Examples
    --------
    >>> objective_weights({"a": 2}, ["a", "b"]), objective_weights("b", ["a", "b"])
    ({'a': 2.0}, {'b': 1.0})
    """
    if scoring is None or scoring == "mean":
        return {n: 1.0 for n in names}
    if isinstance(scoring, str):
        if scoring not in names:
            raise InputError(f"scoring {scoring!r} is neither 'mean' nor a target ({names!r}).")
        return {scoring: 1.0}
    if isinstance(scoring, Mapping):
        weights = {str(k): v for k, v in scoring.items()}
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise InputError(f"scoring weights name unknown target(s) {unknown!r}; targets "
                             f"are {names!r}.")
        bad = [k for k, v in weights.items()
               if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0]
        if bad or not any(weights.values()):
            raise InputError(f"scoring weights must be finite, non-negative and not all 0; "
                             f"got {dict(scoring)!r}.")
        return {k: float(v) for k, v in weights.items()}
    raise InputError(f"scoring must be None, 'mean', a target name or a dict of weights; "
                     f"got {scoring!r}.")


def combine(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """The weighted mean of the finite task scores; NaN when none is finite.

    Examples
    --------
    >>> combine({"a": 0.5, "b": float("nan"), "c": 1.0}, {"a": 1, "b": 1, "c": 3})
    0.875
    """
    pairs = [(scores[t], w) for t, w in weights.items()
             if w > 0 and t in scores and math.isfinite(scores[t])]
    if not pairs:
        return float("nan")
    values, w = np.array(pairs).T
    return float(np.average(values, weights=w))


def _main_weights(estimator, weights: Mapping[str, float]) -> dict[str, float]:
    """``weights`` without the estimator's ``auxiliary`` targets: they are training
    signal only, neither scored nor watched for pruning."""
    params = estimator.get_params(deep=False)
    auxiliary = {str(name) for name in auxiliary_names(params.get("auxiliary"))}
    kept = {t: w for t, w in dict(weights).items() if t not in auxiliary}
    if not any(kept.values()):
        raise InputError(
            f"scoring weighs only auxiliary target(s) {sorted(auxiliary)!r}; the tuning "
            "objective scores main targets: weigh at least one of them."
        )
    return kept


def _rows(data, index: np.ndarray):
    return data.iloc[index] if isinstance(data, (pd.DataFrame, pd.Series)) else data[index]


class CrossValidationObjective:
    """``objective(trial) -> float``: the trial's parameters, cross-validated.

    Each finished trial keeps, in its user attributes, ``task_scores`` (task -> mean
    over folds) and ``fold_values`` (the objective on each fold); every trial keeps
    ``worker`` (host:pid of the process that ran it), and a trial whose configuration
    the estimator rejects (a ``ValueError`` such as a sluice subspace count that does not
    divide a width, or a diverged training) ``fail_reason`` before the error fails it.
    Pruning steps are strided by the largest ``max_epochs`` searched, so that a step
    means the same fold and epoch in every trial.

    Parameters
    ----------
    estimator : MultiTaskBase
        The unfitted estimator whose parameters the sampled ones override.
    X, Y : DataFrames or arrays
    folds : list of (train, test) index arrays
        From :func:`tabmtl.evaluation._folds.make_folds`; every trial uses the same.
    space : SearchSpace
    weights : dict
        Task -> weight (see :func:`objective_weights`).
    metrics : dict, optional
        Target name or kind -> metric name, as in ``task_scorer``.
    pruning : bool, default=True
        Report per-epoch validation losses so that the study's pruner can stop the trial.

    Examples
    --------
    >>> from tabmtl import MultiTaskEstimator
    >>> from tabmtl.evaluation._folds import make_folds
    >>> X = pd.DataFrame({"x": np.arange(30.0)}); Y = pd.DataFrame({"y": np.arange(30.0)})
    >>> space = SearchSpace(MultiTaskEstimator(), {"lr": [1e-2]}, replace=True)
    >>> objective = CrossValidationObjective(
    ...     MultiTaskEstimator(max_epochs=2), X, Y, make_folds(30, 2)[0], space, {"y": 1.0})
    """

    def __init__(self, estimator, X, Y, folds, space: SearchSpace,
                 weights: Mapping[str, float], metrics: Mapping[str, str] | None = None,
                 pruning: bool = True):
        self.estimator = estimator
        self.X, self.Y, self.folds = X, Y, folds
        self.space, self.weights = space, _main_weights(estimator, weights)
        self.scorer = task_scorer(metrics)
        self.pruning = pruning

    def __call__(self, trial) -> float:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            return self._evaluate(trial)
        except ValueError as exc:  # this configuration (or its training) is rejected
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
            raise

    def _evaluate(self, trial) -> float:
        candidate = clone(self.estimator).set_params(**self.space.sample(trial))
        # one stride for every trial, also where max_epochs itself is searched
        stride = max(candidate.max_epochs, self.space.largest("max_epochs") or 0)
        reporter = TrialReporter(trial, self.weights, int(stride))
        per_fold = []
        for fold, (train, test) in enumerate(self.folds):
            reporter.fold = fold
            est = clone(candidate)
            if self.pruning:
                est.set_params(callbacks=[*(est.callbacks or ()), EpochPruning(reporter)])
            est.fit(_rows(self.X, train), _rows(self.Y, train))
            if est.interrupted_:  # the net caught Ctrl-C (not early stopping): stop the study
                raise KeyboardInterrupt
            per_fold.append(self.scorer(est, _rows(self.X, test), _rows(self.Y, test)))
        tasks = [k for k in per_fold[0] if k != "mean"]
        with np.errstate(all="ignore"):
            task_scores = {
                t: float(np.nanmean([s[t] for s in per_fold]))
                if any(math.isfinite(s[t]) for s in per_fold) else float("nan")
                for t in tasks
            }
        trial.set_user_attr("task_scores", task_scores)
        trial.set_user_attr("fold_values", [combine(s, self.weights) for s in per_fold])
        return combine(task_scores, self.weights)
