"""The code passes its static checks: ruff (errors that are bugs: undefined or unused names, likely
mistakes) and bandit (no high-severity finding). Both run from the locked test dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing_in_src():
    result = _run(str(BIN / "ruff"), "check", "src", "--output-format", "concise", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_bandit_finds_no_high_severity_issue():
    result = _run(str(BIN / "bandit"), "-q", "-r", "src", "-lll", "-f", "txt")
    assert result.returncode == 0, result.stdout + result.stderr
