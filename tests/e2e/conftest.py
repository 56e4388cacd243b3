"""Fixtures for browser tests: a real node process (migrate, seed-demo, serve) and Debian's Chromium
driven by Playwright's sync API.

Playwright never downloads a browser here: it launches /usr/bin/chromium (whatever `chromium` is on
PATH). A missing Chromium FAILS the test with an explanation (CI installs it) unless
ERESIDENT_SKIP_BROWSER=1 is set, which skips it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live import LiveNode, prepare_node

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REGION = "LJ"


def browser_skipped() -> bool:
    return os.environ.get("ERESIDENT_SKIP_BROWSER") == "1"


@pytest.fixture(scope="module")
def live_node(tmp_path_factory) -> Iterator[LiveNode]:
    if browser_skipped():
        pytest.skip("ERESIDENT_SKIP_BROWSER=1")
    node = prepare_node(tmp_path_factory.mktemp("e2e-node"), region=REGION)
    try:
        node.start()
        yield node
    finally:
        node.stop()


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


def reader_page(browser, node, *, folder: str, locale: str, accept_language: str):
    """A fresh browser context for a person who reads `locale` (its Accept-Language too), downloads
    allowed, and a `shot(page, name)` that numbers full-page screenshots in test-artifacts/e2e/<folder>/
    (emptied first). Returns (context, page, shot)."""
    target = ARTIFACTS / folder
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.png"):
        old.unlink()
    numbers = iter(range(1, 100))

    def shot(page, name: str) -> None:
        page.screenshot(path=str(target / f"{next(numbers):02d}-{name}.png"), full_page=True)

    context = browser.new_context(base_url=node.base_url, locale=locale, accept_downloads=True,
                                  extra_http_headers={"Accept-Language": accept_language},
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    return context, context.new_page(), shot
