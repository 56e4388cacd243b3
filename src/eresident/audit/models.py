"""The audit trail: one row per state change, written in the change's own transaction, and the
RFC 9162 Merkle log over it (stored subtree hashes, the log head, signed checkpoints)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
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


# -- witnessing (migration 0009) -------------------------------------------------------------

class AuditCosignature(Base):
    """A peer's C2SP tlog-cosignature/v1 line over one of this node's checkpoints, as received
    and checked against the peer's published key."""

    __tablename__ = "audit_cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness_region"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("audit_checkpoints.id", ondelete="CASCADE"), index=True)
    witness_region: Mapped[str] = mapped_column(String(8))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # the cosigner's POSIX time, as signed
    line: Mapped[str] = mapped_column(Text)  # "— <name> base64(key id || timestamp || signature)"
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WitnessedCheckpoint(Base):
    """A peer's checkpoint this node checked (signature, consistency with the one before) and
    cosigned. The largest per peer is what the next one must be proven consistent with."""

    __tablename__ = "audit_witnessed_checkpoints"
    __table_args__ = (UniqueConstraint("peer_region", "tree_size"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    peer_region: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(255))
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the peer's signed note, as received
    cosignature: Mapped[str] = mapped_column(Text)  # our cosignature line, as sent back
    witnessed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditAlarm(Base):
    """A checkpoint that is not consistent with one witnessed before (a fork or a rollback), kept
    as evidence. `role` is `witness` on the node that caught it and `origin` on the node whose log
    it is, when the witness reported it."""

    __tablename__ = "audit_alarms"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    role: Mapped[str] = mapped_column(String(8))  # witness | origin
    peer_region: Mapped[str] = mapped_column(String(8), index=True)  # the other node
    origin: Mapped[str] = mapped_column(String(255))  # the log concerned
    reason: Mapped[str] = mapped_column(String(32))  # fork | rollback | inconsistent
    detail: Mapped[str] = mapped_column(Text)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text)  # the offending signed note
    witnessed_note: Mapped[str | None] = mapped_column(Text, nullable=True)  # what it contradicts
    proof: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # the consistency proof sent
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
