"""Mutual recognition between region nodes (issue 6; docs/federation.md, "Recognition").

- An e-resident of a peer region presents their SD-JWT VC (with key binding) to this node. It is
  verified offline against the peer's credential-issuer keys *in the trust list* (taken from the
  peer's node-keys document at `trust add`, never fetched at verification time), its live status
  is read from the issuer's signed token status list, and the recognition is recorded here: no
  identity check is repeated. The home node is told (`recognition.recorded`) so it knows where to
  push status changes (`recognition.status_changed`); a periodic job re-reads the status lists of
  recognitions not checked lately, as the fallback.
- The cross-region duplicate check: with the applicant's consent, each peer is asked (through the
  outbox, after the submission has committed) whether it knows a keyed hash of the passport
  number; the answer comes back as a message and becomes a `duplicate_peer` check result.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import APIRouter, Depends, Request
from joserfc.jwk import OKPKey, import_key
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.credentials.service import VCT_E_RESIDENCY
from eresident.crypto import sdjwt, statuslist
from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, session_token
from eresident.federation import service as federation
from eresident.federation.handlers import (
    Incoming,
    payload_flag,
    payload_text,
    payload_time,
    payload_uuid,
    register,
)
from eresident.federation.keys import iso
from eresident.federation.trust import KID, Peer, TrustError, fingerprint
from eresident.identity.models import Applicant, Application, CheckResult, Consent, EResident
from eresident.identity.recognition import PeerPassportDigest, Recognition, RecognitionPeer
from eresident.kit.context import NodeContext
from eresident.i18n import N_
from eresident.kit.errors import FieldError, Message, Problem, conflict, invalid
from eresident.kit.files import create_once
from eresident.kit.ids import new_id

log = structlog.get_logger("eresident.recognition")

AGREEMENT_KEY_FILE = "federation-agreement.jwk.json"
PAIR_KEY_INFO = b"eresident/duplicate-check/v1"
DISCLOSURES = ("family_name", "given_name", "nationality")  # what the host's services print
NONCE_MAX_AGE = 300
STATUS_NAMES = {statuslist.VALID: "active", statuslist.SUSPENDED: "suspended", statuslist.INVALID: "revoked"}
OPEN = ("awaiting_identity_check", "awaiting_review", "in_review", "info_requested", "awaiting_decision")
DUPLICATE_CHECK = "duplicate_peer"
DIGEST = re.compile(r"^[A-Za-z0-9_-]{43}$")  # a keyed passport hash: HMAC-SHA256, base64url without padding
ASK_WITHIN = timedelta(days=30)  # applications older than this are not asked about any more
HTTP_CACHE_KEY = "federation.peer_http"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _peer_actor(region: str) -> Actor:
    return Actor("peer", region, f"node {region}", region)


# --------------------------------------------------------------------------- published keys, trust


def _agreement_private(ctx: NodeContext) -> OKPKey:
    """This node's X25519 key for per-pair secrets; generated once under DATA_DIR/keys (0600)."""
    def load() -> OKPKey:
        path = ctx.settings.data_dir / "keys" / AGREEMENT_KEY_FILE
        if not path.exists():
            key = OKPKey.generate_key("X25519", private=True)
            data = {**key.as_dict(private=True), "kid": f"{ctx.settings.region}-agree-{key.thumbprint()[:16]}"}
            create_once(path, json.dumps(data).encode())
        return OKPKey.import_key(json.loads(path.read_text()))
    return ctx.lazy("recognition.agreement_key", load)


def published(ctx: NodeContext) -> dict:
    """What recognition adds to GET /.well-known/eresident/node-keys: the credential issuer with
    its public keys, and the X25519 key peers combine with theirs for the duplicate check."""
    agreement = _agreement_private(ctx)
    credential_key = {**ctx.keys.signing.as_dict(private=False), "kid": ctx.keys.kid, "use": "sig",
                      "alg": "EdDSA"}
    return {"credential_issuer": {"issuer": ctx.settings.base_url, "keys": [credential_key]},
            "agreement_key": {**agreement.as_dict(private=False), "kid": agreement.kid, "use": "enc"}}


_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k")


def parse_credential_issuer(entry: object, region: str, *, from_peer: bool) -> tuple[str | None, list[dict]]:
    """A peer's `credential_issuer` member (optional: a peer without one has no recognisable
    credentials, which fails closed)."""
    if entry is None:
        return None, []
    if not isinstance(entry, dict) or not isinstance(entry.get("issuer"), str) \
            or not entry["issuer"].startswith(("https://", "http://")) or not isinstance(entry.get("keys"), list):
        raise TrustError(f"peer {region}: credential_issuer is not {{issuer, keys}}")
    keys = []
    for jwk in entry["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or not KID.match(jwk["kid"]):
            raise TrustError(f"peer {region}: a credential key has no usable kid")
        if any(k in jwk for k in _PRIVATE):
            raise TrustError(f"credential key {jwk['kid']} contains a private key: refusing it")
        if (jwk.get("kty"), jwk.get("crv")) not in (("OKP", "Ed25519"), ("EC", "P-256")):
            raise TrustError(f"credential key {jwk['kid']} is not an Ed25519 or P-256 public key")
        try:
            import_key({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
        except Exception:  # noqa: BLE001 - joserfc raises several types for malformed keys
            raise TrustError(f"credential key {jwk['kid']} is malformed") from None
        kept = {k: jwk[k] for k in ("kty", "crv", "x", "y", "kid") if k in jwk}
        if not from_peer and jwk.get("revoked") is True:
            kept["revoked"] = True
        keys.append(kept)
    return entry["issuer"].rstrip("/"), keys


def parse_agreement_key(entry: object, region: str) -> dict | None:
    if entry is None:
        return None
    if not isinstance(entry, dict) or entry.get("kty") != "OKP" or entry.get("crv") != "X25519" \
            or not isinstance(entry.get("x"), str) or "d" in entry:
        raise TrustError(f"peer {region}: agreement_key is not an X25519 public key")
    try:
        OKPKey.import_key({"kty": "OKP", "crv": "X25519", "x": entry["x"]})
    except Exception:  # noqa: BLE001
        raise TrustError(f"peer {region}: agreement_key is malformed") from None
    return {"kty": "OKP", "crv": "X25519", "x": entry["x"], "kid": str(entry.get("kid", ""))[:128]}


def merge_credential_keys(old: list[dict], new: list[dict]) -> list[dict]:
    """A refresh adds keys, keeps revocations, keeps keys no longer published (credentials signed
    with them stay valid until they expire) and refuses a kid whose key changed."""
    by_kid = {k["kid"]: k for k in old}
    merged = []
    for key in new:
        prior = by_kid.pop(key["kid"], None)
        if prior is not None:
            if {k: v for k, v in prior.items() if k != "revoked"} != key:
                raise TrustError(f"credential key {key['kid']} changed its public key: refusing (revoke it first)")
            key = prior
        merged.append(key)
    return merged + list(by_kid.values())


def credential_fingerprints(peer: Peer) -> list[str]:
    """Lines for `trust add`: the credential and agreement keys, to compare like the federation keys."""
    lines = [f"  credential key {k['kid']}  SHA-256 {import_key(k).thumbprint()}"
             + ("  REVOKED" if k.get("revoked") else "") for k in peer.credential_keys]
    if peer.agreement_key:
        lines.append(f"  agreement key {peer.agreement_key['kid']}  SHA-256 {fingerprint(peer.agreement_key)}")
    return lines


def _trusted_peers(ctx: NodeContext) -> dict[str, Peer]:
    return federation.trust_list(ctx).peers


def pair_key(ctx: NodeContext, peer: Peer) -> bytes | None:
    """The secret this node shares with `peer` alone: X25519 between the two nodes' agreement keys,
    through HKDF bound to both region codes. Both compute it from their trust lists; it never
    travels and is not stored."""
    if not peer.agreement_key:
        return None
    # joserfc types an OKP key as any of its curves; both are X25519 (parse_agreement_key checks the peer's)
    mine = cast(X25519PrivateKey, _agreement_private(ctx).private_key)
    theirs = cast(X25519PublicKey, OKPKey.import_key(peer.agreement_key).public_key)
    regions = "|".join(sorted((ctx.region, peer.region))).encode()
    return HKDF(SHA256(), 32, salt=None, info=PAIR_KEY_INFO + b"|" + regions).derive(mine.exchange(theirs))


def normalise_passport(number: str) -> str:
    return "".join(ch for ch in number.upper() if ch.isalnum())


def passport_digest(key: bytes, number: str) -> str:
    return _b64(hmac.new(key, b"passport|" + normalise_passport(number).encode(), hashlib.sha256).digest())


def peer_http(ctx: NodeContext) -> httpx.Client:
    """The client for reading peers' status lists (a test puts its in-process network here)."""
    return ctx.lazy(HTTP_CACHE_KEY, lambda: httpx.Client(timeout=ctx.settings.recognition_status_timeout_seconds,
                                                         follow_redirects=False))


# --------------------------------------------------------------------------- presentation


def challenge(ctx: NodeContext, applicant_id: uuid.UUID) -> dict:
    """A nonce for the key-binding JWT, bound to this applicant account and valid five minutes: a
    presentation captured elsewhere cannot be replayed into another account."""
    ts = int(ctx.clock.now().timestamp())
    mac = hmac.new(ctx.secrets.secret_key, f"recognition|{applicant_id}|{ts}".encode(), hashlib.sha256)
    return {"nonce": f"{ts}.{_b64(mac.digest()[:18])}", "audience": ctx.settings.base_url,
            "expires_in": NONCE_MAX_AGE, "disclose": list(DISCLOSURES)}


def _nonce_ok(ctx: NodeContext, applicant_id: uuid.UUID, nonce: str) -> bool:
    ts_text, _, mac = nonce.partition(".")
    if not ts_text.isdigit():
        return False
    expected = hmac.new(ctx.secrets.secret_key, f"recognition|{applicant_id}|{ts_text}".encode(),
                        hashlib.sha256).digest()[:18]
    age = ctx.clock.now().timestamp() - int(ts_text)
    return hmac.compare_digest(_b64(expected), mac) and -60 <= age <= NONCE_MAX_AGE


def _refused(code: str, detail: str, status: int = 422, **extra) -> Problem:
    return Problem(status, N_("The credential cannot be recognised"), code=code, detail=detail,
                   errors=[FieldError("credential", detail)], extra=extra)


_REASON_CODES = {"unknown_key": "credential-untrusted", "signature": "credential-untrusted",
                 "issuer": "credential-untrusted", "expired": "credential-expired",
                 "not_yet_valid": "credential-expired", "key_binding": "credential-key-binding",
                 "audience": "credential-key-binding", "nonce": "credential-key-binding"}


@dataclass(frozen=True)
class Presented:
    """A presentation verified offline and found active in its issuer's status list (not yet
    bound to an account: the nonce is checked against the signed-in applicant)."""

    peer: str
    number: str
    credential_id: str
    holder_thumbprint: str
    status_list_uri: str
    status_index: int
    family_name: str
    given_name: str
    nationality: str
    nonce: str


@functools.lru_cache(maxsize=256)
def _imported(jwk_items: tuple):
    """A trusted public JWK as a key object, imported once: importing on every verification was
    about 15% of an offline credential check (bench federation). Keyed by the key's own members,
    so a changed or rotated key is a new entry; revocation is decided before this is asked."""
    return import_key(dict(jwk_items))


def _resolver(ctx: NodeContext):
    peers = _trusted_peers(ctx)

    def resolve(issuer: str, kid: str):
        if issuer == ctx.settings.base_url and kid == ctx.keys.kid:  # ours: refused after, as own-region
            return ctx.keys.signing.as_dict(private=False)
        return _peer_key(peers, issuer, kid)[1]
    return resolve


def _peer_key(peers: dict[str, Peer], issuer: str, kid: str):
    """(the peer whose node issues as `issuer`, its trusted key `kid` imported once): only the keys of
    the one peer whose own address is this issuer (trust.py enforces both); None for either not found."""
    peer = next((p for p in peers.values() if p.credential_issuer == issuer), None)
    key = peer.credential_key(issuer, kid) if peer is not None else None
    if key is None:
        return peer, None
    return peer, _imported(tuple(sorted((k, v) for k, v in key.items() if k != "revoked")))


def trusted_peer_key(ctx: NodeContext, issuer: str, kid: str):
    """For other services checking a JWS a peer node signed (crosscase): see _peer_key."""
    return _peer_key(_trusted_peers(ctx), issuer, kid)


def _issuing_peer(ctx: NodeContext, issuer: str) -> Peer | None:
    return next((p for p in _trusted_peers(ctx).values() if p.credential_issuer == issuer), None)


def fetch_status(ctx: NodeContext, peer: Peer, uri: str, *, client: httpx.Client | None = None) -> statuslist.StatusList:
    """The issuer's token status list at `uri` (on the peer's own base URL), its signature checked
    with the peer's credential keys from the trust list. Problem 503 when it cannot be had."""
    if not uri.startswith(peer.base_url + "/"):
        raise _refused("credential-invalid", f"The credential's status list {uri[:200]!r} is not on its issuer's node.")
    try:
        response = (client or peer_http(ctx)).get(uri, headers={"Accept": "application/statuslist+jwt"},
                                                  timeout=ctx.settings.recognition_status_timeout_seconds)
        response.raise_for_status()
        return statuslist.verify_status_list_token(response.text.strip(), resolve_key=_resolver(ctx), uri=uri,
                                                   now=int(ctx.clock.now().timestamp()),
                                                   expected_issuer=peer.credential_issuer)
    except (httpx.HTTPError, OSError, sdjwt.CredentialError) as exc:
        reason = exc.message if isinstance(exc, sdjwt.CredentialError) else f"{type(exc).__name__}: {exc}"
        log.warning("recognition.status_unavailable", peer=peer.region, error=reason[:200])
        raise Problem(503, N_("The issuing region's status list cannot be read"), code="status-unavailable",
                      detail=Message(N_("Region %(region)s did not give a status for this credential now "
                                        "(%(reason)s); nothing was recorded. Try again later."),
                                     region=peer.region, reason=reason[:200])) from None


def verify_presentation(*, ctx: NodeContext, presentation: str, client: httpx.Client | None = None) -> Presented:
    """Offline verification against the trust list, then the live status from the issuer. Runs
    before the request takes a database connection (a slow peer holds no write lock)."""
    now = int(ctx.clock.now().timestamp())
    try:
        cred = sdjwt.verify_sd_jwt_vc(presentation, resolve_key=_resolver(ctx), now=now, expected_vct=VCT_E_RESIDENCY,
                                      expected_audience=ctx.settings.base_url, require_key_binding=True)
    except sdjwt.CredentialError as exc:
        if exc.reason in ("unknown_key", "issuer"):
            detail = "The credential was not issued by a region this node trusts (or with a key it does not list)."
        else:
            detail = f"The credential does not verify: {exc.message}."
        raise _refused(_REASON_CODES.get(exc.reason, "credential-invalid"), detail, reason=exc.reason) from None
    if cred.issuer == ctx.settings.base_url:
        raise conflict(N_("This credential was issued by this region: you are an e-resident here already."),
                       code="own-region")
    peer = _issuing_peer(ctx, cred.issuer)
    claims = cred.payload
    number, region = claims.get("e_resident_number"), claims.get("region")
    if peer is None or region != peer.region or not isinstance(number, str) \
            or not number.startswith(f"{peer.region}-") or len(number) > 32:
        raise _refused("credential-invalid", N_("The credential's region and number do not match its issuer."))
    missing = [name for name in DISCLOSURES if not isinstance(cred.disclosed.get(name), str)]
    if missing:
        raise _refused("credential-disclosure", Message(N_("Disclose %(names)s: this region prints them on the "
                                                           "documents you sign."), names=", ".join(missing)),
                       missing=missing)
    reference = (cred.status or {}).get("status_list") or {}
    uri, index = reference.get("uri"), reference.get("idx")
    if not isinstance(uri, str) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise _refused("credential-invalid", N_("The credential has no status list reference."))
    kb_payload = json.loads(base64.urlsafe_b64decode(presentation.rsplit("~", 1)[1].split(".")[1] + "=="))
    lst = fetch_status(ctx, peer, uri, client=client)
    try:
        value = lst.get(index)
    except (IndexError, ValueError):
        raise _refused("credential-invalid", N_("The credential's status index is outside its status list.")) from None
    status = STATUS_NAMES.get(value, "unknown")
    if status != "active":
        raise Problem(409, N_("The credential is not active"), code=f"credential-{status}",
                      detail=Message(N_("Region %(region)s reports this e-residency credential as %(status)s."),
                                     region=peer.region, status=Message(status)),
                      errors=[FieldError("credential", Message(N_("the issuing region reports it %(status)s"),
                                                               status=Message(status)))],
                      extra={"status": status})
    return Presented(peer=peer.region, number=number, credential_id=str(claims.get("jti", ""))[:64],
                     holder_thumbprint=sdjwt.jwk_thumbprint(cred.holder_jwk), status_list_uri=uri,
                     status_index=index, family_name=cred.disclosed["family_name"][:100],
                     given_name=cred.disclosed["given_name"][:200], nationality=cred.disclosed["nationality"][:3],
                     nonce=str(kb_payload.get("nonce", "")))


def recognise(*, ctx: NodeContext, db: Session, applicant: Applicant, presented: Presented,
              actor: Actor) -> Recognition:
    """Record the recognition (and the e-resident it stands for here), tell the home region."""
    if not _nonce_ok(ctx, applicant.id, presented.nonce):
        raise _refused("credential-key-binding", N_("The key-binding nonce is not one this node gave your account "
                                                    "in the last five minutes: ask for a new challenge."))
    local = db.scalar(select(EResident.id).where(EResident.applicant_id == applicant.id,
                                                 EResident.region == ctx.region))
    if local is not None:
        raise conflict(N_("You are an e-resident of this region already."), code="already-e-resident")
    now = ctx.clock.now()
    rec = db.scalar(select(Recognition).where(Recognition.home_number == presented.number))
    mine = db.scalars(select(Recognition).where(Recognition.applicant_id == applicant.id)).all()
    if rec is not None and rec.applicant_id != applicant.id:
        raise conflict(N_("This e-residency is recognised for another account on this node."),
                       code="recognised-elsewhere")
    if rec is None and mine:
        raise conflict(Message(N_("Your account here already stands for e-resident %(number)s."),
                               number=mine[0].home_number), code="already-recognised")
    if rec is not None and rec.status == "revoked":
        raise conflict(Message(N_("The e-residency %(number)s was revoked by %(region)s."), number=rec.home_number,
                               region=rec.home_region), code="credential-revoked")
    fields = dict(credential_id=presented.credential_id, holder_thumbprint=presented.holder_thumbprint,
                  status_list_uri=presented.status_list_uri, status_index=presented.status_index,
                  family_name=presented.family_name, given_name=presented.given_name,
                  nationality=presented.nationality, last_checked_at=now, status="active")
    if rec is None:
        resident = EResident(id=new_id(), number=presented.number, region=presented.peer, application_id=None,
                             applicant_id=applicant.id, status="active", issued_at=now)
        db.add(resident)
        db.flush()
        rec = Recognition(id=new_id(), applicant_id=applicant.id, resident_id=resident.id,
                          home_region=presented.peer, home_number=presented.number, recognised_at=now,
                          status_changed_at=now, **fields)
        db.add(rec)
        action = "recognition.recorded"
    else:
        for name, value in fields.items():
            setattr(rec, name, value)
        rec.status_changed_at, rec.status_reason = now, None
        db.get_one(EResident, rec.resident_id).status = "active"
        action = "recognition.renewed"
    db.flush()
    record(db=db, actor=actor, region=ctx.region, action=action, entity_type="recognition", entity_id=rec.id,
           at=now, after={"home_region": rec.home_region, "e_resident_number": rec.home_number,
                          "credential_id": rec.credential_id})
    federation.enqueue(ctx=ctx, db=db, peer=rec.home_region, kind="recognition.recorded",
                       payload={"e_resident_number": rec.home_number, "credential_id": rec.credential_id,
                                "recognised_at": iso(now)})
    return rec


def apply_status(*, ctx: NodeContext, db: Session, rec: Recognition, status: str, changed_at: datetime,
                 actor: Actor, via: str) -> bool:
    """The home region's status on the recognition and on the e-resident it stands for here.
    Revoked is final; an older change never overwrites a newer one (messages may be reordered)."""
    now = ctx.clock.now()
    rec.last_checked_at = now
    if status not in STATUS_NAMES.values() or rec.status == "revoked" or status == rec.status:
        return False
    if rec.status_changed_at is not None and changed_at < rec.status_changed_at and status != "revoked":
        return False
    before = rec.status
    rec.status, rec.status_changed_at = status, changed_at
    rec.status_reason = f"{status} by {rec.home_region} ({via})"
    db.get_one(EResident, rec.resident_id).status = status
    record(db=db, actor=actor, region=ctx.region, action=f"recognition.{status}", entity_type="recognition",
           entity_id=rec.id, at=now, before={"status": before},
           after={"status": status, "via": via, "e_resident_number": rec.home_number})
    return True


# --------------------------------------------------------------------------- home side: push


def status_changed(*, ctx: NodeContext, db: Session, resident: EResident, reason: str = "") -> int:
    """Called when this region changes an e-resident's status: every peer that recognised them is
    told through the outbox, in the same transaction. The reason stays here (minimal data)."""
    peers = _trusted_peers(ctx)
    sent = 0
    for row in db.scalars(select(RecognitionPeer).where(RecognitionPeer.resident_id == resident.id)):
        if row.peer_region not in peers:
            log.warning("recognition.peer_not_trusted", peer=row.peer_region)
            continue
        federation.enqueue(ctx=ctx, db=db, peer=row.peer_region, kind="recognition.status_changed",
                           payload={"e_resident_number": resident.number, "status": resident.status,
                                    "changed_at": iso(ctx.clock.now())})
        row.last_status_sent = resident.status
        sent += 1
    return sent


@register("recognition.recorded")
def on_recorded(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """A peer recognised one of our e-residents: remember it, so status changes reach it."""
    number = payload_text(message.payload, "e_resident_number", limit=32)
    credential_id = payload_text(message.payload, "credential_id", limit=64, empty=True)
    payload_time(message.payload, "recognised_at", required=False)
    resident = db.scalar(select(EResident).where(EResident.number == number, EResident.region == ctx.region,
                                                 EResident.application_id.is_not(None)))
    if resident is None:
        return {"known": False}
    row = db.scalar(select(RecognitionPeer).where(RecognitionPeer.resident_id == resident.id,
                                                  RecognitionPeer.peer_region == message.sender))
    if row is None:
        row = RecognitionPeer(id=new_id(), resident_id=resident.id, peer_region=message.sender,
                              credential_id=credential_id[:64], recorded_at=ctx.clock.now())
        db.add(row)
    row.credential_id = credential_id[:64]
    record(db=db, actor=_peer_actor(message.sender), region=ctx.region, action="e_resident.recognised",
           entity_type="e_resident", entity_id=resident.id, at=ctx.clock.now(),
           after={"peer": message.sender, "credential_id": credential_id[:64]})
    if resident.status != "active":  # changed while the peer was recording it: tell it now
        db.flush()
        federation.enqueue(ctx=ctx, db=db, peer=message.sender, kind="recognition.status_changed",
                           payload={"e_resident_number": number, "status": resident.status,
                                    "changed_at": iso(ctx.clock.now())})
        row.last_status_sent = resident.status
    return {"known": True, "status": resident.status}


@register("recognition.status_changed")
def on_status_changed(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    number = payload_text(message.payload, "e_resident_number", limit=32)
    status = message.payload.get("status")
    if not isinstance(status, str) or status not in STATUS_NAMES.values():
        raise invalid("payload/status", "active, suspended or revoked")
    changed_at = payload_time(message.payload, "changed_at")
    rec = db.scalar(select(Recognition).where(Recognition.home_number == number,
                                              Recognition.home_region == message.sender))
    if rec is None:
        return {"applied": False, "known": False}
    applied = apply_status(ctx=ctx, db=db, rec=rec, status=status, changed_at=changed_at,
                           actor=_peer_actor(message.sender), via="push")
    return {"applied": applied, "status": rec.status}


# --------------------------------------------------------------------------- cross-region duplicates


def index_passports(ctx: NodeContext, db: Session, peer: Peer, *, limit: int | None = None) -> int:
    """Bring this node's keyed hashes for `peer` up to date: applications without one, or whose
    passport changed since (a resubmission), get the HMAC of their number under the pair key."""
    key = pair_key(ctx, peer)
    if key is None:
        return 0
    digests = PeerPassportDigest.__table__
    query = (select(Application.id, Application.passport_number_enc, Application.passport_index,
                    digests.c.id.label("digest_id"))
             .outerjoin(digests, and_(digests.c.application_id == Application.id,
                                      digests.c.peer_region == peer.region))
             .where(Application.region == ctx.region)
             .where((digests.c.id.is_(None)) | (digests.c.source_index != Application.passport_index)))
    if limit:
        query = query.limit(limit)
    done = 0
    for row in db.execute(query).all():
        number = ctx.cipher.decrypt(row.passport_number_enc, context="applications.passport")
        app_index = row.passport_index
        if row.digest_id is None:
            db.add(PeerPassportDigest(id=new_id(), peer_region=peer.region, application_id=row.id,
                                      digest=passport_digest(key, number), source_index=app_index))
        else:
            existing = db.get_one(PeerPassportDigest, row.digest_id)
            existing.digest, existing.source_index = passport_digest(key, number), app_index
        done += 1
    db.flush()
    return done


@register("recognition.duplicate_query")
def on_duplicate_query(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """A peer asks whether we know a passport (by its keyed hash only). The answer goes back as a
    message of its own; the case numbers and names never leave this node."""
    query_id = payload_uuid(message.payload, "query_id")
    digest = message.payload.get("passport_digest")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise invalid("payload/passport_digest", "a base64url HMAC-SHA256")
    peer = _trusted_peers(ctx)[message.sender]
    answer: dict[str, Any] = {"query_id": str(query_id), "answered": True, "known": False, "statuses": [],
                              "e_resident_status": None}
    if pair_key(ctx, peer) is None:
        answer.update(answered=False, reason="no-pair-key")
    else:
        index_passports(ctx, db, peer)
        apps = db.execute(select(Application.id, Application.status)
                          .join(PeerPassportDigest, PeerPassportDigest.application_id == Application.id)
                          .where(PeerPassportDigest.peer_region == message.sender,
                                 PeerPassportDigest.digest == digest)).all()
        statuses = sorted({"open" if a.status in OPEN else a.status for a in apps})
        resident = db.scalars(select(EResident.status).where(EResident.application_id.in_([a.id for a in apps]))
                              ).first() if apps else None
        answer.update(known=bool(apps), statuses=statuses, e_resident_status=resident)
    federation.enqueue(ctx=ctx, db=db, peer=message.sender, kind="recognition.duplicate_answer", payload=answer)
    record(db=db, actor=_peer_actor(message.sender), region=ctx.region, action="recognition.duplicate_query",
           entity_type="federation_message", entity_id=message.id, at=ctx.clock.now(),
           after={"known": answer["known"], "answered": answer["answered"]})
    return {"answer": "queued"}


def _settle(ctx: NodeContext, db: Session, application_id: uuid.UUID, actor: Actor) -> None:
    """Once no peer's answer is pending, tell the case: a process version that waits for
    `peer_checks_completed` moves on; others record the fact."""
    from eresident.identity import service as identity
    from eresident.workflow import service as workflow

    checks = db.scalars(select(CheckResult).where(CheckResult.application_id == application_id,
                                                  CheckResult.check == DUPLICATE_CHECK)).all()
    if not checks or any(c.outcome == "pending" for c in checks):
        return
    app = db.get_one(Application, application_id)
    try:
        case = workflow.case_for(db, "application", application_id)
    except Problem:
        return
    if case.outcome is not None:
        return
    known = any(c.details.get("known") for c in checks)
    outcome = workflow.signal(ctx=ctx, db=db, case=case, event="peer_checks_completed",
                              facts={"known_in_other_region": known}, only_if_waiting=True)
    if outcome is not None and (outcome.status != app.status or outcome.ended):
        identity._follow(ctx=ctx, db=db, app=app, outcome=outcome, action="application.peer_checks_completed",
                         actor=actor, extra={"known_in_other_region": known})


@register("recognition.duplicate_answer")
def on_duplicate_answer(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    payload = message.payload
    check_id = payload_uuid(payload, "query_id")
    known, answered = payload_flag(payload, "known"), payload_flag(payload, "answered")
    listed = payload.get("statuses")
    if not isinstance(listed, list) or len(listed) > 20 or any(not isinstance(s, str) or len(s) > 64 for s in listed):
        raise invalid("payload/statuses", "a list of application statuses")
    raw_status = payload_text(payload, "e_resident_status", limit=32, required=False)
    reason = payload_text(payload, "reason", limit=200, required=False, empty=True) or ""
    check = db.get(CheckResult, check_id)
    if check is None or check.check != DUPLICATE_CHECK or check.details.get("peer") != message.sender:
        return {"applied": False}  # the application was resubmitted since (and asked again)
    # Statuses this node does not know (a newer peer's) are left out rather than refused.
    statuses = [s for s in listed if s in ("open", "approved", "refused")]
    resident_status = raw_status if raw_status in STATUS_NAMES.values() else None
    region = message.sender
    if not answered:
        check.outcome = "refer"
        check.summary = (f"{region} could not answer the duplicate check ({reason[:60]}): "
                         "a person checks with that region.")
    elif known:
        check.outcome = "refer"
        found = ", ".join(statuses) + (f"; e-residency {resident_status}" if resident_status else "")
        check.summary = f"{region} knows this passport ({found}): a person must look at it."
    else:
        check.outcome = "pass"
        check.summary = f"{region} does not know this passport."
    check.details = {**check.details, "state": "answered" if answered else "not_answered", "known": known,
                     "statuses": statuses, "e_resident_status": resident_status,
                     "answered_at": iso(ctx.clock.now())}
    record(db=db, actor=_peer_actor(region), region=ctx.region, action="application.peer_duplicate_checked",
           entity_type="application", entity_id=check.application_id, at=ctx.clock.now(),
           after={"peer": region, "outcome": check.outcome})
    db.flush()
    _settle(ctx, db, check.application_id, _peer_actor(region))
    return {"applied": True, "outcome": check.outcome}


def ask_peers(ctx: NodeContext, db: Session, app: Application, peers: dict[str, Peer]) -> int:
    """Queue the duplicate question for one application to every peer (one check result each)."""
    number = ctx.cipher.decrypt(app.passport_number_enc, context="applications.passport")
    now = ctx.clock.now()
    asked = 0
    for region, peer in sorted(peers.items()):
        check_id = new_id()
        key = pair_key(ctx, peer)
        details = {"peer": region, "state": "asked", "asked_at": iso(now)}
        if key is None:
            db.add(CheckResult(id=check_id, application_id=app.id, check=DUPLICATE_CHECK, outcome="refer",
                               summary=f"No shared key with {region} yet (trust list not refreshed): a person "
                                       "checks with that region.",
                               details={**details, "state": "not_answered", "reason": "no-pair-key"}, created_at=now))
            continue
        db.add(CheckResult(id=check_id, application_id=app.id, check=DUPLICATE_CHECK, outcome="pending",
                           summary=f"Asked {region} whether it knows this passport; waiting for the answer.",
                           details=details, created_at=now))
        federation.enqueue(ctx=ctx, db=db, peer=region, kind="recognition.duplicate_query",
                           payload={"query_id": str(check_id), "passport_digest": passport_digest(key, number)})
        asked += 1
    db.flush()
    _settle(ctx, db, app.id, Actor.system())
    return asked


# --------------------------------------------------------------------------- the periodic job


@dataclass
class SweepReport:
    asked: int = 0
    timed_out: int = 0
    rechecked: int = 0
    changed: int = 0
    unavailable: list[str] | None = None


def _ask_new(ctx: NodeContext) -> tuple[int, int]:
    """Applications that consented to cross-region sharing and have not asked the peers yet; and
    questions not answered in time (recorded as "not answered" for a person to follow up)."""
    peers = _trusted_peers(ctx)
    if not peers:
        return 0, 0
    now = ctx.clock.now()
    asked_already = select(CheckResult.id).where(CheckResult.application_id == Application.id,
                                                 CheckResult.check == DUPLICATE_CHECK).exists()
    consented = select(Consent.id).where(Consent.application_id == Application.id,
                                         Consent.purpose == "cross_region_sharing", Consent.granted.is_(True),
                                         Consent.withdrawn_at.is_(None)).exists()
    candidates = (select(Application.id).where(Application.region == ctx.region, Application.status.in_(OPEN),
                                               Application.submitted_at >= now - ASK_WITHIN,
                                               consented, ~asked_already).limit(200))
    deadline = now - timedelta(seconds=ctx.settings.recognition_answer_timeout_seconds)
    overdue = select(CheckResult.id).where(CheckResult.check == DUPLICATE_CHECK, CheckResult.outcome == "pending",
                                           CheckResult.created_at <= deadline).limit(200)
    with ctx.database.session(write=False) as db:  # the usual answer, without the write lock
        if not db.scalars(candidates).first() and not db.scalars(overdue).first():
            return 0, 0
    asked = timed_out = 0
    with ctx.database.session(write=True) as db:
        for app_id in db.scalars(candidates).all():
            asked += ask_peers(ctx, db, db.get_one(Application, app_id), peers)
        for check_id in db.scalars(overdue).all():
            check = db.get_one(CheckResult, check_id)
            region = check.details.get("peer")
            check.outcome = "refer"
            check.summary = (f"{region} did not answer the duplicate check in time: the case goes on, a person "
                             "checks with that region.")
            check.details = {**check.details, "state": "not_answered"}
            timed_out += 1
            db.flush()
            _settle(ctx, db, check.application_id, Actor.system())
    return asked, timed_out


def recheck(ctx: NodeContext, *, client: httpx.Client | None = None, force: bool = False) -> SweepReport:
    """Fallback to the push: recognitions not checked for `recognition_recheck_seconds` are
    compared with their issuers' status lists (one fetch per list, outside any transaction)."""
    unavailable: list[str] = []
    report = SweepReport(unavailable=unavailable)
    now = ctx.clock.now()
    stale = now - timedelta(seconds=0 if force else ctx.settings.recognition_recheck_seconds)
    with ctx.database.session(write=False) as db:
        rows = db.execute(select(Recognition.id, Recognition.home_region, Recognition.status_list_uri,
                                 Recognition.status_index)
                          .where(Recognition.status != "revoked", Recognition.last_checked_at <= stale,
                                 # vouched for in a filing without a credential: status comes by push only
                                 Recognition.status_list_uri != "")
                          .limit(1000)).all()
    if not rows:
        return report
    peers = _trusted_peers(ctx)
    lists: dict[tuple[str, str], statuslist.StatusList | None] = {}
    for row in rows:
        key = (row.home_region, row.status_list_uri)
        if key in lists:
            continue
        peer = peers.get(row.home_region)
        try:
            lists[key] = fetch_status(ctx, peer, row.status_list_uri, client=client) if peer else None
        except Problem:
            lists[key] = None
        if lists[key] is None:
            unavailable.append(row.home_region)
    by_id: dict[uuid.UUID, str] = {}
    for row in rows:
        lst = lists[(row.home_region, row.status_list_uri)]
        if lst is not None:
            try:
                by_id[row.id] = STATUS_NAMES.get(lst.get(row.status_index), "revoked")
            except (IndexError, ValueError):
                by_id[row.id] = "revoked"
    if not by_id:
        return report
    with ctx.database.session(write=True) as db:
        for rec_id, status in by_id.items():
            rec = db.get_one(Recognition, rec_id)
            report.rechecked += 1
            if apply_status(ctx=ctx, db=db, rec=rec, status=status, changed_at=ctx.clock.now(),
                            actor=_peer_actor(rec.home_region), via="status list"):
                report.changed += 1
    return report


def sweep(ctx: NodeContext, *, client: httpx.Client | None = None) -> SweepReport:
    """The `recognition.sweep` job: re-check stale recognitions, ask peers about new applications,
    time out unanswered questions, and keep the keyed passport hashes for each peer current."""
    report = recheck(ctx, client=client)
    report.asked, report.timed_out = _ask_new(ctx)
    peers = _trusted_peers(ctx)
    if peers:
        with ctx.database.session(write=False) as db:
            digests = PeerPassportDigest.__table__
            behind = [p for p in peers.values() if p.agreement_key and db.scalar(
                select(Application.id).outerjoin(digests, and_(digests.c.application_id == Application.id,
                                                               digests.c.peer_region == p.region))
                .where(Application.region == ctx.region)
                .where(digests.c.id.is_(None) | (digests.c.source_index != Application.passport_index)).limit(1))]
        for peer in behind:
            with ctx.database.session(write=True) as db:
                index_passports(ctx, db, peer, limit=500)
    return report


# --------------------------------------------------------------------------- HTTP


class RecognitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: str = Field(min_length=10, max_length=20000,
                            description="Your e-residency SD-JWT VC as a presentation: disclose family_name, "
                                        "given_name and nationality, with a key-binding JWT whose aud is this node's "
                                        "base URL and whose nonce comes from GET /api/v1/recognitions/challenge.")


def recognition_read(rec: Recognition) -> dict:
    return {"id": str(rec.id), "home_region": rec.home_region, "e_resident_number": rec.home_number,
            "credential_id": rec.credential_id, "status": rec.status, "status_reason": rec.status_reason,
            "recognised_at": iso(rec.recognised_at), "last_checked_at": iso(rec.last_checked_at),
            "name": f"{rec.given_name} {rec.family_name}".strip(), "nationality": rec.nationality}


router = APIRouter(tags=["recognition"])


def _presented(body: RecognitionIn, request: Request, ctx: Ctx) -> Presented:
    """Verified (and the issuer's status read) before a database connection is taken: the
    parameters below put this dependency first, so a slow peer holds no write lock. The session
    itself is checked right after; a caller without any is turned away before any work."""
    if session_token(request)[0] is None:
        raise Problem(401, N_("Sign in to continue"), code="unauthenticated",
                      detail=N_("Your session has ended or you are not signed in."))
    return verify_presentation(ctx=ctx, presentation=body.credential)


@router.get("/api/v1/recognitions/challenge",
            summary="A nonce for the key-binding JWT of a credential presentation (valid five minutes)")
def get_challenge(applicant: CurrentApplicant, ctx: Ctx) -> dict:
    return challenge(ctx, applicant.id)


@router.post("/api/v1/recognitions", status_code=201,
             summary="Present another region's e-residency credential to be recognised here")
def post_recognition(presented: Annotated[Presented, Depends(_presented)], applicant: CurrentApplicant,
                     ctx: Ctx, db: DbSession) -> dict:
    rec = recognise(ctx=ctx, db=db, applicant=applicant, presented=presented, actor=applicant_actor(applicant))
    return recognition_read(rec)


@router.get("/api/v1/recognitions", summary="My recognitions on this node")
def my_recognitions(applicant: CurrentApplicant, db: DbSession) -> list[dict]:
    return [recognition_read(r) for r in db.scalars(select(Recognition).where(Recognition.applicant_id == applicant.id))]
