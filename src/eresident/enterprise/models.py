"""Enterprise names, company formations (with their parties, scope and signatures) and licences."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (JSON, BigInteger, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class RegisteredName(Base):
    """A name the region knows: reserved (until reserved_until), registered, or freed.

    `conflict_key` is the normalised trade name and industry code while the name still blocks
    others (the same trade name in the same industry); the unique constraint on it is what makes
    exactly one of two concurrent reservations win. It is cleared when the name stops holding
    (a lapsed reservation, a name freed more than a year ago)."""

    __tablename__ = "registered_names"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    region: Mapped[str] = mapped_column(String(8))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(300))
    trade_name: Mapped[str] = mapped_column(String(100))
    industry_code: Mapped[str] = mapped_column(String(64))
    conflict_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # reserved | registered | freed
    reserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    freed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    owner_type: Mapped[str] = mapped_column(String(16))  # e_resident | enterprise
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    needs_review: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Formation(Base):
    """An application to form a company: a wholly foreign-owned limited company, or a joint venture
    with a Chinese partner company."""

    __tablename__ = "formations"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    region: Mapped[str] = mapped_column(String(8))
    case_number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    owner_applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    owner_resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("e_residents.id"))
    name_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_names.id"))
    company_type: Mapped[str] = mapped_column(String(16))  # wfoe | jv (a joint venture with a Chinese partner)
    status: Mapped[str] = mapped_column(String(32), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    registered_capital: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    currency: Mapped[str] = mapped_column(String(3))
    address_kind: Mapped[str] = mapped_column(String(16))  # service_site | own
    address_zh: Mapped[str] = mapped_column(String(300))
    address_en: Mapped[str] = mapped_column(String(400))
    term_years: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: long-term
    articles_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    articles_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    report_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    # The same report as a signed bilingual PDF (migration 0014); report_document_id stays the JSON.
    report_pdf_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)
    scope: Mapped[list[FormationScopeItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="FormationScopeItem.position")
    parties: Mapped[list[FormationParty]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="FormationParty.position")


class FormationScopeItem(Base):
    __tablename__ = "formation_scope_items"
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class FormationParty(Base):
    """A person or company in a formation: investor, legal representative, director, supervisor
    or beneficial owner. Natural persons who sign are e-residents of this node."""

    __tablename__ = "formation_parties"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    # natural | legal | domestic_company (USCC in registration_number) | domestic_person (a Chinese
    # citizen: registration_number is the ID number masked, identifier_index its keyed blind index;
    # the number itself is not kept)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    e_resident_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    registration_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    share_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), nullable=True)
    contribution: Mapped[Decimal | None] = mapped_column(Numeric(20, 2), nullable=True)
    identifier_index: Mapped[str | None] = mapped_column(String(64), nullable=True)  # migration 0017


class FormationSignature(Base):
    """A signatory's electronic signature on the exact bytes of the articles: the node's JWS over
    {document SHA-256, signer, time} (`method` node), or the signer's own JWS made with the holder
    key of their e-residency credential (`method` holder: `holder_jwk` is that key, `credential_id`
    the credential, `nonce` the single-use value of the signing input; migration 0015). A later
    change of the formation supersedes it."""

    __tablename__ = "formation_signatures"
    __table_args__ = (UniqueConstraint("formation_id", "resident_id", "document_sha256"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"), index=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("e_residents.id"))
    e_resident_number: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    document_sha256: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    jws: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # valid | superseded
    method: Mapped[str] = mapped_column(String(16), default="node", server_default="node")  # node | holder
    holder_jwk: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    nonce: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)


class FormationPartnerSignature(Base):
    """A Chinese partner's signature on the articles (a joint venture): the articles PDF with the
    partner's approval signature appended (PAdES), made with a certificate from a certification
    authority on the region's domestic trust list whose subject carries the partner's USCC (a
    company) or resident identity card number (a Chinese citizen). The
    signed PDF is kept as a document; a third party checks it with pdfsig or pyHanko and the CA's
    root. A later change of the formation supersedes it (migration 0017)."""

    __tablename__ = "formation_partner_signatures"
    __table_args__ = (UniqueConstraint("formation_id", "partner_key", "document_sha256"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"), index=True)
    # Which partner: a company's USCC, or a Chinese citizen's ID number as its keyed blind index.
    partner_key: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(18))  # the USCC, or the ID number masked
    name: Mapped[str] = mapped_column(String(300))  # the partner, as the formation names it
    revision: Mapped[int] = mapped_column(Integer)
    document_sha256: Mapped[str] = mapped_column(String(64))  # the articles signed
    signed_document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    signed_sha256: Mapped[str] = mapped_column(String(64))
    signer_subject: Mapped[str] = mapped_column(Text)
    signer_fingerprint: Mapped[str] = mapped_column(String(64))
    issuer_subject: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the node accepted it
    status: Mapped[str] = mapped_column(String(16))  # valid | superseded


class Licence(Base):
    """An issued business licence: its USCC, what it says, and where its signed PDF is."""

    __tablename__ = "licences"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    serial: Mapped[int] = mapped_column(BigInteger, unique=True)
    region: Mapped[str] = mapped_column(String(8))
    formation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("formations.id"), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(300))
    legal_representative: Mapped[str] = mapped_column(String(300))
    established_on: Mapped[date] = mapped_column(Date)
    term_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # valid | revoked
    # Set by a registrar's revocation (migration 0014): when, a code of revocation.reasons(), a note.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revocation_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    pdf_sha256: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    details: Mapped[dict] = mapped_column(JSON)
