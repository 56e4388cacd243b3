"""Cadre exchange between nodes: secondments proposed by the home region, answered by the host,
withdrawn by the home; the home node's vouching credential and the host's sign-in with it.

Messages (each applied once through the inbox; they may arrive in any order, so a withdrawal is
final whatever comes after it):
  home -> host  secondment.proposed   the official, term, host roles, department, purpose
  host -> home  secondment.accepted   / secondment.declined (with a reason)
  home -> host  secondment.withdrawn  access on the host stops in the transaction that applies it

The vouching credential is a compact JWS (`typ` secondee+jwt, alg Ed25519) signed with the home's
federation key, so a host verifies it with the keys in its trust list; it names the issuer (home),
audience (host), the official, the secondment, host roles and term, lives five minutes at most and
works once at the host.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.federation import httpsig
from eresident.federation import service as federation
from eresident.federation.handlers import Incoming, payload_text, payload_time, payload_uuid, register
from eresident.federation.keys import iso, node_keys
from eresident.i18n import N_
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Message, Problem, conflict, invalid, not_found
from eresident.officials import secondees
from eresident.officials.models import ROLES, Official
from eresident.officials.secondment_models import (
    IncomingSecondment,
    OutgoingSecondment,
    UsedVouchingCredential,
)
from eresident.officials.service import actor_for

# A secondee works cases; administering the host's officials and secondments stays with its own
# staff (what a secondee's admin role made would outlive the secondment).
SECONDABLE_ROLES = tuple(role for role in ROLES if role != "admin")
CREDENTIAL_TYP = "secondee+jwt"
CREDENTIAL_ALG = "Ed25519"  # RFC 9864's fully specified name for EdDSA over Ed25519
CREDENTIAL_TTL = timedelta(minutes=5)
MAX_TERM = timedelta(days=3 * 366)
OPEN = ("proposed", "accepted")


def _peer_actor(region: str) -> Actor:
    return Actor("peer", region, f"node {region}", region)


def _check_terms(*, ctx: NodeContext, term_start: datetime, term_end: datetime, roles: list[str],
                 department: str, purpose: str, prefix: str = "") -> None:
    if term_start.tzinfo is None:
        raise invalid(f"{prefix}term_start", N_("a time with a zone"))
    if term_end.tzinfo is None:
        raise invalid(f"{prefix}term_end", N_("a time with a zone"))
    if term_end <= term_start:
        raise invalid(f"{prefix}term_end", N_("the term must end after it starts"))
    if term_end - term_start > MAX_TERM:
        raise invalid(f"{prefix}term_end", N_("a term is at most three years"))
    if term_end <= ctx.clock.now():
        raise invalid(f"{prefix}term_end", N_("the term has already ended"))
    if not isinstance(roles, list) or not roles or len(roles) > len(ROLES):
        raise invalid(f"{prefix}host_roles", N_("name at least one host role"))
    for role in roles:
        if role not in SECONDABLE_ROLES:
            raise invalid(f"{prefix}host_roles", Message(N_("%(role)s cannot be held on secondment; use %(roles)s"),
                                                         role=repr(role), roles=", ".join(SECONDABLE_ROLES)))
    if len(set(roles)) != len(roles):
        raise invalid(f"{prefix}host_roles", N_("a role is named twice"))
    if not isinstance(department, str) or not department.strip() or len(department) > 200:
        raise invalid(f"{prefix}department", N_("a department of 1 to 200 characters"))
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > 2000:
        raise invalid(f"{prefix}purpose", N_("a purpose of 1 to 2000 characters"))


def _description(row: OutgoingSecondment, official: Official) -> dict:
    """What the host learns about a secondment (the same in every message about it)."""
    return {"secondment_id": str(row.id), "home_region": official.home_region, "host_region": row.host_region,
            "official": {"id": str(official.id), "username": official.username,
                         "display_name": official.display_name},
            "term_start": iso(row.term_start), "term_end": iso(row.term_end),
            "host_roles": list(row.host_roles), "department": row.department, "purpose": row.purpose}


# --- home side ----------------------------------------------------------------------------------

def propose(*, ctx: NodeContext, db: Session, official_username: str, host_region: str, term_start: datetime,
            term_end: datetime, host_roles: list[str], department: str, purpose: str,
            actor: Actor) -> OutgoingSecondment:
    """Propose one of this region's officials to `host_region`; the proposal travels in this transaction."""
    official = db.scalar(select(Official).where(Official.username == official_username))
    if official is None:
        raise invalid("official", Message(N_("no official %(username)s here"), username=repr(official_username)))
    if official.home_region != ctx.region or secondees.secondee_of(db, official.id) is not None:
        raise invalid("official", N_("only this region's own officials can be seconded from here"))
    if not official.active:
        raise invalid("official", N_("this official is not active"))
    if len(official.username) > 54:  # the host names them `{username}@{home region}`, at most 64
        raise invalid("official", N_("a username of at most 54 characters can be seconded"))
    if host_region == ctx.region:
        raise invalid("host_region", N_("a secondment goes to another region"))
    if federation.trust_list(ctx).peer(host_region) is None:
        raise invalid("host_region", Message(N_("region %(region)s is not in this node's trust list"),
                                             region=repr(host_region)))
    _check_terms(ctx=ctx, term_start=term_start, term_end=term_end, roles=host_roles, department=department,
                 purpose=purpose)
    overlapping = db.scalar(select(OutgoingSecondment.id).where(
        OutgoingSecondment.official_id == official.id, OutgoingSecondment.status.in_(OPEN),
        and_(OutgoingSecondment.term_start < term_end, OutgoingSecondment.term_end > term_start)).limit(1))
    if overlapping is not None:
        raise conflict(Message(N_("%(username)s already has a secondment in that time (%(overlapping)s)."),
                               username=official.username, overlapping=overlapping), code="secondment-overlaps")
    now = ctx.clock.now()
    row = OutgoingSecondment(id=uuid.uuid4(), official_id=official.id, host_region=host_region,
                             term_start=term_start.astimezone(UTC), term_end=term_end.astimezone(UTC),
                             host_roles=list(host_roles), department=department.strip(), purpose=purpose.strip(),
                             status="proposed", proposed_by=str(actor.id), proposed_at=now)
    db.add(row)
    db.flush()
    description = _description(row, official)
    record(db=db, actor=actor, region=ctx.region, action="secondment.proposed", entity_type="secondment",
           entity_id=row.id, at=now, after=description)
    federation.enqueue(ctx=ctx, db=db, peer=host_region, kind="secondment.proposed", payload=description)
    return row


def outgoing(db: Session, secondment_id: uuid.UUID) -> OutgoingSecondment:
    row = db.get(OutgoingSecondment, secondment_id)
    if row is None:
        raise not_found(N_("Secondment"))
    return row


def withdraw(*, ctx: NodeContext, db: Session, secondment_id: uuid.UUID, reason: str,
             actor: Actor) -> OutgoingSecondment:
    """End a proposed or accepted secondment now; the host stops the secondee's access when the
    message arrives, and this node stops vouching at once."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise invalid("reason", N_("say why, in 1 to 2000 characters"))
    row = outgoing(db, secondment_id)
    if row.status not in OPEN:
        raise conflict(Message(N_("This secondment is %(status)s; only a proposed or accepted one can be "
                                  "withdrawn."), status=row.status), code="secondment-closed")
    now = ctx.clock.now()
    before = row.status
    row.status, row.withdrawn_at, row.withdraw_reason = "withdrawn", now, reason.strip()
    official = db.get_one(Official, row.official_id)
    payload = _description(row, official) | {"reason": row.withdraw_reason, "withdrawn_at": iso(now)}
    record(db=db, actor=actor, region=ctx.region, action="secondment.withdrawn", entity_type="secondment",
           entity_id=row.id, at=now, before={"status": before}, after={"status": "withdrawn", "reason": reason})
    federation.enqueue(ctx=ctx, db=db, peer=row.host_region, kind="secondment.withdrawn", payload=payload)
    return row


def mine(*, db: Session, official: Official) -> list[OutgoingSecondment]:
    return list(db.scalars(select(OutgoingSecondment).where(OutgoingSecondment.official_id == official.id)
                           .order_by(OutgoingSecondment.term_start.desc())))


def issue_credential(*, ctx: NodeContext, db: Session, official: Official, secondment_id: uuid.UUID) -> dict:
    """The home node vouches for `official` (signed in here) for one accepted secondment in its term."""
    row = db.get(OutgoingSecondment, secondment_id)
    if row is None or row.official_id != official.id:
        raise not_found(N_("Secondment"))
    now = ctx.clock.now()
    if row.status != "accepted":
        raise conflict(Message(N_("This secondment is %(status)s, not accepted: nothing to vouch for."),
                               status=row.status), code="secondment-not-accepted")
    if not row.term_start <= now < row.term_end:
        raise conflict(Message.with_english(  # the API keeps ISO 8601; a page writes the times for the reader
            f"The term runs {iso(row.term_start)} to {iso(row.term_end)}; it is not now.",
            N_("The term runs %(start)s to %(end)s; it is not now."), start=row.term_start, end=row.term_end),
            code="secondment-not-in-term")
    key = node_keys(ctx.settings).signing_key(now)
    expires = min(now + CREDENTIAL_TTL, row.term_end)
    jti = secondees.new_credential_id()
    claims = {"iss": ctx.region, "aud": row.host_region, "sub": str(official.id), "jti": jti,
              "iat": int(now.timestamp()), "nbf": int(now.timestamp()), "exp": int(expires.timestamp()),
              "secondment_id": str(row.id), "username": official.username, "name": official.display_name,
              "home_region": official.home_region, "host_region": row.host_region,
              "roles": list(row.host_roles), "department": row.department,
              "term": {"start": iso(row.term_start), "end": iso(row.term_end)}}
    header = {"alg": CREDENTIAL_ALG, "typ": CREDENTIAL_TYP, "kid": key.kid}
    token = jws.serialize_compact(header, json.dumps(claims, separators=(",", ":")).encode(), key.key,
                                  algorithms=[CREDENTIAL_ALG])
    record(db=db, actor=actor_for(official), region=ctx.region, action="secondment.vouched",
           entity_type="secondment", entity_id=row.id, at=now,
           after={"credential_id": jti, "host_region": row.host_region, "expires_at": iso(expires)})
    peer = federation.trust_list(ctx).peer(row.host_region)
    base = peer.base_url if peer else None
    return {"credential": token, "expires_at": iso(expires), "host_region": row.host_region,
            "host_base_url": base, "sign_in_url": f"{base}/api/v1/officials/secondee-login" if base else None}


# --- host side ----------------------------------------------------------------------------------

def incoming(db: Session, secondment_id: uuid.UUID) -> IncomingSecondment:
    row = db.get(IncomingSecondment, secondment_id)
    if row is None:
        raise not_found(N_("Secondment"))
    return row


def _answer(*, ctx: NodeContext, db: Session, secondment_id: uuid.UUID, accept: bool, note: str,
            actor: Actor) -> IncomingSecondment:
    row = incoming(db, secondment_id)
    if row.status != "proposed":
        raise conflict(Message(N_("This secondment is %(status)s; only a proposed one can be answered."),
                               status=row.status), code="secondment-closed")
    now = ctx.clock.now()
    if accept and row.term_end <= now:
        raise conflict(N_("The proposed term has already ended."), code="secondment-not-in-term")
    row.status = "accepted" if accept else "declined"
    row.answered_by, row.answered_at, row.answer_note = str(actor.id), now, note.strip() or None
    if accept:
        row.secondee_official_id = secondees.ensure_shadow(ctx=ctx, db=db, incoming=row, actor=actor).id
    record(db=db, actor=actor, region=ctx.region, action=f"secondment.{row.status}", entity_type="secondment",
           entity_id=row.id, at=now, before={"status": "proposed"},
           after={"status": row.status, "note": row.answer_note, "home_region": row.home_region})
    federation.enqueue(ctx=ctx, db=db, peer=row.home_region, kind=f"secondment.{row.status}",
                       payload={"secondment_id": str(row.id), "answered_at": iso(now),
                                "note": row.answer_note or ""})
    return row


def accept(*, ctx: NodeContext, db: Session, secondment_id: uuid.UUID, actor: Actor,
           note: str = "") -> IncomingSecondment:
    return _answer(ctx=ctx, db=db, secondment_id=secondment_id, accept=True, note=note, actor=actor)


def decline(*, ctx: NodeContext, db: Session, secondment_id: uuid.UUID, reason: str,
            actor: Actor) -> IncomingSecondment:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise invalid("reason", N_("say why, in 1 to 2000 characters"))
    return _answer(ctx=ctx, db=db, secondment_id=secondment_id, accept=False, note=reason, actor=actor)


def _refused(code: str, detail: str) -> Problem:
    return Problem(401, N_("The vouching credential is refused"), detail=detail, code=code,
                   errors=[FieldError("credential", detail)])


def verify_credential(*, ctx: NodeContext, token: str) -> tuple[dict, str]:
    """Check a vouching credential offline against the trust list: signature by a trusted, unrevoked
    key valid now, typ and alg, issuer = the key's region, audience = this node, times.
    Returns (claims, issuer region)."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8000:
        raise invalid("credential", N_("a compact JWS (three base64url parts)"))
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise invalid("credential", N_("a compact JWS (three base64url parts)")) from None
    if header.get("typ") != CREDENTIAL_TYP or header.get("alg") != CREDENTIAL_ALG or "crit" in header:
        raise _refused("credential-type", f"expected typ {CREDENTIAL_TYP} and alg {CREDENTIAL_ALG}")
    now = ctx.clock.now()
    try:
        trusted = federation.trust_list(ctx).resolve(str(header.get("kid", "")), now)
    except httpsig.SignatureError as exc:
        raise _refused(exc.code, exc.detail) from None
    try:
        payload = jws.deserialize_compact(token, OKPKey.import_key(trusted.jwk),
                                          algorithms=[CREDENTIAL_ALG]).payload
        claims = json.loads(payload)
    except (JoseError, ValueError):
        raise _refused("credential-signature", "the signature does not verify") from None
    if not isinstance(claims, dict):
        raise _refused("credential-signature", "the payload is not a JSON object")
    if claims.get("iss") != trusted.region or claims.get("home_region") != trusted.region:
        raise _refused("credential-issuer", f"signed by {trusted.region}'s key but issued as "
                                            f"{claims.get('iss')!r}")
    if claims.get("aud") != ctx.region or claims.get("host_region") != ctx.region:
        raise _refused("credential-audience", f"this credential is for {claims.get('aud')!r}, this is {ctx.region}")
    skew = ctx.settings.federation_clock_skew_seconds
    stamp = now.timestamp()
    for name in ("iat", "nbf", "exp", "jti", "sub", "secondment_id"):
        if name not in claims:
            raise _refused("credential-claims", f"the claim {name} is missing")
    if not all(isinstance(claims[n], int) for n in ("iat", "nbf", "exp")):
        raise _refused("credential-claims", "iat, nbf and exp are numbers")
    if claims["nbf"] > stamp + skew or claims["iat"] > stamp + skew:
        raise _refused("credential-not-yet-valid", "the credential is not valid yet")
    if claims["exp"] <= stamp:
        raise _refused("credential-expired", "the credential has expired: ask your home node for a new one")
    if claims["exp"] - claims["iat"] > CREDENTIAL_TTL.total_seconds() + skew:
        raise _refused("credential-claims", "the credential lives longer than this node accepts")
    return claims, trusted.region


def secondee_login(*, ctx: NodeContext, db: Session, token: str) -> tuple[Official, str, datetime]:
    """Sign a secondee in with the home's vouching credential: verified, for an accepted secondment
    here of that very official, within its term, never used before."""
    claims, home = verify_credential(ctx=ctx, token=token)
    try:
        secondment_id = uuid.UUID(str(claims["secondment_id"]))
    except ValueError:
        raise _refused("credential-claims", "secondment_id is not a UUID") from None
    row = db.get(IncomingSecondment, secondment_id)
    if row is None or row.home_region != home or row.home_official_id != str(claims["sub"]):
        raise _refused("secondment-unknown", "no secondment of this official from that region here")
    now = ctx.clock.now()
    if row.status == "withdrawn":
        raise _refused("secondment-withdrawn", "the home region has withdrawn this secondment")
    if row.status != "accepted":
        raise _refused("secondment-not-accepted", f"this secondment is {row.status}")
    if not row.term_start <= now < row.term_end:
        raise _refused("secondment-not-in-term", f"the term runs {iso(row.term_start)} to {iso(row.term_end)}")
    jti = str(claims["jti"])[:64]
    try:
        with db.begin_nested():
            db.add(UsedVouchingCredential(jti=jti, secondment_id=row.id, used_at=now))
            db.flush()
    except IntegrityError:
        raise _refused("credential-replayed", "this credential was used already: ask for a new one") from None
    return secondees.start_session(ctx=ctx, db=db, incoming=row, jti=jti)


# --- message handlers ---------------------------------------------------------------------------

def _payload_description(message: Incoming, ctx: NodeContext) -> dict:
    """A proposal's (or withdrawal's) description, checked field by field (a 422 names the first bad
    one): it must come from the official's home, for this node, with a term and roles held here."""
    p = message.payload
    if p.get("home_region") != message.sender:
        raise invalid("payload/home_region", "a region seconds only its own officials")
    if p.get("host_region") != ctx.region:
        raise invalid("payload/host_region", f"this node is {ctx.region}")
    secondment_id = payload_uuid(p, "secondment_id")
    official = p.get("official")
    if not isinstance(official, dict):
        raise invalid("payload/official", "an object with id, username and display_name")
    for name, limit in (("id", 64), ("username", 54), ("display_name", 200)):
        payload_text(official, name, limit=limit, path=f"official/{name}")
    term_start, term_end = payload_time(p, "term_start"), payload_time(p, "term_end")
    if term_end <= term_start:
        raise invalid("payload/term_end", "the term must end after it starts")
    if term_end - term_start > MAX_TERM:
        raise invalid("payload/term_end", "a term is at most three years")
    roles = p.get("host_roles")
    if not isinstance(roles, list) or not roles or any(not isinstance(r, str) or r not in SECONDABLE_ROLES
                                                       for r in roles) or len(set(roles)) != len(roles):
        # The host applies its own rule too: no admin role on secondment, whatever the home sends.
        raise invalid("payload/host_roles", f"distinct roles among {', '.join(SECONDABLE_ROLES)}")
    return {"id": secondment_id, "official": official, "term_start": term_start, "term_end": term_end,
            "host_roles": roles, "department": payload_text(p, "department", limit=200),
            "purpose": payload_text(p, "purpose", limit=2000)}


def _incoming_row(ctx: NodeContext, message: Incoming, d: dict, status: str) -> IncomingSecondment:
    return IncomingSecondment(id=d["id"], home_region=message.sender, home_official_id=d["official"]["id"],
                              home_username=d["official"]["username"], display_name=d["official"]["display_name"],
                              term_start=d["term_start"], term_end=d["term_end"], host_roles=list(d["host_roles"]),
                              department=d["department"].strip(), purpose=d["purpose"].strip(), status=status,
                              received_at=ctx.clock.now())


@register("secondment.proposed")
def on_proposed(*, ctx: NodeContext, db: Session, message: Incoming) -> dict:
    d = _payload_description(message, ctx)
    existing = db.get(IncomingSecondment, d["id"])
    if existing is not None:  # a withdrawal overtook the proposal: it stays withdrawn
        if existing.home_region != message.sender:
            raise invalid("payload/secondment_id", "this id belongs to another region's secondment")
        return {"secondment_id": str(existing.id), "status": existing.status}
    row = _incoming_row(ctx, message, d, "proposed")
    db.add(row)
    db.flush()
    record(db=db, actor=_peer_actor(message.sender), region=ctx.region, action="secondment.received",
           entity_type="secondment", entity_id=row.id, at=ctx.clock.now(), after=message.payload)
    return {"secondment_id": str(row.id), "status": row.status}


@register("secondment.withdrawn")
def on_withdrawn(*, ctx: NodeContext, db: Session, message: Incoming) -> dict:
    d = _payload_description(message, ctx)
    reason = payload_text(message.payload, "reason", limit=2000, empty=True)
    payload_time(message.payload, "withdrawn_at", required=False)
    row = db.get(IncomingSecondment, d["id"])
    now = ctx.clock.now()
    if row is None:  # arrived before the proposal: remember it, so the proposal cannot open it
        row = _incoming_row(ctx, message, d, "withdrawn")
        row.withdrawn_at, row.withdraw_reason = now, reason
        db.add(row)
        db.flush()
        before = None
    else:
        if row.home_region != message.sender:
            raise invalid("payload/secondment_id", "this id belongs to another region's secondment")
        before = row.status
        if row.status != "withdrawn":
            row.status, row.withdrawn_at, row.withdraw_reason = "withdrawn", now, reason
        secondees.end_access(ctx=ctx, db=db, incoming=row, actor=_peer_actor(message.sender))
    record(db=db, actor=_peer_actor(message.sender), region=ctx.region, action="secondment.withdrawn",
           entity_type="secondment", entity_id=row.id, at=now, before={"status": before},
           after={"status": "withdrawn", "reason": reason})
    return {"secondment_id": str(row.id), "status": row.status}


def _on_answer(ctx: NodeContext, db: Session, message: Incoming, status: str) -> dict:
    secondment_id = payload_uuid(message.payload, "secondment_id")
    note = payload_text(message.payload, "note", limit=2000, required=False, empty=True) or ""
    payload_time(message.payload, "answered_at", required=False)
    row = db.get(OutgoingSecondment, secondment_id)
    if row is None or row.host_region != message.sender:
        raise invalid("payload/secondment_id", f"no secondment to {message.sender} with this id")
    before = row.status
    if row.status == "proposed":  # a withdrawal made meanwhile stands
        row.status, row.answered_at, row.answer_note = status, ctx.clock.now(), note or None
    record(db=db, actor=_peer_actor(message.sender), region=ctx.region, action=f"secondment.{status}",
           entity_type="secondment", entity_id=row.id, at=ctx.clock.now(), before={"status": before},
           after={"status": row.status, "note": note})
    return {"secondment_id": str(row.id), "status": row.status}


@register("secondment.accepted")
def on_accepted(*, ctx: NodeContext, db: Session, message: Incoming) -> dict:
    return _on_answer(ctx, db, message, "accepted")


@register("secondment.declined")
def on_declined(*, ctx: NodeContext, db: Session, message: Incoming) -> dict:
    return _on_answer(ctx, db, message, "declined")
