"""Test fixtures: a real node (app + database + files) per test, on SQLite and, when
ERESIDENT_TEST_POSTGRES_URL is set, on PostgreSQL too."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from eresident.app import create_app
from eresident.config import Settings
from eresident.kit.clock import FrozenClock
from eresident.kit.context import build_context
from eresident.kit.db import Database
from eresident.kit.migrate import upgrade
from eresident.kit.registry import metadata

PG_URL = os.environ.get("ERESIDENT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _pg_admin_engine():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def new_pg_database(prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the test server (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def truncate_all(url: str) -> None:
    """Empty every table of a migrated database (faster than a new one per test)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_database():
    """One migrated PostgreSQL database for the session; tables are emptied between tests."""
    if not PG_URL:
        pytest.skip("ERESIDENT_TEST_POSTGRES_URL is not set")
    with new_pg_database("eresident_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "node.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    truncate_all(url)
    return url


class Node:
    """A running node under test: its context, clock, app and an HTTP client."""

    def __init__(self, settings: Settings, database: Database):
        self.clock = FrozenClock(START)
        self.ctx = build_context(settings, clock=self.clock, database=database, password_profile="fast")
        self.app = create_app(settings, context=self.ctx)
        self.settings = settings

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=self.settings.base_url, raise_server_exceptions=False)


@pytest.fixture
def make_node(database_url, tmp_path):
    created: list[Database] = []

    def factory(region: str = "LJ", **overrides) -> Node:
        data_dir = tmp_path / f"data-{region}"
        settings = Settings(region=region, database_url=database_url, data_dir=data_dir,
                            base_url=f"http://{region.lower()}.test", **overrides)
        database = Database(database_url)
        created.append(database)
        return Node(settings, database)

    yield factory
    for database in created:
        database.dispose()


@pytest.fixture
def node(make_node) -> Node:
    from eresident.seed import seed_demo

    n = make_node()
    seed_demo(n.ctx)
    return n
