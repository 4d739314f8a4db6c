"""Shared fixtures: one torch thread (small nets; 2-core CI), seeds, small mixed data."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

# Hypothesis profiles for tests/test_fuzz.py, registered here so that
# `pytest --hypothesis-profile=long` finds them. "ci" (the default when nobody picks one):
# 40 derandomized examples per property, no example database - deterministic and quick.
# "long": 2000 random examples per property, for bug hunting.
_FUZZ = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
settings.register_profile(
    "ci", settings.get_profile("default"), max_examples=40, derandomize=True, database=None,
    **_FUZZ,
)
settings.register_profile("long", settings.get_profile("default"), max_examples=2000, **_FUZZ)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
elif settings.get_current_profile_name() == "default":
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed_everything():
    np.random.seed(0)  # noqa: NPY002 - pins code under test that still uses the global RNG
    torch.manual_seed(0)


def make_mixed(n: int = 300, seed: int = 0, missing: float = 0.0):
    """A small table with a regression, a binary and a 3-class target that share signal."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "km": rng.uniform(1, 20, n),
            "hour": rng.integers(0, 24, n),
            "zone": pd.Categorical(rng.choice(["north", "south", "east"], n)),
            "rain": rng.random(n) < 0.3,
        }
    )
    eta = 3.0 * X["km"] + 6.0 * (X["zone"] == "south") + 4.0 * X["rain"] + rng.normal(0, 1, n)
    Y = pd.DataFrame(
        {
            "eta": eta,
            "late": eta > np.median(eta),
            "band": pd.Categorical(
                np.where(X["km"] < 7, "short", np.where(X["km"] < 14, "mid", "long")),
                categories=["short", "mid", "long"],
            ),
        }
    )
    if missing:
        Y = Y.astype({"late": "boolean"})
        for col in Y.columns:
            Y.loc[rng.random(n) < missing, col] = None
    return X, Y


@pytest.fixture
def mixed():
    return make_mixed()
