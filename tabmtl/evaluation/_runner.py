"""Fitting and scoring the models of a transfer analysis on fixed folds, with a cache.

:meth:`FoldRunner.setup` checks the inputs, builds the estimator template, fits the
target spec, resolves the metrics and makes the folds: the set-up shared by
:func:`~tabmtl.evaluation._transfer.cross_validate_transfer`,
:func:`~tabmtl.evaluation._affinity.pairwise_affinity` and
:func:`~tabmtl.evaluation._grouping.recommend_task_groups`. The runner then fits a tabmtl
network on any subset of the targets, or the HistGB baseline on one, for one fold, and
caches every network by (targets, fold), so an analysis that needs the same model twice
fits it once.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from tabmtl._data.targets import TargetSpec
from tabmtl._estimators import MultiTaskEstimator
from tabmtl._training.build import resolve_early_stopping
from tabmtl._training.callbacks import epoch_rows
from tabmtl._training.iterators import TensorDataset
from tabmtl._uncertainty.calibrator import calibration_split
from tabmtl.evaluation._baseline import fit_hgb, hgb_frame, hgb_output
from tabmtl.evaluation._folds import make_folds
from tabmtl.evaluation._metrics import resolve_metrics, score_output
from tabmtl.evaluation._outputs import tabmtl_outputs
from tabmtl.evaluation._results import HISTGB, SINGLE_TASK

Log = Callable[[str], None]


class _HeldOutSplit:
    """skorch ``train_split``: train on every row given, validate on a fixed held-out fold.

    The estimator fits its feature preprocessor and target spec before the net asks for
    the split, so the held-out rows are encoded with exactly the fitted transformers
    (labels unseen in training count as missing). The validation losses are a
    diagnostic for the learning curves; they never steer training: there is no early
    stopping, and :class:`~tabmtl._training.callbacks.BestWeights` then keeps epochs by
    the training objective, even after a divergence or Ctrl-C.
    """

    def __init__(self, X_valid: pd.DataFrame, Y_valid: pd.DataFrame):
        self.X_valid, self.Y_valid = X_valid, Y_valid
        self.estimator: MultiTaskEstimator | None = None

    def __call__(self, dataset, y=None, **fit_params):
        est = self.estimator
        X_enc = est.preprocessor_.transform(self.X_valid)
        y_enc, _ = est.target_spec_.transform_known(self.Y_valid)  # unseen label -> missing
        return dataset, TensorDataset(X_enc, y_enc)

    def release(self) -> None:
        """Drop the held-out data and the estimator (no reference cycle kept)."""
        self.X_valid = self.Y_valid = self.estimator = None


def _restricted(template: MultiTaskEstimator, names: Sequence[str]) -> MultiTaskEstimator:
    """A clone of ``template`` for a subset of the targets.

    Per-target parameters (kind overrides, class weights, fixed loss weights) keep only
    the targets in ``names``; a single task gets ``weighting="equal"`` (one loss: there
    is nothing to weight, and a weighting fitted to several tasks would not apply).
    """
    est = clone(template)
    keep = set(names)
    params = {}
    if isinstance(template.targets, Mapping):
        params["targets"] = {k: v for k, v in template.targets.items() if k in keep} or None
    if isinstance(template.class_weight, Mapping):
        params["class_weight"] = {
            k: v for k, v in template.class_weight.items() if k in keep
        } or None
    if len(names) == 1:
        params["weighting"] = "equal"
    elif isinstance(template.weighting, Mapping):
        params["weighting"] = {k: v for k, v in template.weighting.items() if k in keep}
    return est.set_params(**params)


def _check_inputs(X, Y) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not isinstance(X, pd.DataFrame) or not isinstance(Y, pd.DataFrame):
        raise TypeError("X and Y must be pandas DataFrames (features and targets).")
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}; they must match.")
    if Y.shape[1] < 2:
        raise ValueError(
            f"Transfer analysis needs at least 2 targets; Y has {list(Y.columns)!r}."
        )
    names = [str(c) for c in Y.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"Target names must be unique as strings, got {names!r}.")
    # positional folds index both frames: drop any index so .iloc and labels agree
    return X.reset_index(drop=True), Y.set_axis(names, axis=1).reset_index(drop=True)


def _template(estimator, random_state) -> MultiTaskEstimator:
    if estimator is None:
        return MultiTaskEstimator(random_state=random_state)
    if not isinstance(estimator, MultiTaskEstimator):
        raise TypeError(
            f"estimator must be an (unfitted) MultiTaskEstimator, got {type(estimator).__name__}."
        )
    est = clone(estimator)
    if est.random_state is None:  # reproducible: every model of fold k gets seed + k
        est.set_params(random_state=random_state)
    return est.set_params(verbose=0)


class FoldRunner:
    """Fits and scores models on fixed folds; caches every network by (tasks, fold).

    Build it with :meth:`setup`. Models fit with a ``model`` name (``"multi-task"``,
    ``"single-task"``, ``"HistGB"``) are recorded: one long-form score row per task and
    fold in ``rows``, their out-of-fold ``predictions``, ``histories`` and
    ``fit_seconds``; other fits (pairs, groups) are only scored and cached.

    Examples
    --------
    >>> runner = FoldRunner.setup(X, Y, MultiTaskEstimator(), cv=3)  # doctest: +SKIP
    >>> runner.single("species", fold=0)  # doctest: +SKIP
    {'species': 0.93}
    """

    def __init__(self, X, Y, template, spec, metrics, folds, cv_description, random_state,
                 log=None, groups=None):
        self.X, self.Y, self.template = X, Y, template
        # the folds' groups also reach every fit: early stopping holds out whole groups
        self.groups = None if groups is None else np.asarray(groups)
        self.spec, self.metrics, self.folds = spec, metrics, folds
        self.cv_description = cv_description
        self.random_state = random_state
        self.names = list(Y.columns)
        self.say = log or (lambda _msg: None)
        self.tasks = {str(t.name): t for t in spec.tasks_}
        self.started = time.perf_counter()
        self._hgb_X = None
        self._scores: dict[tuple, dict[str, float]] = {}
        self.rows: list[dict] = []
        self.histories: dict[str, list[pd.DataFrame]] = {}
        self.predictions: dict[str, dict[str, np.ndarray]] = {}
        self.fit_seconds: dict[str, float] = {}

    @classmethod
    def setup(
        cls,
        X: pd.DataFrame,
        Y: pd.DataFrame,
        estimator: MultiTaskEstimator | None = None,
        *,
        cv: int | object = 5,
        stratify: pd.Series | None = None,
        groups: pd.Series | None = None,
        metrics: Mapping[str, str] | None = None,
        random_state: int = 0,
        log: Log | None = None,
    ) -> FoldRunner:
        """Check the inputs, fit the target spec, resolve the metrics, make the folds.

        The target kinds are decided here, once, on the whole table (or taken from the
        estimator's ``targets``), and every model of every fold is fitted with them.

        The parameters are those of
        :func:`~tabmtl.evaluation._transfer.cross_validate_transfer`.
        """
        X, Y = _check_inputs(X, Y)
        template = _template(estimator, random_state)
        spec = TargetSpec(targets=template.targets).fit(Y)
        # kinds are decided once, on the whole table (or by the user): a fold's training
        # rows could read differently (an integer target with 21 values on the table may
        # show 20 in a fold, and turn multiclass), so every fold's model is told them
        template.set_params(targets={str(t.name): t.kind for t in spec.tasks_})
        chosen = resolve_metrics(spec, metrics)
        folds, how = make_folds(
            len(X), cv, stratify=stratify, groups=groups, random_state=random_state
        )
        return cls(X, Y, template, spec, chosen, folds, how, random_state, log, groups)

    def seed(self, fold: int, base: object) -> object:
        """The seed of every model of one fold: ``base + fold`` for an integer base.

        Within a fold every model gets the same seed; across folds the seeds differ, so
        the luck of one weight initialisation (which would favour the same models in
        every fold) averages out over the folds instead of biasing every comparison.
        """
        return base + fold if isinstance(base, (int, np.integer)) else base

    def _log_fit(self, what: str, fold: int, seconds: float) -> None:
        self.say(
            f"[{time.perf_counter() - self.started:6.0f}s] fold {fold + 1}/{len(self.folds)} "
            f"{what}: fit {seconds:.1f}s"
        )

    def _score(self, fold: int, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        test = self.folds[fold][1]
        scores = {}
        for name, out in outputs.items():
            task = self.tasks[name]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # e.g. one-class fold
                scores[name] = score_output(
                    task, self.Y[task.name].iloc[test], out, self.metrics[name]
                )
        return scores

    def _keep(self, model: str, fold: int, outputs: dict, scores: dict) -> None:
        test = self.folds[fold][1]
        store = self.predictions.setdefault(model, {})
        for name, out in outputs.items():
            if name not in store:
                shape = (len(self.Y), *np.shape(out)[1:])
                store[name] = np.full(shape, np.nan)
            store[name][test] = out
            self.rows.append(
                {
                    "task": name,
                    "kind": self.tasks[name].kind,
                    "metric": self.metrics[name],
                    "model": model,
                    "fold": fold,
                    "value": scores[name],
                }
            )

    def tabmtl(self, names: Sequence[str], fold: int, model: str | None = None) -> dict:
        """Fit one tabmtl network on ``names`` for one fold; per-task test scores."""
        key = ("tabmtl", tuple(names), fold)
        if key in self._scores:
            return self._scores[key]
        train, test = self.folds[fold]
        Ytr = self.Y.iloc[train][list(names)]
        rows = Ytr.notna().any(axis=1).to_numpy()  # rows with no label for these tasks
        Xtr, Ytr = self.X.iloc[train][rows], Ytr[rows]
        est = _restricted(self.template, names)
        est.set_params(random_state=self.seed(fold, self.template.random_state))
        split = None
        held_out, _ = calibration_split(len(Xtr), est.calibration_fraction, seed=0)
        fitted_rows = len(Xtr) - len(held_out)  # the rows the fit may early-stop on
        if not resolve_early_stopping(est.early_stopping, fitted_rows):
            # else the history already has early stopping's own validation split
            split = _HeldOutSplit(self.X.iloc[test], self.Y.iloc[test])
            split.estimator = est
            est.set_params(net_kwargs={**(est.net_kwargs or {}), "train_split": split})
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "dropping unlabelled rows"
                est.fit(Xtr, Ytr, groups=(
                    None if self.groups is None else self.groups[train][rows]
                ))
        finally:
            if split is not None:
                split.release()
        seconds = time.perf_counter() - t0
        if model is None:
            what = f"tabmtl on {' + '.join(names)}"
        else:
            what = model if len(names) > 1 else f"{model} {names[0]}"
        self._log_fit(what, fold, seconds)
        outputs = tabmtl_outputs(est, self.X.iloc[test], [self.tasks[n] for n in names])
        scores = self._score(fold, outputs)
        self._scores[key] = scores
        if model is not None:
            self.fit_seconds[model] = self.fit_seconds.get(model, 0.0) + seconds
            self._keep(model, fold, outputs, scores)
            hist_key = model if len(names) > 1 else f"{model}:{names[0]}"
            self.histories.setdefault(hist_key, []).append(pd.DataFrame(epoch_rows(est.history_)))
        return scores

    def hgb(self, name: str, fold: int) -> dict:
        """HistGradientBoosting on one target for one fold (its labelled training rows)."""
        if self._hgb_X is None:
            self._hgb_X = hgb_frame(self.X)
        task = self.tasks[name]
        train, test = self.folds[fold]
        t0 = time.perf_counter()
        model = fit_hgb(task, self._hgb_X.iloc[train], self.Y[task.name].iloc[train],
                        random_state=self.seed(fold, self.random_state))
        outputs = {name: hgb_output(model, task, self._hgb_X.iloc[test])}
        seconds = time.perf_counter() - t0
        self.fit_seconds[HISTGB] = self.fit_seconds.get(HISTGB, 0.0) + seconds
        self._log_fit(f"{HISTGB} {name}", fold, seconds)
        scores = self._score(fold, outputs)
        self._keep(HISTGB, fold, outputs, scores)
        return scores

    def single(self, name: str, fold: int, keep: bool = True) -> dict:
        """The single-task network of one target for one fold (recorded if ``keep``)."""
        return self.tabmtl([name], fold, model=SINGLE_TASK if keep else None)

    def paired_gain(self, names: Sequence[str], fold: int) -> dict[str, float]:
        """Per task of ``names``: score trained with ``names`` minus score trained alone."""
        together = self.tabmtl(names, fold)
        return {n: together[n] - self.single(n, fold)[n] for n in names}
