"""``tabmtl explain`` and the importance panel of ``tabmtl report``.

The command runs in-process from a parser built with the module's own ``add_parser``,
on a tiny saved model of the shared mixed table: the files it writes, the table it
prints, the metric and target options, and one-line usage errors. The report's panel is
checked on a two-fold transfer analysis of two epochs.
"""

from __future__ import annotations

import argparse
import base64

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

from tabmtl import MultiTaskEstimator
from tabmtl._cli import explain, report
from tabmtl._cli.errors import EXIT_OK, UsageError
from tabmtl.inspection._output import IMPORTANCE_FILES
from tabmtl.io._persistence import save_model


def parse(module, argv):
    parser = argparse.ArgumentParser(prog="tabmtl")
    module.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    args.argv = argv
    return args


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    X, Y = make_mixed(160, seed=2)
    model = MultiTaskEstimator(hidden_layer_sizes=(8,), max_epochs=4, random_state=0)
    model.fit(X, Y)
    save_model(model, folder / "model.tabmtl")
    X.join(Y).assign(row_id=np.arange(len(X))).to_csv(folder / "data.csv", index=False)
    return folder


def test_explain_writes_tables_pictures_and_prints_the_matrix(saved, capsys):
    out = saved / "out"
    args = parse(explain, ["explain", str(saved / "model.tabmtl"), str(saved / "data.csv"),
                           "--out", str(out), "--n-repeats", "2", "--metric", "roc_auc"])
    assert args.handler(args) == EXIT_OK
    for name in IMPORTANCE_FILES.values():
        assert (out / name).stat().st_size > 0, name
    tidy = pd.read_csv(out / "importance.csv")
    assert set(tidy["task"]) == {"eta", "late", "band"}
    assert set(tidy["feature"]) == {"km", "hour", "zone", "rain"}  # not row_id: no feature
    assert dict(zip(tidy["task"], tidy["metric"]))["late"] == "roc_auc"
    assert dict(zip(tidy["task"], tidy["metric"]))["band"] == "roc_auc"
    printed = capsys.readouterr().out
    assert "late roc_auc" in printed and "role" in printed and "importance.csv" in printed
    matrix = pd.read_csv(out / "matrix.csv", index_col=0)
    assert matrix.loc["km", "eta"] == matrix["eta"].max() > 0  # eta = 3 km + ...


def test_explain_one_target_with_a_sample_of_rows(saved):
    out = saved / "one"
    args = parse(explain, ["explain", str(saved / "model.tabmtl"), str(saved / "data.csv"),
                           "-o", str(out), "-t", "eta", "--n-repeats", "1", "--sample", "50"])
    assert args.handler(args) == EXIT_OK
    assert pd.read_csv(out / "matrix.csv", index_col=0).columns.tolist() == ["eta"]


@pytest.mark.parametrize(("extra", "message"), [
    (["-t", "nope"], "'nope' is not a target of the model"),
    (["--metric", "r3"], "unknown metric 'r3'"),
    (["-t", "eta", "-t", "eta"], "more than once"),
])
def test_explain_usage_errors_name_the_problem(saved, extra, message):
    args = parse(explain, ["explain", str(saved / "model.tabmtl"), str(saved / "data.csv"),
                           "-o", str(saved / "bad"), *extra])
    with pytest.raises(UsageError, match=message):
        args.handler(args)


def test_explain_needs_the_models_feature_columns_and_a_model(saved):
    pd.read_csv(saved / "data.csv").drop(columns="zone").to_csv(saved / "lacks.csv")
    args = parse(explain, ["explain", str(saved / "model.tabmtl"), str(saved / "lacks.csv"),
                           "-o", str(saved / "bad")])
    with pytest.raises(UsageError, match=r"lacks feature column\(s\).*'zone'"):
        args.handler(args)
    args = parse(explain, ["explain", str(saved / "none.tabmtl"), str(saved / "data.csv"),
                           "-o", str(saved / "bad")])
    with pytest.raises(UsageError, match="model file not found"):
        args.handler(args)


def test_report_embeds_the_importance_panel(saved, tmp_path, capsys):
    folder = saved / "out"
    if not (folder / "drivers.csv").exists():  # when run alone
        test_explain_writes_tables_pictures_and_prints_the_matrix(saved, capsys)
    data = str(saved / "data.csv")
    targets = ["-t", "eta", "-t", "late", "--drop", "row_id"]
    bad = parse(report, ["report", data, *targets, "-o", str(tmp_path / "r"),
                         "--importance", str(tmp_path)])
    with pytest.raises(UsageError, match="not a folder written by tabmtl explain"):
        bad.handler(bad)
    args = parse(report, ["report", data, *targets, "-o", str(tmp_path / "r"), "--cv", "2",
                          "--no-baseline", "--max-epochs", "2", "--hidden", "8", "-q",
                          "--importance", str(folder)])
    args.handler(args)
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Feature importance per task</h2>" in page
    heatmap = base64.b64encode((folder / "heatmap.png").read_bytes()).decode("ascii")
    assert heatmap in page
    assert "Shared drivers:" in page
