"""Fixtures for browser tests: a real node process (migrate, seed-demo, serve) and Debian's Chromium
driven by Playwright's sync API.

Playwright never downloads a browser here: it launches /usr/bin/chromium (whatever `chromium` is on
PATH). A missing Chromium FAILS the test with an explanation (CI installs it) unless
ERESIDENT_SKIP_BROWSER=1 is set, which skips it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REGION = "LJ"


def browser_skipped() -> bool:
    return os.environ.get("ERESIDENT_SKIP_BROWSER") == "1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveNode:
    """One region node running as its own process, as `eresident serve` runs in production."""

    base_url: str
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "eresident.db"

    def cli(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run([sys.executable, "-m", "eresident", *args], env=self.env, cwd=self.data_dir.parent,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"`eresident {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
                        pytrace=False)
        return result.stdout

    def totp(self, username: str) -> str:
        """The official's current code (`eresident admin totp`); each works once per 30 s step."""
        code = self.cli("admin", "totp", username).strip().splitlines()[-1].strip()
        assert re.fullmatch(r"\d{6}", code), f"unexpected TOTP output for {username}: {code!r}"
        return code

    def count(self, table: str, where: str = "") -> int:
        """Rows in a table, read straight from the node's SQLite file (read-only)."""
        assert re.fullmatch(r"[a-z_]+", table)
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            return conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0]

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="module")
def live_node(tmp_path_factory) -> Iterator[LiveNode]:
    if browser_skipped():
        pytest.skip("ERESIDENT_SKIP_BROWSER=1")
    root = tmp_path_factory.mktemp("e2e-node")
    data = root / REGION
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ERESIDENT_REGION": REGION, "ERESIDENT_DATA_DIR": str(data),
           "ERESIDENT_DATABASE_URL": f"sqlite:///{data / 'eresident.db'}", "ERESIDENT_BASE_URL": base_url,
           "ERESIDENT_DEMO": "true", "PYTHONUNBUFFERED": "1"}
    node = LiveNode(base_url=base_url, env=env, data_dir=data, log_path=root / "serve.log")
    node.cli("migrate")
    node.cli("seed-demo")
    with node.log_path.open("wb") as log:
        node.process = subprocess.Popen([sys.executable, "-m", "eresident", "serve", "--port", str(port)],
                                        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if node.process.poll() is not None:
                pytest.fail(f"the node exited with {node.process.returncode} before it was healthy:\n"
                            f"{node.log_tail()}", pytrace=False)
            try:
                r = httpx.get(f"{base_url}/healthz", timeout=2)
                if r.status_code == 200 and r.json().get("region") == REGION:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the node did not answer /healthz within 30 s:\n{node.log_tail()}", pytrace=False)
            time.sleep(0.2)
        yield node
    finally:
        node.process.terminate()
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if browser_skipped():
        pytest.skip("ERESIDENT_SKIP_BROWSER=1")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is not installed: browser tests need `chromium` on PATH (Debian: "
                    "`apt-get install chromium`). Playwright must not download its own browser. "
                    "Set ERESIDENT_SKIP_BROWSER=1 to skip these tests instead.", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The playwright package is missing: `.venv/bin/pip install playwright` "
                    "(never run `playwright install`). Set ERESIDENT_SKIP_BROWSER=1 to skip.", pytrace=False)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Chromium at {executable} did not start: {exc}", pytrace=False)
    yield chromium
    chromium.close()
    pw.stop()


@dataclass
class Screenshots:
    """Full-page screenshots of every page visited: test-artifacts/e2e/NN-name.png."""

    folder: Path
    taken: list[Path] = field(default_factory=list)
    last_page: object = None

    def __call__(self, page, name: str) -> Path:
        self.last_page = page
        number = len(list(self.folder.glob("*.png"))) + 1  # numbered across the module's tests
        path = self.folder / f"{number:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture(scope="module")
def screenshot_folder() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def shots(request, screenshot_folder) -> Iterator[Screenshots]:
    taker = Screenshots(screenshot_folder)
    yield taker
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and taker.last_page is not None:
        try:
            taker(taker.last_page, "FAILED")
        except Exception:  # the page may be gone; the failure itself is what matters
            pass


@pytest.fixture(autouse=True)
def _node_log_on_failure(request):
    """When a test that used the node fails, show the end of the node's log with the failure."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "live_node" in request.fixturenames:
        node = request.getfixturevalue("live_node")
        print(f"--- node log ({node.log_path}) ---\n{node.log_tail()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
