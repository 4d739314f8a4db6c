"""The 0.1 import paths, kept for one release with a ``FutureWarning``.

tabmtl 0.1 taught ``from tabmtl.persistence import save_model``,
``from tabmtl.export import export_onnx``, ``tabmtl.transfer.cross_validate_transfer``...
Those modules moved in 0.2. Importing an old path still works: the module is made here on
demand (:class:`MovedModules`, an import hook placed after the ordinary ones, so it only
answers for modules that no longer exist), and each name read from it warns once per
call site with a ``FutureWarning`` that names its new home. The old paths go in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

#: Removal release of the old paths.
REMOVED_IN = "0.3"

_ARCHITECTURES = [
    "ARCHITECTURES", "PLE", "Architecture", "CrossStitch", "HardSharing", "MMoE",
    "SoftSharing",
]  # fmt: skip
_WEIGHTINGS = [
    "WEIGHTINGS", "AlignedMTLWeighting", "CAGradWeighting", "DWAWeighting", "EqualWeighting",
    "FixedWeighting", "GradNormWeighting", "IMTLWeighting", "MGDAWeighting",
    "PCGradWeighting", "RLWWeighting", "UPGradWeighting", "UncertaintyWeighting",
    "Weighting",
]  # fmt: skip

#: 0.1 module -> {name: its public home in 0.2}.
MOVED: dict[str, dict[str, str]] = {
    "tabmtl.persistence": dict.fromkeys(["save_model", "load_model"], "tabmtl"),
    "tabmtl.export": dict.fromkeys(["export_onnx", "export_torch", "read_metadata"], "tabmtl.io"),
    "tabmtl.streaming": dict.fromkeys(["fit_parquet", "predict_parquet"], "tabmtl.io"),
    "tabmtl.calibration": dict.fromkeys(
        ["expected_calibration_error", "reliability_curve"], "tabmtl.metrics"
    ),
    "tabmtl.transfer": dict.fromkeys(
        [
            "cross_validate_transfer",
            "recommend_task_groups",
            "pairwise_affinity",
            "greedy_task_groups",
            "TaskGrouping",
            "TransferResult",
        ],
        "tabmtl.evaluation",
    ),
    "tabmtl.architectures": dict.fromkeys(_ARCHITECTURES, "tabmtl"),
    "tabmtl.weighting": dict.fromkeys(_WEIGHTINGS, "tabmtl"),
}


def _moved_module(old: str) -> types.ModuleType:
    moved = MOVED[old]
    module = types.ModuleType(
        old, f"Deprecated 0.1 path (removed in {REMOVED_IN}); see each name's new home."
    )

    def __getattr__(name: str) -> object:
        home = moved.get(name)
        if home is None:
            raise AttributeError(
                f"module {old!r} has no attribute {name!r} ({old} is a deprecated 0.1 path)"
            )
        warnings.warn(
            f"{old}.{name} has moved: import it as `from {home} import {name}`; the old "
            f"path {old} will be removed in tabmtl {REMOVED_IN}.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    module.__dir__ = lambda: sorted(moved)  # type: ignore[attr-defined]
    return module


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook that answers for the 0.1 modules listed in :data:`MOVED`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return _moved_module(spec.name)

    def exec_module(self, module) -> None:
        return None


def install() -> None:
    """Put :class:`MovedModules` last on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
