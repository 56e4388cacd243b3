"""Sessions and sign-in throttling, kept in the database so every worker agrees."""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from eresident.kit.db import Prepared, attach_loaded, driver
from eresident.kit.errors import Problem
from eresident.security.models import AuthSession, LoginAttempt
from eresident.security.tokens import new_token, token_hash


def start_session(*, db: Session, principal_type: str, principal_id: uuid.UUID, now: datetime,
                  hours: int, replaces: str | None = None) -> str:
    """Create a session and return its token. A token presented before sign-in is revoked:
    the session id always changes at login (no fixation)."""
    if replaces:
        end_session(db=db, token=replaces, now=now)
    token = new_token()
    db.add(AuthSession(token_hash=token_hash(token), principal_type=principal_type,
                       principal_id=principal_id, created_at=now,
                       expires_at=now + timedelta(hours=hours)))
    return token


def resolve_session(*, db: Session, token: str, now: datetime) -> AuthSession | None:
    row = db.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


@functools.cache
def _principal_query(model) -> tuple[Prepared, tuple[str, ...]]:
    # Compiled once per model and run on the driver: every signed-in request runs it.
    table, sessions = model.__table__, AuthSession.__table__
    statement = select(table).join(sessions, sessions.c.principal_id == table.c.id).where(
        sessions.c.token_hash == bindparam("token_hash"), sessions.c.principal_type == bindparam("kind"),
        sessions.c.revoked_at.is_(None), sessions.c.expires_at > bindparam("now", type_=sessions.c.expires_at.type))
    keys = tuple(model.__mapper__.get_property_by_column(c).key for c in table.columns)
    return Prepared(statement), keys


def session_principal(*, db: Session, token: str, model, principal_type: str, now: datetime):
    """The principal (a row of `model`) of a live session, in one query; None if there is none.
    The object joins the session as loaded, as a query through the ORM would give it."""
    statement, keys = _principal_query(model)
    row = driver(db).first(statement, {"token_hash": token_hash(token), "kind": principal_type, "now": now})
    if row is None:
        return None
    values = dict(zip(keys, row, strict=True))
    known = db.identity_map.get(identity_key(model, values["id"]))
    if known is not None:
        return known
    principal = model(**values)
    attach_loaded(db, principal)
    return principal


def end_session(*, db: Session, token: str, now: datetime) -> None:
    row = db.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def end_all_sessions(*, db: Session, principal_id: uuid.UUID, now: datetime) -> None:
    for row in db.scalars(select(AuthSession).where(AuthSession.principal_id == principal_id,
                                                    AuthSession.revoked_at.is_(None))):
        row.revoked_at = now


def _key(kind: str, value: str) -> str:
    return f"{kind}:" + hashlib.sha256(value.lower().encode()).hexdigest()[:40]


def check_login_allowed(*, db: Session, username: str, client_ip: str, now: datetime,
                        max_failures: int, window_minutes: int) -> None:
    """Refuse with 429 while an account or an address has too many recent failures."""
    since = now - timedelta(minutes=window_minutes)
    for key in (_key("user", username), _key("ip", client_ip)):
        failures = db.scalar(select(func.count()).select_from(LoginAttempt)
                             .where(LoginAttempt.key == key, LoginAttempt.at > since)) or 0
        limit = max_failures if key.startswith("user") else max_failures * 4
        if failures >= limit:
            raise Problem(429, "Too many failed sign-in attempts",
                          detail=f"Wait {window_minutes} minutes before you try again.",
                          code="rate-limited", extra={"retry_after": window_minutes * 60})


def record_login_failure(*, db: Session, username: str, client_ip: str, now: datetime) -> None:
    db.add(LoginAttempt(key=_key("user", username), at=now))
    db.add(LoginAttempt(key=_key("ip", client_ip), at=now))


def clear_login_failures(*, db: Session, username: str) -> None:
    db.execute(delete(LoginAttempt).where(LoginAttempt.key == _key("user", username)))
