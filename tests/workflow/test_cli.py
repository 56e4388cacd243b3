"""`eresident workflow …` as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROCESSES = Path(__file__).resolve().parents[2] / "src" / "eresident" / "data" / "processes"
pytestmark = pytest.mark.slow


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "eresident", "workflow", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def node_env(tmp_path):
    env = {"ERESIDENT_DATA_DIR": str(tmp_path), "ERESIDENT_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
           "ERESIDENT_REGION": "LJ"}
    for step in (["migrate"], ["seed-demo"]):
        subprocess.run([sys.executable, "-m", "eresident", *step], env={**os.environ, **env}, check=True,
                       capture_output=True, timeout=300)
    return env


def test_validate_names_the_line_of_each_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((PROCESSES / "e-residency.v2.yaml").read_text().replace("role: approver", "role: aprover"))
    r = run("validate", str(bad))
    assert r.returncode == 1 and "line" in r.stderr and "aprover" in r.stderr
    ok = run("validate", str(PROCESSES / "e-residency.v2.yaml"))
    assert ok.returncode == 0 and "valid" in ok.stdout


def test_diff_says_what_changed():
    r = run("diff", str(PROCESSES / "e-residency.v1.yaml"), str(PROCESSES / "e-residency.v2.yaml"))
    assert r.returncode == 0 and "step 'triage' added" in r.stdout


def test_publish_needs_an_admin_and_then_applies(node_env):
    refused = run("publish", str(PROCESSES / "e-residency.v1.yaml"), "--as", "lj-reviewer", env=node_env)
    assert refused.returncode == 1 and "not an administrator" in refused.stderr
    assert run("publish", str(PROCESSES / "e-residency.v1.yaml"), "--as", "lj-admin", env=node_env).returncode == 0
    r = run("publish", str(PROCESSES / "e-residency.v2.yaml"), "--as", "lj-admin", env=node_env)
    assert r.returncode == 0 and "published e-residency v2" in r.stdout
    stale = run("publish", str(PROCESSES / "e-residency.v2.yaml"), "--as", "lj-admin", env=node_env)
    assert stale.returncode == 1 and "number the new one 3 or higher" in stale.stderr
    published = run("diff", "e-residency@1", "e-residency@2", env=node_env)
    assert published.returncode == 0 and "triage" in published.stdout


def test_simulate_compares_two_versions():
    r = run("simulate", str(PROCESSES / "e-residency.v1.yaml"), "--compare", str(PROCESSES / "e-residency.v2.yaml"),
            "--days", "20", "--arrivals", "100/day")
    assert r.returncode == 0, r.stderr
    assert "time to decision p50" in r.stdout and "decided automatically" in r.stdout
