"""``predict_record`` served by onnxruntime: the numbers of ``predict``, a clean fallback.

With onnxruntime installed, ``predict_record`` / ``predict_proba_record`` run the
exported ``ServingModule`` (network and decoding) in an in-memory onnxruntime session
(:mod:`tabmtl._estimators.fast_forward`): equal to ``predict`` / ``predict_proba`` on a
one-row frame to float32 rounding, for every architecture and every target kind
(calibrated temperatures, gaussian and quantile heads, an ensemble). Without it, or
when the export fails, the torch path answers bit for bit. The session never travels
with the estimator (pickle, clone, deepcopy, save/load) and follows changes of weights,
network and temperatures.
"""

import copy
import gc
import pickle
import sys
import warnings
import weakref

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from tabmtl import ARCHITECTURES, MultiTaskEstimator
from tabmtl._estimators import fast_forward
from tabmtl.io._persistence import load_model, save_model

pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-5, 1e-6  # float32 network in two runtimes (as tests/test_export.py)
TARGET_KINDS = {"eta_g": "gaussian", "eta_q": "quantile"}


def serving_table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric (with NaN), categorical (with NaN) and string features; every target kind,
    a float32 target, categorical and string labels."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "km": rng.uniform(1, 20, n),
            "hour": rng.integers(0, 24, n),
            "zone": pd.Categorical(rng.choice(["north", "south", "east"], n)),
            "vehicle": pd.Series(rng.choice(["car", "van", "bike"], n), dtype=object),
        }
    )
    X.loc[rng.random(n) < 0.1, "km"] = np.nan
    X.loc[rng.random(n) < 0.1, "zone"] = np.nan
    km = X["km"].fillna(10.0)
    eta = 3.0 * km + 6.0 * (X["zone"] == "south") + rng.normal(0, 1, n)
    Y = pd.DataFrame(
        {
            "eta": eta,
            "fare": (2.0 * km + 5).astype(np.float32),
            "late": eta > np.median(eta),
            "band": pd.Categorical(np.where(km < 7, "short", np.where(km < 14, "mid", "long"))),
            "mode": pd.Series(rng.choice(["walk", "ride", "bus"], n), dtype=object),
            "eta_g": eta + 1.0,
            "eta_q": eta - 1.0,
        }
    )
    return X, Y


_MODELS: dict[str, MultiTaskEstimator] = {}


def fitted(architecture: str = "mmoe", **params) -> tuple[MultiTaskEstimator, pd.DataFrame]:
    X, Y = serving_table()
    key = repr((architecture, sorted(params.items())))
    if key not in _MODELS:  # shared by the tests of the module, fitted once
        _MODELS[key] = MultiTaskEstimator(
            TARGET_KINDS, architecture=architecture, hidden_layer_sizes=(8,), max_epochs=2,
            calibration_fraction=0.25, random_state=0, **params,
        ).fit(X, Y)
    return _MODELS[key], X


def fresh(**params) -> tuple[MultiTaskEstimator, pd.DataFrame]:
    """A model of its own, for the tests that change it."""
    X, Y = serving_table()
    model = MultiTaskEstimator(
        TARGET_KINDS, hidden_layer_sizes=(8,), max_epochs=2, calibration_fraction=0.25,
        random_state=0, **params,
    ).fit(X, Y)
    return model, X


ROWS = [0, 1, 2, 3, 4, 5]


def assert_close_to_predict(model: MultiTaskEstimator, X: pd.DataFrame, rows=ROWS) -> None:
    """predict_record and predict_proba_record against predict / predict_proba on the
    one-row frame of each row: values to float32 rounding, labels equal, plain scalars."""
    for i in rows:
        frame = X.iloc[[i]]
        record = X.iloc[i].to_dict()
        expected, probas = model.predict(frame), model.predict_proba(frame)
        fast = model.predict_record(record)
        assert list(fast) == list(expected.columns)
        for name, value in fast.items():
            want = expected[name].iloc[0]
            assert not isinstance(value, np.generic), (name, type(value))
            if isinstance(want, (float, np.floating)):
                assert isinstance(value, float)
                np.testing.assert_allclose(value, want, rtol=RTOL, atol=ATOL, err_msg=name)
                assert float(np.asarray(value, dtype=np.asarray(want).dtype)) == value, name
            else:
                assert value == want, (name, i, value, want)
        fast_proba = model.predict_proba_record(record)
        assert list(fast_proba) == list(probas)
        for name, proba in fast_proba.items():
            assert list(proba) == list(probas[name].columns)
            assert all(type(p) is float for p in proba.values())
            np.testing.assert_allclose(
                list(proba.values()), probas[name].iloc[0].to_numpy(dtype=float),
                rtol=RTOL, atol=ATOL, err_msg=name,
            )


def served_by_onnxruntime(model: MultiTaskEstimator) -> bool:
    return fast_forward._SESSIONS[model].run is not None


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_record_matches_predict_for_every_architecture(architecture, recwarn):
    model, X = fitted(architecture)
    assert not np.all(model.temperatures_ == 1.0)  # calibrated: probabilities are scaled
    assert_close_to_predict(model, X)
    assert served_by_onnxruntime(model)
    assert not [w for w in recwarn if "predict_record" in str(w.message)]


def test_record_matches_predict_with_an_ensemble_and_embedding():
    model, X = fitted(ensemble_size=3, numeric_embedding="periodic")
    assert_close_to_predict(model, X)
    assert served_by_onnxruntime(model)


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_missing_onnxruntime_falls_back_to_the_torch_path(monkeypatch, missing):
    model, X = fresh()
    monkeypatch.setitem(sys.modules, missing, None)  # import raises ImportError
    record = X.iloc[0].to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an optional extra missing is no warning
        fast = model.predict_record(record)
    assert not served_by_onnxruntime(model)
    assert fast == model.predict(X.iloc[[0]]).iloc[0].to_dict()  # the torch path: exactly
    probas = model.predict_proba(X.iloc[[0]])
    for name, proba in model.predict_proba_record(record).items():
        assert list(proba.values()) == probas[name].iloc[0].tolist()


def test_a_kind_the_record_path_does_not_know_falls_back(monkeypatch):
    model, X = fresh()
    monkeypatch.setattr(fast_forward, "SERVED_KINDS", frozenset({"regression", "binary"}))
    record = X.iloc[0].to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = model.predict_record(record)
    assert not served_by_onnxruntime(model)
    assert fast == model.predict(X.iloc[[0]]).iloc[0].to_dict()  # the torch path: exactly


def test_a_failed_export_warns_once_and_falls_back(monkeypatch):
    model, X = fresh()

    def broken(*args, **kwargs):
        raise RuntimeError("no exporter today")

    monkeypatch.setattr(torch.onnx, "export", broken)
    record = X.iloc[1].to_dict()
    with pytest.warns(RuntimeWarning, match="no exporter today.*torch forward") as caught:
        fast = model.predict_record(record)
    assert caught[0].filename == __file__  # points at the caller of predict_record
    assert not served_by_onnxruntime(model)
    expected = model.predict(X.iloc[[1]]).iloc[0].to_dict()
    assert fast == expected  # the torch path: exactly predict's values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_record(record)  # not rebuilt, not warned again


def test_the_session_follows_weights_network_and_temperatures():
    model, X = fresh()
    record, frame = X.iloc[2].to_dict(), X.iloc[[2]]
    before = model.predict_record(record)
    first = fast_forward._SESSIONS[model]
    model.predict_record(record)
    assert fast_forward._SESSIONS[model] is first  # cached between calls
    with torch.no_grad():  # in place, as an optimizer step or load_state_dict does
        for p in model.net_.module_.parameters():
            p.mul_(1.5)
    after = model.predict_record(record)
    assert after["eta"] != before["eta"]
    np.testing.assert_allclose(after["eta"], model.predict(frame)["eta"].iloc[0], rtol=RTOL)
    model.calibrator_.temperatures_ = model.temperatures_ * 3.0
    proba = model.predict_proba_record(record)["late"]
    want = model.predict_proba(frame)["late"].iloc[0].to_numpy(dtype=float)
    np.testing.assert_allclose(list(proba.values()), want, rtol=RTOL, atol=ATOL)
    Xb, Y = serving_table(seed=1)
    model.fit(Xb, Y)  # a refit: a new network
    assert_close_to_predict(model, X, rows=[2])


def test_pickle_clone_deepcopy_and_save_load_are_unaffected(tmp_path):
    model, X = fresh()
    record = X.iloc[3].to_dict()
    served = model.predict_record(record)
    assert served_by_onnxruntime(model)
    assert not any("onnx" in type(v).__module__ for v in vars(model).values())
    assert "fast_forward" not in str(model.get_state()["fitted"])
    for other in (
        pickle.loads(pickle.dumps(model)),
        copy.deepcopy(model),
        load_model(save_model(model, tmp_path / "model.tabmtl")),
    ):
        assert other not in fast_forward._SESSIONS  # built on its own first call
        assert other.predict_record(record) == served
        assert served_by_onnxruntime(other)
    assert clone(model).get_params() == model.get_params()


def test_the_cache_does_not_keep_an_estimator_alive():
    model, X = fresh()
    model.predict_record(X.iloc[0].to_dict())
    assert served_by_onnxruntime(model)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_auxiliary_targets_are_left_out_unless_asked():
    model, X = fresh(auxiliary=["late", "eta_q"])
    record, frame = X.iloc[4].to_dict(), X.iloc[[4]]
    for include in (False, True):
        fast = model.predict_record(record, include_auxiliary=include)
        expected = model.predict(frame, include_auxiliary=include).iloc[0]
        assert list(fast) == list(expected.index)
        assert fast["band"] == expected["band"]
        np.testing.assert_allclose(fast["eta"], expected["eta"], rtol=RTOL, atol=ATOL)
        probas = model.predict_proba_record(record, include_auxiliary=include)
        assert list(probas) == list(model.predict_proba(frame, include_auxiliary=include))
    assert served_by_onnxruntime(model)
