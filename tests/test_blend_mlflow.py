"""A MultiTaskBlend through the MLflow flavor: logged to a local file store, loaded back as
the blend and served through pyfunc with the same answers (issue 23)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

mlflow = pytest.importorskip("mlflow")
lgb = pytest.importorskip("lightgbm")

import tabmtl.mlflow as tabmtl_mlflow  # noqa: E402
from tabmtl import MultiTaskEstimator  # noqa: E402
from tabmtl._ensemble import MultiTaskBlend  # noqa: E402
from tabmtl.io._prediction_columns import probability_columns  # noqa: E402


def _frames():
    """Mixed features (a category of strings and one of integers) and mixed targets."""
    X, Y = make_mixed(n=80, seed=3)
    X["grade"] = pd.Categorical(np.random.default_rng(3).choice([1, 2, 3], len(X)))
    return X, Y


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow_blend")
    X, Y = _frames()
    blend = MultiTaskBlend(
        MultiTaskEstimator(max_epochs=3, hidden_layer_sizes=(8,), random_state=0),
        regressor=lgb.LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1),
        classifier=lgb.LGBMClassifier(n_estimators=10, min_child_samples=5, verbose=-1),
        cv=2,
    ).fit(X, Y)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        env.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mlflow.set_tracking_uri((root / "mlruns").as_uri())
        try:
            with mlflow.start_run():
                info = tabmtl_mlflow.log_model(blend, "blend", input_example=X.head(5))
            yield {"blend": blend, "X": X, "info": info}
        finally:
            mlflow.set_tracking_uri(previous)


def test_load_model_gives_back_the_blend(logged):
    X, blend = logged["X"], logged["blend"]
    loaded = tabmtl_mlflow.load_model(logged["info"].model_uri)
    assert isinstance(loaded, MultiTaskBlend)
    pd.testing.assert_frame_equal(loaded.predict(X), blend.predict(X), check_exact=True)


def test_pyfunc_predicts_the_blends_frame_and_probabilities(logged):
    X, blend = logged["X"], logged["blend"]
    served = mlflow.pyfunc.load_model(logged["info"].model_uri)
    pd.testing.assert_frame_equal(served.predict(X), blend.predict(X), check_exact=True)
    pd.testing.assert_frame_equal(
        served.predict(X, params={"proba": True}),
        probability_columns(blend.predict_proba(X)),
        check_exact=True,
    )
    # category columns arriving as plain values, as from a JSON request
    request = json.loads(X.head(7).to_json(orient="split"))
    as_json = pd.DataFrame(request["data"], columns=request["columns"], index=request["index"])
    pd.testing.assert_frame_equal(served.predict(as_json), blend.predict(X.head(7)),
                                  check_exact=True)


def test_the_artifact_is_a_blend_file_named_in_the_flavor(logged):
    local = Path(mlflow.artifacts.download_artifacts(logged["info"].model_uri))
    with zipfile.ZipFile(local / "model.tabmtl") as zf:
        assert {"manifest.json", "blend.json", "net.tabmtl"} <= set(zf.namelist())
    flavor = mlflow.models.Model.load(str(local / "MLmodel")).flavors["tabmtl"]
    assert flavor["estimator"] == "MultiTaskBlend"
    signature = logged["info"].signature
    assert signature.outputs.input_names() == ["eta", "late", "band"]
    assert "grade" in signature.inputs.input_names()
