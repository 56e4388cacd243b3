"""A stand-in for a Chinese certification authority, for demos and tests only: it issues P-256
organisation certificates whose subject carries a company's name and USCC (serialNumber), and
personal certificates carrying a citizen's name and identity card number, as the certificates
Chinese companies and people sign with do. Its root goes on a node's domestic trust list
(enterprise/partners.py) so that a joint venture's Chinese partner can sign the articles.

Nothing here is used by a node in production: a region lists the roots of the real CAs it trusts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class DemoCA:
    key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    now: datetime

    @classmethod
    def create(cls, name: str = "Demo Chinese CA", *, now: datetime | None = None) -> DemoCA:
        now = now or datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root (demo, not a real CA)")])
        ca = cls(key=key, root=None, now=now)  # type: ignore[arg-type]  # the root is made just below
        ca.root = ca._certificate(subject, key.public_key(), ca=True, subject_is_issuer=subject)
        return ca

    @classmethod
    def load(cls, directory: Path, *, now: datetime | None = None) -> DemoCA:
        key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(key=key, root=x509.load_pem_x509_certificate((directory / "ca-root.pem").read_bytes()),
                   now=now or datetime.now(UTC))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca-key.pem").write_bytes(_pem_key(self.key))
        (directory / "ca-key.pem").chmod(0o600)
        (directory / "ca-root.pem").write_bytes(self.root_pem())

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def _certificate(self, subject: x509.Name, public_key, *, ca: bool, not_after: datetime | None = None,
                     subject_is_issuer: x509.Name | None = None) -> x509.Certificate:
        usage = x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                              encipher_only=False, decipher_only=False)
        issuer = subject_is_issuer if subject_is_issuer is not None else self.root.subject
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(self.now - timedelta(days=30))
                .not_valid_after(not_after or self.now + timedelta(days=3 * 365))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(usage, critical=True).sign(self.key, hashes.SHA256()))

    def organisation(self, name: str, uscc: str, *, not_after: datetime | None = None
                     ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A company's key and organisation certificate (subject O and CN the name, serialNumber the USCC)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                             x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return key, self._certificate(subject, key.public_key(), ca=False, not_after=not_after)


    def person(self, name: str, id_number: str, *, not_after: datetime | None = None
               ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A citizen's key and personal certificate (subject CN the name, serialNumber the resident
        identity card number)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                             x509.NameAttribute(NameOID.SERIAL_NUMBER, id_number),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return key, self._certificate(subject, key.public_key(), ca=False, not_after=not_after)


def write_identity(directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    """The key and certificate as PEM files (what a CA hands a company, minus the USB token)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "partner-key.pem", directory / "partner-cert.pem"
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
