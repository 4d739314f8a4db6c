"""Tests of the quality benchmark harness (``benchmarks/quality.py``).

One end-to-end run on tiny data (penguins, 2 folds, 2 epochs: scores are meaningless,
only their shape and finiteness are checked) and a unit test of the scoring helper on a
constructed case that fails if a row with a missing label were scored.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` and `datasets` are top-level folders
    sys.path.insert(0, str(ROOT))

quality = importlib.import_module("benchmarks.quality")
baselines = importlib.import_module("benchmarks.baselines")

from tabmtl import TargetSpec  # noqa: E402


def _scores(rows: list[dict]) -> dict[tuple[str, str], float]:
    return {(r["task"], r["metric"]): r["value"] for r in rows}


def test_score_outputs_leaves_out_missing_labels_per_task():
    # Row 3 has no regression label and is the only negative of `flag`; row 4 has no
    # `flag` label. Predictions are perfect on every present label and absurd on the
    # missing ones, so any score that used a missing label would not be perfect, and
    # dropping row 3 from every task (not only from `size`) would leave `flag` with one
    # class, so its ROC-AUC would be NaN.
    Y = pd.DataFrame(
        {
            "size": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0],
            "flag": pd.array([True, True, True, False, pd.NA, True], dtype="boolean"),
            "kind": pd.Categorical(["a", "b", "c", "a", "b", np.nan]),
        }
    )
    spec = TargetSpec().fit(Y)
    outputs = {
        "size": np.array([1.0, 2.0, 3.0, 1e6, 5.0, 6.0]),
        # columns in classes_ order: [False, True]; row 4 (missing) predicted False
        "flag": np.array([[0, 1], [0, 1], [0, 1], [1, 0], [1, 0], [0, 1]], dtype=float),
        # classes a, b, c; row 5 (missing) confidently "a"
        "kind": np.array(
            [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=float
        ),
    }
    scores = _scores(quality.score_outputs(spec, Y, outputs))
    assert scores[("size", "R²")] == pytest.approx(1.0)
    assert scores[("size", "RMSE")] == pytest.approx(0.0)
    assert scores[("flag", "ROC-AUC")] == pytest.approx(1.0)
    assert scores[("flag", "accuracy")] == pytest.approx(1.0)
    assert scores[("kind", "accuracy")] == pytest.approx(1.0)
    assert scores[("kind", "ROC-AUC")] == pytest.approx(1.0)
    assert scores[("kind", "log-loss")] == pytest.approx(0.0, abs=1e-9)
    # and the same outputs scored against fully labelled truth are visibly worse
    Y_full = Y.assign(size=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert _scores(quality.score_outputs(spec, Y_full, outputs))[("size", "R²")] < 0


def test_run_end_to_end_on_tiny_data(tmp_path):
    # RealMLP (pytabkit, the "bench" extra) takes ~20 s a fold even here: benchmark runs only
    models = [m for m in baselines.MODELS if m != "realmlp"]
    report = quality.run(["penguins"], folds=2, epochs=2, models=models, out=tmp_path, log=None)
    kinds = {"species": "multiclass", "sex_male": "binary", "body_mass_g": "regression"}

    table = report.table  # headline score means: (dataset, task) x model
    assert list(table.index) == [("penguins", task) for task in kinds]
    assert list(table.columns) == [baselines.MODELS[m][0] for m in models]
    assert np.isfinite(table.to_numpy()).all()

    # every model scored on the same 2 folds, every metric of every task
    per_model = report.scores.groupby("model")["fold"].nunique()
    assert (per_model == 2).all()
    n_metrics = sum(len(quality.METRICS[k]) for k in kinds.values())
    assert len(report.scores) == len(models) * 2 * n_metrics
    assert np.isfinite(report.scores["value"]).all()
    assert (report.times["fit_s"] > 0).all()

    for path in report.files.values():
        assert path.exists() and path.stat().st_size > 0
    md = report.files["markdown"].read_text()
    headline = quality.metric_table(report, ["R²", "ROC-AUC"])
    assert len(headline) == len(kinds)
    assert all(any("**" in str(v) for v in row) for row in headline.to_numpy())
    assert "Fit time per fold" in md and "penguins" in md


def test_per_target_baselines_train_on_labelled_rows_only():
    # A classification label that is missing must not reach the per-target models:
    # HistGB and the sklearn MLP would otherwise see a bogus class (NaN cast to int).
    X = pd.DataFrame({"x": np.arange(40, dtype=float), "c": pd.Categorical(["u", "v"] * 20)})
    y = pd.array([i % 3 == 0 for i in range(40)], dtype="boolean")
    y[5] = pd.NA
    Y = pd.DataFrame({"flag": y})
    spec = TargetSpec().fit(Y)
    settings = baselines.Settings(epochs=1)
    for key in ("hgb", "mlp", "st"):
        result = baselines.MODELS[key][1](X, Y, X, spec, settings)
        proba = result.outputs["flag"]
        assert proba.shape == (40, 2)
        assert np.allclose(proba.sum(axis=1), 1.0)
