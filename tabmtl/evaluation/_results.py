"""Result types of the transfer analysis and their plain-text tables.

:class:`TransferResult` (multi-task vs single-task vs HistGB, fold by fold) and
:class:`TaskGrouping` (pairwise affinities and recommended groups, defined in
:mod:`tabmtl.evaluation._task_grouping` and re-exported here) hold what
:func:`tabmtl.evaluation._transfer.cross_validate_transfer` and
:func:`tabmtl.evaluation._grouping.recommend_task_groups` measured; :func:`summarize` turns
long-form fold scores into the per-task summary; :func:`format_markdown` renders a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabmtl._data.targets import TargetKind, TargetSpec

#: Model names used in result tables, in display order.
MULTI_TASK, SINGLE_TASK, HISTGB = "multi-task", "single-task", "HistGB"

#: The marker of a task whose multi-task gain is negative beyond the folds' noise.
NEGATIVE_FLAG = "⚠ negative transfer"
#: The marker of a task whose mean gain is negative but within the folds' noise.
NOISE_FLAG = "within noise"
#: One-sided confidence of the paired test that calls a loss negative transfer.
CONFIDENCE = 0.9


def supported_loss(gains: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> bool:
    """Whether the per-fold gains of a K-fold comparison show a loss beyond the noise.

    The rule (one for the report, :func:`summarize`, ``cross_validate_transfer`` and
    ``--fail-on-negative``): Nadeau & Bengio's corrected resampled *t* test, one-sided.
    The ``k`` fold gains are paired differences on the same folds, but their training
    sets overlap, so the plain paired *t* test understates their variance; the
    correction scales it by ``1/k + n_test/n_train`` (``1/k + 1/(k-1)`` for K-fold)
    instead of ``1/k``. A loss is called when ``mean + t_{c, k-1} * sd * sqrt(1/k +
    1/(k-1))`` lies below zero, i.e. the folds support it at one-sided confidence ``c``.
    With one fold there is no spread to judge by, so any loss counts.

    Examples
    --------
    >>> supported_loss([-0.003, 0.010, -0.020])   # -0.004 ± 0.015: noise
    False
    >>> supported_loss([-0.030, -0.025, -0.035])  # consistently below
    True
    """
    from scipy.stats import t as student_t

    values = np.asarray(gains, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return False
    k, mean = len(values), values.mean()
    if k == 1:
        return bool(mean < 0)
    se = values.std(ddof=1) * np.sqrt(1 / k + 1 / (k - 1))
    return bool(mean < 0 and mean + student_t.ppf(confidence, k - 1) * se < 0)


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

    The cells are shown as given (no number parsing), through ``DataFrame.to_markdown``.

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
    >>> print(format_markdown([["species", "+0.010"], ["sex", -0.2]], ["task", "gain"]))
    | task    | gain   |
    |---------|--------|
    | species | +0.010 |
    | sex     | -0.2   |
    """
    table = pd.DataFrame([[str(v) for v in r] for r in rows], columns=[str(h) for h in headers])
    return table.to_markdown(index=False, tablefmt="github", disable_numparse=True)


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
        highest mean), ``negative_transfer`` (a loss the folds support, see
        ``supported_loss``) and ``within_noise`` (a negative mean gain they do not).
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
    def task_names(self) -> list[str]:
        """The target names, in the spec's order."""
        return [str(t.name) for t in self.spec.tasks_]

    def task(self, name: str) -> TargetKind:
        """The fitted task of target ``name`` (its kind and classes)."""
        return self.spec.tasks_[self.task_names.index(name)]

    @property
    def negative_transfer(self) -> list[str]:
        """Tasks whose multi-task loss the folds support (``supported_loss``)."""
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
            flag = NEGATIVE_FLAG if s["negative_transfer"] else ""
            if s["within_noise"]:
                flag = NOISE_FLAG
            row += [s["best"], flag]
            rows.append(row)
        return headers, rows

    def to_markdown(self) -> str:
        """The per-task table as GitHub markdown."""
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
        noise = list(self.summary.index[self.summary["within_noise"]])
        if noise:
            text += (f" Within the folds' noise (corrected paired t test, "
                     f"{int(CONFIDENCE * 100)}% one-sided): {', '.join(map(str, noise))}.")
        return text


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
        row["negative_transfer"] = supported_loss(gain.to_numpy())
        row["within_noise"] = bool(
            np.isfinite(row["gain_mean"]) and row["gain_mean"] < 0
            and not row["negative_transfer"]
        )
        out.append(row)
    return pd.DataFrame(out).set_index("task")


# TaskGrouping uses the rule and the formatting above; imported last (it imports them)
from tabmtl.evaluation._task_grouping import GROUPING_RULE, TaskGrouping  # noqa: E402

__all__ = [
    "CONFIDENCE", "GROUPING_RULE", "HISTGB", "MULTI_TASK", "NEGATIVE_FLAG", "NOISE_FLAG",
    "SINGLE_TASK", "TaskGrouping", "TransferResult", "format_markdown", "summarize",
    "supported_loss",
]
