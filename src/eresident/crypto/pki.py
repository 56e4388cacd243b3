"""The region's X.509 PKI for signed PDFs: a root CA and the document-signing certificate it
issues, both ECDSA P-256, generated once under DATA_DIR/keys and loaded at start."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from eresident.config import REGIONS, Settings
from eresident.kit.files import write_atomic

__all__ = [
    "DOCUMENT_SIGNING_EKU",
    "PkiError",
    "RegionPKI",
    "create_region_pki",
    "export_root_pem",
    "load_or_create_pki",
    "load_root_certificates",
    "region_names",
]

# RFC 9336 id-kp-documentSigning. emailProtection sits beside it because Poppler's pdfsig checks
# signer certificates through NSS for the e-mail-signer usage, which refuses an EKU extension
# without emailProtection (pdfsig 22.12 then says "Unknown issue with Certificate or corrupted
# data"); pyHanko is told to require documentSigning (crypto/pades.py).
DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

ROOT_VALIDITY = timedelta(days=20 * 365 + 5)
SIGNING_VALIDITY = timedelta(days=2 * 365)
# A signing certificate this close to its end is replaced by a fresh one at the next start.
SIGNING_RENEW_BEFORE = timedelta(days=30)
# Backdating absorbs clock skew between this node and whoever validates a fresh signature.
BACKDATE = timedelta(hours=1)

ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key"
SIGNING_CERT = "document-signing.pem"
SIGNING_KEY = "document-signing.key"
LOCK = ".pki.lock"


class PkiError(Exception):
    """The key files on disk are inconsistent (mismatched key, foreign issuer, expired root)."""


@dataclass(frozen=True)
class RegionPKI:
    """A region's root certificate, and the certificate and P-256 key that sign its PDFs."""

    region: str
    root_cert: x509.Certificate
    signing_cert: x509.Certificate
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        # PDF signatures are P-256 only: Poppler (pdfsig 22.x) cannot check Ed25519 ones.
        key = self.signing_key
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise PkiError("the document-signing key must be ECDSA P-256")
        if key.public_key() != self.signing_cert.public_key():
            raise PkiError("the document-signing key does not match its certificate")
        try:
            self.signing_cert.verify_directly_issued_by(self.root_cert)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise PkiError(
                "the document-signing certificate is not issued by the region root"
            ) from exc

    @property
    def chain(self) -> list[x509.Certificate]:
        """Signer first, then the root: what a signature embeds."""
        return [self.signing_cert, self.root_cert]

    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    def root_fingerprint(self) -> str:
        return self.root_cert.fingerprint(hashes.SHA256()).hex()


def region_names(region: str) -> tuple[str, str]:
    """(English, Chinese) name of a region code; the code itself for a region we do not know."""
    name_en, name_zh, _ = REGIONS.get(region, (region, region, "000000"))
    return name_en, name_zh


def _organisation(region: str) -> str:
    return f"{region_names(region)[0]} Administrative Committee"


def _name(common_name: str, region: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _organisation(region)),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        ]
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _serial() -> int:
    return x509.random_serial_number()


def _issue_root(region: str, key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    subject = _name(f"{region_names(region)[0]} Root CA", region)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _issue_signing(
    region: str,
    key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    public = key.public_key()
    not_after = min(now + SIGNING_VALIDITY, root.not_valid_after_utc)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"{region_names(region)[0]} Document Signing", region))
        .issuer_name(root.subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )


def create_region_pki(region: str, *, now: datetime | None = None) -> RegionPKI:
    """A fresh root and signing certificate in memory (tests, benchmarks, a new region)."""
    now = _utc(now)
    root_key = _new_key()
    root = _issue_root(region, root_key, now)
    signing_key = _new_key()
    signing = _issue_signing(region, signing_key, root, root_key, now)
    return RegionPKI(region=region, root_cert=root, signing_cert=signing, signing_key=signing_key)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, content: bytes, mode: int) -> None:
    write_atomic(path, content, mode=mode)  # a reader never sees half a key


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path.name} is not an EC private key")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@contextmanager
def _locked(directory: Path):
    """One process creates the PKI; the others wait and then load what it wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def keys_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def load_or_create_pki(settings: Settings, *, now: datetime | None = None) -> RegionPKI:
    """The region's PKI from DATA_DIR/keys, created on first use.

    Idempotent: later calls load the same certificates. A signing certificate within
    SIGNING_RENEW_BEFORE of its end (or past it) is replaced by a new key and certificate from
    the same root; the old certificate stays beside it as document-signing.<serial>.pem.
    """
    now = _utc(now)
    directory = keys_dir(settings)
    region = settings.region
    with _locked(directory):
        root_cert_path, root_key_path = directory / ROOT_CERT, directory / ROOT_KEY
        if root_cert_path.exists() != root_key_path.exists():
            raise PkiError(f"{directory}: one of {ROOT_CERT} / {ROOT_KEY} is missing")
        if root_cert_path.exists():
            root_key = _load_key(root_key_path)
            root = _load_cert(root_cert_path)
            if root.public_key() != root_key.public_key():
                raise PkiError(f"{ROOT_KEY} does not match {ROOT_CERT}")
        else:
            root_key = _new_key()
            root = _issue_root(region, root_key, now)
            _write(root_key_path, _pem_key(root_key), 0o600)
            _write(root_cert_path, _pem_cert(root), 0o644)
        if root.not_valid_after_utc <= now:
            raise PkiError(f"the region root expired on {root.not_valid_after_utc:%Y-%m-%d}")

        cert_path, key_path = directory / SIGNING_CERT, directory / SIGNING_KEY
        signing: x509.Certificate | None = None
        signing_key: ec.EllipticCurvePrivateKey | None = None
        if cert_path.exists() and key_path.exists():
            signing, signing_key = _load_cert(cert_path), _load_key(key_path)
            ending = signing.not_valid_after_utc - SIGNING_RENEW_BEFORE <= now
            # A certificate that already runs to the root's end cannot be bettered.
            if ending and signing.not_valid_after_utc < root.not_valid_after_utc:
                archived = directory / f"document-signing.{signing.serial_number:x}.pem"
                _write(archived, _pem_cert(signing), 0o644)
                signing = signing_key = None
        if signing is None or signing_key is None:
            signing_key = _new_key()
            signing = _issue_signing(region, signing_key, root, root_key, now)
            _write(key_path, _pem_key(signing_key), 0o600)
            _write(cert_path, _pem_cert(signing), 0o644)
    return RegionPKI(region=region, root_cert=root, signing_cert=signing, signing_key=signing_key)


def export_root_pem(source: RegionPKI | Settings) -> bytes:
    """The region root as PEM: what a verifier trusts and what the trust list carries."""
    if isinstance(source, RegionPKI):
        return source.root_pem()
    path = keys_dir(source) / ROOT_CERT
    if not path.exists():
        return load_or_create_pki(source).root_pem()
    return _load_cert(path).public_bytes(serialization.Encoding.PEM)


def load_root_certificates(pem: bytes | str | Iterable[bytes | str]) -> list[x509.Certificate]:
    """Parse one or several PEM blobs (each may hold several certificates) into roots to trust."""
    blobs = [pem] if isinstance(pem, (bytes, str)) else list(pem)
    roots: list[x509.Certificate] = []
    for blob in blobs:
        data = blob.encode() if isinstance(blob, str) else blob
        roots.extend(x509.load_pem_x509_certificates(data))
    return roots
