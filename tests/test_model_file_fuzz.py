"""Fuzzing model files (issue 24 item 14): structure-aware mutations of the manifest, of
``model.json`` (with its digest, and signature, fixed so that the mutation reaches the
decoder and the rebuild) and of the archive. Loading either gives a model or raises
ModelFileError; nothing else comes out.

The default ("ci") profile runs a few dozen derandomized examples per property;
``pytest --hypothesis-profile=long tests/test_model_file_fuzz.py`` runs 2000 each.
"""

import functools
import hashlib
import io
import json
import warnings
import zipfile

import pandas as pd
from conftest import make_mixed
from hypothesis import given
from hypothesis import strategies as st

from tabmtl import MultiTaskEstimator
from tabmtl.io import _persistence as persistence
from tabmtl.io._persistence import ModelFileError, load_model, save_model

KEY = "fuzz-key"
TAGS = ["__tuple__", "__dict__", "__scalar__", "__slice__", "__array__", "__objects__",
        "__index__", "__timestamp__", "__categorical__", "__string__", "__dtype__",
        "__pandas_dtype__", "__config__", "__unknown__"]
DTYPES = ["<f8", "<i8", "|b1", "<U3", "<U75000000", "|O", "<M8[ns]", "|V8", "(2,)f8",
          "<S5", "garbage", "<c16", "float64", "category", "string"]


@functools.lru_cache(maxsize=1)
def _saved() -> tuple[dict[str, bytes], pd.DataFrame]:
    """The members of one small saved model (categoricals, missing values, 3 targets)."""
    import tempfile
    from pathlib import Path

    X, Y = make_mixed(60, missing=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MultiTaskEstimator(max_epochs=1, hidden_layer_sizes=(8,), random_state=0)
        model.fit(X, Y)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(model, Path(tmp) / "m.tabmtl", key=KEY)
        with zipfile.ZipFile(path) as zf:
            return {n: zf.read(n) for n in zf.namelist()}, X.head(5)


def _json_values(depth: int = 3):
    leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
              | st.sampled_from([0, 1, -1, 2, 10**9, 2**63])
              | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
              | st.sampled_from(DTYPES))
    def extend(children):
        return (st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=6) | st.sampled_from(TAGS), children,
                                  max_size=3)
                | st.builds(lambda tag, body: {tag: body}, st.sampled_from(TAGS), children))
    return st.recursive(leaves, extend, max_leaves=12)


def _paths(node, prefix=()):
    """Every path into a JSON document: dict keys and list positions."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _mutate(doc, path, action: str, value):
    """``doc`` with the node at ``path`` replaced, deleted or wrapped."""
    if not path:
        return value if action != "wrap" else [doc]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "wrap":
        parent[last] = [parent[last]]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    else:
        parent[last] = value
    return doc


@st.composite
def json_mutations(draw, text: bytes):
    doc = json.loads(text)
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "delete", "wrap", "duplicate"]))
    if not path and action == "delete":
        action = "replace"
    return _mutate(doc, path, action, draw(_json_values()))


def _archive(members: dict[str, bytes], *, fix_digests: bool, sign: bool) -> bytes:
    if fix_digests:
        manifest = json.loads(members["manifest.json"])
        digests = {n: hashlib.sha256(d).hexdigest()
                   for n, d in members.items() if n in ("model.json", "weights.pt")}
        manifest["members"] = digests
        if sign:
            manifest["signature"] = persistence._sign(
                KEY, manifest["estimator"], manifest["tabmtl_version"], digests
            )
        members = {**members, "manifest.json": json.dumps(manifest).encode()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return buffer.getvalue()


def _load_or_model_file_error(data: bytes, tmp_path, key=KEY) -> None:
    path = tmp_path / "fuzzed.tabmtl"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model(path, key=key, allow_version_mismatch=True)
    except ModelFileError:
        return
    X = _saved()[1]
    try:  # a file that loads is a model whose predict works or fails in the usual way
        model.predict(X)
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError):
        pass


@given(st.data())
def test_mutated_model_json_loads_or_is_a_model_file_error(tmp_path_factory, data):
    members, _ = _saved()
    mutated = data.draw(json_mutations(members["model.json"]))
    members = {**members, "model.json": json.dumps(mutated).encode()}
    archive = _archive(members, fix_digests=True, sign=True)
    _load_or_model_file_error(archive, tmp_path_factory.mktemp("fuzz"))


SHALLOW = st.sampled_from([[], {}, None, 0, 2, "", "x", [1], ["model.json"], True,
                           {"model.json": 1}, {"model.json": "0" * 64}])


@st.composite
def manifest_mutations(draw, text: bytes):
    """A field of the manifest (or a nested one) set to an odd value, or the whole
    document mutated anywhere."""
    doc = json.loads(text)
    if draw(st.booleans()):
        return draw(json_mutations(text))
    field = draw(st.sampled_from([*doc, "extra"]))
    value = draw(SHALLOW | _json_values())
    if draw(st.booleans()) or field not in doc:
        doc[field] = value
    else:
        del doc[field]
    return doc


@given(st.data(), st.booleans())
def test_mutated_manifest_loads_or_is_a_model_file_error(tmp_path_factory, data, keyed):
    members, _ = _saved()
    mutated = data.draw(manifest_mutations(members["manifest.json"]))
    members = {**members, "manifest.json": json.dumps(mutated).encode()}
    archive = _archive(members, fix_digests=False, sign=False)
    _load_or_model_file_error(archive, tmp_path_factory.mktemp("fuzz"), KEY if keyed else None)


ARCHIVE_MUTATIONS = ["drop", "add", "replace_bytes", "truncate", "flip", "empty", "rename"]


@given(st.sampled_from(ARCHIVE_MUTATIONS), st.data())
def test_mutated_archive_loads_or_is_a_model_file_error(tmp_path_factory, mutation, data):
    members, _ = _saved()
    members = dict(members)
    name = data.draw(st.sampled_from(sorted(members)))
    fix = data.draw(st.booleans())
    if mutation == "drop":
        del members[name]
        fix = False
    elif mutation == "add":
        name_chars = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/")
        added = data.draw(st.text(name_chars, min_size=1, max_size=8))  # a name zip can hold
        members[added] = data.draw(st.binary(max_size=64))
    elif mutation == "replace_bytes":
        members[name] = data.draw(st.binary(max_size=256))
    elif mutation == "empty":
        members[name] = b""
    elif mutation == "rename":
        members[name + "x"] = members.pop(name)
        fix = False
    fix = fix and "manifest.json" in members and name != "manifest.json"
    if fix:
        try:
            json.loads(members["manifest.json"])
        except ValueError:
            fix = False
    archive = _archive(members, fix_digests=fix, sign=fix)
    if mutation == "truncate":
        archive = archive[: data.draw(st.integers(0, len(archive)))]
    elif mutation == "flip":
        at = data.draw(st.integers(0, len(archive) - 1))
        flipped = bytes([archive[at] ^ data.draw(st.integers(1, 255))])
        archive = archive[:at] + flipped + archive[at + 1:]
    _load_or_model_file_error(archive, tmp_path_factory.mktemp("fuzz"))


def test_the_unmutated_file_loads_and_predicts(tmp_path):
    members, X = _saved()
    path = tmp_path / "m.tabmtl"
    path.write_bytes(_archive(members, fix_digests=True, sign=True))
    assert load_model(path, key=KEY).predict(X).shape[0] == len(X)
