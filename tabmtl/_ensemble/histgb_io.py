"""A fitted HistGradientBoosting model as JSON and plain arrays, and back, without pickle.

scikit-learn's HistGradientBoosting has no file format of its own. What its prediction
reads is small and plain: the trees (:class:`TreePredictor` node tables and category
bitsets), the baseline raw prediction, the bin mapper's known categories, and the
ordinal encoding of the categorical columns (an ``OrdinalEncoder`` inside a
``ColumnTransformer`` when the model split on pandas categories). :func:`histgb_state`
writes those as tagged JSON (:mod:`tabmtl.io._model_json`) plus numeric arrays (saved
with ``numpy.savez``, read back with ``allow_pickle=False``); :func:`histgb_from_state`
builds a model of the same class and parameters, sets them back, and predicts exactly
as the original did. The encoder is rebuilt as :class:`OrdinalColumns`, which maps a
category to its position among the fitted ones and anything else to NaN, as the
original encoder does.

Only the state that prediction needs is kept (no training scores, no early-stopping
state), and these are scikit-learn's private attributes: a file is loaded only by the
scikit-learn minor version that wrote it (checked, with a message naming both).

Examples
--------
>>> meta, arrays = histgb_state(model)  # doctest: +SKIP
>>> histgb_from_state(meta, arrays).predict(X)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.preprocessing import LabelEncoder

from tabmtl.io._model_json import ModelFileError, decode, encode

CLASSES = {
    "HistGradientBoostingRegressor": HistGradientBoostingRegressor,
    "HistGradientBoostingClassifier": HistGradientBoostingClassifier,
}


class OrdinalColumns:
    """The fitted HistGB preprocessor's transform: the categorical columns (positions
    ``categorical``) as their category's index in ``categories`` (NaN for a missing or
    unseen value), then the other columns as float64."""

    def __init__(self, is_categorical: np.ndarray, categories: list[list]):
        self.is_categorical = np.asarray(is_categorical, dtype=bool)
        self.categories = [list(c) for c in categories]

    def transform(self, X) -> np.ndarray:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        cat_idx = np.flatnonzero(self.is_categorical)
        num_idx = np.flatnonzero(~self.is_categorical)
        out = np.empty((len(frame), len(cat_idx) + len(num_idx)), dtype=np.float64)
        for j, (i, cats) in enumerate(zip(cat_idx, self.categories)):
            values = np.asarray(frame.iloc[:, i], dtype=object)
            codes = pd.Index(cats, dtype=object).get_indexer(values).astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        for j, i in enumerate(num_idx, start=len(cat_idx)):
            out[:, j] = np.asarray(frame.iloc[:, i], dtype=np.float64)
        return out


def _encoder_categories(model) -> list[list] | None:
    pre = model._preprocessor
    if pre is None:
        return None
    if isinstance(pre, OrdinalColumns):
        return pre.categories
    cats = pre.named_transformers_["encoder"].categories_
    return [[v for v in c.tolist() if not (isinstance(v, float) and np.isnan(v))] for c in cats]


def histgb_state(model, where: str = "model") -> tuple[dict, dict[str, np.ndarray]]:
    """What a fitted HistGradientBoosting model predicts with, as ``(meta, arrays)``:
    tagged-JSON-ready ``meta`` and a dict of numeric arrays for ``numpy.savez``."""
    cls = type(model)
    if cls.__name__ not in CLASSES or CLASSES[cls.__name__] is not cls:
        raise TypeError(f"{where} is a {cls.__name__}, not a HistGradientBoosting model.")
    mapper = model._bin_mapper
    arrays = {
        "baseline": np.asarray(model._baseline_prediction),
        "n_bins_non_missing": np.asarray(mapper.n_bins_non_missing_),
        "mapper_is_categorical": np.asarray(mapper.is_categorical_),
    }
    for f, thresholds in enumerate(mapper.bin_thresholds_):
        arrays[f"thresholds_{f}"] = np.asarray(thresholds)
    for it, trees in enumerate(model._predictors):
        for k, tree in enumerate(trees):
            arrays[f"tree_{it}_{k}_nodes"] = tree.nodes
            arrays[f"tree_{it}_{k}_binned"] = tree.binned_left_cat_bitsets
            arrays[f"tree_{it}_{k}_raw"] = tree.raw_left_cat_bitsets
    meta = {
        "class": cls.__name__,
        "sklearn": sklearn.__version__,
        "params": encode(model.get_params(), where),
        "n_iterations": len(model._predictors),
        "n_trees_per_iteration": int(model.n_trees_per_iteration_),
        "n_features_in": int(model.n_features_in_),
        "n_features": int(model._n_features),
        "feature_names_in": encode(getattr(model, "feature_names_in_", None), where),
        "is_categorical": encode(model.is_categorical_, where),
        "encoder_categories": encode(_encoder_categories(model), where),
        "classes": encode(getattr(model, "classes_", None), where),
        "n_bins": int(mapper.n_bins),
        "missing_values_bin_idx": int(mapper.missing_values_bin_idx_),
    }
    return meta, arrays


def _check_trees(meta: dict, arrays, where: str) -> None:
    """Refuse tree arrays that scikit-learn's prediction could not walk safely.

    Its tree walk is compiled without bounds checks: a child index past the node table,
    a feature index past the row, a bitset index past the bitsets or a category code past
    the 256 a bitset holds reads or writes outside memory, and a child pointing back up
    the tree loops for ever. scikit-learn numbers nodes depth first, so every child comes
    after its parent; requiring that also rules out cycles."""
    n_features = meta["n_features"]
    if not isinstance(n_features, int) or n_features != meta["n_features_in"] or n_features < 1:
        raise ModelFileError(f"{where}: its feature counts do not agree.")
    mapper_cat = np.asarray(arrays["mapper_is_categorical"])
    flags = decode(meta["is_categorical"])
    if mapper_cat.shape != (n_features,) or (flags is not None and len(flags) != n_features):
        raise ModelFileError(f"{where}: its categorical flags do not cover its features.")
    for f in np.flatnonzero(mapper_cat):
        known = np.asarray(arrays[f"thresholds_{f}"], dtype=np.float64)
        if known.size > 256 or ((known < 0) | (known > 255) | (known != np.floor(known))).any():
            raise ModelFileError(f"{where}: feature {f} has category codes outside 0-255.")
    for it in range(meta["n_iterations"]):
        for k in range(meta["n_trees_per_iteration"]):
            nodes = np.asarray(arrays[f"tree_{it}_{k}_nodes"])
            bitsets = [np.asarray(arrays[f"tree_{it}_{k}_{b}"]) for b in ("binned", "raw")]
            name = f"{where}, tree {it}/{k}"
            if nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1 or len(nodes) == 0:
                raise ModelFileError(f"{name}: its node table is not scikit-learn's.")
            if any(b.ndim != 2 or b.shape[1:] != (8,) or b.dtype != np.uint32 for b in bitsets) \
                    or bitsets[0].shape != bitsets[1].shape:
                raise ModelFileError(f"{name}: its category bitsets are malformed.")
            split = nodes["is_leaf"] == 0
            index = np.arange(len(nodes))[split]
            inner = nodes[split]
            bad = (
                (inner["left"] <= index) | (inner["right"] <= index)
                | (inner["left"] >= len(nodes)) | (inner["right"] >= len(nodes))
                | (inner["feature_idx"] < 0) | (inner["feature_idx"] >= n_features)
                | ((inner["is_categorical"] != 0) & (inner["bitset_idx"] >= len(bitsets[0])))
            )
            if bad.any():
                raise ModelFileError(
                    f"{name}: node {int(index[np.argmax(bad)])} points outside the tree, its "
                    "features or its bitsets."
                )


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def histgb_from_state(meta: dict, arrays) -> HistGradientBoostingRegressor:
    """The model :func:`histgb_state` described, predicting as the original did."""
    if meta.get("class") not in CLASSES:
        raise ModelFileError(f"Unknown HistGradientBoosting class {meta.get('class')!r}.")
    if _minor(meta["sklearn"]) != _minor(sklearn.__version__):
        raise ModelFileError(
            f"This HistGradientBoosting model was saved with scikit-learn {meta['sklearn']} "
            f"and this is {sklearn.__version__}; its private tree state is read only by the "
            "same minor version. Refit it, or install that scikit-learn."
        )
    _check_trees(meta, arrays, f"HistGradientBoosting model ({meta['class']})")
    model = CLASSES[meta["class"]](**decode(meta["params"]))
    model.n_trees_per_iteration_ = meta["n_trees_per_iteration"]
    model.n_features_in_ = meta["n_features_in"]
    model._n_features = meta["n_features"]
    names = decode(meta["feature_names_in"])
    if names is not None:
        model.feature_names_in_ = names
    model.is_categorical_ = decode(meta["is_categorical"])
    categories = decode(meta["encoder_categories"])
    model._preprocessor = (
        None if categories is None else OrdinalColumns(model.is_categorical_, categories)
    )
    classes = decode(meta["classes"])
    if classes is not None:
        model.classes_ = classes
        model._label_encoder = LabelEncoder()
        model._label_encoder.classes_ = classes
    mapper_cat = np.asarray(arrays["mapper_is_categorical"])
    mapper = _BinMapper(n_bins=meta["n_bins"])
    mapper.is_categorical_ = mapper_cat
    mapper.n_bins_non_missing_ = np.asarray(arrays["n_bins_non_missing"])
    mapper.missing_values_bin_idx_ = meta["missing_values_bin_idx"]
    mapper.bin_thresholds_ = [np.asarray(arrays[f"thresholds_{f}"]) for f in range(len(mapper_cat))]
    model._bin_mapper = mapper
    model._baseline_prediction = np.asarray(arrays["baseline"])
    model._predictors = [
        [
            TreePredictor(
                np.asarray(arrays[f"tree_{it}_{k}_nodes"]),
                np.asarray(arrays[f"tree_{it}_{k}_binned"]),
                np.asarray(arrays[f"tree_{it}_{k}_raw"]),
            )
            for k in range(meta["n_trees_per_iteration"])
        ]
        for it in range(meta["n_iterations"])
    ]
    model._loss = model._get_loss(sample_weight=None)
    return model
