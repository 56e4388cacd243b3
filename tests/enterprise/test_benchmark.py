"""The name-check benchmark runs end to end on a small set and prints its ratio last."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "enterprise_names.py"


def test_benchmark_small_run(capsys):
    spec = importlib.util.spec_from_file_location("enterprise_names_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--names", "20000", "--queries", "90", "--brute", "2", "--no-freeze",
                        "--seconds", "1", "--clients", "4"])   # what `eresident bench` adds
    out = capsys.readouterr().out
    assert code == 0, out
    assert "index vs full scan of sound strings: 2/2" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio brute/indexed p50=[\d,]+ ; indexed p99=[\d.]+ ms \(target < 20 ms\)", last), last


def test_enterprise_benchmark_small_run_without_http(capsys):
    """`eresident bench enterprise` folds the name and signing benchmarks in; the HTTP part needs
    real processes and is left to the benchmark itself."""
    path = SCRIPT.parent / "enterprise.py"
    spec = importlib.util.spec_from_file_location("enterprise_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--only", "names,signing", "--names", "5000", "--queries", "30", "--brute", "1",
                        "--sign-seconds", "0.2", "--seconds", "1", "--clients", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio brute/indexed p50=[\d,]+ ; name p99=[\d.]+ ms \(target < 20 ms\) ; "
                        r"licences signed/s=[\d.]+ \([\d.]+ of pyHanko's trivial signature\) ; "
                        r"verdict: name p99 (met|MISSED)", last), last
