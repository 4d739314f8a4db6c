"""Names a public module exports without importing their homes until first use.

``import tabmtl`` then costs no torch import, and neither does ``tabmtl --version``; the
first access of a name (``tabmtl.MultiTaskEstimator``, ``from tabmtl import ...``) imports
the internal module that defines it, once.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    module_name: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for names defined elsewhere.

    Parameters
    ----------
    module_name : str
        The public module (its ``__name__``).
    exports : mapping of str to str
        Each public name and the internal module that defines it.

    Returns
    -------
    tuple of two callables
        ``__getattr__`` (imports the defining module on first use and caches the name
        in the public module) and ``__dir__``.
    """

    def __getattr__(name: str) -> object:
        home = exports.get(name)
        if home is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(exports))

    return __getattr__, __dir__
