"""``tabmtl predict --stream``: batch by batch from parquet, the same numbers as ``predict``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmtl import MultiTaskEstimator
from tabmtl._cli import EXIT_OK, EXIT_USAGE, main
from tabmtl.io._persistence import save_model
from tabmtl.io._streaming import predict_parquet


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small table with a regression, a 3-class target and an id, and a model on it."""
    path = tmp_path_factory.mktemp("predict_stream")
    rng = np.random.default_rng(0)
    n = 500
    table = pd.DataFrame({
        "id": [f"r{i:04d}" for i in range(n)],
        "x": rng.normal(size=n).astype(np.float32),
        "z": rng.normal(size=n).astype(np.float32),
        "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
    })
    table["y"] = 2 * table.x - table.z + rng.normal(0, 0.1, n)
    table["k"] = np.where(table.x > 0.5, "hi", np.where(table.x < -0.5, "lo", "mid"))
    table.to_parquet(path / "data.parquet", row_group_size=120)
    features = ["x", "z", "color"]
    model = MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
    model.fit(table[features], table[["y", "k"]])
    save_model(model, path / "model.tabmtl")
    return path, table, model


def test_predict_stream_writes_the_same_predictions_as_predict(fitted, monkeypatch, capsys):
    path, table, _ = fitted
    monkeypatch.chdir(path)
    code = main(["predict", "model.tabmtl", "data.parquet", "--stream", "--proba",
                 "--keep", "id", "--out", "streamed.parquet"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "wrote 500 rows" in out
    code = main(["predict", "model.tabmtl", "data.parquet", "--proba", "--keep", "id",
                 "--out", "whole.parquet"])
    assert code == EXIT_OK
    streamed = pd.read_parquet(path / "streamed.parquet")
    whole = pd.read_parquet(path / "whole.parquet")
    assert streamed.columns.tolist() == whole.columns.tolist()
    assert streamed.columns.tolist()[:3] == ["id", "y", "k"]
    assert streamed["id"].tolist() == table["id"].tolist()
    assert streamed["k"].astype(str).tolist() == whole["k"].astype(str).tolist()
    numeric = [c for c in whole.columns if c not in ("id", "k")]
    np.testing.assert_allclose(streamed[numeric], whole[numeric], rtol=1e-5, atol=1e-6)


def test_predict_parquet_writes_predictions_and_probabilities_together(fitted):
    path, _, model = fitted
    both = predict_parquet(model, path / "data.parquet", method=("predict", "predict_proba"),
                           batch_rows=64)
    alone = predict_parquet(model, path / "data.parquet", method="predict_proba")
    assert both.columns.tolist() == ["y", "k", *alone.columns]
    np.testing.assert_allclose(both[alone.columns], alone, rtol=1e-6)


def test_predict_stream_needs_a_parquet_output_and_input(fitted, monkeypatch, capsys):
    path, _, _ = fitted
    monkeypatch.chdir(path)
    table = pd.read_parquet(path / "data.parquet")
    table.to_csv(path / "data.csv", index=False)
    code = main(["predict", "model.tabmtl", "data.parquet", "--stream", "--out", "p.csv"])
    assert code == EXIT_USAGE and "--stream writes parquet" in capsys.readouterr().err
    code = main(["predict", "model.tabmtl", "data.csv", "--stream", "--out", "p.parquet"])
    assert code == EXIT_USAGE and "--stream needs parquet" in capsys.readouterr().err
