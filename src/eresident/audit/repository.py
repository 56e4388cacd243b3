"""Queries of the audit log: the head row and its lock, appends, node and event rows, checkpoints.

The append path runs inside every audited transaction and proofs are served to the public, so
those statements go to the driver directly, on the session's own connection and transaction:
through SQLAlchemy's statement layer each costs 10-30x the CPU (benchmarks/audit.py), which on
a busy node is as much as the rest of the work. Everything else is ordinary SQLAlchemy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from eresident.audit.merkle import NodeKey, split_frontier
from eresident.kit.db import driver
from eresident.audit.models import (
    AuditAlarm,
    AuditCheckpoint,
    AuditCosignature,
    AuditEvent,
    AuditTreeNode,
    WitnessedCheckpoint,
)

_events = AuditEvent.__table__
_nodes = AuditTreeNode.__table__
_EVENT_COLUMNS = ("seq", "id", "occurred_at", "region", "actor_type", "actor_id", "actor_home_region",
                  "action", "entity_type", "entity_id", "before", "after", "salt")
_EVENT_INSERT = ('INSERT INTO audit_events (seq, id, occurred_at, region, actor_type, actor_id, '
                 'actor_home_region, action, entity_type, entity_id, "before", "after", salt) ')


@dataclass(frozen=True)
class _Dialect:
    postgres: bool
    read_head: str
    lock_head: str
    create_head: str
    node_lookup: str  # for SQLite, one OR term per node


_SQLITE = _Dialect(
    postgres=False,
    read_head="SELECT size, frontier FROM audit_log_head WHERE id = 1",
    lock_head="SELECT size, frontier FROM audit_log_head WHERE id = 1",  # BEGIN IMMEDIATE holds it
    create_head="INSERT INTO audit_log_head (id, size, frontier) VALUES (1, 0, ?) ON CONFLICT DO NOTHING",
    node_lookup="(level = ? AND idx = ?)",
)
_PG = _Dialect(
    postgres=True,
    read_head="SELECT size, frontier FROM audit_log_head WHERE id = 1",
    lock_head="SELECT size, frontier FROM audit_log_head WHERE id = 1 FOR UPDATE",
    create_head="INSERT INTO audit_log_head (id, size, frontier) VALUES (1, 0, %s) ON CONFLICT DO NOTHING",
    node_lookup=("SELECT n.level, n.idx, n.hash FROM audit_tree_nodes n "
                 "JOIN unnest(%s::smallint[], %s::bigint[]) AS k (level, idx) "
                 "ON n.level = k.level AND n.idx = k.idx"),
)
_SQLITE_INSERT_EVENT = _EVENT_INSERT + "VALUES (" + ", ".join("?" * len(_EVENT_COLUMNS)) + ")"
_SQLITE_INSERT_NODE = "INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)"
_SQLITE_MOVE_HEAD = "UPDATE audit_log_head SET size = ?, frontier = ? WHERE id = 1"
# PostgreSQL: the function audit_log_append (migration 0002) locks the head, stores the leaves and
# the subtrees they complete and moves the head; the same statement stores the events after it.
_PG_APPEND = (
    "WITH appended AS (SELECT audit_log_append(%s) AS first_seq) " + _EVENT_INSERT
    + "SELECT appended.first_seq + v.n, v.id, v.occurred_at, v.region, v.actor_type, v.actor_id, "
    'v.actor_home_region, v.action, v.entity_type, v.entity_id, v."before", v."after", v.salt '
    "FROM appended, (VALUES {rows}) AS v (n, id, occurred_at, region, actor_type, actor_id, "
    'actor_home_region, action, entity_type, entity_id, "before", "after", salt) '
    "RETURNING seq")
_PG_EVENT_ROW = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"  # its offset n, then all but seq


def _driver(db: Session) -> tuple[Any, _Dialect]:
    """The DBAPI connection of this session's transaction (begun: BEGIN IMMEDIATE for a SQLite
    writer), and what to say to it."""
    d = driver(db)
    return d.connection, (_SQLITE if d.is_sqlite else _PG)


def is_postgres(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def read_head(db: Session) -> tuple[int, list[bytes]]:
    """The log's size and frontier as this transaction sees them."""
    raw, sql = _driver(db)
    row = raw.execute(sql.read_head).fetchone()
    return (0, []) if row is None else (row[0], split_frontier(bytes(row[1])))


def lock_head(db: Session) -> tuple[int, list[bytes]]:
    """The log's size and frontier, with the head row locked until this transaction ends (made
    if missing). SQLite has no FOR UPDATE: its writers are serialised by BEGIN IMMEDIATE."""
    raw, sql = _driver(db)
    row = raw.execute(sql.lock_head).fetchone()
    if row is None:
        raw.execute(sql.create_head, (b"",))
        row = raw.execute(sql.lock_head).fetchone()
    return row[0], split_frontier(bytes(row[1]))


def append_sqlite(db: Session, events: list[dict[str, Any]], nodes: list[tuple[int, int, bytes]],
                  size: int, frontier: Sequence[bytes]) -> None:
    """SQLite: store new events (their seq set) and tree nodes and move the head."""
    raw, _ = _driver(db)
    # Stored as SQLAlchemy's SQLite types store them: UUID as 32 hex digits, UTC time as text.
    raw.executemany(_SQLITE_INSERT_EVENT, [
        (e["seq"], e["id"].hex, e["occurred_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
         e["region"], e["actor_type"], e["actor_id"], e["actor_home_region"], e["action"],
         e["entity_type"], e["entity_id"], json.dumps(e["before"]), json.dumps(e["after"]), e["salt"])
        for e in events])
    raw.executemany(_SQLITE_INSERT_NODE, nodes)
    raw.execute(_SQLITE_MOVE_HEAD, (size, b"".join(frontier)))


def append_pg_and_commit(conn: Connection, events: list[dict[str, Any]], leaves: list[bytes]) -> int:
    """PostgreSQL, at COMMIT: the append statement and the COMMIT go out in one pipeline, so the
    server holds the head lock only while it runs those two and waits for nothing from this
    process in between. Returns the first new seq; raises, committing nothing, if either fails."""
    from psycopg.types.json import Json

    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection has its driver connection
    params: list[Any] = [leaves]
    for n, e in enumerate(events):
        params += [n, e["id"], e["occurred_at"], e["region"], e["actor_type"], e["actor_id"],
                   e["actor_home_region"], e["action"], e["entity_type"], e["entity_id"],
                   Json(e["before"]), Json(e["after"]), e["salt"]]
    with raw.pipeline():
        cursor = raw.execute(_PG_APPEND.format(rows=", ".join([_PG_EVENT_ROW] * len(events))), params)
        raw.execute("COMMIT")
    return min(row[0] for row in cursor.fetchall())


def nodes(db: Session, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored hashes of these nodes, in one query (a proof needs O(log n) of them)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    raw, sql = _driver(db)
    if sql.postgres:
        rows = raw.execute(sql.node_lookup, ([k[0] for k in wanted], [k[1] for k in wanted])).fetchall()
    else:  # an OR of primary-key lookups, which SQLite answers each from the index
        rows = []
        for start in range(0, len(wanted), 400):
            chunk = wanted[start:start + 400]
            rows += raw.execute("SELECT level, idx, hash FROM audit_tree_nodes WHERE "
                                + " OR ".join([sql.node_lookup] * len(chunk)),
                                [part for key in chunk for part in key]).fetchall()
    return {(level, index): bytes(value) for level, index, value in rows}


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


def first_event_of(db: Session, entity_type: str, entity_id: str, action: str) -> Any | None:
    """The first event of `action` on an entity (a licence's `licence.issued`), as a plain row."""
    return db.execute(select(_events).where(_events.c.entity_type == entity_type,
                                            _events.c.entity_id == entity_id, _events.c.action == action)
                      .order_by(_events.c.seq).limit(1)).first()


def latest_checkpoint(db: Session) -> AuditCheckpoint | None:
    return db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc(),
                                                       AuditCheckpoint.id.desc()).limit(1)).first()


def checkpoint_of_size(db: Session, size: int) -> AuditCheckpoint | None:
    return db.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == size)
                      .order_by(AuditCheckpoint.id.desc()).limit(1)).first()


def all_checkpoints(db: Session) -> list[AuditCheckpoint]:
    return list(db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))


# -- witnessing ------------------------------------------------------------------------------

def lock_witnessing(db: Session, region: str) -> None:
    """Serialise the witnessing of one peer's log until this transaction ends (PostgreSQL: an
    advisory lock; SQLite writers are serialised already)."""
    if is_postgres(db):
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"audit.witness:{region}"})


def latest_witnessed(db: Session, region: str) -> WitnessedCheckpoint | None:
    return db.scalars(select(WitnessedCheckpoint).where(WitnessedCheckpoint.peer_region == region)
                      .order_by(WitnessedCheckpoint.tree_size.desc()).limit(1)).first()


def witnessed_heads(db: Session) -> list[WitnessedCheckpoint]:
    """The largest checkpoint witnessed from each peer."""
    largest = (select(WitnessedCheckpoint.peer_region, func.max(WitnessedCheckpoint.tree_size).label("size"))
               .group_by(WitnessedCheckpoint.peer_region).subquery())
    return list(db.scalars(select(WitnessedCheckpoint).join(
        largest, (WitnessedCheckpoint.peer_region == largest.c.peer_region)
        & (WitnessedCheckpoint.tree_size == largest.c.size)).order_by(WitnessedCheckpoint.peer_region)))


def last_cosigned(db: Session, region: str) -> AuditCheckpoint | None:
    """This node's largest checkpoint that `region` cosigned."""
    return db.scalars(select(AuditCheckpoint).join(AuditCosignature,
                                                   AuditCosignature.checkpoint_id == AuditCheckpoint.id)
                      .where(AuditCosignature.witness_region == region)
                      .order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()


def latest_cosigned_checkpoint(db: Session) -> AuditCheckpoint | None:
    """This node's largest checkpoint that any peer cosigned."""
    return db.scalars(select(AuditCheckpoint).join(AuditCosignature,
                                                   AuditCosignature.checkpoint_id == AuditCheckpoint.id)
                      .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc()).limit(1)).first()


def checkpoint_with_root(db: Session, size: int, root: bytes) -> AuditCheckpoint | None:
    return db.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == size,
                                                    AuditCheckpoint.root_hash == root)
                      .order_by(AuditCheckpoint.id).limit(1)).first()


def cosignatures(db: Session, checkpoint_id: int) -> list[AuditCosignature]:
    return list(db.scalars(select(AuditCosignature).where(AuditCosignature.checkpoint_id == checkpoint_id)
                           .order_by(AuditCosignature.witness_region)))


def cosignature(db: Session, checkpoint_id: int, region: str) -> AuditCosignature | None:
    return db.scalars(select(AuditCosignature).where(AuditCosignature.checkpoint_id == checkpoint_id,
                                                     AuditCosignature.witness_region == region)).first()


def alarms(db: Session, limit: int = 100) -> list[AuditAlarm]:
    return list(db.scalars(select(AuditAlarm).order_by(AuditAlarm.detected_at.desc()).limit(limit)))



def witnessed_of_size(db: Session, region: str, size: int) -> WitnessedCheckpoint | None:
    return db.scalars(select(WitnessedCheckpoint).where(WitnessedCheckpoint.peer_region == region,
                                                        WitnessedCheckpoint.tree_size == size)).first()


def cosignatures_for(db: Session, size: int, root: bytes) -> list[AuditCosignature]:
    """Cosignatures of any of this node's checkpoints with that size and root (a forced re-sign of
    the same head is the same statement), one per witness."""
    rows = db.scalars(select(AuditCosignature).join(AuditCheckpoint,
                                                    AuditCosignature.checkpoint_id == AuditCheckpoint.id)
                      .where(AuditCheckpoint.tree_size == size, AuditCheckpoint.root_hash == root)
                      .order_by(AuditCosignature.witness_region, AuditCosignature.id))
    seen: dict[str, AuditCosignature] = {}
    for row in rows:
        seen.setdefault(row.witness_region, row)
    return list(seen.values())
