"""Task-weighting strategies, chosen by name, dict of fixed weights, or instance."""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import clone

from .base import LinearCombination, LossWeighting, Weighting
from .fixed import EqualWeighting, FixedWeighting
from .uncertainty import UncertaintyWeighting

#: Name -> weighting class. A new strategy is one module plus one entry here.
WEIGHTINGS: dict[str, type[Weighting]] = {
    "equal": EqualWeighting,
    "uncertainty": UncertaintyWeighting,
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
    "EqualWeighting",
    "FixedWeighting",
    "LinearCombination",
    "LossWeighting",
    "UncertaintyWeighting",
    "Weighting",
    "resolve_weighting",
]
