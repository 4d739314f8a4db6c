"""How many CPU threads a fit or prediction uses by default: one, chosen by measurement.

torch's default is one intra-op thread per core. tabmtl's networks are small (two
hidden layers of 128 and 64 units, batches of 256 rows), so a single matrix product
has little work to share out, and on a machine where other jobs also run, each
parallel region's threads wait for cores the other jobs hold: the fit slows down many
times over instead of speeding up. Measured with ``python -m benchmarks.threads`` on a
2-core machine shared with other jobs (load average 7-9), one fresh ``tabmtl fit`` per
figure:

=========================  =========  ========  ========
table                      1 thread   2         default
=========================  =========  ========  ========
penguins (344 rows)        12.9 s     56.8 s    76.8 s
synthetic 20,000 x 20      16.0 s     71.1 s    45.1 s
=========================  =========  ========  ========

(the issue's report, on the same kind of machine: 5.9-6.3 s with one thread against
54-62 s with the default). So the default is :data:`DEFAULT_THREADS` = 1 thread, for
torch and for the BLAS/OpenMP pools (``threadpoolctl``); more threads are an explicit
choice (``--threads``, or the ``TABMTL_THREADS`` environment variable), worth it on an
idle many-core machine with wide networks or large batches (an idle machine could not
be measured: it was shared throughout). pyarrow's decoding pool (streamed fits,
``use_threads``) is left as it is: it is a thread pool that does not spin, and
docs/scaling.md's thread-placement table (2 cores, 100,000 rows) shows a reading
thread beside one torch thread costing nothing and 2 arrow threads gaining 5-7%, while
2 torch threads in memory ran at 0.12x of one.

Nothing here imports torch at module level (the command line's parser reads
:func:`default_threads`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["DEFAULT_THREADS", "default_threads", "thread_limit"]

#: Threads a fit or prediction uses unless told otherwise (see the module docstring).
DEFAULT_THREADS = 1

#: Environment variable that overrides :data:`DEFAULT_THREADS` (a positive integer).
THREADS_ENV = "TABMTL_THREADS"

# The count of the innermost active thread_limit block: an estimator's fit inside the
# command line's block (``--threads N``) keeps N rather than falling back to the default.
_ACTIVE: ContextVar[int | None] = ContextVar("tabmtl_thread_limit", default=None)


def default_threads() -> int:
    """The default thread count: ``TABMTL_THREADS`` if set, else :data:`DEFAULT_THREADS`.

    Examples
    --------
    >>> import os
    >>> os.environ.pop("TABMTL_THREADS", None) and None
    >>> default_threads()
    1
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return DEFAULT_THREADS
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}.")
    return threads


@contextmanager
def thread_limit(threads: int | None = None) -> Iterator[int]:
    """Run the block with ``threads`` torch and BLAS/OpenMP threads.

    None: the count of the enclosing ``thread_limit`` block if there is one (so an
    estimator's fit inside the command line's ``--threads N`` block runs on N), else
    :func:`default_threads`.

    torch's intra-op count is set and restored; the BLAS/OpenMP pools are limited with
    ``threadpoolctl`` for the block. Yields the count used.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with thread_limit(1) as n:
    ...     (n, torch.get_num_threads())
    (1, 1)
    >>> torch.get_num_threads() == before
    True
    """
    import torch
    from threadpoolctl import threadpool_limits

    if threads is None:
        threads = _ACTIVE.get() or default_threads()
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}.")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    token = _ACTIVE.set(threads)
    try:
        with threadpool_limits(limits=threads):
            yield threads
    finally:
        _ACTIVE.reset(token)
        torch.set_num_threads(before)
