"""A blend file's HistGradientBoosting trees are untrusted input: checked before use.

scikit-learn walks a tree without bounds checks, so a node table edited in a file (a
child index past the table or back up the tree, a feature or bitset index out of range,
a category code past 255) would read outside memory or loop for ever. Every such edit,
with the file's digests rewritten to match, must be a ModelFileError at load.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from conftest import make_mixed
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from tabmtl import MultiTaskBlend, MultiTaskEstimator, load_model, save_model
from tabmtl.io._model_json import ModelFileError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, Y = make_mixed(n=80, seed=5, missing=0.1)
    blend = MultiTaskBlend(
        MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(8,), random_state=0),
        regressor=HistGradientBoostingRegressor(max_iter=5),
        classifier=HistGradientBoostingClassifier(max_iter=5), cv=2,
    ).fit(X, Y)
    path = save_model(blend, tmp_path_factory.mktemp("histgb") / "blend.tabmtl")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return path, members, blend, X


def _rewrite(path, members):
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = {
        n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != "manifest.json"
    }
    members = {**members, "manifest.json": json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)


def _edit_arrays(members, edit):
    """Apply ``edit(arrays)`` to the first HistGB model's arrays in ``members``."""
    name = next(n for n in sorted(members) if n.startswith("boosters/") and n.endswith(".npz"))
    with np.load(io.BytesIO(members[name]), allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    edit(arrays)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return {**members, name: out.getvalue()}


def _first_split(nodes):
    return int(np.flatnonzero(nodes["is_leaf"] == 0)[0])


def _child_past_the_table(a):
    nodes = a["tree_0_0_nodes"]
    nodes["left"][_first_split(nodes)] = len(nodes) + 1000


def _child_back_up_the_tree(a):
    nodes = a["tree_0_0_nodes"]
    i = _first_split(nodes)
    nodes["right"][i] = i  # a cycle: the walk would never reach a leaf


def _feature_past_the_row(a):
    nodes = a["tree_0_0_nodes"]
    nodes["feature_idx"][_first_split(nodes)] = 10_000


def _bitset_past_the_bitsets(a):
    nodes = a["tree_0_0_nodes"]
    i = _first_split(nodes)
    nodes["is_categorical"][i], nodes["bitset_idx"][i] = 1, 10_000


def _category_code_past_255(a):
    categorical = np.flatnonzero(a["mapper_is_categorical"])
    a[f"thresholds_{categorical[0]}"] = np.array([0.0, 1.0, 4096.0])


def _not_a_node_table(a):
    a["tree_0_0_nodes"] = np.zeros(3, dtype=np.float64)


@pytest.mark.parametrize(
    "edit",
    [_child_past_the_table, _child_back_up_the_tree, _feature_past_the_row,
     _bitset_past_the_bitsets, _category_code_past_255, _not_a_node_table],
)  # fmt: skip
def test_an_unsafe_tree_edit_is_refused_at_load(saved, tmp_path, edit):
    _, members, _, _ = saved
    path = tmp_path / "edited.tabmtl"
    _rewrite(path, _edit_arrays(members, edit))
    with pytest.raises(ModelFileError, match="HistGradientBoosting"):
        load_model(path)


def test_an_unedited_histgb_blend_loads_and_predicts_the_same(saved, tmp_path):
    _, members, blend, X = saved
    copy = tmp_path / "copy.tabmtl"
    _rewrite(copy, members)
    loaded = load_model(copy)
    assert loaded.predict(X).equals(blend.predict(X))
