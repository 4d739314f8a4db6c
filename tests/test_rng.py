"""Fits leave the caller's global random number generators alone (issue 15, item 1)."""

from unittest import mock

import pytest
import torch
from conftest import make_mixed

from tabmtl import MultiTaskEstimator
from tabmtl._training.iterators import SliceIterator, TensorDataset


@pytest.mark.parametrize("random_state", [None, 0])
def test_fit_leaves_the_cpu_generator_alone(random_state):
    X, Y = make_mixed(60)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    MultiTaskEstimator(max_epochs=2, random_state=random_state).fit(X, Y)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("random_state", [None, 0])
def test_a_cpu_fit_seeds_no_cuda_generator(random_state):
    X, Y = make_mixed(60)
    with (
        mock.patch("torch.cuda.manual_seed_all") as seed_all,
        mock.patch("torch.cuda.manual_seed") as seed_one,
        mock.patch("torch.cuda.seed_all") as reseed_all,
    ):
        MultiTaskEstimator(max_epochs=2, random_state=random_state).fit(X, Y)
    assert not seed_all.called and not seed_one.called and not reseed_all.called


def test_an_unseeded_shuffle_draws_fresh_entropy_without_the_global_generator():
    data = TensorDataset(torch.arange(50.0)[:, None], torch.zeros(50, 1))
    torch.manual_seed(5)
    before = torch.get_rng_state()
    with mock.patch("torch.cuda.manual_seed_all") as seed_all:
        orders = [
            torch.cat([xb for xb, _ in SliceIterator(data, 50, shuffle=True)])
            for _ in range(2)
        ]
    assert torch.equal(torch.get_rng_state(), before) and not seed_all.called
    assert not torch.equal(orders[0], orders[1])  # still a fresh random order each time


def test_seeded_fits_stay_reproducible():
    X, Y = make_mixed(60)
    first = MultiTaskEstimator(max_epochs=2, random_state=3).fit(X, Y).predict(X)
    torch.manual_seed(999)  # whatever the global state, the seed decides
    second = MultiTaskEstimator(max_epochs=2, random_state=3).fit(X, Y).predict(X)
    assert first.equals(second)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_fit_leaves_the_cuda_generators_alone_and_is_reproducible():
    X, Y = make_mixed(60)
    torch.cuda.manual_seed_all(7)
    before = [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
    kw = dict(max_epochs=2, random_state=3, device="cuda", dropout=0.5)
    first = MultiTaskEstimator(**kw).fit(X, Y).predict(X)
    after = [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    torch.cuda.manual_seed_all(8)
    assert first.equals(MultiTaskEstimator(**kw).fit(X, Y).predict(X))


def test_resuming_a_cpu_fit_touches_no_cuda_generator(tmp_path):
    """A resume checkpoint saves and restores the generators of the fit's own device only."""
    from skorch.callbacks import Callback

    class InterruptAt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    X, Y = make_mixed(60)
    kw = dict(max_epochs=4, random_state=0, checkpoint_dir=str(tmp_path))
    with (
        mock.patch("torch.cuda.is_available", return_value=True),
        mock.patch("torch.cuda.get_rng_state_all") as get_all,
        mock.patch("torch.cuda.set_rng_state_all") as set_all,
    ):
        MultiTaskEstimator(callbacks=[InterruptAt()], **kw).fit(X, Y)
        resumed = MultiTaskEstimator(**kw).fit(X, Y)
    assert resumed.n_epochs_ == 4
    assert not get_all.called and not set_all.called
