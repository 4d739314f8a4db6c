"""The names of probability columns in written predictions: ``<target>_proba_<class>``.

``predict_proba`` returns one DataFrame per classification target (columns: the
classes). A file has one flat header, so every writer of predictions, the command line's
``tabmtl predict --proba`` and :func:`tabmtl.io._streaming.predict_parquet` alike, names
the column of class ``c`` of target ``t`` ``f"{t}_proba_{c}"`` through
:func:`probability_columns`. The separator keeps the name a plain identifier-like string
(no ``=``, which SQL engines and formula interfaces would have to quote).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["PROBABILITY_COLUMN", "probability_columns"]

#: The column of class ``label`` of classification target ``target``.
PROBABILITY_COLUMN = "{target}_proba_{label}"


def probability_columns(proba: Mapping[object, pd.DataFrame]) -> pd.DataFrame:
    """``predict_proba``'s per-target frames as one frame, a column per target and class.

    Parameters
    ----------
    proba : mapping of target name to DataFrame
        What ``predict_proba`` returns: per classification target, one column per class.

    Returns
    -------
    pandas.DataFrame
        The probabilities side by side, columns ``<target>_proba_<class>`` in the order of
        the targets and their classes, on the frames' (shared) index; no column when
        ``proba`` is empty.

    Examples
    --------
    >>> late = pd.DataFrame({False: [0.9, 0.2], True: [0.1, 0.8]})
    >>> probability_columns({"late": late}).columns.tolist()
    ['late_proba_False', 'late_proba_True']
    """
    frames = [
        p.set_axis([PROBABILITY_COLUMN.format(target=name, label=c) for c in p.columns], axis=1)
        for name, p in proba.items()
    ]
    return pd.concat(frames, axis=1) if frames else pd.DataFrame()
