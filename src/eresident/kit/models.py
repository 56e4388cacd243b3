"""Tables every domain shares: counters for human numbers, single-use form tokens, the mail outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class Counter(Base):
    """A named sequence (case numbers, e-resident numbers) that both databases increment atomically."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class UsedFormToken(Base):
    """A form's one-time token, stored with the change it made, so a replayed form changes nothing."""

    __tablename__ = "used_form_tokens"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MailMessage(Base):
    """Mail waiting to be sent. No mail server exists here, so this table is the outbox people read."""

    __tablename__ = "mail_outbox"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
