"""Export, the preprocessing recipe and the record path work for every mix of feature
kinds (issue 29 item 8): all numeric, all categorical, all datetime, mixed."""

import numpy as np
import pandas as pd
import pytest
import torch

from tabmtl import MultiTaskEstimator
from tabmtl.io._export import ServingModule, _metadata

N = 80


def _features(kind: str, rng) -> pd.DataFrame:
    numeric = {"km": rng.uniform(1, 20, N), "hour": rng.integers(0, 24, N).astype(float)}
    categorical = {"zone": pd.Categorical(rng.choice(["north", "south"], N)),
                   "vehicle": pd.Series(rng.choice(["car", "van", "bike"], N), dtype=object)}
    datetime = {"pickup": pd.Timestamp("2024-01-01")
                + pd.to_timedelta(rng.integers(0, 50_000, N), unit="min")}
    columns = {"numeric": numeric, "categorical": categorical, "datetime": datetime,
               "mixed": {**numeric, **categorical, **datetime}}[kind]
    X = pd.DataFrame(columns)
    first = X.columns[0]
    X.loc[X.index[:5], first] = None  # a missing value in every feature set
    return X


@pytest.fixture(scope="module", params=["numeric", "categorical", "datetime", "mixed"])
def fitted(request):
    rng = np.random.default_rng(0)
    X = _features(request.param, rng)
    Y = pd.DataFrame({"eta": rng.normal(size=N), "late": rng.random(N) < 0.5})
    model = MultiTaskEstimator(hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    return model.fit(X, Y), X


def _apply_recipe(recipe: dict, X: pd.DataFrame) -> np.ndarray:
    """The input matrix built from the exported recipe alone, as a server without tabmtl
    would build it."""
    def source(entry):
        col = X[entry["source"]]
        if "datetime_part" in entry:
            return getattr(pd.to_datetime(col).dt, entry["datetime_part"]).to_numpy(
                dtype=float, na_value=np.nan)
        return col.to_numpy(dtype=float, na_value=np.nan)

    values = {e["column"]: source(e) for e in recipe["numeric"]}
    keys = {(e["source"] if "datetime_part" not in e
             else f"{e['source']}__{e['datetime_part']}"): e["column"] for e in recipe["numeric"]}
    blocks = []
    for e in recipe["numeric"]:
        x = values[e["column"]]
        blocks.append((np.where(np.isnan(x), e["median"], x) - e["mean"]) / e["scale"])
    for e in recipe["missing_indicators"]:
        missing = np.isnan(values[keys[e["missing_of"]]]).astype(float)
        blocks.append((missing - e["mean"]) / e["scale"])
    for e in recipe["categorical"]:
        lookup = {v: i + 1 for i, v in enumerate(e["categories"])}
        blocks.append(np.array([lookup.get(v, 0) if not pd.isna(v) else 0
                                for v in X[e["source"]]], dtype=float))
    return np.column_stack(blocks).astype(np.float32) if blocks else np.zeros((len(X), 0))


def test_the_recipe_rebuilds_the_input_matrix(fitted):
    model, X = fitted
    recipe = model.preprocessor_.recipe()
    expected = model.preprocessor_.transform(X)
    np.testing.assert_allclose(_apply_recipe(recipe, X), expected, rtol=1e-5, atol=1e-5)


def test_export_metadata_and_serving_module_match_predict(fitted):
    model, X = fitted
    serving = ServingModule(model)
    metadata = _metadata(model, serving)
    assert set(metadata) >= {"tabmtl.preprocessing", "tabmtl.input_columns"}
    with torch.no_grad():
        eta, late = serving(torch.from_numpy(model.preprocessor_.transform(X)))
    np.testing.assert_allclose(eta.numpy(), model.predict(X)["eta"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(late.numpy(), model.predict_proba(X)["late"], rtol=1e-5,
                               atol=1e-6)


def test_the_record_path_matches_predict(fitted):
    model, X = fitted
    for i in [0, 7]:  # a row with a missing value and one without
        row = X.iloc[[i]]
        record = {c: row[c].iloc[0] for c in X.columns}
        np.testing.assert_array_equal(
            model.preprocessor_.transform_record(record), model.preprocessor_.transform(row)
        )
        fast, batch = model.predict_record(record), model.predict(row).iloc[0].to_dict()
        assert list(fast) == list(batch) and fast["late"] == batch["late"]
        # onnxruntime serves the record when installed: equal to float32 rounding
        np.testing.assert_allclose(fast["eta"], batch["eta"], rtol=1e-5, atol=1e-6)
