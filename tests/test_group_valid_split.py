"""benchmarks.sharing's person-held-out early stopping (docs/sharing.md, "rand_hie: where
sharing loses"): whole groups go to validation, and an estimator early-stops on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from benchmarks.sharing import GroupValidSplit, with_single_of
from tabmtl import MultiTaskEstimator


def test_whole_groups_are_held_out():
    groups = np.repeat(np.arange(50), 4)
    dataset = TensorDataset(torch.arange(len(groups)))
    train, valid = GroupValidSplit(groups, fraction=0.1, seed=3)(dataset)
    train_groups = set(groups[train.indices])
    valid_groups = set(groups[valid.indices])
    assert len(valid_groups) == 5
    assert not train_groups & valid_groups
    assert len(train) + len(valid) == len(groups)


def test_an_estimator_early_stops_on_the_held_out_groups():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 5)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    Y = pd.DataFrame({"y": X.a + rng.normal(size=300), "z": X.b + rng.normal(size=300)})
    split = GroupValidSplit(groups, fraction=0.2, seed=0)
    model = MultiTaskEstimator(random_state=0, max_epochs=30,
                               net_kwargs={"train_split": split}).fit(X, Y)
    assert model.best_epoch_ is not None
    assert model.history_[-1]["valid_batch_count"] >= 1  # it validated
    held = np.isin(groups, groups[split(TensorDataset(torch.zeros(300)))[1].indices])
    assert held.sum() == 60  # 12 persons of 5 rows


def test_with_single_of_gives_every_candidate_the_same_single_task_fits():
    base = {"dataset": "t", "fold": 0, "task": "y", "metric": "R²", "fit_s": 1.0}
    scores = pd.DataFrame([
        {**base, "config": "a", "role": "multi", "single_config": None, "value": 0.5},
        {**base, "config": "a", "role": "single", "single_config": "hard", "value": 0.1},
        {**base, "config": "b", "role": "multi", "single_config": None, "value": 0.6},
        {**base, "config": "b", "role": "single", "single_config": "g", "value": 0.4},
    ])
    out = with_single_of(scores, "g")
    singles = out[out.role == "single"].set_index("config")["value"]
    assert singles.to_dict() == {"a": 0.4, "b": 0.4}
