"""The tagged JSON of a model file's ``model.json``.

Plain JSON loses tuples, arrays, dtypes and non-string dict keys; each gets a one-key tag
(``{"__tuple__": [...]}``). Decoding builds data only: numpy and pandas values, and the
registered tabmtl configs (architectures, weightings) by name, never arbitrary classes.
The text is untrusted: anything :func:`encode` never writes is a :class:`ModelFileError`,
and an array may not ask for more memory than its listed values need (its shape must
hold exactly those values, a string dtype be no wider than its longest value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd


class ModelFileError(ValueError):
    """A model file cannot be loaded: not a tabmtl model, damaged, or the wrong version."""




def encode(value, where: str):
    """``value`` as JSON-ready data, tagged where plain JSON would lose its type.

    ``where`` names the value in the TypeError raised for a value that cannot be saved
    without pickle (code, unregistered classes).

    Examples
    --------
    >>> encode((1, "a"), "example")
    {'__tuple__': [1, 'a']}
    >>> decode(encode((1, "a"), "example"))
    (1, 'a')
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.generic):
        return {"__scalar__": [value.dtype.str, value.item()]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, where) for v in value]}
    if isinstance(value, list):
        return [encode(v, where) for v in value]
    if isinstance(value, Mapping):
        return {"__dict__": [[encode(k, where), encode(v, where)] for k, v in value.items()]}
    if isinstance(value, slice):
        return {"__slice__": [value.start, value.stop, value.step]}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"__objects__": [encode(v, where) for v in value.tolist()]}
        return {"__array__": [value.dtype.str, list(value.shape), value.ravel().tolist()]}
    if isinstance(value, pd.Index):
        return {"__index__": [encode(value.dtype, where), encode(list(value), where)]}
    if isinstance(value, pd.Timestamp):
        return {"__timestamp__": value.isoformat()}
    if isinstance(value, pd.CategoricalDtype):
        return {"__categorical__": [encode(value.categories, where), bool(value.ordered)]}
    if isinstance(value, pd.StringDtype):
        na = "NA" if value.na_value is pd.NA else "nan"
        return {"__string__": [value.storage, na]}
    if isinstance(value, np.dtype):
        return {"__dtype__": value.str}
    if isinstance(value, pd.api.extensions.ExtensionDtype):
        return {"__pandas_dtype__": str(value)}
    for base, registry in _components().values():
        if isinstance(value, base):
            name = next((n for n, c in registry.items() if type(value) is c), None)
            if name is None:
                raise TypeError(
                    f"{where}: {type(value).__name__} is not a registered tabmtl class and "
                    "cannot be saved without pickle."
                )
            return {"__config__": [base.__name__, name, encode(value.get_params(False), where)]}
    raise TypeError(
        f"{where}: a value of type {type(value).__name__} cannot be saved without pickle."
    )


def decode(obj):
    """The value :func:`encode` tagged; a ModelFileError for anything it never writes."""
    try:
        return _decode(obj)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError,
            RecursionError, MemoryError) as exc:
        text = str(exc)
        text = text if len(text) <= 200 else text[:200] + "..."
        raise ModelFileError(
            f"Malformed value in the model file ({type(exc).__name__}: {text})."
        ) from None


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
        return _dtype(body[0], scalar=True).type(body[1])
    if tag == "__slice__":
        return slice(*body)
    if tag == "__array__":
        return _array(body)
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
        return _dtype(body, allow_object=True)
    if tag == "__pandas_dtype__":
        dtype = pd.api.types.pandas_dtype(str(body)[:64])
        if not isinstance(dtype, pd.api.extensions.ExtensionDtype):  # encode writes only these
            raise ModelFileError(f"Unexpected pandas dtype {body!r:.60} in the model file.")
        return dtype
    if tag == "__config__":
        registry = _components().get(body[0], (None, {}))[1]
        if body[1] not in registry:
            raise ModelFileError(f"Unknown {body[0]} {body[1]!r} in the model file.")
        return registry[body[1]](**_decode(body[2]))
    raise ModelFileError(f"Unknown tag {tag!r} in the model file.")


def _components() -> dict[str, tuple[type, dict]]:
    """The estimator components a model file may hold: base class name -> (base, registry).

    Imported on use: the network modules import this package's neighbours."""
    from tabmtl._nn.architectures import ARCHITECTURES, Architecture
    from tabmtl._nn.numeric_embedding import NUMERIC_EMBEDDINGS, NumericEmbedding
    from tabmtl._nn.weighting import WEIGHTINGS, Weighting

    return {
        base.__name__: (base, registry)
        for base, registry in (
            (Architecture, ARCHITECTURES),
            (Weighting, WEIGHTINGS),
            (NumericEmbedding, NUMERIC_EMBEDDINGS),
        )
    }


#: dtype kinds a model file's arrays and scalars hold: bool, numbers, dates, text
_DATA_KINDS = frozenset("biufcmMU")


def _dtype(text, *, scalar: bool = False, allow_object: bool = False) -> np.dtype:
    """The dtype ``text`` names, if it is a plain data dtype (no structured, sub-array or
    void dtype; no object dtype except where ``allow_object``: a column's saved dtype)."""
    if not isinstance(text, str) or len(text) > 32:
        raise ModelFileError(f"Unexpected dtype {text!r:.60} in the model file.")
    dtype = np.dtype(text)
    allowed = _DATA_KINDS | ({"O"} if allow_object else set())
    if dtype.kind not in allowed or dtype.fields is not None or dtype.subdtype is not None:
        raise ModelFileError(f"Unexpected dtype {text!r} in the model file.")
    if scalar and dtype.kind == "O":
        raise ModelFileError(f"Unexpected dtype {text!r} in the model file.")
    return dtype


def _array(body) -> np.ndarray:
    """An ``__array__`` body ``[dtype, shape, flat values]`` as an array, refused before
    allocating when it asks for more than its values: the shape must hold exactly the
    listed values, a text dtype be no wider than the longest of them."""
    if not isinstance(body, list) or len(body) != 3:
        raise ModelFileError("An array in the model file is not [dtype, shape, values].")
    text, shape, flat = body
    dtype = _dtype(text)
    if dtype.kind == "O":  # pragma: no cover - _dtype refuses it
        raise ModelFileError(f"Unexpected dtype {text!r} in the model file.")
    if not isinstance(shape, list) or not all(
        type(n) is int and n >= 0 for n in shape
    ) or len(shape) > 32:
        raise ModelFileError(f"An array in the model file has a malformed shape {shape!r:.60}.")
    if not isinstance(flat, list) or math.prod(shape) != len(flat):
        raise ModelFileError(
            f"An array in the model file claims shape {shape!r:.60} but lists "
            f"{len(flat) if isinstance(flat, list) else 'no'} values."
        )
    if dtype.kind == "U":
        if not all(isinstance(v, str) for v in flat):
            raise ModelFileError("A text array in the model file holds non-text values.")
        longest = max((len(v) for v in flat), default=0)
        if dtype.itemsize > 4 * max(longest, 1):
            raise ModelFileError(
                f"A text array in the model file asks for dtype {text!r:.60}, wider than "
                f"its longest value ({longest} characters)."
            )
    return np.asarray(flat, dtype=dtype).reshape(shape)


def _freeze(key):
    """Dict keys must be hashable: decoded lists (from tuples' JSON) become tuples."""
    return tuple(key) if isinstance(key, list) else key
