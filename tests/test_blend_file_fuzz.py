"""Fuzzing blend files read by load_model (issue 23 with issue 24's rules): structure-aware
mutations of ``blend.json`` and of a booster's JSON entry, digests and signature fixed so
that the mutation reaches the checks and the rebuild. Loading either gives a blend whose
predict works or fails in the usual way, or raises ModelFileError; nothing else comes out.
(LightGBM's model texts are fuzzed line by line in ``blend_lightgbm_fuzz.py``.)
"""

import functools
import hashlib
import io
import json
import warnings
import zipfile

import pytest
from conftest import make_mixed
from hypothesis import given
from hypothesis import strategies as st
from test_model_file_fuzz import json_mutations

from tabmtl import MultiTaskEstimator
from tabmtl._ensemble import MultiTaskBlend
from tabmtl.io._model_file_checks import sign
from tabmtl.io._persistence import ModelFileError, load_model, save_model

lgb = pytest.importorskip("lightgbm")
KEY = "fuzz-key"


@functools.lru_cache(maxsize=1)
def _saved():
    """The members of one small signed blend file, and rows to predict."""
    import tempfile
    from pathlib import Path

    X, Y = make_mixed(60, missing=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blend = MultiTaskBlend(
            MultiTaskEstimator(max_epochs=1, hidden_layer_sizes=(8,), random_state=0),
            regressor=lgb.LGBMRegressor(n_estimators=3, min_child_samples=5, verbose=-1),
            classifier=lgb.LGBMClassifier(n_estimators=3, min_child_samples=5, verbose=-1),
            cv=2,
        ).fit(X, Y)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(blend, Path(tmp) / "b.tabmtl", key=KEY)
        with zipfile.ZipFile(path) as zf:
            return {n: zf.read(n) for n in zf.namelist()}, X.head(5)


def _signed_archive(members: dict[str, bytes]) -> bytes:
    manifest = json.loads(members["manifest.json"])
    digests = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()
               if n != "manifest.json"}
    manifest["members"] = digests
    manifest["signature"] = sign(KEY, "MultiTaskBlend", manifest["tabmtl_version"], digests,
                                 manifest["format"])
    members = {**members, "manifest.json": json.dumps(manifest).encode()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _load_or_model_file_error(data: bytes, tmp_path) -> None:
    path = tmp_path / "fuzzed.tabmtl"
    path.write_bytes(data)
    try:
        blend = load_model(path, key=KEY)
    except ModelFileError:
        return
    try:  # a file that loads is a blend whose predict works or fails in the usual way
        blend.predict(_saved()[1])
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError):
        pass


@given(st.data())
def test_mutated_blend_json_loads_or_is_a_model_file_error(tmp_path_factory, data):
    members, _ = _saved()
    mutated = data.draw(json_mutations(members["blend.json"]))
    members = {**members, "blend.json": json.dumps(mutated).encode()}
    _load_or_model_file_error(_signed_archive(members), tmp_path_factory.mktemp("fuzz"))


@given(st.data(), st.sampled_from(["boosters/0/0.json", "boosters/0/1.json", "boosters/0/2.json"]))
def test_mutated_booster_entry_loads_or_is_a_model_file_error(tmp_path_factory, data, name):
    members, _ = _saved()
    mutated = data.draw(json_mutations(members[name]))
    members = {**members, name: json.dumps(mutated).encode()}
    _load_or_model_file_error(_signed_archive(members), tmp_path_factory.mktemp("fuzz"))


def test_the_unmutated_blend_file_loads_and_predicts(tmp_path):
    members, X = _saved()
    path = tmp_path / "b.tabmtl"
    path.write_bytes(_signed_archive(members))
    assert load_model(path, key=KEY).predict(X).shape == (5, 3)
