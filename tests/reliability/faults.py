"""Faults on the wire between a node and its peer node or its bank, for tests/reliability/test_faults.py:
a fault-injecting HTTP proxy on a real TCP socket (served by threads of the test process) whose
behaviour is switched at run time, the peer node as its own process, and the check that every piece
of work took effect exactly once on the receiving side."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from tests.live import free_port, stop_process

ARTIFACTS = Path(os.environ.get("ERESIDENT_TEST_ARTIFACTS", "test-artifacts")) / "reliability"

# What the proxy can do to a request. `forwarded` faults reach the target (which may apply the work)
# before the sender hears something wrong; the others never reach it.
PASS = "pass"
DOWN = "down"  # nothing listens: connection refused
SLOW = "slow"  # held past the client's timeout, then forwarded (the target applies it late)
ERROR_500, ERROR_502, ERROR_503 = "500", "502", "503"  # answered by the proxy
HTML = "html"  # 200 with an HTML page (a captive portal, a proxy's error page)
WRONG_JSON = "wrong-json"  # 200 with JSON of the wrong shape
TRUNCATED = "truncated"  # forwarded; the target's answer is cut in the middle of its body
CUT_AFTER_FORWARD = "cut-after-forward"  # forwarded; the connection is reset before the answer gets back
KILL_TARGET = "kill-target"  # forwarded, then the target process is SIGKILLed mid-request (and restarted)
FAULTS = (DOWN, SLOW, ERROR_500, ERROR_502, ERROR_503, HTML, WRONG_JSON, TRUNCATED, CUT_AFTER_FORWARD,
          KILL_TARGET)
FORWARDED = (SLOW, TRUNCATED, CUT_AFTER_FORWARD, KILL_TARGET)

# What the operator's reason must name for each fault (any one of these).
OPERATOR_REASONS = {DOWN: ("ConnectError",), SLOW: ("Timeout",), ERROR_500: ("HTTP 500",), ERROR_502: ("HTTP 502",),
                    ERROR_503: ("HTTP 503",), HTML: ("not an acknowledgement",), WRONG_JSON: ("not an acknowledgement",),
                    TRUNCATED: ("peer closed connection without sending complete message body",),
                    CUT_AFTER_FORWARD: ("ReadError", "RemoteProtocolError"),
                    KILL_TARGET: ("ReadError", "RemoteProtocolError")}


def reason_names(fault: str, reason: str) -> bool:
    return any(word in reason for word in OPERATOR_REASONS[fault])


_REASONS = {ERROR_500: "Internal Server Error", ERROR_502: "Bad Gateway", ERROR_503: "Service Unavailable"}


def _reset(conn: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer sees the connection reset, not an orderly end."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _read_request(conn: socket.socket) -> bytes | None:
    """One HTTP/1.1 request (head and Content-Length body) as sent, or None if the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _with_connection_close(message: bytes) -> bytes:
    """The request with `Connection: close`, so the target ends its answer by closing."""
    head, _, body = message.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _canned(status: int, reason: str, body: bytes, content_type: str) -> bytes:
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class FaultProxy:
    """An HTTP proxy in front of one target (127.0.0.1:target_port), listening on a real socket.

    `set(mode)` switches what it does to the requests that arrive from then on (FAULTS above); it
    counts the requests it saw and those it forwarded per mode. Each connection carries one request
    (the proxy answers with `Connection: close`), so a fault hits every request, not just a first one."""

    def __init__(self, name: str, target_port: int, *, port: int | None = None, slow_seconds: float = 1.6,
                 kill_target: Callable[[], None] | None = None):
        self.name = name
        self.target_port = target_port
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.slow_seconds = slow_seconds
        self.kill_target = kill_target
        self.mode = PASS
        self.seen: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active = 0
        self._killed = False
        self._thread: threading.Thread | None = None

    # --- switching ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._listen()
        self._thread = threading.Thread(target=self._serve, name=f"proxy-{self.name}", daemon=True)
        self._thread.start()
        return self

    def set(self, mode: str) -> None:
        assert mode == PASS or mode in FAULTS, mode
        with self._lock:
            self.mode, self._killed = mode, False
            if mode == DOWN and self._listener is not None:
                self._listener.close()  # nothing listens on the port: connections are refused
                self._listener = None
        if mode != DOWN:
            self._listen()

    def heal(self) -> None:
        self.set(PASS)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def idle(self, timeout: float = 10.0) -> None:
        """Wait until no request is in the proxy (a slow one forwarded late has finished)."""
        deadline = time.monotonic() + timeout
        while self._active and time.monotonic() < deadline:
            time.sleep(0.05)

    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(64)
            sock.settimeout(0.05)
            self._listener = sock

    # --- serving -----------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._active += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            request = _read_request(conn)
            if request is None:
                conn.close()
                return
            mode = self.mode
            self.seen[mode] += 1
            if mode in _REASONS:
                page = f"<html><body><h1>{mode} {_REASONS[mode]}</h1></body></html>".encode()
                conn.sendall(_canned(int(mode), _REASONS[mode], page, "text/html"))
                conn.close()
                return
            if mode == HTML:
                conn.sendall(_canned(200, "OK", b"<html><body>Please sign in to the network</body></html>",
                                     "text/html"))
                conn.close()
                return
            if mode == WRONG_JSON:
                conn.sendall(_canned(200, "OK", b'{"status": "ok", "items": []}', "application/json"))
                conn.close()
                return
            if mode == SLOW:
                time.sleep(self.slow_seconds)  # the client has given up by now
            response = self._forward(request, mode)
            if mode == PASS or mode == SLOW:
                with contextlib.suppress(OSError):
                    conn.sendall(response)
                conn.close()
            elif mode == TRUNCATED and response:  # the head, half the body, and an orderly close
                head, _, body = response.partition(b"\r\n\r\n")
                with contextlib.suppress(OSError):
                    conn.sendall(head + b"\r\n\r\n" + body[: max(1, len(body) // 2)])
                    conn.shutdown(socket.SHUT_WR)
                conn.close()
            else:  # CUT_AFTER_FORWARD, KILL_TARGET: the target has it; the sender hears nothing
                _reset(conn)
        except OSError:
            _reset(conn)
        finally:
            with self._lock:
                self._active -= 1

    def _forward(self, request: bytes, mode: str) -> bytes:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:  # the target is down: what a reverse proxy answers
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return _canned(502, "Bad Gateway", page, "text/html")
        with upstream:
            upstream.sendall(_with_connection_close(request))
            self.forwarded[mode] += 1
            if mode == KILL_TARGET and self.kill_target is not None and not self._killed:
                self._killed = True
                time.sleep(0.01)  # the target has started on it
                self.kill_target()
            chunks = []
            with contextlib.suppress(OSError):
                while chunk := upstream.recv(65536):
                    chunks.append(chunk)
            return b"".join(chunks)


# --- a node as its own process -------------------------------------------------------------------

@dataclass
class NodeProcess:
    """A region node as `eresident serve` (and optionally `eresident worker`) on its own database,
    listening on `port` while its published base URL is `base_url` (the proxy in front of it): the
    peer signs for the URL it posts to, and the node checks signatures against its own base URL."""

    region: str
    root: Path
    database_url: str
    base_url: str
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    server: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / self.region

    @property
    def log(self) -> Path:
        return self.root / f"{self.region}.log"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ERESIDENT_REGION": self.region, "ERESIDENT_DATA_DIR": str(self.data_dir),
                "ERESIDENT_DATABASE_URL": self.database_url, "ERESIDENT_BASE_URL": self.base_url,
                "PYTHONUNBUFFERED": "1", "ERESIDENT_LOG_LEVEL": "WARNING",
                "ERESIDENT_FEDERATION_RETRY_BASE_SECONDS": "0.2", "ERESIDENT_FEDERATION_RETRY_MAX_SECONDS": "1",
                "ERESIDENT_FEDERATION_TIMEOUT_SECONDS": "3", **self.extra_env}

    def settings(self):
        from eresident.config import Settings

        return Settings(region=self.region, data_dir=self.data_dir, database_url=self.database_url,
                        base_url=self.base_url)

    def _spawn(self, *args: str) -> subprocess.Popen:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "eresident", *args], env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT)

    def serve(self, timeout: float = 30) -> None:
        self.server = self._spawn("serve", "--port", str(self.port))
        deadline = time.monotonic() + timeout
        while True:
            if self.server.poll() is not None:
                pytest.fail(f"{self.region} exited:\n{self.log_tail()}", pytrace=False)
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{self.region} did not start:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.05)

    def start_worker(self) -> None:
        self.worker = self._spawn("worker")

    def kill(self) -> None:
        """SIGKILL the server: no shutdown handler runs."""
        if self.server is not None and self.server.poll() is None:
            os.kill(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=10)

    def stop(self) -> None:
        for proc in (self.server, self.worker):
            stop_process(proc)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        return query(self.database_url, sql, params)


def query(database_url: str, sql: str, params: dict | None = None) -> list[tuple]:
    """Rows from a node's database, read beside the node (SQLite read-only, or a short connection)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
            return conn.execute(sql, params or {}).fetchall()  # :name parameters are sqlite3's too
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params or {})]
    finally:
        engine.dispose()


def serve_in_thread(app, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """An ASGI app on a real socket, served by a thread of the test process."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the in-process server did not start"
        time.sleep(0.02)
    return server, thread


def stop_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Ask the in-process server to stop; if a connection holds it up, stop it without waiting."""
    server.should_exit = True
    thread.join(timeout=3)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout=5)


# --- the verdict ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What the receiver holds for the work that was sent: one effect per id, ideally."""

    sent: list[str]
    effects: Counter[str]

    @property
    def delivered(self) -> int:
        return sum(1 for i in self.sent if self.effects[i] >= 1)

    @property
    def lost(self) -> list[str]:
        return [i for i in self.sent if self.effects[i] == 0]

    @property
    def duplicates(self) -> dict[str, int]:
        return {i: n for i, n in self.effects.items() if n > 1}


def outcome(sent: Iterable[str], effects: Iterable[str]) -> Outcome:
    return Outcome(sent=[str(i) for i in sent], effects=Counter(str(e) for e in effects))


def assert_exactly_once(result: Outcome, what: str) -> None:
    """Every piece of work sent took effect on the receiver, and none more than once."""
    problems = []
    if result.lost:
        problems.append(f"{len(result.lost)} lost (no effect on the receiver): {result.lost[:5]}")
    if result.duplicates:
        problems.append(f"{len(result.duplicates)} applied twice or more: {dict(list(result.duplicates.items())[:5])}")
    unexpected = set(result.effects) - set(result.sent)
    if unexpected:
        problems.append(f"{len(unexpected)} effects of work that was not sent: {sorted(unexpected)[:5]}")
    assert not problems, f"{what}: " + "; ".join(problems)


# --- figures -------------------------------------------------------------------------------------

def record_figures(backend: str, target: str, rows: list[dict]) -> Path:
    """Merge this target's rows into test-artifacts/reliability/faults-<backend>.json (tests of the
    two targets may run in two xdist workers at once: the file is locked while it is rewritten)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"faults-{backend}.json"
    with (ARTIFACTS / f".faults-{backend}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            current = {}
        current.update({"backend": backend, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        current.setdefault("targets", {})[target] = rows
        path.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
    return path


def table(target: str, rows: list[dict]) -> str:
    head = f"{'fault':<18} {'target':<6} {'attempts':>8} {'wire':>5} {'fwd':>4} {'delivered':>9} " \
           f"{'dupl.':>5} {'lost':>4}  visible to the operator"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['fault']:<18} {target:<6} {r['attempts']:>8} {r['wire']:>5} {r['forwarded']:>4} "
                     f"{r['delivered']:>4}/{r['sent']:<4} {r['duplicates']:>5} {r['lost']:>4}  "
                     f"{'yes' if r['visible'] else 'NO'}: {r['reason'][:70]}")
    return "\n".join(lines)
