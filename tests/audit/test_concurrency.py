"""Concurrent writers on each database: every committed event gets a leaf, in commit order, with
no gaps, no deadlocks (domain row locks are taken before the log's), and checkpoints signed
meanwhile stay consistent with the final tree."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from eresident.audit import service
from eresident.audit.models import AuditEvent
from eresident.audit.verify import verify_log
from eresident.kit.db import Database
from eresident.kit.models import Counter
from eresident.kit.sequences import next_value
from tests.audit import rfc9162 as ref
from tests.audit.helpers import OFFICIAL, START, new_signer, reference_entries

THREADS = 8
PER_THREAD = 30


@pytest.fixture
def database(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


def test_concurrent_writers_build_one_consistent_log(database):
    signer = new_signer()
    errors: list[BaseException] = []
    committed: list[tuple[float, float, int]] = []  # (began, committed, seq)
    lock = threading.Lock()
    writers_done = threading.Event()

    def writer(k: int) -> None:
        try:
            for i in range(PER_THREAD):
                began = time.perf_counter()
                with database.session(write=True) as db:
                    number = next_value(db, "case")  # a contended domain row, locked first
                    event = service.record(db=db, actor=OFFICIAL, region="LJ", action="case.opened",
                                           entity_type="case", entity_id=f"{k}-{i}", at=START,
                                           after={"number": number})
                    if i % 3 == 0:  # some transactions record two events
                        service.record(db=db, actor=OFFICIAL, region="LJ", action="case.noted",
                                       entity_type="case", entity_id=f"{k}-{i}", at=START)
                with lock:
                    committed.append((began, time.perf_counter(), event.seq))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def checkpointer() -> None:
        try:
            while not writers_done.is_set():
                with database.session(write=True) as db:
                    service.create_checkpoint(db=db, signer=signer, now=START)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(THREADS)]
    signing = threading.Thread(target=checkpointer)
    signing.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    writers_done.set()
    signing.join(60)
    assert not errors, errors

    expected = THREADS * PER_THREAD + THREADS * len(range(0, PER_THREAD, 3))
    with database.session(write=False) as db:
        events = db.scalar(select(func.count()).select_from(AuditEvent))
        assert db.scalar(select(Counter.value).where(Counter.name == "case")) == THREADS * PER_THREAD
    with database.session(write=False) as db:
        report = verify_log(db, signer.verifier)
    assert events == expected == report.size == report.events
    assert report.ok, report.findings
    assert report.checkpoints >= 1
    assert len({seq for _b, _c, seq in committed}) == THREADS * PER_THREAD
    # seq is commit order: a transaction that began after another had committed comes later.
    by_commit = sorted(committed, key=lambda c: c[1])
    for began, _committed, seq in committed:
        earlier = [s for _b, c, s in by_commit if c < began]
        assert all(s < seq for s in earlier)
    assert report.root_hash == ref.MTH(reference_entries(database))


def test_verification_reads_one_snapshot_while_events_are_appended(database, monkeypatch):
    from eresident.audit import repository
    from tests.audit.helpers import record_events

    record_events(database, 30)
    real_page = repository.event_page
    appended = []

    def page_then_append(db, after_seq, limit):
        rows = real_page(db, after_seq, limit)
        if not appended:  # another transaction commits new events mid-verification
            record_events(database, 7, per_transaction=7, first=100)
            appended.append(True)
        return rows

    monkeypatch.setattr(repository, "event_page", page_then_append)
    with database.session(write=False) as db:
        report = verify_log(db, None, page=4)
    assert report.ok, report.findings
    assert report.events == report.size == 30
    monkeypatch.setattr(repository, "event_page", real_page)
    with database.session(write=False) as db:
        assert verify_log(db, None).events == 37
