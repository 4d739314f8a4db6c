"""Parameter-sharing architectures, chosen by name or instance (``architecture=``)."""

from __future__ import annotations

from sklearn.base import clone

from tabmtl._nn.architectures.base import Architecture, MultiTaskBody
from tabmtl._nn.architectures.cross_stitch import CrossStitch
from tabmtl._nn.architectures.hard import HardSharing
from tabmtl._nn.architectures.mmoe import MMoE
from tabmtl._nn.architectures.ple import PLE
from tabmtl._nn.architectures.sluice import Sluice
from tabmtl._nn.architectures.soft import SoftSharing

#: Name -> architecture class. A new architecture is one module plus one entry here.
ARCHITECTURES: dict[str, type[Architecture]] = {
    "hard": HardSharing,
    "soft": SoftSharing,
    "cross_stitch": CrossStitch,
    "mmoe": MMoE,
    "ple": PLE,
    "sluice": Sluice,
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


__all__ = [
    "ARCHITECTURES",
    "PLE",
    "Architecture",
    "CrossStitch",
    "HardSharing",
    "MMoE",
    "MultiTaskBody",
    "Sluice",
    "SoftSharing",
    "resolve_architecture",
]
