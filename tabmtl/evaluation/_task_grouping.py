"""The result of a task grouping: pairwise affinities, recommended groups, their check.

:class:`TaskGrouping` holds what :func:`tabmtl.evaluation._grouping.recommend_task_groups`
measured and says what to do: a way of training the tasks (the recommended groups, each
alone) is preferred over training them all together only when the folds support it
(``GROUPING_RULE``: the corrected paired t test of
:func:`~tabmtl.evaluation._results.supported_loss`); what was measured leads, what the
pairwise gains predicted follows.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabmtl.evaluation._results import (
    CONFIDENCE,
    NEGATIVE_FLAG,
    NOISE_FLAG,
    _pm,
    _signed,
    format_markdown,
    supported_loss,
)

#: How the report decides between ways of training tasks, in words.
GROUPING_RULE = (
    "Rule: a way of training is preferred over training all tasks together only when the "
    "folds support it - the per-fold difference of the mean score over tasks, Nadeau & "
    f"Bengio's corrected paired t test, {int(CONFIDENCE * 100)}% one-sided; otherwise all "
    "together, the differences within noise."
)
_ADVICE = {"recommended groups": "train in the recommended groups",
           "each alone": "train each task alone", "all together": "train all together"}


def _affinity_rows(affinity: pd.DataFrame) -> list[list[str]]:
    return [
        [str(i)] + ["·" if i == j else _signed(affinity.loc[i, j]) for j in affinity.columns]
        for i in affinity.index
    ]


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
    fold_scores : pandas.DataFrame or None
        The same verification fold by fold (``task, group, fold, grouped, alone,
        together, gain``): what the noise rule of ``decision`` is judged on.

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
    fold_scores: pd.DataFrame | None = None

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

    @property
    def fold_means(self) -> pd.DataFrame | None:
        """Per fold, the mean score over tasks of each way of training them (the columns
        of ``measured_means``); None without ``fold_scores``."""
        if self.fold_scores is None or self.verified is None:
            return None
        columns = {"recommended groups": "grouped", "all together": "together",
                   "each alone": "alone"}
        per_fold = self.fold_scores.groupby("fold")[list(columns.values())].mean()
        ways = list(self.measured_means.index)
        return pd.DataFrame({w: per_fold[columns[w]] for w in ways})

    @property
    def decision(self) -> tuple[str, bool | None] | None:
        """How to train the tasks, by the rule ``GROUPING_RULE``, and whether the folds
        support it over training all together.

        ``("all together", False)`` when no other way beats all-together beyond the
        folds' noise; ``(way, True)`` for the best-scoring way that does; ``(best
        measured, None)`` when there are no per-fold scores to judge the noise by; None
        when the groups were not verified.
        """
        means = self.measured_means
        if means is None:
            return None
        folds = self.fold_means
        if folds is None:
            return str(means.idxmax()), None
        better = [w for w in folds.columns if w != "all together"
                  and supported_loss((folds["all together"] - folds[w]).to_numpy())]
        if not better:
            return "all together", False
        return max(better, key=lambda w: means[w]), True

    def conclusion_parts(self) -> tuple[str, str, str]:
        """``conclusion()`` in three parts: what was measured and what to do; what the
        pairwise gains predicted; the rule."""
        if self.verified is None:
            groups = " + ".join("{" + ", ".join(g) + "}" for g in self.groups)
            return ("Not measured: the groups were not cross-validated.",
                    f"The pairwise gains predict {groups}; verify it before acting on it "
                    "(recommend_task_groups(verify=True)).", GROUPING_RULE)
        means = self.measured_means
        choice, supported = self.decision
        measured = ", ".join(f"{k} {v:.3f}" for k, v in means.items())
        text = f"Measured on the same folds (mean score over tasks): {measured}. "
        if supported is None:
            text += f"Best measured: {choice}; the noise was not judged (no per-fold scores)."
        elif supported:
            text += f"Conclusion: {_ADVICE[choice]} (the folds support it over all together)."
        elif means.idxmax() == "all together":
            text += "Conclusion: train all together (it scored best)."
        else:
            text += "Conclusion: train all together (differences within noise)."
        groups = " + ".join("{" + ", ".join(g) + "}" for g in self.groups)
        if len(self.groups) == 1:
            way = predicted = "all together"
        elif all(len(g) == 1 for g in self.groups):
            way = predicted = "each alone"
        else:
            way, predicted = "recommended groups", f"the recommended groups {groups}"
        agree = ("agrees" if way == choice
                 else "disagrees: the conclusion follows the measurement")
        return text, f"The pairwise gains predicted {predicted} ({agree}).", GROUPING_RULE

    def conclusion(self) -> str:
        """What the folds measured and what to do, the measurement first, the rule stated.

        Examples
        --------
        >>> grouping.conclusion()  # doctest: +SKIP
        'Measured on the same folds (mean score over tasks): all together 0.890, ...'
        """
        return " ".join(self.conclusion_parts())

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
                        self._flag(task, row["gain_mean"]),
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
                "",
                *textwrap.wrap(self.conclusion(), 100),
            ]
        return "\n".join(lines)

    def _flag(self, task: str, gain_mean: float) -> str:
        """The verification table's flag of one task: a loss the folds support, or one
        within noise (:func:`supported_loss` on its per-fold gains)."""
        if not np.isfinite(gain_mean) or gain_mean >= 0:
            return ""
        if self.fold_scores is None:
            return "loss (noise not judged)"  # no per-fold scores
        gains = self.fold_scores.loc[self.fold_scores["task"] == task, "gain"].to_numpy()
        return NEGATIVE_FLAG if supported_loss(gains) else NOISE_FLAG
