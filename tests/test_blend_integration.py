"""MultiTaskBlend through tabmtl's model files (save_model / load_model), the command line,
the MLflow flavor and ONNX export (issue 23, integration items)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

from tabmtl import MultiTaskEstimator, load_model, save_model
from tabmtl._data.targets import as_python_scalar
from tabmtl._ensemble import MultiTaskBlend
from tabmtl.io._persistence import ModelFileError

lgb = pytest.importorskip("lightgbm")


def tiny_blend(**params) -> MultiTaskBlend:
    """A blend small enough to fit in a second or two: a 3-epoch net, 10 trees, 2 folds."""
    params = {
        "regressor": lgb.LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1),
        "classifier": lgb.LGBMClassifier(n_estimators=10, min_child_samples=5, verbose=-1),
        "cv": 2, **params,
    }
    net = MultiTaskEstimator(max_epochs=3, hidden_layer_sizes=(8,), random_state=0)
    return MultiTaskBlend(net, **params)


@pytest.fixture(scope="module")
def fitted():
    X, Y = make_mixed(n=80, seed=3, missing=0.1)
    return tiny_blend().fit(X, Y), X


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path, members: dict[str, bytes], *, fix_digests: bool = True) -> None:
    """Write ``members`` as a zip archive; its manifest's digests recomputed unless not."""
    if fix_digests and "manifest.json" in members:
        manifest = json.loads(members["manifest.json"])
        manifest["members"] = {
            n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != "manifest.json"
        }
        members = {**members, "manifest.json": json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)


# -- item 1: save_model / load_model -----------------------------------------------------


def test_save_model_load_model_round_trip_is_bit_identical(fitted, tmp_path):
    blend, X = fitted
    path = save_model(blend, tmp_path / "blend.tabmtl")
    loaded = load_model(path)
    assert isinstance(loaded, MultiTaskBlend)
    assert load_model(path, device="cpu").net_.device == "cpu"  # options reach the nets
    pd.testing.assert_frame_equal(loaded.predict(X), blend.predict(X), check_exact=True)
    for name, frame in blend.predict_proba(X).items():
        pd.testing.assert_frame_equal(loaded.predict_proba(X)[name], frame, check_exact=True)
    pd.testing.assert_frame_equal(loaded.task_blend_weights_, blend.task_blend_weights_)
    pred = loaded.predict(X)
    for i in (0, 7, 31):
        record = loaded.predict_record(X.iloc[i].to_dict())
        assert record == {k: as_python_scalar(v) for k, v in pred.iloc[i].items()}


def test_files_of_save_blend_and_save_model_read_each_other(fitted, tmp_path):
    from tabmtl._ensemble.persistence import load_blend, save_blend

    blend, X = fitted
    by_save_model = save_model(blend, tmp_path / "a.tabmtl")
    by_save_blend = save_blend(blend, tmp_path / "b.blend")
    for loaded in (load_blend(by_save_model), load_model(by_save_blend)):
        pd.testing.assert_frame_equal(loaded.predict(X), blend.predict(X), check_exact=True)


def test_a_signed_blend_is_verified_like_a_model_file(fitted, tmp_path):
    blend, X = fitted
    path = save_model(blend, tmp_path / "signed.tabmtl", key="secret")
    pd.testing.assert_frame_equal(load_model(path, key="secret").predict(X), blend.predict(X))
    with pytest.raises(ModelFileError, match="valid signature"):
        load_model(path, key="other")
    with pytest.warns(UserWarning, match="signature was not checked"):
        load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(path, verify_signature=False)
    # a booster edited and every digest rewritten: only the key holder's HMAC can tell
    members = _members(path)
    booster = json.loads(members["boosters/0/0.json"])
    booster["text"] = booster["text"].replace("learning_rate: 0.1", "learning_rate: 0.2")
    members["boosters/0/0.json"] = json.dumps(booster).encode()
    _write(tmp_path / "forged.tabmtl", members)
    with pytest.raises(ModelFileError, match="valid signature"):
        load_model(tmp_path / "forged.tabmtl", key="secret")


def test_a_blend_file_without_manifest_is_refused_when_a_key_is_given(fitted, tmp_path):
    from tabmtl._ensemble.persistence import save_blend

    path = save_blend(fitted[0], tmp_path / "plain.blend")
    with pytest.raises(ModelFileError, match="not signed"):
        load_model(path, key="secret")


def test_an_edited_member_is_caught_by_its_digest(fitted, tmp_path):
    path = save_model(fitted[0], tmp_path / "blend.tabmtl")
    members = _members(path)
    members["blend.json"] = members["blend.json"] + b" "  # still JSON, another digest
    _write(tmp_path / "edited.tabmtl", members, fix_digests=False)
    with pytest.raises(ModelFileError, match=re.escape("digest of 'blend.json'")):
        load_model(tmp_path / "edited.tabmtl")
    extra = {**_members(path), "boosters/0/9.json": b"{}"}
    _write(tmp_path / "extra.tabmtl", extra, fix_digests=False)
    with pytest.raises(ModelFileError, match=re.escape("boosters/0/9.json")):
        load_model(tmp_path / "extra.tabmtl")


@pytest.mark.parametrize(
    "member, body",
    [
        ("blend.json", b"[]"),
        ("blend.json", b"{not json"),
        ("boosters/0/0.json", b'{"text": "tree\\nnot a model", "classes": null}'),
        ("boosters/0/1.json", b'{"constant": "x"}'),
        ("net.tabmtl", b"PK\x03\x04 broken"),
    ],
)
def test_malformed_members_are_model_file_errors(fitted, tmp_path, member, body):
    members = {**_members(save_model(fitted[0], tmp_path / "blend.tabmtl")), member: body}
    _write(tmp_path / "bad.tabmtl", members)  # consistent digests: the content is wrong
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "bad.tabmtl")


def test_a_truncated_blend_file_is_a_model_file_error(fitted, tmp_path):
    data = save_model(fitted[0], tmp_path / "blend.tabmtl").read_bytes()
    (tmp_path / "cut.tabmtl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "cut.tabmtl")


def test_a_member_larger_than_the_archive_can_hold_is_refused(fitted, tmp_path):
    members = _members(save_model(fitted[0], tmp_path / "blend.tabmtl"))
    members["boosters/0/0.json"] = b'{"text": "' + b" " * 5_000_000 + b'"}'
    _write(tmp_path / "bomb.tabmtl", members)
    path = tmp_path / "bomb.tabmtl"
    with zipfile.ZipFile(tmp_path / "deflated.tabmtl", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _members(path).items():
            zf.writestr(name, data)
    with pytest.raises(ModelFileError, match="refused"):
        load_model(tmp_path / "deflated.tabmtl")


def test_version_mismatch_is_refused_unless_allowed(fitted, tmp_path):
    blend, X = fitted
    members = _members(save_model(blend, tmp_path / "blend.tabmtl"))
    manifest = json.loads(members["manifest.json"])
    manifest["tabmtl_version"] = "0.0.1"
    members["manifest.json"] = json.dumps(manifest).encode()
    _write(tmp_path / "old.tabmtl", members)
    with pytest.raises(ModelFileError, match=re.escape("saved with tabmtl 0.0.1")):
        load_model(tmp_path / "old.tabmtl")
    loaded = load_model(tmp_path / "old.tabmtl", allow_version_mismatch=True)
    pd.testing.assert_frame_equal(loaded.predict(X), blend.predict(X))


def test_save_model_refuses_an_unsaveable_blend_and_leaves_no_file(fitted, tmp_path):
    # A user's template of another library has no safe format (HistGB and LightGBM do).
    from sklearn.dummy import DummyRegressor

    X, Y = make_mixed(n=80, seed=3)
    blend = tiny_blend(regressor=DummyRegressor()).fit(X, Y)
    with pytest.raises(TypeError, match=r"DummyRegressor.*safe"):
        save_model(blend, tmp_path / "hist.tabmtl")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Exception, match="fit"):
        save_model(tiny_blend(), tmp_path / "unfitted.tabmtl")
    assert list(tmp_path.iterdir()) == []


def test_a_cut_save_blend_file_is_not_read_as_the_net_inside_it(fitted, tmp_path):
    from tabmtl._ensemble.persistence import save_blend

    data = save_blend(fitted[0], tmp_path / "plain.blend").read_bytes()
    for cut in (len(data) // 2, len(data) - 100):
        (tmp_path / "cut.blend").write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_model(tmp_path / "cut.blend")


# -- item 2: tabmtl fit --blend, tabmtl predict on a blend --------------------------------

TINY_CLI = ["--max-epochs", "2", "--hidden", "8", "--batch-size", "128", "--quiet"]
PENGUIN_TARGETS = ["--target", "species", "--target", "body_mass_g", "--drop", "id"]


def _cli(capsys, monkeypatch, cwd, *args) -> tuple[int, str, str]:
    from tabmtl._cli import main

    monkeypatch.chdir(cwd)
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    import datasets

    path = tmp_path_factory.mktemp("blend_cli")
    X, Y = datasets.load("penguins")
    table = X.join(Y)
    table.insert(0, "id", [f"p{i:03d}" for i in range(len(table))])
    table.to_csv(path / "penguins.csv", index=False)
    table.to_parquet(path / "penguins.parquet")
    return path


def test_fit_blend_saves_a_blend_and_writes_its_weights(capsys, monkeypatch, penguins):
    code, out, err = _cli(capsys, monkeypatch, penguins, "fit", "penguins.csv",
                          *PENGUIN_TARGETS, *TINY_CLI, "--blend", "--blend-cv", "2",
                          "--out", "blend.tabmtl")
    assert code == 0, err
    assert out.splitlines()[0] == "saved blend.tabmtl"
    blend = load_model(penguins / "blend.tabmtl")
    assert isinstance(blend, MultiTaskBlend) and blend.cv == 2
    assert blend.net_.max_epochs == 2 and blend.net_.hidden_layer_sizes == (8,)
    weights = pd.read_csv(penguins / "blend.weights.csv")
    pd.testing.assert_frame_equal(weights, blend.task_blend_weights_, check_dtype=False)
    assert "blend.weights.csv" in out
    # the printed table: one row per task, a weight column per learner
    for row in blend.task_blend_weights_.itertuples():
        line = next(s for s in out.splitlines() if s.split()[:1] == [row.task])
        assert f"{row.weight:.2f}" in line


def test_predict_works_on_a_blend_model_file(capsys, monkeypatch, penguins):
    if not (penguins / "blend.tabmtl").exists():
        test_fit_blend_saves_a_blend_and_writes_its_weights(capsys, monkeypatch, penguins)
    code, _, err = _cli(capsys, monkeypatch, penguins, "predict", "blend.tabmtl",
                        "penguins.parquet", "--out", "pred.parquet", "--proba", "--keep", "id")
    assert code == 0, err
    blend = load_model(penguins / "blend.tabmtl")
    table = pd.read_parquet(penguins / "penguins.parquet")
    pred = pd.read_parquet(penguins / "pred.parquet")
    expected = blend.predict(table[list(blend.feature_names_in_)])
    pd.testing.assert_frame_equal(pred[expected.columns], expected, check_categorical=False)
    proba = blend.predict_proba(table[list(blend.feature_names_in_)])["species"]
    for label in proba.columns:
        np.testing.assert_array_equal(pred[f"species_proba_{label}"], proba[label])
    assert pred["id"].tolist() == table["id"].tolist()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--blend", "--stream"], "--stream"),
        (["--blend", "--auxiliary", "flipper_length_mm"], "--auxiliary"),
        (["--blend", "--auxiliary-weight", "0.3"], "--auxiliary-weight"),
        (["--blend-cv", "3"], "--blend-cv needs --blend"),
        (["--blend", "--blend-cv", "1"], "--blend-cv"),
        (["--blend", "--config", "resume.json"], "checkpoint_dir"),
    ],
)
def test_what_fit_cannot_do_with_a_blend_is_refused_naming_the_option(
    capsys, monkeypatch, penguins, extra, message
):
    (penguins / "resume.json").write_text(json.dumps({"checkpoint_dir": "runs"}))
    code, _, err = _cli(capsys, monkeypatch, penguins, "fit", "penguins.parquet",
                          *PENGUIN_TARGETS, *TINY_CLI, *extra, "--out", "refused.tabmtl")
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (penguins / "refused.tabmtl").exists()


# -- item 4: ONNX / torch.export refuse a blend ------------------------------------------


@pytest.mark.parametrize("exporter", ["export_onnx", "export_torch"])
def test_export_refuses_a_blend_naming_the_boosting_part(fitted, tmp_path, exporter):
    import tabmtl.io._export as export

    with pytest.raises(TypeError, match=f"{exporter} cannot export a MultiTaskBlend") as info:
        getattr(export, exporter)(fitted[0], tmp_path / "blend.out")
    assert "boosting" in str(info.value) and "blend.net_" in str(info.value)
    assert not (tmp_path / "blend.out").exists()


# -- item 1 (continued): a booster's LightGBM text is untrusted input too ------------------


def _edit_booster(members: dict, index: int, edit) -> dict:
    entry = json.loads(members[f"boosters/0/{index}.json"])
    entry["text"] = edit(entry["text"])
    return {**members, f"boosters/0/{index}.json": json.dumps(entry).encode()}


def _first(pattern: str, text: str) -> str:
    return re.search(pattern, text, re.MULTILINE).group(0)


# each would abort the process, hang it or read outside LightGBM's arrays if parsed
BOOSTER_EDITS = {
    "num_leaves": lambda t: t.replace(_first(r"^num_leaves=\d+", t), "num_leaves=50000000", 1),
    "tree_sizes": lambda t: t.replace(_first(r"^tree_sizes=\d+", t), "tree_sizes=10", 1),
    "cycle": lambda t: t.replace(_first(r"^right_child=\S+", t), "right_child=0", 1),
    "feature": lambda t: t.replace("split_feature=", "split_feature=99 ", 1),
    "not a number": lambda t: t.replace("leaf_value=", "leaf_value=x", 1),
    "objective": lambda t: t.replace(_first(r"^objective=.*$", t), "objective=", 1),
    "parameter": lambda t: t.replace("[boosting: gbdt]", "[boosting gbdt]", 1),
    "num_class": lambda t: t.replace("num_class=1", "num_class=100000000", 1),
}


@pytest.mark.parametrize("edit", BOOSTER_EDITS)
def test_a_malformed_lightgbm_text_is_refused_before_lightgbm_parses_it(fitted, tmp_path, edit):
    path = save_model(fitted[0], tmp_path / "blend.tabmtl")
    members = _edit_booster(_members(path), 0, BOOSTER_EDITS[edit])
    _write(tmp_path / "edited.tabmtl", members)  # digests fixed: only the checks can tell
    with pytest.raises(ModelFileError, match=re.escape("boosters/0/0.json")):
        load_model(tmp_path / "edited.tabmtl")


def test_real_lightgbm_texts_pass_the_checks():
    from tabmtl.io._lightgbm_text import check_lightgbm_text

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(120), "c": pd.Categorical(rng.choice(list("xyz"), 120))})
    models = [
        lgb.LGBMRegressor(n_estimators=3, min_child_samples=5, verbose=-1).fit(X, X.a),
        lgb.LGBMClassifier(n_estimators=2, min_child_samples=5, verbose=-1)
        .fit(X, rng.choice(3, 120)),
        lgb.LGBMRegressor(n_estimators=2, min_child_samples=500, verbose=-1).fit(X, X.a),
    ]
    for model in models:
        check_lightgbm_text(model.booster_.model_to_string(), 2, "model")
    with pytest.raises(ModelFileError, match="reads 3 features"):
        check_lightgbm_text(models[0].booster_.model_to_string(), 3, "model")


def test_mutated_lightgbm_texts_are_refused_or_load_without_crashing():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "tests" / "blend_lightgbm_fuzz.py"), "400"],
        env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # -11: a segfault, -6: an abort
    counts = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert counts["refused"] > 50 and counts["loaded"] > 50


def test_fit_blend_without_lightgbm_is_refused_before_fitting(capsys, monkeypatch, penguins):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "lightgbm" else find_spec(name, *a))
    code, _, err = _cli(capsys, monkeypatch, penguins, "fit", "penguins.parquet",
                        *PENGUIN_TARGETS, *TINY_CLI, "--blend", "--out", "nolgb.tabmtl")
    assert code == 2 and "--blend needs lightgbm" in err
    assert not (penguins / "nolgb.tabmtl").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only")
def test_ctrl_c_stops_a_blend_fit_and_saves_nothing(capsys, monkeypatch, penguins):
    """A net's fit swallows Ctrl-C (it keeps its best epoch): inside a blend that must end
    the whole fit, not only the net being trained, and nothing half-fitted is saved. The
    Ctrl-C is a real SIGINT, sent to this process at the first optimizer step."""
    import torch

    step, sent = torch.optim.AdamW.step, []

    def step_then_ctrl_c(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = _cli(capsys, monkeypatch, penguins, "fit", "penguins.csv",
                            *PENGUIN_TARGETS, *TINY_CLI, "--blend", "--blend-cv", "2",
                            "--out", "interrupted.tabmtl")
        handler = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent and code == 130, err
    assert "nothing saved" in err and "Traceback" not in err
    assert not (penguins / "interrupted.tabmtl").exists()
    assert not (penguins / "interrupted.weights.csv").exists()
    assert handler is signal.default_int_handler  # the fit put back the handler it found
