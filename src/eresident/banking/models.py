"""Account-opening requests to partner banks: the founder's consent, the request and every step the
founder sees, the outbox that carries requests to the bank, and the inbox of the bank's callbacks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class BankConsent(Base):
    """The founder's explicit consent to share the company's KYC package with one bank (PIPL art. 23:
    separate consent to provide personal information to another handler): the text they agreed to,
    by its version and SHA-256."""

    __tablename__ = "bank_consents"
    __table_args__ = (UniqueConstraint("formation_id", "bank_code"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"))
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    text_version: Mapped[str] = mapped_column(String(32))
    text_sha256: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the founder withdrew it (PIPL art. 15); a new consent to the same bank clears it.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BankRequest(Base):
    """A company's request to one bank for its accounts; its id is the idempotency key the bank sees.
    One per company and bank."""

    __tablename__ = "bank_requests"
    __table_args__ = (UniqueConstraint("licence_id", "bank_code"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    licence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licences.id"))
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    owner_applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_consents.id"))
    status: Mapped[str] = mapped_column(String(32), index=True)
    bank_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    package: Mapped[dict] = mapped_column(JSON)  # the KYC package as sent
    accounts: Mapped[list] = mapped_column(JSON)
    video_call: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    refusal: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The founder's withdrawal of the consent behind this request: when, whether the package had left
    # (no / possibly / yes), and whether and what the bank was told.
    withdrawal: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # the newest bank event applied
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BankRequestEvent(Base):
    """One step of a request, as the founder sees it."""

    __tablename__ = "bank_request_events"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON)


class BankOutboxMessage(Base):
    """A message to the bank, written with the change that causes it; retried until the bank answers.
    `next_attempt_at` is NULL once delivered; while an attempt runs it holds the claim's lease."""

    __tablename__ = "bank_outbox"
    __table_args__ = (Index("ix_bank_outbox_due", "next_attempt_at"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # account_request | video_call_booking | consent_withdrawal
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BankCallback(Base):
    """A bank callback that was accepted (keyed by the bank's event id): a repeat changes nothing."""

    __tablename__ = "bank_callbacks"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_requests.id"), index=True)
    content_digest: Mapped[str] = mapped_column(String(64))
    signature_created: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied: Mapped[bool] = mapped_column(default=True)  # False: an older event than one applied already
