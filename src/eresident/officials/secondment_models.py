"""Cadre exchange tables: secondments a home region sends out, secondments a host region takes in,
the host-side identity of a seconded official, and the vouching credentials a host has used.

One secondment has one id on both nodes (the home node makes it). The home keeps the outgoing
row, the host the incoming row; federation messages (`secondment.*`) keep the two in step.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime

# proposed -> accepted | declined; proposed | accepted -> withdrawn (by the home). Terminal:
# declined, withdrawn. A term that has run out is "ended" in what people see, not in the row.
STATUSES = ("proposed", "accepted", "declined", "withdrawn")


class OutgoingSecondment(Base):
    """Home side: one of this region's officials proposed for a term in another region."""

    __tablename__ = "secondments_out"
    __table_args__ = (Index("ix_secondments_out_official", "official_id", "host_region"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    official_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("officials.id"))
    host_region: Mapped[str] = mapped_column(String(8))
    term_start: Mapped[datetime] = mapped_column(UTCDateTime)
    term_end: Mapped[datetime] = mapped_column(UTCDateTime)
    host_roles: Mapped[list] = mapped_column(JSON)
    department: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answer_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdraw_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class IncomingSecondment(Base):
    """Host side: an official of another region proposed to serve here, as the home described them."""

    __tablename__ = "secondments_in"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    home_region: Mapped[str] = mapped_column(String(8), index=True)
    home_official_id: Mapped[str] = mapped_column(String(64))
    home_username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    term_start: Mapped[datetime] = mapped_column(UTCDateTime)
    term_end: Mapped[datetime] = mapped_column(UTCDateTime)
    host_roles: Mapped[list] = mapped_column(JSON)
    department: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answer_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdraw_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The host-side identity (an Official row) the secondee acts as here, once accepted.
    secondee_official_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("officials.id"), nullable=True)


class Secondee(Base):
    """Marks an Official row as the host-side identity of another region's official: whom it stands
    for at home. One per (home region, home official), reused by later secondments."""

    __tablename__ = "secondees"
    __table_args__ = (UniqueConstraint("home_region", "home_official_id"),)
    official_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"),
                                                   primary_key=True)
    home_region: Mapped[str] = mapped_column(String(8))
    home_official_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UsedVouchingCredential(Base):
    """A vouching credential the host has signed someone in with: each works once."""

    __tablename__ = "secondee_credentials_used"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    secondment_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)
