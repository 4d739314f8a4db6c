"""A TPE sampler seeded per trial, so that a resumed or shared study explores new points.

``TPESampler(seed=seed)`` replays the same random draws in every process that builds it:
a study continued by a second ``tune`` call, or shared by workers started with one seed
(``tabmtl tune`` always passes one), samples the start-up configurations of the first run
again. :class:`TrialSeededSampler` draws trial ``n``'s values from a generator seeded by
``(seed, n)``. Trial numbers are unique in a study (the storage hands them out), so every
trial of a continued or shared study gets draws of its own, while one seeded run on a
fresh storage numbers its trials 0, 1, ... and samples the same values every time. TPE
itself (the model of the finished trials) is unchanged: the generator only decides the
random start-up points and TPE's candidate draws.
"""

from __future__ import annotations

import numpy as np

from tabmtl.tuning._dependency import import_optuna

optuna = import_optuna()


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number``'s draws: mixed from both, in ``[0, 2**32)``.

    Examples
    --------
    >>> trial_seed(0, 3) == trial_seed(0, 3), trial_seed(0, 3) == trial_seed(0, 4)
    (True, False)
    """
    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """TPE whose random draws for trial ``n`` are seeded by ``(seed, n)``.

    Parameters
    ----------
    seed : int
        The run's seed; with the trial number it seeds each trial's draws.
    **tpe_options
        Passed to every ``optuna.samplers.TPESampler`` (``n_startup_trials``, ...).

    Examples
    --------
    >>> sampler = TrialSeededSampler(seed=0)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    >>> again = optuna.create_study(sampler=TrialSeededSampler(seed=0))
    >>> again.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    >>> [t.params for t in study.trials] == [t.params for t in again.trials]
    True
    """

    def __init__(self, seed: int = 0, **tpe_options):
        self.seed = int(seed)
        self.tpe_options = tpe_options
        self._tpe = optuna.samplers.TPESampler(seed=self.seed, **tpe_options)

    def before_trial(self, study, trial) -> None:
        """Start trial ``trial.number`` with a TPE sampler seeded for it."""
        self._tpe = optuna.samplers.TPESampler(
            seed=trial_seed(self.seed, trial.number), **self.tpe_options
        )
        self._tpe.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
