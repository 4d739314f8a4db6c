"""A :class:`~tabmtl._ensemble.MultiTaskBlend` through :func:`tabmtl.save_model` and
:func:`tabmtl.load_model`: its archive, with a manifest, read as untrusted input.

``save_model(blend, path)`` writes the members of
:func:`tabmtl._ensemble.persistence.save_blend` (``blend.json``, the nets as ``.tabmtl``
files, each LightGBM model as text), deflated, and adds ``manifest.json``: the format, the tabmtl
version, ``"estimator": "MultiTaskBlend"``, the SHA-256 of every other member and, with a
``key``, an HMAC-SHA256 over them, as in a model file. ``load_model`` recognises a blend
file by its ``blend.json`` member and reads it with the checks of a model file:

- every member is bounded by what the archive holds
  (:data:`~tabmtl.io._model_file_checks.MAX_INFLATION`), member names are plain relative
  paths, and there are at most :data:`MAX_MEMBERS` of them;
- the manifest's digests must match every member, no member may be missing from or
  added to it, and with a ``key`` its signature must verify (a signed file read without
  the key loads with a warning, or silently with ``verify_signature=False``); a file
  written by ``save_blend`` itself has no manifest: it loads, but not with a ``key``;
- the tabmtl version must match unless ``allow_version_mismatch=True``;
- every LightGBM model text is checked before LightGBM parses it
  (:mod:`tabmtl.io._lightgbm_text`: LightGBM's parser trusts its input, and a malformed
  text can abort the process or make it read outside its arrays);
- the blend is rebuilt from the verified bytes (a private copy, so the file cannot
  change between the check and the read), each net inside through ``load_model``, and
  it must predict a row of missing values. Whatever is wrong comes out as a
  :class:`~tabmtl.io._model_json.ModelFileError`. No pickle is involved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

from tabmtl.io._lightgbm_text import check_lightgbm_text
from tabmtl.io._model_file_checks import (
    MAX_MANIFEST_BYTES,
    blend_self_check,
    check_archive_start,
    read_member,
    short_repr,
    sign,
    write_archive,
)
from tabmtl.io._model_json import ModelFileError, decode

__all__ = ["MAX_MEMBERS", "is_blend_file", "load_blend_file", "save_blend_file"]

MANIFEST, BLEND_MEMBER, ESTIMATOR = "manifest.json", "blend.json", "MultiTaskBlend"
#: Most members a blend file may hold (a net and a booster per target, and as many
#: single-task nets).
MAX_MEMBERS = 10_000
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError,
                RecursionError, NotImplementedError, RuntimeError)


def is_blend_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zip archive holding a blend (a ``blend.json`` member)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return BLEND_MEMBER in zf.namelist()
    except _READ_ERRORS:
        return False


def save_blend_file(blend, path: str | os.PathLike, *, key: bytes | str | None = None) -> Path:
    """Write a fitted blend to ``path``: its archive plus a manifest (atomically).

    Parameters
    ----------
    blend : MultiTaskBlend
        A fitted blend whose boosting models can be saved
        (:func:`tabmtl._ensemble.persistence.save_blend` says which).
    path : str or path-like
        Destination file; a temporary file renamed into place.
    key : bytes or str, optional
        Secret for an HMAC-SHA256 signature over the members' digests.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from tabmtl import __version__
    from tabmtl._ensemble.persistence import FORMAT, FORMAT_VERSION, save_blend

    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        members = _members(save_blend(blend, Path(scratch) / "blend.zip"))
    digests = {n: hashlib.sha256(data).hexdigest() for n, data in members.items()}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "tabmtl_version": __version__,
        "estimator": ESTIMATOR, "members": digests,
        "signature": None if key is None else sign(key, ESTIMATOR, __version__, digests, FORMAT),
    }
    return write_archive(path, manifest, members)


def load_blend_file(
    path: str | os.PathLike,
    *,
    key: bytes | str | None = None,
    device: str | None = None,
    allow_version_mismatch: bool = False,
    verify_signature: bool = True,
):
    """Read a blend file with the checks of a model file (module docstring).

    Parameters are those of :func:`tabmtl.load_model`; ``device`` and
    ``allow_version_mismatch`` also apply to the nets inside.

    Returns
    -------
    MultiTaskBlend
        Predicting exactly as the saved blend did.
    """
    from tabmtl._ensemble.persistence import load_blend

    path = Path(path)
    members = _read_members(path)
    manifest = members.pop(MANIFEST, None)
    if manifest is None:
        if key is not None:
            raise ModelFileError(
                f"{str(path)!r} is a blend file that is not signed (it has no manifest: it was "
                "written by save_blend, not save_model), so it cannot be verified with a key."
            )
    else:
        _check_manifest(path, manifest, members, key, allow_version_mismatch,
                        verify_signature)
    _check_boosters(path, members)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "blend.zip"
        with zipfile.ZipFile(copy, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        try:
            blend = load_blend(copy, device=device,
                               allow_version_mismatch=allow_version_mismatch)
        except ModelFileError as exc:
            raise ModelFileError(f"{str(path)!r}: {short_repr(exc, 400)}") from None
        except Exception as exc:  # a consistent but wrong file: say so, don't dump internals
            raise ModelFileError(
                f"{str(path)!r} could not be rebuilt into a MultiTaskBlend: "
                f"{type(exc).__name__}: {short_repr(exc)}"
            ) from exc
    blend_self_check(blend)
    return blend


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _read_members(path: Path) -> dict[str, bytes]:
    """Every member's bytes, each bounded by the archive (read_member), names checked."""
    try:
        with zipfile.ZipFile(path) as zf:
            check_archive_start(zf, path)
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ModelFileError(
                    f"{str(path)!r} holds {len(infos)} members, more than a blend file has "
                    f"({MAX_MEMBERS}); refused."
                )
            names = [info.filename for info in infos]
            bad = [n for n in names if n.startswith(("/", "\\")) or "\\" in n or ":" in n
                   or ".." in n.split("/") or n.endswith("/")]
            if bad or len(set(names)) != len(names):
                raise ModelFileError(
                    f"{str(path)!r} has member names a blend file does not have "
                    f"({short_repr(bad or sorted(names))}); refused."
                )
            limits = {MANIFEST: MAX_MANIFEST_BYTES}
            return {n: read_member(zf, n, path, limits.get(n)) for n in names}
    except _READ_ERRORS as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(
            f"{str(path)!r} is not a readable blend file; it may be truncated or corrupted "
            f"({type(exc).__name__}: {short_repr(exc)})."
        ) from None


def _check_boosters(path: Path, members: dict[str, bytes]) -> None:
    """Every LightGBM text in the file checked before LightGBM parses it (its parser can
    abort the process on a malformed text: :mod:`tabmtl.io._lightgbm_text`)."""
    try:
        frame = decode(json.loads(members[BLEND_MEMBER])["frame"])
        n_features = len(frame["columns"])
        boosters = {n: json.loads(data) for n, data in members.items()
                    if n.startswith("boosters/") and n.endswith(".json")}
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ModelFileError(
            f"{str(path)!r}: its blend.json or a booster is not what save_blend writes "
            f"({type(exc).__name__}: {short_repr(exc)})."
        ) from None
    for name, entry in boosters.items():
        if isinstance(entry, dict) and "text" in entry:
            check_lightgbm_text(entry["text"], n_features, f"{str(path)!r}, {name}")


def _check_manifest(path: Path, raw: bytes, members: dict, key, allow_version_mismatch: bool,
                    verify_signature: bool) -> None:
    """The manifest's format, version, digests and signature, or a ModelFileError."""
    from tabmtl import __version__
    from tabmtl._ensemble.persistence import FORMAT, FORMAT_VERSION

    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError):
        raise ModelFileError(f"{str(path)!r}: its manifest is not JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or manifest.get("estimator") != ESTIMATOR:
        raise ModelFileError(f"{str(path)!r}: its manifest is not a blend file's manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses blend format version "
            f"{short_repr(manifest.get('format_version'))}; this tabmtl ({__version__}) reads "
            f"version {FORMAT_VERSION}."
        )
    saved = manifest.get("tabmtl_version")
    if not isinstance(saved, str):
        raise ModelFileError(f"{str(path)!r}: the manifest's tabmtl_version is not a string.")
    if saved != __version__ and not allow_version_mismatch:
        raise ModelFileError(
            f"{str(path)!r} was saved with tabmtl {saved[:50]}, this is tabmtl {__version__}. "
            f"Load it with tabmtl {saved[:50]}, or pass allow_version_mismatch=True to try "
            "anyway."
        )
    digests = manifest.get("members")
    if not isinstance(digests, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
    ):
        raise ModelFileError(
            f"{str(path)!r}: the manifest's 'members' must map names to SHA-256 digests."
        )
    unlisted = sorted(set(members) - set(digests))
    absent = sorted(set(digests) - set(members))
    if unlisted or absent:
        raise ModelFileError(
            f"{str(path)!r} is damaged or was modified: member(s) {short_repr(unlisted)} are "
            f"not in its manifest, {short_repr(absent)} are missing."
        )
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != digests[name]:
            raise ModelFileError(
                f"{str(path)!r} is damaged or was modified: the digest of {name!r} does not "
                "match its manifest."
            )
    signature = manifest.get("signature")
    if signature is not None and not isinstance(signature, str):
        raise ModelFileError(f"{str(path)!r}: the manifest's signature is not a string.")
    if key is not None:
        if not hmac.compare_digest(str(signature), sign(key, ESTIMATOR, saved, digests, FORMAT)):
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
            stacklevel=4,
        )
