"""Task-weighting strategies, chosen by name, dict of fixed weights, or instance."""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import clone

from .aggregators import (
    AlignedMTLWeighting,
    CAGradWeighting,
    IMTLWeighting,
    MGDAWeighting,
    PCGradWeighting,
    UPGradWeighting,
)
from .base import GradientWeighting, LinearCombination, LossWeighting, Weighting
from .dwa import DWAWeighting
from .fixed import EqualWeighting, FixedWeighting
from .gradnorm import GradNormWeighting
from .rlw import RLWWeighting
from .uncertainty import UncertaintyWeighting

#: Name -> weighting class. A new strategy is one module plus one entry here.
WEIGHTINGS: dict[str, type[Weighting]] = {
    "equal": EqualWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DWAWeighting,
    "rlw": RLWWeighting,
    "gradnorm": GradNormWeighting,
    "pcgrad": PCGradWeighting,
    "cagrad": CAGradWeighting,
    "mgda": MGDAWeighting,
    "imtl": IMTLWeighting,
    "upgrad": UPGradWeighting,
    "aligned_mtl": AlignedMTLWeighting,
}


def resolve_weighting(spec: str | Mapping | Weighting) -> Weighting:
    """An unfitted weighting config from a registered name, a dict of weights, or an instance."""
    if isinstance(spec, Weighting):
        return clone(spec)
    if isinstance(spec, Mapping):
        return FixedWeighting(dict(spec))
    if isinstance(spec, str) and spec in WEIGHTINGS:
        return WEIGHTINGS[spec]()
    raise ValueError(
        f"Unknown weighting {spec!r}; valid names are {sorted(WEIGHTINGS)!r} "
        "(or pass a dict of fixed weights per target, or a Weighting instance)."
    )


__all__ = [
    "WEIGHTINGS",
    "AlignedMTLWeighting",
    "CAGradWeighting",
    "DWAWeighting",
    "EqualWeighting",
    "FixedWeighting",
    "GradNormWeighting",
    "GradientWeighting",
    "IMTLWeighting",
    "LinearCombination",
    "LossWeighting",
    "MGDAWeighting",
    "PCGradWeighting",
    "RLWWeighting",
    "UPGradWeighting",
    "UncertaintyWeighting",
    "Weighting",
    "resolve_weighting",
]
