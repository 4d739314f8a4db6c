"""Save and load fitted estimators without pickle.

A model file (suffix ``.tabmtl`` by convention) is a zip archive of three members:

``manifest.json``
    Format name and version, the tabmtl version that wrote it, the estimator class, the
    SHA-256 of every other member and, when a ``key`` was given, an HMAC-SHA256 over
    those digests.
``model.json``
    The estimator's parameters and its fitted state: target kinds and their encodings,
    the feature preprocessor's statistics and categories, the training history (one
    row per epoch), and any other fitted attribute. Values are tagged JSON (tuples,
    arrays, dtypes and non-string dict keys survive the round trip).
``weights.pt``
    The network's and the loss module's ``state_dict`` — tensors only, read back with
    ``torch.load(weights_only=True)``.

Nothing in the file names code to import: classes are looked up by name in tabmtl's own
registries (estimators, target kinds, architectures, weightings), so loading a file
cannot run arbitrary code the way unpickling can. Pickle keeps working for
scikit-learn users who want it (``joblib.dump`` / ``pickle.dumps``).

The digests catch a truncated, corrupted or edited file. They cannot tell a deliberate
edit that also rewrote the manifest; pass the same secret ``key`` to :func:`save_model`
and :func:`load_model` for that (an HMAC only the key holder can produce).
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

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

FORMAT = "tabmtl-model"
FORMAT_VERSION = 1
_MEMBERS = ("model.json", "weights.pt")
# Fitted objects saved through their own explicit state, not the generic attribute walk.
_STRUCTURED = ("net_", "target_spec_", "preprocessor_")
# Parameters that hold code (callbacks) are not saved; the loaded model has the default.
_CODE_PARAMS = ("callbacks",)


class ModelFileError(ValueError):
    """A model file cannot be loaded: not a tabmtl model, damaged, or the wrong version."""


def save_model(estimator, path: str | os.PathLike, *, key: bytes | str | None = None) -> Path:
    """Write a fitted tabmtl estimator to ``path`` in the safe, pickle-free format.

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        A fitted estimator.
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
    >>> from tabmtl.io.persistence import save_model, load_model
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> model = MultiTaskRegressor(max_epochs=2, random_state=0).fit(X, X[:, :2])
    >>> import tempfile, os
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.tabmtl"))
    >>> np.array_equal(load_model(path).predict(X), model.predict(X))
    True
    """
    from tabmtl import __version__
    from tabmtl.training.callbacks import epoch_rows

    cls_name = type(estimator).__name__
    if cls_name not in _estimator_classes():
        raise TypeError(f"save_model saves tabmtl estimators, got {cls_name}.")
    check_is_fitted(estimator, "net_")
    model = {
        "params": _params_state(estimator),
        "fitted": {
            name: _encode(value, name)
            for name, value in vars(estimator).items()
            if name not in _STRUCTURED and name not in estimator.get_params(deep=False)
        },
        "target_spec": _target_spec_state(estimator.target_spec_),
        "preprocessor": _preprocessor_state(estimator.preprocessor_),
        "history": _encode(epoch_rows(estimator.net_.history), "history"),
    }
    net = estimator.net_
    weights = io.BytesIO()
    torch.save(
        {
            "module": {k: v.cpu() for k, v in net.module_.state_dict().items()},
            "criterion": {k: v.cpu() for k, v in net.criterion_.state_dict().items()},
        },
        weights,
    )
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
        "signature": None if key is None else _sign(key, cls_name, __version__, digests),
    }
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=1))
            for name, data in members.items():
                zf.writestr(name, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_model(
    path: str | os.PathLike,
    *,
    key: bytes | str | None = None,
    device: str | None = None,
    allow_version_mismatch: bool = False,
):
    """Load an estimator written by :func:`save_model`; predictions are identical.

    Parameters
    ----------
    path : str or path-like
        The model file.
    key : bytes or str, optional
        The secret the file was signed with; when given, a file without a valid
        signature is rejected.
    device : str, optional
        Torch device for the loaded network; defaults to the saved ``device`` (falling
        back to "cpu", with a warning, when that device is not available here).
    allow_version_mismatch : bool, default=False
        Load a file written by another tabmtl version instead of raising.

    Returns
    -------
    estimator
        The fitted estimator, with ``callbacks=None`` (callbacks are code, not saved).

    Raises
    ------
    ModelFileError
        The file is missing, not a tabmtl model, truncated, modified (digest or signature
        mismatch), or from another tabmtl / format version.
    """
    from tabmtl import __version__

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {str(path)!r} does not exist.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [m for m in ("manifest.json", *_MEMBERS) if m not in names]
            if missing:
                raise ModelFileError(
                    f"{str(path)!r} is not a tabmtl model file (missing {missing!r})."
                )
            manifest = json.loads(zf.read("manifest.json"))
            members = {name: zf.read(name) for name in _MEMBERS}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(
            f"{str(path)!r} is not a readable tabmtl model file; it may be truncated or "
            f"corrupted ({type(exc).__name__}: {exc})."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a tabmtl model file.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model format version {version!r}; this tabmtl "
            f"({__version__}) reads version {FORMAT_VERSION}."
        )
    saved_version = manifest.get("tabmtl_version")
    if saved_version != __version__ and not allow_version_mismatch:
        raise ModelFileError(
            f"{str(path)!r} was saved with tabmtl {saved_version}, this is tabmtl "
            f"{__version__}. Load it with tabmtl {saved_version}, or pass "
            "allow_version_mismatch=True to try anyway."
        )
    digests = manifest.get("members", {})
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != digests.get(name):
            raise ModelFileError(
                f"{str(path)!r} is damaged or was modified: the digest of {name!r} does "
                "not match its manifest."
            )
    cls_name = manifest.get("estimator")
    if key is not None:
        expected = _sign(key, cls_name, saved_version, digests)
        if not hmac.compare_digest(str(manifest.get("signature")), expected):
            raise ModelFileError(
                f"{str(path)!r} does not carry a valid signature for this key: it was not "
                "written by a key holder, or it was modified."
            )
    classes = _estimator_classes()
    if cls_name not in classes:
        raise ModelFileError(f"{str(path)!r} names an unknown estimator {cls_name!r}.")
    try:
        model = json.loads(members["model.json"])
        state = torch.load(io.BytesIO(members["weights.pt"]), weights_only=True, map_location="cpu")
        return _rebuild(classes[cls_name], model, state, device)
    except ModelFileError:
        raise
    except Exception as exc:  # a consistent but wrong file: say so, don't dump internals
        raise ModelFileError(
            f"{str(path)!r} could not be rebuilt into a {cls_name}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


# -- rebuilding ------------------------------------------------------------------------


def _rebuild(cls, model: dict, state: dict, device: str | None):
    from tabmtl.data.features import FeaturePreprocessor
    from tabmtl.data.targets import TARGET_KINDS, TargetSpec

    estimator = cls(**{name: _decode(value) for name, value in model["params"].items()})
    for name, value in model["fitted"].items():
        setattr(estimator, name, _decode(value))

    spec_state = model["target_spec"]
    spec = TargetSpec(targets=_decode(spec_state["targets"]))
    tasks = []
    for task_state in spec_state["tasks"]:
        kind = task_state["kind"]
        if kind not in TARGET_KINDS:
            raise ModelFileError(f"Unknown target kind {kind!r} in the model file.")
        task = TARGET_KINDS[kind].__new__(TARGET_KINDS[kind])
        task.__dict__.update(_decode(task_state["state"]))
        tasks.append(task)
    spec.__dict__.update(_decode(spec_state["fitted"]))
    spec.tasks_ = tasks
    estimator.target_spec_ = spec

    pre = FeaturePreprocessor(**_decode(model["preprocessor"]["params"]))
    pre.__dict__.update(_decode(model["preprocessor"]["fitted"]))
    pre.numeric_ = None  # the sklearn pipeline is not saved; its statistics are
    estimator.preprocessor_ = pre

    if device is not None:
        estimator.device = device
    elif str(estimator.device).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"The model was saved with device={estimator.device!r}, which is not available "
            "here; it is loaded on 'cpu'.",
            UserWarning,
            stacklevel=3,
        )
        estimator.device = "cpu"
    net = estimator._build_net(seed=0)
    net.initialize()
    net.module_.load_state_dict(state["module"])
    net.criterion_.load_state_dict(state["criterion"])
    net.history = History(_decode(model["history"]))
    estimator.net_ = net
    return estimator


def _estimator_classes() -> dict[str, type]:
    from tabmtl.estimators import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor

    return {c.__name__: c for c in (MultiTaskEstimator, MultiTaskRegressor, MultiTaskClassifier)}


def _params_state(estimator) -> dict:
    params = estimator.get_params(deep=False)
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
            out[name] = _encode(value, name)
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
    return {
        "targets": _encode(spec.targets, "targets"),
        "tasks": [
            {"kind": task.kind, "state": _encode(vars(task), f"target {task.name!r}")}
            for task in spec.tasks_
        ],
        "fitted": _encode(
            {k: v for k, v in vars(spec).items() if k not in ("targets", "tasks_")},
            "target_spec_",
        ),
    }


def _preprocessor_state(pre) -> dict:
    params = pre.get_params(deep=False)
    return {
        "params": _encode(params, "preprocessor params"),
        "fitted": _encode(
            {k: v for k, v in vars(pre).items() if k not in params and k != "numeric_"},
            "preprocessor_",
        ),
    }


def _sign(key: bytes | str, cls_name: str, version: str, digests: Mapping) -> str:
    key = key.encode() if isinstance(key, str) else bytes(key)
    message = json.dumps([FORMAT, cls_name, version, dict(sorted(digests.items()))])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


# -- tagged JSON -----------------------------------------------------------------------
# Plain JSON loses tuples, arrays, dtypes and non-string keys; each gets a one-key tag.


def _encode(value, where: str):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.generic):
        return {"__scalar__": [value.dtype.str, value.item()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, Mapping):
        return {"__dict__": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    if isinstance(value, slice):
        return {"__slice__": [value.start, value.stop, value.step]}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"__objects__": [_encode(v, where) for v in value.tolist()]}
        return {"__array__": [value.dtype.str, list(value.shape), value.ravel().tolist()]}
    if isinstance(value, pd.Index):
        return {"__index__": [_encode(value.dtype, where), _encode(list(value), where)]}
    if isinstance(value, pd.Timestamp):
        return {"__timestamp__": value.isoformat()}
    if isinstance(value, pd.CategoricalDtype):
        return {"__categorical__": [_encode(value.categories, where), bool(value.ordered)]}
    if isinstance(value, pd.StringDtype):
        na = "NA" if value.na_value is pd.NA else "nan"
        return {"__string__": [value.storage, na]}
    if isinstance(value, np.dtype):
        return {"__dtype__": value.str}
    if isinstance(value, pd.api.extensions.ExtensionDtype):
        return {"__pandas_dtype__": str(value)}
    from tabmtl.nn.architectures import ARCHITECTURES, Architecture
    from tabmtl.nn.weighting import WEIGHTINGS, Weighting

    for base, registry in ((Architecture, ARCHITECTURES), (Weighting, WEIGHTINGS)):
        if isinstance(value, base):
            name = next((n for n, c in registry.items() if type(value) is c), None)
            if name is None:
                raise TypeError(
                    f"{where}: {type(value).__name__} is not a registered tabmtl class and "
                    "cannot be saved without pickle."
                )
            return {"__config__": [base.__name__, name, _encode(value.get_params(False), where)]}
    raise TypeError(
        f"{where}: a value of type {type(value).__name__} cannot be saved without pickle."
    )


def _decode(obj):
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) != 1:
        raise ModelFileError(f"Unexpected object in the model file: {sorted(obj)[:3]!r}.")
    (tag, body), = obj.items()
    if tag == "__tuple__":
        return tuple(_decode(v) for v in body)
    if tag == "__dict__":
        return {_freeze(_decode(k)): _decode(v) for k, v in body}
    if tag == "__scalar__":
        return np.dtype(_plain_dtype(body[0])).type(body[1])
    if tag == "__slice__":
        return slice(*body)
    if tag == "__array__":
        dtype, shape, flat = body
        return np.asarray(flat, dtype=np.dtype(_plain_dtype(dtype))).reshape(shape)
    if tag == "__objects__":
        out = np.empty(len(body), dtype=object)
        out[:] = [_decode(v) for v in body]
        return out
    if tag == "__index__":
        return pd.Index(_decode(body[1]), dtype=_decode(body[0]))
    if tag == "__timestamp__":
        return pd.Timestamp(body)
    if tag == "__categorical__":
        return pd.CategoricalDtype(_decode(body[0]), ordered=body[1])
    if tag == "__string__":
        return pd.StringDtype(body[0], na_value=pd.NA if body[1] == "NA" else np.nan)
    if tag == "__dtype__":
        return np.dtype(str(body))
    if tag == "__pandas_dtype__":
        return pd.api.types.pandas_dtype(body)
    if tag == "__config__":
        from tabmtl.nn.architectures import ARCHITECTURES
        from tabmtl.nn.weighting import WEIGHTINGS

        registry = {"Architecture": ARCHITECTURES, "Weighting": WEIGHTINGS}.get(body[0], {})
        if body[1] not in registry:
            raise ModelFileError(f"Unknown {body[0]} {body[1]!r} in the model file.")
        return registry[body[1]](**_decode(body[2]))
    raise ModelFileError(f"Unknown tag {tag!r} in the model file.")


def _plain_dtype(text: str) -> str:
    # only data dtypes: an object dtype string here would be a crafted file
    if not isinstance(text, str) or "O" in text:
        raise ModelFileError(f"Unexpected dtype {text!r} in the model file.")
    return text


def _freeze(key):
    """Dict keys must be hashable: decoded lists (from tuples' JSON) become tuples."""
    return tuple(key) if isinstance(key, list) else key
