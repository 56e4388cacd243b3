"""Queries of the audit log: the head row and its lock, node and event rows, checkpoints."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from eresident.audit.merkle import NodeKey, split_frontier
from eresident.audit.models import AuditCheckpoint, AuditEvent, AuditLogHead, AuditTreeNode

HEAD_ID = 1
_events = AuditEvent.__table__
_nodes = AuditTreeNode.__table__
_head = AuditLogHead.__table__

# The append path runs inside every audited transaction, so it talks to the driver directly, on
# the session's own connection and transaction: through SQLAlchemy's statement layer each of
# these statements costs 10-30x more CPU (benchmarks/audit.py), about the price of the rest.
_EVENT_COLUMNS = ("seq", "id", "occurred_at", "region", "actor_type", "actor_id", "actor_home_region",
                  "action", "entity_type", "entity_id", "before", "after", "salt")
_EVENT_INSERT = ('INSERT INTO audit_events (seq, id, occurred_at, region, actor_type, actor_id, '
                 'actor_home_region, action, entity_type, entity_id, "before", "after", salt) VALUES ')
_SQLITE = {
    "lock": "SELECT size, frontier FROM audit_log_head WHERE id = 1",
    "create": "INSERT INTO audit_log_head (id, size, frontier) VALUES (1, 0, ?) ON CONFLICT DO NOTHING",
    "events": _EVENT_INSERT + "(" + ", ".join("?" * len(_EVENT_COLUMNS)) + ")",
    "nodes": "INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)",
    "head": "UPDATE audit_log_head SET size = ?, frontier = ? WHERE id = 1",
}
_PG = {
    "lock": "SELECT size, frontier FROM audit_log_head WHERE id = 1 FOR UPDATE",
    "create": "INSERT INTO audit_log_head (id, size, frontier) VALUES (1, 0, %s) ON CONFLICT DO NOTHING",
}
_READ_HEAD = select(_head.c.size, _head.c.frontier).where(_head.c.id == HEAD_ID)


def _driver(db: Session) -> tuple[Any, dict[str, str] | None]:
    """The DBAPI connection of this session's transaction (begun: BEGIN IMMEDIATE on SQLite)."""
    conn = db.connection()
    return conn.connection.driver_connection, (None if conn.dialect.name == "postgresql" else _SQLITE)


def lock_head(db: Session) -> tuple[int, list[bytes]]:
    """The log's size and frontier, with the head row locked until this transaction ends.
    On PostgreSQL this is what serialises appends; SQLite writers are serialised already
    (BEGIN IMMEDIATE), and SQLite has no FOR UPDATE."""
    raw, sqlite = _driver(db)
    sql = sqlite or _PG
    row = raw.execute(sql["lock"]).fetchone()
    if row is None:
        raw.execute(sql["create"], (b"",))
        row = raw.execute(sql["lock"]).fetchone()
    return row[0], split_frontier(bytes(row[1]))


_PG_APPEND = (
    "WITH appended AS (SELECT audit_log_append(%s) AS first_seq) "
    + _EVENT_INSERT.replace(" VALUES ", " ")
    + "SELECT appended.first_seq + v.n, v.id, v.occurred_at, v.region, v.actor_type, v.actor_id, "
    'v.actor_home_region, v.action, v.entity_type, v.entity_id, v."before", v."after", v.salt '
    "FROM appended, (VALUES {rows}) AS v (n, id, occurred_at, region, actor_type, actor_id, "
    'actor_home_region, action, entity_type, entity_id, "before", "after", salt) '
    "RETURNING seq")
_PG_EVENT_VALUES = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"  # n and the columns but seq


def append_pg_and_commit(conn: Connection, events: list[dict[str, Any]], leaves: list[bytes]) -> int:
    """PostgreSQL, called at COMMIT: one statement locks the head and appends the leaves and the
    events (function audit_log_append, migration 0002), and the COMMIT follows in the same
    pipeline. The lock is held from that statement to the end of COMMIT, and in between the
    server waits for nothing from this process. Returns the first new seq; raises (and commits
    nothing) if the append fails."""
    from psycopg.types.json import Json

    raw = conn.connection.driver_connection
    params: list[Any] = [leaves]
    for n, e in enumerate(events):
        params += [n, e["id"], e["occurred_at"], e["region"], e["actor_type"], e["actor_id"],
                   e["actor_home_region"], e["action"], e["entity_type"], e["entity_id"],
                   Json(e["before"]), Json(e["after"]), e["salt"]]
    with raw.pipeline():
        cursor = raw.execute(_PG_APPEND.format(rows=", ".join([_PG_EVENT_VALUES] * len(events))), params)
        raw.execute("COMMIT")
    return min(row[0] for row in cursor.fetchall())


def append_sqlite(db: Session, events: list[dict[str, Any]], nodes: list[tuple[int, int, bytes]],
                  size: int, frontier: Sequence[bytes]) -> None:
    """SQLite: store new events and tree nodes and move the head, under the write lock."""
    raw, sqlite = _driver(db)
    # Stored as SQLAlchemy's SQLite types store them: UUID as 32 hex digits, UTC time as text.
    raw.executemany(sqlite["events"], [
        (e["seq"], e["id"].hex, e["occurred_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
         e["region"], e["actor_type"], e["actor_id"], e["actor_home_region"], e["action"],
         e["entity_type"], e["entity_id"], json.dumps(e["before"]), json.dumps(e["after"]), e["salt"])
        for e in events])
    raw.executemany(sqlite["nodes"], nodes)
    raw.execute(sqlite["head"], (size, b"".join(frontier)))


def is_postgres(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def read_head(db: Session) -> tuple[int, list[bytes]]:
    row = db.execute(_READ_HEAD).first()
    return (0, []) if row is None else (row.size, split_frontier(bytes(row.frontier)))


def nodes(db: Session, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored hashes of these nodes, in one query."""
    wanted = sorted(set(keys))
    found: dict[NodeKey, bytes] = {}
    for start in range(0, len(wanted), 200):
        chunk = wanted[start:start + 200]
        condition = or_(*(and_(_nodes.c.level == level, _nodes.c.idx == index) for level, index in chunk))
        for level, index, value in db.execute(select(_nodes.c.level, _nodes.c.idx, _nodes.c.hash)
                                              .where(condition)):
            found[(level, index)] = bytes(value)
    return found


def node_page(db: Session, level: int, after: int, limit: int) -> list[tuple[int, bytes]]:
    """Nodes of one level with index >= after, in index order."""
    rows = db.execute(select(_nodes.c.idx, _nodes.c.hash)
                      .where(_nodes.c.level == level, _nodes.c.idx >= after)
                      .order_by(_nodes.c.idx).limit(limit))
    return [(index, bytes(value)) for index, value in rows]


def count_nodes(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(_nodes)) or 0


def nodes_beyond(db: Session, size: int, limit: int = 5) -> list[NodeKey]:
    """Stored nodes that a tree of `size` leaves does not have (one index lookup per level)."""
    found: list[NodeKey] = []
    for level in range(64):
        rows = db.scalars(select(_nodes.c.idx).where(_nodes.c.level == level,
                                                     _nodes.c.idx >= size >> level)
                          .order_by(_nodes.c.idx).limit(limit))
        found += [(level, index) for index in rows]
    return found[:limit]


def event_page(db: Session, after_seq: int, limit: int) -> list[Any]:
    """Event rows with seq > after_seq, in seq order, as plain rows (no ORM identity map)."""
    return list(db.execute(select(_events).where(_events.c.seq > after_seq)
                           .order_by(_events.c.seq).limit(limit)))


def event_seq_by_id(db: Session, event_id: uuid.UUID) -> int | None:
    return db.scalar(select(_events.c.seq).where(_events.c.id == event_id))


def event_by_seq(db: Session, seq: int) -> Any | None:
    return db.execute(select(_events).where(_events.c.seq == seq)).first()


def latest_checkpoint(db: Session) -> AuditCheckpoint | None:
    return db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc(),
                                                       AuditCheckpoint.id.desc()).limit(1)).first()


def checkpoint_of_size(db: Session, size: int) -> AuditCheckpoint | None:
    return db.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == size)
                      .order_by(AuditCheckpoint.id.desc()).limit(1)).first()


def all_checkpoints(db: Session) -> list[AuditCheckpoint]:
    return list(db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
