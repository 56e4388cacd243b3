"""A node served on a real socket (uvicorn in a thread, so the bank can call it back) and the sandbox
bank as its own process (`eresident sandbox-bank`), with its own database and key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from eresident.kit.clock import Clock
from tests.live import free_port

ADMIN = {"Authorization": "Bearer test-admin"}


@dataclass
class SandboxBank:
    url: str
    data_dir: Path
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, mode: str = "normal", delay: float = 0.0) -> None:
        env = {**self.env, "ERESIDENT_SANDBOX_BANK_MODE": mode, "ERESIDENT_SANDBOX_BANK_DELAY_SECONDS": str(delay)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "eresident", "sandbox-bank", "--port",
                                             self.url.rsplit(":", 1)[1]], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the bank exited: {self.log_path.read_text()[-2000:]}", pytrace=False)
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        pytest.fail("the sandbox bank did not start", pytrace=False)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def admin(self, method: str, path: str, **kw) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=ADMIN, timeout=10, **kw)

    def pin(self, node) -> None:
        """What the node's operator does once (`eresident bank trust add URL`): pin the bank's key."""
        env = {**os.environ, "ERESIDENT_DATA_DIR": str(node.settings.data_dir), "ERESIDENT_REGION": "LJ",
               "ERESIDENT_BANK_URL": self.url}
        done = subprocess.run([sys.executable, "-m", "eresident", "bank", "trust", "add", self.url, "--yes"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    def private_key(self):
        from joserfc.jwk import OKPKey

        entry = json.loads((self.data_dir / "keys" / "bank-signing.jwks.json").read_text())["keys"][0]
        return OKPKey.import_key(entry)


@pytest.fixture
def served_node(database_url, tmp_path):
    """A seeded node listening on 127.0.0.1 (its base URL), pointed at a bank on another port."""
    from eresident.config import Settings
    from eresident.kit.db import Database
    from eresident.seed import seed_demo
    from tests.conftest import Node

    port, bank_port = free_port(), free_port()
    settings = Settings(region="LJ", database_url=database_url, data_dir=tmp_path / "data-LJ",
                        base_url=f"http://127.0.0.1:{port}", bank_url=f"http://127.0.0.1:{bank_port}",
                        bank_retry_base_seconds=0.2, bank_retry_max_seconds=1.0, bank_timeout_seconds=1.5)
    database = Database(database_url)
    node = Node(settings, database)
    seed_demo(node.ctx)
    server = uvicorn.Server(uvicorn.Config(node.app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    node.bank_port = bank_port
    yield node
    server.should_exit = True
    thread.join(timeout=10)
    database.dispose()


@pytest.fixture
def bank(served_node, tmp_path):
    data = tmp_path / "bank"
    url = f"http://127.0.0.1:{served_node.bank_port}"
    env = {**os.environ, "ERESIDENT_SANDBOX_BANK_DATA_DIR": str(data), "ERESIDENT_SANDBOX_BANK_BASE_URL": url,
           "ERESIDENT_SANDBOX_BANK_CLIENTS": served_node.settings.base_url,
           "ERESIDENT_SANDBOX_BANK_ADMIN_TOKEN": "test-admin", "ERESIDENT_LOG_LEVEL": "WARNING"}
    b = SandboxBank(url=url, data_dir=data, env=env, log_path=tmp_path / "bank.log")
    yield b
    b.kill()


def real_time(node) -> None:
    """From here on the node runs on the real clock (signatures with the bank are checked against it).
    Sessions opened on the frozen clock move with it, so they last as long as they would have: the
    test must not depend on the hour it runs at (START + 8 h is 17:00 on the day START names)."""
    from sqlalchemy import select

    from eresident.security.models import AuthSession

    clock = Clock()
    shift = clock.now() - node.ctx.clock.now()
    with node.ctx.database.session(write=True) as db:
        for session in db.scalars(select(AuthSession)):
            session.expires_at += shift
    node.ctx.clock = clock
