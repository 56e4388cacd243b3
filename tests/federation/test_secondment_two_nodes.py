"""Cadre exchange between two real nodes (`eresident serve` + `eresident worker`, each with its own
SQLite database): operators propose and accept with the CLI, the workers carry the messages, an
official signs in at the host with the home's credential, and access ends at the term's end
mid-session and at once on a withdrawal."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from tests.federation.test_two_nodes import Proc, nodes, wait_until  # noqa: F401  (fixture)

from eresident.federation.keys import iso
from eresident.seed import DEMO_PASSWORD, demo_totp_secret

pytestmark = pytest.mark.slow


def _login(node: Proc, role: str) -> str:
    """Password + TOTP at a real node (a code works once: wait for a fresh step if needed)."""
    secret = demo_totp_secret(node.region, role)
    totp = pyotp.TOTP(secret)
    for _ in range(3):
        r = httpx.post(f"{node.base_url}/api/v1/officials/login", timeout=10, json={
            "username": f"{node.region.lower()}-{role}", "password": DEMO_PASSWORD, "totp": totp.now()})
        if r.status_code == 200:
            return r.json()["token"]
        time.sleep(31 - time.time() % 30)
    raise AssertionError(r.text)


def _status(node: Proc, table: str, secondment_id: str) -> str | None:
    rows = node.query(f"SELECT status FROM {table} WHERE replace(id, '-', '') = '{secondment_id.replace('-', '')}'")
    return rows[0][0] if rows else None


def _propose(lj: Proc, official: str, end: datetime) -> str:
    now = datetime.now(UTC)
    out = lj.cli("federation", "secondment", "propose", official, "--host", "TF", "--start",
                 iso(now - timedelta(minutes=1)), "--end", iso(end), "--role", "reviewer",
                 "--department", "Enterprise services", "--purpose", "Two-node test")
    return out.split()[0]


def _credential(lj: Proc, role: str, secondment_id: str) -> str:
    token = _login(lj, role)
    r = httpx.post(f"{lj.base_url}/api/v1/officials/me/secondments/{secondment_id}/credential",
                   headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["credential"]


def test_secondment_across_two_processes(nodes):  # noqa: F811  (the fixture)
    lj, tf = nodes
    for node in (lj, tf):
        node.cli("seed-demo")
    lj.cli("federation", "trust", "add", "--from-url", tf.base_url, "--yes")
    tf.cli("federation", "trust", "add", "--from-url", lj.base_url, "--yes")
    lj.worker, tf.worker = lj.spawn("worker"), tf.spawn("worker")

    end = datetime.now(UTC) + timedelta(seconds=60)
    expiring = _propose(lj, "lj-reviewer", end)
    withdrawn = _propose(lj, "lj-approver", datetime.now(UTC) + timedelta(days=30))
    for secondment_id in (expiring, withdrawn):
        wait_until(lambda s=secondment_id: _status(tf, "secondments_in", s) == "proposed", 20, "the proposal at TF")
        tf.cli("federation", "secondment", "accept", secondment_id)
        wait_until(lambda s=secondment_id: _status(lj, "secondments_out", s) == "accepted", 20, "the answer at LJ")

    sessions = {}
    for role, secondment_id in (("reviewer", expiring), ("approver", withdrawn)):
        r = httpx.post(f"{tf.base_url}/api/v1/officials/secondee-login", timeout=10,
                       json={"credential": _credential(lj, role, secondment_id)})
        assert r.status_code == 200, r.text
        sessions[role] = {"Authorization": f"Bearer {r.json()['token']}"}
        me = httpx.get(f"{tf.base_url}/api/v1/officials/me", headers=sessions[role], timeout=10).json()
        assert me["home_region"] == "LJ" and me["acting_region"] == "TF" and me["roles"] == ["reviewer"]

    # Withdrawal: the LJ worker delivers it, TF ends the session at once.
    lj.cli("federation", "secondment", "withdraw", withdrawn, "--reason", "Needed at home")
    wait_until(lambda: httpx.get(f"{tf.base_url}/api/v1/cases", headers=sessions["approver"],
                                 timeout=10).status_code == 401, 20, "the withdrawal to end access")

    # Term end: no message at all; the session works until the end and not a second after.
    assert httpx.get(f"{tf.base_url}/api/v1/cases", headers=sessions["reviewer"], timeout=10).status_code == 200
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 1)
    r = httpx.get(f"{tf.base_url}/api/v1/cases", headers=sessions["reviewer"], timeout=10)
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthenticated")
    listing = tf.cli("federation", "secondment", "list")
    assert "[ended]" in listing and "[withdrawn]" in listing
