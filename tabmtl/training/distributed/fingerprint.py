"""Evidence that every process was handed the same data (before a data-parallel fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["data_fingerprint"]


def data_fingerprint(X, Y) -> tuple:
    """Shape, columns and a hash of the first rows: cheap evidence that ranks agree.

    Parameters
    ----------
    X, Y : array-like, DataFrame, Series or None
        The data a process was given.

    Returns
    -------
    tuple
        One ``(shape, column names, hash of the first 1000 rows)`` per argument (None for
        a None argument, a None hash for unhashable cells); equal on every process when
        the processes were given the same data.

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
            digest = int(pd.util.hash_pandas_object(frame.head(1000), index=False).sum())
        except TypeError:  # unhashable cells: shape and names still compared
            digest = None
        names = frame.columns if isinstance(frame, pd.DataFrame) else [frame.name]
        columns = [str(c) for c in names]
        parts.append((frame.shape, columns, digest))
    return tuple(parts)
