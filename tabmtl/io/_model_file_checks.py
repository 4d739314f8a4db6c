"""What a model file may ask for: the checks that treat every file as untrusted input.

:func:`tabmtl.io._persistence.load_model` reads a file through these: each member's size is
bounded by what the archive holds (:data:`MAX_INFLATION`), the manifest's fields must have
the types ``save_model`` writes, the network the parameters describe must fit in the
saved weights, and the rebuilt model must predict a row of missing values. Anything wrong
is a :class:`~tabmtl.io._model_json.ModelFileError`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import uuid
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tabmtl.io._model_json import ModelFileError

FORMAT = "tabmtl-model"
FORMAT_VERSION = 2  # 2: batched layers (issue 13) and input statistics (issue 14)
MEMBERS = ("model.json", "weights.pt")
#: Largest ratio of a member's size to its compressed size that a model file may claim
#: (its members compress 1.1x to ~20x; deflate itself goes to ~1000x on filler)
MAX_INFLATION = 200
MAX_MANIFEST_BYTES = 1 << 20


def read_member(zf: zipfile.ZipFile, name: str, path: Path, limit: int | None = None) -> bytes:
    """One member's bytes, refused before reading when it claims more than the archive
    can hold (:data:`MAX_INFLATION`) or more than ``limit`` bytes."""
    info = zf.getinfo(name)
    bound = MAX_INFLATION * max(info.compress_size, 1) + 4096
    if limit is not None:
        bound = min(bound, limit)
    if info.file_size > bound or info.compress_size > path.stat().st_size:
        raise ModelFileError(
            f"{str(path)!r}: member {name!r} claims {info.file_size} bytes from "
            f"{info.compress_size} compressed, more than a model file holds; refused."
        )
    with zf.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ModelFileError(
            f"{str(path)!r}: member {name!r} does not have the size its header gives."
        )
    return data


def check_archive_start(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse an archive that does not start at the file's first byte: a model file never
    has data before its archive, while a cut file can end inside a zip it holds (a blend's
    stored nets), which would otherwise be read in its place."""
    if zf.infolist() and min(info.header_offset for info in zf.infolist()) != 0:
        raise ModelFileError(
            f"{str(path)!r} is not a readable tabmtl model file: its archive does not start "
            "at the beginning of the file (it may be truncated)."
        )


def check_manifest(manifest, path: Path, version: str, allow_version_mismatch: bool):
    """The manifest's ``(digests, estimator, tabmtl_version, signature)``, each of the
    type save_model writes, or a ModelFileError saying which field is wrong."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a tabmtl model file.")
    format_version = manifest.get("format_version")
    if format_version != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model format version {short_repr(format_version)}; this tabmtl "
            f"({version}) reads version {FORMAT_VERSION}."
        )
    saved_version = manifest.get("tabmtl_version")
    if not isinstance(saved_version, str):
        raise ModelFileError(f"{str(path)!r}: the manifest's tabmtl_version is not a string.")
    if saved_version != version and not allow_version_mismatch:
        raise ModelFileError(
            f"{str(path)!r} was saved with tabmtl {saved_version[:50]}, this is tabmtl "
            f"{version}. Load it with tabmtl {saved_version[:50]}, or pass "
            "allow_version_mismatch=True to try anyway."
        )
    digests = manifest.get("members")
    if not isinstance(digests, dict) or not all(
        isinstance(digests.get(name), str) for name in MEMBERS
    ) or not all(isinstance(k, str) and isinstance(v, str) for k, v in digests.items()):
        raise ModelFileError(
            f"{str(path)!r}: the manifest's 'members' must map {list(MEMBERS)!r} to "
            "SHA-256 digests."
        )
    cls_name = manifest.get("estimator")
    if not isinstance(cls_name, str):
        raise ModelFileError(f"{str(path)!r}: the manifest's estimator is not a name.")
    signature = manifest.get("signature")
    if signature is not None and not isinstance(signature, str):
        raise ModelFileError(f"{str(path)!r}: the manifest's signature is not a string.")
    return digests, cls_name, saved_version, signature


def write_archive(path: Path, manifest: Mapping, members: Mapping[str, bytes]) -> Path:
    """Write ``manifest.json`` and ``members`` as a deflated zip at ``path``, atomically.

    The file appears whole or not at all (a temporary sibling, then ``os.replace``),
    named uniquely per call so that two threads saving one path each get theirs.
    Deflated: a truncated file then has no readable end of archive, where members stored
    as they are (a net's own zip inside a blend) would leave a readable zip at its end.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=1))
            for name, data in members.items():
                zf.writestr(name, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def short_repr(value, limit: int = 200) -> str:
    """``value`` as text for an error message, cut to ``limit`` characters (a crafted
    file must not fill a log)."""
    text = str(value) if isinstance(value, BaseException) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def sign(key: bytes | str, cls_name: str, version: str, digests: Mapping,
         file_format: str = FORMAT) -> str:
    """The HMAC-SHA256 (hex) of a file's format, estimator, tabmtl version and member
    digests under ``key``: what ``save_model(key=...)`` writes and ``load_model`` checks."""
    key = key.encode() if isinstance(key, str) else bytes(key)
    message = json.dumps([file_format, cls_name, version, dict(sorted(digests.items()))])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def missing_row(pre) -> pd.DataFrame:
    """One row of missing values in every feature column a fitted preprocessor read."""
    empty = {"numeric": [np.nan], "categorical": pd.Series([None], dtype=object),
             "datetime": pd.Series([pd.NaT], dtype="datetime64[ns]")}
    return pd.DataFrame(
        {c: empty[kind] for c, kind in pre.column_kinds_.items()},
        columns=pd.Index(pre.feature_names_in_, dtype=object),
    )


def self_check(estimator) -> None:
    """Predict one row of missing values, or raise a ModelFileError: a file that loads is
    a model that predicts (an edited file whose parts do not fit together is refused
    here, not at the user's first predict)."""
    try:
        pre, spec = estimator.preprocessor_, estimator.target_spec_
        raw = estimator._network_outputs(pre.transform_record(dict.fromkeys(pre.column_kinds_)))
        spec.inverse_transform_record(raw)
        spec.predict_proba(raw, estimator.temperatures_)
        with warnings.catch_warnings():  # the array estimators: "X has feature names"
            warnings.simplefilter("ignore")
            estimator.predict(missing_row(pre))
    except Exception as exc:
        raise ModelFileError(
            f"The model rebuilt from the file cannot predict ({type(exc).__name__}: "
            f"{short_repr(exc)}): the file was edited or is damaged."
        ) from exc


def blend_self_check(blend) -> None:
    """:func:`self_check` for a loaded :class:`~tabmtl._ensemble.MultiTaskBlend`: its blended
    prediction and probabilities of one row of missing values, or a ModelFileError."""
    try:
        row = missing_row(blend.net_.preprocessor_)
        blend.predict(row)
        blend.predict_proba(row)
    except Exception as exc:
        raise ModelFileError(
            f"The blend rebuilt from the file cannot predict ({type(exc).__name__}: "
            f"{short_repr(exc)}): the file was edited or is damaged."
        ) from exc


def check_network_size(params: dict, pre, weights) -> None:
    """Refuse a file whose parameters describe a network larger than its saved weights.

    Each size the network is built from (hidden layer widths, the ensemble size, the
    architecture's and the numeric embedding's integer settings, the categorical
    embeddings' cardinalities and widths) and the weight matrices they imply (consecutive
    widths, cardinality x width, numeric columns x embedding width) must fit in the
    values the weights hold, so an edited size cannot make the loader allocate what the
    file does not hold. (The network is not built on torch's ``meta`` device to count:
    its embeddings read their bins' and offsets' values while they are built.)
    """
    if not isinstance(weights, dict) or not isinstance(weights.get("module"), dict):
        raise ModelFileError("The model file's weights are not a module state_dict.")
    saved = sum(
        int(t.numel()) for t in weights["module"].values() if isinstance(t, torch.Tensor)
    )
    widths = params.get("hidden_layer_sizes")
    widths = list(widths) if isinstance(widths, (tuple, list)) else [widths]
    cards = list(getattr(pre, "cardinalities_", []))
    dims = list(getattr(pre, "embedding_dims_", []))
    embedding = params.get("numeric_embedding")
    sizes = {
        "hidden_layer_sizes": widths,
        "ensemble_size": [params.get("ensemble_size", 1)],
        "architecture": _ints(getattr(params.get("architecture"), "get_params", dict)()),
        "numeric_embedding": _ints(getattr(embedding, "get_params", dict)()),
        "cardinalities_": cards,
        "embedding_dims_": dims,
        "n_numeric_": [getattr(pre, "n_numeric_", 0)],
    }
    d_embedding = int(getattr(embedding, "d_embedding", 8) if embedding is not None else 1)
    products = {
        "hidden_layer_sizes": [a * b for a, b in itertools.pairwise(widths)
                               if isinstance(a, int) and isinstance(b, int)],
        "embeddings": [sum(c * d for c, d in zip(cards, dims)
                           if isinstance(c, int) and isinstance(d, int))],
        "numeric_embedding": [d_embedding * sizes["n_numeric_"][0]],
    }
    for name, values in {**sizes, **products}.items():
        if any(not isinstance(v, (int, np.integer)) or v < 0 or v > saved for v in values):
            raise ModelFileError(
                f"The model file's {name} ask for a network larger than the {saved} values "
                "its weights hold: the file was edited or is damaged."
            )


def _ints(params: Mapping) -> list[int]:
    """The integer settings of a component's ``get_params`` (tuples of ints included)."""
    out = []
    for value in params.values():
        for v in value if isinstance(value, (tuple, list)) else [value]:
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                out.append(int(v))
    return out
