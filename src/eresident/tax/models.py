"""Tax registrations (one per licence, the USCC as tax number), the founder's declared intentions
before the licence, and the reminders sent before each filing deadline."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Numeric, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class TaxPreference(Base):
    """What the founder declares before the licence is issued: projected annual sales and whether
    they apply for general VAT taxpayer status. Read once, when the company is registered."""

    __tablename__ = "tax_preferences"
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"), primary_key=True)
    projected_annual_sales: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    apply_general: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaxRegistration(Base):
    """A company's registration with the competent tax office, made with its licence."""

    __tablename__ = "tax_registrations"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tax_number: Mapped[str] = mapped_column(String(18), unique=True)  # the USCC
    licence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licences.id"), unique=True)
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"))
    owner_applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    region: Mapped[str] = mapped_column(String(8))
    name_zh: Mapped[str] = mapped_column(String(200))
    established_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(32), index=True)  # registered | awaiting_officer | in_review
    taxpayer_status: Mapped[str] = mapped_column(String(16))  # small_scale | general
    status_basis: Mapped[str] = mapped_column(Text)  # the rule or the officer's decision
    general_application: Mapped[bool] = mapped_column(Boolean)
    projected_annual_sales: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    tax_office_code: Mapped[str] = mapped_column(String(32))
    tax_office_name_zh: Mapped[str] = mapped_column(String(200))
    tax_office_name_en: Mapped[str] = mapped_column(String(300))
    officer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("officials.id"), nullable=True, index=True)
    fapiao: Mapped[dict] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaxReminder(Base):
    """A reminder queued in the mail outbox before a deadline; the unique key makes it once only."""

    __tablename__ = "tax_reminders"
    __table_args__ = (UniqueConstraint("registration_id", "obligation_key"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tax_registrations.id"))
    obligation_key: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mail_id: Mapped[uuid.UUID] = mapped_column(Uuid)
