"""E-residents of other regions recognised here, and who recognised ours (issue 6).

A recognised e-resident is represented on the host node by an `e_residents` row of their *home*
region (number and region as issued there, no application here), so everything that refers to an
e-resident (formations, signatures, name reservations) works unchanged; the `recognitions` row
says where the recognition came from and mirrors the home region's status. `resident_for` is the
one lookup services use: a local e-resident of this node, or a recognised one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, Uuid, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from eresident.identity.models import Applicant, Application, EResident
from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id

STATUSES = ("active", "suspended", "revoked")


class Recognition(Base):
    """Host side: an applicant account here presented the e-residency credential of another region."""

    __tablename__ = "recognitions"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    applicant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applicants.id"), index=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("e_residents.id"), unique=True)
    home_region: Mapped[str] = mapped_column(String(8))
    home_number: Mapped[str] = mapped_column(String(32), unique=True)
    credential_id: Mapped[str] = mapped_column(String(64))  # the credential's jti at the home node
    holder_thumbprint: Mapped[str] = mapped_column(String(64))
    status_list_uri: Mapped[str] = mapped_column(String(500))
    status_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # active | suspended | revoked
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Only what the host's services need, from the holder's disclosures.
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(200))
    nationality: Mapped[str] = mapped_column(String(3))  # ISO 3166-1 alpha-3, as in the credential
    recognised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecognitionPeer(Base):
    """Home side: a peer told us it recognised one of our e-residents (so status changes go there)."""

    __tablename__ = "recognition_peers"
    __table_args__ = (UniqueConstraint("resident_id", "peer_region"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("e_residents.id"), index=True)
    peer_region: Mapped[str] = mapped_column(String(8))
    credential_id: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status_sent: Mapped[str | None] = mapped_column(String(16), nullable=True)


class PeerPassportDigest(Base):
    """Receiver side of the cross-region duplicate check: the keyed hash, for one peer, of the
    passport number of one of our applications (so a peer's question is an index lookup)."""

    __tablename__ = "peer_passport_digests"
    __table_args__ = (UniqueConstraint("peer_region", "application_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    peer_region: Mapped[str] = mapped_column(String(8))
    digest: Mapped[str] = mapped_column(String(64), index=True)  # base64url HMAC-SHA256
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"))
    source_index: Mapped[str] = mapped_column(String(64))  # the application's passport_index it was made from


# --------------------------------------------------------------------------- lookups


@dataclass(frozen=True)
class Person:
    """What services print about an e-resident: name and ISO 3166-1 alpha-3 nationality."""

    name: str
    nationality: str


def is_recognised(resident: EResident, region: str) -> bool:
    return resident.region != region


def resident_for(db: Session, who: Applicant | str, region: str) -> EResident | None:
    """The e-resident an applicant account (or an e-resident number) stands for on this node: a
    local e-resident of `region`, or an e-resident of another region recognised here. None when
    neither. The caller checks `status` (a recognition follows its home region's status)."""
    if isinstance(who, str):
        resident = db.scalar(select(EResident).where(EResident.number == who))
        if resident is None or resident.region == region:
            return resident
        recognised = db.scalar(select(Recognition.id).where(Recognition.resident_id == resident.id))
        return resident if recognised is not None else None
    local = db.scalars(select(EResident).where(EResident.applicant_id == who.id, EResident.region == region)
                       .order_by(EResident.issued_at.desc())).first()
    if local is not None:
        return local
    return db.scalars(select(EResident).join(Recognition, Recognition.resident_id == EResident.id)
                      .where(Recognition.applicant_id == who.id)
                      .order_by(Recognition.recognised_at.desc())).first()


def person_of(db: Session, resident: EResident) -> Person:
    if resident.application_id is not None:
        app = db.get_one(Application, resident.application_id)
        return Person(f"{app.given_names} {app.surname}".strip(), app.nationality)
    rec = db.scalar(select(Recognition).where(Recognition.resident_id == resident.id))
    assert rec is not None  # an e-resident without an application here stands for a recognition
    return Person(f"{rec.given_name} {rec.family_name}".strip(), rec.nationality)


def recognition_of(db: Session, resident: EResident) -> Recognition | None:
    return db.scalar(select(Recognition).where(Recognition.resident_id == resident.id))
