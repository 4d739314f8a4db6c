"""Do auxiliary targets help the main ones? Cross-validated, paired by fold.

:func:`auxiliary_gain` scores each main target, on the same folds and with the same
seeds (every model of fold ``k`` is seeded ``seed + k``), fitted

- *alone*: a single-task network on that target;
- *with all auxiliaries*: the target plus every auxiliary column, the auxiliaries
  declared as such (``MultiTaskEstimator(auxiliary=...)``: selected and scored on the
  main target only);
- *with each auxiliary* (up to ``max_each`` of them): the target plus that one.

A gain (score with auxiliaries minus score alone, paired by fold) counts only when the
folds support it: :func:`tabmtl.evaluation._results.supported_loss` (the report's one noise
rule) applied to the negated gains; a loss likewise to the gains themselves.
``main_fraction < 1`` keeps only that share of each training fold's main labels (a seeded
subsample per fold) while the auxiliary labels stay complete: the label-scarce setting
where auxiliaries should help most.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from tabmtl._data.targets import TargetSpec
from tabmtl._data.targets.roles import auxiliary_names, split_roles
from tabmtl._estimators import MultiTaskEstimator
from tabmtl.errors import InputError
from tabmtl.evaluation._folds import make_folds
from tabmtl.evaluation._metrics import resolve_metrics, score_output
from tabmtl.evaluation._outputs import tabmtl_outputs
from tabmtl.evaluation._results import format_markdown, supported_loss

#: Model names in :attr:`AuxiliaryGainResult.scores`; each single auxiliary is ``+<name>``.
ALONE, ALL = "alone", "all auxiliaries"


@dataclass
class AuxiliaryGainResult:
    """Per main target, its score alone, with all auxiliaries and with each one.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per fold, main target and model: ``fold``, ``task``, ``metric``,
        ``model`` (``"alone"``, ``"all auxiliaries"`` or ``"+<auxiliary>"``), ``value``
        and ``gain`` (``value`` minus the same fold's ``"alone"`` value).
    summary : pandas.DataFrame
        One row per main target and model: ``mean``, ``std`` (over folds), ``gain``,
        ``gain_std``, ``verdict`` ("gain" or "loss" when the folds support it, "within
        noise" otherwise; "" for ``"alone"``).
    cv_description : str
    main_fraction : float

    Examples
    --------
    >>> result = auxiliary_gain(X, Y, main=["fare"], auxiliary=["duration"])  # doctest: +SKIP
    >>> print(result.to_markdown())  # doctest: +SKIP
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    cv_description: str
    main_fraction: float = 1.0

    def to_markdown(self) -> str:
        """The summary as a markdown table (scores and gains as mean ± std over folds)."""
        rows = [
            [
                r.task, r.metric, r.model, _pm(r.mean, r.std),
                "" if r.model == ALONE else _pm(r.gain, r.gain_std, signed=True), r.verdict,
            ]
            for r in self.summary.itertuples()
        ]
        return format_markdown(rows, ["task", "metric", "model", "score", "gain", "verdict"])


def _pm(mean: float, std: float, signed: bool = False) -> str:
    if not np.isfinite(mean):
        return "n/a"
    std = 0.0 if not np.isfinite(std) else std
    return f"{mean:+.3f} ± {std:.3f}" if signed else f"{mean:.3f} ± {std:.3f}"


def _verdict(gains: np.ndarray) -> str:
    if supported_loss(-gains):
        return "gain"
    if supported_loss(gains):
        return "loss"
    return "within noise"


def _restricted(template: MultiTaskEstimator, names: Sequence, auxiliary: list):
    """A clone of ``template`` for the targets ``names``, ``auxiliary`` among them."""
    keep = set(names)
    params: dict = {"auxiliary": auxiliary or None}
    for key in ("targets", "class_weight"):
        value = getattr(template, key)
        if isinstance(value, Mapping):
            params[key] = {k: v for k, v in value.items() if k in keep} or None
    if len(names) == 1:
        params["weighting"] = "equal"
    elif isinstance(template.weighting, Mapping):
        params["weighting"] = {k: v for k, v in template.weighting.items() if k in keep}
    return clone(template).set_params(**params)


def auxiliary_gain(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    main,
    auxiliary,
    estimator: MultiTaskEstimator | None = None,
    *,
    cv: int | object = 3,
    max_each: int = 5,
    main_fraction: float = 1.0,
    metrics: Mapping[str, str] | None = None,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    random_state: int = 0,
    log: Callable[[str], None] | None = None,
) -> AuxiliaryGainResult:
    """Cross-validate each main target alone, with all auxiliaries and with each one.

    Parameters
    ----------
    X, Y : pandas.DataFrame
        Features and targets (``Y`` holds the main and auxiliary columns).
    main, auxiliary : name or list of names
        Columns of ``Y``: the targets to score, and the ones that only help.
    estimator : MultiTaskEstimator, optional
        The settings of every network (its ``auxiliary`` is replaced); default
        ``MultiTaskEstimator(random_state=random_state)``.
    cv : int, splitter or folds, default=3
        As ``tabmtl.evaluation._folds.make_folds``.
    max_each : int, default=5
        Fit each auxiliary on its own (``"+<name>"`` rows) only when there are at most
        this many (0: never).
    main_fraction : float, default=1.0
        Share of each training fold's main labels kept (seeded per fold); auxiliary
        labels stay complete. The held-out fold is always scored in full.
    metrics : dict, optional
        Target name or kind -> metric (see :func:`~tabmtl.metrics.task_scorer`).
    stratify, groups : pandas.Series, optional
        As ``make_folds``; ``groups`` also reach every fit (early stopping holds out whole
        groups, as ``MultiTaskEstimator.fit(groups=)``).
    random_state : int, default=0
        Seed of the folds, the label subsample and (``+ fold``) the networks.
    log : callable, optional
        Called with a progress line after each fit.

    Returns
    -------
    AuxiliaryGainResult

    Examples
    --------
    >>> result = auxiliary_gain(X, Y, "body_mass_g", ["species", "sex_male"])  # doctest: +SKIP
    >>> print(result.to_markdown())  # doctest: +SKIP
    """
    if not isinstance(X, pd.DataFrame) or not isinstance(Y, pd.DataFrame):
        raise InputError("X and Y must be pandas DataFrames (features and targets).")
    if len(X) != len(Y):
        raise InputError(f"X has {len(X)} rows but Y has {len(Y)}; they must match.")
    if not 0.0 < float(main_fraction) <= 1.0:
        raise InputError(f"main_fraction must be in (0, 1], got {main_fraction!r}.")
    aux = split_roles(auxiliary, list(Y.columns))[1]
    mains = auxiliary_names(main)
    unknown = [m for m in mains if m not in Y.columns]
    if unknown or not mains:
        raise InputError(
            f"main target(s) {unknown or mains!r} are not columns of Y ({list(Y.columns)!r})."
        )
    overlap = [m for m in mains if m in aux]
    if overlap:
        raise InputError(f"target(s) {overlap!r} are both main and auxiliary.")
    if not aux:
        raise InputError("auxiliary names no column: give at least one auxiliary target.")
    X, Y = X.reset_index(drop=True), Y[mains + aux].reset_index(drop=True)
    template = MultiTaskEstimator(random_state=random_state) if estimator is None else estimator
    template = clone(template).set_params(verbose=0)
    if template.random_state is None:
        template.set_params(random_state=random_state)
    spec = TargetSpec(targets=template.targets).fit(Y)
    tasks = {t.name: t for t in spec.tasks_}
    chosen = resolve_metrics(spec, metrics)
    folds, how = make_folds(len(X), cv, stratify=stratify, groups=groups,
                            random_state=random_state)
    models = [(ALONE, []), (ALL, aux)]
    if len(aux) > 1 and len(aux) <= max_each:
        models += [(f"+{a}", [a]) for a in aux]
    say, started = log or (lambda _msg: None), time.perf_counter()
    rows = []
    for k, (train, test) in enumerate(folds):
        seed = template.random_state + k
        for m in mains:
            Ytr = Y.iloc[train][[m, *aux]].copy()
            if main_fraction < 1.0:
                labelled = np.flatnonzero(Ytr[m].notna().to_numpy())
                keep = math.ceil(main_fraction * len(labelled))
                rng = np.random.default_rng([random_state, k])
                dropped = np.setdiff1d(labelled, rng.choice(labelled, keep, replace=False))
                Ytr.iloc[dropped, Ytr.columns.get_loc(m)] = None
            for model, helpers in models:
                names = [m, *helpers]
                est = _restricted(template, names, list(helpers)).set_params(random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # rows without labels
                    est.fit(X.iloc[train], Ytr[names], groups=(
                        None if groups is None else np.asarray(groups)[train]
                    ))
                out = tabmtl_outputs(est, X.iloc[test], [tasks[m]])[m]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    value = score_output(tasks[m], Y[m].iloc[test], out, chosen[str(m)])
                rows.append(dict(fold=k, task=m, metric=chosen[str(m)], model=model,
                                 value=value))
                say(f"[{time.perf_counter() - started:6.0f}s] fold {k + 1}/{len(folds)} "
                    f"{m} {model}: {value:.4f}")
    scores = pd.DataFrame(rows)
    alone = scores[scores.model == ALONE].set_index(["fold", "task"])["value"]
    scores["gain"] = scores["value"].to_numpy() - alone.loc[
        list(zip(scores.fold, scores.task))
    ].to_numpy()
    summary = []
    for (task, model), part in scores.groupby(["task", "model"], sort=False):
        gains = part["gain"].to_numpy(dtype=float)
        summary.append(dict(
            task=task, metric=part["metric"].iloc[0], model=model,
            mean=part["value"].mean(), std=part["value"].std(ddof=1),
            gain=gains.mean(), gain_std=gains.std(ddof=1) if len(gains) > 1 else 0.0,
            verdict="" if model == ALONE else _verdict(gains),
        ))
    return AuxiliaryGainResult(scores, pd.DataFrame(summary), how, float(main_fraction))
