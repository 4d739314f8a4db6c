"""Pairwise task affinity: how much each task gains from being trained with each other.

For every pair of targets, on every fold, one network is fit on the pair and compared
with each target's single-task network, in the spirit of task-affinity grouping (Fifty
et al., "Efficiently Identifying Task Groupings for Multi-Task Learning", 2021).
:mod:`tabmtl.evaluation._grouping` turns the matrix into groups to train together.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd

from tabmtl._estimators import MultiTaskEstimator
from tabmtl.evaluation._runner import FoldRunner, Log


def pairwise_affinity(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    estimator: MultiTaskEstimator | None = None,
    *,
    cv: int | object = 3,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    metrics: Mapping[str, str] | None = None,
    random_state: int = 0,
    log: Log | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much each task gains from being trained with each other task.

    Fits one model per target and one per pair of targets on every fold: T + T(T-1)/2
    models per fold.

    Parameters
    ----------
    X, Y, estimator, cv, stratify, groups, metrics, random_state, log
        As in :func:`~tabmtl.evaluation.cross_validate_transfer`.

    Returns
    -------
    affinity, affinity_std : pandas.DataFrame
        Tasks x tasks; ``affinity.loc[i, j]`` is the mean over folds of task ``i``'s
        score trained with ``j`` minus its score trained alone (NaN diagonal).

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = datasets.load("penguins")
    >>> gain, _ = pairwise_affinity(X, Y, MultiTaskEstimator(max_epochs=3), cv=2)
    >>> gain.shape
    (3, 3)
    """
    runner = FoldRunner.setup(
        X, Y, estimator, cv=cv, stratify=stratify, groups=groups, metrics=metrics,
        random_state=random_state, log=log,
    )
    return affinity_matrix(runner, runner.names)


def affinity_matrix(runner: FoldRunner, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and std over the runner's folds of every pairwise gain among ``names``.

    Fits (or reuses from the runner's cache) one network per pair and per task and fold.
    """
    gains = {(i, j): [] for i in names for j in names if i != j}
    for fold in range(len(runner.folds)):
        for a, b in combinations(names, 2):
            pair_gain = runner.paired_gain([a, b], fold)
            gains[a, b].append(pair_gain[a])
            gains[b, a].append(pair_gain[b])
    mean = pd.DataFrame(np.nan, index=names, columns=names)
    std = mean.copy()
    for (i, j), values in gains.items():
        values = np.asarray(values, dtype=float)
        mean.loc[i, j] = np.nanmean(values) if np.isfinite(values).any() else np.nan
        std.loc[i, j] = np.nanstd(values, ddof=1) if np.isfinite(values).sum() > 1 else np.nan
    return mean, std

