"""``penguins``: Palmer Archipelago penguins, a small mixed-target smoke test.

One multiclass (``species``), one binary (``sex_male``, some labels missing) and one
regression target (``body_mass_g``) from island, bill and flipper measurements.
"""

from __future__ import annotations

import pandas as pd

from ._base import DatasetSpec, to_boolean

NAME = "penguins"
VERSION = 1
SOURCE = (
    "palmerpenguins 0.1.6 (PyPI), load_penguins(); data by Kristen Gorman, Palmer "
    "Station LTER (Horst, Hill & Gorman 2020)"
)
LICENSE = "CC0-1.0 (data); palmerpenguins package MIT"

FEATURES: dict[str, str] = {
    "island": "categorical",
    "bill_length_mm": "numeric",
    "bill_depth_mm": "numeric",
    "flipper_length_mm": "numeric",
    "year": "numeric",
}

TARGETS: dict[str, str] = {
    "species": "multiclass",
    "sex_male": "binary",
    "body_mass_g": "regression",
}

DROPPED: dict[str, str] = {
    "sex": "recoded as the binary target `sex_male` (True = male, <NA> = not recorded)",
}


def build_frame() -> pd.DataFrame:
    """Load the penguins table and return the benchmark frame.

    Rows whose targets are all missing would be dropped; there are none (``species``
    is always recorded), so all 344 rows are kept, including the two penguins with no
    measurement at all (they still have species and island).

    Returns
    -------
    pandas.DataFrame
        344 rows; :data:`FEATURES` then :data:`TARGETS`.
    """
    import palmerpenguins

    raw = palmerpenguins.load_penguins()
    out = pd.DataFrame(index=raw.index)
    out["island"] = raw["island"].astype("category")
    for col in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm"):
        out[col] = raw[col].astype("float64")
    out["year"] = raw["year"].astype("int64")
    out["species"] = raw["species"].astype("category")
    out["sex_male"] = to_boolean(raw["sex"], true="male", false="female")
    out["body_mass_g"] = raw["body_mass_g"].astype("float64")
    out = out[out[list(TARGETS)].notna().any(axis=1)]
    return out.reset_index(drop=True)


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
