"""Sphinx configuration of tabmtl's documentation site (``bash .ci/docs`` builds it).

The API reference is generated from the public API: ``api.rst`` is written here from
each public home's ``__all__`` (the list ``tests/test_public_api.py`` freezes), and
autosummary + numpydoc render every name's docstring. The gallery (``examples/plot_*.py``)
runs when the site is built.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document (and run the gallery with) this checkout
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import tabmtl  # noqa: E402

project = "tabmtl"
author = "the tabmtl developers"
copyright = "2026, the tabmtl developers"
version = release = tabmtl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]

autosummary_generate = True
autodoc_default_options: dict[str, object] = {}


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Class pages list tabmtl's own methods, inherited ones included (the estimators'
    ``predict_interval`` and ``predict_record`` live in mixins), but not scikit-learn's
    ``get_params`` / ``set_*_request`` family, documented by scikit-learn."""
    if what != "class":
        return skip
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None) or ""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip or not module.startswith("tabmtl")


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
myst_heading_anchors = 3
# The guide's markdown pages began as README sections (they open at "##"), and link to
# files outside docs/ (dataset cards, the README) that GitHub shows but Sphinx cannot.
suppress_warnings = ["myst.header", "myst.xref_missing"]
# Every cross-reference must resolve (``.ci/docs`` builds with ``-n -W``), except to other
# projects' objects: the site is built offline, so intersphinx cannot fetch their
# inventories, and those names (pandas.DataFrame, collections.abc.Mapping, ...) stay text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(collections|os|pathlib|typing|numpy|pandas|sklearn|torch|mlflow|optuna"
     r"|pyarrow|skorch|scipy|matplotlib|lightgbm|onnxruntime|dask)(\..*)?"),
    # An internal type that public signatures name (a target's kind object).
    (r"py:class", r"tabmtl\._data\.targets\.base\.TargetKind"),
    # Private base classes named on class pages.
    (r"py:class", r"tabmtl\..*\._\w+"),
]

html_theme = "pydata_sphinx_theme"
html_title = f"tabmtl {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "min_reported_time": 1,
}

#: Public home -> title in the API reference, in reading order.
PUBLIC_HOMES = {
    "tabmtl": "Estimators, components and saving",
    "tabmtl.metrics": "Metrics",
    "tabmtl.evaluation": "Transfer analysis and the report",
    "tabmtl.inspection": "Inspection",
    "tabmtl.tuning": "Tuning",
    "tabmtl.io": "Streaming and export",
    "tabmtl.distributed": "Distributed training",
    "tabmtl.mlflow": "MLflow",
    "tabmtl.errors": "Errors",
}


def _write_api_page(path: Path) -> None:
    """``api.rst``: one section per public home, its classes and functions summarised."""
    lines = [
        "API reference",
        "=============",
        "",
        "The public API: every name below is imported from the module it is listed under.",
        "Anything else is internal and may move between releases.",
        "",
    ]
    for home, title in PUBLIC_HOMES.items():
        module = importlib.import_module(home)
        names = sorted(
            (n for n in module.__all__ if inspect.isclass(getattr(module, n))
             or inspect.isroutine(getattr(module, n))),
            key=lambda n: (not inspect.isclass(getattr(module, n)), n.lower()),
        )  # fmt: skip
        heading = f":mod:`{home}`: {title}"
        lines += [heading, "-" * len(heading), "", f".. automodule:: {home}", ""]
        lines += [f".. currentmodule:: {home}", "", ".. autosummary::"]
        lines += ["   :toctree: generated/", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names] + [""]
    text = "\n".join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_write_api_page(Path(__file__).with_name("api.rst"))
