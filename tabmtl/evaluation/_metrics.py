"""The metric registry: which metrics exist, which target kinds they score, and scoring.

Every score in tabmtl goes through this module: the estimator's ``score_tasks``
(:func:`score_frame`), the cross-validation scorer (:func:`task_scorer`), the transfer
analysis and the benchmarks (:func:`score_task`, :func:`score_output`), and the command
line's ``--metric`` (:func:`resolve_metrics`). A metric is a :class:`Metric`: its name, its
function, whether it reads class probabilities, its sign (every score is "higher is
better"; ``neg_*`` metrics are negated errors) and the kinds it applies to.

``task_scorer()`` returns one scikit-learn scorer callable that predicts once and gives a
dict: one score per target plus their ``mean`` (over scores of one scale only, unless
``mean="raw"``: see ``tabmtl.evaluation._score_scales``). scikit-learn accepts such a
callable as ``scoring=`` in ``cross_validate`` and ``GridSearchCV`` (use
``refit="mean"``). Scores are NaN-aware: rows whose label is missing leave that task's
score only, and a task that cannot be scored on a fold (no labels, one class for
ROC-AUC) gives NaN, which the ``mean`` skips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from tabmtl._data.targets import TARGET_KINDS, TargetKind, TargetSpec, is_regression_kind
from tabmtl._uncertainty.calibration import expected_calibration_error
from tabmtl.errors import InputError
from tabmtl.evaluation._unseen_labels import truth_codes, with_unseen_class

#: The real-valued kinds (a value is predicted) and the label kinds (a class is).
REGRESSION_KINDS = frozenset(k for k in TARGET_KINDS if is_regression_kind(k))
CLASSIFICATION_KINDS = frozenset(TARGET_KINDS) - REGRESSION_KINDS


@dataclass(frozen=True)
class Metric:
    """One registered metric.

    Parameters
    ----------
    name : str
        The name users pass (``"r2"``, ``"roc_auc"``, ...).
    function : callable
        ``function(y_true, y_pred)`` on values or class indices, or, when
        ``needs_proba``, ``function(class_indices, proba)`` with ``proba`` of shape (n, K).
    needs_proba : bool
        Whether it reads class probabilities rather than predicted labels.
    sign : float
        +1 for a score, -1 for an error (so that every value is "higher is better").
    kinds : frozenset of str
        The target kinds it can score.

    Examples
    --------
    >>> METRICS["neg_rmse"].applies_to("gaussian"), METRICS["roc_auc"].needs_proba
    (True, True)
    """

    name: str
    function: Callable[..., float]
    needs_proba: bool
    sign: float
    kinds: frozenset[str]

    def applies_to(self, kind: str) -> bool:
        """Whether this metric can score a target of ``kind``."""
        return kind in self.kinds

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The signed score: higher is better."""
        return self.sign * float(self.function(y_true, y_pred))


def _roc_auc(codes: np.ndarray, proba: np.ndarray) -> float:
    """ROC-AUC of the positive class (binary) or one-vs-rest over every class."""
    if proba.shape[1] == 2:
        return roc_auc_score(codes, proba[:, 1])
    return roc_auc_score(codes, proba, multi_class="ovr", labels=np.arange(proba.shape[1]))


def _log_loss(codes: np.ndarray, proba: np.ndarray) -> float:
    return log_loss(codes, proba, labels=np.arange(proba.shape[1]))


def _metric(name, function, sign=1.0, kinds=REGRESSION_KINDS, needs_proba=False) -> Metric:
    return Metric(name, function, needs_proba, sign, kinds)


#: Name -> metric: every metric tabmtl can score with.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _metric("r2", r2_score),
        _metric("neg_rmse", root_mean_squared_error, -1.0),
        _metric("neg_mae", mean_absolute_error, -1.0),
        _metric("accuracy", accuracy_score, kinds=CLASSIFICATION_KINDS),
        _metric("balanced_accuracy", balanced_accuracy_score, kinds=CLASSIFICATION_KINDS),
        _metric("roc_auc", _roc_auc, kinds=CLASSIFICATION_KINDS, needs_proba=True),
        _metric("neg_log_loss", _log_loss, -1.0, CLASSIFICATION_KINDS, needs_proba=True),
        _metric("neg_ece", expected_calibration_error, -1.0, CLASSIFICATION_KINDS, True),
    )
}


def metric_names() -> list[str]:
    """The metric names the registry knows, sorted.

    Examples
    --------
    >>> "r2" in metric_names() and "roc_auc" in metric_names()
    True
    """
    return sorted(METRICS)


def get_metric(name: str) -> Metric:
    """The registered metric called ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_metric("roc_auc").needs_proba
    True
    """
    if name not in METRICS:
        raise InputError(f"Unknown metric {name!r}; valid names are {metric_names()!r}.")
    return METRICS[name]


def default_metric(kind: str) -> str:
    """The default metric of a target kind: R² for a value, accuracy for a class.

    Examples
    --------
    >>> default_metric("quantile"), default_metric("multiclass")
    ('r2', 'accuracy')
    """
    return "r2" if is_regression_kind(kind) else "accuracy"


def resolve_metrics(
    tasks: TargetSpec | Sequence[TargetKind], metrics: Mapping[str, str] | None
) -> dict[str, str]:
    """The metric of each task: its target name's entry, else its kind's, else the default.

    A ``"regression"`` entry also covers the gaussian and quantile kinds unless they have
    their own.

    Parameters
    ----------
    tasks : TargetSpec or sequence of fitted tasks
        A fitted target spec (its ``tasks_``) or the tasks themselves.
    metrics : dict, optional
        Target name or kind (``"regression"``, ``"binary"``, ...) -> metric name from
        :func:`metric_names`.

    Returns
    -------
    dict
        Task name (as a string) -> metric name.

    Raises
    ------
    ValueError
        For an unknown metric name, a key that is neither a target nor a kind, or a
        metric that does not apply to a task's kind (e.g. ``r2`` for a binary target).

    Examples
    --------
    >>> spec = TargetSpec().fit(pd.DataFrame({"y": [1.0, 2.0], "c": [True, False]}))
    >>> resolve_metrics(spec, {"binary": "roc_auc"})
    {'y': 'r2', 'c': 'roc_auc'}
    """
    tasks = list(getattr(tasks, "tasks_", tasks))
    chosen = {str(key): name for key, name in (metrics or {}).items()}
    names = {str(t.name) for t in tasks}
    for key, name in chosen.items():
        get_metric(name)
        if key not in names and key not in TARGET_KINDS:
            raise InputError(
                f"Metric key {key!r} is neither a target ({sorted(names)!r}) nor a kind "
                f"({sorted(TARGET_KINDS)!r})."
            )
    out = {}
    for task in tasks:
        keys = (str(task.name), task.kind, "regression" if task.is_regression else None)
        name = next((chosen[k] for k in keys if k in chosen), default_metric(task.kind))
        if not METRICS[name].applies_to(task.kind):
            raise InputError(f"Metric {name!r} does not apply to {task.kind} target {task.name!r}.")
        out[str(task.name)] = name
    return out


def score_task(
    task: TargetKind, y_true: pd.Series, y_pred: pd.Series, proba: np.ndarray | None, metric: str
) -> float:
    """Score one fitted task on the rows where its label is present.

    Parameters
    ----------
    task : TargetKind
        A fitted task of a :class:`~tabmtl.TargetSpec`.
    y_true, y_pred : pandas.Series
        Labels (NaN where missing) and predictions, in the target's own values.
    proba : ndarray of shape (n, K) or None
        Class probabilities of a classification task, columns in ``task.classes_`` order
        (needed by the probability metrics only).
    metric : str
        A name from :func:`metric_names` that applies to the task's kind.

    Returns
    -------
    float
        Higher is better; NaN with no label present, or for a probability metric on rows
        of a single class. A label the task never saw in fit counts as wrong, as
        scikit-learn counts it (see ``tabmtl.evaluation._unseen_labels``), with a
        warning.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(20.0)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> task = model.target_spec_.tasks_[0]
    >>> score = score_task(task, Y.eta, model.predict(X).eta, None, "neg_mae")
    >>> bool(score <= 0)
    True
    """
    scorer = get_metric(metric)
    if not scorer.applies_to(task.kind):
        raise InputError(f"Metric {metric!r} does not apply to {task.kind} target {task.name!r}.")
    present = y_true.notna().to_numpy()
    if not present.any():
        return float("nan")
    if task.is_regression:
        truth = y_true[present].to_numpy(dtype=np.float64)
        return scorer(truth, y_pred[present].to_numpy(dtype=np.float64))
    truth, unseen = truth_codes(task, y_true[present])  # unseen labels: scored as wrong
    if scorer.needs_proba:
        proba = np.asarray(proba)[present]
        if scorer.name == "roc_auc":  # over the seen classes' rows
            truth, proba = truth[~unseen], proba[~unseen]
        elif unseen.any():
            proba = with_unseen_class(proba)
        if len(np.unique(truth)) < 2:
            return float("nan")  # ROC-AUC / log-loss undefined on a one-class fold
        return scorer(truth, proba)
    return scorer(truth, task.encode(y_pred[present]).astype(int))


def score_output(task: TargetKind, y_true: pd.Series, output: np.ndarray, metric: str) -> float:
    """:func:`score_task` of a model output in the common format of the evaluation tools.

    ``output`` is the predicted value ``(n,)`` of a regression task, or the class
    probabilities ``(n, K)`` of a classification task (columns in ``task.classes_``
    order), whose most probable class is the predicted label.
    """
    output = np.asarray(output, dtype=np.float64)
    if task.is_regression:
        return score_task(task, y_true, pd.Series(output, index=y_true.index), None, metric)
    labels = np.asarray(task.classes_, dtype=object)[output.argmax(axis=1)]
    y_pred = pd.Series(labels, index=y_true.index, dtype=object)
    return score_task(task, y_true, y_pred, output, metric)


def score_frame(
    spec: TargetSpec,
    Y_true: pd.DataFrame,
    Y_pred: pd.DataFrame,
    probas: Mapping[object, np.ndarray] | None = None,
    metrics: Mapping[str, str] | None = None,
    names: Sequence | None = None,
) -> pd.Series:
    """One score per task of a fitted spec (R² for a value, accuracy for a class).

    Rows whose label is missing are left out of that task's score only; a task with no
    label at all scores NaN.

    Parameters
    ----------
    spec : TargetSpec
        Fitted target spec.
    Y_true, Y_pred : pandas.DataFrame
        Labels and predictions, a column per target (named as in ``spec``).
    probas : dict, optional
        Target name -> class probabilities ``(n, K)``, needed by probability metrics.
    metrics : dict, optional
        Target name or kind -> metric name (see :func:`resolve_metrics`).
    names : sequence, optional
        The targets to score (default: every task of ``spec``); e.g. the main targets
        of an estimator with auxiliary ones.

    Returns
    -------
    pandas.Series
        Indexed by target name, named ``"score"``.

    Examples
    --------
    >>> Y = pd.DataFrame({"y": [1.0, 2.0, None], "c": ["a", "b", "a"]})
    >>> spec = TargetSpec().fit(Y)
    >>> score_frame(spec, Y, pd.DataFrame({"y": [1.0, 2.0, 9.0], "c": ["a", "a", "a"]}))
    y    1.000000
    c    0.666667
    Name: score, dtype: float64
    """
    chosen = resolve_metrics(spec, metrics)
    probas = probas or {}
    scores = {
        task.name: score_task(
            task, Y_true[task.name], Y_pred[task.name], probas.get(task.name),
            chosen[str(task.name)],
        )
        for task in spec.tasks_
        if names is None or task.name in names
    }
    return pd.Series(scores, name="score", dtype=float)


# The multi-task scorer lives in its own module (it reads fitted estimators); its names
# stay importable from here, the registry's home.
from tabmtl.evaluation._scorer import fitted_multitask as fitted_multitask  # noqa: E402
from tabmtl.evaluation._scorer import task_scorer as task_scorer  # noqa: E402
