"""Transfer analysis: does training targets together help each of them, or hurt it?

For a table with several targets, :func:`cross_validate_transfer` cross-validates, on the
*same folds*,

- the multi-task model: one :class:`~tabmtl.MultiTaskEstimator` for all targets;
- single-task models: the same estimator (same architecture, settings and seed) fit on
  one target at a time, on the rows where that target is labelled;
- optionally a gradient-boosting baseline per target (scikit-learn's
  ``HistGradientBoostingRegressor`` / ``HistGradientBoostingClassifier``, native
  categorical splits), so "multi-task beats single-task" is read next to a strong
  non-neural reference;

and reports, per task, each model's score (mean ± std over folds) and the *multi-task
gain*: the multi-task score minus the single-task score, paired fold by fold. A negative
gain is negative transfer, and it is reported, never hidden.

:func:`pairwise_affinity` measures the gain of every task from every other one (a model
per pair of targets), and :func:`greedy_task_groups` turns that matrix into a
recommendation of which tasks to train together, in the spirit of task-affinity grouping
(Fifty et al., "Efficiently Identifying Task Groupings for Multi-Task Learning", 2021):
merge groups while the summed pairwise gain grows and no member is expected to lose.
:func:`recommend_task_groups` does both and can verify the recommended groups by
cross-validating them too.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from tabmtl.data.targets import TargetSpec
from tabmtl.estimators import MultiTaskEstimator
from tabmtl.evaluation.metrics import DEFAULT_METRICS, metric_names, score_task
from tabmtl.training.callbacks import epoch_rows
from tabmtl.training.iterators import TensorDataset

#: Model names used in result tables, in display order.
MULTI_TASK, SINGLE_TASK, HISTGB, GROUPED = "multi-task", "single-task", "HistGB", "grouped"

#: Metrics that are computed from class probabilities (the others from labels / values).
_REGRESSION_METRICS = ("r2", "neg_rmse", "neg_mae")

#: Numeric columns with more distinct values than this are binned before stratifying.
_MAX_STRATA = 20

Log = Callable[[str], None]


# -- results -------------------------------------------------------------------------------


@dataclass
class TaskGrouping:
    """Pairwise task affinities and the groups recommended from them.

    Attributes
    ----------
    affinity : pandas.DataFrame
        Square, tasks x tasks: ``affinity.loc[i, j]`` is the mean over folds of task
        ``i``'s score when trained with ``j`` (one model for the pair) minus its score
        trained alone; NaN on the diagonal. Positive: ``j`` helps ``i``.
    affinity_std : pandas.DataFrame
        Standard deviation over folds of the same paired differences.
    groups : list of tuple of str
        The recommended partition of the tasks (see :func:`greedy_task_groups`).
    expected_gain : pandas.Series
        Per task, the mean pairwise affinity to the other members of its group (0 for a
        task left alone): the gain the grouping is expected to bring it.
    verified : pandas.DataFrame or None
        When the groups were cross-validated: per task, its group and, as mean and std
        over the same folds, its score in the group (``grouped_*``), alone (``alone_*``)
        and with all tasks in one model (``together_*``), and the group's gain over
        alone (``gain_*``).

    Examples
    --------
    >>> grouping = recommend_task_groups(X, Y, MultiTaskEstimator(), cv=3)  # doctest: +SKIP
    >>> grouping.groups, grouping.best_measured  # doctest: +SKIP
    ([('species', 'sex_male'), ('body_mass_g',)], 'recommended groups')
    """

    affinity: pd.DataFrame
    affinity_std: pd.DataFrame
    groups: list[tuple[str, ...]]
    expected_gain: pd.Series
    verified: pd.DataFrame | None = None

    @property
    def measured_means(self) -> pd.Series | None:
        """Mean over tasks of the verified scores of the ways to train them:
        ``"recommended groups"``, ``"all together"`` and ``"each alone"`` (the first is
        left out when the recommendation is one of the other two)."""
        if self.verified is None:
            return None
        means = {}
        if len(self.groups) > 1 and any(len(g) > 1 for g in self.groups):
            means["recommended groups"] = self.verified["grouped_mean"].mean()
        means["all together"] = self.verified["together_mean"].mean()
        means["each alone"] = self.verified["alone_mean"].mean()
        return pd.Series(means)

    @property
    def best_measured(self) -> str | None:
        """Which of the three ways to train scored best on average (None if unverified).

        Pairwise gains only *predict* group gains; this is what the folds measured.
        """
        means = self.measured_means
        return None if means is None else str(means.idxmax())

    def describe(self) -> str:
        """Plain-text summary: the affinity matrix, the groups, the verification."""
        lines = [
            "Pairwise affinity (row task's score trained with the column task minus its "
            "score alone; mean over folds):",
            "",
            format_markdown(_affinity_rows(self.affinity), ["task", *self.affinity.columns]),
            "",
            "Recommended groups (greedy merges of the pairs of groups with the highest mean "
            "cross-affinity, while it is positive and no member is expected to lose):",
        ]
        for group in self.groups:
            gains = ", ".join(f"{t} {self.expected_gain[t]:+.3f}" for t in group)
            lines.append(f"  - {{{', '.join(group)}}}   expected gain: {gains}")
        if self.verified is not None:
            lines += ["", "Cross-validated on the same folds:", ""]
            rows = []
            for task, row in self.verified.iterrows():
                rows.append(
                    [
                        task,
                        row["group"],
                        _pm(row["grouped_mean"], row["grouped_std"]),
                        _pm(row["alone_mean"], row["alone_std"]),
                        _pm(row["together_mean"], row["together_std"]),
                        _pm(row["gain_mean"], row["gain_std"], signed=True),
                        NEGATIVE_FLAG if row["gain_mean"] < 0 else "",
                    ]
                )
            headers = ["task", "group", "in group", "alone", "all together",
                       "gain (group - alone)", "flag"]
            lines.append(format_markdown(rows, headers))
            means = self.measured_means
            same = "" if "recommended groups" in means else " (the recommendation is one of these)"
            lines += [
                "",
                "Mean score over tasks: "
                + ", ".join(f"{k} {v:.3f}" for k, v in means.items())
                + f"{same}. Best measured: {self.best_measured}.",
            ]
        return "\n".join(lines)


#: The marker of a task whose multi-task gain is negative.
NEGATIVE_FLAG = "⚠ negative transfer"


@dataclass
class TransferResult:
    """Cross-validated multi-task vs single-task (vs HistGB) scores, fold by fold.

    Attributes
    ----------
    scores : pandas.DataFrame
        Long form: ``task, kind, metric, model, fold, value`` (higher is better for every
        metric; ``neg_*`` metrics are negated errors).
    summary : pandas.DataFrame
        One row per task: ``kind``, ``metric``, ``<model>_mean`` / ``<model>_std`` per
        model, ``gain_mean`` / ``gain_std`` (multi-task minus single-task, paired by
        fold), ``gain_vs_histgb_mean`` when the baseline ran, ``best`` (the model with the
        highest mean) and ``negative_transfer`` (gain below 0).
    histories : dict
        Model -> list (one per fold) of per-epoch DataFrames with ``train_loss_<task>``,
        ``valid_loss_<task>`` (the held-out fold, or the early-stopping split when early
        stopping is on) and ``weight_<task>``. Single-task entries are keyed
        ``"single-task:<task>"``.
    predictions : dict
        Model -> task -> out-of-fold outputs for every row: the predicted value
        (regression) or class probabilities ``(n, K)`` in the order of
        ``spec.tasks_[i].classes_``.
    Y : pandas.DataFrame
        The targets, for plots of predictions against the truth.
    spec : TargetSpec
        Fitted on all of ``Y``: kinds and class lists of the tasks.
    metrics : dict
        Task -> the metric name used to score it.
    folds : list of (train, test)
        The row positions of each fold.
    cv_description : str
        How the folds were made, e.g. ``"StratifiedKFold(3) on HYPERTEN"``.
    models : list of str
        Models in display order.
    fit_seconds : dict
        Model -> total fit time in seconds over all folds.
    grouping : TaskGrouping or None
        Pairwise affinities and recommended groups, when asked for.

    Examples
    --------
    >>> result = cross_validate_transfer(X, Y, MultiTaskEstimator(), cv=3)  # doctest: +SKIP
    >>> result.negative_transfer, result.summary.loc["fare", "gain_mean"]  # doctest: +SKIP
    (['fare'], -0.012)
    >>> print(result.to_markdown())  # doctest: +SKIP
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    histories: dict[str, list[pd.DataFrame]]
    predictions: dict[str, dict[str, np.ndarray]]
    Y: pd.DataFrame
    spec: TargetSpec
    metrics: dict[str, str]
    folds: list[tuple[np.ndarray, np.ndarray]]
    cv_description: str
    models: list[str]
    fit_seconds: dict[str, float] = field(default_factory=dict)
    grouping: TaskGrouping | None = None

    @property
    def negative_transfer(self) -> list[str]:
        """Tasks whose mean multi-task gain is negative."""
        return list(self.summary.index[self.summary["negative_transfer"]])

    def table_rows(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows of the per-task table, as formatted strings."""
        headers = ["task", "kind", "metric", *self.models, "gain (MT - ST)"]
        has_hgb = HISTGB in self.models
        if has_hgb:
            headers.append("MT - HistGB")
        headers += ["best", "flag"]
        rows = []
        for task, s in self.summary.iterrows():
            row = [str(task), s["kind"], s["metric"]]
            row += [_pm(s[f"{m}_mean"], s[f"{m}_std"]) for m in self.models]
            row.append(_pm(s["gain_mean"], s["gain_std"], signed=True))
            if has_hgb:
                row.append(_signed(s["gain_vs_histgb_mean"]))
            row += [s["best"], NEGATIVE_FLAG if s["negative_transfer"] else ""]
            rows.append(row)
        return headers, rows

    def to_markdown(self) -> str:
        """The per-task table as GitHub markdown (no third-party formatter needed)."""
        headers, rows = self.table_rows()
        return format_markdown(rows, headers)

    def verdict(self) -> str:
        """One sentence: on how many tasks multi-task wins, and which lose."""
        gains = self.summary["gain_mean"]
        scored = gains.notna()
        n_pos = int((gains[scored] > 0).sum())
        text = f"Multi-task beats single-task on {n_pos} of {int(scored.sum())} tasks"
        if self.summary["metric"].nunique() == 1:  # a mean across metrics means nothing
            text += f" (mean gain {gains[scored].mean():+.3f})"
        text += "."
        negative = self.negative_transfer
        if negative:
            text += f" Negative transfer on: {', '.join(negative)}."
        else:
            text += " No negative transfer."
        return text


# -- formatting ----------------------------------------------------------------------------


def _pm(mean: float, std: float, signed: bool = False) -> str:
    if mean is None or not np.isfinite(mean):
        return "n/a"
    std = 0.0 if std is None or not np.isfinite(std) else std
    return f"{mean:+.3f} ± {std:.3f}" if signed else f"{mean:.3f} ± {std:.3f}"


def _signed(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:+.3f}"


def format_markdown(rows: Sequence[Sequence[object]], headers: Sequence[object]) -> str:
    """A GitHub-markdown table with padded columns, readable as plain text too.

    Parameters
    ----------
    rows : sequence of sequences
        Cell values (turned into strings).
    headers : sequence
        Column titles.

    Returns
    -------
    str

    Examples
    --------
    >>> print(format_markdown([["a", 1]], ["name", "n"]))
    | name | n |
    |------|---|
    | a    | 1 |
    """
    cells = [[str(h) for h in headers]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(lines)


def _affinity_rows(affinity: pd.DataFrame) -> list[list[str]]:
    return [
        [str(i)] + ["·" if i == j else _signed(affinity.loc[i, j]) for j in affinity.columns]
        for i in affinity.index
    ]


# -- metrics and folds ---------------------------------------------------------------------


def is_regression_task(task) -> bool:
    """Whether a fitted task predicts a real value (regression and its distributional
    variants) rather than a class.

    Examples
    --------
    >>> spec = TargetSpec().fit(pd.DataFrame({"y": [1.0, 2.5], "c": ["a", "b"]}))
    >>> [is_regression_task(t) for t in spec.tasks_]
    [True, False]
    """
    return bool(getattr(task, "is_regression", task.kind == "regression"))


def resolve_metrics(spec: TargetSpec, metrics: Mapping[str, str] | None) -> dict[str, str]:
    """The metric of each task: a target name's entry, else its kind's, else the default.

    Parameters
    ----------
    spec : TargetSpec
        Fitted target spec.
    metrics : dict, optional
        Target name or kind (``"regression"``, ``"binary"``, ``"multiclass"``) -> metric
        name from :func:`tabmtl.evaluation.metrics.metric_names`.

    Returns
    -------
    dict
        Task name -> metric name.

    Raises
    ------
    ValueError
        For an unknown metric name, a key that is neither a target nor a kind, or a
        metric that does not apply to a task's kind (e.g. ``r2`` for a binary target).

    Examples
    --------
    >>> import pandas as pd
    >>> spec = TargetSpec().fit(pd.DataFrame({"y": [1.0, 2.0], "c": [True, False]}))
    >>> resolve_metrics(spec, {"binary": "roc_auc"})
    {'y': 'r2', 'c': 'roc_auc'}
    """
    chosen = dict(metrics or {})
    names = {str(t.name) for t in spec.tasks_}
    kinds = {"regression", "binary", "multiclass"} | {t.kind for t in spec.tasks_}
    for key, metric in chosen.items():
        if metric not in metric_names():
            raise ValueError(f"Unknown metric {metric!r}; valid names are {metric_names()!r}.")
        if str(key) not in names and key not in kinds:
            raise ValueError(
                f"Metric key {key!r} is neither a target ({sorted(names)!r}) nor a kind "
                f"({sorted(kinds)!r})."
            )
    out = {}
    for task in spec.tasks_:
        regression = is_regression_task(task)
        default = DEFAULT_METRICS.get(task.kind, "r2" if regression else "accuracy")
        metric = chosen.get(str(task.name), chosen.get(task.kind, default))
        if regression != (metric in _REGRESSION_METRICS):
            raise ValueError(
                f"Metric {metric!r} does not apply to {task.kind} target {task.name!r}."
            )
        out[str(task.name)] = metric
    return out


def _strata(values: pd.Series, n_splits: int) -> np.ndarray:
    """Labels to stratify on: the column itself, numbers with many values binned by
    quantile, and missing values as a stratum of their own."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        if numbers.nunique() > _MAX_STRATA:
            bins = pd.qcut(numbers, q=min(10, max(2, 2 * n_splits)), duplicates="drop")
            codes = bins.cat.codes.to_numpy()
            return np.where(numbers.isna().to_numpy(), -1, codes).astype(str)
    labels = values.astype(object).where(values.notna(), "<missing>")
    return labels.astype(str).to_numpy()


def make_folds(
    n_rows: int,
    cv: int | object = 5,
    *,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    random_state: int | None = 0,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Cross-validation folds over ``n_rows`` rows and a description of how they were made.

    Parameters
    ----------
    n_rows : int
        Number of rows.
    cv : int, splitter or iterable of (train, test), default=5
        K for a shuffled K-fold split (stratified and/or grouped as asked), a
        scikit-learn splitter, or explicit folds.
    stratify : pandas.Series, optional
        Labels whose proportions every fold keeps (numbers with many distinct values are
        binned by quantile; a missing value is a stratum of its own).
    groups : pandas.Series, optional
        Group of each row (e.g. a patient id): a group is never on both sides of a fold.
    random_state : int, optional
        Seed of the shuffle.

    Returns
    -------
    folds : list of (train, test) integer arrays
    description : str

    Examples
    --------
    >>> folds, how = make_folds(10, 5)
    >>> len(folds), how
    (5, 'KFold(5)')
    """
    placeholder = np.zeros((n_rows, 1))
    if isinstance(cv, (int, np.integer)):
        k = int(cv)
        if k < 2:
            raise ValueError(f"cv must be at least 2 folds, got {k}.")
        if k > n_rows:
            raise ValueError(f"cv={k} folds is more than the {n_rows} rows.")
        strata = None if stratify is None else _strata(stratify, k)
        keys = None if groups is None else groups.astype(object).astype(str).to_numpy()
        if strata is not None and keys is not None:
            splitter = StratifiedGroupKFold(k, shuffle=True, random_state=random_state)
            how = f"StratifiedGroupKFold({k}) on {stratify.name}, groups {groups.name}"
        elif keys is not None:
            splitter = GroupKFold(k, shuffle=True, random_state=random_state)
            how = f"GroupKFold({k}) by {groups.name}"
        elif strata is not None:
            splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
            how = f"StratifiedKFold({k}) on {stratify.name}"
        else:
            splitter = KFold(k, shuffle=True, random_state=random_state)
            how = f"KFold({k})"
        with warnings.catch_warnings():
            # "the least populated class has only N members": the split is still valid
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            folds = list(splitter.split(placeholder, strata, keys))
    elif hasattr(cv, "split"):
        y = None if stratify is None else _strata(stratify, cv.get_n_splits())
        keys = None if groups is None else groups.astype(object).astype(str).to_numpy()
        folds, how = list(cv.split(placeholder, y, keys)), repr(cv)
    else:
        folds = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
        how = f"{len(folds)} given folds"
    if len(folds) < 2:
        raise ValueError("Cross-validation needs at least 2 folds.")
    return [(np.asarray(tr), np.asarray(te)) for tr, te in folds], how


# -- fitting -------------------------------------------------------------------------------


class _HeldOutSplit:
    """skorch ``train_split``: train on every row given, validate on a fixed held-out fold.

    The estimator fits its feature preprocessor and target spec before the net asks for
    the split, so the held-out rows are encoded with exactly the fitted transformers
    (labels unseen in training count as missing). The validation losses are a
    diagnostic for the learning curves; they do not steer training (no early stopping).
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


def _history_frame(history) -> pd.DataFrame:
    """Per-epoch scalars of a skorch history (batches left out)."""
    return pd.DataFrame(epoch_rows(history))


def _tabmtl_outputs(model, X: pd.DataFrame, tasks) -> dict[str, np.ndarray]:
    """Predicted values (regression) / probabilities in ``tasks``' class order."""
    regression = [is_regression_task(t) for t in tasks]
    pred = model.predict(X) if any(regression) else None
    proba = model.predict_proba(X) if not all(regression) else {}
    out = {}
    for task, is_reg in zip(tasks, regression):
        if is_reg:
            out[str(task.name)] = pred[task.name].to_numpy(dtype=np.float64)
        else:
            classes = pd.Index(task.classes_, dtype=object)
            p = proba[task.name].reindex(columns=classes, fill_value=0.0)
            out[str(task.name)] = p.to_numpy(dtype=np.float64)
    return out


def _hgb_frame(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` as HistGradientBoosting reads it: text / bool columns as category (native
    categorical splits), categories beyond its 255-bin limit as integer codes, datetimes
    as numbers."""
    out = {}
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[c] = col.astype("int64").where(col.notna()).astype("float64")
            continue
        is_text = pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(
            col.dtype
        )
        if pd.api.types.is_bool_dtype(col.dtype) or is_text:
            col = col.astype("category")
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.cat.remove_unused_categories()
            if len(col.cat.categories) > 250:
                codes = col.cat.codes.astype("float64")
                col = codes.where(codes >= 0)
        out[c] = col
    return pd.DataFrame(out, index=X.index)


class _Runner:
    """Fits and scores models on fixed folds; caches every fit by (model, tasks, fold)."""

    def __init__(self, X, Y, template, spec, metrics, folds, random_state, log):
        self.X, self.Y, self.template = X, Y, template
        self.spec, self.metrics, self.folds = spec, metrics, folds
        self.random_state = random_state
        self._hgb_X = None
        self.say = log or (lambda _msg: None)
        self.tasks = {str(t.name): t for t in spec.tasks_}
        self.started = time.perf_counter()
        self._scores: dict[tuple, dict[str, float]] = {}
        self.rows: list[dict] = []
        self.histories: dict[str, list[pd.DataFrame]] = {}
        self.predictions: dict[str, dict[str, np.ndarray]] = {}
        self.fit_seconds: dict[str, float] = {}

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
            y_true = self.Y[task.name].iloc[test]
            if is_regression_task(task):
                y_pred, proba = pd.Series(out, index=y_true.index), None
            else:
                labels = np.asarray(task.classes_, dtype=object)[out.argmax(axis=1)]
                y_pred, proba = pd.Series(labels, index=y_true.index, dtype=object), out
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # e.g. one-class fold
                scores[name] = score_task(task, y_true, y_pred, proba, self.metrics[name])
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
        if not est.early_stopping:  # else the history already has its own validation split
            split = _HeldOutSplit(self.X.iloc[test], self.Y.iloc[test])
            split.estimator = est
            est.set_params(net_kwargs={**(est.net_kwargs or {}), "train_split": split})
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "dropping unlabelled rows"
                est.fit(Xtr, Ytr)
        finally:
            if split is not None:
                split.release()
        seconds = time.perf_counter() - t0
        if model is None:
            what = f"tabmtl on {' + '.join(names)}"
        else:
            what = model if len(names) > 1 else f"{model} {names[0]}"
        self._log_fit(what, fold, seconds)
        tasks = [self.tasks[n] for n in names]
        outputs = _tabmtl_outputs(est, self.X.iloc[test], tasks)
        scores = self._score(fold, outputs)
        self._scores[key] = scores
        if model is not None:
            self.fit_seconds[model] = self.fit_seconds.get(model, 0.0) + seconds
            self._keep(model, fold, outputs, scores)
            hist_key = model if len(names) > 1 else f"{model}:{names[0]}"
            self.histories.setdefault(hist_key, []).append(_history_frame(est.history_))
        return scores

    def hgb(self, name: str, fold: int) -> dict:
        """HistGradientBoosting on one target for one fold (its labelled training rows)."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        if self._hgb_X is None:
            self._hgb_X = _hgb_frame(self.X)
        task = self.tasks[name]
        train, test = self.folds[fold]
        y = self.Y[task.name].iloc[train]
        present = y.notna().to_numpy()
        Xtr = self._hgb_X.iloc[train][present]
        t0 = time.perf_counter()
        if is_regression_task(task):
            model = HistGradientBoostingRegressor(
                categorical_features="from_dtype",
                random_state=self.seed(fold, self.random_state),
            ).fit(Xtr, y[present].to_numpy(dtype=np.float64))
            out = np.asarray(model.predict(self._hgb_X.iloc[test]), dtype=np.float64)
        else:
            codes = task.encode(y[present]).astype(np.int64)
            model = HistGradientBoostingClassifier(
                categorical_features="from_dtype",
                random_state=self.seed(fold, self.random_state),
            ).fit(Xtr, codes)
            proba = model.predict_proba(self._hgb_X.iloc[test])
            out = np.zeros((len(test), len(task.classes_)))
            out[:, np.asarray(model.classes_, dtype=np.int64)] = proba  # absent class: 0
        seconds = time.perf_counter() - t0
        self.fit_seconds[HISTGB] = self.fit_seconds.get(HISTGB, 0.0) + seconds
        self._log_fit(f"{HISTGB} {name}", fold, seconds)
        outputs = {name: out}
        scores = self._score(fold, outputs)
        self._keep(HISTGB, fold, outputs, scores)
        return scores

    def single(self, name: str, fold: int, keep: bool = True) -> dict:
        return self.tabmtl([name], fold, model=SINGLE_TASK if keep else None)

    def paired_gain(self, names: Sequence[str], fold: int) -> dict[str, float]:
        """Per task of ``names``: score trained with ``names`` minus score trained alone."""
        together = self.tabmtl(names, fold)
        return {n: together[n] - self.single(n, fold)[n] for n in names}


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


# -- the public API ------------------------------------------------------------------------


def cross_validate_transfer(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    estimator: MultiTaskEstimator | None = None,
    *,
    cv: int | object = 5,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    metrics: Mapping[str, str] | None = None,
    baseline: bool = True,
    grouping: bool = False,
    verify_groups: bool = True,
    random_state: int = 0,
    log: Log | None = None,
) -> TransferResult:
    """Cross-validate multi-task against single-task (and HistGB) models on the same folds.

    Parameters
    ----------
    X : pandas.DataFrame
        Features.
    Y : pandas.DataFrame
        Targets, at least two (missing labels allowed).
    estimator : MultiTaskEstimator, optional
        Unfitted template: the multi-task model, and (restricted to one target) every
        single-task model, so the architecture and settings match. Default: a
        ``MultiTaskEstimator(random_state=random_state)``.
    cv : int, splitter or iterable of (train, test), default=5
        Folds, see :func:`make_folds`.
    stratify, groups : pandas.Series, optional
        Stratification labels and row groups for the folds (see :func:`make_folds`).
    metrics : dict, optional
        Target name or kind -> metric name (see :func:`resolve_metrics`); default R² for
        regression and accuracy for classification (``tabmtl.evaluation.metrics.DEFAULT_METRICS``).
    baseline : bool, default=True
        Also cross-validate a HistGradientBoosting model per target.
    grouping : bool, default=False
        Also fit one model per *pair* of targets on the same folds (T(T-1)/2 x K more
        fits) and recommend task groups; see :func:`recommend_task_groups`.
    verify_groups : bool, default=True
        With ``grouping``, cross-validate each recommended multi-task group (a few more
        fits) and compare with all tasks together and each alone, so the recommendation
        is checked, not only predicted.
    random_state : int, default=0
        Seeds the folds, the HistGB models and, when the estimator's own
        ``random_state`` is unset, the networks. Every model of fold ``k`` is seeded
        ``seed + k``: the same within a fold, different across folds, so one lucky or
        unlucky initialisation cannot favour a model in every fold.
    log : callable, optional
        Receives one progress line per fit (e.g. ``print``).

    Returns
    -------
    TransferResult

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = datasets.load("penguins")
    >>> result = cross_validate_transfer(
    ...     X, Y, MultiTaskEstimator(max_epochs=5, hidden_layer_sizes=(16,)), cv=2)
    >>> list(result.summary.columns[:4])
    ['kind', 'metric', 'multi-task_mean', 'multi-task_std']
    >>> print(result.to_markdown())  # doctest: +SKIP
    """
    X, Y = _check_inputs(X, Y)
    template = _template(estimator, random_state)
    spec = TargetSpec(targets=template.targets).fit(Y)
    chosen = resolve_metrics(spec, metrics)
    if stratify is not None:
        stratify = stratify.reset_index(drop=True)
    if groups is not None:
        groups = groups.reset_index(drop=True)
    folds, how = make_folds(
        len(X), cv, stratify=stratify, groups=groups, random_state=random_state
    )
    runner = _Runner(X, Y, template, spec, chosen, folds, random_state, log)
    names = list(Y.columns)
    models = [MULTI_TASK, SINGLE_TASK] + ([HISTGB] if baseline else [])
    for fold in range(len(folds)):
        runner.tabmtl(names, fold, model=MULTI_TASK)
        for name in names:
            runner.single(name, fold)
            if baseline:
                runner.hgb(name, fold)
    task_grouping = None
    if grouping:
        task_grouping = _grouping(runner, names, verify_groups)
    scores = pd.DataFrame(
        runner.rows, columns=["task", "kind", "metric", "model", "fold", "value"]
    )
    return TransferResult(
        scores=scores,
        summary=summarize(scores, names, models),
        histories=runner.histories,
        predictions=runner.predictions,
        Y=Y,
        spec=spec,
        metrics=chosen,
        folds=folds,
        cv_description=how,
        models=models,
        fit_seconds=runner.fit_seconds,
        grouping=task_grouping,
    )


def summarize(scores: pd.DataFrame, tasks: Sequence[str], models: Sequence[str]) -> pd.DataFrame:
    """Per-task means, stds and paired multi-task gains from long-form fold scores.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``task, kind, metric, model, fold, value`` rows (as ``TransferResult.scores``).
    tasks : sequence of str
        Tasks in display order.
    models : sequence of str
        Models to summarise; must include ``"multi-task"`` and ``"single-task"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by task; see :class:`TransferResult` for the columns.

    Examples
    --------
    >>> s = pd.DataFrame({"task": ["a"] * 4, "kind": "binary", "metric": "accuracy",
    ...     "model": ["multi-task", "multi-task", "single-task", "single-task"],
    ...     "fold": [0, 1, 0, 1], "value": [0.80, 0.70, 0.75, 0.72]})
    >>> row = summarize(s, ["a"], ["multi-task", "single-task"]).loc["a"]
    >>> float(round(row["gain_mean"], 3)), bool(row["negative_transfer"])
    (0.015, False)
    """
    wide = scores.pivot_table(
        index=["task", "fold"], columns="model", values="value", aggfunc="first", dropna=False
    )
    meta = scores.drop_duplicates("task").set_index("task")
    out = []
    for task in tasks:
        folds = wide.loc[task] if task in wide.index.get_level_values(0) else pd.DataFrame()
        row = {"task": task, "kind": meta.loc[task, "kind"], "metric": meta.loc[task, "metric"]}
        means = {}
        for m in models:
            values = folds[m] if m in folds else pd.Series(dtype=float)
            row[f"{m}_mean"], row[f"{m}_std"] = values.mean(), values.std()
            means[m] = row[f"{m}_mean"]
        gain = folds[MULTI_TASK] - folds[SINGLE_TASK]
        row["gain_mean"], row["gain_std"] = gain.mean(), gain.std()
        if HISTGB in models and HISTGB in folds:
            row["gain_vs_histgb_mean"] = (folds[MULTI_TASK] - folds[HISTGB]).mean()
        finite = {m: v for m, v in means.items() if np.isfinite(v)}
        row["best"] = max(finite, key=finite.get) if finite else "n/a"
        row["negative_transfer"] = bool(np.isfinite(row["gain_mean"]) and row["gain_mean"] < 0)
        out.append(row)
    return pd.DataFrame(out).set_index("task")


def pairwise_affinity(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    estimator: MultiTaskEstimator | None = None,
    *,
    cv: int | object = 3,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    metrics: Mapping[str, str] | None = None,
    random_state: int = 0,
    log: Log | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much each task gains from being trained with each other task.

    Fits one model per target and one per pair of targets on every fold: T + T(T-1)/2
    models per fold.

    Parameters
    ----------
    X, Y, estimator, cv, stratify, groups, metrics, random_state, log
        As in :func:`cross_validate_transfer`.

    Returns
    -------
    affinity, affinity_std : pandas.DataFrame
        Tasks x tasks; ``affinity.loc[i, j]`` is the mean over folds of task ``i``'s
        score trained with ``j`` minus its score trained alone (NaN diagonal).

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> X, Y = datasets.load("penguins")
    >>> gain, _ = pairwise_affinity(X, Y, MultiTaskEstimator(max_epochs=3), cv=2)
    >>> gain.shape
    (3, 3)
    """
    X, Y = _check_inputs(X, Y)
    template = _template(estimator, random_state)
    spec = TargetSpec(targets=template.targets).fit(Y)
    folds, _ = make_folds(
        len(X), cv, stratify=None if stratify is None else stratify.reset_index(drop=True),
        groups=None if groups is None else groups.reset_index(drop=True),
        random_state=random_state,
    )
    runner = _Runner(
        X, Y, template, spec, resolve_metrics(spec, metrics), folds, random_state, log
    )
    return _affinity(runner, list(Y.columns))


def _affinity(runner: _Runner, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    gains = {(i, j): [] for i in names for j in names if i != j}
    for fold in range(len(runner.folds)):
        for a, b in combinations(names, 2):
            pair_gain = runner.paired_gain([a, b], fold)
            gains[a, b].append(pair_gain[a])
            gains[b, a].append(pair_gain[b])
    mean = pd.DataFrame(np.nan, index=names, columns=names)
    std = mean.copy()
    for (i, j), values in gains.items():
        values = np.asarray(values, dtype=float)
        mean.loc[i, j] = np.nanmean(values) if np.isfinite(values).any() else np.nan
        std.loc[i, j] = np.nanstd(values, ddof=1) if np.isfinite(values).sum() > 1 else np.nan
    return mean, std


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


def _grouping(runner: _Runner, names: list[str], verify: bool) -> TaskGrouping:
    affinity, affinity_std = _affinity(runner, names)
    groups = greedy_task_groups(affinity)
    expected = {}
    for group in groups:
        expected.update(_member_gains(affinity, group))
    verified = None
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
        As in :func:`cross_validate_transfer`.
    verify : bool, default=True
        Cross-validate the recommended groups, and all tasks together, on the same folds
        (``TaskGrouping.verified`` and ``best_measured``).

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
    X, Y = _check_inputs(X, Y)
    template = _template(estimator, random_state)
    spec = TargetSpec(targets=template.targets).fit(Y)
    folds, _ = make_folds(
        len(X), cv, stratify=None if stratify is None else stratify.reset_index(drop=True),
        groups=None if groups is None else groups.reset_index(drop=True),
        random_state=random_state,
    )
    runner = _Runner(
        X, Y, template, spec, resolve_metrics(spec, metrics), folds, random_state, log
    )
    return _grouping(runner, list(Y.columns), verify)
