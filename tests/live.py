"""A region node running as its own process (`eresident migrate`, `seed-demo`, `serve`), as in
production: for browser tests, crash tests and anything that must cross a real socket."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text


# Ports for the nodes tests start: below the kernel's ephemeral range (32768+, which every outgoing
# connection draws from), a block of its own per xdist worker, each handed out once per session. A
# port from bind(0) could be handed to two workers' nodes at once: the second fails to bind while
# the first answers its health check, and the test talks to the wrong node.
_PORT_BLOCK = 1500
_ports = itertools.count()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = 20000 + (int(worker) if worker.isdigit() else 0) % 8 * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = base + next(_ports) % _PORT_BLOCK
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # taken by something outside the suite
                continue
            return port
    raise RuntimeError(f"no free port in {base}..{base + _PORT_BLOCK - 1}")


@dataclass
class LiveNode:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    region: str = "LJ"
    process: subprocess.Popen | None = None

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def database_url(self) -> str:
        return self.env["ERESIDENT_DATABASE_URL"]

    @property
    def db_path(self) -> Path:
        return self.data_dir / "eresident.db"

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "eresident", *args], env=self.env, cwd=self.data_dir.parent,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f"`eresident {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
                        pytrace=False)
        return result

    def totp(self, username: str) -> str:
        """The official's current code (`eresident admin totp`); each works once per 30 s step."""
        code = self.cli("admin", "totp", username).stdout.strip().splitlines()[-1].strip()
        assert re.fullmatch(r"\d{6}", code), f"unexpected TOTP output for {username}: {code!r}"
        return code

    def count(self, table: str, where: str = "") -> int:
        """Rows in a table, read straight from the node's database."""
        assert re.fullmatch(r"[a-z_]+", table)
        if self.database_url.startswith("sqlite"):
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
                return conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0]
        return self.query(f"SELECT count(*) FROM {table} {where}")[0][0]

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params or {})]
        finally:
            engine.dispose()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- the process -------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "eresident", "serve", "--port", str(self.port)],
                                            env=self.env, cwd=self.data_dir.parent, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the node exited with {self.process.returncode} before it was healthy:\n"
                            f"{self.log_tail()}", pytrace=False)
            try:
                r = httpx.get(f"{self.base_url}/healthz", timeout=2)
                if r.status_code == 200 and r.json().get("region") == self.region:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the node did not answer /healthz within {timeout} s:\n{self.log_tail()}",
                            pytrace=False)
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, as a power cut looks to the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM a process (its shutdown handlers run), SIGKILL if it has not ended within 10 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for(check, timeout: float = 20.0, what: str = "the condition", every: float = 0.1):
    """Poll `check()` until it returns something true, and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def prepare_node(root: Path, *, region: str = "LJ", database_url: str | None = None,
                 extra_env: dict[str, str] | None = None) -> LiveNode:
    """Migrate and seed a node's database under `root` (not started yet)."""
    data = root / region
    data.mkdir(parents=True, exist_ok=True)
    base_url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "ERESIDENT_REGION": region, "ERESIDENT_DATA_DIR": str(data),
           "ERESIDENT_DATABASE_URL": database_url or f"sqlite:///{data / 'eresident.db'}",
           "ERESIDENT_BASE_URL": base_url, "ERESIDENT_DEMO": "true", "PYTHONUNBUFFERED": "1",
           **(extra_env or {})}
    node = LiveNode(base_url=base_url, env=env, data_dir=data, log_path=root / f"serve-{region}.log",
                    region=region)
    node.cli("migrate")
    node.cli("seed-demo")
    return node
