"""The Chinese partner of a joint venture signs the articles itself.

The partner is a company registered in China or a Chinese citizen, not an e-resident: it has no
account here and needs none. Its identity is its certificate (a company's organisation certificate,
a citizen's personal certificate), issued by a Chinese certification authority that the region
lists as trusted (DATA_DIR/trust/domestic-ca/*.pem), whose subject carries the partner's USCC or
resident identity card number. The founder passes the partner an invitation link; the partner downloads the
articles, signs the PDF with its certificate in its CA's client (an approval signature, PAdES, as
Chinese e-seals are made) and uploads the signed file. The node accepts it only if it is exactly
the current articles with one signature added, valid, by a trusted certificate naming this
partner's USCC (or ID number) and name. The signed PDF is kept: anyone can check it later with pdfsig or pyHanko
and the CA's root, without this node.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from pathlib import Path

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.config import Settings
from eresident.crypto.pades import verify_approval
from eresident.crypto.pki import load_root_certificates
from eresident.documents.models import Document
from eresident.documents.service import store_generated
from eresident.enterprise import service
from eresident.enterprise.models import Formation, FormationParty, FormationPartnerSignature, RegisteredName
from eresident.i18n import N_
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Message, Problem, conflict, not_found

TRUST_DIR = Path("trust") / "domestic-ca"
# The articles are a few tens of KiB; a signature adds its certificates and perhaps a seal image.
MAX_SIGNED_BYTES = 8 * 1024 * 1024
_TOKEN_LABEL = b"eresident partner-signing invitation v1\x00"

# Why a signed file is refused, in words the partner can act on (the verdict's reason -> text).
REFUSALS = {
    "not-the-document": N_("This file is not the current articles with a signature added. Download the articles "
                           "from this page again and sign that file without changing it."),
    "encrypted": N_("The file is encrypted. Sign the articles without a password or encryption."),
    "malformed": N_("The file is not a PDF whose signature can be read."),
    "unsigned": N_("The file has no signature. Sign it with your organisation certificate, then upload it."),
    "several-signatures": N_("The file carries more than one signature. Sign the articles once, as downloaded."),
    "unsupported": N_("The signature is of a kind that cannot be checked. Use a PAdES signature."),
    "digest": N_("The signed content was altered after signing."),
    "signature": N_("The signature does not verify."),
    "modified": N_("The signed file changes the articles or adds something besides the signature. Sign the file "
                   "as downloaded, with nothing else changed."),
    "untrusted": N_("The certificate is not from a certification authority this region trusts, or it is expired. "
                    "Use your organisation certificate from a listed Chinese CA."),
}


def trust_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / TRUST_DIR


def trusted_roots(settings: Settings) -> list[x509.Certificate]:
    """The Chinese certification authorities whose organisation certificates may sign for a partner.
    Kept apart from the region roots: a CA listed here can never sign a licence."""
    roots: list[x509.Certificate] = []
    directory = trust_dir(settings)
    if directory.is_dir():
        for path in sorted(directory.glob("*.pem")):
            roots += load_root_certificates(path.read_bytes())
    return roots


# --------------------------------------------------------------------------- the invitation

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def invitation_token(ctx: NodeContext, formation: Formation, party: FormationParty) -> str:
    """A capability for one partner and one version of the articles, keyed with the node's secret:
    nothing is stored, and a new version of the articles (which supersedes every signature) makes a
    new link."""
    message = "|".join([str(formation.id), str(party.id), str(formation.revision),
                        formation.articles_sha256 or ""]).encode()
    return _b64url(hmac.new(ctx.secrets.secret_key, _TOKEN_LABEL + message, hashlib.sha256).digest())


def signing_path(ctx: NodeContext, formation: Formation, party: FormationParty) -> str:
    return f"/partner-signing/{party.id}/{invitation_token(ctx, formation, party)}"


def by_invitation(*, ctx: NodeContext, db: Session, party_id: uuid.UUID, token: str,
                  lock: bool = False) -> tuple[Formation, FormationParty]:
    """The formation and partner an invitation is for; any wrong, old or made-up link is the same 404."""
    party = db.get(FormationParty, party_id)
    formation = db.get(Formation, party.formation_id, with_for_update=lock or None) if party is not None else None
    if formation is None or party is None or party.kind not in service.DOMESTIC or formation.articles_sha256 is None \
            or not hmac.compare_digest(token.encode(), invitation_token(ctx, formation, party).encode()):
        raise not_found(N_("Signing invitation"))
    return formation, party


def signature_of(db: Session, formation: Formation, party: FormationParty) -> FormationPartnerSignature | None:
    """The partner's valid signature on the current articles, if any."""
    return db.scalar(select(FormationPartnerSignature).where(
        FormationPartnerSignature.formation_id == formation.id,
        FormationPartnerSignature.partner_key == service.partner_key(party),
        FormationPartnerSignature.status == "valid",
        FormationPartnerSignature.document_sha256 == formation.articles_sha256))


def partners_of(ctx: NodeContext | None, db: Session, formation: Formation) -> list[dict]:
    """Each Chinese partner, whether it has signed the current articles, and (given `ctx`: for the
    owner, while signatures are open) the link to pass on."""
    result = []
    for party in service.partner_parties(formation):
        signed = signature_of(db, formation, party) if formation.articles_sha256 else None
        link = copy = None
        if ctx is not None and formation.status == "awaiting_signatures" and signed is None:
            link = ctx.settings.base_url.rstrip("/") + signing_path(ctx, formation, party)
        if ctx is not None and signed is not None:
            copy = f"/api/v1/formations/{formation.id}/partner-signatures/{party.id}"
        result.append({"id": party.id, "kind": party.kind, "name": party.name,
                       "identifier": party.registration_number or "", "signed": signed is not None,
                       "signing_url": link, "signer_subject": signed.signer_subject if signed else None,
                       "signed_copy_url": copy})
    return result


def invitation(ctx: NodeContext, db: Session, formation: Formation, party: FormationParty) -> dict:
    """What the partner sees: which company is being formed, its share, the articles to sign."""
    name = db.get_one(RegisteredName, formation.name_id)
    signed = signature_of(db, formation, party)
    return {"company_name_zh": name.name_zh, "company_name_en": name.name_en, "case_number": formation.case_number,
            "company_type": formation.company_type, "revision": formation.revision,
            "articles_sha256": formation.articles_sha256, "partner_name": party.name, "partner_kind": party.kind,
            "partner_identifier": party.registration_number, "share_percent": str(party.share_percent),
            "status": formation.status, "open": formation.status == "awaiting_signatures" and signed is None,
            "signed": signed is not None, "signed_at": signed.signed_at.isoformat() if signed else None,
            "signer_subject": signed.signer_subject if signed else None}


# --------------------------------------------------------------------------- the signature

def _certifies(ctx: NodeContext, party: FormationParty, identifiers: tuple[str, ...]) -> bool:
    """Whether a certificate naming `identifiers` is this partner's: a company's USCC itself, a
    citizen's ID number through its blind index (the number is not kept)."""
    if party.kind == "domestic_person":
        return any(hmac.compare_digest(ctx.blind_index(i, context=service.RIC_CONTEXT), party.identifier_index or "")
                   for i in identifiers)
    return party.registration_number in identifiers


def _masked_subject(party: FormationParty, verdict) -> str:
    """The certificate's subject as kept and shown: a citizen's ID number in it masked."""
    subject = verdict.signer_subject or ""
    if party.kind == "domestic_person":
        for identifier in verdict.signer_identifiers:
            if len(identifier) > 10:  # as written in the subject, whatever its case
                subject = re.sub(re.escape(identifier), service.mask_id_number(identifier), subject,
                                 flags=re.IGNORECASE)
    return subject


def _refused(reason: str, *, code: str, status: int = 422, extra: dict | None = None) -> Problem:
    return Problem(status, N_("This signed file cannot be accepted"), detail=reason, code=code,
                   errors=[FieldError("file", reason)], extra=extra or {})


def sign(*, ctx: NodeContext, db: Session, party_id: uuid.UUID, token: str, data: bytes) -> FormationPartnerSignature:
    """Check the partner's signed copy of the articles before anything is written; keep it; the last
    signature of all moves the case on."""
    formation, party = by_invitation(ctx=ctx, db=db, party_id=party_id, token=token, lock=True)
    if formation.status != "awaiting_signatures":
        raise conflict(N_("This formation is not waiting for signatures."), code="wrong-status")
    if signature_of(db, formation, party) is not None:
        raise conflict(N_("Your company has signed these articles already."), code="already-signed")
    if len(data) > MAX_SIGNED_BYTES:
        raise _refused(N_("The file is too large for signed articles (8 MiB at most)."), code="file-too-large",
                       status=413)
    assert formation.articles_document_id is not None and formation.articles_sha256 is not None  # by_invitation
    articles = ctx.files.get(formation.articles_sha256)
    now = ctx.clock.now()
    verdict = verify_approval(data, articles, trusted_roots(ctx.settings), at=now)
    if not verdict.valid:
        assert verdict.reason is not None
        raise _refused(REFUSALS.get(verdict.reason, N_("The signature cannot be accepted.")),
                       code=f"partner-signature-{verdict.reason}", extra={"check": verdict.reason,
                                                                          "verdict": verdict.detail})
    person = party.kind == "domestic_person"
    identifier = f"{'ID' if person else 'USCC'} {party.registration_number}"
    if not _certifies(ctx, party, verdict.signer_identifiers):
        raise _refused(Message(N_("The certificate belongs to %(subject)s, not to %(name)s (%(identifier)s). Sign "
                                  "with the certificate of %(name)s."),
                               subject=_masked_subject(party, verdict), name=party.name, identifier=identifier),
                       code="wrong-signer", extra={"signer_subject": _masked_subject(party, verdict)})
    if verdict.signer_name is None or not service.same_name(verdict.signer_name, party.name):
        raise _refused(Message(N_("The certificate names the company %(certificate)s, but the formation names it "
                                  "%(name)s. The founder must correct the partner's name in the formation."),
                               certificate=verdict.signer_name or "?", name=party.name),
                       code="name-differs", extra={"signer_subject": _masked_subject(party, verdict)})
    assert verdict.signer_subject and verdict.signer_fingerprint and verdict.issuer_subject
    doc = store_generated(ctx, db, owner_id=formation.owner_applicant_id, kind="articles_partner_signed", data=data,
                          media_type="application/pdf",
                          filename=f"articles-{formation.case_number}-r{formation.revision}-partner-{party.position}"
                                   f"-signed.pdf")
    row = FormationPartnerSignature(id=uuid.uuid4(), formation_id=formation.id, partner_key=service.partner_key(party),
                                    identifier=party.registration_number or "", name=party.name,
                                    revision=formation.revision, document_sha256=formation.articles_sha256,
                                    signed_document_id=doc.id, signed_sha256=doc.sha256,
                                    signer_subject=_masked_subject(party, verdict),
                                    signer_fingerprint=verdict.signer_fingerprint,
                                    issuer_subject=verdict.issuer_subject, signed_at=now, status="valid")
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:  # the same partner's two uploads at once: one wins
        raise conflict(N_("Your company has signed these articles already."), code="already-signed") from None
    actor = Actor("partner", party.registration_number or "", party.name)
    record(db=db, actor=actor, region=ctx.region, action="formation.partner_signed", entity_type="formation",
           entity_id=formation.id, at=now,
           after={"partner": identifier, "document_sha256": formation.articles_sha256,
                  "revision": formation.revision, "signed_sha256": doc.sha256,
                  "certificate_sha256": verdict.signer_fingerprint, "issuer": verdict.issuer_subject})
    service.start_if_all_signed(ctx=ctx, db=db, formation=formation, actor=actor)
    return row


def signed_copy(ctx: NodeContext, db: Session, formation: Formation, party_id: uuid.UUID) -> bytes | None:
    """A partner's signed copy of the current articles as kept (for the owner and officials)."""
    party = next((p for p in service.partner_parties(formation) if p.id == party_id), None)
    row = signature_of(db, formation, party) if party is not None else None
    doc = db.get(Document, row.signed_document_id) if row is not None else None
    return ctx.files.get(doc.sha256) if doc is not None else None

