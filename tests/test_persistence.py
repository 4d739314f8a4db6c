"""Safe save/load: identical predictions, no pickle, damaged or foreign files rejected."""

import json
import pickle
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

import tabmtl
from tabmtl import (
    HardSharing,
    MultiTaskClassifier,
    MultiTaskEstimator,
    MultiTaskRegressor,
    UncertaintyWeighting,
)
from tabmtl.io._persistence import ModelFileError, load_model, save_model

SMALL = dict(max_epochs=3, hidden_layer_sizes=(16,), random_state=0)


@pytest.fixture(scope="module")
def fitted():
    """A model with every kind of state: categoricals, datetimes, missing values, strings."""
    X, Y = make_mixed(200, missing=0.1)
    X["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(200), unit="h")
    X["city"] = pd.Series(np.where(np.arange(200) % 3 == 0, "lyon", "nice"), dtype="str")
    X.loc[5, "km"] = np.nan
    Y["lab"] = pd.Series(np.where(np.arange(200) % 2 == 0, "neg", "pos"), dtype="str")
    Y["count"] = (np.arange(200) % 4).astype("int64")
    model = MultiTaskEstimator(
        architecture=HardSharing(head_layer_sizes=(8,), private_layer_sizes=(4,)),
        weighting=UncertaintyWeighting(),
        class_weight={"late": "balanced"},
        **SMALL,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    return model, X


def test_round_trip_gives_identical_predictions_and_params(fitted, tmp_path):
    model, X = fitted
    loaded = load_model(save_model(model, tmp_path / "m.tabmtl"))
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    for name, proba in model.predict_proba(X).items():
        pd.testing.assert_frame_equal(loaded.predict_proba(X)[name], proba)
    assert repr(loaded.get_params()) == repr(model.get_params())
    assert list(loaded.feature_names_in_) == list(model.feature_names_in_)
    assert [r["train_loss"] for r in loaded.history_] == [r["train_loss"] for r in model.history_]
    pd.testing.assert_series_equal(loaded.task_weights_, model.task_weights_)
    # unseen category and missing value at predict behave the same after loading
    odd = X.head(3).copy()
    odd["city"] = ["paris", None, "nice"]
    pd.testing.assert_frame_equal(loaded.predict(odd), model.predict(odd))


@pytest.mark.parametrize("one_d", [True, False])
def test_array_estimators_round_trip(tmp_path, one_d):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y_reg = np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])
    y_clf = (y_reg > 0).astype(int)
    for est, y in ((MultiTaskRegressor(**SMALL), y_reg), (MultiTaskClassifier(**SMALL), y_clf)):
        y = y[:, 0] if one_d else y
        est.fit(X, y)
        loaded = load_model(save_model(est, tmp_path / "a.tabmtl"))
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
        if isinstance(est, MultiTaskClassifier):
            np.testing.assert_array_equal(
                np.asarray(loaded.predict_proba(X)), np.asarray(est.predict_proba(X))
            )


def test_fixed_weights_with_non_string_target_names_round_trip(tmp_path):
    X, Y = make_mixed(120)
    Y.columns = [0, 1, 2]
    model = MultiTaskEstimator(weighting={0: 2.0, 1: 1.0, 2: 0.5}, **SMALL).fit(X, Y)
    loaded = load_model(save_model(model, tmp_path / "m.tabmtl"))
    assert loaded.weighting == {0: 2.0, 1: 1.0, 2: 0.5}
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))


def test_loading_never_unpickles(fitted, tmp_path, monkeypatch):
    model, X = fitted
    path = save_model(model, tmp_path / "m.tabmtl")

    def refuse(*args, **kwargs):
        raise AssertionError("load_model used pickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    loaded = load_model(path)
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))


def _rewrite(path, member, data, fix_digest=False):
    """Replace one member of a model file, optionally updating the manifest's digest."""
    import hashlib

    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[member] = data
    if fix_digest:
        manifest = json.loads(members["manifest.json"])
        manifest["members"][member] = hashlib.sha256(data).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)


def test_tampered_member_is_rejected(fitted, tmp_path):
    path = save_model(fitted[0], tmp_path / "m.tabmtl")
    with zipfile.ZipFile(path) as zf:
        model_json = zf.read("model.json")
    _rewrite(path, "model.json", model_json.replace(b'"max_epochs":3', b'"max_epochs":4'))
    with pytest.raises(ModelFileError, match=r"digest of 'model\.json'"):
        load_model(path)


def test_truncated_and_foreign_files_are_rejected(fitted, tmp_path):
    path = save_model(fitted[0], tmp_path / "m.tabmtl")
    data = path.read_bytes()
    cut = tmp_path / "cut.tabmtl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        load_model(cut)
    other = tmp_path / "other.tabmtl"
    other.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable tabmtl model"):
        load_model(other)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nothing.tabmtl")


def test_crafted_pickle_in_weights_is_refused_not_run(fitted, tmp_path):
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    path = save_model(fitted[0], tmp_path / "m.tabmtl")
    _rewrite(path, "weights.pt", pickle.dumps({"module": Evil()}, protocol=2), fix_digest=True)
    with pytest.raises(ModelFileError, match="could not be rebuilt"):
        load_model(path)
    assert not marker.exists()


def test_version_mismatch_is_a_clear_error(fitted, tmp_path, monkeypatch):
    model, X = fitted
    path = save_model(model, tmp_path / "m.tabmtl")
    saved = re.escape(tabmtl.__version__)
    monkeypatch.setattr(tabmtl, "__version__", "99.0")
    with pytest.raises(ModelFileError, match=rf"saved with tabmtl {saved}, this is tabmtl 99\.0"):
        load_model(path)
    loaded = load_model(path, allow_version_mismatch=True)
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))


def test_signature_detects_a_rewritten_manifest(fitted, tmp_path):
    path = save_model(fitted[0], tmp_path / "m.tabmtl", key="secret")
    load_model(path, key="secret")  # the right key verifies
    with pytest.raises(ModelFileError, match="valid signature"):
        load_model(path, key="wrong")
    with zipfile.ZipFile(path) as zf:
        model_json = zf.read("model.json")
    # an edit that also fixes the digest passes the checksums but not the signature
    _rewrite(path, "model.json", model_json.replace(b'"max_epochs":3', b'"max_epochs":4'), True)
    with pytest.warns(UserWarning, match="signature was not checked"):
        assert load_model(path).max_epochs == 4  # loads, saying the check was skipped
    with pytest.raises(ModelFileError, match="valid signature"):
        load_model(path, key="secret")


def test_callbacks_are_not_saved_and_say_so(tmp_path):
    from skorch.callbacks import EpochScoring

    X, Y = make_mixed(100)
    model = MultiTaskEstimator(callbacks=[EpochScoring("r2", name="dummy")], **SMALL)
    model.set_params(callbacks=[]).fit(X, Y)
    model.set_params(callbacks=[EpochScoring("r2")])  # set after fit: only code, no state
    with pytest.warns(UserWarning, match="callbacks` holds code"):
        path = save_model(model, tmp_path / "m.tabmtl")
    assert load_model(path).callbacks is None


def test_unfitted_and_foreign_estimators_are_refused(tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LinearRegression

    with pytest.raises(NotFittedError):
        save_model(MultiTaskEstimator(), tmp_path / "m.tabmtl")
    with pytest.raises(TypeError, match="saves tabmtl estimators"):
        save_model(LinearRegression(), tmp_path / "m.tabmtl")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_distribution_heads_and_calibration_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    noise = rng.normal(size=300) * (0.2 + np.abs(X["a"]))
    Y = pd.DataFrame(
        {"g": X["a"] + noise, "q": X["b"] - noise, "p": X["a"] + X["b"], "c": X["b"] > 0}
    )
    model = MultiTaskEstimator(
        targets={"g": "gaussian", "q": "quantile"}, calibration_fraction=0.3, **SMALL
    ).fit(X, Y)
    loaded = load_model(save_model(model, tmp_path / "m.tabmtl"))
    pd.testing.assert_frame_equal(loaded.predict_interval(X), model.predict_interval(X))
    pd.testing.assert_frame_equal(
        loaded.predict(X, return_std=True)[1], model.predict(X, return_std=True)[1]
    )
    pd.testing.assert_frame_equal(loaded.predict_proba(X)["c"], model.predict_proba(X)["c"])
    np.testing.assert_array_equal(loaded.temperatures_, model.temperatures_)


def test_a_file_of_the_previous_format_is_a_clear_error(fitted, tmp_path):
    # format 1 held per-module weights (before the batched layers): refused by name
    path = save_model(fitted[0], tmp_path / "m.tabmtl")
    old = tmp_path / "old.tabmtl"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["format_version"] = 1
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    with pytest.raises(ModelFileError, match=r"format version 1; this tabmtl .* reads version 2"):
        load_model(old)


@pytest.mark.parametrize(
    "params",
    [
        {"numeric_embedding": "piecewise_linear", "numeric_scaling": "robust"},
        {"numeric_embedding": "periodic", "ensemble_size": 3, "label_smoothing": 0.1},
    ],
)
def test_round_trip_with_the_input_side_and_ensemble(params, tmp_path):
    X, Y = make_mixed(150, missing=0.1)
    model = MultiTaskEstimator(**SMALL, **params).fit(X, Y)
    loaded = load_model(save_model(model, tmp_path / "m.tabmtl"))
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    for name, proba in model.predict_proba(X).items():
        pd.testing.assert_frame_equal(loaded.predict_proba(X)[name], proba)


def test_numeric_embedding_instances_round_trip(tmp_path):
    from tabmtl._nn.numeric_embedding import PeriodicEmbedding

    X, Y = make_mixed(80)
    model = MultiTaskEstimator(
        numeric_embedding=PeriodicEmbedding(d_embedding=3), max_epochs=2, random_state=0
    ).fit(X, Y)
    loaded = load_model(save_model(model, tmp_path / "m.tabmtl"))
    assert type(loaded.numeric_embedding) is PeriodicEmbedding
    assert loaded.numeric_embedding.get_params() == model.numeric_embedding.get_params()
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
