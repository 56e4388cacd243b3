"""The driver level (kit.db.Prepared, Driver, Database.transaction) on both databases: the same values
the ORM writes and reads, one transaction with the session it runs in, commit and rollback, the
SQLite write lock, PostgreSQL's pipeline."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select, update

from eresident.kit.db import Database, Prepared, driver, insert_attached, insert_rows
from eresident.kit.models import Counter
from eresident.workflow.models import WorkflowCase

_cases = WorkflowCase.__table__
INSERT_CASE = Prepared.insert(_cases)
CASE_BY_ID = Prepared(select(_cases).where(_cases.c.id == bindparam("id")))
NEWEST = Prepared(select(_cases.c.id).order_by(_cases.c.started_at.desc()).limit(1))  # LIMIT is a parameter too
BUMP = Prepared(update(Counter.__table__).where(Counter.__table__.c.name == bindparam("name"))
                .values(value=Counter.__table__.c.value + 1).returning(Counter.__table__.c.value))
AT = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def database(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


def case_row(**changes) -> dict:
    row = {"id": uuid.uuid4(), "process": "p", "version": 1, "subject_type": "t", "subject_id": uuid.uuid4(),
           "region": "LJ", "status": "open", "state": {"name": "Ahmed Benali — أحمد", "n": [1, 2.5, None, True]},
           "row_version": 1, "started_at": AT, "next_due_at": None, "ended_at": None, "outcome": None,
           "decided_by": None}
    return {**row, **changes}


def test_values_written_by_the_driver_read_back_by_the_orm_and_the_other_way(database):
    written = case_row()
    with database.transaction(write=True) as tx:
        tx.run(INSERT_CASE, written)
    with database.session(write=False) as db:
        loaded = db.get(WorkflowCase, written["id"])
        assert loaded is not None
        assert {c.name: getattr(loaded, c.name) for c in _cases.columns} == written
        assert loaded.started_at.tzinfo is not None
    orm = WorkflowCase(**case_row(next_due_at=datetime(2027, 1, 4, 1, 0, tzinfo=UTC)))
    with database.session(write=True) as db:
        db.add(orm)
    with database.transaction(write=False) as tx:
        row = tx.first(CASE_BY_ID, {"id": orm.id})
    assert row is not None and dict(zip([c.name for c in _cases.columns], row, strict=True)) == {
        c.name: getattr(orm, c.name) for c in _cases.columns}


def test_fixed_parameters_and_returning(database):
    first, second = case_row(started_at=AT), case_row(started_at=AT.replace(hour=10))
    with database.transaction(write=True) as tx:
        tx.many(INSERT_CASE, [first, second])
        assert tx.scalar(NEWEST) == second["id"]
        assert tx.scalar(BUMP, {"name": "missing"}) is None
    with database.session(write=True) as db:
        db.add(Counter(name="c", value=41))
    with database.transaction(write=True) as tx:
        assert tx.scalar(BUMP, {"name": "c"}) == 42


def test_a_transaction_commits_at_the_end_and_rolls_back_on_an_exception(database):
    kept, dropped = case_row(), case_row()
    with database.transaction(write=True) as tx:
        tx.run(INSERT_CASE, kept)
    with pytest.raises(RuntimeError):
        with database.transaction(write=True) as tx:
            tx.run(INSERT_CASE, dropped)
            raise RuntimeError("boom")
    with database.transaction(write=False) as tx:
        assert tx.first(CASE_BY_ID, {"id": kept["id"]}) is not None
        assert tx.first(CASE_BY_ID, {"id": dropped["id"]}) is None


def test_the_driver_of_a_session_is_inside_its_transaction(database):
    row = case_row()
    with pytest.raises(RuntimeError):
        with database.session(write=True) as db:
            driver(db).run(INSERT_CASE, row)
            db.add(Counter(name="with-it", value=1))
            assert db.get(WorkflowCase, row["id"]) is not None  # the session sees the driver's row
            raise RuntimeError("boom")
    with database.session(write=False) as db:
        assert db.get(WorkflowCase, row["id"]) is None and db.get(Counter, "with-it") is None


def test_insert_attached_then_orm_changes_are_updates_with_the_version_check(database):
    case = WorkflowCase(**case_row())
    with database.session(write=True) as db:
        insert_attached(db, case)
        case.status = "changed"  # an UPDATE at commit, not a second INSERT
    with database.session(write=False) as db:
        loaded = db.get(WorkflowCase, case.id)
        assert loaded is not None and loaded.status == "changed" and loaded.row_version == 2


def test_insert_rows_needs_every_column(database):
    with pytest.raises(KeyError):
        with database.session(write=True) as db:
            insert_rows(db, WorkflowCase, [{"id": uuid.uuid4(), "process": "p"}])


def test_an_expanding_parameter_is_refused_when_compiled(database):
    statement = Prepared(select(_cases.c.id).where(_cases.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="expanding"):
        with database.transaction(write=False) as tx:
            tx.all(statement, {"ids": [uuid.uuid4()]})


def test_errors_inside_a_pipeline_surface_and_nothing_is_kept(database):
    duplicate = case_row()
    with pytest.raises(Exception) as raised:
        with database.transaction(write=True) as tx:
            with tx.pipeline():
                tx.run(INSERT_CASE, duplicate)
                tx.run(INSERT_CASE, duplicate)
    # the driver's own IntegrityError (sqlite3's, or psycopg's UniqueViolation)
    assert any(k.__name__ == "IntegrityError" for k in type(raised.value).__mro__), raised.value
    with database.transaction(write=False) as tx:
        assert tx.first(CASE_BY_ID, {"id": duplicate["id"]}) is None


def test_a_pipeline_gives_rowcounts_when_it_ends(database):
    with database.session(write=True) as db:
        db.add(Counter(name="p", value=1))
    bump = Prepared(update(Counter.__table__).where(Counter.__table__.c.name == bindparam("name"))
                    .values(value=Counter.__table__.c.value + 1))
    with database.transaction(write=True) as tx:
        with tx.pipeline():
            hit = tx.start(bump, {"name": "p"})
            miss = tx.start(bump, {"name": "nobody"})
        assert (hit.rowcount, miss.rowcount) == (1, 0)


def test_sqlite_driver_writers_take_the_process_write_lock(database):
    if not database.is_sqlite:
        pytest.skip("PostgreSQL writers lock rows, not the database")
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        entered.wait(5)
        with database.transaction(write=True):
            order.append("second")

    thread = threading.Thread(target=other)
    thread.start()
    with database.transaction(write=True) as tx:
        entered.set()
        time.sleep(0.2)  # the other writer waits for the lock, not for SQLite's busy timeout
        tx.run(INSERT_CASE, case_row())
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    assert database._write_lock.acquire(blocking=False)
    database._write_lock.release()
