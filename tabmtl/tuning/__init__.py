"""Hyper-parameter search with Optuna (the ``tabmtl[tune]`` extra).

:func:`tune` cross-validates sampled configurations of a tabmtl estimator in an Optuna
study (resumable, shareable through a database, pruned from per-epoch validation
losses) and returns a :class:`TuningResult` (best parameters, their score per task, the
config that ``tabmtl fit --config`` reads, the refitted estimator on request).
``DEFAULT_SPACE`` is the search space :func:`tune` samples when given none.

Optuna is imported when one of these names is first used, so ``import tabmtl`` and
``tabmtl.tuning._params`` work without the extra.

Examples
--------
>>> from tabmtl.tuning import tune  # doctest: +SKIP
>>> result = tune(MultiTaskEstimator(), X, Y, n_trials=30,
...               storage="sqlite:///tuning.db", refit=True)  # doctest: +SKIP
>>> result.best_estimator_.predict(X_new)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "tune": "tabmtl.tuning._study",
    "TuningResult": "tabmtl.tuning._study",
    "open_study": "tabmtl.tuning._study",
    "SearchSpace": "tabmtl.tuning._space",
    "DEFAULT_SPACE": "tabmtl.tuning._space",
    "EpochPruning": "tabmtl.tuning._pruning",
    "TrialReporter": "tabmtl.tuning._pruning",
    "estimator_params": "tabmtl.tuning._params",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tabmtl.tuning' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
