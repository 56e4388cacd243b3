"""The unit of work on both databases: commit, rollback, savepoints, aware datetimes, one SQLite writer."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from eresident.kit.db import Database
from eresident.kit.models import Counter, UsedFormToken
from eresident.kit.sequences import next_value


@pytest.fixture
def database(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


def test_block_commits_and_exception_rolls_back(database):
    with database.session(write=True) as db:
        db.add(Counter(name="a", value=1))
    with pytest.raises(RuntimeError):
        with database.session(write=True) as db:
            db.add(Counter(name="b", value=1))
            db.flush()
            raise RuntimeError("boom")
    with database.session(write=False) as db:
        assert db.scalars(select(Counter.name)).all() == ["a"]


def test_savepoint_rolls_back_only_its_part(database):
    with database.session(write=True) as db:
        db.add(Counter(name="kept", value=1))
        with pytest.raises(IntegrityError):
            with db.begin_nested():
                db.add(Counter(name="kept", value=2))
        db.add(Counter(name="after", value=3))
    with database.session(write=False) as db:
        assert dict(db.execute(select(Counter.name, Counter.value)).all()) == {"kept": 1, "after": 3}


def test_datetimes_come_back_aware_utc(database):
    at = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    with database.session(write=True) as db:
        db.add(UsedFormToken(nonce="n", used_at=at))
    with database.session(write=False) as db:
        value = db.scalar(select(UsedFormToken.used_at))
    assert value == at and value.tzinfo is not None


def test_naive_datetimes_are_refused(database):
    with pytest.raises(Exception, match="naive"):
        with database.session(write=True) as db:
            db.add(UsedFormToken(nonce="x", used_at=datetime(2026, 1, 1)))
            db.flush()


def test_counters_are_unique_under_concurrent_writers(database):
    results: list[int] = []
    lock = threading.Lock()

    def worker():
        for _ in range(20):
            with database.session(write=True) as db:
                value = next_value(db, "case")
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 161))


def test_sqlite_writers_queue_in_process_instead_of_failing(database):
    if not database.is_sqlite:
        pytest.skip("SQLite only")
    inside = threading.Event()
    order: list[str] = []

    def slow_writer():
        with database.session(write=True) as db:
            db.add(Counter(name="slow", value=1))
            db.flush()
            inside.set()
            time.sleep(0.2)
            order.append("slow committed")

    t = threading.Thread(target=slow_writer)
    t.start()
    inside.wait(5)
    with database.session(write=True) as db:  # its first statement waits for the lock
        seen = db.scalar(select(func.count()).select_from(Counter))
        order.append("second began")
    assert seen == 1  # and then sees the committed row
    t.join()
    assert order == ["slow committed", "second began"]


def test_readers_do_not_wait_for_a_writer(database):
    if not database.is_sqlite:
        pytest.skip("SQLite only")
    with database.session(write=True) as db:
        db.add(Counter(name="x", value=1))
        db.flush()
        started = time.perf_counter()
        with database.session(write=False) as reader:
            assert reader.scalar(select(func.count()).select_from(Counter)) == 0  # WAL snapshot
        assert time.perf_counter() - started < 1.0
