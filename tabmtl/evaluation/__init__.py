"""Cross-validated transfer analysis, task grouping, data efficiency and the report.

The public names, imported on first use (so importing the package loads no scikit-learn
model or matplotlib): :func:`cross_validate_transfer`, :class:`TransferResult`,
:class:`TaskGrouping`, :func:`pairwise_affinity`, :func:`greedy_task_groups`,
:func:`recommend_task_groups`, :func:`data_efficiency`, :class:`EfficiencyResult`,
:func:`auxiliary_gain` and :func:`write_report`. Scoring is :mod:`tabmtl.metrics`. The
modules behind them are internal:

- ``metrics``   the metric registry, ``resolve_metrics``, ``score_task`` / ``score_frame``
- ``scorer``    the multi-task ``task_scorer`` (also importable from ``metrics``)
- ``transfer``  ``cross_validate_transfer`` (multi-task vs single-task vs HistGB on the
  same folds), re-exporting the public names of the modules below
- ``results``   ``TransferResult``, ``TaskGrouping``, ``summarize``, ``format_markdown``
- ``folds``     ``make_folds`` (K-fold, stratified and/or grouped)
- ``outputs``   the common output format of every compared model (``tabmtl_outputs``)
- ``baseline``  the per-target HistGradientBoosting baseline
- ``runner``    ``FoldRunner``: fits and scores on fixed folds, with a cache
- ``affinity``  ``pairwise_affinity``: the gain of each task from each other one
- ``grouping``  ``greedy_task_groups`` and ``recommend_task_groups``
- ``auxiliary`` ``auxiliary_gain``: does an auxiliary target help a main one
- ``drawing``, ``figures``, ``report``  the plots and the self-contained HTML report
  (``write_report``; needs matplotlib)
"""

from tabmtl._lazy import lazy_exports

#: The public names (imported on first use), and the module that defines each.
_EXPORTS = {
    "cross_validate_transfer": "tabmtl.evaluation._transfer",
    "TransferResult": "tabmtl.evaluation._results",
    "TaskGrouping": "tabmtl.evaluation._results",
    "pairwise_affinity": "tabmtl.evaluation._affinity",
    "greedy_task_groups": "tabmtl.evaluation._grouping",
    "recommend_task_groups": "tabmtl.evaluation._grouping",
    "data_efficiency": "tabmtl.evaluation._efficiency",
    "EfficiencyResult": "tabmtl.evaluation._efficiency",
    "write_report": "tabmtl.evaluation._report",
    "auxiliary_gain": "tabmtl.evaluation._auxiliary",
    "AuxiliaryGainResult": "tabmtl.evaluation._auxiliary",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
