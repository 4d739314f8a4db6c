"""Save and load a fitted :class:`MultiTaskBlend` without pickle.

A blend file is a zip archive:

``blend.json``
    Format name and version, the blend's parameters (templates included), each task's
    learners and weights (and the ``task_blend_weights_`` / ``oof_scores_`` tables),
    conformal scores, temperatures and feature categories, as tagged JSON
    (:mod:`tabmtl.io._model_json`). The out-of-fold outputs (``oof_outputs_``,
    ``oof_fold_``, ``oof_losses_``) are not saved.
``net.tabmtl`` (and ``single_task/<i>.tabmtl``)
    The refitted net(s) in tabmtl's own safe format (:func:`tabmtl.io.save_model`).
``boosters/<j>/<i>.json`` (and ``.npz``)
    Boosting learner ``j``'s model of target ``i``: a LightGBM model in LightGBM's own
    text format (``booster_.model_to_string()``, pandas categories included); a
    HistGradientBoosting model as the tree arrays its prediction reads
    (:mod:`tabmtl._ensemble.histgb_io`: JSON plus a ``numpy.savez`` file read with
    ``allow_pickle=False``, loadable by the same scikit-learn minor version); or the
    one class of a constant model.

Any other boosting model (a user's template of another library) has no safe format
here, so a blend holding one is refused with a message naming its learner and target
(pickle it instead). The targets' encodings are the net's (the blend's target spec is
fitted on the same frame with the same kinds).

Examples
--------
>>> save_blend(blend, "model.blend")  # doctest: +SKIP
>>> load_blend("model.blend").predict(X)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tabmtl._ensemble.histgb_io import CLASSES, histgb_from_state, histgb_state
from tabmtl.errors import InputError, InputTypeError
from tabmtl.io._model_json import ModelFileError, decode, encode
from tabmtl.io._persistence import load_model, save_model

FORMAT, FORMAT_VERSION = "tabmtl-blend", 2
_PARAMS = (
    "boosting", "cv", "single_task", "n_steps", "selection", "temperature_scaling", "n_jobs",
    "random_state",
)
_LGBM_TEMPLATES = ("LGBMRegressor", "LGBMClassifier")


class LoadedBooster:
    """A LightGBM booster read from its text, with the fitted model's predict API."""

    def __init__(self, text: str, is_regression: bool, classes: list[int] | None):
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_str=text)
        self.is_regression = is_regression
        self.classes_ = None if classes is None else np.asarray(classes, dtype=np.int64)

    def predict(self, X):
        return self.booster_.predict(X)

    def predict_proba(self, X):
        p = np.asarray(self.booster_.predict(X), dtype=np.float64)
        return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p


def _booster_entry(model, learner: str, name) -> tuple[dict, dict | None]:
    """``(json entry, arrays or None)`` of one fitted boosting model."""
    if type(model).__name__ == "_ConstantClassifier":
        return {"constant": [int(c) for c in model.classes_]}, None
    if hasattr(model, "booster_") and type(model.booster_).__module__.startswith("lightgbm"):
        classes = getattr(model, "classes_", None)
        return {"text": model.booster_.model_to_string(),
                "classes": None if classes is None else [int(c) for c in classes]}, None
    if type(model) in CLASSES.values():
        meta, arrays = histgb_state(model, f"learner {learner!r} of target {name!r}")
        return {"histgb": meta}, arrays
    raise InputTypeError(
        f"The {learner!r} model of target {name!r} is a {type(model).__name__}, which has "
        "no safe file format; only LightGBM and HistGradientBoosting models can be saved "
        "(pickle the blend instead)."
    )


def _one_template(template, which: str) -> dict:
    cls = type(template)
    known = cls.__name__ in _LGBM_TEMPLATES and cls.__module__.startswith("lightgbm")
    if not (known or CLASSES.get(cls.__name__) is cls):
        raise InputTypeError(
            f"The {which} template is a {cls.__name__}; only LightGBM and "
            "HistGradientBoosting templates (or the default) can be saved without pickle."
        )
    return {"class": cls.__name__, "params": encode(template.get_params(), which)}


def _template_state(template, which: str):
    if template is None:
        return None
    if isinstance(template, Mapping):
        return {"named": [[k, _one_template(v, f"{which} {k!r}")] for k, v in template.items()]}
    return _one_template(template, which)


def _one_from_state(state):
    params = decode(state["params"])
    if state["class"] in CLASSES:
        return CLASSES[state["class"]](**params)
    if state["class"] not in _LGBM_TEMPLATES:
        raise ModelFileError(f"Unknown boosting template class {state['class']!r}.")
    import lightgbm as lgb

    return getattr(lgb, state["class"])(**params)


def _template(state):
    if state is None:
        return None
    if "named" in state:
        return {k: _one_from_state(v) for k, v in state["named"]}
    return _one_from_state(state)


def save_blend(blend, path: str | os.PathLike) -> Path:
    """Write a fitted blend to ``path`` (a zip archive, see the module docstring)."""
    if not hasattr(blend, "net_"):
        raise InputError("save_blend needs a fitted MultiTaskBlend; call fit first.")
    if not isinstance(blend.cv, (int, np.integer)):
        raise InputTypeError("Only a blend whose cv is an integer can be saved.")
    tasks = blend.target_spec_.tasks_
    boosting_names = [n for n in blend.learners_ if n in blend.boosters_]
    boosters = {
        (j, i): _booster_entry(blend.boosters_[learner][t.name], learner, t.name)
        for j, learner in enumerate(boosting_names)
        for i, t in enumerate(tasks)
        if t.name in blend.boosters_[learner]
    }
    params = {p: getattr(blend, p) for p in _PARAMS}
    state = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "params": encode(params, "params"),
        "regressor": _template_state(blend.regressor, "regressor"),
        "classifier": _template_state(blend.classifier, "classifier"),
        "learners": blend.learners_,
        "boosting_learners": boosting_names,
        "task_learners": [blend.task_learners_[t.name] for t in tasks],
        "weights": [blend.weights_[t.name].tolist() for t in tasks],
        "conformal": encode({k: np.asarray(v) for k, v in blend.conformal_scores_.items()},
                            "conformal_scores_"),
        "frame": encode({"columns": blend.frame_.columns_,
                         "categories": {c: list(v) for c, v in blend.frame_.categories_.items()}},
                        "frame_"),
        "n_features_in": int(blend.n_features_in_),
        "temperatures": encode(dict(blend.temperatures_), "temperatures_"),
        "tables": encode({"task_blend_weights_": blend.task_blend_weights_.to_dict("list"),
                          "oof_scores_": blend.oof_scores_.to_dict("index")}, "tables"),
    }
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path, "w") as archive:
        archive.writestr("blend.json", json.dumps(state))
        nets = {"net.tabmtl": blend.net_}
        nets.update({f"single_task/{i}.tabmtl": blend.single_task_nets_[t.name]
                     for i, t in enumerate(tasks) if t.name in blend.single_task_nets_})
        for member, net in nets.items():
            file = Path(tmp) / "net.tabmtl"
            save_model(net, file)
            archive.write(file, member)
        for (j, i), (entry, arrays) in boosters.items():
            archive.writestr(f"boosters/{j}/{i}.json", json.dumps(entry))
            if arrays is not None:
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                archive.writestr(f"boosters/{j}/{i}.npz", buffer.getvalue())
    return path


def _load_booster(archive: zipfile.ZipFile, j: int, i: int, task):
    from tabmtl._ensemble.boosting import _ConstantClassifier

    entry = json.loads(archive.read(f"boosters/{j}/{i}.json"))
    if "constant" in entry:
        return _ConstantClassifier().fit(None, entry["constant"])
    if "histgb" in entry:
        data = io.BytesIO(archive.read(f"boosters/{j}/{i}.npz"))
        with np.load(data, allow_pickle=False) as arrays:
            return histgb_from_state(entry["histgb"], arrays)
    return LoadedBooster(entry["text"], task.is_regression, entry["classes"])


def load_blend(path: str | os.PathLike, **load_options):
    """Read a blend written by :func:`save_blend`; its predictions are identical.
    ``load_options`` (``device``, ``allow_version_mismatch``) go to ``load_model`` for
    the nets inside."""
    import pandas as pd
    from sklearn.base import clone

    from tabmtl._ensemble.blend import MultiTaskBlend
    from tabmtl._ensemble.boosting import BoostingFrame

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Blend file {str(path)!r} does not exist.")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as archive:
        state = json.loads(archive.read("blend.json"))
        if state.get("format") != FORMAT or state.get("version") != FORMAT_VERSION:
            raise ModelFileError(f"{str(path)!r} is not a version-{FORMAT_VERSION} blend file.")
        archive.extractall(tmp)
        net = load_model(Path(tmp) / "net.tabmtl", **load_options)
        blend = MultiTaskBlend(
            clone(net), regressor=_template(state["regressor"]),
            classifier=_template(state["classifier"]), **decode(state["params"]),
        )
        blend.net_, blend.target_spec_ = net, net.target_spec_
        tasks = net.target_spec_.tasks_
        blend.learners_ = state["learners"]
        blend.task_learners_ = {t.name: list(n) for t, n in zip(tasks, state["task_learners"])}
        blend.weights_ = {t.name: np.asarray(w) for t, w in zip(tasks, state["weights"])}
        blend.single_task_nets_ = {
            t.name: load_model(Path(tmp) / "single_task" / f"{i}.tabmtl", **load_options)
            for i, t in enumerate(tasks)
            if (Path(tmp) / "single_task" / f"{i}.tabmtl").is_file()
        }
        blend.boosters_ = {
            learner: {
                t.name: _load_booster(archive, j, i, t)
                for i, t in enumerate(tasks)
                if learner in blend.task_learners_[t.name]
            }
            for j, learner in enumerate(state["boosting_learners"])
        }
    blend.conformal_scores_ = decode(state["conformal"])
    blend.temperatures_ = decode(state["temperatures"])
    frame = decode(state["frame"])
    blend.frame_ = BoostingFrame()
    blend.frame_.columns_ = frame["columns"]
    blend.frame_.categories_ = {
        c: pd.Index(v, dtype=object) for c, v in frame["categories"].items()
    }
    blend.n_features_in_ = state["n_features_in"]
    tables = decode(state["tables"])
    blend.task_blend_weights_ = pd.DataFrame(tables["task_blend_weights_"])
    blend.oof_scores_ = pd.DataFrame.from_dict(tables["oof_scores_"], orient="index")
    if hasattr(net, "feature_names_in_"):
        blend.feature_names_in_ = net.feature_names_in_
    return blend
