"""The one place tabmtl imports Optuna: a clear error when the ``tune`` extra is missing."""

from __future__ import annotations


def import_optuna():
    """The ``optuna`` module, or an ImportError that names the extra to install.

    Examples
    --------
    >>> import_optuna().__name__
    'optuna'
    """
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        raise ImportError(
            "tabmtl.tuning needs Optuna: pip install 'tabmtl[tune]'"
        ) from exc
    return optuna
