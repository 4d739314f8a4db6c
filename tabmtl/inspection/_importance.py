"""Permutation importance of every feature for every task at once.

:func:`task_importance` shuffles one of the user's columns at a time and scores every
target on each shuffled copy with one call of the registry's multi-task scorer
(:func:`tabmtl.evaluation._metrics.task_scorer`): one ``predict`` per permutation (plus one
``predict_proba`` when a probability metric is asked), not one per target. A column is
shuffled in the user's raw table, before the model's preprocessing, so everything the
preprocessor derives from it (datetime parts, missing-value indicators, category and
numeric embeddings) is permuted together and reported under the column's own name.

The shuffles reproduce :func:`sklearn.inspection.permutation_importance` draw for draw:
the same ``random_state`` gives the same permutations, so each task's importances equal
scikit-learn's run on that task alone with the same metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from tabmtl.errors import InputError
from tabmtl.evaluation._metrics import fitted_multitask, resolve_metrics, task_scorer

#: Role of a feature in :meth:`TaskImportance.shared_drivers`.
SHARED, SPECIFIC, MINOR = "shared", "task-specific", "minor"


@dataclass(frozen=True)
class TaskImportance:
    """Permutation importances of every feature for every task.

    An importance is the drop of a task's score (its registry metric, where higher is
    better for every metric, errors included) when the feature's column is shuffled:
    ``baseline - permuted``. Positive: the task relies on the feature; about 0: it does
    not; negative: shuffling helped (noise).

    Attributes
    ----------
    importances : ndarray of shape (n_features, n_tasks, n_repeats)
        The score drop of every shuffle.
    features : list of str
        The user's column names, in the order of ``X``.
    tasks : list of str
        The target names, in the model's order.
    metrics : dict
        Task -> the metric it was scored with.
    baseline : pandas.Series
        Each task's score on the unshuffled rows.

    Examples
    --------
    >>> result = task_importance(model, X, Y, n_repeats=5, random_state=0)  # doctest: +SKIP
    >>> result.matrix.round(3)  # doctest: +SKIP
          eta   late
    km   1.42  0.210
    zone 0.08  0.001
    """

    importances: np.ndarray
    features: list[str]
    tasks: list[str]
    metrics: dict[str, str]
    baseline: pd.Series

    @property
    def matrix(self) -> pd.DataFrame:
        """Mean importance over the repeats, features (rows) x tasks (columns)."""
        return pd.DataFrame(
            self.importances.mean(axis=2), index=pd.Index(self.features, name="feature"),
            columns=pd.Index(self.tasks, name="task"),
        )

    @property
    def table(self) -> pd.DataFrame:
        """Tidy: one row per (feature, task) with ``metric``, ``mean`` and ``std`` (over
        the repeats, ``ddof=0`` as scikit-learn)."""
        mean, std = self.importances.mean(axis=2), self.importances.std(axis=2)
        rows = [
            (f, t, self.metrics[t], mean[i, j], std[i, j])
            for i, f in enumerate(self.features) for j, t in enumerate(self.tasks)
        ]
        return pd.DataFrame(rows, columns=["feature", "task", "metric", "mean", "std"])

    def subset(self, tasks: Sequence[str]) -> TaskImportance:
        """The same importances for ``tasks`` only (in that order)."""
        unknown = [t for t in tasks if t not in self.tasks]
        if unknown:
            raise InputError(f"Unknown task(s) {unknown!r}; the tasks are {self.tasks!r}.")
        keep = [self.tasks.index(t) for t in tasks]
        return TaskImportance(
            self.importances[:, keep], list(self.features), list(tasks),
            {t: self.metrics[t] for t in tasks}, self.baseline[list(tasks)],
        )

    def relative(self) -> pd.DataFrame:
        """``matrix`` divided by each task's largest importance (tasks are scored
        with different metrics, so only this share compares across tasks); NaN for a task
        that no feature helps."""
        matrix = self.matrix
        top = matrix.max(axis=0)
        return matrix / top.where(top > 0)

    def drivers(self, top_k: int = 3, min_share: float = 0.1) -> pd.DataFrame:
        """Which features drive which task: a boolean features x tasks frame.

        A feature drives a task when it is among the task's ``top_k`` features by mean
        importance and its importance is positive and at least ``min_share`` of the
        task's largest one.
        """
        if int(top_k) != top_k or top_k < 1:
            raise InputError(f"top_k must be a positive integer, got {top_k!r}.")
        if not 0 <= min_share <= 1:
            raise InputError(f"min_share must be in [0, 1], got {min_share!r}.")
        matrix = self.matrix
        rank = matrix.rank(axis=0, ascending=False, method="first")
        relative = self.relative().fillna(0.0)
        return (rank <= top_k) & (matrix > 0) & (relative >= min_share)

    def shared_drivers(
        self, top_k: int = 3, min_share: float = 0.1, min_tasks: int = 2
    ) -> pd.DataFrame:
        """Each feature's role: a shared driver, task-specific, or minor.

        The rule, in full: a feature *drives* a task when it is among the task's
        ``top_k`` most important features and its importance is positive and at least
        ``min_share`` of that task's largest importance (:meth:`drivers`). A feature that
        drives at least ``min_tasks`` tasks is a **shared** driver; one that drives at
        least one task but fewer than ``min_tasks`` is **task-specific**; the rest are
        **minor**.

        Parameters
        ----------
        top_k : int, default=3
            How many of a task's most important features can drive it.
        min_share : float, default=0.1
            Share of the task's largest importance a driver must reach (so that a task
            with one strong feature does not make two noise features drivers).
        min_tasks : int, default=2
            How many tasks a shared driver drives.

        Returns
        -------
        pandas.DataFrame
            Indexed by feature, sorted by role then by the number of tasks driven:
            ``role``, ``n_tasks`` (how many it drives), ``tasks`` (their names, comma
            separated) and ``mean_relative`` (mean over tasks of :meth:`relative`).

        Examples
        --------
        >>> result.shared_drivers(top_k=2).loc["km", "role"]  # doctest: +SKIP
        'shared'
        """
        if int(min_tasks) != min_tasks or min_tasks < 1:
            raise InputError(f"min_tasks must be a positive integer, got {min_tasks!r}.")
        drives = self.drivers(top_k, min_share)
        n_tasks = drives.sum(axis=1).astype(int)
        role = np.where(n_tasks >= min_tasks, SHARED, np.where(n_tasks >= 1, SPECIFIC, MINOR))
        out = pd.DataFrame({
            "role": role,
            "n_tasks": n_tasks,
            "tasks": [", ".join(drives.columns[row]) for row in drives.to_numpy()],
            "mean_relative": self.relative().clip(lower=0).mean(axis=1).fillna(0.0),
        }, index=drives.index)
        order = out["role"].map({SHARED: 0, SPECIFIC: 1, MINOR: 2})
        keys = pd.DataFrame({"o": order, "n": -out["n_tasks"], "m": -out["mean_relative"]})
        return out.loc[keys.sort_values(["o", "n", "m"], kind="stable").index]


def task_importance(
    model,
    X,
    Y,
    *,
    n_repeats: int = 5,
    random_state: int | np.random.RandomState | None = None,
    metrics: Mapping[str, str] | None = None,
    features: Sequence[str] | None = None,
) -> TaskImportance:
    """Permutation importance of every feature for every target, one predict per shuffle.

    Parameters
    ----------
    model : fitted tabmtl estimator
        A :class:`~tabmtl.MultiTaskEstimator` (or array estimator, search or pipeline
        ending in one).
    X : pandas.DataFrame or ndarray
        The rows to explain (held-out rows show what generalizes), in the user's raw
        columns: a column is shuffled before the model's preprocessing, so every
        column derived from it is shuffled with it.
    Y : pandas.DataFrame
        Labels of every target of the model; NaN labels leave that task's scores only.
    n_repeats : int, default=5
        Shuffles per feature.
    random_state : int, RandomState or None
        Seeds the shuffles exactly as ``sklearn.inspection.permutation_importance`` does.
    metrics : dict, optional
        Target name or kind -> metric name (see
        :func:`~tabmtl.metrics.resolve_metrics`); default R² / accuracy.
    features : sequence of str, optional
        Columns to shuffle (default: every column the model was fitted on).

    Returns
    -------
    TaskImportance
        ``.table`` (tidy), ``.matrix`` (features x tasks), ``.shared_drivers()``.

    Examples
    --------
    >>> from tabmtl import MultiTaskEstimator
    >>> import datasets
    >>> X, Y = datasets.load("penguins")
    >>> model = MultiTaskEstimator(max_epochs=5, random_state=0).fit(X, Y)  # doctest: +SKIP
    >>> task_importance(model, X, Y, random_state=0).matrix  # doctest: +SKIP
    """
    if isinstance(n_repeats, bool) or int(n_repeats) != n_repeats or n_repeats < 1:
        raise InputError(f"n_repeats must be a positive integer, got {n_repeats!r}.")
    spec = fitted_multitask(model, "task_importance").target_spec_
    tasks = [str(name) for name in spec.target_names_]
    chosen = resolve_metrics(spec, metrics)
    if len(X) != len(Y):
        raise InputError(f"X has {len(X)} rows but Y has {len(Y)}.")
    if isinstance(Y, pd.DataFrame):
        lacking = [t for t in tasks if t not in map(str, Y.columns)]
        if lacking:
            raise InputError(f"Y lacks the model's target column(s) {lacking!r}.")
    columns = _columns_to_shuffle(model, X, features)
    scorer = task_scorer(metrics)
    baseline = scorer(model, X, Y)
    # as sklearn: one seed drawn from random_state, then a fresh RandomState(seed) per column
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    work = X.copy()
    drops = np.empty((len(columns), len(tasks), int(n_repeats)))
    for i, (_, position) in enumerate(columns):
        original = _column(work, position)
        rng = np.random.RandomState(seed)
        order = np.arange(len(work))
        for r in range(int(n_repeats)):
            rng.shuffle(order)  # cumulative in-place shuffles of the column, as sklearn's
            _set_column(work, position, _column(work, position, order))
            scores = scorer(model, work, Y)
            drops[i, :, r] = [baseline[t] - scores[t] for t in tasks]
        _set_column(work, position, original)
    return TaskImportance(
        importances=drops, features=[str(name) for name, _ in columns], tasks=tasks,
        metrics={t: chosen[t] for t in tasks},
        baseline=pd.Series({t: baseline[t] for t in tasks}, name="score", dtype=float),
    )


def _columns_to_shuffle(model, X, features) -> list[tuple[str, int]]:
    """(name, position in X) of each column to shuffle."""
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        fitted = getattr(model, "feature_names_in_", None)
        default = [str(c) for c in fitted] if fitted is not None else names
    else:
        names = [str(j) for j in range(np.shape(X)[1])]
        default = names
    wanted = default if features is None else [str(f) for f in features]
    unknown = [f for f in wanted if f not in names]
    if unknown:
        raise InputError(f"X lacks column(s) {unknown!r} to shuffle; it has {names!r}.")
    if len(set(wanted)) != len(wanted):
        raise InputError(f"features names a column twice: {list(wanted)!r}.")
    return [(f, names.index(f)) for f in wanted]


def _column(X, position: int, rows: np.ndarray | None = None):
    if isinstance(X, pd.DataFrame):
        column = X.iloc[:, position]
        if rows is None:
            return column.copy()
        shuffled = column.iloc[rows]
        shuffled.index = X.index
        return shuffled
    column = X[:, position]
    return column.copy() if rows is None else column[rows]


def _set_column(X, position: int, values) -> None:
    if isinstance(X, pd.DataFrame):
        X[X.columns[position]] = values
    else:
        X[:, position] = values
