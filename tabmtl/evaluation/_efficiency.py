"""Data efficiency: does multi-task learning help more when labels are scarce?

:func:`data_efficiency` repeats the multi-task vs single-task comparison of
:func:`~tabmtl.evaluation.cross_validate_transfer` on nested subsamples of every
training fold: the same folds (the held-out rows never change), the same seeds (every
model of fold ``k`` is seeded ``seed + k`` at every size), and for each fold one
permutation of its training rows, seeded by the fold, of which the first ``⌈f·n⌉`` rows
train at fraction ``f``, so each smaller training set is a subset of every larger one.
The per-task gain (multi-task minus single-task score, paired by fold) at each size
then shows whether the multi-task advantage grows as the labels get fewer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabmtl._estimators import MultiTaskEstimator
from tabmtl.errors import InputError
from tabmtl.evaluation._results import format_markdown
from tabmtl.evaluation._runner import FoldRunner, Log

#: Columns of :attr:`EfficiencyResult.scores`, one row per (size, fold, task).
SCORE_COLUMNS = ["size", "n_train", "fold", "task", "metric", "mt_score", "st_score", "gain"]


def check_train_sizes(sizes: Sequence[float]) -> list[float]:
    """The training fractions sorted and deduplicated; InputError unless each is in (0, 1].

    Examples
    --------
    >>> check_train_sizes([1.0, 0.25, 0.1])
    [0.1, 0.25, 1.0]
    """
    values = []
    for size in sizes:
        try:
            value = float(size)
        except (TypeError, ValueError):
            raise InputError(f"train_sizes must be numbers in (0, 1], got {size!r}.") from None
        if not 0.0 < value <= 1.0:  # also rejects NaN
            raise InputError(f"train_sizes must be fractions in (0, 1], got {size!r}.")
        values.append(value)
    if not values:
        raise InputError("train_sizes is empty: give at least one fraction in (0, 1].")
    return sorted(set(values))


def nested_subsample(train: np.ndarray, fractions: Sequence[float], seed: object
                     ) -> dict[float, np.ndarray]:
    """Per fraction ``f``, the first ``⌈f·n⌉`` rows of one seeded permutation of ``train``.

    The subsets are nested (each is a subset of every larger one) and each keeps the
    rows in their original order, so ``f = 1`` gives ``train`` itself.

    Examples
    --------
    >>> subsets = nested_subsample(np.arange(10), [0.25, 1.0], seed=[0, 0])
    >>> len(subsets[0.25]), bool(np.isin(subsets[0.25], subsets[1.0]).all())
    (3, True)
    """
    order = np.random.default_rng(seed).permutation(len(train))
    return {f: train[np.sort(order[: subsample_size(f, len(train))])] for f in fractions}


def subsample_size(fraction: float, n: int) -> int:
    """``⌈fraction·n⌉`` rows, counted in decimals: ``0.07 · 100`` is 7, not 8.

    In binary floating point ``0.07 * 100 == 7.000000000000001``, whose ceiling is 8; the
    product is rounded to 9 decimals first, far below one row and far above the error.

    Examples
    --------
    >>> subsample_size(0.07, 100), subsample_size(0.075, 100), subsample_size(0.001, 100)
    (7, 8, 1)
    """
    return min(n, math.ceil(round(float(fraction) * n, 9)))


@dataclass
class EfficiencyResult:
    """Multi-task gain per task at each training size, fold by fold.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per size, fold and task: ``size`` (fraction of the training fold),
        ``n_train`` (its rows), ``fold``, ``task``, ``metric``, ``mt_score``,
        ``st_score`` and ``gain`` (``mt_score - st_score``).
    summary : pandas.DataFrame
        One row per size and task: ``size``, ``task``, ``metric``, ``n_train`` (mean
        over folds), ``mt_mean``, ``st_mean``, ``gain_mean`` and ``gain_std`` (over folds).
    cv_description : str
        How the folds were made.

    Examples
    --------
    >>> result = data_efficiency(X, Y, sizes=(0.25, 1.0), cv=3)  # doctest: +SKIP
    >>> print(result.to_markdown())  # doctest: +SKIP
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    cv_description: str

    @property
    def sizes(self) -> list[float]:
        """The training fractions, ascending."""
        return sorted(self.summary["size"].unique())

    @property
    def task_names(self) -> list[str]:
        """The tasks, in the table's order."""
        return list(dict.fromkeys(self.summary["task"]))

    @property
    def negative_transfer(self) -> list[str]:
        """Tasks whose per-fold gains support a loss at one training size or more.

        The rule of ``supported_loss`` (a negative mean
        within the folds' noise is not a loss). What ``--fail-on-negative`` checks with
        ``--train-sizes`` (exit code 4), as
        :attr:`TransferResult.negative_transfer <tabmtl.evaluation._results.TransferResult>`
        is without.
        """
        from tabmtl.evaluation._results import supported_loss

        negative = {task for (_, task), part in self.scores.groupby(["size", "task"])
                    if supported_loss(part["gain"].to_numpy(dtype=float))}
        return [task for task in self.task_names if task in negative]

    def gain_table(self) -> pd.DataFrame:
        """Tasks x sizes of the mean gain (a wide view of ``summary``)."""
        wide = self.summary.pivot(index="task", columns="size", values="gain_mean")
        return wide.loc[self.task_names, self.sizes]

    def to_markdown(self) -> str:
        """Per task, the mean gain ± std over folds at each size, and the rows trained on."""
        headers = ["task", "metric"] + [
            f"{size:g} (n≈{n:.0f})" for size, n in
            self.summary.groupby("size")["n_train"].mean().items()
        ]
        rows = []
        for task in self.task_names:
            part = self.summary[self.summary["task"] == task].set_index("size")
            cells = [
                "n/a" if not np.isfinite(part.loc[s, "gain_mean"]) else
                f"{part.loc[s, 'gain_mean']:+.3f} ± {np.nan_to_num(part.loc[s, 'gain_std']):.3f}"
                for s in self.sizes
            ]
            rows.append([task, part["metric"].iloc[0], *cells])
        return format_markdown(rows, headers)


def summarize_efficiency(scores: pd.DataFrame) -> pd.DataFrame:
    """Per size and task, mean scores and the gain's mean and std over folds.

    Examples
    --------
    >>> summarize_efficiency(result.scores)  # doctest: +SKIP
    """
    order = list(dict.fromkeys(scores["task"]))
    grouped = scores.groupby(["size", "task"], sort=False)
    summary = grouped.agg(
        metric=("metric", "first"), n_train=("n_train", "mean"), mt_mean=("mt_score", "mean"),
        st_mean=("st_score", "mean"), gain_mean=("gain", "mean"),
        gain_std=("gain", lambda g: g.std(ddof=1) if g.notna().sum() > 1 else np.nan),
    ).reset_index()
    summary["task"] = pd.Categorical(summary["task"], categories=order)
    summary = summary.sort_values(["size", "task"], kind="stable")
    summary["task"] = summary["task"].astype(str)
    return summary.reset_index(drop=True)


def data_efficiency(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    estimator: MultiTaskEstimator | None = None,
    *,
    sizes: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    cv: int | object = 5,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    metrics: Mapping[str, str] | None = None,
    random_state: int = 0,
    log: Log | None = None,
) -> EfficiencyResult:
    """Multi-task vs single-task on nested subsamples of every training fold.

    Fits, per fold and size, one multi-task network and one single-task network per
    target (``len(sizes) * K * (1 + T)`` fits); scores them on the fold's full held-out
    rows.

    Parameters
    ----------
    X, Y, estimator, cv, stratify, groups, metrics, random_state, log
        As in :func:`~tabmtl.evaluation.cross_validate_transfer`.
    sizes : sequence of float, default=(0.1, 0.25, 0.5, 1.0)
        Fractions in (0, 1] of each training fold to train on (see the module notes:
        nested, one seeded permutation per fold). At 1 the scores are those of
        ``cross_validate_transfer`` with the same arguments.

    Returns
    -------
    EfficiencyResult

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = datasets.load("penguins")
    >>> result = data_efficiency(
    ...     X, Y, MultiTaskEstimator(max_epochs=3, hidden_layer_sizes=(16,)),
    ...     sizes=(0.5, 1.0), cv=2)  # doctest: +SKIP
    >>> result.gain_table().shape  # doctest: +SKIP
    (3, 2)
    """
    fractions = check_train_sizes(sizes)
    full = FoldRunner.setup(
        X, Y, estimator, cv=cv, stratify=stratify, groups=groups, metrics=metrics,
        random_state=random_state, log=log,
    )
    subsets = [
        nested_subsample(train, fractions, seed=[random_state, fold])
        for fold, (train, _) in enumerate(full.folds)
    ]
    names, say = full.names, full.say
    rows = []
    for size in fractions:
        folds = [(subset[size], test) for subset, (_, test) in zip(subsets, full.folds)]
        runner = FoldRunner(
            full.X, full.Y, full.template, full.spec, full.metrics, folds,
            full.cv_description, random_state, log,
        )
        runner.started = full.started  # one clock for the progress lines of every size
        say(f"training size {size:g}: {[len(train) for train, _ in folds]} rows per fold")
        for fold, (train, _) in enumerate(folds):
            together = runner.tabmtl(names, fold)
            for name in names:
                alone = runner.single(name, fold, keep=False)[name]
                rows.append([size, len(train), fold, name, full.metrics[name],
                             together[name], alone, together[name] - alone])
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    return EfficiencyResult(scores, summarize_efficiency(scores), full.cv_description)
