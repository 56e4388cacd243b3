"""The audit trail: one row per state change, written in the change's own transaction, and the
RFC 9162 Merkle log over it (stored subtree hashes, the log head, signed checkpoints)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class AuditEvent(Base):
    """An event. `seq` is its position in the log plus one: assigned at commit, under the log
    head's lock, so the order of seq is the order of commit. `salt` makes its public leaf hash
    unguessable (see audit.service.leaf_input)."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    region: Mapped[str] = mapped_column(String(8))
    actor_type: Mapped[str] = mapped_column(String(16))  # official | applicant | system | peer
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_home_region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))


class AuditTreeNode(Base):
    """A complete subtree of the log: the hash of leaves [index * 2**level, (index + 1) * 2**level).
    Level 0 holds the leaf hashes. About two rows per event; never updated."""

    __tablename__ = "audit_tree_nodes"
    __table_args__ = {"sqlite_with_rowid": False}
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("idx", BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditLogHead(Base):
    """The one row appends lock (SELECT ... FOR UPDATE): the log's size and its frontier, the
    roots of its complete subtrees, largest first, concatenated."""

    __tablename__ = "audit_log_head"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed tree head: the C2SP signed note as served, with its size and root for lookups."""

    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text)
