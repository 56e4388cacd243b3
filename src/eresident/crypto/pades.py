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
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from eresident.crypto.pki import DOCUMENT_SIGNING_EKU, PkiError, RegionPKI

__all__ = ["REASONS", "USCC_KEYWORD", "PdfVerdict", "sign_pdf", "uscc_from_keywords", "verify_pdf"]

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
