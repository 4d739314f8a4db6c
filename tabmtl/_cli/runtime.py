"""The process around a command: progress messages and CPU threads."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


def say(message: str) -> None:
    """Print a progress or error message on stderr (stdout is kept for results).

    Examples
    --------
    >>> say("fitting 2 target(s)")  # doctest: +SKIP
    """
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Limit torch and the BLAS / OpenMP pools to ``threads`` inside the block.

    None: the measured default (:func:`tabmtl._training.threads.default_threads`, one
    thread unless ``TABMTL_THREADS`` says otherwise).

    Examples
    --------
    >>> with thread_limit(None):
    ...     pass
    """
    from tabmtl._training.threads import thread_limit as limit

    with limit(threads):
        yield
