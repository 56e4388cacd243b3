"""Credentials this node issued and their place in the status list."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class IssuedCredential(Base):
    __tablename__ = "issued_credentials"
    __table_args__ = (UniqueConstraint("status_list", "status_index"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    subject_type: Mapped[str] = mapped_column(String(32))  # e_resident
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    vct: Mapped[str] = mapped_column(String(200))
    status_list: Mapped[str] = mapped_column(String(32))
    status_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer, default=0)  # token status list value
    holder_thumbprint: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
