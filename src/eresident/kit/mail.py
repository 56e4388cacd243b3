"""Outgoing mail: written to the outbox table in the sender's transaction; the log says only that
a message was queued (never to whom, never its content)."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from eresident.kit.models import MailMessage

log = structlog.get_logger("eresident.mail")


def queue_mail(*, db: Session, to: str, subject: str, body: str, now: datetime) -> MailMessage:
    message = MailMessage(to_address=to, subject=subject, body=body, created_at=now)
    db.add(message)
    db.flush()
    log.info("mail.queued", mail_id=str(message.id), subject=subject)
    return message
