"""Which tasks to train together: greedy grouping on pairwise affinities, verified.

:func:`greedy_task_groups` turns a pairwise affinity matrix into a recommendation of
which tasks to train together, in the spirit of task-affinity grouping (Fifty et al.,
"Efficiently Identifying Task Groupings for Multi-Task Learning", 2021): merge groups
while the summed pairwise gain grows and no member is expected to lose.
:func:`recommend_task_groups` measures the affinities and can verify the recommended
groups by cross-validating them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from tabmtl._estimators import MultiTaskEstimator
from tabmtl.evaluation._affinity import affinity_matrix
from tabmtl.evaluation._results import TaskGrouping
from tabmtl.evaluation._runner import FoldRunner, Log


def _member_gains(affinity: pd.DataFrame, group: Sequence[str]) -> dict[str, float]:
    """Each member's expected gain in ``group``: its mean affinity to the other members."""
    if len(group) == 1:
        return {group[0]: 0.0}
    return {
        i: float(np.mean([affinity.loc[i, j] for j in group if j != i])) for i in group
    }


def greedy_task_groups(
    affinity: pd.DataFrame, *, min_member_gain: float = 0.0
) -> list[tuple[str, ...]]:
    """Partition tasks into training groups by greedily merging on pairwise gains.

    Every task starts alone. At each step the two groups with the highest *linkage* — the
    mean of the affinities between them, both ways (``affinity.loc[i, j]``: gain of
    ``i`` from ``j``) — are merged, provided the linkage is positive and every member of
    the merged group keeps an expected gain (its mean affinity to the other members) of
    at least ``min_member_gain``. Merging stops when no pair of groups qualifies. Pairs
    with an unknown (NaN) affinity are never merged.

    Pairwise gains *predict* the gain in a larger group, as in task-affinity grouping;
    they do not measure it: check the result (``recommend_task_groups(verify=True)``
    compares it with training all tasks together and each alone on the same folds).

    Parameters
    ----------
    affinity : pandas.DataFrame
        Square matrix, tasks x tasks (diagonal ignored).
    min_member_gain : float, default=0.0
        The least expected gain any member of a merged group may have: 0 refuses every
        merge in which some task is expected to suffer negative transfer, even when the
        group as a whole would gain.

    Returns
    -------
    list of tuple of str
        The groups, each in the matrix's task order, ordered by their first task.

    Examples
    --------
    >>> names = ["a", "b", "c"]
    >>> A = pd.DataFrame([[np.nan, 0.02, -0.01], [0.03, np.nan, -0.02], [0.0, 0.01, np.nan]],
    ...                  index=names, columns=names)
    >>> greedy_task_groups(A)
    [('a', 'b'), ('c',)]
    """
    if list(affinity.index) != list(affinity.columns):
        raise ValueError("affinity must be square with the same tasks as rows and columns.")
    order = {t: k for k, t in enumerate(affinity.index)}
    groups: list[tuple[str, ...]] = [(t,) for t in affinity.index]
    while True:
        best, best_linkage = None, 0.0
        for g1, g2 in combinations(groups, 2):
            cross = [affinity.loc[i, j] for i in g1 for j in g2]
            cross += [affinity.loc[j, i] for i in g1 for j in g2]
            if not np.isfinite(cross).all():
                continue
            merged = tuple(sorted(g1 + g2, key=order.get))
            if min(_member_gains(affinity, merged).values()) < min_member_gain:
                continue
            linkage = float(np.mean(cross))
            if linkage > best_linkage + 1e-12:
                best, best_linkage = (g1, g2, merged), linkage
        if best is None:
            break
        g1, g2, merged = best
        groups = [g for g in groups if g not in (g1, g2)] + [merged]
    return sorted(groups, key=lambda g: order[g[0]])


def group_tasks(runner: FoldRunner, names: list[str], verify: bool) -> TaskGrouping:
    """Affinities of ``names`` on the runner's folds, the greedy groups and, if
    ``verify``, each group cross-validated against all tasks together and each alone."""
    affinity, affinity_std = affinity_matrix(runner, names)
    groups = greedy_task_groups(affinity)
    expected = {}
    for group in groups:
        expected.update(_member_gains(affinity, group))
    verified = long = None
    if verify:
        rows = []
        for group in groups:
            for fold in range(len(runner.folds)):
                scores = runner.tabmtl(list(group), fold)
                together = runner.tabmtl(names, fold)  # cached after cross-validation
                for task in group:
                    alone = runner.single(task, fold)[task]
                    rows.append(
                        {
                            "task": task,
                            "group": " + ".join(group),
                            "fold": fold,
                            "grouped": scores[task],
                            "alone": alone,
                            "together": together[task],
                            "gain": scores[task] - alone,
                        }
                    )
        long = pd.DataFrame(rows)
        columns = ["grouped", "alone", "together", "gain"]
        stats = long.groupby("task", sort=False)[columns].agg(["mean", "std"])
        stats.columns = [f"{a}_{b}" for a, b in stats.columns]  # grouped_mean, ...
        stats.insert(0, "group", long.drop_duplicates("task").set_index("task")["group"])
        verified = stats.reindex(names)
    return TaskGrouping(
        affinity=affinity,
        affinity_std=affinity_std,
        groups=groups,
        expected_gain=pd.Series(expected, name="expected_gain").reindex(names),
        verified=verified,
        fold_scores=long,
    )


def recommend_task_groups(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    estimator: MultiTaskEstimator | None = None,
    *,
    cv: int | object = 3,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    metrics: Mapping[str, str] | None = None,
    verify: bool = True,
    random_state: int = 0,
    log: Log | None = None,
) -> TaskGrouping:
    """Measure pairwise task affinities and recommend which tasks to train together.

    Cost: T + T(T-1)/2 fits per fold for the affinities; to verify, one fit per
    recommended multi-task group and fold, plus one of all tasks together per fold.

    Parameters
    ----------
    X, Y, estimator, cv, stratify, groups, metrics, random_state, log
        As in :func:`~tabmtl.evaluation.cross_validate_transfer`.
    verify : bool, default=True
        Cross-validate the recommended groups, and all tasks together, on the same folds
        (``TaskGrouping.verified``, ``fold_scores`` and ``decision``: a grouping is
        preferred over all together only when the folds support it).

    Returns
    -------
    TaskGrouping

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = datasets.load("penguins")
    >>> grouping = recommend_task_groups(X, Y, MultiTaskEstimator(max_epochs=3), cv=2)
    >>> sorted(t for g in grouping.groups for t in g)
    ['body_mass_g', 'sex_male', 'species']
    """
    runner = FoldRunner.setup(
        X, Y, estimator, cv=cv, stratify=stratify, groups=groups, metrics=metrics,
        random_state=random_state, log=log,
    )
    return group_tasks(runner, runner.names, verify)
