"""The federation benchmark runs end to end on a tiny configuration (two real node processes) and
prints its ratios and verdicts last."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "federation.py"


def test_federation_benchmark_small_run(capsys):
    spec = importlib.util.spec_from_file_location("federation_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--seconds", "1", "--clients", "4"])  # what `eresident bench` passes
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + "\n--- stderr ---\n" + captured.err[-4000:]
    assert re.search(r"\(a\) signed ping, LJ outbox -> TF applied .* +[\d.]+ +[\d.]+ +[\d.]+ +0\n", out), out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio signed/unsigned HTTP=[\d.]+ ; sign\+verify share=[\d.]+% \(target < 25%: "
                        r"(met|MISSED)\) ; credential verify/bare Ed25519=[\d.]+ \(target >= 0\.5: (met|MISSED)\) ; "
                        r"presentation/bare=[\d.]+", last), last
