"""PAdES signatures on the region's PDFs (pyHanko, ECDSA P-256), and their validation against
a list of trusted region roots, for the public verification page and `eresident verify`."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from eresident.crypto.pki import DOCUMENT_SIGNING_EKU, PkiError, RegionPKI

__all__ = ["REASONS", "USCC_KEYWORD", "ApprovalVerdict", "PdfVerdict", "sign_approval", "sign_pdf",
           "uscc_from_keywords", "verify_approval", "verify_pdf"]

log = logging.getLogger(__name__)

# Why a PDF is not accepted, machine-readable; None when it is.
REASONS = frozenset(
    {
        "malformed",  # not a PDF we can read
        "encrypted",  # our licences are never encrypted
        "unsigned",  # no signature at all
        "unsupported",  # a signature kind we do not validate (e.g. adbe.x509.rsa_sha1)
        "digest",  # bytes inside the signed range changed
        "signature",  # the CMS signature itself does not verify
        "untrusted",  # no valid chain to a trusted root, or expired, or the wrong key usage
        "modified",  # changed after signing (an incremental update beyond DSS / timestamps)
    }
)
# The licence renderer writes "USCC:<code>" into the PDF's Keywords; verification reads it back
# from the signed revision, so the verdict names the licence without OCR.
USCC_KEYWORD = "USCC:"
_USCC_IN_KEYWORDS = re.compile(re.escape(USCC_KEYWORD) + r"\s*([0-9A-Z]{18})(?![0-9A-Z])")

# What may be appended after our signature without making the licence invalid: validation
# material (DSS) and document timestamps, as PAdES long-term validation adds.
_HARMLESS_UPDATES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)


@dataclass(frozen=True)
class PdfVerdict:
    """What a verifier learns from a PDF: the bottom line, and each check behind it."""

    valid: bool  # intact, cryptographically valid, trusted, and not modified after signing
    reason: str | None  # one of REASONS when not valid
    detail: str
    signed: bool = False
    intact: bool = False  # the digest over the signed byte ranges matches
    trusted: bool = False  # chains to one of the given roots, with the document-signing usage
    signer_subject: str | None = None
    signer_fingerprint: str | None = None  # SHA-256 of the signer certificate, hex
    issuer_subject: str | None = None
    signing_time: datetime | None = None  # as claimed by the signer (PAdES B-B has no TSA)
    modified_after_signing: bool = False  # anything appended after the signed revision
    modification_level: str | None = None  # pyHanko's judgement of what was appended
    certified: bool = False  # a certification (DocMDP) signature
    field_name: str | None = None
    signature_count: int = 0
    uscc: str | None = None  # from the metadata of the signed revision

    def as_dict(self) -> dict:
        data = asdict(self)
        data["signing_time"] = self.signing_time.isoformat() if self.signing_time else None
        return data


# ---------------------------------------------------------------------------------------------
# Signing

def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: ec.EllipticCurvePrivateKey) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class _ClockedPdfSigner(signers.PdfSigner):
    """A PdfSigner whose signing time comes from our clock rather than pyHanko's."""

    def __init__(self, *args, signing_time: datetime | None, **kwargs):
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out, existing_fields_only=False):
        session = super().init_signing_session(pdf_out, existing_fields_only)
        if self._signing_time is not None:
            session.system_time = self._signing_time
        return session


def sign_pdf(
    pdf: bytes,
    pki: RegionPKI,
    *,
    reason: str,
    location: str,
    field_name: str = "Signature1",
    signing_time: datetime | None = None,
) -> bytes:
    """Sign a PDF with the region's document-signing key: PAdES baseline B-B, certification
    signature (DocMDP: no changes allowed), SHA-256, signer and root certificates embedded.

    P-256 only: RegionPKI refuses any other key, since Poppler cannot check Ed25519 signatures.
    """
    key = pki.signing_key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError("PDF signatures are made with ECDSA P-256 only")
    if signing_time is not None and signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    signer = signers.SimpleSigner(
        signing_cert=_asn1_cert(pki.signing_cert),
        signing_key=_asn1_key(key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(pki.root_cert)]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        location=location,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
    out = _ClockedPdfSigner(meta, signer=signer, signing_time=signing_time).sign_pdf(
        writer, bytes_reserved=_reserved_bytes(pki)
    )
    return out.getvalue()


def _reserved_bytes(pki: RegionPKI) -> int:
    """Room for the CMS blob: the embedded certificates plus signed attributes and the
    signature. Reserving it up front spares pyHanko a dummy signature to measure it (half the
    signing time); pyHanko refuses, rather than truncates, a blob that would not fit.

    Besides the certificates, the signed attributes repeat the signer's issuer name (in the
    signing-certificate attribute), and region names in Chinese are long in DER: 2 KiB of margin
    was 44 bytes short for Tianfu, so the margin is 4 KiB (a fixed cost of 2 KiB per licence)."""
    certs = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in pki.chain)
    return (certs + 4096 + 511) // 512 * 512


# ---------------------------------------------------------------------------------------------
# Verification

# AdES sub-indications pyHanko reports, in words a person can act on.
_TRUST_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "no chain to a trusted region root",
    "OUT_OF_BOUNDS_NO_POE": "the certificate is expired or not yet valid",
    "OUT_OF_BOUNDS_NOT_REVOKED": "the certificate is expired or not yet valid",
    "EXPIRED": "the certificate is expired",
    "NOT_YET_VALID": "the certificate is not yet valid",
    "REVOKED": "the certificate is revoked",
    "REVOKED_NO_POE": "the certificate is revoked",
    "CHAIN_CONSTRAINTS_FAILURE": "the certificate may not sign documents",
    "CRYPTO_CONSTRAINTS_FAILURE": "the algorithms are not acceptable",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "the algorithms are not acceptable",
}

def _subject(cert: asn1_x509.Certificate) -> tuple[str, str, str]:
    parsed = x509.load_der_x509_certificate(cert.dump())
    return (
        parsed.subject.rfc4514_string(),
        parsed.issuer.rfc4514_string(),
        parsed.fingerprint(hashes.SHA256()).hex(),
    )


def uscc_from_keywords(keywords: str | None) -> str | None:
    """The USCC written as "USCC:<code>" in a Keywords (or Subject) entry, if any."""
    match = _USCC_IN_KEYWORDS.search(keywords or "")
    return match.group(1) if match else None


def _uscc_in_revision(reader: PdfFileReader, revision: int | None) -> str | None:
    """The USCC from the Info dictionary as it stood in a revision (None: the latest)."""
    try:
        if revision is None:
            info = reader.trailer["/Info"]
        else:
            # Resolve through the historical resolver: a plain dereference would return the
            # Info dictionary as a later update rewrote it.
            history = reader.get_historical_resolver(revision)
            info = history.get_object(history.trailer_view.raw_get("/Info").reference)
        for key in ("/Keywords", "/Subject"):
            if key in info:
                found = uscc_from_keywords(str(info[key]))
                if found:
                    return found
    except Exception:  # noqa: BLE001 - metadata is optional; its absence is not an error
        return None
    return None


def verify_pdf(
    pdf: bytes,
    trust_roots: list[x509.Certificate],
    *,
    at: datetime | None = None,
) -> PdfVerdict:
    """Validate the document's first signature with pyHanko against the given roots only.

    Never raises on hostile input: an unreadable file is a verdict with reason "malformed".
    `at` is the validation time (default: now); revocation is not checked (no CRL or OCSP
    exists for these certificates: a licence's current status is the verification page's job).
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        if reader.encrypted:
            return PdfVerdict(False, "encrypted", "the PDF is encrypted")
        signatures = list(reader.embedded_regular_signatures)
    except Exception as exc:  # noqa: BLE001 - untrusted upload: any parse failure is "malformed"
        log.info("pdf unreadable: %s: %s", type(exc).__name__, exc)
        return PdfVerdict(False, "malformed", f"not a readable PDF ({type(exc).__name__})")
    if not signatures:
        return PdfVerdict(False, "unsigned", "the PDF has no signature")
    embedded = signatures[0]
    count = len(signatures)

    context = ValidationContext(
        trust_roots=[_asn1_cert(root) for root in trust_roots],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=at,
    )
    usage = KeyUsageConstraints(
        key_usage={"non_repudiation"},
        extd_key_usage={DOCUMENT_SIGNING_EKU.dotted_string},
        explicit_extd_key_usage_required=True,
    )
    try:
        status = validate_pdf_signature(
            embedded, signer_validation_context=context, key_usage_settings=usage
        )
    except Exception as exc:  # noqa: BLE001 - a broken CMS blob is the uploader's problem
        log.info("pdf signature unreadable: %s: %s", type(exc).__name__, exc)
        unsupported = "SubFilter" in str(exc) or "signature object type" in str(exc).lower()
        return PdfVerdict(
            False, "unsupported" if unsupported else "malformed",
            f"the signature cannot be validated ({type(exc).__name__})",
            signed=True, signature_count=count,
        )

    subject: str | None
    issuer: str | None
    fingerprint: str | None
    try:
        subject, issuer, fingerprint = _subject(status.signing_cert)
    except ValueError:
        subject = issuer = fingerprint = None
    level = status.modification_level
    modified = status.coverage != SignatureCoverageLevel.ENTIRE_FILE
    harmless = level in _HARMLESS_UPDATES
    checks = dict(
        signed=True,
        intact=bool(status.intact),
        trusted=bool(status.trusted),
        signer_subject=subject,
        signer_fingerprint=fingerprint,
        issuer_subject=issuer,
        signing_time=status.signer_reported_dt,
        modified_after_signing=modified,
        modification_level=level.name if level is not None else None,
        certified=embedded.docmdp_level is not None,
        field_name=embedded.field_name,
        signature_count=count,
        uscc=_uscc_in_revision(reader, embedded.signed_revision),
    )
    if not status.intact:
        return PdfVerdict(False, "digest", "the signed content was altered", **checks)
    if not status.valid:
        return PdfVerdict(False, "signature", "the signature does not verify", **checks)
    if not status.trusted:
        indication = status.trust_problem_indic
        # pyHanko types it as the AdESSubIndic base class; every sub-indication is an enum member
        code = indication.name if indication is not None else "NO_CERTIFICATE_CHAIN_FOUND"  # type: ignore[attr-defined]
        why = _TRUST_PROBLEMS.get(code, code)
        return PdfVerdict(False, "untrusted", f"the signer is not trusted: {why} ({code})",
                          **checks)
    if not harmless or not status.bottom_line:
        return PdfVerdict(False, "modified", "the document was changed after signing", **checks)
    # pyHanko counts a rewritten Info dictionary among harmless updates; for a licence, a
    # USCC in the metadata that differs from the signed one is a forgery attempt.
    if modified and _uscc_in_revision(reader, None) != checks["uscc"]:
        return PdfVerdict(False, "modified", "the metadata was changed after signing", **checks)
    detail = "signature valid, signer trusted, " + (
        "validation data or metadata added after signing" if modified else "document unchanged")
    return PdfVerdict(True, None, detail, **checks)


# ---------------------------------------------------------------------------------------------
# Approval signatures on a document someone else drew up (a Chinese partner signing the articles
# with a certificate from a Chinese CA)

# Where a certificate's subject carries the holder's registration number: serialNumber (2.5.4.5),
# as Chinese CAs write a USCC or an ID number, or organizationIdentifier (2.5.4.97, ETSI EN 319 412-1,
# "NTRCN-<USCC>").
_IDENTIFIER_OIDS = (x509.NameOID.SERIAL_NUMBER, x509.ObjectIdentifier("2.5.4.97"))
_SEMANTICS_PREFIXES = ("NTRCN-", "NTR-CN-", "IDCCN-")
# Attribute names RFC 4514 leaves as dotted numbers, named for people reading a subject.
_ATTRIBUTE_NAMES = {x509.NameOID.SERIAL_NUMBER: "serialNumber", x509.ObjectIdentifier("2.5.4.97"): "organizationIdentifier"}


@dataclass(frozen=True)
class ApprovalVerdict:
    """What a registry learns from a signed copy of its document: whether the signature is a valid,
    trusted signature on exactly that document and nothing else, and who made it."""

    valid: bool
    reason: str | None  # one of REASONS, or "not-the-document" | "several-signatures"
    detail: str
    signer_subject: str | None = None
    signer_name: str | None = None  # O, else CN
    signer_identifiers: tuple[str, ...] = ()  # registration numbers in the subject
    signer_fingerprint: str | None = None
    issuer_subject: str | None = None
    signing_time: datetime | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["signing_time"] = self.signing_time.isoformat() if self.signing_time else None
        data["signer_identifiers"] = list(self.signer_identifiers)
        return data


def subject_identifiers(cert: x509.Certificate) -> tuple[str, ...]:
    """The registration numbers (USCC, ID number) a certificate's subject names, without the ETSI
    semantics prefix."""
    found = []
    for oid in _IDENTIFIER_OIDS:
        for attribute in cert.subject.get_attributes_for_oid(oid):
            value = str(attribute.value).strip().upper()
            for prefix in _SEMANTICS_PREFIXES:
                value = value.removeprefix(prefix)
            if value and value not in found:
                found.append(value)
    return tuple(found)


def _subject_name(cert: x509.Certificate) -> str | None:
    for oid in (x509.NameOID.ORGANIZATION_NAME, x509.NameOID.COMMON_NAME):
        values = cert.subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return None


def sign_approval(pdf: bytes, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate,
                  chain: list[x509.Certificate] | tuple[()] = (), *, field_name: str = "PartnerSignature",
                  reason: str = "Approved / 同意", signing_time: datetime | None = None) -> bytes:
    """An approval signature (PAdES B-B, not a certification) added to `pdf` as an incremental
    update: what a signer's CA client does. Used by `eresident partner sign` and the tests."""
    signer = signers.SimpleSigner(
        signing_cert=_asn1_cert(cert), signing_key=_asn1_key(key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in chain]))
    meta = signers.PdfSignatureMetadata(field_name=field_name, reason=reason, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    certs = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in (cert, *chain))
    out = _ClockedPdfSigner(meta, signer=signer, signing_time=signing_time).sign_pdf(
        writer, bytes_reserved=(certs + 4096 + 511) // 512 * 512)
    return out.getvalue()


# What the update that adds a signature may change in objects the document already had: the catalog
# gains the form (and pyHanko writes the version, extensions and XMP metadata), a page gains the
# signature's widget; the Info dictionary is metadata and never drawn. Anything else (a page's
# contents or resources, the page tree, a font) would change what the signer's copy shows.
_SIGNING_MAY_CHANGE = {"catalog": {"/AcroForm", "/Version", "/Extensions", "/Metadata"}, "page": {"/Annots"}}


def _only_adds_a_signature(reader: PdfFileReader, base: int) -> bool:
    """Whether revision base+1 only adds a signature to revision `base`: no object freed, no object
    of the document rewritten beyond _SIGNING_MAY_CHANGE, and every annotation it adds a signature
    widget. (pyHanko's own diff policy reviews changes after a signature, not the signer's own
    update, and cannot compare against a document without a form.)"""
    xrefs = reader.xrefs
    if xrefs.refs_freed_in_revision(base + 1):
        return False
    old, new = reader.get_historical_resolver(base), reader.get_historical_resolver(base + 1)
    root, info = old.trailer_view.raw_get("/Root"), old.trailer_view.raw_get("/Info")
    if new.trailer_view.raw_get("/Root") != root:
        return False
    pages = {}
    for page in _pages(root.get_object()["/Pages"]):
        pages[page.idnum] = page
    for ref in xrefs.explicit_refs_in_revision(base + 1):
        if xrefs.get_historical_ref(ref, base) is None:
            continue  # a new object: only reachable through the changes checked here
        if info is not None and ref.idnum == info.idnum:
            continue
        if ref.idnum == root.idnum:
            allowed = _SIGNING_MAY_CHANGE["catalog"]
        elif ref.idnum in pages:
            allowed = _SIGNING_MAY_CHANGE["page"]
        else:
            return False
        before, after = old.get_object(ref), new.get_object(ref)
        if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
            return False
        for key in set(before) | set(after):
            if key not in allowed and _raw(before, key) != _raw(after, key):
                return False
        if ref.idnum in pages and not _annotations_added_are_signatures(before, after):
            return False
    return True


def _raw(dictionary: generic.DictionaryObject, key: str):
    """A value as written (an indirect reference stays a reference), or None when absent."""
    return dictionary.raw_get(key) if key in dictionary else None


def _pages(node_ref, depth: int = 0) -> list:
    """The references of the page objects under a page-tree node."""
    node = node_ref.get_object() if hasattr(node_ref, "get_object") else node_ref
    kids = _raw(node, "/Kids") if isinstance(node, generic.DictionaryObject) else None
    if kids is None or depth > 32:
        return []
    found = []
    for kid in kids.get_object():
        obj = kid.get_object()
        if obj.get("/Type") == "/Pages":
            found += _pages(kid, depth + 1)
        else:
            found.append(kid.reference if hasattr(kid, "reference") else kid)
    return found


def _annotations_added_are_signatures(before: generic.DictionaryObject, after: generic.DictionaryObject) -> bool:
    old = list(before["/Annots"]) if "/Annots" in before else []
    new = list(after["/Annots"]) if "/Annots" in after else []
    if new[:len(old)] != old:
        return False
    for annotation in new[len(old):]:
        widget = annotation.get_object()
        if widget.get("/Subtype") != "/Widget" or widget.get("/FT") != "/Sig":
            return False
    return True


def verify_approval(signed: bytes, document: bytes, trust_roots: list[x509.Certificate], *,
                    at: datetime | None = None) -> ApprovalVerdict:
    """Whether `signed` is exactly `document` with one approval signature appended, valid, by a
    certificate that chains to `trust_roots` (digital signature or non-repudiation usage), and
    nothing changed besides: the signer's revision may only add the signature (pyHanko's diff
    analysis of that revision against the document's), and nothing may follow it. Never raises
    on hostile input."""
    if len(signed) <= len(document) or not signed.startswith(document):
        return ApprovalVerdict(False, "not-the-document",
                               "the file is not the document with a signature added to it")
    try:
        reader = PdfFileReader(io.BytesIO(signed), strict=False)
        if reader.encrypted:
            return ApprovalVerdict(False, "encrypted", "the PDF is encrypted")
        signatures = list(reader.embedded_regular_signatures)
        base = PdfFileReader(io.BytesIO(document), strict=False).xrefs.total_revisions - 1
        if reader.xrefs.total_revisions != base + 2:
            return ApprovalVerdict(False, "modified", "the file must be the document with exactly one update "
                                                      "added: the signature")
    except Exception as exc:  # noqa: BLE001 - untrusted upload: any parse failure is "malformed"
        log.info("signed pdf unreadable: %s: %s", type(exc).__name__, exc)
        return ApprovalVerdict(False, "malformed", f"not a readable PDF ({type(exc).__name__})")
    if not signatures:
        return ApprovalVerdict(False, "unsigned", "the PDF has no signature")
    if len(signatures) > 1:
        return ApprovalVerdict(False, "several-signatures", "the file carries more than one signature: sign the "
                                                            "document once, as downloaded")
    embedded = signatures[0]
    context = ValidationContext(trust_roots=[_asn1_cert(root) for root in trust_roots], allow_fetching=False,
                                revocation_mode="soft-fail", moment=at)
    usage = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)
    try:
        status = validate_pdf_signature(embedded, signer_validation_context=context, key_usage_settings=usage)
        only_signature = _only_adds_a_signature(reader, base)
    except Exception as exc:  # noqa: BLE001 - a broken CMS blob is the uploader's problem
        log.info("approval signature unreadable: %s: %s", type(exc).__name__, exc)
        return ApprovalVerdict(False, "malformed", f"the signature cannot be validated ({type(exc).__name__})")
    who: dict = {}
    try:
        cert = x509.load_der_x509_certificate(status.signing_cert.dump())
        who = {"signer_subject": cert.subject.rfc4514_string(_ATTRIBUTE_NAMES), "signer_name": _subject_name(cert),
               "signer_identifiers": subject_identifiers(cert),
               "signer_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
               "issuer_subject": cert.issuer.rfc4514_string(), "signing_time": status.signer_reported_dt}
    except ValueError:
        pass
    if not status.intact:
        return ApprovalVerdict(False, "digest", "the signed content was altered", **who)
    if not status.valid:
        return ApprovalVerdict(False, "signature", "the signature does not verify", **who)
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE or embedded.signed_revision != base + 1:
        return ApprovalVerdict(False, "modified", "the file was changed after it was signed, or the signature "
                                                  "does not sign the document as it was given", **who)
    if not only_signature:
        return ApprovalVerdict(False, "modified", "the signer's copy changes the document's content, not only "
                                                  "adds a signature", **who)
    if not status.trusted:
        indication = status.trust_problem_indic
        code = indication.name if indication is not None else "NO_CERTIFICATE_CHAIN_FOUND"  # type: ignore[attr-defined]
        why = _TRUST_PROBLEMS.get(code, code).replace("a trusted region root", "a trusted certification authority")
        return ApprovalVerdict(False, "untrusted", f"the signer's certificate is not trusted: {why} ({code})",
                               **who)
    return ApprovalVerdict(True, None, "a valid approval signature by a trusted certificate on exactly this "
                                       "document", **who)
