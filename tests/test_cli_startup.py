"""``tabmtl --help`` and ``--version`` answer without importing torch (issue 24, item 18).

Checked in a fresh interpreter by what it imported, not by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tabmtl
from tabmtl._cli.names import ARCHITECTURE_NAMES, METRIC_NAMES, WEIGHTING_NAMES

HEAVY = ("torch", "sklearn", "pandas", "scipy", "pyarrow")
PROBE = """
import contextlib, io, json, sys
from tabmtl._cli import main
heavy, argv = sys.argv[1].split(","), sys.argv[2:]
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    code = main(argv)
print(json.dumps({"code": code, "out": out.getvalue(),
                  "heavy": [m for m in heavy if m in sys.modules]}))
"""


def _run(*argv: str) -> dict:
    repo = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY), *argv],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": path},
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["fit", "--help"], ["evaluate", "--help"], []]
)
def test_help_and_version_import_no_torch(argv):
    result = _run(*argv)
    assert result["heavy"] == [], result["heavy"]
    assert result["code"] == (2 if not argv else 0)
    if argv == ["--version"]:
        assert result["out"].strip() == f"tabmtl {tabmtl.__version__}"
    if argv == ["fit", "--help"]:
        assert "mmoe" in result["out"] and "aligned_mtl" in result["out"]


def test_import_tabmtl_is_light_and_names_still_resolve():
    probe = "import sys, tabmtl; print('torch' in sys.modules); print(tabmtl.MMoE.__name__)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    assert done.stdout.split() == ["False", "MMoE"]
    assert set(tabmtl.__all__) <= set(dir(tabmtl))
    with pytest.raises(AttributeError, match="no_such_name"):
        tabmtl.no_such_name  # noqa: B018


def test_the_parsers_names_are_the_registries():
    from tabmtl import ARCHITECTURES, WEIGHTINGS
    from tabmtl.evaluation._metrics import metric_names

    assert ARCHITECTURE_NAMES == tuple(ARCHITECTURES)
    assert WEIGHTING_NAMES == tuple(WEIGHTINGS)
    assert METRIC_NAMES == tuple(metric_names())
