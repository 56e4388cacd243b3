"""E-residency credentials: SD-JWT VCs signed by the region's key, with a token status list."""

from __future__ import annotations

import uuid
from datetime import timedelta

from joserfc.jwk import OKPKey, import_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.credentials.models import IssuedCredential
from eresident.crypto import sdjwt, statuslist
from eresident.identity.models import Application, EResident
from eresident.kit.context import NodeContext
from eresident.i18n import N_
from eresident.kit.errors import Message, Problem, conflict, invalid
from eresident.kit.sequences import next_value

VCT_E_RESIDENCY = "https://eresident.example/vct/e-residency/v1"
STATUS_LIST = "1"
STATUS_LIST_SIZE = 131072  # 16 KiB at 1 bit; compresses to almost nothing while sparse
VALIDITY_DAYS = 365 * 2
DAILY_LIMIT = 5
_STATUS_FOR = {"active": statuslist.VALID, "suspended": statuslist.SUSPENDED,
               "revoked": statuslist.INVALID}


def issuer(ctx: NodeContext) -> str:
    return ctx.settings.base_url


def status_list_uri(ctx: NodeContext) -> str:
    return f"{ctx.settings.base_url}/status-lists/{STATUS_LIST}"


def issuer_metadata(ctx: NodeContext) -> dict:
    """SD-JWT VC issuer metadata (/.well-known/jwt-vc-issuer) with the keys inline."""
    return {"issuer": issuer(ctx), "jwks": ctx.keys.public_jwks()}


def _holder_key(holder_jwk: dict | None) -> tuple[dict, dict | None]:
    """The holder's public JWK, and a private one when we had to make it for them."""
    if holder_jwk is None:
        key = OKPKey.generate_key("Ed25519", private=True)
        return key.as_dict(private=False), key.as_dict(private=True)
    if any(k in holder_jwk for k in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise invalid("holder_jwk", N_("Send only your public key; never send a private key."))
    try:
        public = import_key(holder_jwk)
    except Exception:  # joserfc raises several types for malformed keys
        raise invalid("holder_jwk", N_("This is not a valid public JWK (Ed25519 or P-256).")) from None
    if holder_jwk.get("kty") not in ("OKP", "EC") or holder_jwk.get("crv") not in ("Ed25519", "P-256"):
        raise invalid("holder_jwk", N_("Use an Ed25519 or P-256 key."))
    return public.as_dict(private=False), None


def _issue(*, ctx: NodeContext, db: Session, subject_type: str, subject_id: uuid.UUID, vct: str,
           claims: dict, disclosable: dict, holder_jwk: dict | None, actor: Actor) -> dict:
    """Issue an SD-JWT VC on the node's status list. A new credential replaces the subject's earlier
    ones (one valid at a time), at most DAILY_LIMIT a day. Returns the token and, if we generated
    the holder key, its private half: shown once, never stored."""
    public_jwk, private_jwk = _holder_key(holder_jwk)
    now = ctx.clock.now()
    earlier = list(db.scalars(select(IssuedCredential).where(IssuedCredential.subject_id == subject_id)))
    if sum(1 for c in earlier if c.issued_at > now - timedelta(days=1)) >= DAILY_LIMIT:
        raise Problem(429, N_("Too many credentials today"), code="rate-limited",
                      detail=Message(N_("You can download at most %(limit)s new credentials a day. Use the one "
                                        "you have, or try again tomorrow."), limit=DAILY_LIMIT),
                      extra={"retry_after": 86400})
    for old in earlier:
        if old.status == statuslist.VALID:
            old.status = statuslist.INVALID
    index = next_value(db, f"status-list:{STATUS_LIST}") - 1
    if index >= STATUS_LIST_SIZE:
        raise Problem(503, N_("The status list is full"), code="status-list-full")
    expires = now + timedelta(days=VALIDITY_DAYS)
    row = IssuedCredential(id=uuid.uuid4(), subject_type=subject_type, subject_id=subject_id, vct=vct,
                           status_list=STATUS_LIST, status_index=index,
                           holder_thumbprint=sdjwt.jwk_thumbprint(public_jwk), issued_at=now, expires_at=expires)
    db.add(row)
    token = sdjwt.issue_sd_jwt_vc(
        signing_key=ctx.keys.signing, issuer=issuer(ctx), vct=vct, claims={**claims, "jti": str(row.id)},
        disclosable=disclosable, holder_jwk=public_jwk, issued_at=int(now.timestamp()),
        expires_at=int(expires.timestamp()), status={"status_list": {"idx": index, "uri": status_list_uri(ctx)}})
    record(db=db, actor=actor, region=ctx.region, action="credential.issued", entity_type=subject_type,
           entity_id=subject_id, at=now, after={"credential_id": str(row.id), "status_index": index})
    return {"credential": token, "credential_id": str(row.id), "holder_private_jwk": private_jwk,
            "format": "dc+sd-jwt", "vct": vct, "expires_at": expires.isoformat()}


def issue_e_residency(*, ctx: NodeContext, db: Session, resident: EResident, holder_jwk: dict | None,
                      actor: Actor) -> dict:
    """A new credential for an active e-resident of this node."""
    if resident.status != "active":
        raise conflict(Message(N_("This e-residency is %(status)s; no credential can be issued."),
                               status=Message(resident.status)), code="wrong-status")
    app = db.get_one(Application, resident.application_id)  # an e-resident of this node has an application
    return _issue(ctx=ctx, db=db, subject_type="e_resident", subject_id=resident.id, vct=VCT_E_RESIDENCY,
                  claims={"e_resident_number": resident.number, "region": ctx.region, "residency_status": "active"},
                  disclosable={"family_name": app.surname, "given_name": app.given_names,
                               "birthdate": app.birth_date.isoformat(), "nationality": app.nationality,
                               "native_name": app.native_name},
                  holder_jwk=holder_jwk, actor=actor)


def issue_licence(*, ctx: NodeContext, db: Session, licence, holder_jwk: dict | None, actor: Actor) -> dict:
    """The business licence as an SD-JWT VC (the company's USCC, name and dates), on the same
    status list; the holder key is the company's (made for it when none is sent, shown once)."""
    from eresident.enterprise.service import VCT_LICENCE

    if licence.status != "valid":
        raise conflict(Message(N_("This licence is %(status)s; no credential can be issued."),
                               status=Message(licence.status)), code="wrong-status")
    return _issue(ctx=ctx, db=db, subject_type="licence", subject_id=licence.id, vct=VCT_LICENCE,
                  claims={"uscc": licence.uscc, "region": licence.region, "name_zh": licence.name_zh,
                          "name_en": licence.name_en, "established_on": licence.established_on.isoformat(),
                          "licence_status": licence.status},
                  disclosable={"legal_representative": licence.legal_representative,
                               "registered_capital": licence.details.get("registered_capital"),
                               "currency": licence.details.get("currency"),
                               "business_scope": licence.details.get("business_scope")},
                  holder_jwk=holder_jwk, actor=actor)


def sync_status(*, db: Session, resident: EResident) -> None:
    """Point the e-resident's current credential at its status (replaced ones stay invalid)."""
    rows = list(db.scalars(select(IssuedCredential).where(IssuedCredential.subject_id == resident.id)
                           .order_by(IssuedCredential.status_index)))
    if rows:
        rows[-1].status = _STATUS_FOR[resident.status]


def status_list_token(*, ctx: NodeContext, db: Session) -> str:
    lst = statuslist.StatusList(STATUS_LIST_SIZE, bits=2)
    for index, value in db.execute(select(IssuedCredential.status_index, IssuedCredential.status)
                                   .where(IssuedCredential.status_list == STATUS_LIST,
                                          IssuedCredential.status != 0)):
        lst.set(index, value)
    now = int(ctx.clock.now().timestamp())
    return statuslist.sign_status_list_token(signing_key=ctx.keys.signing, uri=status_list_uri(ctx),
                                             status_list=lst, issued_at=now, expires_at=now + 3600,
                                             ttl=60)


def _resolver(ctx: NodeContext):
    def resolve(iss: str, kid: str):
        if iss != issuer(ctx) or kid != ctx.keys.kid:
            return None
        return OKPKey.import_key(ctx.keys.signing.as_dict(private=False))
    return resolve


def verify(*, ctx: NodeContext, db: Session, presentation: str) -> dict:
    """Verify a credential this node issued: signature, disclosures, and its live status."""
    now = int(ctx.clock.now().timestamp())
    try:
        cred = sdjwt.verify_sd_jwt_vc(presentation, resolve_key=_resolver(ctx), now=now)
    except sdjwt.CredentialError as exc:
        return {"valid": False, "reason": exc.reason, "message": exc.message}
    from eresident.enterprise.service import VCT_LICENCE  # the licence credential shares the status list

    if cred.payload.get("vct") not in (VCT_E_RESIDENCY, VCT_LICENCE):
        return {"valid": False, "reason": "typ", "message": "This node issues no credential of this type."}
    idx = (cred.status or {}).get("status_list", {}).get("idx")
    row = db.scalar(select(IssuedCredential).where(IssuedCredential.status_list == STATUS_LIST,
                                                   IssuedCredential.status_index == idx))
    status = {statuslist.VALID: "valid", statuslist.INVALID: "revoked",
              statuslist.SUSPENDED: "suspended"}.get(row.status if row else -1, "unknown")
    return {"valid": status == "valid", "status": status, "issuer": cred.issuer,
            "claims": {k: v for k, v in cred.payload.items() if k not in ("cnf", "status")},
            "disclosed": cred.disclosed,
            "message": "The credential is genuine and current." if status == "valid"
            else f"The credential is genuine but its status is {status}."}
