"""The default CPU thread count is one, by measurement (issue 24, item 17)."""

from __future__ import annotations

import pytest
import torch

from tabmtl._cli.runtime import thread_limit as cli_thread_limit
from tabmtl._training.threads import DEFAULT_THREADS, default_threads, thread_limit


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_command_line_runs_on_one_thread_unless_told(two_threads, monkeypatch):
    monkeypatch.delenv("TABMTL_THREADS", raising=False)
    with cli_thread_limit(None):  # no --threads
        assert torch.get_num_threads() == DEFAULT_THREADS == 1
    assert torch.get_num_threads() == 2  # restored
    with cli_thread_limit(2):
        assert torch.get_num_threads() == 2


def test_the_environment_overrides_the_default(two_threads, monkeypatch):
    monkeypatch.setenv("TABMTL_THREADS", "2")
    assert default_threads() == 2
    with thread_limit() as n:
        assert n == 2 and torch.get_num_threads() == 2
    for bad in ("0", "many"):
        monkeypatch.setenv("TABMTL_THREADS", bad)
        with pytest.raises(ValueError, match="TABMTL_THREADS"):
            default_threads()


def test_blas_pools_are_limited_too(monkeypatch):
    from threadpoolctl import threadpool_info

    monkeypatch.delenv("TABMTL_THREADS", raising=False)
    with thread_limit():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())


def _threads_during_fit(**params) -> list[int]:
    """torch's thread count seen at each epoch of a small fit."""
    from conftest import make_mixed
    from skorch.callbacks import Callback

    from tabmtl import MultiTaskEstimator

    seen: list[int] = []

    class Record(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append(torch.get_num_threads())

    X, Y = make_mixed(64)
    MultiTaskEstimator(max_epochs=2, callbacks=[Record()], random_state=0, **params).fit(X, Y)
    return seen


def test_the_estimators_fit_on_one_thread_unless_told(two_threads, monkeypatch):
    monkeypatch.delenv("TABMTL_THREADS", raising=False)
    assert _threads_during_fit() == [1, 1]
    assert torch.get_num_threads() == 2  # the caller's setting is restored
    assert _threads_during_fit(n_threads=2) == [2, 2]
    with thread_limit(2):  # an enclosing block (the command line's --threads) wins
        assert _threads_during_fit() == [2, 2]


def test_n_threads_is_checked():
    from conftest import make_mixed

    from tabmtl import MultiTaskEstimator
    from tabmtl.errors import InputError

    with pytest.raises(InputError, match="n_threads"):
        MultiTaskEstimator(n_threads=0).fit(*make_mixed(16))
