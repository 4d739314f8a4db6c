"""Model files are untrusted input: loading reads the file and nothing else, asks for no
more memory than the file holds, fails only with ModelFileError, and saving is safe
from several threads (issue 24, items 12-16)."""

import hashlib
import json
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

from tabmtl import MultiTaskEstimator
from tabmtl.io._model_json import decode
from tabmtl.io._persistence import ModelFileError, load_model, save_model

SMALL = dict(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)


@pytest.fixture(scope="module")
def small_model():
    X, Y = make_mixed(60)
    return MultiTaskEstimator(**SMALL).fit(X, Y), X


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path, members: dict[str, bytes], *, fix_digests: bool = True) -> None:
    if fix_digests:
        manifest = json.loads(members["manifest.json"])
        manifest["members"] = {
            n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != "manifest.json"
        }
        members = {**members, "manifest.json": json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)


# -- item 12: loading touches nothing but the file ----------------------------------------


def test_loading_a_model_with_a_checkpoint_dir_creates_no_directory(tmp_path):
    X, Y = make_mixed(60)
    runs = tmp_path / "runs"
    model = MultiTaskEstimator(checkpoint_dir=str(runs), **SMALL).fit(X, Y)
    path = save_model(model, tmp_path / "m.tabmtl")
    # the file names a directory that does not exist here (another machine, read-only...)
    members = _members(path)
    other = tmp_path / "elsewhere" / "deeper"
    members["model.json"] = members["model.json"].replace(
        json.dumps(str(runs)).encode(), json.dumps(str(other)).encode()
    )
    _write(path, members)
    loaded = load_model(path)
    assert not other.exists() and not (tmp_path / "elsewhere").exists()
    assert loaded.checkpoint_dir == str(other)  # the parameter survives, for a later fit
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))


def test_loading_with_an_unreachable_checkpoint_dir_works(tmp_path):
    X, Y = make_mixed(60)
    model = MultiTaskEstimator(checkpoint_dir=str(tmp_path / "runs"), **SMALL).fit(X, Y)
    path = save_model(model, tmp_path / "m.tabmtl")
    members = _members(path)
    members["model.json"] = members["model.json"].replace(
        json.dumps(str(tmp_path / "runs")).encode(), b'"/proc/no/such/dir"'
    )
    _write(path, members)
    pd.testing.assert_frame_equal(load_model(path).predict(X), model.predict(X))


# -- item 13: what a file may ask for is bounded by what it holds ------------------------


def test_a_wide_string_dtype_is_refused_without_allocating_it():
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="array"):
            decode({"__array__": ["<U75000000", [1], ["a"]]})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


@pytest.mark.parametrize(
    "body",
    [
        ["<f8", [10**9], [1.0]],  # shape disagrees with the values it holds
        ["<f8", [-1], [1.0]],
        ["<f8", "3", [1.0]],
        ["<S100000000", [1], ["a"]],
        ["<V100000000", [1], [0]],
        ["<f8", [1], 5],
        ["<f8", [1]],
    ],
)
def test_malformed_arrays_are_model_file_errors(body):
    with pytest.raises(ModelFileError):
        decode({"__array__": body})


def test_ordinary_arrays_still_decode():
    for value in [np.arange(6.0).reshape(2, 3), np.array(["ab", "c"]), np.zeros((0, 3)),
                  np.array([True, False]), np.array(["2024-01-01"], dtype="datetime64[ns]")]:
        from tabmtl.io._model_json import encode

        np.testing.assert_array_equal(decode(json.loads(json.dumps(encode(value, "v")))), value)


def test_an_edited_file_cannot_make_load_allocate_hundreds_of_megabytes(small_model, tmp_path):
    path = save_model(small_model[0], tmp_path / "m.tabmtl")
    members = _members(path)
    model = json.loads(members["model.json"])
    model["fitted"]["feature_names_in_"] = {"__array__": ["<U75000000", [1], ["a"]]}
    members["model.json"] = json.dumps(model).encode()
    _write(path, members)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


def test_a_network_wider_than_the_saved_weights_is_refused_before_it_is_built(
    small_model, tmp_path
):
    path = save_model(small_model[0], tmp_path / "m.tabmtl")
    members = _members(path)
    model = json.loads(members["model.json"])
    model["params"]["hidden_layer_sizes"] = {"__tuple__": [200_000, 200_000]}  # 160 GB
    members["model.json"] = json.dumps(model).encode()
    _write(path, members)
    with pytest.raises(ModelFileError, match=r"larger than the .* values its weights hold"):
        load_model(path)


def _set_fitted(entry: dict, name: str, value) -> None:
    """Set ``name`` in an encoded ``{"__dict__": [[key, value], ...]}``."""
    for pair in entry["__dict__"]:
        if pair[0] == name:
            pair[1] = value
            return
    raise KeyError(name)


@pytest.mark.parametrize("edit", ["embedding_dims", "d_embedding", "ensemble_size"])
def test_edited_sizes_of_the_default_network_are_refused(small_model, tmp_path, edit):
    model_ = small_model[0]
    assert model_.numeric_embedding == "piecewise_linear"  # the default
    path = save_model(model_, tmp_path / "m.tabmtl")
    members = _members(path)
    model = json.loads(members["model.json"])
    if edit == "embedding_dims":
        _set_fitted(model["preprocessor"]["fitted"], "embedding_dims_", [10**9])
    elif edit == "d_embedding":
        model["params"]["numeric_embedding"] = {
            "__config__": ["NumericEmbedding", "piecewise_linear",
                           {"__dict__": [["d_embedding", 10**9]]}]
        }
    else:
        model["params"]["ensemble_size"] = 10**6
    members["model.json"] = json.dumps(model).encode()
    _write(path, members)
    # refused from the sizes, before torch allocates the network (tracemalloc cannot
    # see torch's memory: the message says which check refused it)
    with pytest.raises(ModelFileError, match=r"larger than the .* values its weights hold"):
        load_model(path)


def test_a_member_larger_than_the_archive_can_hold_is_refused(small_model, tmp_path):
    path = save_model(small_model[0], tmp_path / "m.tabmtl")
    members = _members(path)
    # 200 MB of one byte compresses to ~200 KB: far more than a model asks for per byte
    members["model.json"] = members["model.json"] + b" " * 200_000_000
    _write(path, members)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"model\.json"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


# -- item 14: malformed manifests ---------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        {"members": []},
        {"members": None},
        {"members": {"model.json": 3, "weights.pt": None}},
        {"estimator": ["MultiTaskEstimator"]},
        {"estimator": {"a": 1}},
        {"format_version": [2]},
        {"tabmtl_version": {"x": 1}},
        {"signature": 5},
    ],
)
def test_malformed_manifests_are_model_file_errors(small_model, tmp_path, edit):
    path = save_model(small_model[0], tmp_path / "m.tabmtl", key="k")
    members = _members(path)
    manifest = {**json.loads(members["manifest.json"]), **edit}
    members["manifest.json"] = json.dumps(manifest).encode()
    _write(path, members, fix_digests=False)
    with pytest.raises(ModelFileError):
        load_model(path, key="k", allow_version_mismatch=True)


def test_a_manifest_that_is_not_an_object_is_a_model_file_error(small_model, tmp_path):
    path = save_model(small_model[0], tmp_path / "m.tabmtl")
    for text in [b"[]", b"3", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b"{"]:
        members = _members(path)
        members["manifest.json"] = text
        _write(path, members, fix_digests=False)
        with pytest.raises(ModelFileError):
            load_model(path)


def test_deeply_nested_model_json_is_a_model_file_error(small_model, tmp_path):
    path = save_model(small_model[0], tmp_path / "m.tabmtl")
    members = _members(path)
    members["model.json"] = b"[" * 100_000 + b"]" * 100_000
    _write(path, members)
    with pytest.raises(ModelFileError):
        load_model(path)


# -- item 15: a signed file loaded without its key ----------------------------------------


def test_a_signed_file_loaded_without_a_key_warns(small_model, tmp_path):
    path = save_model(small_model[0], tmp_path / "m.tabmtl", key="secret")
    with pytest.warns(UserWarning, match=r"signed.*no `key`"):
        load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(path, key="secret")  # verified: nothing to say
        load_model(path, verify_signature=False)  # the caller opted out knowingly
        unsigned = save_model(small_model[0], tmp_path / "u.tabmtl")
        load_model(unsigned)  # nothing to verify


def test_a_key_given_for_an_unsigned_file_is_refused(small_model, tmp_path):
    path = save_model(small_model[0], tmp_path / "u.tabmtl")
    with pytest.raises(ModelFileError, match="valid signature"):
        load_model(path, key="secret")


# -- item 16: concurrent saves -----------------------------------------------------------


def test_threads_saving_the_same_path_never_clobber_each_other(small_model, tmp_path, monkeypatch):
    import os

    import tabmtl.io._persistence as persistence

    model, X = small_model
    target = tmp_path / "m.tabmtl"
    barrier = threading.Barrier(4)
    real_replace = os.replace
    seen: list[str] = []

    def replace_after_everyone_wrote(src, dst):
        seen.append(str(src))
        barrier.wait(timeout=30)  # all four temporary files exist at once
        real_replace(src, dst)

    monkeypatch.setattr(persistence.os, "replace", replace_after_everyone_wrote)
    errors: list[BaseException] = []

    def save():
        try:
            save_model(model, target)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(set(seen)) == 4  # four distinct temporary files
    pd.testing.assert_frame_equal(load_model(target).predict(X), model.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == ["m.tabmtl"]  # no temporary file left
