"""A cross-region case as each of its two nodes holds it, and the status history they share.

The filing node (where the founder filed) and the handling node (whose authority decides) each keep
a `cross_region_cases` row under the same case number. The handling node writes every event of the
case, numbers it and sends it to the filing node, which keeps it under the same number: the two
histories are the same list, and a repeated or reordered message cannot change it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class CrossRegionCase(Base):
    __tablename__ = "cross_region_cases"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    service: Mapped[str] = mapped_column(String(32))  # company-formation
    filed_region: Mapped[str] = mapped_column(String(8))
    handling_region: Mapped[str] = mapped_column(String(8), index=True)
    # Filing node: the founder's account. Handling node: the account that stands for the founder
    # there (one that cannot sign in: the founder acts through their own node).
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    e_resident_number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))  # e.g. the company's names, for lists
    status: Mapped[str] = mapped_column(String(32))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # the newest event this node holds
    # Handling node: what the case is here (a formation). Filing node: none.
    subject_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    filing: Mapped[dict] = mapped_column(JSON)  # what was filed, as filed
    signatories: Mapped[list] = mapped_column(JSON)  # e-resident numbers who sign (at the filing node)
    articles_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    articles_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    licence_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CrossRegionCaseEvent(Base):
    """One step of the shared history: numbered by the handling node, kept as sent by both."""

    __tablename__ = "cross_region_case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cross_region_cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    region: Mapped[str] = mapped_column(String(8))  # where it happened
    status: Mapped[str] = mapped_column(String(32))  # the case's status after it
    what: Mapped[str] = mapped_column(String(64))  # filed | received | signed | status | decided …
    detail: Mapped[str] = mapped_column(Text, default="")
