"""Transfer analysis: does training targets together help each of them, or hurt it?

For a table with several targets, :func:`cross_validate_transfer` cross-validates, on the
*same folds*,

- the multi-task model: one :class:`~tabmtl.MultiTaskEstimator` for all targets;
- single-task models: the same estimator (same architecture, settings and seed) fit on
  one target at a time, on the rows where that target is labelled;
- optionally a gradient-boosting baseline per target (scikit-learn's
  ``HistGradientBoostingRegressor`` / ``HistGradientBoostingClassifier``, native
  categorical splits), so "multi-task beats single-task" is read next to a strong
  non-neural reference;

and reports, per task, each model's score (mean ± std over folds) and the *multi-task
gain*: the multi-task score minus the single-task score, paired fold by fold. A negative
gain is negative transfer, and it is reported, never hidden.

:func:`pairwise_affinity` measures the gain of every task from every other one (a model
per pair of targets), and :func:`greedy_task_groups` turns that matrix into a
recommendation of which tasks to train together, in the spirit of task-affinity grouping
(Fifty et al., "Efficiently Identifying Task Groupings for Multi-Task Learning", 2021):
merge groups while the summed pairwise gain grows and no member is expected to lose.
:func:`recommend_task_groups` does both and can verify the recommended groups by
cross-validating them too.

The analysis is split along its concepts; this module runs it and re-exports the public
names: :mod:`~tabmtl.evaluation._results` (``TransferResult``, ``TaskGrouping``,
``summarize``, ``format_markdown``), :mod:`~tabmtl.evaluation._folds` (``make_folds``),
:mod:`~tabmtl.evaluation._runner` (fits and their cache), :mod:`~tabmtl.evaluation._baseline`
(HistGB), :mod:`~tabmtl.evaluation._affinity` (``pairwise_affinity``) and
:mod:`~tabmtl.evaluation._grouping` (``greedy_task_groups``, ``recommend_task_groups``);
metrics come from :mod:`~tabmtl.evaluation._metrics` (``resolve_metrics``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tabmtl._estimators import MultiTaskEstimator
from tabmtl.evaluation._affinity import pairwise_affinity
from tabmtl.evaluation._efficiency import data_efficiency
from tabmtl.evaluation._folds import make_folds
from tabmtl.evaluation._grouping import greedy_task_groups, group_tasks, recommend_task_groups
from tabmtl.evaluation._metrics import resolve_metrics
from tabmtl.evaluation._results import (
    HISTGB,
    MULTI_TASK,
    NEGATIVE_FLAG,
    SINGLE_TASK,
    TaskGrouping,
    TransferResult,
    format_markdown,
    summarize,
)
from tabmtl.evaluation._runner import FoldRunner, Log

__all__ = [
    "HISTGB",
    "MULTI_TASK",
    "NEGATIVE_FLAG",
    "SINGLE_TASK",
    "TaskGrouping",
    "TransferResult",
    "cross_validate_transfer",
    "data_efficiency",
    "format_markdown",
    "greedy_task_groups",
    "make_folds",
    "pairwise_affinity",
    "recommend_task_groups",
    "resolve_metrics",
    "summarize",
]

def cross_validate_transfer(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    estimator: MultiTaskEstimator | None = None,
    *,
    cv: int | object = 5,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    metrics: Mapping[str, str] | None = None,
    baseline: bool = True,
    grouping: bool = False,
    verify_groups: bool = True,
    random_state: int = 0,
    log: Log | None = None,
) -> TransferResult:
    """Cross-validate multi-task against single-task (and HistGB) models on the same folds.

    Parameters
    ----------
    X : pandas.DataFrame
        Features.
    Y : pandas.DataFrame
        Targets, at least two (missing labels allowed).
    estimator : MultiTaskEstimator, optional
        Unfitted template: the multi-task model, and (restricted to one target) every
        single-task model, so the architecture and settings match. Default: a
        ``MultiTaskEstimator(random_state=random_state)``.
    cv : int, splitter or iterable of (train, test), default=5
        Folds, see ``make_folds``.
    stratify, groups : pandas.Series, optional
        Stratification labels and row groups for the folds (see ``make_folds``);
        ``groups`` also reach every fit, whose early stopping then holds out whole
        groups (``MultiTaskEstimator.fit(groups=)``).
    metrics : dict, optional
        Target name or kind -> metric name (see
        :func:`~tabmtl.metrics.resolve_metrics`); default R² for regression and accuracy
        for classification (:func:`~tabmtl.metrics.default_metric`).
    baseline : bool, default=True
        Also cross-validate a HistGradientBoosting model per target.
    grouping : bool, default=False
        Also fit one model per *pair* of targets on the same folds (T(T-1)/2 x K more
        fits) and recommend task groups; see :func:`recommend_task_groups`.
    verify_groups : bool, default=True
        With ``grouping``, cross-validate each recommended multi-task group (a few more
        fits) and compare with all tasks together and each alone, so the recommendation
        is checked, not only predicted.
    random_state : int, default=0
        Seeds the folds, the HistGB models and, when the estimator's own
        ``random_state`` is unset, the networks. Every model of fold ``k`` is seeded
        ``seed + k``: the same within a fold, different across folds, so one lucky or
        unlucky initialisation cannot favour a model in every fold.
    log : callable, optional
        Receives one progress line per fit (e.g. ``print``).

    Returns
    -------
    TransferResult

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = datasets.load("penguins")
    >>> result = cross_validate_transfer(
    ...     X, Y, MultiTaskEstimator(max_epochs=5, hidden_layer_sizes=(16,)), cv=2)
    >>> list(result.summary.columns[:4])
    ['kind', 'metric', 'multi-task_mean', 'multi-task_std']
    >>> print(result.to_markdown())  # doctest: +SKIP
    """
    runner = FoldRunner.setup(
        X, Y, estimator, cv=cv, stratify=stratify, groups=groups, metrics=metrics,
        random_state=random_state, log=log,
    )
    names = runner.names
    models = [MULTI_TASK, SINGLE_TASK] + ([HISTGB] if baseline else [])
    for fold in range(len(runner.folds)):
        runner.tabmtl(names, fold, model=MULTI_TASK)
        for name in names:
            runner.single(name, fold)
            if baseline:
                runner.hgb(name, fold)
    task_grouping = group_tasks(runner, names, verify_groups) if grouping else None
    scores = pd.DataFrame(
        runner.rows, columns=["task", "kind", "metric", "model", "fold", "value"]
    )
    return TransferResult(
        scores=scores,
        summary=summarize(scores, names, models),
        histories=runner.histories,
        predictions=runner.predictions,
        Y=runner.Y,
        spec=runner.spec,
        metrics=runner.metrics,
        folds=runner.folds,
        cv_description=runner.cv_description,
        models=models,
        fit_seconds=runner.fit_seconds,
        grouping=task_grouping,
    )


