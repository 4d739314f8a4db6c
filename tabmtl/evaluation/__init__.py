"""Scoring, cross-validated transfer analysis, task grouping and the report.

Modules (import what you need; nothing is re-exported here, so importing the package
loads no scikit-learn model or matplotlib):

- ``metrics``   the metric registry, ``resolve_metrics``, ``score_task`` / ``score_frame``
  and the multi-task ``task_scorer``
- ``transfer``  ``cross_validate_transfer`` (multi-task vs single-task vs HistGB on the
  same folds), re-exporting the public names of the modules below
- ``results``   ``TransferResult``, ``TaskGrouping``, ``summarize``, ``format_markdown``
- ``folds``     ``make_folds`` (K-fold, stratified and/or grouped)
- ``outputs``   the common output format of every compared model (``tabmtl_outputs``)
- ``baseline``  the per-target HistGradientBoosting baseline
- ``runner``    ``FoldRunner``: fits and scores on fixed folds, with a cache
- ``affinity``  ``pairwise_affinity``: the gain of each task from each other one
- ``grouping``  ``greedy_task_groups`` and ``recommend_task_groups``
- ``drawing``, ``figures``, ``report``  the plots and the self-contained HTML report
  (``write_report``; needs matplotlib)
"""
