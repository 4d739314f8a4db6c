"""The default training regime stops soon after its best epoch (issue #25).

``patience="auto"`` (16 during 0.2 development): 6 epochs, or enough epochs to span 16
optimizer steps when an epoch has fewer than three batches. On the project's tables 6
kept the epochs and scores of 16 at a quarter to a third less fit time; at one batch per
epoch (penguins' 229 training rows) 6 steps stopped a single-target fit far too early
(``benchmarks/sharing.py``, docs/sharing.md "Fit time").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmtl import MultiTaskEstimator
from tabmtl.errors import InputError


def _table(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    noise = rng.normal(size=(n, 2))
    Y = pd.DataFrame({"a": X.x0 + 2.0 * noise[:, 0], "b": X.x1 - X.x2 + 2.0 * noise[:, 1]})
    return X, Y


def test_default_patience_is_auto():
    assert MultiTaskEstimator().patience == "auto"


def test_auto_patience_stops_six_epochs_after_the_best_with_several_batches():
    X, Y = _table(1000)  # 900 training rows: 4 batches of 256 per epoch
    model = MultiTaskEstimator(hidden_layer_sizes=(16,), random_state=0).fit(X, Y)
    assert model.early_stopping_ and model.patience_ == 6
    assert model.n_epochs_ < model.max_epochs  # it stopped early, not at the budget
    assert model.n_epochs_ - model.best_epoch_ == 6


def test_auto_patience_spans_sixteen_steps_at_one_batch_per_epoch():
    X, Y = _table(240)  # 216 training rows: one batch per epoch
    model = MultiTaskEstimator(hidden_layer_sizes=(16,), random_state=0).fit(X, Y)
    assert model.early_stopping_ and model.patience_ == 16
    assert model.n_epochs_ < model.max_epochs
    assert model.n_epochs_ - model.best_epoch_ == 16


def test_an_integer_patience_is_kept():
    X, Y = _table(240)
    model = MultiTaskEstimator(hidden_layer_sizes=(16,), patience=3, random_state=0).fit(X, Y)
    assert model.patience_ == 3
    assert model.n_epochs_ - model.best_epoch_ == 3


@pytest.mark.parametrize("bad", [0, "soon", 2.5])
def test_a_bad_patience_is_named(bad):
    X, Y = _table(240)
    with pytest.raises(InputError, match="patience must be a positive integer or 'auto'"):
        MultiTaskEstimator(patience=bad).fit(X, Y)
