"""fit(groups=): early stopping holds out whole groups, never a unit on both sides.

Rows of one unit (a person over several years) resemble each other; a random validation
split puts a unit on both sides and early stopping then rewards memorising units. With
``groups`` the held-out rows are whole groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmtl import MultiTaskBlend, MultiTaskEstimator, MultiTaskRegressor
from tabmtl._training.build import validation_rows
from tabmtl.errors import InputError

PARAMS = {"early_stopping": True, "validation_fraction": 0.2, "net_kwargs": None}


def test_validation_rows_hold_out_whole_groups():
    groups = np.repeat(np.arange(50), 4)  # 50 units, 4 rows each
    train, valid = validation_rows(PARAMS, len(groups), seed=0, groups=groups)
    assert set(groups[train]).isdisjoint(groups[valid])
    assert len(set(groups[valid])) == 10  # 20% of the groups
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(len(groups)))
    # without groups: random rows, so (almost surely) units on both sides
    train, valid = validation_rows(PARAMS, len(groups), seed=0)
    assert not set(groups[train]).isdisjoint(groups[valid])


def test_one_group_or_missing_or_misaligned_groups_are_refused():
    with pytest.raises(InputError, match="1 distinct value"):
        validation_rows(PARAMS, 10, seed=0, groups=np.zeros(10))
    X = pd.DataFrame({"a": np.arange(300.0)})
    Y = pd.DataFrame({"y": np.arange(300.0)})
    model = MultiTaskEstimator(max_epochs=2, early_stopping=True, random_state=0)
    with pytest.raises(InputError, match="missing label"):
        model.fit(X, Y, groups=[None, *range(299)])
    with pytest.raises(InputError, match="one label per row"):
        model.fit(X, Y, groups=np.arange(10))


def _units(n_units: int = 60, per_unit: int = 5, seed: int = 0):
    """Each unit has its own offset the features cannot explain: a net that memorises
    units fits the validation rows of seen units, not new units."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), per_unit)
    x = rng.normal(size=(n_units, 3))[unit] + 0.01 * rng.normal(size=(len(unit), 3))
    offset = rng.normal(scale=2.0, size=n_units)[unit]
    X = pd.DataFrame(x, columns=["a", "b", "c"])
    Y = pd.DataFrame({"y": x[:, 0] + offset, "z": x[:, 1] - offset})
    return X, Y, unit


def test_estimator_fit_uses_the_groups_for_its_validation_rows(monkeypatch):
    import tabmtl._estimators.base as base

    seen = {}
    real = base.validation_rows

    def spy(params, n_rows, seed, groups=None):
        seen["groups"] = groups
        split = real(params, n_rows, seed, groups)
        seen["split"] = split
        return split

    monkeypatch.setattr(base, "validation_rows", spy)
    X, Y, unit = _units()
    MultiTaskEstimator(max_epochs=2, early_stopping=True, random_state=0).fit(X, Y, groups=unit)
    train, valid = seen["split"]
    assert set(seen["groups"][train]).isdisjoint(seen["groups"][valid])
    MultiTaskRegressor(max_epochs=2, early_stopping=True, random_state=0).fit(
        X, Y.to_numpy(), groups=unit
    )
    train, valid = seen["split"]
    assert set(seen["groups"][train]).isdisjoint(seen["groups"][valid])


def test_blend_passes_each_folds_groups_to_its_nets(monkeypatch):
    import tabmtl._ensemble.blend as blend_module

    calls = []
    real = blend_module._fit_net

    def spy(template, X, Y, groups=None):
        calls.append((len(X), None if groups is None else len(groups)))
        return real(template, X, Y, groups)

    monkeypatch.setattr(blend_module, "_fit_net", spy)
    X, Y, unit = _units(n_units=30, per_unit=4)
    net = MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
    MultiTaskBlend(net, cv=2).fit(X, Y, groups=unit)
    assert calls and all(n == g for n, g in calls)  # every net got its rows' groups


def test_cross_validate_transfer_passes_each_folds_groups_to_its_fits(monkeypatch):
    from tabmtl.evaluation import cross_validate_transfer

    seen = []
    real = MultiTaskEstimator.fit

    def spy(self, X, Y, sample_weight=None, groups=None):
        seen.append((len(X), None if groups is None else len(groups)))
        return real(self, X, Y, sample_weight=sample_weight, groups=groups)

    monkeypatch.setattr(MultiTaskEstimator, "fit", spy)
    X, Y, unit = _units(n_units=30, per_unit=4)
    cross_validate_transfer(
        X, Y, MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(8,), random_state=0),
        cv=2, groups=pd.Series(unit), grouping=False,
    )
    assert seen and all(n == g for n, g in seen)


def test_cli_fit_groups_reach_the_fit_and_are_no_feature(tmp_path, monkeypatch):
    from tabmtl._cli.main import main

    seen = {}
    real = MultiTaskEstimator.fit

    def spy(self, X, Y, sample_weight=None, groups=None):
        seen["groups"], seen["columns"] = groups, list(X.columns)
        return real(self, X, Y, sample_weight=sample_weight, groups=groups)

    monkeypatch.setattr(MultiTaskEstimator, "fit", spy)
    X, Y, unit = _units(n_units=30, per_unit=4)
    X.join(Y).assign(person=unit).to_csv(tmp_path / "t.csv", index=False)
    code = main(["fit", str(tmp_path / "t.csv"), "--target", "y", "--target", "z",
                 "--groups", "person", "--max-epochs", "2", "--quiet",
                 "--out", str(tmp_path / "m.tabmtl")])
    assert code == 0
    assert "person" not in seen["columns"]
    assert list(seen["groups"]) == list(unit)
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "y", "--groups", "nope",
                 "--out", str(tmp_path / "n.tabmtl")]) == 2
