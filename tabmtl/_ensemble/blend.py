"""MultiTaskBlend: the multi-task net and per-target boosting, blended per task."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from tabmtl._data.features import check_unique_names
from tabmtl._data.targets import TargetKind, TargetSpec
from tabmtl._ensemble.boosting import (
    BoostingFrame,
    boosting_output,
    boosting_templates,
    fit_boosting,
)
from tabmtl._ensemble.decoding import empty_output, encoded_labels, temper
from tabmtl._ensemble.inputs import check_targets, check_task_sizes
from tabmtl._ensemble.intervals import BlendIntervalsMixin
from tabmtl._ensemble.prediction import BlendPredictionMixin
from tabmtl._ensemble.weights import SELECTIONS, blend, choose_weights, task_loss, task_score
from tabmtl._estimators import MultiTaskEstimator
from tabmtl._uncertainty.temperature import fit_temperature
from tabmtl.errors import InputError, InputTypeError
from tabmtl.evaluation._folds import make_folds
from tabmtl.evaluation._outputs import tabmtl_outputs

#: The net's and the single-task nets' names among the learners.
NET, SINGLE = "net", "single_task"


def _fit_net(template: MultiTaskEstimator, X: pd.DataFrame, Y: pd.DataFrame, groups=None):
    """A clone of ``template`` fitted on ``X, Y``, or KeyboardInterrupt if Ctrl-C cut it short.

    A net's own fit takes Ctrl-C as "stop and keep the best epoch so far"; inside a blend
    that would leave one of several nets half-trained behind weights chosen for full
    fits, so the interrupt ends the whole blend fit instead."""
    model = clone(template)
    # groups only when there are some: a user's net template may not take them
    model = model.fit(X, Y) if groups is None else model.fit(X, Y, groups=groups)
    if getattr(model, "interrupted_", False):
        raise KeyboardInterrupt(
            "MultiTaskBlend.fit was interrupted while fitting its net; a blend is usable "
            "only once every learner is fully fitted."
        )
    return model


class MultiTaskBlend(BlendPredictionMixin, BlendIntervalsMixin, BaseEstimator):
    """The multi-task net and per-target gradient boosting, blended with per-task weights.

    Fit cross-fits every learner on the same ``cv`` folds: the multi-task net on all of a
    fold's training rows (missing labels masked per task, as it always does), one model
    per target of each boosting learner on the training rows labelled for that target,
    and, with ``single_task=True``, the net fitted on one target at a time. Each task's
    weights (non-negative, summing to one) are then chosen on the out-of-fold
    predictions of its labelled rows (``choose_weights``):
    by default greedy ensemble selection with replacement on the task's own loss
    (squared error for a value, log loss for classes, whose probabilities are blended
    per class).

    Every learner is then **refitted on all rows**, and predictions blend the refitted
    learners with those weights. Refitting rather than averaging the ``cv`` fold models:
    each refitted model has seen every labelled row (the fold models saw ``(k-1)/k`` of
    them, which matters most for small tasks), prediction costs one model per learner
    instead of ``k``, and the weights, a property of the learners on this table rather
    than of particular fits, carry over (the "refit full" practice of stacking
    libraries). The out-of-fold predictions stay the honest estimate of the blend's skill
    (``oof_scores_``) and give the conformal residuals of :meth:`predict_interval`.

    Same contract as :class:`~tabmtl.MultiTaskEstimator`: DataFrames in and out, mixed
    target kinds, dtypes and class labels kept in :meth:`predict`, :meth:`predict_proba`
    a dict of frames.

    Parameters
    ----------
    estimator : MultiTaskEstimator, optional
        The multi-task net (a template, cloned at each fit); default
        ``MultiTaskEstimator()`` at tabmtl's defaults. Its ``targets`` declare the kinds.
    boosting : str or sequence of str, default="auto"
        The built-in boosting learners, by name: ``"lightgbm"`` (LightGBM at its
        defaults) and ``"histgb"`` (scikit-learn's HistGradientBoosting with
        ``categorical_features="from_dtype"``), e.g. ``("lightgbm", "histgb")``.
        ``"auto"``: ``"lightgbm"`` when LightGBM can be imported, else ``"histgb"``.
        The names label the learners in the tables.
    regressor, classifier : scikit-learn estimator or dict of them, optional
        Templates replacing the built-in learners for regression / classification
        targets: one estimator is the learner ``"boosting"``, a dict
        ``{name: estimator}`` gives several named learners. Any scikit-learn regressor /
        classifier (with ``predict_proba``) that takes a DataFrame whose categorical
        columns are pandas categories will do.
    cv : int, splitter or iterable of folds, default=5
        The cross-fitting folds (``tabmtl.evaluation._folds.make_folds``).
    single_task : bool, default=False
        Add the net fitted on each target alone as a third candidate (one more net per
        target and fold: slow).
    n_steps : int, default=50
        Greedy selection picks; weights are multiples of ``1 / n_steps``.
    selection : {"loss", "guarded", "score", "best"}, default="loss"
        How a task's weights are chosen (``choose_weights``):
        greedy on the loss (``"loss"``); the same, kept only when it beats the best
        single learner's out-of-fold score (R² / per-fold ROC-AUC), else that learner
        (``"guarded"``); greedy on that score, stopping when it stops rising
        (``"score"``); the best single learner by that score (``"best"``). The
        default won the blend benchmark (docs/blend.md): the out-of-fold score is a
        noisier guide than the loss.
    temperature_scaling : bool, default=False
        Fit one temperature per classification target on its blended out-of-fold
        probabilities (log loss; no rows held out) and apply it in :meth:`predict_proba`;
        the predicted classes do not change.
    n_jobs : int, default=1
        Threads of the default boosting models (LightGBM's ``n_jobs``; HistGB's OpenMP
        pool through threadpoolctl). One by default, like every tabmtl benchmark, so that
        several fits can share a machine; the net runs on torch's thread count
        (``torch.set_num_threads``), exactly as ``MultiTaskEstimator`` does.
    random_state : int, optional, default=0
        Seeds the folds and the default boosting models.

    Attributes
    ----------
    target_spec_ : TargetSpec
        The fitted targets (kinds, classes).
    learners_ : list of str
        Every learner's name: ``"net"``, the boosting learners (e.g. ``"lightgbm"``,
        ``"histgb"``), ``"single_task"`` with ``single_task=True``.
    task_learners_ : dict
        Target name -> its learners (a regression and a classification target can have
        different boosting learners when ``regressor`` / ``classifier`` are given).
    net_ : MultiTaskEstimator
        The net refitted on all rows.
    boosters_ : dict
        Boosting learner -> target name -> its model refitted on the target's labelled
        rows.
    single_task_nets_ : dict
        Target name -> its single-task net (empty unless ``single_task``).
    task_blend_weights_ : DataFrame
        Tidy: one row per (task, learner), columns ``task``, ``learner``, ``weight`` and
        ``n_labelled`` (the rows whose out-of-fold predictions chose the weights).
    oof_outputs_ : dict
        Learner -> target name -> out-of-fold output for every row (values ``(n,)``, or
        probabilities ``(n, K)`` in ``task.classes_`` order).
    oof_fold_ : ndarray of shape (n_rows,)
        The fold whose model predicted each row out of fold.
    oof_scores_ : DataFrame
        Out-of-fold score (R² / ROC-AUC, ``task_score``)
        per task (rows) of each learner and of the blend (columns; NaN for a learner
        the task does not have).
    conformal_scores_ : dict
        Regression target name -> sorted absolute out-of-fold residuals of the blend.
    temperatures_ : dict
        Classification target name -> temperature of its blended probabilities (1.0
        without ``temperature_scaling``).

    Examples
    --------
    >>> blend = MultiTaskBlend(MultiTaskEstimator(max_epochs=10), cv=3)  # doctest: +SKIP
    >>> blend.fit(X, Y).task_blend_weights_  # doctest: +SKIP
    """

    def __init__(
        self,
        estimator: MultiTaskEstimator | None = None,
        *,
        boosting="auto",
        regressor: BaseEstimator | Mapping[str, BaseEstimator] | None = None,
        classifier: BaseEstimator | Mapping[str, BaseEstimator] | None = None,
        cv=5,
        single_task: bool = False,
        n_steps: int = 50,
        selection: str = "loss",
        temperature_scaling: bool = False,
        n_jobs: int = 1,
        random_state: int | None = 0,
    ):
        self.estimator = estimator
        self.boosting = boosting
        self.regressor = regressor
        self.classifier = classifier
        self.cv = cv
        self.single_task = single_task
        self.n_steps = n_steps
        self.selection = selection
        self.temperature_scaling = temperature_scaling
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fit -------------------------------------------------------------------------

    def fit(self, X, Y, groups=None) -> MultiTaskBlend:
        """Cross-fit the learners, choose each task's weights, refit on all rows.

        ``groups`` (optional, one per row, e.g. a person's id) keeps each group on one
        side of every cross-fitting fold, so that a learner that memorises a group
        does not look better out of fold than it is on new groups, and reaches the nets'
        early stopping (whole groups held out, as ``MultiTaskEstimator.fit(groups=)``).
        """
        if self.selection not in SELECTIONS:
            raise InputError(
                f"selection must be one of {list(SELECTIONS)}, got {self.selection!r}."
            )
        X = self._check_X(X, reset=True)
        Y = check_targets(Y, len(X))
        net = self.estimator if self.estimator is not None else MultiTaskEstimator()
        self.target_spec_ = spec = TargetSpec(targets=net.get_params().get("targets")).fit(Y)
        if groups is not None:
            if len(groups) != len(X):
                raise InputError(f"X has {len(X)} rows but groups has {len(groups)}.")
            groups = pd.Series(np.asarray(groups), index=X.index, name="groups")
        folds, _ = make_folds(len(X), self.cv, groups=groups, random_state=self.random_state)
        check_task_sizes(spec, Y, folds)
        self.task_learners_ = {
            t.name: [NET, *self._boosting_templates(t)] + ([SINGLE] if self.single_task else [])
            for t in spec.tasks_
        }
        self.learners_ = list(dict.fromkeys(
            name for names in self.task_learners_.values() for name in names
        ))
        self.frame_ = BoostingFrame().fit(X)
        Xb = self.frame_.transform(X)
        oof = {name: {} for name in self.learners_}
        self.oof_fold_ = np.full(len(X), -1, dtype=np.int64)
        for f, (train, test) in enumerate(folds):
            self.oof_fold_[test] = f
            fitted = self._fit_learners(
                X.iloc[train], Y.iloc[train], Xb.iloc[train],
                None if groups is None else groups.to_numpy()[train],
            )
            outs = self._outputs(fitted, X.iloc[test], Xb.iloc[test])
            for task in spec.tasks_:
                for learner in self.task_learners_[task.name]:
                    store = oof[learner].setdefault(task.name, empty_output(task, len(X)))
                    store[test] = outs[learner][task.name]
        if (self.oof_fold_ < 0).any():
            raise InputError("The cv folds leave rows out of every test part; use a partition.")
        self.oof_outputs_ = oof
        self._choose_weights(Y)
        fitted = self._fit_learners(X, Y, Xb, None if groups is None else groups.to_numpy())
        self.net_ = fitted.pop(NET)
        self.single_task_nets_ = fitted.pop(SINGLE, {})
        self.boosters_ = fitted
        return self

    def _fit_learners(
        self, X: pd.DataFrame, Y: pd.DataFrame, Xb: pd.DataFrame, groups=None
    ) -> dict:
        """Every learner fitted on these rows; ``groups`` reach the nets' early stopping."""
        net = self.estimator if self.estimator is not None else MultiTaskEstimator()
        fitted = {NET: _fit_net(net, X, Y, groups)}
        for task in self.target_spec_.tasks_:
            for name, template in self._boosting_templates(task).items():
                fitted.setdefault(name, {})[task.name] = fit_boosting(
                    template, task, Xb, Y[task.name], n_jobs=self.n_jobs
                )
        if self.single_task:
            fitted[SINGLE] = {}
            for task in self.target_spec_.tasks_:
                present = Y[task.name].notna().to_numpy()
                fitted[SINGLE][task.name] = _fit_net(
                    net, X[present], Y.loc[present, [task.name]],
                    None if groups is None else groups[present],
                )
        return fitted

    def _boosting_templates(self, task: TargetKind) -> dict[str, BaseEstimator]:
        given = self.regressor if task.is_regression else self.classifier
        return boosting_templates(
            self.boosting, given, task.is_regression,
            random_state=self.random_state, n_jobs=self.n_jobs,
        )

    def _outputs(self, fitted: dict, X: pd.DataFrame, Xb: pd.DataFrame) -> dict:
        """Learner -> target name -> output (values or probabilities) for rows ``X``."""
        tasks = self.target_spec_.tasks_
        by_name = {t.name: t for t in tasks}
        outs = {NET: tabmtl_outputs(fitted[NET], X, tasks)}
        for name, models in fitted.items():
            if name not in (NET, SINGLE):
                outs[name] = {
                    t: boosting_output(model, by_name[t], Xb, n_jobs=self.n_jobs)
                    for t, model in models.items()
                }
        if SINGLE in fitted:
            outs[SINGLE] = {
                t.name: tabmtl_outputs(fitted[SINGLE][t.name], X, [t])[t.name] for t in tasks
            }
        return outs

    def _choose_weights(self, Y: pd.DataFrame) -> None:
        rows, scores, self.weights_, self.conformal_scores_ = [], {}, {}, {}
        self.temperatures_ = {}
        for task in self.target_spec_.tasks_:
            y = encoded_labels(task, Y[task.name])
            names = self.task_learners_[task.name]
            outputs = [self.oof_outputs_[name][task.name] for name in names]
            w = choose_weights(outputs, y, task.is_regression, self.n_steps, self.selection,
                               self.oof_fold_)
            self.weights_[task.name] = w
            n_labelled = int(np.isfinite(y).sum())
            rows += [
                {"task": task.name, "learner": name, "weight": float(wi),
                 "n_labelled": n_labelled}
                for name, wi in zip(names, w)
            ]
            blended = blend(outputs, w)
            scores[task.name] = {
                name: task_score(out, y, task.is_regression, self.oof_fold_)
                for name, out in zip([*names, "blend"], [*outputs, blended])
            }
            if task.is_regression:
                present = np.isfinite(y)
                self.conformal_scores_[task.name] = np.sort(np.abs(y - blended)[present])
            else:
                self.temperatures_[task.name] = (
                    fit_temperature(np.log(np.clip(blended, 1e-12, 1.0)), y)
                    if self.temperature_scaling else 1.0
                )
        self.task_blend_weights_ = pd.DataFrame(rows)
        self.oof_scores_ = pd.DataFrame.from_dict(scores, orient="index").reindex(
            columns=[*self.learners_, "blend"]
        )
        self.oof_losses_ = pd.DataFrame.from_dict(
            {
                task.name: {
                    name: task_loss(self.oof_outputs_[name][task.name],
                                    encoded_labels(task, Y[task.name]), task.is_regression)
                    for name in self.task_learners_[task.name]
                }
                for task in self.target_spec_.tasks_
            },
            orient="index",
        )

    # -- predict ---------------------------------------------------------------------

    def learner_outputs(self, X) -> dict[str, dict[object, np.ndarray]]:
        """Learner -> target name -> that refitted learner's own output for ``X``
        (values ``(n,)`` or probabilities ``(n, K)`` in ``task.classes_`` order)."""
        X = self._check_X(X, reset=False)
        fitted = {NET: self.net_, **self.boosters_}
        if self.single_task_nets_:
            fitted[SINGLE] = self.single_task_nets_
        return self._outputs(fitted, X, self.frame_.transform(X))

    def blended_outputs(self, X) -> dict[object, np.ndarray]:
        """Target name -> the blend's output: values ``(n,)`` or probabilities ``(n, K)``
        (columns in ``target_spec_.tasks_[i].classes_`` order)."""
        outs = self.learner_outputs(X)
        out = {}
        for task in self.target_spec_.tasks_:
            value = blend([outs[name][task.name] for name in self.task_learners_[task.name]],
                          self.weights_[task.name])
            out[task.name] = (
                value if task.is_regression else temper(value, self.temperatures_[task.name])
            )
        return out

    # -- checks ----------------------------------------------------------------------

    def _check_X(self, X, reset: bool) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise InputTypeError(f"X must be a pandas DataFrame, got {type(X).__name__}.")
        check_unique_names(X)
        if reset:
            self.n_features_in_ = X.shape[1]
            if all(isinstance(c, str) for c in X.columns):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            return X
        missing = [c for c in self.frame_.columns_ if c not in X.columns]
        if missing:
            raise InputError(f"X is missing the feature columns {missing!r} seen in fit.")
        return X
