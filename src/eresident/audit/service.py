"""Write audit events. Every state change calls `record` inside its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.audit.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: an official, an applicant, the system itself, or a peer node."""

    type: str
    id: str
    label: str = ""
    home_region: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system", "system", "system")


def record(*, db: Session, actor: Actor, region: str, action: str, entity_type: str,
           entity_id: Any, at: datetime, before: dict | None = None,
           after: dict | None = None) -> AuditEvent:
    event = AuditEvent(occurred_at=at, region=region, actor_type=actor.type, actor_id=str(actor.id),
                       actor_home_region=actor.home_region, action=action,
                       entity_type=entity_type, entity_id=str(entity_id),
                       before=before, after=after)
    db.add(event)
    return event


def events_for(*, db: Session, entity_type: str, entity_id: Any) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent)
                           .where(AuditEvent.entity_type == entity_type,
                                  AuditEvent.entity_id == str(entity_id))
                           .order_by(AuditEvent.seq)))
