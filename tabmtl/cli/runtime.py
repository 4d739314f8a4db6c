"""The process around a command: progress messages, CPU threads and Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
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


class InterruptFlag:
    """Ctrl-C handler that records the interrupt, then raises KeyboardInterrupt as usual
    (skorch's training loop catches it and ends training after the current batch).

    Attributes
    ----------
    raised : bool
        Whether Ctrl-C came while the handler was installed.

    Examples
    --------
    >>> InterruptFlag().raised
    False
    """

    def __init__(self) -> None:
        self.raised = False

    def __call__(self, signum, frame):
        self.raised = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def watch_interrupt() -> Iterator[InterruptFlag]:
    """Install an :class:`InterruptFlag` for SIGINT inside the block; yields the flag.

    Examples
    --------
    >>> with watch_interrupt() as interrupt:
    ...     pass
    >>> interrupt.raised
    False
    """
    flag = InterruptFlag()
    try:
        previous = signal.signal(signal.SIGINT, flag)
    except ValueError:  # not the main thread: no handler, Ctrl-C cannot reach us anyway
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
