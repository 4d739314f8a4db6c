"""``tabmtl tune``: the config it writes fits, the study continues, bad input is one line."""

from __future__ import annotations

import argparse
import json

import numpy as np
import optuna
import pandas as pd
import pytest

from tabmtl._cli import tune as tune_command
from tabmtl._cli.errors import UsageError
from tabmtl._cli.main import main


def _parse(argv):
    parser = argparse.ArgumentParser(prog="tabmtl")
    tune_command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    frame["y"] = 2 * frame.a
    frame["c"] = np.where(frame.b > 0, "pos", "neg")
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({
        "lr": {"low": 1e-3, "high": 3e-2, "log": True}, "hidden_layer_sizes": [[8], [4, 4]],
        "numeric_embedding": ["periodic"], "numeric_embedding__d_embedding": [3, 4],
    }))
    return path, space


def _args(path, space, out, *extra):
    return _parse(["tune", str(path), "-t", "y", "-t", "c", "--out", str(out), "--trials",
                   "2", "--cv", "2", "--space", str(space), "--only-space", "--max-epochs",
                   "2", "--quiet", *extra])


def test_config_round_trip_and_resumed_study(table, tmp_path, capsys):
    path, space = table
    out = tmp_path / "best.json"
    assert tune_command.run(_args(path, space, out)) == 0
    config = json.loads(out.read_text())
    assert set(config) == {"lr", "hidden_layer_sizes", "max_epochs", "random_state",
                           "numeric_embedding", "numeric_embedding__d_embedding"}
    assert config["hidden_layer_sizes"] in ([8], [4, 4])
    db = tmp_path / "best.optuna.db"  # the default storage, beside --out
    assert db.exists()
    assert tune_command.run(_args(path, space, out)) == 0
    study = optuna.load_study(study_name="tabmtl", storage=f"sqlite:///{db}")
    assert len(study.trials) == 4  # the second run continued the study
    configs = {tuple(sorted(map(str, t.params.items()))) for t in study.trials}
    assert len(configs) == 4  # ... with new configurations, not the first run's again
    assert "trial" in capsys.readouterr().out
    model = tmp_path / "m.tabmtl"
    code = main(["fit", str(path), "-t", "y", "-t", "c", "--config", str(out), "-o",
                 str(model), "--quiet"])
    assert code == 0 and model.exists()
    from tabmtl.io._persistence import load_model

    embedding = load_model(model).numeric_embedding  # the tuned size reached the model
    assert embedding.get_params()["d_embedding"] == config["numeric_embedding__d_embedding"]


def test_bad_input_is_a_usage_error(table, tmp_path):
    path, space = table
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"learning_rate": [0.1]}))
    with pytest.raises(UsageError, match=r"Unknown parameter\(s\) \['learning_rate'\]"):
        tune_command.run(_args(path, bad, tmp_path / "o.json"))
    with pytest.raises(UsageError, match="cannot open the study storage"):
        tune_command.run(_args(path, space, tmp_path / "o.json", "--storage", "nosuch://x"))
    with pytest.raises(UsageError, match="neither 'mean' nor a target"):
        tune_command.run(_args(path, space, tmp_path / "o.json", "--objective", "zzz"))
    out = tmp_path / "one.json"
    tune_command.run(_args(path, space, out, "--trials", "1"))
    other = _parse(["tune", str(path), "-t", "y", "--out", str(out), "--space", str(space),
                    "--only-space", "--quiet"])
    with pytest.raises(UsageError, match="was created for targets"):
        tune_command.run(other)
    with pytest.raises(UsageError, match="nope"):
        tune_command.run(_args(path, space, tmp_path / "o.json", "--metric", "nope"))


def test_metric_option_scores_the_search(table, tmp_path):
    path, space = table
    scores = {}
    for metric in ("c=accuracy", "c=roc_auc"):  # same seed: the same trial, scored twice
        db = f"sqlite:///{tmp_path / (metric[2:] + '.db')}"
        args = _args(path, space, tmp_path / "o.json", "--trials", "1", "--metric", metric,
                     "--storage", db)
        assert tune_command.run(args) == 0
        study = optuna.load_study(study_name="tabmtl", storage=db)
        scores[metric] = study.trials[0].user_attrs["task_scores"]
    assert scores["c=accuracy"]["y"] == scores["c=roc_auc"]["y"]  # same model
    assert scores["c=accuracy"]["c"] != scores["c=roc_auc"]["c"]  # scored differently
