"""Signatures on the articles made with the signer's own key: the holder key bound (cnf.jwk) in
their e-residency credential. The node hands out the exact signing input, checks the person's
compact JWS before anything is written, and keeps what a third party needs to check it later,
offline, with the articles PDF, the JWS, the credential and the region's published key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, import_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.audit.service import Actor
from eresident.credentials import service as credentials
from eresident.credentials.models import IssuedCredential
from eresident.crypto import sdjwt, statuslist
from eresident.enterprise import service
from eresident.enterprise.models import Formation, FormationSignature
from eresident.i18n import N_
from eresident.identity.models import Applicant, EResident
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Message, Problem, conflict, forbidden

# The JWS header `typ` of a holder signature: a type of its own, so that no other JWS the holder key
# makes (a KB-JWT, a login proof) can pass for a signature on articles, nor the other way round.
HOLDER_SIGNATURE_TYP = "eresident-articles-signature+jwt"
PURPOSE = "articles-of-association"
ALGORITHMS = {"EdDSA": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}
# How long a signing input may be signed and sent: long enough to sign with a separate tool,
# short enough that an old one lying around is useless.
SIGNING_WINDOW = timedelta(minutes=30)
_NONCE_LABEL = b"eresident holder-signature nonce v1\x00"
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
NOT_SIGNING_INPUT = N_("The payload is not a signing input from this node for these articles. Ask for one "
                       "(signing-input) and sign it unchanged.")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text or any(c in text for c in "+/= \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused(field_name: str, reason: str, *, code: str, status: int = 422,
             title: str = N_("This signature cannot be accepted")) -> Problem:
    return Problem(status, title, detail=reason, code=code, errors=[FieldError(field_name, reason)])


# --------------------------------------------------------------------------- the signer's credential

def credentials_of(db: Session, resident: EResident) -> list[IssuedCredential]:
    """The e-resident's credentials issued here, newest first (only the newest can be valid)."""
    return list(db.scalars(select(IssuedCredential).where(IssuedCredential.subject_id == resident.id,
                                                          IssuedCredential.subject_type == "e_resident")
                           .order_by(IssuedCredential.issued_at.desc(), IssuedCredential.status_index.desc())))


def current_credential(db: Session, resident: EResident, now: datetime) -> IssuedCredential | None:
    """The credential whose holder key may sign now: valid on the status list and not expired."""
    rows = credentials_of(db, resident)
    if rows and rows[0].status == statuslist.VALID and rows[0].expires_at > now:
        return rows[0]
    return None


# --------------------------------------------------------------------------- the signing input

def _nonce(ctx: NodeContext, *, formation: Formation, resident: EResident, credential_id: str, iat: int) -> str:
    """Bound to everything the input names (and keyed with the node's secret): the node can tell an
    input it gave from one made up, without storing it; stored with the signature, it is used once."""
    message = "|".join([str(formation.id), formation.case_number or "", str(formation.revision),
                        formation.articles_sha256 or "", resident.number, credential_id, str(iat)]).encode()
    return _b64url(hmac.new(ctx.secrets.secret_key, _NONCE_LABEL + message, hashlib.sha256).digest())


def _payload(ctx: NodeContext, formation: Formation, resident: EResident, credential_id: str, iat: int) -> dict:
    return {"aud": ctx.settings.base_url, "purpose": PURPOSE, "iat": iat,
            "nonce": _nonce(ctx, formation=formation, resident=resident, credential_id=credential_id, iat=iat),
            "document": {"sha256": formation.articles_sha256, "media_type": "application/pdf",
                         "case_number": formation.case_number, "revision": formation.revision},
            "signer": {"e_resident_number": resident.number, "region": resident.region,
                       "credential_id": credential_id}}


def _signer(ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
            lock: bool) -> tuple[Formation, EResident]:
    """The formation and the signed-in signatory, with the same refusals as signing through the node."""
    formation, resident = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                                    region=ctx.region, lock=lock)
    if resident is None or resident.number not in service.signatories(formation):
        raise forbidden(N_("You are not a signatory of this formation."))
    if resident.status != "active":
        raise forbidden(Message(N_("Your e-residency is %(status)s."), status=Message(resident.status)))
    if formation.status != "awaiting_signatures":
        raise conflict(N_("This formation is not waiting for signatures."), code="wrong-status")
    return formation, resident


def _no_credential() -> Problem:
    return _refused("jws", N_("You have no current e-residency credential, so there is no key of yours to check "
                              "a signature with. Get your credential first, or sign through the node."),
                    code="no-holder-credential", status=409)


def signing_input(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID) -> dict:
    """What the signatory signs with their holder key: a canonical JSON payload (RFC 8785) naming the
    articles' SHA-256, the case and version, the signer and their credential, a time and a nonce."""
    formation, resident = _signer(ctx, db, applicant, formation_id, lock=False)
    now = ctx.clock.now()
    credential = current_credential(db, resident, now)
    if credential is None:
        raise _no_credential()
    iat = int(now.timestamp())
    payload = _payload(ctx, formation, resident, str(credential.id), iat)
    canonical = rfc8785.dumps(payload)
    return {"formation_id": str(formation.id), "case_number": formation.case_number, "revision": formation.revision,
            "articles_sha256": formation.articles_sha256, "credential_id": str(credential.id),
            "payload": payload, "signing_input": canonical.decode("utf-8"), "payload_b64url": _b64url(canonical),
            "protected_header": {"typ": HOLDER_SIGNATURE_TYP, "alg": "EdDSA (Ed25519 key) or ES256 (P-256 key)",
                                 "jwk": "your public key, as in your credential's cnf.jwk"},
            "expires_at": (datetime.fromtimestamp(iat, UTC) + SIGNING_WINDOW).isoformat(),
            "post_to": f"/api/v1/formations/{formation.id}/signatures", "post_body": {"jws": "<compact JWS>"}}


# --------------------------------------------------------------------------- parsing and checking a JWS

@dataclass
class ParsedJws:
    header: dict
    payload: dict
    key: OKPKey | ECKey
    jwk: dict


def _json_object(data: bytes) -> dict:
    value = sdjwt._json_loads(data)  # refuses duplicate members and NaN
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def parse_holder_jws(token: str, *, key: dict | None = None) -> ParsedJws:
    """The header and payload of a holder signature, checked against the key in its header (or
    `key`): the typ, the algorithm and the key type. Raises Problem naming the part at fault."""
    token = token.strip()
    parts = token.split(".")
    try:
        if len(parts) != 3 or not all(parts):
            raise ValueError("not three parts")
        header = _json_object(_b64url_decode(parts[0]))
        payload = _json_object(_b64url_decode(parts[1]))
        _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise _refused("jws", N_("This is not a compact JWS: three base64url parts separated by dots, the first "
                                 "two JSON objects."), code="invalid-jws") from None
    if header.get("typ") != HOLDER_SIGNATURE_TYP:
        raise _refused("jws/header/typ", Message(N_("The JWS header typ must be %(typ)s."),
                                                 typ=HOLDER_SIGNATURE_TYP), code="invalid-jws")
    if "crit" in header or "b64" in header:
        raise _refused("jws/header/crit", N_("The JWS uses an extension (crit or b64) that is not accepted."),
                       code="invalid-jws")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _refused("jws/header/alg", N_("The JWS algorithm must be EdDSA (an Ed25519 key) or ES256 "
                                            "(a P-256 key)."), code="invalid-jws")
    jwk = key if key is not None else header.get("jwk")
    if not isinstance(jwk, dict) or any(m in jwk for m in _PRIVATE_MEMBERS) \
            or (jwk.get("kty"), jwk.get("crv")) not in ALGORITHMS.values():
        raise _refused("jws/header/jwk", N_("Put your public key in the JWS header as jwk: an Ed25519 or P-256 "
                                            "public key, never the private key."), code="invalid-jws")
    if (jwk.get("kty"), jwk.get("crv")) != ALGORITHMS[alg]:
        raise _refused("jws/header/alg", N_("The algorithm does not match the key: EdDSA for an Ed25519 key, "
                                            "ES256 for a P-256 key."), code="invalid-jws")
    public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")}
    try:
        imported = import_key(public)
    except Exception:  # noqa: BLE001 - joserfc raises several types for malformed keys
        raise _refused("jws/header/jwk", N_("Put your public key in the JWS header as jwk: an Ed25519 or P-256 "
                                            "public key, never the private key."), code="invalid-jws") from None
    assert isinstance(imported, (OKPKey, ECKey))
    return ParsedJws(header, payload, imported, public)


def signature_verifies(token: str, parsed: ParsedJws) -> bool:
    """Whether the JWS signature is the key's over exactly the received header and payload."""
    try:
        jws.deserialize_compact(token.strip(), parsed.key, algorithms=[parsed.header["alg"]],
                                registry=sdjwt.jws_registry())
    except (JoseError, ValueError):
        return False
    return True


def _credential_of_key(ctx: NodeContext, db: Session, resident: EResident, jwk: dict) -> IssuedCredential:
    """The signer's credential that binds this key; refused unless it is their current valid one."""
    rows = credentials_of(db, resident)
    if not rows:
        raise _no_credential()
    thumbprint = sdjwt.jwk_thumbprint(jwk)
    row = next((r for r in rows if hmac.compare_digest(r.holder_thumbprint, thumbprint)), None)
    if row is None:
        raise _refused("jws/header/jwk", N_("This key is not the holder key of your e-residency credential."),
                       code="wrong-key")
    if row is not rows[0] or row.status != statuslist.VALID:
        status = N_("suspended") if row.status == statuslist.SUSPENDED else N_("revoked")
        raise _refused("jws/header/jwk", Message(N_("This key belongs to an e-residency credential that is "
                                                    "%(status)s. Sign with the key of your current credential."),
                                                 status=Message(status)), code="credential-not-valid", status=409)
    if row.expires_at <= ctx.clock.now():
        raise _refused("jws/header/jwk", Message(N_("Your e-residency credential expired on %(date)s. Get a new "
                                                    "one and sign with its key."), date=row.expires_at.date()),
                       code="credential-expired", status=409)
    return row


def _member(payload: dict, name: str) -> dict:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def _check_payload(ctx: NodeContext, db: Session, formation: Formation, resident: EResident,
                   credential: IssuedCredential, payload: dict) -> None:
    document, signer = _member(payload, "document"), _member(payload, "signer")
    if payload.get("purpose") != PURPOSE:
        raise _refused("jws/payload/purpose", Message(N_("The payload's purpose must be %(purpose)s."),
                                                      purpose=PURPOSE), code="not-signing-input")
    if payload.get("aud") != ctx.settings.base_url:
        raise _refused("jws/payload/aud", NOT_SIGNING_INPUT, code="not-signing-input")
    if signer.get("e_resident_number") != resident.number:
        raise _refused("jws/payload/signer/e_resident_number",
                       Message(N_("The payload names the signer %(number)s, but you are %(you)s."),
                               number=str(signer.get("e_resident_number")), you=resident.number),
                       code="not-signing-input")
    if signer.get("credential_id") != str(credential.id):
        raise _refused("jws/payload/signer/credential_id", N_("The payload names another credential than the one "
                                                              "whose key made the signature."),
                       code="not-signing-input")
    if document.get("sha256") != formation.articles_sha256:
        stale = service.stale_articles(formation.articles_sha256)
        stale.errors = [FieldError("jws/payload/document/sha256", e.reason) for e in stale.errors]
        raise stale
    if document.get("case_number") != formation.case_number or document.get("revision") != formation.revision \
            or document.get("media_type") != "application/pdf":
        raise _refused("jws/payload/document", NOT_SIGNING_INPUT, code="not-signing-input")
    iat, nonce = payload.get("iat"), payload.get("nonce")
    if not isinstance(iat, int) or isinstance(iat, bool) or not isinstance(nonce, str) or not hmac.compare_digest(
            nonce, _nonce(ctx, formation=formation, resident=resident, credential_id=str(credential.id), iat=iat)):
        raise _refused("jws/payload/nonce", NOT_SIGNING_INPUT, code="not-signing-input")
    given = datetime.fromtimestamp(iat, UTC)
    if ctx.clock.now() - given > SIGNING_WINDOW:
        raise _refused("jws/payload/iat", Message(N_("The signing input was given at %(time)s and could be signed "
                                                     "for %(minutes)s minutes. Ask for a new one and sign it."),
                                                  time=given, minutes=int(SIGNING_WINDOW.total_seconds() // 60)),
                       code="signing-input-expired")
    if db.scalar(select(FormationSignature.id).where(FormationSignature.nonce == nonce)) is not None:
        raise _refused("jws/payload/nonce", N_("This signing input has been signed and sent already: each one is "
                                               "used once."), code="replayed-signature", status=409)


def sign_with_holder_key(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                         token: str, actor: Actor) -> FormationSignature:
    """Check the signatory's JWS over a signing input (their credential's key, the current articles,
    fresh, unused) and record it; the last signature starts the case as for any other."""
    formation, resident = _signer(ctx, db, applicant, formation_id, lock=True)
    service._inactive_signatories(db, formation, ctx.region)
    parsed = parse_holder_jws(token)
    credential = _credential_of_key(ctx, db, resident, parsed.jwk)
    if not signature_verifies(token, parsed):
        raise _refused("jws", N_("The signature does not verify with the key in the header: it was not made over "
                                 "this header and payload with that key."), code="bad-signature")
    _check_payload(ctx, db, formation, resident, credential, parsed.payload)
    record = {"jti": str(uuid.uuid4()), "document": {"sha256": formation.articles_sha256},
              "signer": {"credential_id": str(credential.id)}}
    return service.record_signature(ctx=ctx, db=db, formation=formation, resident=resident, token=token.strip(),
                                    payload=record, actor=actor,
                                    holder={"holder_jwk": parsed.jwk, "nonce": parsed.payload["nonce"]})


def for_page(ctx: NodeContext, db: Session, formation: Formation, resident: EResident) -> dict | None:
    """The signing page's "Sign with your own key": a fresh signing input, or None when the signer
    has no current credential (so no key of their own this node could check)."""
    now = ctx.clock.now()
    credential = current_credential(db, resident, now)
    if credential is None or formation.articles_sha256 is None:
        return None
    iat = int(now.timestamp())
    canonical = rfc8785.dumps(_payload(ctx, formation, resident, str(credential.id), iat))
    return {"signing_input": canonical.decode("utf-8"), "typ": HOLDER_SIGNATURE_TYP,
            "expires_at": datetime.fromtimestamp(iat, UTC) + SIGNING_WINDOW}


def page_errors(exc: Problem) -> list[FieldError]:
    """A refused holder signature as messages beside the page's JWS box."""
    if exc.code == "stale-document":
        return [FieldError("jws", N_("The articles changed after you made this signature. Read the new version "
                                     "and sign its new signing input if you agree."))]
    return [FieldError("jws" if not e.field or e.field.startswith("jws") else e.field, e.reason)
            for e in (exc.errors or [FieldError("jws", exc.detail or exc.title)])]


def page_sign(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID, token: str,
              actor: Actor) -> FormationSignature:
    """The page's form: an empty box is refused beside it, the rest as through the API."""
    if not token.strip():
        raise _refused("jws", N_("Paste the JWS you made with your key over the text above."), code="invalid-jws")
    return sign_with_holder_key(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id, token=token,
                                actor=actor)


# --------------------------------------------------------------------------- offline, for a third party

class TrustFileError(ValueError):
    """A --trust file that is neither a JWKS, issuer metadata nor a federation trust list."""


def load_trust_file(path: Path) -> dict[str, list[dict]]:
    """Issuer keys from a saved JWKS ({"keys": [...]}: for any issuer), issuer metadata
    (/.well-known/jwt-vc-issuer) or a federation trust list (DATA_DIR/trust.json: each peer's
    credential issuer and its keys, revoked keys left out). Keys by issuer; "" for any issuer."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrustFileError(f"{path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("peers"), list):
        from eresident.federation.trust import TrustError, TrustList

        try:
            trust = TrustList.from_json(data)
        except TrustError as exc:
            raise TrustFileError(f"{path}: {exc}") from None
        return {p.credential_issuer: [k for k in p.credential_keys if not k.get("revoked")]
                for p in trust.peers.values() if p.credential_issuer}
    if isinstance(data, dict) and isinstance(data.get("issuer"), str) and isinstance(data.get("jwks"), dict):
        data, issuer = data["jwks"], data["issuer"].rstrip("/")
    else:
        issuer = ""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise TrustFileError(f"{path}: not a JWKS ({{\"keys\": [...]}}), issuer metadata or a trust list")
    return {issuer: [{k: v for k, v in key.items() if k not in _PRIVATE_MEMBERS}
                     for key in data["keys"] if isinstance(key, dict) and not key.get("revoked")]}


@dataclass
class Report:
    checks: list[dict] = field(default_factory=list)

    def add(self, check: str, ok: bool | None, detail: str) -> bool:
        self.checks.append({"check": check, "ok": ok, "detail": detail})
        return bool(ok)

    @property
    def failed(self) -> str | None:
        return next((c["check"] for c in self.checks if c["ok"] is False), None)


def verify_offline(*, pdf: bytes, token: str, credential: str, keys: dict[str, list[dict]],
                   status_token: str | None, now: datetime) -> dict:
    """Check a holder signature without the node: the credential is the region's (its signature
    with the trusted key, valid when the signature was made), the JWS is the credential's holder
    key's over a payload naming that credential's e-resident, the digest is the PDF's, and, with a
    saved status list, the credential is not revoked or suspended now."""
    report = Report()
    result: dict[str, Any] = {"valid": False}

    def done() -> dict:
        result["failed"] = report.failed
        result["valid"] = report.failed is None
        result["checks"] = report.checks
        return result

    token = token.strip()
    try:
        header = _json_object(_b64url_decode(token.split(".")[0]))
        payload = _json_object(_b64url_decode(token.split(".")[1]))
    except (ValueError, IndexError, UnicodeDecodeError):
        report.add("signature", False, "The signature file is not a compact JWS.")
        return done()
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        report.add("signature", False, "The signature's payload has no iat (signing time).")
        return done()
    result["signed_at"] = datetime.fromtimestamp(iat, UTC).isoformat()
    document, signer = _member(payload, "document"), _member(payload, "signer")
    result.update(document_sha256=document.get("sha256"), case_number=document.get("case_number"),
                  revision=document.get("revision"), signer=signer.get("e_resident_number"))

    # 1. The credential: signed by a trusted key of its issuer, and valid when the signature was made.
    def resolve(iss: str, kid: str) -> dict | None:
        for candidate in (keys.get(iss.rstrip("/"), []) + keys.get("", [])):
            if candidate.get("kid") == kid:
                return candidate
        return None

    try:
        cred = sdjwt.verify_sd_jwt_vc(credential.strip(), resolve_key=resolve, now=iat,
                                      expected_vct=credentials.VCT_E_RESIDENCY)
    except sdjwt.CredentialError as exc:
        report.add("credential", False, f"The credential is not a valid e-residency credential of a trusted "
                                        f"region at the signing time ({exc.reason}: {exc.message}).")
        return done()
    report.add("credential", True, f"An e-residency credential issued by {cred.issuer} (a trusted key), valid "
                                   f"at the signing time, for e-resident {cred.payload.get('e_resident_number')}.")
    result["issuer"] = cred.issuer

    # 2. The JWS: the holder key of that credential, the dedicated type, over a payload naming it.
    try:
        parsed = parse_holder_jws(token, key=cred.holder_jwk)
    except Problem as exc:
        report.add("signature", False, f"{exc.errors[0].field}: {exc.detail}")
        return done()
    if not signature_verifies(token, parsed):
        report.add("signature", False, "The JWS does not verify with the credential's holder key (cnf.jwk): "
                                       "it was not made with that key, or it was altered.")
        return done()
    report.add("signature", True, f"The JWS ({header.get('alg')}, typ {HOLDER_SIGNATURE_TYP}) verifies with the "
                                  "credential's holder key (cnf.jwk).")
    if payload.get("purpose") != PURPOSE or signer.get("e_resident_number") != cred.payload.get("e_resident_number") \
            or signer.get("credential_id") != cred.payload.get("jti"):
        report.add("signer", False, "The signed payload does not name this credential's e-resident and credential "
                                    f"for the purpose {PURPOSE}.")
        return done()
    report.add("signer", True, f"The payload names e-resident {signer.get('e_resident_number')} and this "
                               "credential.")

    # 3. The document: these exact bytes.
    digest = hashlib.sha256(pdf).hexdigest()
    if not hmac.compare_digest(digest, str(document.get("sha256"))):
        report.add("document", False, f"The PDF's SHA-256 is {digest}, but the signature is over "
                                      f"{document.get('sha256')}: not these bytes.")
        return done()
    report.add("document", True, f"The PDF's SHA-256 {digest} is the one signed.")

    # 4. The credential's status now, from a saved status list (revocation is final; a valid entry
    #    counts only from a copy that has not expired).
    if status_token is None:
        report.add("status", None, "The credential's current status was NOT checked: pass --status-list with a "
                                   "saved copy of the status list the credential names.")
        return done()
    reference = (cred.status or {}).get("status_list", {})
    uri, idx = reference.get("uri"), reference.get("idx")
    if not isinstance(uri, str):
        report.add("status", False, "The credential names no status list entry.")
        return done()
    try:
        reading = statuslist.read_saved_status_list_token(
            status_token.strip(), resolve_key=lambda _who, kid: resolve(cred.issuer, kid), uri=uri,
            now=int(now.timestamp()), expected_issuer=None)
        value = statuslist.status_of({"idx": idx}, reading.status_list)
    except sdjwt.CredentialError as exc:
        report.add("status", False, f"The status list file cannot be used: {exc.message}.")
        return done()
    from eresident.enterprise.offline import STATUS_NAMES

    status = STATUS_NAMES.get(value, f"status {value}")
    as_of = datetime.fromtimestamp(reading.issued_at, UTC).isoformat()
    result["credential_status"] = status
    if status != "valid":
        report.add("status", False, f"The status list (as of {as_of}) marks the credential {status}. (A status list "
                                    "says how things stand now, not since when.)")
    elif not reading.fresh:
        report.add("status", None, f"The credential was valid as of {as_of}, but this copy of the status list has "
                                   "expired: its current status was NOT checked.")
    else:
        report.add("status", True, f"The status list (as of {as_of}) says the credential is valid.")
    return done()
