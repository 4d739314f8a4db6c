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
    """Limit torch and the BLAS / OpenMP pools to ``threads`` inside the block (None: no limit).

    Examples
    --------
    >>> with thread_limit(None):
    ...     pass
    """
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)
