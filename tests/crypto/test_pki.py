"""The region PKI: a P-256 root and document-signing certificate, created once under
DATA_DIR/keys, loaded thereafter, renewed before the signing certificate runs out."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from eresident.config import Settings
from eresident.crypto.pki import (
    DOCUMENT_SIGNING_EKU,
    ROOT_CERT,
    ROOT_KEY,
    SIGNING_CERT,
    SIGNING_KEY,
    PkiError,
    RegionPKI,
    create_region_pki,
    export_root_pem,
    load_or_create_pki,
    load_root_certificates,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def make_settings(tmp_path, region="LJ") -> Settings:
    return Settings(region=region, data_dir=tmp_path / region,
                    database_url=f"sqlite:///{tmp_path}/{region}.db")


def names(cert: x509.Certificate) -> dict[str, str]:
    return {attr.oid._name: attr.value for attr in cert.subject}


def ext(cert: x509.Certificate, kind):
    return cert.extensions.get_extension_for_class(kind)


def test_first_start_writes_the_pki_with_private_keys_readable_by_the_owner_only(tmp_path):
    settings = make_settings(tmp_path)
    pki = load_or_create_pki(settings, now=NOW)
    keys = settings.data_dir / "keys"
    for name in (ROOT_KEY, SIGNING_KEY):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
        assert (keys / name).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    for name in (ROOT_CERT, SIGNING_CERT):
        assert (keys / name).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert pki.region == "LJ"
    assert not list(keys.glob(".*.tmp"))


def test_later_starts_load_the_same_pki(tmp_path):
    settings = make_settings(tmp_path)
    first = load_or_create_pki(settings, now=NOW)
    again = load_or_create_pki(settings, now=NOW + timedelta(days=100))
    assert again.root_cert == first.root_cert
    assert again.signing_cert == first.signing_cert
    assert again.signing_key.private_numbers() == first.signing_key.private_numbers()


def test_the_root_is_a_p256_ca_that_can_only_issue_end_entities(tmp_path):
    root = load_or_create_pki(make_settings(tmp_path), now=NOW).root_cert
    assert names(root) == {
        "commonName": "Liangjiang New Area Root CA",
        "organizationName": "Liangjiang New Area Administrative Committee",
        "countryName": "CN",
    }
    assert root.issuer == root.subject
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    basic = ext(root, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ext(root, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert root.not_valid_after_utc - NOW > timedelta(days=20 * 365)
    assert root.not_valid_before_utc <= NOW
    ski = ext(root, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key)
    root.verify_directly_issued_by(root)


def test_the_signing_certificate_is_for_documents_and_chains_to_the_root(tmp_path):
    pki = load_or_create_pki(make_settings(tmp_path), now=NOW)
    cert = pki.signing_cert
    assert names(cert)["commonName"] == "Liangjiang New Area Document Signing"
    assert cert.issuer == pki.root_cert.subject
    cert.verify_directly_issued_by(pki.root_cert)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    assert ext(cert, x509.BasicConstraints).value.ca is False
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    eku = list(ext(cert, x509.ExtendedKeyUsage).value)
    assert DOCUMENT_SIGNING_EKU in eku  # RFC 9336 id-kp-documentSigning
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku  # what Poppler/NSS insists on
    aki = ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ext(pki.root_cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key()))
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=729) < validity < timedelta(days=731)
    assert cert.not_valid_before_utc < NOW  # backdated against clock skew


def test_each_region_has_its_own_names_and_keys(tmp_path):
    lj = load_or_create_pki(make_settings(tmp_path, "LJ"), now=NOW)
    tf = load_or_create_pki(make_settings(tmp_path, "TF"), now=NOW)
    assert names(tf.root_cert)["commonName"] == "Sichuan Tianfu New Area Root CA"
    assert names(tf.root_cert)["organizationName"] == (
        "Sichuan Tianfu New Area Administrative Committee")
    assert lj.root_fingerprint() != tf.root_fingerprint()


def test_the_exported_root_is_what_the_node_uses(tmp_path):
    settings = make_settings(tmp_path)
    pki = load_or_create_pki(settings, now=NOW)
    pem = export_root_pem(settings)
    assert pem == export_root_pem(pki) == pki.root_pem()
    assert load_root_certificates(pem) == [pki.root_cert]


def test_exporting_before_first_start_creates_the_pki(tmp_path):
    settings = make_settings(tmp_path)
    pem = export_root_pem(settings)
    assert load_root_certificates(pem) == [load_or_create_pki(settings).root_cert]


def test_a_trust_list_may_carry_several_roots_in_several_blobs(tmp_path):
    lj, tf = create_region_pki("LJ", now=NOW), create_region_pki("TF", now=NOW)
    roots = load_root_certificates([lj.root_pem() + tf.root_pem(), lj.root_pem().decode()])
    assert roots == [lj.root_cert, tf.root_cert, lj.root_cert]


def test_a_signing_certificate_near_its_end_is_renewed_under_the_same_root(tmp_path):
    settings = make_settings(tmp_path)
    old = load_or_create_pki(settings, now=NOW)
    later = old.signing_cert.not_valid_after_utc - timedelta(days=10)
    new = load_or_create_pki(settings, now=later)
    assert new.root_cert == old.root_cert
    assert new.signing_cert.serial_number != old.signing_cert.serial_number
    assert new.signing_key.public_key() != old.signing_key.public_key()
    assert new.signing_cert.not_valid_after_utc > later + timedelta(days=700)
    serial = old.signing_cert.serial_number
    archived = settings.data_dir / "keys" / f"document-signing.{serial:x}.pem"
    assert x509.load_pem_x509_certificate(archived.read_bytes()) == old.signing_cert
    assert load_or_create_pki(settings, now=later).signing_cert == new.signing_cert


def test_a_signing_certificate_never_outlives_its_root(tmp_path):
    settings = make_settings(tmp_path)
    root = load_or_create_pki(settings, now=NOW).root_cert
    near_end = root.not_valid_after_utc - timedelta(days=100)
    renewed = load_or_create_pki(settings, now=near_end)
    assert renewed.signing_cert.not_valid_after_utc == root.not_valid_after_utc


def test_an_expired_root_stops_the_node(tmp_path):
    settings = make_settings(tmp_path)
    root = load_or_create_pki(settings, now=NOW).root_cert
    with pytest.raises(PkiError, match="expired"):
        load_or_create_pki(settings, now=root.not_valid_after_utc + timedelta(days=1))


def test_a_root_key_that_does_not_match_its_certificate_is_refused(tmp_path):
    settings = make_settings(tmp_path)
    load_or_create_pki(settings, now=NOW)
    other = make_settings(tmp_path, "TF")
    load_or_create_pki(other, now=NOW)
    keys = settings.data_dir / "keys"
    (keys / ROOT_KEY).write_bytes((other.data_dir / "keys" / ROOT_KEY).read_bytes())
    with pytest.raises(PkiError, match="does not match"):
        load_or_create_pki(settings, now=NOW)


def test_a_signing_certificate_from_a_foreign_root_is_refused(tmp_path):
    settings = make_settings(tmp_path)
    load_or_create_pki(settings, now=NOW)
    other = make_settings(tmp_path, "TF")
    load_or_create_pki(other, now=NOW)
    for name in (SIGNING_CERT, SIGNING_KEY):
        (settings.data_dir / "keys" / name).write_bytes(
            (other.data_dir / "keys" / name).read_bytes())
    with pytest.raises(PkiError, match="not issued by the region root"):
        load_or_create_pki(settings, now=NOW)


def test_half_a_root_on_disk_is_refused_rather_than_replaced(tmp_path):
    settings = make_settings(tmp_path)
    load_or_create_pki(settings, now=NOW)
    (settings.data_dir / "keys" / ROOT_KEY).unlink()
    with pytest.raises(PkiError, match="missing"):
        load_or_create_pki(settings, now=NOW)


def test_concurrent_first_starts_agree_on_one_pki(tmp_path):
    settings = make_settings(tmp_path)
    results: list[RegionPKI] = []
    barrier = threading.Barrier(4)

    def start():
        barrier.wait()
        results.append(load_or_create_pki(settings, now=NOW))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert len({r.root_fingerprint() for r in results}) == 1
    assert len({r.signing_cert.serial_number for r in results}) == 1


def test_only_p256_keys_sign_pdfs():
    pki = create_region_pki("LJ", now=NOW)
    with pytest.raises(PkiError, match="P-256"):
        RegionPKI("LJ", pki.root_cert, pki.signing_cert, ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(PkiError, match="P-256"):
        RegionPKI("LJ", pki.root_cert, pki.signing_cert, ec.generate_private_key(ec.SECP384R1()))


def test_a_key_must_match_its_certificate_and_the_certificate_its_root():
    lj, tf = create_region_pki("LJ", now=NOW), create_region_pki("TF", now=NOW)
    with pytest.raises(PkiError, match="does not match"):
        RegionPKI("LJ", lj.root_cert, lj.signing_cert, tf.signing_key)
    with pytest.raises(PkiError, match="not issued"):
        RegionPKI("LJ", tf.root_cert, lj.signing_cert, lj.signing_key)
    assert "signing_key" not in repr(lj)


def test_time_must_be_timezone_aware(tmp_path):
    with pytest.raises(ValueError, match="aware"):
        load_or_create_pki(make_settings(tmp_path), now=datetime(2026, 1, 1))


def test_an_unknown_region_code_still_gets_a_pki():
    pki = create_region_pki("ZZ", now=NOW)
    assert pki.root_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "ZZ Root CA")


def test_a_signing_certificate_that_already_ends_with_the_root_is_kept(tmp_path):
    settings = make_settings(tmp_path)
    root = load_or_create_pki(settings, now=NOW).root_cert
    last = load_or_create_pki(settings, now=root.not_valid_after_utc - timedelta(days=100))
    again = load_or_create_pki(settings, now=root.not_valid_after_utc - timedelta(days=5))
    assert again.signing_cert == last.signing_cert
