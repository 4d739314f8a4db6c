"""tabmtl's own input errors: data or parameters it rejects, as opposed to bugs.

Every check of what a user passes (columns, dtypes, labels, parameter values) raises an
:class:`InputError`, or :class:`InputTypeError` where the check has always raised a
``TypeError``. Both stay what they were (a ``ValueError``, a ``TypeError``), so code that
catches those keeps working; code that must tell bad input from a defect (the ``tabmtl``
command line: exit code 2 with one line, against exit code 1 with the traceback)
catches :class:`InputError` alone. A leaf module: it imports nothing of tabmtl, so any
module may raise these.

Examples
--------
>>> try:
...     raise InputError("Columns ['eta'] are not in the parquet source.")
... except ValueError as exc:  # still a ValueError for existing callers
...     isinstance(exc, InputError)
True
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError"]


class InputError(ValueError):
    """Input tabmtl rejects: a bad column, label, value or parameter (not a bug).

    Examples
    --------
    >>> issubclass(InputError, ValueError)
    True
    """


class InputTypeError(InputError, TypeError):
    """An :class:`InputError` of the wrong type (e.g. a column dtype tabmtl cannot encode).

    Also a ``TypeError``, for the checks that have always raised one.

    Examples
    --------
    >>> issubclass(InputTypeError, TypeError) and issubclass(InputTypeError, InputError)
    True
    """
