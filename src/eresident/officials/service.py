"""Officials: create them, grant roles, sign them in with password and TOTP."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.kit.context import NodeContext
from eresident.kit.errors import conflict, invalid, not_found
from eresident.officials.models import ROLES, Official, RoleGrant
from eresident.security import service as security
from eresident.security import totp
from eresident.security.passwords import password_problem

TOTP_CONTEXT = "officials.totp"


def actor_for(official: Official) -> Actor:
    return Actor("official", str(official.id), official.username, official.home_region)


def create_official(*, ctx: NodeContext, db: Session, username: str, display_name: str, password: str,
                    roles: list[str], actor: Actor, totp_secret: str | None = None) -> tuple[Official, str]:
    if (why := password_problem(password)) is not None:
        raise invalid("password", why)
    if db.scalar(select(Official.id).where(Official.username == username)) is not None:
        raise conflict(f"An official named {username!r} exists.", code="official-exists")
    secret = totp_secret or totp.new_secret()
    now = ctx.clock.now()
    official = Official(id=uuid.uuid4(), username=username, display_name=display_name,
                        home_region=ctx.region, password_hash=ctx.passwords.hash(password),
                        totp_secret_enc=ctx.cipher.encrypt(secret, context=TOTP_CONTEXT),
                        created_at=now, roles=[])
    db.add(official)
    db.flush()
    record(db=db, actor=actor, region=ctx.region, action="official.created", entity_type="official",
           entity_id=official.id, at=now, after={"username": username})
    for role in roles:
        grant_role(ctx=ctx, db=db, official=official, role=role, actor=actor)
    return official, secret


def grant_role(*, ctx: NodeContext, db: Session, official: Official, role: str, actor: Actor,
               region: str | None = None) -> RoleGrant:
    if role not in ROLES:
        raise invalid("role", f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    region = region or ctx.region
    if any(g.role == role and g.region == region for g in official.roles):
        raise conflict(f"{official.username} already holds {role} in {region}.", code="role-exists")
    grant = RoleGrant(official_id=official.id, role=role, region=region, granted_at=ctx.clock.now())
    official.roles.append(grant)
    record(db=db, actor=actor, region=ctx.region, action="official.role_granted", entity_type="official",
           entity_id=official.id, at=ctx.clock.now(), after={"role": role, "region": region})
    return grant


def by_username(db: Session, username: str) -> Official:
    official = db.scalar(select(Official).where(Official.username == username))
    if official is None:
        raise not_found("Official")
    return official


def totp_secret(ctx: NodeContext, official: Official) -> str:
    return ctx.cipher.decrypt(official.totp_secret_enc, context=TOTP_CONTEXT)


def authenticate(*, ctx: NodeContext, db: Session, username: str, password: str, code: str,
                 client_ip: str) -> Official | None:
    now = ctx.clock.now()
    key = f"official:{username.lower()}"
    security.check_login_allowed(db=db, username=key, client_ip=client_ip, now=now,
                                 max_failures=ctx.settings.login_max_failures,
                                 window_minutes=ctx.settings.login_window_minutes)
    official = db.scalar(select(Official).where(Official.username == username))
    ok = ctx.passwords.verify(official.password_hash if official else None, password)
    if ok and official is not None and official.active:
        step = totp.verify(totp_secret(ctx, official), code, at=now, last_step=official.totp_last_step)
        # Claim the step with a conditional write: of two sign-ins racing with one code, only one
        # moves totp_last_step forward; the other changes no row and is refused.
        # (an UPDATE gives a CursorResult; Session.execute is typed with the general Result)
        if step is not None and cast(CursorResult, db.execute(
                update(Official).where(Official.id == official.id, Official.totp_last_step < step)
                .values(totp_last_step=step).execution_options(synchronize_session=False))).rowcount == 1:
            official.totp_last_step = step
            security.clear_login_failures(db=db, username=key)
            return official
    security.record_login_failure(db=db, username=key, client_ip=client_ip, now=now)
    return None


def has_role(official: Official, role: str, region: str) -> bool:
    return any(g.role == role and g.region == region for g in official.roles)
