"""The feature preprocessor's recipe: how its input matrix is built, as plain numbers.

For a server without tabmtl (the exported models' ``tabmtl.preprocessing``). Built from
the preprocessor's fitted statistics by :meth:`FeaturePreprocessor.recipe`; works for
any mix of numeric, datetime and categorical columns, none of each included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tabmtl._data.columns import as_python_scalar

RECIPE_STEPS = (
    "numeric: x = median if x is missing else x; z = (x - mean) / scale. "
    "missing indicator: z = ((1 if source is missing else 0) - mean) / scale. "
    "categorical: code = 1 + position of the value in categories, 0 if missing or "
    "unseen. Input row = [numeric z..., indicator z..., codes...] as float32."
)


def build_recipe(
    sources: Sequence[tuple[str, str | None]],
    names: Sequence[str],
    statistics: tuple[np.ndarray, Sequence[int], np.ndarray, np.ndarray] | None,
    categories: Mapping[object, pd.Index],
) -> dict:
    """The recipe of a fitted preprocessor.

    Parameters
    ----------
    sources : sequence of (column, datetime part or None)
        The numeric block's value columns, in order.
    names : sequence of str
        The output column names (numeric values, indicators, codes).
    statistics : (medians, indicator columns, means, scales), or None
        The numeric block's fitted statistics; None when there is no numeric block
        (only categorical columns).
    categories : mapping
        Categorical column -> its fitted categories.

    Examples
    --------
    >>> import pandas as pd
    >>> build_recipe([], ["zone__code"], None, {"zone": pd.Index(["a", "b"])})["categorical"]
    [{'column': 'zone__code', 'source': 'zone', 'categories': ['a', 'b']}]
    """
    numeric, indicators = [], []
    if statistics is not None:
        medians, indicator_columns, mean, scale = statistics
        for j, (column, part) in enumerate(sources):
            entry = {"column": names[j], "source": column, "median": float(medians[j]),
                     "mean": float(mean[j]), "scale": float(scale[j])}
            if part is not None:
                entry["datetime_part"] = part
            numeric.append(entry)
        for i, j in enumerate(indicator_columns, start=len(sources)):
            column, part = sources[j]
            indicators.append(
                {"column": names[i],
                 "missing_of": column if part is None else f"{column}__{part}",
                 "mean": float(mean[i]), "scale": float(scale[i])}
            )
    categorical = [
        {"column": f"{c}__code", "source": str(c),
         "categories": [as_python_scalar(v) for v in cats]}
        for c, cats in categories.items()
    ]
    return {"numeric": numeric, "missing_indicators": indicators,
            "categorical": categorical, "steps": RECIPE_STEPS}
