"""The study's database: an Optuna RDB storage whose workers send heartbeats, so that a
trial of a worker that died (killed, its machine lost) is failed and run again.

Without heartbeats such a trial stays RUNNING forever and its configuration is never
finished. With them, every running trial records a heartbeat every
``heartbeat_interval`` seconds; the next trial any worker starts fails the trials whose
heartbeat is older than twice that, and queues each failed configuration once more
(at most :data:`MAX_RETRY` times, so a configuration that kills its worker, e.g. out
of memory, does not take the study down with it).
"""

from __future__ import annotations

import inspect
import warnings

from tabmtl.errors import InputError
from tabmtl.tuning._dependency import import_optuna

optuna = import_optuna()

#: How often a configuration whose worker died is queued again.
MAX_RETRY = 2


def _retry_callback() -> dict:
    """The RDBStorage keyword that re-queues a stale trial (named by the Optuna version)."""
    storages = optuna.storages
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    if retry is None:  # Optuna < 4.9
        retry = storages.RetryFailedTrialCallback
    params = inspect.signature(storages.RDBStorage).parameters
    key = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params
           else "failed_trial_callback")
    return {key: retry(max_retry=MAX_RETRY)}


def open_storage(url: str, heartbeat_interval: int | None = 60):
    """An ``optuna.storages.RDBStorage`` for a database URL; a one-line InputError when
    it cannot be opened.

    Parameters
    ----------
    url : str
        Any SQLAlchemy URL: ``sqlite:///tuning.db``, ``postgresql://user@host/db`` (needs
        ``psycopg2``, in the ``tune`` extra), ``mysql+pymysql://...``.
    heartbeat_interval : int or None, default=60
        Seconds between a running trial's heartbeats (see the module docstring); None:
        no heartbeats, a dead worker's trial stays RUNNING.

    Examples
    --------
    >>> storage = open_storage("sqlite://", heartbeat_interval=5)
    >>> storage.get_heartbeat_interval()
    5
    """
    if heartbeat_interval is not None and (
        isinstance(heartbeat_interval, bool) or not isinstance(heartbeat_interval, int)
        or heartbeat_interval < 1
    ):
        raise InputError(f"heartbeat_interval must be a positive integer (seconds) or None, "
                         f"got {heartbeat_interval!r}.")
    try:
        with warnings.catch_warnings():  # Optuna calls the heartbeat API "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            options = {} if heartbeat_interval is None else {
                "heartbeat_interval": heartbeat_interval, **_retry_callback()
            }
            return optuna.storages.RDBStorage(url, **options)
    except Exception as exc:  # SQLAlchemy's many errors: bad URL, no driver, no server
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot open the study storage {url!r}: {reason}") from None
