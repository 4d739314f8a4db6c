"""Read ahead: an iterator run in a background thread, a bounded number of items ahead."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable

__all__ = ["Prefetch"]


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class Prefetch:
    """Runs an iterator in a background thread, at most ``depth`` items ahead.

    Reading and encoding the next record batches then overlaps the training step (pyarrow
    and most numpy work release the GIL); the bounded queue bounds the memory. An
    exception raised by the iterator is raised again in the consuming thread;
    :meth:`close` stops the thread early (always call it, e.g. in a ``finally``).

    Parameters
    ----------
    iterable : iterable
        Run in the background thread.
    depth : int
        Items held ahead at most.

    Examples
    --------
    >>> ahead = Prefetch(iter(range(5)), depth=2)
    >>> list(ahead)
    [0, 1, 2, 3, 4]
    >>> ahead.close()
    """

    _DONE = object()

    def __init__(self, iterable: Iterable, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iterable,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterable: Iterable) -> None:
        try:
            for item in iterable:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()
