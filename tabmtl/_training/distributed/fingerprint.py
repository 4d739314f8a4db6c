"""Evidence that every process was handed the same data (before a data-parallel fit)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["data_fingerprint"]


def data_fingerprint(X, Y) -> tuple:
    """Shape, columns and a hash of every row in order: evidence that ranks agree.

    Parameters
    ----------
    X, Y : array-like, DataFrame, Series or None
        The data a process was given.

    Returns
    -------
    tuple
        One ``(shape, column names, hash of the rows)`` per argument (None for a None
        argument, a None hash for unhashable cells); equal on every process when the
        processes were given the same data. The hash depends on the order of the rows
        (each process takes its share by position, so the same rows in another order
        would give overlapping shares) and covers every row (pandas hashes a million
        rows in milliseconds).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"km": [1.0, 2.0]})
    >>> data_fingerprint(X, None) == data_fingerprint(X.copy(), None)
    True
    """
    parts = []
    for data in (X, Y):
        if data is None:
            parts.append(None)
            continue
        frame = data if isinstance(data, (pd.DataFrame, pd.Series)) else pd.DataFrame(
            np.asarray(data).reshape(len(data), -1)
        )
        try:
            row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
            digest = hashlib.sha1(np.ascontiguousarray(row_hashes).tobytes()).hexdigest()
        except TypeError:  # unhashable cells: shape and names still compared
            digest = None
        names = frame.columns if isinstance(frame, pd.DataFrame) else [frame.name]
        columns = [str(c) for c in names]
        parts.append((frame.shape, columns, digest))
    return tuple(parts)
