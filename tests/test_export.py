"""ONNX and torch.export exports reproduce predict / predict_proba, and say how to use them.

Every architecture is exported with torch's legacy exporter (fast); the default
``torch.export``-based exporter (several seconds per model) and the ``.pt2`` program are
exercised on one architecture each (all five pass both; that run takes a minute).
"""

import sys

import numpy as np
import pandas as pd
import pytest
import torch

from tabmtl import ARCHITECTURES, HardSharing, MultiTaskEstimator
from tabmtl.io._export import ServingModule, export_onnx, export_torch, read_metadata

ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-5, 1e-6  # float32 network; observed differences are ~1e-7 relative
# torch deprecates its legacy exporter (which the user chose with dynamo=False)
LEGACY_EXPORTER = pytest.mark.filterwarnings(
    "ignore:.*legacy TorchScript-based ONNX", "ignore:The feature will be removed"
)
TARGET_KINDS = {"eta_g": "gaussian", "eta_q": "quantile"}


def serving_table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric (with NaN) and categorical features; every target kind."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "km": rng.uniform(1, 20, n),
            "hour": rng.integers(0, 24, n),
            "zone": pd.Categorical(rng.choice(["north", "south", "east"], n)),
            "rain": rng.random(n) < 0.3,
        }
    )
    X.loc[rng.random(n) < 0.1, "km"] = np.nan
    km = X["km"].fillna(10.0)
    eta = 3.0 * km + 6.0 * (X["zone"] == "south") + rng.normal(0, 1, n)
    Y = pd.DataFrame(
        {
            "eta": eta,
            "late": eta > np.median(eta),
            "band": pd.Categorical(np.where(km < 7, "short", np.where(km < 14, "mid", "long"))),
            "eta_g": eta + 1.0,
            "eta_q": eta - 1.0,
        }
    )
    return X, Y


def unseen_rows(X: pd.DataFrame) -> pd.DataFrame:
    """Rows with a missing number and a missing category (code 0, as an unseen one)."""
    rows = X.head(4).copy()
    rows.loc[rows.index[0], "km"] = np.nan
    rows.loc[rows.index[1], "zone"] = np.nan
    return rows


_MODELS: dict[str, MultiTaskEstimator] = {}


def fitted(architecture) -> tuple[MultiTaskEstimator, pd.DataFrame]:
    X, Y = serving_table()
    key = repr(architecture)
    if key not in _MODELS:  # shared by the tests of the module, fitted once
        _MODELS[key] = MultiTaskEstimator(
            TARGET_KINDS, architecture=architecture, hidden_layer_sizes=(8,), max_epochs=2,
            calibration_fraction=0.25, random_state=0,
        ).fit(X, Y)
    return _MODELS[key], pd.concat([X, unseen_rows(X)], ignore_index=True)


def expected_outputs(model: MultiTaskEstimator, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """What each exported output must equal, from the estimator's own methods."""
    pred, proba = model.predict(X), model.predict_proba(X)
    raw = model._raw_predict(X)
    spec = model.target_spec_
    tasks = {t.name: (t, raw[:, s]) for t, s in zip(spec.tasks_, spec.slices_)}
    return {
        "eta": pred["eta"].to_numpy(),
        "late": proba["late"].to_numpy(dtype=float),
        "band": proba["band"].to_numpy(dtype=float),
        "eta_g": pred["eta_g"].to_numpy(),
        "eta_g_std": tasks["eta_g"][0].std(tasks["eta_g"][1]),
        "eta_q": pred["eta_q"].to_numpy(),
        "eta_q_quantiles": tasks["eta_q"][0].quantiles(tasks["eta_q"][1]),
    }


def check_session(path, model: MultiTaskEstimator, X: pd.DataFrame) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    names = [o.name for o in session.get_outputs()]
    for rows in (X.iloc[[0]], X):  # batch of 1 and of many through the dynamic axis
        got = dict(zip(names, session.run(None, {"features": model.preprocessor_.transform(rows)})))
        want = expected_outputs(model, rows)
        assert set(got) == set(want)
        for name, value in want.items():
            assert got[name].dtype == np.float64
            np.testing.assert_allclose(got[name], value, rtol=RTOL, atol=ATOL, err_msg=name)


@LEGACY_EXPORTER
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_onnx_matches_predict_for_every_architecture(architecture, tmp_path):
    model, X = fitted(architecture)
    before = model.predict(X)
    path = export_onnx(model, tmp_path / "model.onnx", dynamo=False)
    check_session(path, model, X)
    assert not model.net_.module_.training  # the estimator's own network was not touched
    pd.testing.assert_frame_equal(model.predict(X), before)


@LEGACY_EXPORTER
def test_onnx_matches_predict_with_private_paths(tmp_path):
    model, X = fitted(HardSharing(private_layer_sizes=(4,)))
    path = export_onnx(model, tmp_path / "model.onnx", dynamo=False)
    check_session(path, model, X)


@pytest.mark.slow  # torch.export-based: ~7 s of graph capture and translation
def test_onnx_default_exporter_matches_predict(tmp_path):
    model, X = fitted("soft")
    path = export_onnx(model, tmp_path / "model.onnx")
    check_session(path, model, X)


def test_torch_program_matches_predict(tmp_path):
    model, X = fitted("hard")
    program = torch.export.load(str(export_torch(model, tmp_path / "model.pt2"))).module()
    with torch.no_grad():
        got = program(torch.from_numpy(model.preprocessor_.transform(X)))
    want = expected_outputs(model, X)
    assert list(got) == [o["name"] for o in read_metadata(tmp_path / "model.pt2")["tabmtl.outputs"]]
    for name, value in want.items():
        np.testing.assert_allclose(got[name].numpy(), value, rtol=RTOL, atol=ATOL, err_msg=name)


def build_input(preprocessing: dict, frame: pd.DataFrame) -> np.ndarray:
    """The input matrix from the exported recipe alone: what a non-Python server does."""
    columns = []
    for entry in preprocessing["numeric"]:
        x = frame[entry["source"]].to_numpy(dtype=float, na_value=np.nan)
        x = np.where(np.isnan(x), entry["median"], x)
        columns.append((x - entry["mean"]) / entry["scale"])
    for entry in preprocessing["missing_indicators"]:
        missing = frame[entry["missing_of"]].isna().to_numpy(dtype=float)
        columns.append((missing - entry["mean"]) / entry["scale"])
    for entry in preprocessing["categorical"]:
        position = {c: i for i, c in enumerate(entry["categories"])}
        columns.append(
            np.array([position.get(v, -1) + 1 for v in frame[entry["source"]].tolist()], float)
        )
    return np.column_stack(columns).astype(np.float32)


@LEGACY_EXPORTER
def test_metadata_tells_a_server_how_to_build_the_input(tmp_path):
    model, X = fitted("hard")
    meta = read_metadata(export_onnx(model, tmp_path / "model.onnx", dynamo=False))
    pre = model.preprocessor_
    assert meta["tabmtl.input_columns"] == list(pre.get_feature_names_out())
    rows = X.assign(rain=X["rain"].astype(object))
    rows.loc[0, "rain"] = "unseen"
    assert np.array_equal(build_input(meta["tabmtl.preprocessing"], rows), pre.transform(rows))
    outputs = {o["name"]: o for o in meta["tabmtl.outputs"]}
    assert outputs["band"]["classes"] == list(model.target_spec_.tasks_[2].classes_)
    assert outputs["late"]["classes"] == [False, True]
    assert outputs["eta_q_quantiles"]["levels"] == [0.05, 0.5, 0.95]
    assert [outputs[n]["value"] for n in ("eta", "eta_g_std", "late")] == [
        "prediction", "std", "probabilities",
    ]


@LEGACY_EXPORTER
def test_output_names_are_unique_identifiers_mapped_to_targets(tmp_path):
    X, _ = serving_table(60)
    Y = pd.DataFrame(
        {
            "fare ($)": X["hour"] * 1.0,
            "fare____": X["hour"] * 2.0,
            "features": X["hour"] > 12,
            2024: X["hour"] * 3.0,
        }
    )
    model = MultiTaskEstimator(hidden_layer_sizes=(4,), max_epochs=1, random_state=0).fit(X, Y)
    path = export_onnx(model, tmp_path / "model.onnx", dynamo=False)
    outputs = read_metadata(path)["tabmtl.outputs"]
    assert [(o["name"], o["target"]) for o in outputs] == [
        ("fare____", "fare ($)"), ("fare_____2", "fare____"), ("features_2", "features"),
        ("_2024", 2024),
    ]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [o["name"] for o in outputs]


def test_serving_module_outputs_follow_output_specs():
    model, X = fitted("hard")
    serving = ServingModule(model)
    with torch.no_grad():
        out = serving(torch.from_numpy(model.preprocessor_.transform(X.head(5))))
    shapes = {o["name"]: tuple(t.shape) for o, t in zip(serving.output_specs, out)}
    assert shapes == {
        "eta": (5,), "late": (5, 2), "band": (5, 3), "eta_g": (5,), "eta_g_std": (5,),
        "eta_q": (5,), "eta_q_quantiles": (5, 3),
    }


def test_missing_onnx_says_how_to_install(monkeypatch, tmp_path):
    model, _ = fitted("hard")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'tabmtl\[export\]'"):
        export_onnx(model, tmp_path / "model.onnx")


@LEGACY_EXPORTER
@pytest.mark.parametrize(
    "params",
    [
        {"numeric_embedding": "piecewise_linear", "numeric_scaling": "robust"},
        {"numeric_embedding": "periodic", "ensemble_size": 3},
    ],
)
def test_onnx_matches_predict_with_the_input_side_and_ensemble(params, tmp_path):
    X, Y = serving_table()
    model = MultiTaskEstimator(
        TARGET_KINDS, hidden_layer_sizes=(8,), max_epochs=2, calibration_fraction=0.25,
        random_state=0, **params,
    ).fit(X, Y)
    X = pd.concat([X, unseen_rows(X)], ignore_index=True)
    check_session(export_onnx(model, tmp_path / "model.onnx", dynamo=False), model, X)


@pytest.fixture
def registered_kind():
    """A new target kind, registered (as any kind is) by defining its class; removed after."""
    from tabmtl._data.targets import TARGET_KINDS as REGISTRY
    from tabmtl._data.targets.regression import RegressionTarget

    class ShiftedRegression(RegressionTarget):
        """Regression whose decoded prediction is one unit higher (a made-up kind)."""

        kind = "test_shifted_regression"

        def decode_outputs(self, out, temperature=1.0):
            values = super().decode_outputs(out, temperature)
            return {**values, "prediction": values["prediction"] + 1.0}

    try:
        yield ShiftedRegression.kind
    finally:
        REGISTRY.pop(ShiftedRegression.kind, None)


def test_export_reads_the_target_kind_registry(registered_kind):
    """A kind registered in TARGET_KINDS (with its decode_outputs) exports like the
    built-in ones: export keeps no list of its own."""
    X, Y = serving_table()
    model = MultiTaskEstimator(
        {"eta": registered_kind}, hidden_layer_sizes=(8,), max_epochs=2, random_state=0
    ).fit(X, Y[["eta", "late"]])
    serving = ServingModule(model)
    assert [o["kind"] for o in serving.output_specs] == [registered_kind, "binary"]
    with torch.no_grad():
        eta = serving(torch.from_numpy(model.preprocessor_.transform(X)))[0].numpy()
    np.testing.assert_allclose(eta, model.predict(X)["eta"], rtol=RTOL, atol=1e-4)


def test_export_refuses_a_kind_without_a_decoding():
    from tabmtl._data.targets import TARGET_KINDS as REGISTRY
    from tabmtl._data.targets.base import TargetKind

    X, Y = serving_table()
    model = MultiTaskEstimator(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(
        X, Y[["eta"]]
    )

    class Undecodable(TargetKind):  # not registered: no kind name
        pass

    task = model.target_spec_.tasks_[0]
    task.__class__ = Undecodable
    try:
        with pytest.raises(ValueError, match="not a registered target kind"):
            ServingModule(model)
    finally:
        task.__class__ = REGISTRY["regression"]
