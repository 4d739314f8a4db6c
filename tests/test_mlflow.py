"""The MLflow flavor: log to a local tracking store, load in a fresh process, same answers."""

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed
from mlflow.types import DataType
from mlflow.types.schema import AnyType
from packaging.version import Version

import tabmtl.mlflow as tabmtl_mlflow
from tabmtl import MultiTaskEstimator, MultiTaskRegressor
from tabmtl.errors import InputError, InputTypeError
from tabmtl.io._prediction_columns import probability_columns
from tabmtl.mlflow._pyfunc import TabmtlPyfuncModel

ROOT = Path(__file__).resolve().parents[1]


def _frames():
    """Features: float, int, category of strings, category of ints, bool; targets: float,
    string and bool."""
    X, Y = make_mixed(n=80, seed=3)
    X["grade"] = pd.Categorical(np.random.default_rng(3).choice([1, 2, 3], len(X)))
    Y["band"] = Y["band"].astype(str)
    return X, Y


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One fitted model logged to a file tracking store in a temporary folder.

    MLflow 3 keeps the file store in maintenance mode behind MLFLOW_ALLOW_FILE_STORE; a
    sqlite store works the same (tabmtl.mlflow never sees the store) but spends seconds
    creating its schema.
    """
    root = tmp_path_factory.mktemp("mlflow")
    X, Y = _frames()
    model = MultiTaskEstimator(
        hidden_layer_sizes=(8,), max_epochs=3, early_stopping=False, random_state=0
    ).fit(X, Y)
    previous = mlflow.get_tracking_uri()
    uri = (root / "mlruns").as_uri()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        env.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mlflow.set_tracking_uri(uri)
        try:
            with mlflow.start_run():
                info = tabmtl_mlflow.log_model(model, "eta_model", input_example=X.head(5))
            yield {"model": model, "X": X, "info": info, "uri": uri, "root": root}
        finally:
            mlflow.set_tracking_uri(previous)


def _local_dir(logged) -> Path:
    return Path(mlflow.artifacts.download_artifacts(logged["info"].model_uri))


@pytest.fixture(scope="module")
def fresh_process(logged):
    """One new interpreter (torch imports once): tabmtl imported with mlflow blocked, then
    the logged model loaded through ``mlflow.pyfunc`` and its predictions written."""
    root = logged["root"]
    logged["X"].to_parquet(root / "X.parquet")
    script = textwrap.dedent(
        f"""
        import sys
        class NoMlflow:
            def find_spec(self, name, path=None, target=None):
                if name == "mlflow" or name.startswith("mlflow."):
                    raise ImportError("No module named 'mlflow'")
        sys.meta_path.insert(0, NoMlflow())
        import tabmtl, tabmtl.io._persistence, tabmtl._cli.main
        try:
            import tabmtl.mlflow
        except ImportError as exc:
            print(exc)
        sys.meta_path.pop(0)
        assert "tabmtl.mlflow" not in sys.modules

        import mlflow, pandas as pd
        mlflow.set_tracking_uri({logged["uri"]!r})
        served = mlflow.pyfunc.load_model({logged["info"].model_uri!r})
        X = pd.read_parquet({str(root / "X.parquet")!r})
        served.predict(X).to_parquet({str(root / "pred.parquet")!r})
        served.predict(X, params={{"proba": True}}).to_parquet({str(root / "proba.parquet")!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_pyfunc_in_fresh_process_predicts_bit_for_bit(logged, fresh_process):
    X, model, root = logged["X"], logged["model"], logged["root"]
    expected = model.predict(X)
    assert pd.api.types.is_string_dtype(expected["band"]) and expected["late"].dtype == bool
    pd.testing.assert_frame_equal(pd.read_parquet(root / "pred.parquet"), expected,
                                  check_exact=True)
    proba = probability_columns(model.predict_proba(X))
    assert proba.columns.tolist()[:2] == ["late_proba_False", "late_proba_True"]
    pd.testing.assert_frame_equal(pd.read_parquet(root / "proba.parquet"), proba,
                                  check_exact=True)


def test_tabmtl_imports_without_mlflow(fresh_process):
    assert "pip install 'tabmtl[mlflow]'" in fresh_process


def test_pyfunc_restores_dtypes_schema_enforcement_changes(logged):
    """Category columns arriving as plain strings / integers (a JSON request, a frame built
    without the category dtype) predict exactly as the original frame does."""
    X, model = logged["X"], logged["model"]
    served = mlflow.pyfunc.load_model(logged["info"].model_uri)
    plain = X.astype({"zone": object, "grade": "int64"})
    pd.testing.assert_frame_equal(served.predict(plain), model.predict(X), check_exact=True)
    request = json.loads(X.head(7).to_json(orient="split"))
    as_json = pd.DataFrame(request["data"], columns=request["columns"], index=request["index"])
    assert as_json["grade"].dtype == np.int64  # what MLflow's `Any` column hands over
    pd.testing.assert_frame_equal(
        served.predict(as_json), model.predict(X.head(7)), check_exact=True
    )


def test_load_model_gives_back_the_estimator(logged):
    X, model = logged["X"], logged["model"]
    loaded = tabmtl_mlflow.load_model(logged["info"].model_uri)
    assert isinstance(loaded, MultiTaskEstimator)
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X), check_exact=True)


def test_signature_names_features_targets_and_proba(logged):
    signature = logged["info"].signature
    inputs = {spec.name: spec for spec in signature.inputs.inputs}
    assert list(inputs) == ["km", "hour", "zone", "rain", "grade"]
    assert inputs["km"].type == DataType.double and inputs["hour"].type == DataType.long
    assert isinstance(inputs["zone"].type, AnyType) and isinstance(inputs["grade"].type, AnyType)
    assert signature.outputs.input_names() == ["eta", "late", "band"]
    assert [(p.name, p.default) for p in signature.params.params] == [("proba", False)]


def test_requirements_are_pinned_to_the_running_versions(logged):
    from tabmtl import __version__

    lines = (_local_dir(logged) / "requirements.txt").read_text().splitlines()
    torch_version = Version(importlib.metadata.version("torch")).public
    for pin in (f"tabmtl=={__version__}", f"torch=={torch_version}",
                f"scikit-learn=={importlib.metadata.version('scikit-learn')}"):
        assert pin in lines
    assert any(line.startswith(("mlflow==", "mlflow-skinny==")) for line in lines)


def test_artifact_is_the_safe_model_file_and_no_pickle(logged):
    local = _local_dir(logged)
    names = {p.name for p in local.iterdir()}
    assert {"MLmodel", "model.tabmtl", "requirements.txt", "python_env.yaml"} <= names
    with zipfile.ZipFile(local / "model.tabmtl") as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "model.json", "weights.pt"]
    for path in local.rglob("*"):
        if path.is_file():
            assert path.suffix not in (".pkl", ".pickle", ".joblib"), path
            assert not path.read_bytes().startswith(b"\x80"), f"{path} is a pickle"
    flavors = mlflow.models.Model.load(str(local / "MLmodel")).flavors
    assert flavors["python_function"]["loader_module"] == "tabmtl.mlflow._pyfunc"
    assert flavors["tabmtl"]["data"] == "model.tabmtl"


def test_save_model_without_example_keeps_the_proba_param(logged, tmp_path):
    X, model = logged["X"], logged["model"]
    path = tabmtl_mlflow.save_model(model, tmp_path / "model")
    served = mlflow.pyfunc.load_model(str(path))
    assert served.metadata.signature.inputs is None
    pd.testing.assert_frame_equal(
        served.predict(X, params={"proba": True}),
        probability_columns(model.predict_proba(X)),
        check_exact=True,
    )
    with pytest.raises(FileExistsError, match="not empty"):
        tabmtl_mlflow.save_model(model, path)


def test_bad_input_is_named(logged, tmp_path):
    X, model = logged["X"], logged["model"]
    with pytest.raises(InputError, match="Unknown tabmtl pyfunc params \\['probas'\\]"):
        TabmtlPyfuncModel(model).predict(X, params={"probas": True})
    with pytest.raises(InputTypeError, match=r"MultiTaskEstimator .*got MultiTaskRegressor"):
        tabmtl_mlflow.save_model(MultiTaskRegressor(), tmp_path / "m")
    with pytest.raises(InputTypeError, match="X must be a pandas DataFrame"):
        tabmtl_mlflow.infer_model_signature(model, X.to_numpy())
