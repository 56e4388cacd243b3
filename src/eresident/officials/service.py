"""Officials: create them, grant and revoke roles, (de)activate them, sign them in with password and TOTP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.i18n import N_
from eresident.kit.context import NodeContext
from eresident.kit.errors import Message, Problem, conflict, invalid, not_found
from eresident.officials.models import ROLES, Official, RoleGrant
from eresident.officials.secondment_models import Secondee
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
    if "@" in username:
        raise invalid("username", N_("Leave out '@': it marks officials seconded from another region "
                                     "(username@REGION)."))
    if db.scalar(select(Official.id).where(Official.username == username)) is not None:
        raise conflict(Message(N_("An official named %(username)s exists."), username=repr(username)),
                       code="official-exists")
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


@dataclass(frozen=True)
class Enrolment:
    """A new official and what they need to sign in the first time: shown once, never stored in clear."""

    official: Official
    password: str
    totp_secret: str
    totp_uri: str


def enrol_official(*, ctx: NodeContext, db: Session, username: str, display_name: str, roles: list[str],
                   actor: Actor) -> Enrolment:
    """Create an official with a generated one-time password and a new TOTP secret."""
    password = new_password()
    official, secret = create_official(ctx=ctx, db=db, username=username, display_name=display_name,
                                       password=password, roles=list(dict.fromkeys(roles)), actor=actor)
    return Enrolment(official, password, secret,
                     totp.provisioning_uri(secret, username=username, issuer=f"eresident {ctx.region}"))


def grant_role(*, ctx: NodeContext, db: Session, official: Official, role: str, actor: Actor,
               region: str | None = None) -> RoleGrant:
    if role not in ROLES:
        raise invalid("role", Message(N_("Unknown role %(role)s; use one of %(roles)s."), role=repr(role),
                                      roles=", ".join(ROLES)))
    region = region or ctx.region
    if any(g.role == role and g.region == region for g in official.roles):
        raise conflict(Message(N_("%(username)s already holds %(role)s in %(region)s."), username=official.username,
                               role=role, region=region), code="role-exists")
    grant = RoleGrant(official_id=official.id, role=role, region=region, granted_at=ctx.clock.now())
    official.roles.append(grant)
    record(db=db, actor=actor, region=ctx.region, action="official.role_granted", entity_type="official",
           entity_id=official.id, at=ctx.clock.now(), after={"role": role, "region": region})
    return grant


def refuse_if_seconded(db: Session, official: Official) -> None:
    """A seconded-in official's roles and access follow the secondment (officials/secondees.py):
    sign-in sets them from the accepted host roles and a withdrawal ends them, so an administrator's
    change would not last. (grant_role does not ask: the secondment itself grants through it.)"""
    if db.get(Secondee, official.id) is not None:
        raise conflict(Message(N_("%(username)s is seconded from %(region)s: their roles and access follow the "
                                  "secondment, which ends at its term or when the home region withdraws it."),
                               username=official.username, region=official.home_region), code="official-seconded")


def revoke_role(*, ctx: NodeContext, db: Session, official: Official, role: str, actor: Actor,
                region: str | None = None) -> None:
    """Take a role away. Nobody removes their own administrator role here (another administrator
    must), so a slip cannot leave the acting admin, or the region, without one."""
    region = region or ctx.region
    grant = next((g for g in official.roles if g.role == role and g.region == region), None)
    if grant is None:
        raise conflict(Message(N_("%(username)s does not hold %(role)s in %(region)s."), username=official.username,
                               role=role, region=region), code="role-missing")
    if role == "admin" and region == ctx.region and actor.id == str(official.id):
        raise Problem(409, N_("You cannot remove your own administrator role"), code="own-admin-role",
                      detail=N_("You cannot remove your own administrator role: another administrator of this "
                                "region must do it."))
    refuse_if_seconded(db, official)
    official.roles.remove(grant)
    db.delete(grant)
    record(db=db, actor=actor, region=ctx.region, action="official.role_revoked", entity_type="official",
           entity_id=official.id, at=ctx.clock.now(), after={"role": role, "region": region})


def set_active(*, ctx: NodeContext, db: Session, official: Official, active: bool, actor: Actor) -> Official:
    """Deactivate (every session ends at once; sign-in is refused) or reactivate an account.
    Asking for the state it is already in changes nothing. Nobody deactivates themselves."""
    if official.active == active:
        return official
    if not active and actor.id == str(official.id):
        raise Problem(409, N_("You cannot deactivate your own account"), code="own-account",
                      detail=N_("You cannot deactivate your own account: another administrator of this region "
                                "must do it."))
    refuse_if_seconded(db, official)
    now = ctx.clock.now()
    official.active = active
    if not active:
        security.end_all_sessions(db=db, principal_id=official.id, now=now)
    record(db=db, actor=actor, region=ctx.region,
           action="official.reactivated" if active else "official.deactivated", entity_type="official",
           entity_id=official.id, at=now, before={"active": not active}, after={"active": active})
    return official


def new_password() -> str:
    """A one-time password for a new account, shown once: 144 random bits (24 characters)."""
    return secrets.token_urlsafe(18)


def list_officials(db: Session) -> list[tuple[Official, Secondee | None]]:
    """Every official on this node by username, each with its secondee marker (None: our own)."""
    return [(official, marker) for official, marker in db.execute(
        select(Official, Secondee).outerjoin(Secondee, Secondee.official_id == Official.id)
        .order_by(Official.username))]


def by_id(db: Session, official_id: uuid.UUID) -> Official:
    official = db.get(Official, official_id)
    if official is None:
        raise not_found(N_("Official"))
    return official


def seconded(db: Session, official: Official) -> Secondee | None:
    return db.get(Secondee, official.id)


def usernames(db: Session, actor_ids: Iterable[str]) -> dict[str, str]:
    """Actor id (as the audit log and other domains keep it) -> username, for those that are officials."""
    ids = set()
    for value in actor_ids:
        try:
            ids.add(uuid.UUID(value))
        except ValueError:
            continue  # "system", or another kind of actor
    if not ids:
        return {}
    return {str(i): name for i, name in db.execute(select(Official.id, Official.username).where(Official.id.in_(ids)))}


def by_username(db: Session, username: str) -> Official:
    official = db.scalar(select(Official).where(Official.username == username))
    if official is None:
        raise not_found(N_("Official"))
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
