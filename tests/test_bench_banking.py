"""The banking benchmark runs end to end on a tiny configuration (the node and the sandbox bank as
real processes, one licence in-process) and prints its ratios and verdicts last."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "banking.py"


def test_banking_benchmark_small_run(capsys):
    spec = importlib.util.spec_from_file_location("banking_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--seconds", "1", "--clients", "4", "--formations", "1"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + "\n--- stderr ---\n" + captured.err[-4000:]
    assert "issue() start -> bank request's outbox row added" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio signed/unsigned=[\d.]+ \(answered requests/s vs unsigned round trips both ways/s\) ; "
                        r"sign\+verify share=[\d.]+% \(target < 25%: (met|MISSED)\) ; "
                        r"issue->outbox median=\d+ ms max=\d+ ms \(target < 200 ms: (met|MISSED)\)", last), last
