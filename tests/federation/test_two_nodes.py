"""Two real nodes, as `eresident serve` and `eresident worker` run them, each with its own SQLite
database and data directory: they exchange trust with the CLI, one sends pings through its outbox
while the other is killed (SIGKILL) and restarted, and every message takes effect exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from eresident.config import Settings
from eresident.federation import service
from eresident.federation.models import OutboxMessage
from eresident.kit.context import build_context
from tests.live import free_port, stop_process

pytestmark = pytest.mark.slow




class Proc:
    """One region node's processes and files."""

    def __init__(self, region: str, root: Path):
        self.region = region
        self.port = free_port()
        self.data = root / region
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ERESIDENT_REGION": region, "ERESIDENT_DATA_DIR": str(self.data),
                    "ERESIDENT_DATABASE_URL": f"sqlite:///{self.data / 'eresident.db'}",
                    "ERESIDENT_BASE_URL": self.base_url, "PYTHONUNBUFFERED": "1",
                    "ERESIDENT_FEDERATION_RETRY_BASE_SECONDS": "0.5",
                    "ERESIDENT_FEDERATION_RETRY_MAX_SECONDS": "1",
                    "ERESIDENT_FEDERATION_TIMEOUT_SECONDS": "3"}
        self.log = root / f"{region}.log"
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    @property
    def db(self) -> Path:
        return self.data / "eresident.db"

    def settings(self) -> Settings:
        return Settings(region=self.region, data_dir=self.data, database_url=f"sqlite:///{self.db}",
                        base_url=self.base_url)

    def cli(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "eresident", *args], env=self.env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, f"eresident {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def spawn(self, *args: str) -> subprocess.Popen:
        with self.log.open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "eresident", *args], env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT)

    def serve(self) -> None:
        self.server = self.spawn("serve", "--port", str(self.port))
        deadline = time.monotonic() + 30
        while True:
            assert self.server.poll() is None, f"{self.region} exited:\n{self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{self.region} did not start:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.1)

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    def stop(self) -> None:
        for proc in (self.server, self.worker):
            stop_process(proc)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def nodes(tmp_path):
    lj, tf = Proc("LJ", tmp_path), Proc("TF", tmp_path)
    migrations = [subprocess.Popen([sys.executable, "-m", "eresident", "migrate"], env=n.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for n in (lj, tf)]
    for proc in migrations:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    try:
        lj.serve()
        tf.serve()
        yield lj, tf
    finally:
        lj.stop()
        tf.stop()


def test_pings_survive_a_receiver_crash_and_apply_exactly_once(nodes):
    lj, tf = nodes
    # Trust, both ways, as operators do it: fetch the peer's keys once, check the fingerprint.
    added = lj.cli("federation", "trust", "add", "--from-url", tf.base_url, "--yes")
    assert "new peer: TF" in added and "SHA-256 " in added
    assert "new peer: LJ" in tf.cli("federation", "trust", "add", "--from-url", lj.base_url, "--yes")
    fingerprint = added.split("SHA-256 ")[1].split()[0]
    assert fingerprint in tf.cli("federation", "keys", "show")
    assert "TF" in lj.cli("federation", "trust", "show")

    lj.worker = lj.spawn("worker")  # delivers the outbox every second
    ctx = build_context(lj.settings())  # the business side: writes outbox rows in its transactions

    def send(n: int) -> None:
        with ctx.database.session(write=True) as db:
            service.enqueue(ctx=ctx, db=db, peer="TF", kind="ping", payload={"echo": f"ping {n}"})

    total = 60
    try:
        for n in range(total):
            if n == 20:
                wait_until(lambda: tf.query("SELECT count(*) FROM federation_inbox")[0][0] > 0, 15,
                           "the first deliveries")
                os.kill(tf.server.pid, signal.SIGKILL)  # mid-traffic, no goodbye
                tf.server.wait()
            if n == 40:
                wait_until(lambda: lj.query("SELECT count(*) FROM federation_outbox WHERE last_error IS NOT NULL "
                                            "AND delivered_at IS NULL")[0][0] > 0, 15, "failed attempts")
                status = lj.cli("federation", "status")
                assert "TF: pending" in status and "last error" in status, status
                tf.serve()  # restarted on the same port, same database
            send(n)
            time.sleep(0.05)
        undelivered = "SELECT count(*) FROM federation_outbox WHERE delivered_at IS NULL"
        wait_until(lambda: lj.query(undelivered)[0][0] == 0, 30, "the outbox to drain")

        # (the worker also sends LJ's audit checkpoints to TF for witnessing: only the pings count here)
        sent = {row[0] for row in lj.query("SELECT id FROM federation_outbox WHERE kind = 'ping'")}
        received = [row[0] for row in tf.query("SELECT id FROM federation_inbox WHERE kind = 'ping'")]
        applied = [row[0] for row in tf.query(
            "SELECT entity_id FROM audit_events WHERE action = 'federation.ping'")]
        assert len(sent) == total
        assert sorted(received) == sorted(sent)  # nothing lost, nothing twice
        assert sorted(applied) == sorted(str(uuid.UUID(i)) for i in sent)  # each effect exactly once
        assert lj.query("SELECT max(attempts) FROM federation_outbox")[0][0] > 1  # retried while down

        # A delivered message sent again (the sender lost its acknowledgement): answered, not applied.
        with ctx.database.session(write=True) as db:
            row = db.query(OutboxMessage).filter(OutboxMessage.kind == "ping").order_by(OutboxMessage.created_at).first()
            row.delivered_at, row.next_attempt_at = None, ctx.clock.now() + timedelta(seconds=1)
            again = row.id
        wait_until(lambda: lj.query(f"SELECT delivered_at FROM federation_outbox WHERE id = '{again.hex}'")[0][0]
                   is not None, 15, "the repeat")
        assert tf.query(f"SELECT repeats FROM federation_inbox WHERE id = '{again.hex}'") == [(1,)]
        assert tf.query("SELECT count(*) FROM audit_events WHERE action = 'federation.ping'") == [(total,)]
        status = lj.cli("federation", "status")
        # the worker's own messages (signed checkpoints, dashboard figures) go the same way
        [(checkpoints,)] = lj.query("SELECT count(*) FROM federation_outbox "
                                    "WHERE kind IN ('audit.checkpoint', 'figures.published')")
        assert f"TF: pending 0 (failing 0), delivered {total + checkpoints}" in status, status
    finally:
        ctx.database.dispose()


class _RealNode:
    """What tests.factories.Api needs of a node, for a real process: its HTTP address, and its
    database and keys for reading mail and the demo officials' TOTP secrets."""

    def __init__(self, proc: Proc):
        self.ctx = build_context(proc.settings())
        self.settings = proc.settings()
        self.base_url = proc.base_url

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)


def test_recognition_and_revocation_across_two_processes(nodes):
    """A Liangjiang e-resident is recognised by the Tianfu process; Liangjiang revokes them and
    the Tianfu process refuses them within seconds (the worker's push), with nothing faked."""
    from joserfc.jwk import OKPKey

    from eresident.crypto import sdjwt
    from eresident.federation import recognition
    from tests.factories import Api, bearer

    lj, tf = nodes
    lj.cli("federation", "trust", "add", "--from-url", tf.base_url, "--yes")
    added = tf.cli("federation", "trust", "add", "--from-url", lj.base_url, "--yes")
    assert "credential key LJ-" in added and "agreement key" in added  # operators compare these too
    lj.cli("seed-demo")
    tf.cli("seed-demo")
    lj.worker, tf.worker = lj.spawn("worker"), tf.spawn("worker")
    home, host = _RealNode(lj), _RealNode(tf)
    try:
        api = Api(home)
        token, number = api.e_resident()
        r = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={})
        assert r.status_code == 201, r.text
        credential, holder = r.json()["credential"], OKPKey.import_key(r.json()["holder_private_jwk"])

        tf_api = Api(host)
        tf_token = tf_api.applicant()
        nonce = tf_api.client.get("/api/v1/recognitions/challenge", headers=bearer(tf_token)).json()["nonce"]
        presented = sdjwt.present(credential, disclose=recognition.DISCLOSURES, holder_key=holder,
                                  audience=tf.base_url, nonce=nonce)
        r = tf_api.client.post("/api/v1/recognitions", headers=bearer(tf_token), json={"credential": presented})
        assert r.status_code == 201, r.text
        wait_until(lambda: lj.query("SELECT count(*) FROM recognition_peers")[0][0] == 1, 30,
                   "the home node to hear of the recognition")

        admin = api.official("lj-admin")
        r = api.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(admin),
                            json={"status": "revoked", "reason": "identity fraud found later"})
        assert r.status_code == 200, r.text
        revoked_at = time.monotonic()
        wait_until(lambda: tf.query("SELECT status FROM recognitions")[0][0] == "revoked", 60,
                   "the revocation to reach the host")
        assert time.monotonic() - revoked_at < 60
        r = tf_api.client.post("/api/v1/names/reservations", headers=bearer(tf_token),
                               json={"name_zh": "成都星海科技有限公司", "name_en": "Chengdu Xinghai Technology Co., Ltd."})
        assert r.status_code == 403 and "revoked" in r.json()["detail"]
    finally:
        home.ctx.database.dispose()
        host.ctx.database.dispose()
