"""Builders for the audit-log tests: events through `record`, the reference leaf of a stored row
(computed here from the documented format, not with eresident.audit code), a checkpoint signer,
and raw SQL for tampering with the database behind the application's back."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, select, text

from eresident.audit import merkle
from eresident.audit.models import AuditEvent
from eresident.audit.note import NoteSigner
from eresident.audit.service import Actor, record
from eresident.kit.db import Database

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
OFFICIAL = Actor("official", "5f0c6f8e-1b2c-4d5e-8f9a-0b1c2d3e4f50", "Li Wei", home_region="TF")


def record_events(database: Database, count: int, *, per_transaction: int = 1, first: int = 0) -> None:
    """`count` events, `per_transaction` to a commit, numbered from `first` in their entity ids."""
    n = first
    while n < first + count:
        with database.session(write=True) as db:
            for _ in range(min(per_transaction, first + count - n)):
                record(db=db, actor=OFFICIAL, region="LJ", action="application.claimed",
                       entity_type="application", entity_id=f"app-{n}",
                       at=START + timedelta(seconds=n, microseconds=n % 7),
                       before={"status": "awaiting_review", "n": n},
                       after={"status": "in_review", "note": "Ünïcode ✓ \u2028", "n": n, "ok": n % 2 == 0})
                n += 1


def reference_entry(row: AuditEvent) -> bytes:
    """RFC 9162's entry (leaf input) for a stored event: SHA-256(salt || JCS(event))."""
    event = {
        "id": str(row.id), "occurred_at": row.occurred_at.astimezone(UTC).isoformat(), "region": row.region,
        "actor_type": row.actor_type, "actor_id": row.actor_id, "actor_home_region": row.actor_home_region,
        "action": row.action, "entity_type": row.entity_type, "entity_id": row.entity_id,
        "before": row.before, "after": row.after,
    }
    return hashlib.sha256(bytes(row.salt) + rfc8785.dumps(event)).digest()


def stored_events(database: Database) -> list[AuditEvent]:
    with database.session(write=False) as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def reference_entries(database: Database) -> list[bytes]:
    return [reference_entry(row) for row in stored_events(database)]


def new_signer(name: str = "lj.test/audit") -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.generate())


def raw_sql(url: str, *statements: tuple[str, dict] | str) -> None:
    """Run SQL on the database directly, in one transaction, as someone with database access would."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                sql, params = (statement, {}) if isinstance(statement, str) else statement
                conn.execute(text(sql), params)
    finally:
        engine.dispose()


def rebuild_tree(database, url: str) -> None:
    """What a careful forger does: recompute every node and the head from the (changed) rows."""
    entries = reference_entries(database)
    frontier: list[bytes] = []
    nodes = []
    for index, entry in enumerate(entries):
        nodes += merkle.append(frontier, index, hashlib.sha256(b"\x00" + entry).digest())
    statements = ["DELETE FROM audit_tree_nodes"]
    statements += [("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (:l, :i, :h)",
                    {"l": level, "i": index, "h": value}) for level, index, value in nodes]
    statements.append(("UPDATE audit_log_head SET size = :s, frontier = :f",
                       {"s": len(entries), "f": b"".join(frontier)}))
    raw_sql(url, *statements)
