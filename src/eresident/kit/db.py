"""Database engine and sessions for SQLite (default) and PostgreSQL, with one writer per SQLite file.

SQLite serialises writers on a file lock whose busy wait sleeps; many pooled threads
fighting for it drop throughput tenfold (MEASURED.md, trap 1). So a write transaction
starts with BEGIN IMMEDIATE and first takes a process-wide lock, which queues writers
without sleeping. Read transactions stay concurrent (WAL).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import anyio
from sqlalchemy import DateTime, MetaData, Table, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # every model here maps one Table (DeclarativeBase types it as any FromClause)
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which drops the zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def insert_rows(db: Session, model: type[Base], rows: list[dict]) -> None:
    """Plain INSERTs (one executemany) in the session's transaction, without the unit of work.
    For rows the request writes once and does not touch again; column defaults still apply."""
    if rows:
        db.connection().execute(model.__table__.insert(), rows)


def insert_attached(db: Session, obj: Base) -> None:
    """INSERT an object with a plain statement, then attach it to the session as if just loaded, so
    later changes in the transaction UPDATE it (with its version check) without a SELECT first.
    Every column must be set on the object: a column left out would be expired and read back."""
    mapper = obj.__mapper__
    values = {}
    for attr in mapper.column_attrs:
        if attr.key not in obj.__dict__:
            raise ValueError(f"insert_attached: {type(obj).__name__}.{attr.key} is not set")
        values[attr.columns[0].name] = obj.__dict__[attr.key]
    table = mapper.local_table
    assert isinstance(table, Table)  # declarative models map tables, not other selectables
    db.connection().execute(table.insert(), values)
    make_transient_to_detached(obj)
    db.add(obj)


def utcnow() -> datetime:  # only for column defaults of rows written outside a request (never domain logic)
    return datetime.now(UTC)


class Database:
    """An engine plus the session factory; `session(write=...)` is the unit of work."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL", echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, echo=echo, pool_size=8, max_overflow=32, hide_parameters=True,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            self._install_sqlite_events(sqlite_synchronous)
        else:
            # No pre-ping (a round trip per request); recycle instead, and a dead connection
            # fails that one request cleanly.
            self.engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_recycle=1800,
                                        hide_parameters=True)
        self._writer = self.engine.execution_options(eresident_write=True)
        self._slot_writer = self.engine.execution_options(eresident_write=True, eresident_slot_held=True)
        self._reader = self.engine.execution_options(eresident_write=False)
        self._gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # Below both the connection pool's capacity and the 40 worker threads of the web server.
        self.max_sessions = 24

    def _install_sqlite_events(self, synchronous: str) -> None:
        lock = self._write_lock

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Let SQLAlchemy, not pysqlite, decide when transactions begin: savepoints work then.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn):
            options = conn.get_execution_options()
            if options.get("eresident_slot_held"):  # the request took the write slot already
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif options.get("eresident_write"):
                lock.acquire()
                conn.info["eresident_holds_write_lock"] = True
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                except BaseException:
                    conn.info.pop("eresident_holds_write_lock", None)
                    lock.release()
                    raise
            else:
                conn.exec_driver_sql("BEGIN")

        # The DBAPI commit/rollback has happened when these fire on the pool checkin,
        # so the next writer never finds the file still locked.
        @event.listens_for(self.engine, "checkin")
        def _on_checkin(_dbapi_connection, record):
            if record.info.pop("eresident_holds_write_lock", False):
                lock.release()


    @asynccontextmanager
    async def request_slot(self, *, write: bool) -> AsyncIterator[bool]:
        """Admit a request to the database, waiting in the event loop rather than in a thread.

        A request holds its connection (and, on SQLite, the write lock) across several worker-thread
        hand-offs. If waiting for either happened inside worker threads, a burst could take every
        thread while the holders still need one to finish, and the node would hang. So requests
        queue here: at most `max_sessions` hold a connection (fewer than the pool and the thread
        pool), and on SQLite one writer at a time holds the process lock. Yields whether the
        SQLite write lock is held for the request."""
        loop = asyncio.get_running_loop()
        gates = self._gates.get(loop)
        if gates is None:
            gates = self._gates[loop] = (asyncio.Semaphore(self.max_sessions), asyncio.Lock())
        sessions, writer = gates
        async with sessions:
            if not (write and self.is_sqlite):
                yield False
                return
            async with writer:
                await anyio.to_thread.run_sync(self._write_lock.acquire)
                try:
                    yield True
                finally:
                    self._write_lock.release()

    @contextmanager
    def session(self, *, write: bool, slot_held: bool = False) -> Iterator[Session]:
        """One transaction: commits when the block ends normally, rolls back on any exception."""
        bind = (self._slot_writer if slot_held else self._writer) if write else self._reader
        session = Session(bind=bind, expire_on_commit=False, autoflush=True)
        try:
            yield session
            if write:
                session.commit()
            # A read session just closes: its objects stay usable, detached, with what they loaded.
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
