"""Applicants, their e-residency applications, consents, automatic checks and e-residents."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class Applicant(Base):
    """An account of a person applying from abroad."""

    __tablename__ = "applicants"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    confirm_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Application(Base):
    """One application for e-residency; its status is the state of the case."""

    __tablename__ = "applications"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    region: Mapped[str] = mapped_column(String(8))
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    surname: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(200))
    native_name: Mapped[str] = mapped_column(String(200), default="")
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    nationality: Mapped[str] = mapped_column(String(3))
    residence_country: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(500))
    # The passport number and MRZ never sit in clear text; lookups use a keyed blind index.
    passport_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    passport_index: Mapped[str] = mapped_column(String(64), index=True)
    mrz_enc: Mapped[bytes] = mapped_column(LargeBinary)
    document_format: Mapped[str] = mapped_column(String(4))
    passport_expiry: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(Text)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_sites.id"))
    photo_document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    screening_hits: Mapped[int] = mapped_column(Integer, default=0)
    risk_score: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("officials.id"), nullable=True)
    recommendation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    recommendation_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    approver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("officials.id"), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decision_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    documents: Mapped[list[ApplicationDocument]] = relationship(lazy="selectin",
                                                                cascade="all, delete-orphan")
    checks: Mapped[list[CheckResult]] = relationship(lazy="selectin", cascade="all, delete-orphan",
                                                     order_by="CheckResult.created_at")


class ApplicationDocument(Base):
    __tablename__ = "application_documents"
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))


class Consent(Base):
    """A PIPL consent: what was agreed to, which text version, and when."""

    __tablename__ = "consents"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    text_version: Mapped[str] = mapped_column(String(32))
    text_sha256: Mapped[str] = mapped_column(String(64))
    granted: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CheckResult(Base):
    """One automatic or human check on an application, with what it found."""

    __tablename__ = "check_results"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    check: Mapped[str] = mapped_column(String(32))  # mrz | expiry | duplicate | screening
    outcome: Mapped[str] = mapped_column(String(16))  # pass | refer | fail
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InfoRequest(Base):
    """A reviewer's request for more information, and the applicant's answer."""

    __tablename__ = "info_requests"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    official_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("officials.id"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EResident(Base):
    """An approved applicant: their number and status in this region. A row whose region is
    another's stands for an e-resident of that region recognised here (identity/recognition.py):
    it has no application here and its status follows the home region."""

    __tablename__ = "e_residents"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    region: Mapped[str] = mapped_column(String(8))
    application_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("applications.id"), unique=True,
                                                              nullable=True)
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # active | suspended | revoked
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ScreeningEntity(Base):
    """One entry of an imported sanctions list, kept in its FollowTheMoney shape."""

    __tablename__ = "screening_entities"
    __table_args__ = (UniqueConstraint("list_name", "entity_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    list_name: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApplicationDraft(Base):
    """An application being filled in section by section (identity/drafts.py): one per applicant. The
    answers hold a passport number and MRZ, so the whole JSON is encrypted at rest."""

    __tablename__ = "application_drafts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), unique=True)
    answers_enc: Mapped[bytes] = mapped_column(LargeBinary)
    photo_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    supporting_document_ids: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
