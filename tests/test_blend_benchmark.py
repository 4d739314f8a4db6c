"""benchmarks/blend.py's tables: the blend against the best part, tasks met, fit time."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.blend import met_table, table, time_table


def _scores() -> pd.DataFrame:
    values = {  # (dataset, task) -> net, LightGBM, HistGB, blend, blend[best]
        ("a", "y1"): (0.80, 0.70, 0.75, 0.805, 0.80),
        ("a", "y2"): (0.50, 0.60, 0.55, 0.599, 0.59796),  # within 0.002; [best] just not
        ("a", "y3"): (0.30, 0.20, 0.40, 0.35, 0.40),   # misses by 0.05
        ("b", "z"): (0.90, 0.91, 0.89, 0.92, 0.91),
    }
    seconds = {"net": 2.0, "LightGBM": 0.5, "HistGB": 1.5, "blend": 20.0, "blend[best]": 20.0}
    rows = []
    for (dataset, task), scores in values.items():
        for model, value in zip(seconds, scores):
            for fold in (0, 1):
                rows.append({"dataset": dataset, "fold": fold, "model": model, "task": task,
                             "value": value, "fit_s": seconds[model], "metric": "R²"})
    return pd.DataFrame(rows)


def _weights() -> pd.DataFrame:
    rows = []
    for dataset, task in (("a", "y1"), ("a", "y2"), ("a", "y3"), ("b", "z")):
        for fold in (0, 1):
            for learner, w in (("net", 0.5), ("lightgbm", 0.3), ("histgb", 0.2)):
                rows.append({"dataset": dataset, "fold": fold, "task": task,
                             "learner": learner, "weight": w})
    return pd.DataFrame(rows)


def test_tables_count_tasks_within_noise_of_the_best_part_and_time_against_the_parts():
    result = table(_scores(), _weights())
    assert result.loc[("a", "y3"), "best part"] == 0.40
    assert result.loc[("a", "y3"), "blend - best"] == pytest.approx(-0.05)
    assert result.loc[("a", "y1"), "boosting weight"] == pytest.approx(0.5)  # both learners
    mean = (0.805 + 0.599 + 0.35) / 3
    assert result.loc[("a", "mean"), "blend"] == pytest.approx(mean)
    met = met_table(result)
    assert met.loc["a", "tasks"] == 3 and met.loc["a", "blend: tasks met"] == 2
    assert met.loc["a", "blend[best]: tasks met"] == 2  # -0.00204 is not within 0.002
    assert met.loc["all", "tasks"] == 4 and met.loc["all", "blend: tasks met"] == 3
    assert met.loc["all", "blend: share met"] == pytest.approx(0.75)
    assert np.isnan(met.loc["all", "blend: mean - best"])
    times = time_table(_scores())
    assert "blend[best]" not in times.columns
    assert times.loc["a", "parts together"] == pytest.approx(4.0)
    assert times.loc["a", "blend / parts"] == pytest.approx(5.0)
