"""benchmarks.sharing: every tabmtl fit gets the table's groups (early stopping on whole
persons, docs/sharing.md "rand_hie: where sharing loses") unless a candidate opts out,
and every candidate can be compared with the same single-task fits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.sharing import _estimator_params, with_single_of


def test_candidates_fit_with_the_tables_groups_unless_random_valid():
    groups = np.arange(10)
    params, fit_groups = _estimator_params("defaults", groups, seed=0)
    assert fit_groups is groups and "valid_split" not in params
    params, fit_groups = _estimator_params("random valid", groups, seed=0)
    assert fit_groups is None and "valid_split" not in params


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
