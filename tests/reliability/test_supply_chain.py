"""Known vulnerabilities in the locked dependencies: pip-audit over requirements.lock (hashes
required, pip not used to resolve anything). A finding fails; a machine that cannot reach the
vulnerability data skips with the reason, and says how many packages it could look up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
COMMAND = [str(Path(sys.executable).parent / "pip-audit"), "-r", str(LOCK), "--require-hashes", "--disable-pip",
           "--progress-spinner", "off", "--timeout", "10", "--format", "json"]


def verdict(report: dict) -> tuple[list[str], list[str], list[str]]:
    """(findings, audited packages, skipped packages with the reason) from pip-audit's JSON report."""
    findings, audited, skipped = [], [], []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        audited.append(dep["name"])
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            findings.append(f"{dep['name']} {dep['version']}: {vuln['id']} "
                            f"({', '.join(vuln.get('aliases', []))}) fixed in {fixed}")
    return findings, audited, skipped


def pypi_reachable() -> bool:
    try:
        return httpx.get("https://pypi.org/simple/", timeout=10).status_code < 500
    except httpx.HTTPError:
        return False


def test_the_locked_dependencies_have_no_known_vulnerability():
    if not pypi_reachable():
        pytest.skip("PyPI is not reachable from this machine: the locked dependencies could not be audited")
    try:
        run = subprocess.run(COMMAND, capture_output=True, text=True, timeout=600, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.skip("pip-audit took over 10 minutes (the vulnerability service is too slow from here)")
    try:
        report = json.loads(run.stdout)
    except ValueError:
        raise AssertionError(f"pip-audit gave no report (exit {run.returncode}): {run.stderr[-2000:]}") from None
    findings, audited, skipped = verdict(report)
    print(f"pip-audit: {len(audited)} locked packages audited, {len(skipped)} could not be looked up, "
          f"{len(findings)} known vulnerabilities")
    assert not findings, "known vulnerabilities in requirements.lock:\n" + "\n".join(findings)
    if not audited:
        pytest.skip(f"pip-audit could look up none of the {len(skipped)} locked packages "
                    f"(e.g. {skipped[0] if skipped else 'none'}): the per-release JSON API it uses "
                    "(/pypi/<name>/<version>/json) does not answer from this machine")


def test_a_finding_fails_the_audit():
    """The planted report: one vulnerable package among clean and unlooked-up ones."""
    report = {"dependencies": [
        {"name": "jinja2", "version": "2.10", "vulns": [
            {"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": ["CVE-2019-10906"],
             "description": "sandbox escape"}]},
        {"name": "fastapi", "version": "0.165.0", "vulns": []},
        {"name": "private-thing", "skip_reason": "Dependency not found on PyPI and could not be audited"}],
        "fixes": []}
    findings, audited, skipped = verdict(report)
    assert findings == ["jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906) fixed in 2.10.1"]
    assert audited == ["jinja2", "fastapi"] and len(skipped) == 1


def test_the_audit_reads_every_locked_package():
    """The lock pins each package with hashes, so pip-audit needs no resolver (--disable-pip)."""
    text = LOCK.read_text()
    pins = [line.split("==")[0] for line in text.splitlines() if "==" in line and not line.startswith((" ", "#"))]
    assert len(pins) > 100 and "pip-audit" in pins and "schemathesis" in pins
    assert text.count("--hash=sha256:") >= len(pins)
