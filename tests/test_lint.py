"""The code (src, tests, scripts, benchmarks) passes ruff with the configuration in pyproject.toml ([tool.ruff])."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str] | None:
    if shutil.which("ruff"):
        return ["ruff"]
    try:
        import ruff  # noqa: F401  (the wheel ships the binary; python -m ruff runs it)
    except ImportError:
        return None
    return [sys.executable, "-m", "ruff"]


def test_ruff_passes_on_the_whole_repository():  # scripts and benchmarks too: they make the docs' numbers
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' brings it)")
    done = subprocess.run([*ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
