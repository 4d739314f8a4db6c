"""Exit codes of the ``tabmtl`` command line, and the failures that map to them.

A command raises a :class:`CommandError` for a failure it can explain in one line;
``tabmtl._cli.main.main`` prints that line and returns the error's exit code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_NEGATIVE_TRANSFER = 4
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure reported as one line, ending the command with ``exit_code``.

    Examples
    --------
    >>> UsageError("file not found: 'x.csv'").exit_code
    2
    """

    exit_code = EXIT_ERROR


class UsageError(CommandError):
    """Bad input or options: reported as one line, exit code 2."""

    exit_code = EXIT_USAGE


class DivergedError(CommandError):
    """Training diverged and nothing could be saved: exit code 3."""

    exit_code = EXIT_DIVERGED
