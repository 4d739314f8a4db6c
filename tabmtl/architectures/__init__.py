"""Parameter-sharing architectures, chosen by name or instance (``architecture=``)."""

from __future__ import annotations

from sklearn.base import clone

from .base import Architecture, MultiTaskBody
from .hard import HardSharing

#: Name -> architecture class. A new architecture is one module plus one entry here.
ARCHITECTURES: dict[str, type[Architecture]] = {
    "hard": HardSharing,
}


def resolve_architecture(spec: str | Architecture) -> Architecture:
    """An unfitted architecture config from a registered name or an instance."""
    if isinstance(spec, Architecture):
        return clone(spec)
    if isinstance(spec, str) and spec in ARCHITECTURES:
        return ARCHITECTURES[spec]()
    raise ValueError(
        f"Unknown architecture {spec!r}; valid names are {sorted(ARCHITECTURES)!r} "
        "(or pass an Architecture instance)."
    )


__all__ = ["ARCHITECTURES", "Architecture", "HardSharing", "MultiTaskBody", "resolve_architecture"]
