"""What a fitted model relies on: per-task permutation importance and its figures.

Modules (nothing heavy is imported here; the figures need matplotlib):

- ``importance``  :func:`~tabmtl.inspection.task_importance` (every feature x
  every task, one predict per shuffle) and its :class:`TaskImportance` result
- ``figures``     the features x tasks heat map and the per-task bar charts
"""

from tabmtl.inspection._importance import TaskImportance, task_importance

__all__ = ["TaskImportance", "task_importance"]
