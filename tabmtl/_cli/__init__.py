"""The ``tabmtl`` command line: fit, predict, evaluate and report on a table file.

::

    tabmtl fit DATA --target COL [--target COL ...] [--drop COL ...] [--config FILE] --out MODEL
    tabmtl fit DATA --target COL ... --blend [--blend-cv K] --out MODEL
    tabmtl predict MODEL DATA --out PREDICTIONS [--proba] [--keep COL ...] [--stream]
    tabmtl evaluate DATA --target COL --target COL ... [--cv K] [--stratify COL] [--groups COL]
    tabmtl report DATA --target COL --target COL ... --out DIR

DATA is a CSV (``.csv``, ``.tsv``, optionally compressed: ``.csv.gz``) or parquet file
(``.parquet``, ``.pq``). Every column that is neither a target nor dropped is a feature.
Progress (epoch tables, progress bars, one line per cross-validation fit) goes to
stderr; results (tables, written paths) go to stdout.

Exit codes (stable, for scripts):

- 0: success (also ``fit`` stopped with Ctrl-C: the best epoch so far is saved);
- 1: unexpected error (a bug: the traceback is printed), including a ValueError or
  TypeError from inside the library that is not one of its input errors
  (:class:`tabmtl.errors.InputError`);
- 2: usage error or bad input: missing or unreadable file, unknown column, a column that
  cannot be a target, an invalid option or config value (one line naming the problem);
- 3: training diverged (``fit`` still saves the best epoch before it, when there is one);
- 4: ``evaluate`` / ``report`` with ``--fail-on-negative`` found negative transfer;
- 130: interrupted with Ctrl-C before anything could be saved.

One module per command (``fit``, ``predict``, ``evaluate``, ``report``), over shared
pieces: ``tables`` (reading and writing tables, choosing columns), ``options`` (model,
data and cross-validation options, building the estimator), ``runtime`` (messages,
threads, Ctrl-C), ``errors`` (exit codes) and ``main`` (the parser and the exit code).
"""

from tabmtl._cli.errors import (
    EXIT_DIVERGED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NEGATIVE_TRANSFER,
    EXIT_OK,
    EXIT_USAGE,
)
from tabmtl._cli.main import main

__all__ = [
    "EXIT_DIVERGED",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NEGATIVE_TRANSFER",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
]
