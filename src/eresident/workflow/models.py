"""Published process versions, running cases with their state, transitions and worklist rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint,
                        Uuid)
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime
from eresident.kit.ids import new_id


class ProcessVersion(Base):
    """A published definition. Cases keep the version they started with; new cases take the latest."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process", "version"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    process: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(64))


class WorkflowCase(Base):
    __tablename__ = "workflow_cases"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    process: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    region: Mapped[str] = mapped_column(String(8))
    status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[dict] = mapped_column(JSON)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __mapper_args__ = {"version_id_col": row_version}  # two writers of one case: the second fails


class WorkflowTransition(Base):
    """One effect of a command, timestamped: the raw material of process metrics."""

    __tablename__ = "workflow_transitions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflow_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict] = mapped_column(JSON)


class WorkItem(Base):
    """An open step of a case, kept in step with the case state so worklists are one query."""

    __tablename__ = "work_items"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflow_cases.id"), index=True)
    instance: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
