"""Officials of a region and the roles they hold there."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id

ROLES = ("reviewer", "approver", "site_agent", "registrar", "tax_officer", "admin", "auditor")


class Official(Base):
    __tablename__ = "officials"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    home_region: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    roles: Mapped[list[RoleGrant]] = relationship(back_populates="official", lazy="selectin")


class RoleGrant(Base):
    """A role an official holds in one region."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("official_id", "role", "region"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    official_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(8))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    official: Mapped[Official] = relationship(back_populates="roles")
