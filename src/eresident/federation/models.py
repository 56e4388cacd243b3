"""Messages between nodes: the sender's transactional outbox and the receiver's inbox.

An outbox row is written in the same transaction as the change that causes it and stays until a
peer has acknowledged it. An inbox row is keyed by the message id and written in the same
transaction as the message's effect, so a message takes effect once however often it arrives.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class OutboxMessage(Base):
    """A message to a peer. `next_attempt_at` is NULL once delivered, so the due-index stays small;
    while a delivery is in flight it holds the claim's lease (a crashed sender's claim expires).

    A message the peer keeps refusing is given up ("dead"): `dead_at` is set and `next_attempt_at`
    cleared, but the row keeps its payload, attempts and last error until an operator requeues it.
    A requeue gives it a fresh allowance, counted from `requeued_at` and `attempts_at_requeue`."""

    __tablename__ = "federation_outbox"
    __table_args__ = (Index("ix_federation_outbox_due", "next_attempt_at"),
                      Index("ix_federation_outbox_peer_region", "peer_region", "delivered_at"))
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    peer_region: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    requeued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts_at_requeue: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class InboxMessage(Base):
    """A message from a peer that took effect here, and the answer it got (repeated verbatim)."""

    __tablename__ = "federation_inbox"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    peer_region: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the body first accepted
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The newest signature accepted for this message (its `created`): a repeat must be signed
    # later, so a captured request sent again is a replay and is refused.
    signature_created: Mapped[int] = mapped_column(BigInteger)  # Unix seconds
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[dict] = mapped_column(JSON)
