"""Save and load fitted estimators without pickle.

A model file (suffix ``.tabmtl`` by convention) is a zip archive of three members:

``manifest.json``
    Format name and version, the tabmtl version that wrote it, the estimator class, the
    SHA-256 of every other member and, when a ``key`` was given, an HMAC-SHA256 over
    those digests.
``model.json``
    The estimator's parameters and its fitted state: target kinds and their encodings,
    the feature preprocessor's statistics and categories, the training history (one
    row per epoch), and any other fitted attribute, as the estimator's ``get_state``
    gives them. Values are tagged JSON (:mod:`tabmtl.io._model_json`: tuples, arrays,
    dtypes and non-string dict keys survive the round trip).
``weights.pt``
    The network's and the loss module's ``state_dict`` — tensors only, read back with
    ``torch.load(weights_only=True)``.

A fitted :class:`~tabmtl.MultiTaskBlend` is saved and loaded by the same two
functions, as a blend archive with the same manifest and checks (:mod:`tabmtl.io._blend_file`).

Nothing in the file names code to import: classes are looked up by name in tabmtl's own
registries (estimators, target kinds, architectures, weightings), so loading a file
cannot run arbitrary code the way unpickling can. Pickle keeps working for
scikit-learn users who want it (``joblib.dump`` / ``pickle.dumps``).

The digests catch a truncated, corrupted or edited file. They cannot tell a deliberate
edit that also rewrote the manifest; pass the same secret ``key`` to :func:`save_model`
and :func:`load_model` for that (an HMAC only the key holder can produce). Loading a
signed file without its key works, with a warning that the signature went unchecked
(``verify_signature=False`` says that is intended and silences it).

Every file is treated as untrusted input. Loading reads the file and touches nothing
else on disk (a saved ``checkpoint_dir`` is kept as a parameter for a later ``fit``, not
created); what the file may ask for is bounded by what it holds (a member may not claim
to inflate beyond ``MAX_INFLATION`` times its compressed size, an array not beyond its
listed values, the network not beyond its saved weights: :mod:`tabmtl.io._model_file_checks`);
and whatever is wrong with it comes out as a :class:`ModelFileError`, never as another
exception.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import platform
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import sklearn
import torch
from sklearn.utils.validation import check_is_fitted

from tabmtl.io._blend_file import is_blend_file, load_blend_file
from tabmtl.io._model_file_checks import (
    FORMAT,
    FORMAT_VERSION,
    MAX_MANIFEST_BYTES,
    MEMBERS,
    check_archive_start,
    check_manifest,
    check_network_size,
    read_member,
    self_check,
    short_repr,
    sign,
    write_archive,
)
from tabmtl.io._model_json import ModelFileError, decode, encode

__all__ = ["FORMAT_VERSION", "ModelFileError", "load_model", "save_model"]
_sign = sign  # the signature of a model file (also under its former name here)
# Parameters that hold code (callbacks) are not saved; the loaded model has the default.
_CODE_PARAMS = ("callbacks",)


def save_model(estimator, path: str | os.PathLike, *, key: bytes | str | None = None) -> Path:
    """Write a fitted tabmtl estimator to ``path`` in the safe, pickle-free format.

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor, MultiTaskClassifier or MultiTaskBlend
        A fitted estimator. A blend is written as its own archive
        (``tabmtl.io._blend_file.save_blend_file``), signed the same way.
    path : str or path-like
        Destination file (``.tabmtl`` by convention); written atomically (a temporary
        file renamed into place), so a crash never leaves half a model under ``path``.
    key : bytes or str, optional
        Secret for an HMAC-SHA256 signature; :func:`load_model` with the same key then
        rejects any file not written by a key holder.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import numpy as np
    >>> from tabmtl import MultiTaskRegressor
    >>> from tabmtl.io._persistence import save_model, load_model
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> model = MultiTaskRegressor(max_epochs=2, random_state=0).fit(X, X[:, :2])
    >>> import tempfile, os
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.tabmtl"))
    >>> np.array_equal(load_model(path).predict(X), model.predict(X))
    True
    """
    from tabmtl import __version__

    cls_name = type(estimator).__name__
    if cls_name == "MultiTaskBlend":
        from tabmtl.io._blend_file import save_blend_file

        return save_blend_file(estimator, path, key=key)
    if cls_name not in _estimator_classes():
        raise TypeError(f"save_model saves tabmtl estimators, got {cls_name}.")
    check_is_fitted(estimator, "net_")
    state = estimator.get_state()
    model = {
        "params": _params_state(state["params"]),
        "fitted": {name: encode(value, name) for name, value in state["fitted"].items()},
        "target_spec": _target_spec_state(state["target_spec"]),
        "preprocessor": _preprocessor_state(state["preprocessor"]),
        "history": encode(state["history"], "history"),
    }
    weights = io.BytesIO()
    torch.save(state["weights"], weights)
    members = {
        "model.json": json.dumps(model, separators=(",", ":")).encode(),
        "weights.pt": weights.getvalue(),
    }
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tabmtl_version": __version__,
        "estimator": cls_name,
        "members": digests,
        "written_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
        },
        "signature": None if key is None else sign(key, cls_name, __version__, digests),
    }
    return write_archive(Path(path), manifest, members)


def load_model(
    path: str | os.PathLike,
    *,
    key: bytes | str | None = None,
    device: str | None = None,
    allow_version_mismatch: bool = False,
    verify_signature: bool = True,
):
    """Load an estimator written by :func:`save_model`; predictions are identical.

    Parameters
    ----------
    path : str or path-like
        The model file.
    key : bytes or str, optional
        The secret the file was signed with; when given, a file without a valid
        signature is rejected. Without it, a signed file still loads, with a
        ``UserWarning`` that its signature was not checked.
    device : str, optional
        Torch device for the loaded network; defaults to the saved ``device`` (falling
        back to "cpu", with a warning, when that device is not available here).
    allow_version_mismatch : bool, default=False
        Load a file written by another tabmtl version instead of raising.
    verify_signature : bool, default=True
        False loads a signed file without its ``key`` and without the warning (the
        caller knowingly skips the check). Ignored when ``key`` is given.

    Returns
    -------
    estimator
        The fitted estimator, with ``callbacks=None`` (callbacks are code, not saved); a
        :class:`~tabmtl.MultiTaskBlend` for a blend file
        (``tabmtl.io._blend_file.load_blend_file``, the same checks and options).

    Raises
    ------
    ModelFileError
        The file is missing, not a tabmtl model, truncated, modified (digest or signature
        mismatch), or from another tabmtl / format version.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from tabmtl import MultiTaskRegressor, load_model, save_model
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> model = MultiTaskRegressor(max_epochs=2, random_state=0).fit(X, X[:, :2])
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.tabmtl"))
    >>> np.array_equal(load_model(path).predict(X), model.predict(X))
    True
    """
    from tabmtl import __version__

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {str(path)!r} does not exist.")
    if is_blend_file(path):
        return load_blend_file(path, key=key, device=device, verify_signature=verify_signature,
                               allow_version_mismatch=allow_version_mismatch)
    try:
        with zipfile.ZipFile(path) as zf:
            check_archive_start(zf, path)
            names = set(zf.namelist())
            missing = [m for m in ("manifest.json", *MEMBERS) if m not in names]
            if missing:
                raise ModelFileError(
                    f"{str(path)!r} is not a tabmtl model file (missing {missing!r})."
                )
            manifest = json.loads(read_member(zf, "manifest.json", path, MAX_MANIFEST_BYTES))
            members = {name: read_member(zf, name, path) for name in MEMBERS}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError,
            RecursionError, NotImplementedError, RuntimeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(
            f"{str(path)!r} is not a readable tabmtl model file; it may be truncated or "
            f"corrupted ({type(exc).__name__}: {short_repr(exc)})."
        ) from None
    digests, cls_name, saved_version, signature = check_manifest(
        manifest, path, __version__, allow_version_mismatch
    )
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != digests.get(name):
            raise ModelFileError(
                f"{str(path)!r} is damaged or was modified: the digest of {name!r} does "
                "not match its manifest."
            )
    if key is not None:
        expected = sign(key, cls_name, saved_version, digests)
        if not hmac.compare_digest(str(signature), expected):
            raise ModelFileError(
                f"{str(path)!r} does not carry a valid signature for this key: it was not "
                "written by a key holder, or it was modified."
            )
    elif signature is not None and verify_signature:
        warnings.warn(
            f"{str(path)!r} is signed, but no `key` was given to load_model, so its "
            "signature was not checked: pass key=<the secret it was saved with> to verify "
            "it, or verify_signature=False to load it unverified without this warning.",
            UserWarning,
            stacklevel=2,
        )
    classes = _estimator_classes()
    if cls_name not in classes:
        raise ModelFileError(f"{str(path)!r} names an unknown estimator {short_repr(cls_name)}.")
    try:
        model = json.loads(members["model.json"])
        weights = torch.load(
            io.BytesIO(members["weights.pt"]), weights_only=True, map_location="cpu"
        )
        return _rebuild(classes[cls_name], model, weights, device)
    except ModelFileError:
        raise
    except Exception as exc:  # a consistent but wrong file: say so, don't dump internals
        raise ModelFileError(
            f"{str(path)!r} could not be rebuilt into a {cls_name}: "
            f"{type(exc).__name__}: {short_repr(exc)}"
        ) from exc


# -- rebuilding ------------------------------------------------------------------------


def _rebuild(cls, model: dict, weights: dict, device: str | None):
    from tabmtl._data.features import FeaturePreprocessor
    from tabmtl._data.targets import TARGET_KINDS, TargetSpec

    params = {name: decode(value) for name, value in model["params"].items()}
    spec_state = model["target_spec"]
    tasks = []
    for task_state in spec_state["tasks"]:
        kind = task_state["kind"]
        if kind not in TARGET_KINDS:
            raise ModelFileError(f"Unknown target kind {kind!r} in the model file.")
        state = decode(task_state["state"])
        tasks.append(_with_state(TARGET_KINDS[kind](state["name"]), state))
    targets = decode(spec_state["targets"])
    spec = _with_state(
        TargetSpec(targets=targets),
        {**decode(spec_state["fitted"]), "targets": targets, "tasks_": tasks},
    )
    pre_params = decode(model["preprocessor"]["params"])
    pre = _with_state(
        FeaturePreprocessor(**pre_params),
        # the sklearn pipeline is not saved, its statistics are: transform needs only them
        {**decode(model["preprocessor"]["fitted"]), **pre_params, "numeric_": None},
    )
    if device is not None:
        params["device"] = device
    elif str(params["device"]).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"The model was saved with device={params['device']!r}, which is not available "
            "here; it is loaded on 'cpu'.",
            UserWarning,
            stacklevel=3,
        )
        params["device"] = "cpu"
    fitted = {name: decode(value) for name, value in model["fitted"].items()}
    check_network_size(params, pre, weights)
    # the net is rebuilt without its Checkpoint callback, whose initialize creates the
    # directory: loading touches no file but the model's. The parameter is kept, so a
    # later fit of the loaded estimator checkpoints where the original did.
    checkpoint_dir = params.get("checkpoint_dir")
    estimator = cls.from_state(
        {**params, "checkpoint_dir": None}, fitted, spec, pre,
        history=decode(model["history"]), weights=weights,
    )
    estimator.checkpoint_dir = checkpoint_dir
    self_check(estimator)
    return estimator


def _with_state(obj, state: dict):
    """``obj`` given a saved ``state`` as unpickling gives it one (the pickle protocol:
    ``__setstate__`` where the class defines it, else the instance dict), with no pickle
    byte stream involved."""
    if hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:
        vars(obj).update(state)
    return obj


def _estimator_classes() -> dict[str, type]:
    from tabmtl._estimators import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor

    return {c.__name__: c for c in (MultiTaskEstimator, MultiTaskRegressor, MultiTaskClassifier)}


def _params_state(params: Mapping) -> dict:
    out = {}
    for name, value in params.items():
        if name in _CODE_PARAMS:
            if value:
                warnings.warn(
                    f"`{name}` holds code and is not saved; the loaded model has {name}=None "
                    "(it only matters for training).",
                    UserWarning,
                    stacklevel=3,
                )
            out[name] = None
            continue
        try:
            out[name] = encode(value, name)
        except TypeError as exc:
            if name != "net_kwargs":
                raise
            warnings.warn(
                f"net_kwargs is not saved ({exc}); the loaded model has net_kwargs=None "
                "(training options only).",
                UserWarning,
                stacklevel=3,
            )
            out[name] = None
    return out


def _target_spec_state(spec) -> dict:
    state = spec.__getstate__()
    return {
        "targets": encode(spec.targets, "targets"),
        "tasks": [
            {"kind": task.kind, "state": encode(task.__getstate__(), f"target {task.name!r}")}
            for task in spec.tasks_
        ],
        "fitted": encode(
            {k: v for k, v in state.items() if k not in ("targets", "tasks_")}, "target_spec_"
        ),
    }


def _preprocessor_state(pre) -> dict:
    params = pre.get_params(deep=False)
    state = pre.__getstate__()
    return {
        "params": encode(params, "preprocessor params"),
        "fitted": encode(
            {k: v for k, v in state.items() if k not in params and k != "numeric_"},
            "preprocessor_",
        ),
    }
