import numpy as np
import pandas as pd
import pytest
import torch

from tabmtl import MultiTaskEstimator
from tabmtl.weighting import (
    WEIGHTINGS,
    EqualWeighting,
    FixedWeighting,
    UncertaintyWeighting,
    resolve_weighting,
)


def test_equal_is_plain_sum():
    loss = EqualWeighting().build(["a", "b", "c"])
    assert loss(torch.tensor([1.0, 2.0, 3.0])).item() == pytest.approx(6.0)
    assert loss.weights().tolist() == [1.0, 1.0, 1.0]


def test_fixed_weights_follow_target_names_and_default_to_one():
    loss = FixedWeighting({"c": 2.0, "a": 0.5}).build(["a", "b", "c"])
    assert loss.weights().tolist() == [0.5, 1.0, 2.0]
    assert loss(torch.tensor([2.0, 1.0, 1.0])).item() == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("weights", "match"),
    [({"zzz": 1.0}, r"targets that do not exist: \['zzz'\]"), ({"a": -1.0}, "'a' must be >= 0")],
)
def test_fixed_weights_validated(weights, match):
    with pytest.raises(ValueError, match=match):
        FixedWeighting(weights).build(["a", "b"])


def test_resolve():
    assert isinstance(resolve_weighting({"a": 2.0}), FixedWeighting)
    assert isinstance(resolve_weighting("uncertainty"), UncertaintyWeighting)
    with pytest.raises(ValueError, match=r"Unknown weighting 'magic'.*\['equal', 'uncertainty'\]"):
        resolve_weighting("magic")
    assert set(WEIGHTINGS) >= {"equal", "uncertainty"}


def test_uncertainty_gradient_drives_weight_to_inverse_loss():
    # d/ds [0.5 e^-s L + 0.5 s] = 0  <=>  e^-s = 1 / L: the optimum weight is 1/L per task.
    loss = UncertaintyWeighting().build(["a", "b"])
    opt = torch.optim.SGD(loss.parameters(), lr=0.5)
    fixed = torch.tensor([0.25, 4.0])
    for _ in range(500):
        opt.zero_grad()
        loss(fixed).backward()
        opt.step()
    assert loss.weights().tolist() == pytest.approx([4.0, 0.25], rel=1e-3)


def test_uncertainty_weights_order_tasks_by_noise():
    rng = np.random.default_rng(1)
    n = 600
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    signal = X["x"] + 0.5 * X["z"]
    Y = pd.DataFrame(
        {
            "clean": signal + rng.normal(0, 0.05, n),
            "noisy": signal + rng.normal(0, 1.5, n),
            "medium": signal + rng.normal(0, 0.5, n),
        }
    )
    model = MultiTaskEstimator(
        weighting="uncertainty", max_epochs=40, lr=1e-2, random_state=0
    ).fit(X, Y)
    w = model.task_weights_
    assert w["clean"] > w["medium"] > w["noisy"]
    # weights are logged per epoch too
    assert "weight_noisy" in model.history_[-1]
