"""Seconded officials on the host node: who they are here, how they sign in, and how access ends.

A secondee is represented by an ordinary `Official` row on the host (its *shadow*): home_region is
the home region, the username is `{home username}@{home region}`, the password hash is unusable and
the TOTP secret is random and never shown, so the only way in is a vouching credential from the home
node. A `Secondee` row marks it and says whom it stands for at home. Its role grants are in the host
region only, made at sign-in from the accepted secondment's host roles and removed when the
secondment is withdrawn. Because it is an Official with host-region grants, `require(...)`,
worklists (`engine_actor`), case pages and audit (`actor_for`: home_region = home) work unchanged.

Access stops at once: a secondee's session never outlives the term (its expires_at is capped at the
term end, and the session query refuses an expired session), and a withdrawal ends every session,
removes the grants and deactivates the shadow in the transaction that applies the message.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor, record
from eresident.kit.context import NodeContext
from eresident.i18n import N_
from eresident.kit.errors import Message, conflict
from eresident.officials.models import Official, RoleGrant
from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment, Secondee
from eresident.officials.service import TOTP_CONTEXT, actor_for, grant_role
from eresident.security import service as security
from eresident.security.totp import new_secret
from eresident.workflow.models import WorkflowTransition

UNUSABLE_PASSWORD = "!secondee"  # not an argon2 hash: password sign-in can never succeed
# The secondee's own bookkeeping, not work on cases: left out of "cases handled".
_BOOKKEEPING = ("secondee.", "official.", "secondment.")


def shadow_username(home_username: str, home_region: str) -> str:
    return f"{home_username}@{home_region}"[:64]


def secondee_of(db: Session, official_id: uuid.UUID) -> Secondee | None:
    return db.get(Secondee, official_id)


def ensure_shadow(*, ctx: NodeContext, db: Session, incoming: IncomingSecondment, actor: Actor) -> Official:
    """The host-side Official standing for the incoming secondment's official (made once)."""
    marker = db.scalar(select(Secondee).where(Secondee.home_region == incoming.home_region,
                                              Secondee.home_official_id == incoming.home_official_id))
    if marker is not None:
        official = db.get_one(Official, marker.official_id)
        official.display_name = incoming.display_name
        return official
    username = shadow_username(incoming.home_username, incoming.home_region)
    if db.scalar(select(Official.id).where(Official.username == username)) is not None:
        raise conflict(Message(N_("An official named %(username)s exists here already; it cannot stand for a "
                                  "secondee."), username=repr(username)), code="official-exists")
    now = ctx.clock.now()
    official = Official(id=uuid.uuid4(), username=username, display_name=incoming.display_name,
                        home_region=incoming.home_region, password_hash=UNUSABLE_PASSWORD,
                        totp_secret_enc=ctx.cipher.encrypt(new_secret(), context=TOTP_CONTEXT),
                        active=False, created_at=now, roles=[])
    db.add(official)
    db.flush()
    db.add(Secondee(official_id=official.id, home_region=incoming.home_region,
                    home_official_id=incoming.home_official_id, created_at=now))
    record(db=db, actor=actor, region=ctx.region, action="secondee.created", entity_type="official",
           entity_id=official.id, at=now,
           after={"username": username, "home_region": incoming.home_region,
                  "home_official_id": incoming.home_official_id, "secondment_id": str(incoming.id)})
    return official


def _set_roles(*, ctx: NodeContext, db: Session, official: Official, roles: list[str], actor: Actor) -> None:
    """The shadow holds exactly `roles`, in this region only."""
    keep = {(r, ctx.region) for r in roles}
    _revoke(ctx=ctx, db=db, official=official, actor=actor,
            grants=[g for g in official.roles if (g.role, g.region) not in keep])
    held = {(g.role, g.region) for g in official.roles}
    for role in roles:
        if (role, ctx.region) not in held:
            grant_role(ctx=ctx, db=db, official=official, role=role, actor=actor, region=ctx.region)


def _revoke(*, ctx: NodeContext, db: Session, official: Official, grants: list[RoleGrant], actor: Actor) -> None:
    if not grants:
        return
    db.flush()
    db.execute(delete(RoleGrant).where(RoleGrant.id.in_([g.id for g in grants])))
    for grant in grants:
        db.expunge(grant)
        record(db=db, actor=actor, region=ctx.region, action="official.role_revoked", entity_type="official",
               entity_id=official.id, at=ctx.clock.now(), after={"role": grant.role, "region": grant.region})
    db.expire(official, ["roles"])


def start_session(*, ctx: NodeContext, db: Session, incoming: IncomingSecondment, jti: str) -> tuple[Official, str,
                                                                                                     datetime]:
    """Sign the secondee in for an accepted secondment within its term (the caller has checked the
    vouching credential): grants the host roles and starts a session that ends at the term end at the
    latest. Returns (the shadow official, the session token, when the session ends)."""
    now = ctx.clock.now()
    official = ensure_shadow(ctx=ctx, db=db, incoming=incoming, actor=Actor.system())
    actor = actor_for(official)
    official.active = True
    _set_roles(ctx=ctx, db=db, official=official, roles=list(incoming.host_roles), actor=actor)
    incoming.secondee_official_id = official.id
    token = security.start_session(db=db, principal_type="official", principal_id=official.id, now=now,
                                   hours=ctx.settings.session_hours)
    db.flush()
    session = security.resolve_session(db=db, token=token, now=now)
    assert session is not None  # started just above
    ends = min(now + timedelta(hours=ctx.settings.session_hours), incoming.term_end)
    session.expires_at = ends  # never past the term: the session query refuses it after that
    record(db=db, actor=actor, region=ctx.region, action="secondee.signed_in", entity_type="official",
           entity_id=official.id, at=now,
           after={"secondment_id": str(incoming.id), "home_region": incoming.home_region,
                  "home_official_id": incoming.home_official_id, "roles": list(incoming.host_roles),
                  "credential_id": jti, "session_ends": ends.isoformat()})
    return official, token, ends


def end_access(*, ctx: NodeContext, db: Session, incoming: IncomingSecondment, actor: Actor) -> None:
    """At once: every session of the secondee ends, their host roles go, the shadow is deactivated."""
    if incoming.secondee_official_id is None:
        return
    official = db.get(Official, incoming.secondee_official_id)
    if official is None:
        return
    security.end_all_sessions(db=db, principal_id=official.id, now=ctx.clock.now())
    _revoke(ctx=ctx, db=db, official=official, grants=list(official.roles), actor=actor)
    official.active = False
    record(db=db, actor=actor, region=ctx.region, action="secondee.access_ended", entity_type="official",
           entity_id=official.id, at=ctx.clock.now(), after={"secondment_id": str(incoming.id)})


# --- the exchange overview ----------------------------------------------------------------------

def phase(status: str, term_start: datetime, term_end: datetime, now: datetime) -> str:
    """What people see: the row's status, with an accepted one shown as upcoming, active or ended."""
    if status != "accepted":
        return status
    if now < term_start:
        return "upcoming"
    return "active" if now < term_end else "ended"


def activity(*, db: Session, region: str, official_id: uuid.UUID, since: datetime,
             until: datetime) -> dict[str, int]:
    """What a secondee did here between `since` and `until`: audit events (actions) on cases, the
    distinct cases they touched, and workflow transitions they made."""
    actor = str(official_id)
    window = (AuditEvent.actor_id == actor, AuditEvent.region == region, AuditEvent.occurred_at >= since,
              AuditEvent.occurred_at <= until,
              *[~AuditEvent.action.startswith(p) for p in _BOOKKEEPING])
    actions = db.scalar(select(func.count()).select_from(AuditEvent).where(*window)) or 0
    cases = db.scalar(select(func.count(func.distinct(AuditEvent.entity_id))).where(*window)) or 0
    transitions = db.scalar(select(func.count()).select_from(WorkflowTransition).where(
        WorkflowTransition.actor_id == actor, WorkflowTransition.at >= since,
        WorkflowTransition.at <= until)) or 0
    return {"actions": actions, "cases": cases, "transitions": transitions}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def overview(*, ctx: NodeContext, db: Session) -> dict:
    """Officials out (this region's, serving elsewhere) and in (other regions', serving here)."""
    now = ctx.clock.now()
    outgoing = []
    for row, official in db.execute(select(OutgoingSecondment, Official)
                                    .join(Official, Official.id == OutgoingSecondment.official_id)
                                    .order_by(OutgoingSecondment.term_start.desc())):
        outgoing.append({"id": str(row.id), "official": official.username, "display_name": official.display_name,
                         "host_region": row.host_region, "term_start": _iso(row.term_start),
                         "term_end": _iso(row.term_end), "host_roles": list(row.host_roles),
                         "department": row.department, "purpose": row.purpose, "status": row.status,
                         "phase": phase(row.status, row.term_start, row.term_end, now),
                         "withdrawn_at": _iso(row.withdrawn_at)})
    incoming = []
    for inc in db.scalars(select(IncomingSecondment).order_by(IncomingSecondment.term_start.desc())):
        handled = {"actions": 0, "cases": 0, "transitions": 0}
        if inc.secondee_official_id is not None:
            until = min(t for t in (inc.term_end, inc.withdrawn_at, now) if t is not None)
            handled = activity(db=db, region=ctx.region, official_id=inc.secondee_official_id,
                               since=inc.term_start, until=until)
        incoming.append({"id": str(inc.id), "official": shadow_username(inc.home_username, inc.home_region),
                         "display_name": inc.display_name, "home_region": inc.home_region,
                         "term_start": _iso(inc.term_start), "term_end": _iso(inc.term_end),
                         "host_roles": list(inc.host_roles), "department": inc.department,
                         "purpose": inc.purpose, "status": inc.status,
                         "phase": phase(inc.status, inc.term_start, inc.term_end, now),
                         "withdrawn_at": _iso(inc.withdrawn_at), "handled": handled})
    return {"region": ctx.region, "at": now.isoformat(), "outgoing": outgoing, "incoming": incoming}


def new_credential_id() -> str:
    return secrets.token_urlsafe(18)
