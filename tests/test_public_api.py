"""The public API: its frozen list of names, their docstrings, and the 0.1 paths.

Adding or removing a public name means changing ``PUBLIC_API`` here too, on purpose.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import tabmtl

ROOT = Path(__file__).resolve().parents[1]

#: Public home -> its names (``__all__``), sorted.
PUBLIC_API: dict[str, list[str]] = {
    "tabmtl": [
        "ARCHITECTURES", "AlignedMTLWeighting", "Architecture", "CAGradWeighting",
        "CrossStitch", "DWAWeighting", "EqualWeighting", "FixedWeighting",
        "GradNormWeighting", "HardSharing", "IMTLWeighting", "MGDAWeighting", "MMoE",
        "MultiTaskBlend", "MultiTaskClassifier", "MultiTaskEstimator", "MultiTaskRegressor",
        "NUMERIC_EMBEDDINGS", "NumericEmbedding", "PCGradWeighting", "PLE",
        "PeriodicEmbedding", "PiecewiseLinearEmbedding", "RLWWeighting", "Sluice",
        "SoftSharing", "TargetSpec", "UPGradWeighting", "UncertaintyWeighting", "WEIGHTINGS",
        "Weighting", "__version__", "load_model", "save_model",
    ],
    "tabmtl.metrics": [
        "METRICS", "Metric", "default_metric", "expected_calibration_error", "get_metric",
        "interval_coverage", "metric_names", "reliability_curve", "resolve_metrics",
        "score_frame", "score_task", "task_scorer",
    ],
    "tabmtl.evaluation": [
        "AuxiliaryGainResult", "EfficiencyResult", "TaskGrouping", "TransferResult",
        "auxiliary_gain", "cross_validate_transfer", "data_efficiency", "greedy_task_groups",
        "pairwise_affinity", "recommend_task_groups", "write_report",
    ],
    "tabmtl.inspection": ["TaskImportance", "task_importance"],
    "tabmtl.tuning": [
        "DEFAULT_SPACE", "EpochPruning", "SearchSpace", "TrialReporter", "TuningResult",
        "estimator_params", "open_study", "tune",
    ],
    "tabmtl.io": [
        "export_onnx", "export_torch", "fit_parquet", "predict_parquet", "read_metadata",
    ],
    "tabmtl.distributed": ["fit_distributed", "predict_distributed"],
    "tabmtl.mlflow": [
        "FLAVOR_NAME", "MODEL_FILE", "PROBA_PARAM", "get_default_pip_requirements",
        "infer_model_signature", "load_model", "log_model", "save_model",
    ],
    "tabmtl.errors": ["InputError", "InputTypeError"],
}  # fmt: skip

#: Every 0.1 import path the 0.1 README and docs taught -> the name's home in 0.2
#: (``None``: the 0.1 path is still the home, nothing to warn about).
PATHS_01 = {
    ("tabmtl.metrics", "task_scorer"): None,
    ("tabmtl.calibration", "expected_calibration_error"): "tabmtl.metrics",
    ("tabmtl.calibration", "reliability_curve"): "tabmtl.metrics",
    ("tabmtl.export", "export_onnx"): "tabmtl.io",
    ("tabmtl.export", "export_torch"): "tabmtl.io",
    ("tabmtl.export", "read_metadata"): "tabmtl.io",
    ("tabmtl.persistence", "save_model"): "tabmtl",
    ("tabmtl.persistence", "load_model"): "tabmtl",
    ("tabmtl.streaming", "fit_parquet"): "tabmtl.io",
    ("tabmtl.streaming", "predict_parquet"): "tabmtl.io",
    ("tabmtl.transfer", "cross_validate_transfer"): "tabmtl.evaluation",
    ("tabmtl.transfer", "recommend_task_groups"): "tabmtl.evaluation",
    ("tabmtl.transfer", "pairwise_affinity"): "tabmtl.evaluation",
    ("tabmtl.transfer", "greedy_task_groups"): "tabmtl.evaluation",
    ("tabmtl.transfer", "TaskGrouping"): "tabmtl.evaluation",
    ("tabmtl.distributed", "fit_distributed"): None,
    ("tabmtl.distributed", "predict_distributed"): None,
    ("tabmtl.architectures", "ARCHITECTURES"): "tabmtl",
    ("tabmtl.architectures", "HardSharing"): "tabmtl",
    ("tabmtl.weighting", "WEIGHTINGS"): "tabmtl",
    ("tabmtl.weighting", "UncertaintyWeighting"): "tabmtl",
}

NUMPYDOC_SECTIONS = {
    "Parameters", "Returns", "Yields", "Receives", "Other Parameters", "Raises", "Warns",
    "Warnings", "See Also", "Notes", "References", "Examples", "Attributes", "Methods",
}  # fmt: skip

PUBLIC_NAMES = [(home, name) for home, names in PUBLIC_API.items() for name in names]


def _home(name: str):
    if name == "tabmtl.mlflow":
        pytest.importorskip("mlflow")
    return importlib.import_module(name)


@pytest.mark.parametrize("home", sorted(PUBLIC_API))
def test_public_names_are_the_frozen_list(home):
    module = _home(home)
    assert sorted(module.__all__) == sorted(PUBLIC_API[home]), (
        f"{home}.__all__ changed: update PUBLIC_API in tests/test_public_api.py on purpose"
    )
    for name in module.__all__:
        getattr(module, name)


def test_no_unlisted_public_home():
    top = {m.name for m in pkgutil.iter_modules(tabmtl.__path__) if not m.name.startswith("_")}
    homes = {h.split(".", 1)[1] for h in PUBLIC_API if "." in h}
    assert top == homes, (
        "a top-level module appeared or disappeared: a public home goes in PUBLIC_API, "
        "an internal one takes a leading underscore"
    )


def test_internal_layout_is_underscored():
    """Every module is a public home or lives under an underscored name (scikit-learn's
    convention), so the layout behind the homes can move without breaking users."""
    exposed = [
        m.name
        for m in pkgutil.walk_packages(tabmtl.__path__, "tabmtl.")
        if m.name not in PUBLIC_API
        and not any(part.startswith("_") for part in m.name.split(".")[1:])
    ]
    assert exposed == [], f"modules neither public homes nor underscored: {exposed}"


def _sections(doc: str) -> dict[str, str]:
    """Numpydoc sections (a title line underlined with dashes) -> their text."""
    lines = doc.splitlines()
    starts = [
        i
        for i in range(len(lines) - 1)
        if lines[i].strip()
        and re.fullmatch(r"-{3,}", lines[i + 1].strip())
        and len(lines[i + 1].strip()) == len(lines[i].strip())
    ]
    return {
        lines[i].strip(): "\n".join(lines[i + 2 : j])
        for i, j in zip(starts, [*starts[1:], len(lines)])
    }


@pytest.mark.parametrize(("home", "name"), PUBLIC_NAMES)
def test_public_name_has_numpy_docstring_with_examples(home, name):
    obj = getattr(_home(home), name)
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        doc = inspect.getdoc(_home(home)) or ""
        assert name in doc, f"{home}.{name} (data) is not described in {home}'s docstring"
        return
    doc = inspect.cleandoc(obj.__doc__ or "")
    assert doc and doc.splitlines()[0].strip(), f"{home}.{name} has no summary line"
    assert not re.search(r"(?m)^\s*(Args|Arguments|Returns|Raises|Example|Examples):\s*$", doc), (
        f"{home}.{name}: Google-style section; use numpydoc's underlined titles"
    )
    sections = _sections(doc)
    assert set(sections) <= NUMPYDOC_SECTIONS, f"{home}.{name}: unknown sections {sections}"
    examples = sections.get("Examples", "")
    assert ">>>" in examples or "::" in examples, f"{home}.{name} has no Examples section"


@pytest.mark.parametrize(("old", "name"), sorted(PATHS_01))
def test_01_path_works_and_warns_with_new_home(old, name):
    home = PATHS_01[(old, name)]
    if old == "tabmtl.mlflow":
        pytest.importorskip("mlflow")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
        obj = getattr(module, name)
    ours = [w for w in caught if issubclass(w.category, FutureWarning)]
    if home is None:
        assert not ours, [str(w.message) for w in ours]
        return
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert f"from {home} import {name}" in str(ours[0].message)
    assert ours[0].filename == __file__, "the warning should point at the caller's line"
    assert obj is getattr(_home(home), name)


def test_01_path_unknown_name_is_an_attribute_error():
    import tabmtl.export

    with pytest.raises(AttributeError, match=r"deprecated 0\.1 path"):
        tabmtl.export.no_such_name  # noqa: B018


def test_import_tabmtl_is_cheap():
    """``import tabmtl`` (and so ``tabmtl --version``) loads neither torch nor pandas."""
    code = "import sys, tabmtl; print(sorted({'torch', 'pandas', 'sklearn'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_version_has_one_source():
    from tabmtl._version import __version__

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'(?m)^dynamic = \["version"\]$', pyproject)
    assert not re.search(r'(?m)^version = "', pyproject), "a second version in pyproject.toml"
    assert re.search(r'(?m)^version = \{ ?attr = "tabmtl\._version\.__version__" ?\}$', pyproject)
    assert tabmtl.__version__ == __version__ == "0.2.0"


def test_api_reference_covers_every_public_home():
    """docs/conf.py writes the API reference from these homes' ``__all__``."""
    import ast

    tree = ast.parse((ROOT / "docs" / "conf.py").read_text())
    homes = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "PUBLIC_HOMES" for t in node.targets)
    )
    assert list(homes) == list(PUBLIC_API)
