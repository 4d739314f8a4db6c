"""Sharing that pays: a task the others do not help is protected, related tasks gain.

The table: ``a1`` and ``a2`` are two noisy views of one function of x0..x3; ``b`` depends
only on x4..x7, which the others ignore. A narrow shared trunk spends its capacity on
the two related tasks, so under plain hard sharing ``b`` loses to its own single-task
fit (negative transfer). Two protections: the default architecture, MMoE, whose
per-task gates let ``b`` weight the experts that serve it; and hard sharing with a
private path per head (``private_layer_sizes``). Under either, ``b`` scores like its
single-task fit while ``a1`` and ``a2`` still gain from sharing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from tabmtl import HardSharing, MultiTaskEstimator

pytestmark = pytest.mark.slow

#: How far a protected task may fall below its single-task fit (R²).
PROTECTED_MARGIN = 0.02
#: The loss plain hard sharing shows on ``b`` in this set-up (R², at least).
UNPROTECTED_LOSS = 0.05
#: The mean gain of the related tasks over their single-task fits (R², at least).
RELATED_GAIN = 0.005
PROTECTIONS = ["default (mmoe)", "hard + private paths"]


def _table(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"x{i}" for i in range(8)])
    a = np.sin(2 * X.x0) + X.x1 * X.x2 + 0.5 * X.x3**2
    b = np.cos(2 * X.x4) * X.x5 + np.abs(X.x6) - 0.5 * X.x7**2
    Y = pd.DataFrame({
        "a1": a + 0.3 * rng.normal(size=n),
        "a2": 0.8 * a + 0.3 * X.x1 + 0.3 * rng.normal(size=n),
        "b": b + 0.3 * rng.normal(size=n),
    })
    return X, Y


def _fit_score(architecture, X, Y, X_test, Y_test) -> dict[str, float]:
    model = MultiTaskEstimator(
        architecture=architecture, hidden_layer_sizes=(32, 16), max_epochs=60, random_state=0
    ).fit(X, Y)
    predicted = model.predict(X_test)
    return {c: r2_score(Y_test[c], predicted[c]) for c in Y.columns}


@pytest.fixture(scope="module")
def scores():
    X, Y = _table(1600, 0)
    X_test, Y_test = _table(2000, 1)
    single = {}
    for target in Y.columns:
        single |= _fit_score("hard", X, Y[[target]], X_test, Y_test[[target]])
    default = MultiTaskEstimator().architecture
    return {
        "single": single,
        "default (mmoe)": _fit_score(default, X, Y, X_test, Y_test),
        "hard + private paths": _fit_score(
            HardSharing(private_layer_sizes=(8,)), X, Y, X_test, Y_test
        ),
        "unprotected": _fit_score(HardSharing(), X, Y, X_test, Y_test),
    }


def test_the_default_is_mmoe():
    assert MultiTaskEstimator().architecture == "mmoe"


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_protection_keeps_the_unrelated_task(scores, protection):
    assert scores[protection]["b"] >= scores["single"]["b"] - PROTECTED_MARGIN, scores


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_related_tasks_still_gain_from_sharing(scores, protection):
    gains = [scores[protection][t] - scores["single"][t] for t in ("a1", "a2")]
    assert np.mean(gains) > RELATED_GAIN, scores


def test_without_protection_the_unrelated_task_loses(scores):
    assert scores["unprotected"]["b"] < scores["single"]["b"] - UNPROTECTED_LOSS, scores
