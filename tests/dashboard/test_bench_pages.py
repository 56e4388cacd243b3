"""The pages benchmark (benchmarks/pages.py) runs end to end on a small data set and prints every
page's timings and, last, its ratio line with the verdict."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pages.py"


def test_pages_benchmark_small_run(capsys, monkeypatch):
    monkeypatch.setattr(os, "environ", os.environ.copy())  # main() drops the ERESIDENT_* variables
    spec = importlib.util.spec_from_file_location("pages_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pages_bench", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    code = module.main(["--only", "sqlite", "--cases", "150", "--backlog", "20", "--requests", "5"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + "\n--- stderr ---\n" + captured.err[-4000:]
    assert re.search(r"sqlite: seeded 150 cases \(\d+ open, 20 of them a review backlog\)", out), out
    for page in ("dashboard", "worklist", "case", "my", "licence"):
        assert re.search(rf"^{page} +/\S* +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+  p99 < 200 ms: (met|MISSED)$",
                         out, re.M), f"no line for {page}:\n{out}"
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio page/bare Jinja p50 \(largest; target every page p99 < 200 ms\) "
                        r"sqlite=[\d.]+ \(slowest p99 \w+ \d+ ms: (met|MISSED)\) postgres=skipped", last), last
