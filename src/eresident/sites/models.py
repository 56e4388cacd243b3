"""Overseas service sites, their agents, appointments and identity-check attestations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class ServiceSite(Base):
    __tablename__ = "service_sites"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    region: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "17:00"]], ...} in the site's local time
    opening_hours: Mapped[dict] = mapped_column(JSON)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30)
    capacity: Mapped[int] = mapped_column(Integer, default=1)  # parallel appointments per slot
    modes: Mapped[list] = mapped_column(JSON)  # ["in_person", "video"]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SiteAgent(Base):
    __tablename__ = "site_agents"
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_sites.id"), primary_key=True)
    official_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("officials.id"), primary_key=True)


class Appointment(Base):
    """A booked slot. (site, start, seat) is unique, so a slot cannot be double-booked;
    a cancelled appointment gives its seat back by setting it to NULL."""

    __tablename__ = "appointments"
    __table_args__ = (UniqueConstraint("site_id", "starts_at", "seat"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_sites.id"), index=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # booked | cancelled | attended
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdentityCheck(Base):
    """What a site agent saw and attests about the applicant's identity."""

    __tablename__ = "identity_checks"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointments.id"),
                                                             nullable=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("officials.id"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_sites.id"))
    mode: Mapped[str] = mapped_column(String(16))
    passport_seen: Mapped[bool] = mapped_column(Boolean)
    passport_matches_mrz: Mapped[bool] = mapped_column(Boolean)
    face_matches_photo: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))  # verified | not_verified
    notes: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
