"""Pruning from per-epoch validation losses, across the folds of one trial.

:class:`EpochPruning` is a skorch callback the objective adds to each fold's estimator.
After every epoch it reports the trial's intermediate value, the negated validation loss
of the objective's tasks (``valid_loss_<task>`` of the net's history, combined with the
objective's task weights), at step ``fold * max_epochs + epoch``: the same step means
the same fold and epoch in every trial, so a pruner compares like with like, and folds
never overwrite each other's reports. A trial the pruner deems hopeless raises
``optuna.TrialPruned`` out of the fit. Only a fit with a validation split (early stopping
on) has validation losses; without one nothing is reported and nothing is pruned.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from skorch.callbacks import Callback

from tabmtl.tuning._dependency import import_optuna

optuna = import_optuna()


class TrialReporter:
    """The trial and fold a fold's :class:`EpochPruning` reports to.

    Shared, never copied: the estimator clones its callbacks at each fit, and every
    clone must report to the one trial.

    Parameters
    ----------
    trial : optuna.Trial
    task_weights : dict
        Task name -> weight of its validation loss in the intermediate value.
    max_epochs : int
        Stride of the steps: fold ``f``'s epoch ``e`` (from 1) is step
        ``f * max_epochs + e - 1``.

    Examples
    --------
    >>> import copy
    >>> reporter = TrialReporter(None, {"y": 1.0}, max_epochs=10)
    >>> copy.deepcopy(reporter) is reporter
    True
    """

    def __init__(self, trial, task_weights: Mapping[str, float], max_epochs: int):
        self.trial = trial
        self.task_weights = dict(task_weights)
        self.max_epochs = int(max_epochs)
        self.fold = 0

    def __deepcopy__(self, memo):
        return self

    def value(self, row: Mapping[str, object]) -> float | None:
        """The intermediate value of one history row; None without validation losses."""
        losses = {t: row.get(f"valid_loss_{t}") for t in self.task_weights}
        pairs = [
            (float(v), w) for t, w in self.task_weights.items()
            if (v := losses[t]) is not None and np.isfinite(v) and w > 0
        ]
        if not pairs:
            return None
        values, weights = np.array(pairs).T
        return -float(np.average(values, weights=weights))

    def report(self, row: Mapping[str, object]) -> None:
        """Report one epoch's value; raise ``optuna.TrialPruned`` if the pruner says so."""
        value = self.value(row)
        if value is None:
            return
        epoch = int(row["epoch"])
        step = self.fold * self.max_epochs + min(epoch, self.max_epochs) - 1
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at fold {self.fold + 1}, epoch {epoch}")


class EpochPruning(Callback):
    """skorch callback: hands each finished epoch's history row to a :class:`TrialReporter`.

    Examples
    --------
    >>> from tabmtl import MultiTaskEstimator
    >>> reporter = TrialReporter(None, {"y": 1.0}, max_epochs=5)
    >>> est = MultiTaskEstimator(callbacks=[EpochPruning(reporter)])
    """

    def __init__(self, reporter: TrialReporter):
        self.reporter = reporter

    def on_epoch_end(self, net, **kwargs):
        self.reporter.report(net.history[-1])
