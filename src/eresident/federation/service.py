"""Federation rules: enqueue a message in the caller's transaction, sign and deliver it with retries,
verify an incoming one, and apply it exactly once through the inbox.

Wire format (docs/federation.md): POST {peer}/api/v1/federation/messages, a JSON envelope
{id, kind, from, to, created_at, payload}, Content-Digest (sha-256) and an RFC 9421 signature
(ed25519) covering @method, @target-uri, content-digest and content-type, with created, expires,
keyid, alg and nonce = the message id.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast, overload

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import CursorResult, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.federation import httpsig
from eresident.federation.handlers import KIND, Incoming, handler_for
from eresident.federation.keys import iso, node_keys
from eresident.federation.models import InboxMessage, OutboxMessage
from eresident.federation.trust import TrustedKey, TrustError, TrustList, load_trust_at, trust_path
from eresident.kit.context import NodeContext
from eresident.i18n import N_
from eresident.kit.errors import Message, Problem, conflict, invalid, not_found
from eresident.kit.ids import new_id

log = structlog.get_logger("eresident.federation")

MESSAGES_PATH = "/api/v1/federation/messages"
COVERED = ("@method", "@target-uri", "content-digest", "content-type")
REQUIRED_PARAMS = ("created", "expires", "keyid", "alg", "nonce")
MAX_PAYLOAD_BYTES = 1024 * 1024
ENVELOPE_FIELDS = {"id", "kind", "from", "to", "created_at", "payload"}


def trust_list(ctx: NodeContext) -> TrustList:
    try:  # the path once per node (it is asked on every message and credential check), the file's stamp each time
        return load_trust_at(ctx.lazy("federation.trust_path", lambda: trust_path(ctx.settings)))
    except TrustError as exc:  # fail closed, and say why: the operator must fix the file
        raise Problem(503, N_("The trust list cannot be read"), code="trust-list-invalid", detail=str(exc)) from None


def peers(ctx: NodeContext) -> list[str]:
    """Every region this node trusts (however many there are)."""
    return sorted(trust_list(ctx).peers)


# --- sending ------------------------------------------------------------------------------------

def enqueue(*, ctx: NodeContext, db: Session, peer: str, kind: str, payload: dict) -> OutboxMessage:
    """Queue a message to `peer` in the caller's transaction: it is sent only if that commits."""
    if not KIND.match(kind) or len(kind) > 64:
        raise invalid("kind", N_("a message kind is dotted lower-case words, e.g. case.status"))
    if peer == ctx.region:
        raise invalid("peer", N_("a node does not send messages to itself"))
    if trust_list(ctx).peer(peer) is None:
        raise Problem(409, N_("Unknown peer"), code="unknown-peer",
                      detail=Message(N_("Region %(region)s is not in this node's trust list."), region=repr(peer)))
    try:
        encoded = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        raise invalid("payload", N_("the payload must be plain JSON")) from None
    if not isinstance(payload, dict) or len(encoded) > MAX_PAYLOAD_BYTES:
        raise invalid("payload", Message(N_("the payload is a JSON object of at most %(limit)s bytes"),
                                         limit=MAX_PAYLOAD_BYTES))
    now = ctx.clock.now()
    row = OutboxMessage(id=new_id(), peer_region=peer, kind=kind, payload=json.loads(encoded),
                        created_at=now, attempts=0, next_attempt_at=now)
    db.add(row)
    return row


def discard_unsent(*, db: Session, peer: str, kind: str) -> int:
    """Delete the messages of `kind` to `peer` not delivered yet: for a kind where the newest
    message supersedes the older ones (audit.checkpoint), so they cannot arrive after it."""
    from sqlalchemy import delete

    # a DELETE gives a CursorResult (Session.execute is typed with the general Result)
    result = cast(CursorResult, db.execute(delete(OutboxMessage).where(
        OutboxMessage.peer_region == peer, OutboxMessage.kind == kind, OutboxMessage.delivered_at.is_(None))))
    return result.rowcount or 0


def envelope(*, ctx: NodeContext, message_id: uuid.UUID, peer: str, kind: str, created_at: datetime,
             payload: dict) -> bytes:
    return json.dumps({"id": str(message_id), "kind": kind, "from": ctx.region, "to": peer,
                       "created_at": iso(created_at), "payload": payload},
                      separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signed_request(*, ctx: NodeContext, url: str, body: bytes, message_id: str,
                   now: datetime) -> dict[str, str]:
    """Headers of a signed POST of `body` to `url`, signed now with this node's current key."""
    key = node_keys(ctx.settings).signing_key(now)
    headers = {"Content-Type": "application/json", "Content-Digest": httpsig.content_digest(body)}
    created = int(now.timestamp())
    # joserfc types an OKP key's private part as any curve's (or None): federation keys are Ed25519, private
    private_key = cast(Ed25519PrivateKey, key.key.private_key)
    headers |= httpsig.sign(httpsig.HttpRequest.of("POST", url, headers.items()), key=private_key,
                            keyid=key.kid, components=COVERED, created=created,
                            expires=created + ctx.settings.federation_message_ttl_seconds, nonce=message_id)
    return headers


def retry_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the next try after `attempts` failed ones: exponential, capped, with equal
    jitter (half fixed, half random, so peers recovering together are not hit all at once).
    At least one second, so a repeat is always signed in a later second than the try before."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 40))
    return max(1.0, ceiling / 2 + rng.uniform(0, ceiling / 2))


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0  # includes the ones given up in this run
    dead: int = 0  # given up in this run: refused too long or too often (a dead letter)
    errors: dict[str, str] = field(default_factory=dict)  # peer -> last error of this run


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    peer: str
    kind: str
    payload: dict
    created_at: datetime
    attempts: int
    requeued_at: datetime | None = None
    attempts_at_requeue: int = 0


def _claim(ctx: NodeContext) -> list[_Claimed]:
    """Due messages, each leased to this run (a crashed run's lease expires and they are due again)."""
    settings = ctx.settings
    with ctx.database.session(write=False) as db:  # the usual answer, without taking the write lock
        if db.scalar(select(OutboxMessage.id).where(OutboxMessage.next_attempt_at <= ctx.clock.now())
                     .limit(1)) is None:
            return []
    with ctx.database.session(write=True) as db:
        now = ctx.clock.now()
        query = (select(OutboxMessage).where(OutboxMessage.next_attempt_at <= now)
                 .order_by(OutboxMessage.created_at).limit(settings.federation_batch_size))
        if not ctx.database.is_sqlite:  # several job workers: each claims different rows
            query = query.with_for_update(skip_locked=True)
        rows = db.scalars(query).all()
        lease = now + timedelta(seconds=settings.federation_timeout_seconds * (len(rows) + 1) + 30)
        claimed = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = lease
            row.last_attempt_at = now
            claimed.append(_Claimed(row.id, row.peer_region, row.kind, row.payload, row.created_at, row.attempts,
                                    row.requeued_at, row.attempts_at_requeue or 0))
        return claimed


def _delivered(ctx: NodeContext, item: _Claimed) -> None:
    with ctx.database.session(write=True) as db:
        db.execute(update(OutboxMessage)
                   .where(OutboxMessage.id == item.id, OutboxMessage.delivered_at.is_(None))
                   .values(delivered_at=ctx.clock.now(), next_attempt_at=None, last_error=None))


def refuses(status_code: int) -> bool:
    """An answer that refuses this message (the peer read it and said no), as opposed to a peer or a
    path that is unwell (5xx, 408, 429, or no answer at all): only refusals can make a message dead."""
    return 400 <= status_code < 500 and status_code not in (408, 429)


def _exhausted(settings, item: _Claimed, now: datetime) -> bool:
    """Whether a refused message has had its allowance: refused for long enough, or often enough,
    counted since it was queued or last requeued."""
    by_age, by_count = settings.federation_dead_after_seconds, settings.federation_dead_after_attempts
    since = item.requeued_at or item.created_at
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return bool((by_age and now - since >= timedelta(seconds=by_age))
                or (by_count and item.attempts - item.attempts_at_requeue >= by_count))


def _failed(ctx: NodeContext, items: list[_Claimed], error: str, rng: random.Random, *,
            refused: bool = False) -> int:
    """Schedule a retry of each item, or, for a refusal that has had its allowance, give it up.
    Returns how many were given up."""
    settings = ctx.settings
    dead = 0
    with ctx.database.session(write=True) as db:
        now = ctx.clock.now()
        for item in items:
            # Only our own claim: a row another run has claimed since (our lease ran out) is theirs.
            ours = update(OutboxMessage).where(OutboxMessage.id == item.id, OutboxMessage.attempts == item.attempts,
                                               OutboxMessage.delivered_at.is_(None))
            if refused and _exhausted(settings, item, now):
                done = cast(CursorResult, db.execute(ours.values(dead_at=now, next_attempt_at=None,
                                                                  last_error=error[:1000])))
                if done.rowcount:
                    dead += 1
                    record(db=db, actor=Actor.system(), region=ctx.region, action="federation.message_dead",
                           entity_type="federation_message", entity_id=item.id, at=now,
                           after={"peer": item.peer, "kind": item.kind, "attempts": item.attempts,
                                  "created_at": iso(item.created_at), "last_error": error[:1000]})
                    log.warning("federation.message_dead", message_id=str(item.id), peer=item.peer,
                                kind=item.kind, attempts=item.attempts, error=error[:200])
                continue
            delay = retry_delay(item.attempts, base=settings.federation_retry_base_seconds,
                                cap=settings.federation_retry_max_seconds, rng=rng)
            db.execute(ours.values(next_attempt_at=now + timedelta(seconds=delay), last_error=error[:1000]))
    return dead


def describe_response(response: httpx.Response) -> str:
    """A failed delivery's answer in one line for the operator (problem type and detail, or the body's start)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        code = body["type"].rsplit("/", 1)[-1]
        return f"HTTP {response.status_code} {code}: {body.get('detail') or body.get('title', '')}"
    if 200 <= response.status_code < 300:  # a success status is not the acknowledgement: say why it failed
        return f"HTTP {response.status_code} but not an acknowledgement of this message: {response.text[:200]!r}"
    return f"HTTP {response.status_code}: {response.text[:200]!r}"


def deliver_due(ctx: NodeContext, *, client: httpx.Client | None = None,
                rng: random.Random | None = None) -> DeliveryReport:
    """Send every due message: claim, POST signed, mark delivered or schedule a retry. Never loses a
    message: whatever happens to the peer, an undelivered row stays and is tried again."""
    rng = rng or random.Random()
    report = DeliveryReport()
    claimed = _claim(ctx)
    if not claimed:
        return report
    by_peer: dict[str, list[_Claimed]] = defaultdict(list)
    for item in claimed:
        by_peer[item.peer].append(item)
    own_client = client is None
    client = client or httpx.Client(timeout=ctx.settings.federation_timeout_seconds, follow_redirects=False)
    try:
        for region, items in by_peer.items():
            try:
                peer = trust_list(ctx).peer(region)
            except Problem as exc:
                peer, error = None, exc.detail
            else:
                error = f"region {region} is not in the trust list"
            if peer is None:
                _failed(ctx, items, error, rng)
                report.failed += len(items)
                report.errors[region] = error
                continue
            for index, item in enumerate(items):
                body = envelope(ctx=ctx, message_id=item.id, peer=region, kind=item.kind,
                                created_at=item.created_at, payload=item.payload)
                try:
                    headers = signed_request(ctx=ctx, url=peer.messages_url, body=body,
                                             message_id=str(item.id), now=ctx.clock.now())
                    response = client.post(peer.messages_url, content=body, headers=headers,
                                           timeout=ctx.settings.federation_timeout_seconds)
                except (httpx.HTTPError, OSError) as exc:
                    # Down, slow or gone mid-answer: try the rest of this peer's queue next time.
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    rest = items[index:]
                    note = error if len(rest) == 1 else f"{error} (and {len(rest) - 1} not tried)"
                    _failed(ctx, rest, note, rng)
                    report.failed += len(rest)
                    report.errors[region] = error
                    break
                except Problem as exc:  # no valid signing key of our own
                    rest = items[index:]
                    _failed(ctx, rest, exc.detail, rng)
                    report.failed += len(rest)
                    report.errors[region] = exc.detail
                    break
                if _acknowledged(response, item.id):
                    _delivered(ctx, item)
                    report.delivered += 1
                    continue
                error = describe_response(response)
                report.errors[region] = error
                if response.status_code >= 500 or response.status_code == 429:
                    rest = items[index:]  # the peer is unwell: leave it alone until the retry
                    _failed(ctx, rest, error, rng)
                    report.failed += len(rest)
                    break
                report.dead += _failed(ctx, [item], error, rng, refused=refuses(response.status_code))
                report.failed += 1
    finally:
        if own_client:
            client.close()
    if report.failed:
        log.warning("federation.delivery_failed", delivered=report.delivered, failed=report.failed,
                    dead=report.dead, peers=sorted(report.errors))
    return report


def _acknowledged(response: httpx.Response, message_id: uuid.UUID) -> bool:
    """Only a 200 whose JSON names this message counts; anything else is tried again."""
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("message_id") == str(message_id)


# --- receiving ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verified:
    message: Incoming
    digest: str  # hex SHA-256 of the body
    signature_created: int


def _refused(exc: httpsig.SignatureError) -> Problem:
    return Problem(401, "Message refused", code=exc.code, detail=exc.detail)


def verify_incoming(*, ctx: NodeContext, method: str, target_uri: str,
                    headers: list[tuple[str, str]], body: bytes) -> Verified:
    """Check signature, key, times and digest, then the envelope; refuse with problem details."""
    trust = trust_list(ctx)
    now = ctx.clock.now()
    request = httpsig.HttpRequest.of(method, target_uri, headers)

    def resolve(kid: str, created: int):
        key = trust.resolve(kid, datetime.fromtimestamp(created, UTC))
        trust.resolve(kid, now)  # and still trusted now: a signature never outlives its key
        return key.public_key, key

    try:
        checked = httpsig.verify(request, resolve_key=resolve, now=int(now.timestamp()),
                                 max_skew=ctx.settings.federation_clock_skew_seconds,
                                 required_components=COVERED, required_params=REQUIRED_PARAMS, body=body,
                                 max_age=ctx.settings.federation_message_ttl_seconds)
    except httpsig.SignatureError as exc:
        log.info("federation.refused", reason=exc.code)
        raise _refused(exc) from None
    sender_key = checked.key
    assert isinstance(sender_key, TrustedKey)  # what resolve() returns
    sender = sender_key.region
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise Problem(415, "Unsupported media type", code="http-415", detail="Messages are application/json.")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise invalid("body", "the message is not JSON") from None
    if not isinstance(data, dict) or set(data) != ENVELOPE_FIELDS:
        raise invalid("body", f"the envelope has exactly the fields {', '.join(sorted(ENVELOPE_FIELDS))}")
    try:
        message_id = str(uuid.UUID(str(data["id"])))
    except ValueError:
        raise invalid("id", "the message id is a UUID") from None
    if checked.nonce != message_id:
        raise _refused(httpsig.SignatureError("envelope-mismatch", "The signature nonce is not the message id."))
    if data["from"] != sender:
        raise _refused(httpsig.SignatureError(
            "envelope-mismatch", f"The message says it is from {data['from']!r}, the key is {sender}'s."))
    if data["to"] != ctx.region:
        raise _refused(httpsig.SignatureError("envelope-mismatch", f"The message is for {data['to']!r}, "
                                                                   f"this is {ctx.region}."))
    if not isinstance(data["kind"], str) or not KIND.match(data["kind"]) or len(data["kind"]) > 64:
        raise invalid("kind", "unknown message kind")
    if not isinstance(data["payload"], dict):
        raise invalid("payload", "the payload is a JSON object")
    try:
        created_at = datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00"))
        if created_at.tzinfo is None:
            raise ValueError
        created_at = created_at.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a zone that pushes year 9999 or 1 out of range
        raise invalid("created_at", "created_at is an ISO 8601 time with a zone") from None
    return Verified(Incoming(id=message_id, kind=data["kind"], sender=sender,
                             created_at=created_at, payload=data["payload"]),
                    digest=hashlib.sha256(body).hexdigest(), signature_created=checked.created)


def _repeat(row: InboxMessage, verified: Verified) -> dict:
    message = verified.message
    if row.peer_region != message.sender or row.content_digest != verified.digest:
        raise Problem(409, "Message id already used", code="message-id-reused",
                      detail="A different message with this id was received before; nothing was applied.")
    if verified.signature_created <= row.signature_created:
        raise _refused(httpsig.SignatureError("replayed", "This signed request was received before "
                                                          "(a repeat must be signed again)."))
    row.signature_created = verified.signature_created
    row.repeats += 1
    return row.response


def accept(*, ctx: NodeContext, db: Session, verified: Verified) -> tuple[dict, bool]:
    """Apply a verified message once: the handler's effect and the inbox row commit together.
    A repeat (same id, same body, signed again) gets the first answer and changes nothing.
    Returns (answer, whether it was a repeat)."""
    message = verified.message
    message_uuid = uuid.UUID(message.id)
    existing = db.get(InboxMessage, message_uuid)
    if existing is not None:
        return _repeat(existing, verified), True
    handler = handler_for(message.kind)
    if handler is None:
        raise Problem(422, "Unknown message kind", code="unknown-kind",
                      detail=f"This node has no handler for {message.kind!r} (yet): send it again later.")
    row = InboxMessage(id=message_uuid, peer_region=message.sender, kind=message.kind,
                       content_digest=verified.digest, received_at=ctx.clock.now(),
                       signature_created=verified.signature_created, repeats=0, response={})
    try:
        with db.begin_nested():  # claims the id first: a concurrent copy waits here, then repeats
            db.add(row)
            db.flush()
    except IntegrityError:
        existing = db.get(InboxMessage, message_uuid, populate_existing=True)
        if existing is None:
            raise
        return _repeat(existing, verified), True
    result = handler(ctx=ctx, db=db, message=message)
    answer = json.loads(json.dumps({"message_id": message.id, "kind": message.kind, "status": "applied",
                                    "result": result}, allow_nan=False))
    row.response = answer
    return answer, False


# --- operator view ------------------------------------------------------------------------------

@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: datetime | None) -> datetime | None: ...
def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _dead_entry(row: OutboxMessage) -> dict[str, Any]:
    assert row.dead_at is not None  # a dead letter
    return {"id": str(row.id), "peer": row.peer_region, "kind": row.kind, "created_at": iso(_aware(row.created_at)),
            "dead_at": iso(_aware(row.dead_at)), "attempts": row.attempts, "last_error": row.last_error,
            "last_attempt_at": iso(_aware(row.last_attempt_at)) if row.last_attempt_at else None,
            "requeued_at": iso(_aware(row.requeued_at)) if row.requeued_at else None}


_DEAD = and_(OutboxMessage.dead_at.is_not(None), OutboxMessage.delivered_at.is_(None))


def dead_letters(*, db: Session, peer: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Messages given up, oldest first (per peer, or all)."""
    query = select(OutboxMessage).where(_DEAD)
    if peer is not None:
        query = query.where(OutboxMessage.peer_region == peer)
    return [_dead_entry(row) for row in db.scalars(query.order_by(OutboxMessage.created_at).limit(limit))]


def requeue(*, ctx: NodeContext, db: Session, actor: Actor, message_ids: list[uuid.UUID] | None = None,
            peer: str | None = None) -> list[OutboxMessage]:
    """Make dead messages due again (named ones, or every dead one to `peer`), each with a fresh
    allowance and an audit event. A message that is not dead is refused: nothing is requeued then."""
    if (message_ids is None) == (peer is None):
        raise invalid("message_ids", N_("name the messages, or a peer whose dead messages to requeue"))
    query = select(OutboxMessage).order_by(OutboxMessage.created_at).with_for_update()
    if peer is not None:
        rows = list(db.scalars(query.where(_DEAD, OutboxMessage.peer_region == peer)))
    else:
        assert message_ids is not None  # exactly one of message_ids and peer, checked above
        rows = list(db.scalars(query.where(OutboxMessage.id.in_(message_ids))))
        found = {row.id for row in rows}
        for message_id in message_ids:
            if message_id not in found:
                raise not_found(Message(N_("Message %(id)s"), id=message_id))
        for row in rows:
            if row.dead_at is None or row.delivered_at is not None:
                state = N_("delivered") if row.delivered_at is not None else N_("still being tried")
                raise conflict(Message(N_("Message %(id)s is not dead (%(state)s): only a dead message is "
                                          "requeued."), id=row.id, state=Message(state)), code="message-not-dead")
    now = ctx.clock.now()
    for row in rows:
        assert row.dead_at is not None  # only dead letters are requeued (checked above)
        before = {"dead_at": iso(_aware(row.dead_at)), "attempts": row.attempts, "last_error": row.last_error}
        row.dead_at, row.next_attempt_at = None, now
        row.requeued_at, row.attempts_at_requeue = now, row.attempts
        record(db=db, actor=actor, region=ctx.region, action="federation.message_requeued",
               entity_type="federation_message", entity_id=row.id, at=now, before=before,
               after={"peer": row.peer_region, "kind": row.kind, "next_attempt_at": iso(now)})
    if rows:
        log.info("federation.requeued", count=len(rows), peer=peer)
    return rows


def status(*, ctx: NodeContext, db: Session) -> dict[str, Any]:
    """Per peer: what waits to be sent (how many, how many failing, the oldest, the last error),
    what was given up (how many, the oldest), what was delivered and what was received."""
    now = ctx.clock.now()
    try:
        trusted = trust_list(ctx).peers
    except Problem:
        trusted = {}
    out: dict[str, dict[str, Any]] = {
        region: {"region": region, "name": peer.name, "base_url": peer.base_url, "trusted": True,
                 "pending": 0, "failing": 0, "oldest_pending_at": None, "oldest_pending_age_seconds": None,
                 "last_error": None, "last_error_at": None, "dead": 0, "oldest_dead": None,
                 "delivered": 0, "last_delivered_at": None, "received": 0, "last_received_at": None}
        for region, peer in trusted.items()}

    def entry(region: str) -> dict[str, Any]:
        if region not in out:
            out[region] = {"region": region, "name": region, "base_url": None, "trusted": False,
                           "pending": 0, "failing": 0, "oldest_pending_at": None,
                           "oldest_pending_age_seconds": None, "last_error": None, "last_error_at": None,
                           "dead": 0, "oldest_dead": None, "delivered": 0, "last_delivered_at": None,
                           "received": 0, "last_received_at": None}
        return out[region]

    pending = and_(OutboxMessage.delivered_at.is_(None), OutboxMessage.dead_at.is_(None))
    for region, count, failing, oldest in db.execute(
            select(OutboxMessage.peer_region, func.count(),
                   func.count(OutboxMessage.last_error), func.min(OutboxMessage.created_at))
            .where(pending).group_by(OutboxMessage.peer_region)):
        e = entry(region)
        oldest = oldest if oldest is None or oldest.tzinfo else oldest.replace(tzinfo=UTC)
        e.update(pending=count, failing=failing, oldest_pending_at=iso(oldest) if oldest else None,
                 oldest_pending_age_seconds=int((now - oldest).total_seconds()) if oldest else None)
    for region, count, last in db.execute(
            select(OutboxMessage.peer_region, func.count(), func.max(OutboxMessage.delivered_at))
            .where(OutboxMessage.delivered_at.is_not(None)).group_by(OutboxMessage.peer_region)):
        last = last if last is None or last.tzinfo else last.replace(tzinfo=UTC)
        entry(region).update(delivered=count, last_delivered_at=iso(last) if last else None)
    failing_regions = db.scalars(select(OutboxMessage.peer_region)
                                 .where(pending, OutboxMessage.last_error.is_not(None)).distinct()).all()
    for region in failing_regions:
        row = db.execute(select(OutboxMessage.last_error, OutboxMessage.last_attempt_at)
                         .where(and_(pending, OutboxMessage.peer_region == region,
                                     OutboxMessage.last_error.is_not(None)))
                         .order_by(OutboxMessage.last_attempt_at.desc()).limit(1)).first()
        if row:
            entry(region).update(last_error=row.last_error,
                                 last_error_at=iso(row.last_attempt_at) if row.last_attempt_at else None)
    for region, count in db.execute(select(OutboxMessage.peer_region, func.count()).where(_DEAD)
                                    .group_by(OutboxMessage.peer_region)):
        oldest_dead = db.scalars(select(OutboxMessage).where(_DEAD, OutboxMessage.peer_region == region)
                            .order_by(OutboxMessage.created_at).limit(1)).first()
        entry(region).update(dead=count, oldest_dead=_dead_entry(oldest_dead) if oldest_dead else None)
    for region, count, last in db.execute(
            select(InboxMessage.peer_region, func.count(), func.max(InboxMessage.received_at))
            .group_by(InboxMessage.peer_region)):
        last = last if last is None or last.tzinfo else last.replace(tzinfo=UTC)
        entry(region).update(received=count, last_received_at=iso(last) if last else None)
    return {"region": ctx.region, "at": iso(now), "peers": [out[r] for r in sorted(out)]}
