"""A LightGBM model text read as untrusted input: checked before LightGBM parses it.

LightGBM's own parser trusts its input. A model text whose ``tree_sizes`` do not match
its trees, or whose tree arrays are shorter or longer than ``num_leaves`` says, aborts
the whole Python process (its tree parser runs in an OpenMP loop: ``terminate called
without an active exception``); a ``split_feature`` past the last feature or a child
index past the last node reads outside its arrays when predicting. A blend file holds
one such text per target, so :func:`check_lightgbm_text` checks, on the text alone and
before LightGBM sees it, everything the parser and the prediction walk rely on: the
header's counts, ``tree_sizes`` against the trees' actual positions, and every tree's
keys, array lengths, number formats and node, feature and category indices. A text
that fails any check is a :class:`~tabmtl.io._model_json.ModelFileError`.
"""

from __future__ import annotations

import itertools
import re

from tabmtl.io._model_json import ModelFileError

__all__ = ["check_lightgbm_text"]

_INT = re.compile(r"-?\d{1,10}")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|-?inf|nan", re.IGNORECASE)
#: tree key -> (number type, length: "internal" = num_leaves - 1, "leaf" = num_leaves)
_ARRAYS = {
    "split_feature": (_INT, "internal"), "split_gain": (_FLOAT, "internal"),
    "threshold": (_FLOAT, "internal"), "decision_type": (_INT, "internal"),
    "left_child": (_INT, "internal"), "right_child": (_INT, "internal"),
    "internal_value": (_FLOAT, "internal"), "internal_weight": (_FLOAT, "internal"),
    "internal_count": (_INT, "internal"), "leaf_value": (_FLOAT, "leaf"),
    "leaf_weight": (_FLOAT, "leaf"), "leaf_count": (_INT, "leaf"),
    "cat_boundaries": (_INT, None), "cat_threshold": (_INT, None),
}
_SCALARS = {"num_leaves": _INT, "num_cat": _INT, "is_linear": _INT, "shrinkage": _FLOAT}
_HEADER_KEYS = ("version", "num_class", "num_tree_per_iteration", "label_index",
                "max_feature_idx", "objective", "feature_names", "feature_infos",
                "tree_sizes", "monotone_constraints")
#: LightGBM's objectives for a regressor or a classifier (ranking is not a blend's).
_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape",
               "gamma", "tweedie", "binary", "multiclass", "multiclassova", "cross_entropy",
               "cross_entropy_lambda")
_REQUIRED_SPLITS = ("split_feature", "threshold", "decision_type", "left_child",
                    "right_child")


def check_lightgbm_text(text: str, n_features: int, where: str) -> None:
    """Refuse a LightGBM model text that LightGBM could not parse or predict with safely.

    Parameters
    ----------
    text : str
        The model, as ``Booster.model_to_string()`` writes it.
    n_features : int
        The number of feature columns the model must read (its ``max_feature_idx + 1``).
    where : str
        Names the model in error messages (e.g. ``"the boosting model of target 'y'"``).

    Raises
    ------
    ModelFileError
        Naming ``where`` and the first problem found.
    """
    def fail(problem: str):
        raise ModelFileError(f"{where}: {problem}; the file was edited or is damaged.")

    if not isinstance(text, str):
        fail("the model text is not a string")
    data = text.encode()
    start = data.find(b"\nTree=")
    end = data.find(b"\nend of trees")
    if start < 0 or end < start:
        fail("no trees between the header and 'end of trees'")
    header = _key_values(data[:start].decode(), fail)
    max_feature = _int(header.get("max_feature_idx"), "max_feature_idx", fail)
    if max_feature + 1 != n_features:
        fail(f"max_feature_idx is {max_feature}, the model reads {n_features} features")
    if len(header.get("feature_names", "").split(" ")) != n_features:
        fail("feature_names does not list one name per feature")
    _check_header(header, n_features, fail)
    per_iteration = _int(header.get("num_tree_per_iteration"), "num_tree_per_iteration", fail)
    num_class = _int(header.get("num_class"), "num_class", fail)
    if per_iteration < 1 or num_class not in (1, per_iteration):
        fail(f"num_class {num_class} does not fit num_tree_per_iteration {per_iteration}")
    trees = data[start + 1:end + 1]
    blocks = [b for b in trees.split(b"\n\n") if b.strip()]
    if not blocks or len(blocks) % per_iteration:
        fail(f"{len(blocks)} trees is not a whole number of {per_iteration}-tree iterations")
    if "tree_sizes" in header:
        _check_tree_sizes(header["tree_sizes"], trees, len(blocks), fail)
    for i, block in enumerate(blocks):
        _check_tree(block.decode(), i, n_features, fail)
    _check_footer(data[end + 1:].decode(), fail)


def _key_values(text: str, fail) -> dict[str, str]:
    """The header's ``key=value`` lines; any other line but ``tree`` is refused."""
    out = {}
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if not sep and line in ("tree", "average_output", ""):
            continue
        if not sep or key not in _HEADER_KEYS or key in out:
            fail(f"its header has an unexpected line {line[:60]!r}")
        out[key] = value
    return out


def _check_header(header: dict, n_features: int, fail) -> None:
    """The header's values are of the form LightGBM writes (its parser indexes into them
    unchecked: an empty ``objective`` crashes it)."""
    if header.get("version") not in ("v2", "v3", "v4"):
        fail("its version is not v2, v3 or v4")
    objective = header.get("objective", "").split(" ")
    if objective[0] not in _OBJECTIVES or not all(
        re.fullmatch(r"[a-z_]+:" + _FLOAT.pattern, p, re.IGNORECASE) for p in objective[1:]
    ):
        fail(f"its objective {header.get('objective', '')[:60]!r} is not one LightGBM writes")
    _int(header.get("label_index"), "label_index", fail)
    infos = header.get("feature_infos", "").split(" ")
    if len(infos) != n_features or not all(
        info == "none" or re.fullmatch(r"\[[^\[\]:]+:[^\[\]:]+\]|-?\d+(:-?\d+)*", info)
        for info in infos
    ):
        fail("its feature_infos do not describe one feature each")


#: The lines after the trees, outside the parameters: importances, pandas' categories.
_FOOTER = re.compile(r"|end of trees|feature_importances:|[^=\n\[\]]+=\d+"
                     r"|pandas_categorical:[^\n]*")
_PARAMETER = re.compile(r"\[[A-Za-z0-9_]+: [^\n]*\]")


def _check_footer(text: str, fail) -> None:
    """Every line after the trees of a form LightGBM writes, the saved parameters
    between ``parameters:`` and ``end of parameters`` (a parameter line without ``": "``
    crashes LightGBM's reader of them)."""
    lines = text.split("\n")
    if lines.count("parameters:") > 1 or lines.count("end of parameters") > 1 or \
            ("parameters:" in lines) != ("end of parameters" in lines):
        fail("the parameters after its trees are not one 'parameters:' section")
    inside = False
    for line in lines:
        if line in ("parameters:", "end of parameters"):
            inside = line == "parameters:"
        elif line and not (_PARAMETER if inside else _FOOTER).fullmatch(line):
            fail(f"an unexpected line {line[:60]!r} after its trees")
    if inside:
        fail("its parameters section does not end")


def _int(value, name: str, fail) -> int:
    if value is None or not _INT.fullmatch(value):
        fail(f"{name} is missing or not an integer")
    return int(value)


def _check_tree_sizes(sizes: str, trees: bytes, n_trees: int, fail) -> None:
    """``tree_sizes`` must give each tree's length: LightGBM jumps to each tree by them."""
    parts = sizes.split(" ")
    if len(parts) != n_trees or not all(_INT.fullmatch(p) and int(p) > 0 for p in parts):
        fail(f"tree_sizes does not give a positive size for each of the {n_trees} trees")
    offset = 0
    for i, size in enumerate(map(int, parts)):
        if not trees.startswith(f"Tree={i}\n".encode(), offset):
            fail(f"tree_sizes do not match the trees (tree {i} is not where they put it)")
        offset += size
    if offset != len(trees):
        fail("tree_sizes do not add up to the trees' length")


def _check_tree(block: str, i: int, n_features: int, fail) -> None:
    lines = block.strip("\n").split("\n")
    if lines[0] != f"Tree={i}":
        fail(f"tree {i} does not start with 'Tree={i}'")
    values = {}
    for line in lines[1:]:
        key, sep, value = line.partition("=")
        if not sep or key in values or (key not in _ARRAYS and key not in _SCALARS):
            fail(f"tree {i} has an unexpected line {line[:60]!r}")
        values[key] = value
    for key, pattern in _SCALARS.items():
        if key in values and not pattern.fullmatch(values[key]):
            fail(f"tree {i}'s {key} is not a number")
    leaves = _int(values.get("num_leaves"), f"tree {i}'s num_leaves", fail)
    n_cat = _int(values.get("num_cat"), f"tree {i}'s num_cat", fail)
    if leaves < 1 or n_cat < 0 or values.get("is_linear", "0") != "0":
        fail(f"tree {i} has num_leaves {leaves}, num_cat {n_cat} or a linear model")
    if "leaf_value" not in values or (leaves > 1 and any(k not in values
                                                         for k in _REQUIRED_SPLITS)):
        fail(f"tree {i} lacks its split or leaf arrays")
    arrays = {}
    for key, (pattern, length) in _ARRAYS.items():
        if key not in values:
            continue
        items = values[key].split(" ") if values[key] else []
        expected = {"internal": leaves - 1, "leaf": leaves}.get(length)
        if leaves == 1 and key != "leaf_value" and length == "leaf" and not items:
            expected = 0  # a one-leaf tree lists its leaf's value only
        if expected is not None and len(items) != expected:
            fail(f"tree {i}'s {key} has {len(items)} values, num_leaves {leaves} needs "
                 f"{expected}")
        if not all(pattern.fullmatch(v) for v in items):
            fail(f"tree {i}'s {key} holds a value that is not a number")
        arrays[key] = [int(v) for v in items] if pattern is _INT else items
    if leaves == 1:
        return
    if any(not 0 <= f < n_features for f in arrays["split_feature"]):
        fail(f"tree {i} splits on a feature past the last of {n_features}")
    # a tree: the root no one's child, every other node and every leaf exactly one's (so
    # the walk from the root ends at a leaf: no cycle, no index past the arrays)
    children = arrays["left_child"] + arrays["right_child"]
    if sorted(c for c in children if c >= 0) != list(range(1, leaves - 1)) or \
            sorted(~c for c in children if c < 0) != list(range(leaves)):
        fail(f"tree {i}'s left_child / right_child do not form a tree of {leaves - 1} "
             f"nodes and {leaves} leaves")
    categorical = [n for n, d in enumerate(arrays["decision_type"]) if d & 1]
    if any(not 0 <= d <= 127 for d in arrays["decision_type"]):
        fail(f"tree {i}'s decision_type is out of range")
    if categorical or n_cat:
        bounds, bits = arrays.get("cat_boundaries"), arrays.get("cat_threshold")
        if bounds is None or bits is None or len(bounds) != n_cat + 1 or bounds[0] != 0 \
                or any(a > b for a, b in itertools.pairwise(bounds)) or bounds[-1] != len(bits) \
                or any(b < 0 or b >= 1 << 32 for b in bits):
            fail(f"tree {i}'s categorical splits (cat_boundaries, cat_threshold) are malformed")
        for n in categorical:
            index = arrays["threshold"][n]
            if not _INT.fullmatch(index) or not 0 <= int(index) < n_cat:
                fail(f"tree {i}'s categorical split {n} points past its {n_cat} category sets")
