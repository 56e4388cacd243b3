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
from typing import Any, ClassVar

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
    """Plain INSERTs (one executemany) in the session's transaction, without the unit of work, for
    rows the request writes once and does not touch again. Every row names every column."""
    if rows:
        driver(db).many(_insert_of(model.__table__), rows)


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
    driver(db).run(_insert_of(table), values)
    attach_loaded(db, obj)


def attach_loaded(db: Session, obj: Base) -> None:
    """Put an object built from a row this transaction read or wrote into the session as persistent:
    no SELECT, no INSERT; later changes to it are UPDATEs."""
    make_transient_to_detached(obj)
    db.add(obj)


# -- the driver level: for the few statements every request runs ----------------------------------
#
# Through SQLAlchemy a statement costs 40-150 µs (cache key, execution context, result proxy, ORM
# loading); the driver itself takes 5-15 µs on SQLite. `Prepared` keeps SQLAlchemy as the one source
# of the SQL and of the type handling (UUIDs, aware datetimes, JSON as each dialect stores them) but
# compiles once per dialect and then calls the DB-API cursor directly. It runs either inside a
# Session's transaction (`driver(db)`) or in a `Database.transaction()`, which has no ORM at all.


class _Compiled:
    __slots__ = ("sql", "names", "processors", "positional", "results", "fixed")

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        if self.positional:
            assert compiled.positiontup is not None
            self.names: tuple[str, ...] = tuple(compiled.positiontup)
        else:
            self.names = tuple(compiled.binds)
        for name in self.names:
            if compiled.binds[name].expanding:
                raise ValueError(f"Prepared statements take no expanding parameters ({name})")
        # Values fixed in the statement itself (a LIMIT 1 is a parameter too).
        self.fixed = {name: bind.value for name, bind in compiled.binds.items()
                      if not bind.required and bind.value is not None}
        procs = {name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names}
        self.processors = tuple((name, procs[name]) for name in self.names)
        # What a SELECT, or a DML statement's RETURNING, gives back (a text() statement: as the driver has it).
        returned = getattr(stmt, "exported_columns", ())
        self.results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned)

    def params(self, values: dict):
        if self.fixed:
            values = {**self.fixed, **values}
        if self.positional:
            return [values[name] if proc is None else proc(values[name]) for name, proc in self.processors]
        return {name: values[name] if proc is None else proc(values[name]) for name, proc in self.processors}

    def row(self, raw: tuple) -> tuple:
        if not any(self.results):
            return tuple(raw)
        return tuple(v if proc is None or v is None else proc(v) for v, proc in zip(raw, self.results, strict=True))


class Prepared:
    """A Core statement run on the driver's cursor with SQLAlchemy's type processing. Every bind
    parameter must be given (an INSERT names every column it writes: no Python-side defaults)."""

    __slots__ = ("stmt", "_compiled")

    def __init__(self, stmt):
        self.stmt = stmt
        self._compiled: dict[str, _Compiled] = {}

    @classmethod
    def insert(cls, table: Table, *, skip: tuple[str, ...] = ()) -> Prepared:
        """INSERT of every column of `table` but an autoincrement key and those in `skip`."""
        from sqlalchemy import bindparam, insert

        columns = [c for c in table.columns if c.name not in skip
                   and not (c.primary_key and c.autoincrement is True)]
        return cls(insert(table).values({c: bindparam(c.name, type_=c.type) for c in columns}))

    def compiled(self, dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _Compiled(self.stmt, dialect)
        return found


_inserts: dict[Table, Prepared] = {}


def _insert_of(table: Table) -> Prepared:
    found = _inserts.get(table)
    if found is None:
        found = _inserts[table] = Prepared.insert(table)
    return found


class Driver:
    """The DB-API connection under a transaction, with its dialect: runs `Prepared` statements."""

    __slots__ = ("connection", "dialect", "is_sqlite", "_cursor")

    def __init__(self, connection, dialect):
        self.connection: Any = connection  # sqlite3.Connection or psycopg.Connection
        self.dialect = dialect
        self.is_sqlite = dialect.name == "sqlite"
        self._cursor: Any = None if self.is_sqlite else connection.cursor()

    def _execute(self, compiled: _Compiled, params):
        if self.is_sqlite:
            return self.connection.execute(compiled.sql, params)
        cursor = self._cursor
        cursor.execute(compiled.sql, params)
        return cursor

    def run(self, statement: Prepared, values: dict | None = None) -> int:
        """Execute; returns the number of rows changed."""
        compiled = statement.compiled(self.dialect)
        return self._execute(compiled, compiled.params(values or {})).rowcount

    def start(self, statement: Prepared, values: dict | None = None):
        """Execute on a cursor of its own and return it: inside `pipeline()` its rowcount is known
        once the pipeline ends (on SQLite at once)."""
        compiled = statement.compiled(self.dialect)
        params = compiled.params(values or {})
        if self.is_sqlite:
            return self.connection.execute(compiled.sql, params)
        cursor = self.connection.cursor()
        cursor.execute(compiled.sql, params)
        return cursor

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """On PostgreSQL, send the statements of the block in one round trip (psycopg's pipeline
        mode; errors surface when the block ends). On SQLite every statement is a function call."""
        if self.is_sqlite:
            yield
        else:
            with self.connection.pipeline():
                yield

    def many(self, statement: Prepared, rows: list[dict]) -> None:
        if not rows:
            return
        compiled = statement.compiled(self.dialect)
        params = [compiled.params(row) for row in rows]
        if self.is_sqlite:
            self.connection.executemany(compiled.sql, params)
        else:
            self._cursor.executemany(compiled.sql, params)

    def first(self, statement: Prepared, values: dict | None = None) -> tuple | None:
        compiled = statement.compiled(self.dialect)
        raw = self._execute(compiled, compiled.params(values or {})).fetchone()
        return None if raw is None else compiled.row(raw)

    def all(self, statement: Prepared, values: dict | None = None) -> list[tuple]:
        compiled = statement.compiled(self.dialect)
        return [compiled.row(raw) for raw in self._execute(compiled, compiled.params(values or {})).fetchall()]

    def scalar(self, statement: Prepared, values: dict | None = None):
        row = self.first(statement, values)
        return None if row is None else row[0]


_DRIVER = "eresident.driver"


def driver(db: Session | Driver) -> Driver:
    """The driver under a session's transaction (begun if it was not), or the Driver itself."""
    if isinstance(db, Driver):
        return db
    found = db.info.get(_DRIVER)
    if found is None:
        conn = db.connection()
        found = db.info[_DRIVER] = Driver(conn.connection.driver_connection, conn.dialect)
    return found


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, transaction) -> None:
    if transaction.parent is None:  # the connection goes back to the pool: its driver goes with it
        session.info.pop(_DRIVER, None)


def utcnow() -> datetime:  # only for column defaults of rows written outside a request (never domain logic)
    return datetime.now(UTC)


class Database:
    """An engine plus the session factory; `session(write=...)` is the unit of work."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL", echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        self._tx_writer: Any = None  # SQLite: the connection of write transactions (`transaction`)
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
            # On the driver: through SQLAlchemy's execution path a BEGIN costs as much as a query.
            raw = conn.connection.driver_connection
            options = conn.get_execution_options()
            if options.get("eresident_slot_held"):  # the request took the write slot already
                raw.execute("BEGIN IMMEDIATE")
            elif options.get("eresident_write"):
                lock.acquire()
                conn.info["eresident_holds_write_lock"] = True
                try:
                    raw.execute("BEGIN IMMEDIATE")
                except BaseException:
                    conn.info.pop("eresident_holds_write_lock", None)
                    lock.release()
                    raise
            else:
                raw.execute("BEGIN")

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
                # Usually free (this loop's requests queue on `writer`): no thread hand-off then.
                if not self._write_lock.acquire(blocking=False):
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

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Driver]:
        """One transaction on a pooled driver connection with no ORM and no audit hooks: for hot
        paths that only run `Prepared` statements (the workflow engine's commands). Commits when the
        block ends normally, rolls back on any exception. On SQLite a writer takes the process's
        write lock first, as a write session does."""
        if self.is_sqlite and write:
            # SQLite has one writer at a time anyway: it keeps one connection for these transactions
            # (MEASURED.md, trap 1), used only under the write lock, with no pool checkout per command.
            with self._write_lock:
                if self._tx_writer is None:
                    self._tx_writer = self.engine.raw_connection()
                raw: Any = self._tx_writer.driver_connection
                raw.execute("BEGIN IMMEDIATE")
                yield from self._run(raw)
            return
        pooled = self.engine.raw_connection()
        try:
            raw = pooled.driver_connection
            if self.is_sqlite:
                raw.execute("BEGIN")
            yield from self._run(raw)
        finally:
            pooled.close()

    def _run(self, raw: Any) -> Iterator[Driver]:
        try:
            yield Driver(raw, self.engine.dialect)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise

    def dispose(self) -> None:
        with self._write_lock:
            if self._tx_writer is not None:
                self._tx_writer.close()
                self._tx_writer = None
        self.engine.dispose()
