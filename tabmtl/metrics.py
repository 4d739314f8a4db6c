"""Scoring a multi-task model, task by task.

- :func:`task_scorer`: a scikit-learn ``scoring`` callable for ``cross_validate`` and
  ``GridSearchCV`` that predicts once and returns one score per target plus their mean;
- the metric registry: ``METRICS`` (name -> :class:`Metric`), :func:`get_metric`,
  :func:`metric_names`, :func:`default_metric` (the metric used for a target kind) and
  :func:`resolve_metrics` (a metric per target from names or kinds);
- per-task scoring of predictions: :func:`score_task` and :func:`score_frame`, missing
  labels left out of each task's score;
- calibration of predicted probabilities: :func:`expected_calibration_error` and
  :func:`reliability_curve`; coverage of prediction intervals: :func:`interval_coverage`.

Examples
--------
>>> from tabmtl.metrics import default_metric
>>> default_metric("binary"), default_metric("regression")
('accuracy', 'r2')
"""

from tabmtl._uncertainty.calibration import expected_calibration_error, reliability_curve
from tabmtl._uncertainty.conformal import interval_coverage
from tabmtl.evaluation._metrics import (
    METRICS,
    Metric,
    default_metric,
    get_metric,
    metric_names,
    resolve_metrics,
    score_frame,
    score_task,
    task_scorer,
)

__all__ = [
    "METRICS",
    "Metric",
    "default_metric",
    "expected_calibration_error",
    "get_metric",
    "interval_coverage",
    "metric_names",
    "reliability_curve",
    "resolve_metrics",
    "score_frame",
    "score_task",
    "task_scorer",
]
