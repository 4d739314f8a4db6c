"""The version of tabmtl, in one place (``pyproject.toml`` reads it from here).

This module imports nothing, so ``tabmtl --version`` can read it without loading torch.
"""

__version__ = "0.2.0"
