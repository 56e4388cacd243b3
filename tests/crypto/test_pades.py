"""PAdES signatures on licences, checked by two independent validators: pyHanko (our verify_pdf)
and Poppler's pdfsig with the region root in an NSS database."""

from __future__ import annotations

import inspect
import io
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.pdfgen.canvas import Canvas

from eresident.crypto.pades import REASONS, PdfVerdict, sign_pdf, uscc_from_keywords, verify_pdf
from eresident.crypto.pki import PkiError, RegionPKI, create_region_pki
from eresident.documents.licence_pdf import render_licence
from tests.documents.test_licence_pdf import make_licence_data

NOW = datetime.now(UTC).replace(microsecond=0)
USCC = "91500000MA60AB1C2X"


@pytest.fixture(scope="module")
def lj() -> RegionPKI:
    return create_region_pki("LJ", now=NOW)


@pytest.fixture(scope="module")
def tf() -> RegionPKI:
    return create_region_pki("TF", now=NOW)


@pytest.fixture(scope="module")
def licence() -> bytes:
    return render_licence(make_licence_data(uscc=USCC))


@pytest.fixture(scope="module")
def signed(licence, lj) -> bytes:
    return sign_pdf(licence, lj, reason="Business licence issued", location="Chongqing",
                    signing_time=NOW)


def trivial_pdf() -> bytes:
    buf = io.BytesIO()
    c = Canvas(buf)
    c.drawString(72, 720, "hello")
    c.showPage()
    c.save()
    return buf.getvalue()


def flip_in_first_stream(pdf: bytes) -> bytes:
    """Flip one bit inside the first stream's data: still parseable, no longer the signed bytes."""
    data = bytearray(pdf)
    start = re.search(rb"stream\r?\n", data).end()
    data[start + 16] ^= 0x01
    return bytes(data)


def append_content(pdf: bytes) -> bytes:
    """An incremental update after signing that draws over the page, as a forger would."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stream = generic.StreamObject(stream_data=b"q 1 1 1 rg 100 600 300 40 re f Q "
                                              b"BT /F1 24 Tf 100 610 Td (USD 9,000,000) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def replace_info(pdf: bytes, key: str, value: str) -> bytes:
    """An incremental update after signing that rewrites an entry of the Info dictionary."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info_ref = writer.trailer.raw_get("/Info")
    info_ref.get_object()[key] = generic.TextStringObject(value)
    writer.mark_update(info_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# pyHanko

def test_a_signed_licence_validates_against_its_region_root(signed, lj):
    verdict = verify_pdf(signed, [lj.root_cert])
    assert verdict.valid, verdict.detail
    assert verdict.reason is None
    assert verdict.intact and verdict.trusted and verdict.signed and verdict.certified
    assert not verdict.modified_after_signing
    assert verdict.modification_level == "NONE"
    assert verdict.uscc == USCC
    assert verdict.signer_subject == (
        "C=CN,O=Liangjiang New Area Administrative Committee,"
        "CN=Liangjiang New Area Document Signing")
    assert verdict.issuer_subject.endswith("CN=Liangjiang New Area Root CA")
    assert verdict.signer_fingerprint == lj.signing_cert.fingerprint(hashes.SHA256()).hex()
    assert verdict.signing_time == NOW
    assert verdict.field_name == "Signature1" and verdict.signature_count == 1
    assert verdict.as_dict()["signing_time"] == NOW.isoformat()


def test_the_signature_is_pades_with_the_chain_embedded(signed, lj):
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.sig_object["/Reason"] == "Business licence issued"
    assert sig.sig_object["/Location"] == "Chongqing"
    embedded = {choice.chosen.dump() for choice in sig.signed_data["certificates"]}
    assert lj.signing_cert.public_bytes(Encoding.DER) in embedded
    assert lj.root_cert.public_bytes(Encoding.DER) in embedded
    signed_attrs = {a["type"].native for a in sig.signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in signed_attrs  # PAdES B-B
    assert sig.signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"


def test_another_regions_root_does_not_vouch_for_it(signed, tf):
    verdict = verify_pdf(signed, [tf.root_cert])
    assert not verdict.valid and verdict.reason == "untrusted"
    assert verdict.intact and not verdict.trusted
    assert verdict.uscc == USCC  # still says which licence it claims to be


def test_an_impostor_root_with_the_same_names_does_not_vouch_for_it(signed):
    impostor = create_region_pki("LJ", now=NOW)
    assert verify_pdf(signed, [impostor.root_cert]).reason == "untrusted"


def test_no_trusted_roots_means_untrusted(signed):
    assert verify_pdf(signed, []).reason == "untrusted"


def test_the_right_root_among_several_is_enough(signed, lj, tf):
    assert verify_pdf(signed, [tf.root_cert, lj.root_cert]).valid


def test_after_the_signing_certificate_expires_it_no_longer_validates(signed, lj):
    later = lj.signing_cert.not_valid_after_utc + timedelta(days=1)
    verdict = verify_pdf(signed, [lj.root_cert], at=later)
    assert verdict.reason == "untrusted" and "expired" in verdict.detail


def test_a_flipped_bit_in_the_signed_range_is_caught(signed, lj):
    verdict = verify_pdf(flip_in_first_stream(signed), [lj.root_cert])
    assert not verdict.valid and verdict.reason == "digest" and not verdict.intact


def test_a_forged_uscc_in_the_signed_metadata_is_caught(signed, lj):
    # The USCC sits in the Info dictionary twice (ReportLab's and pyHanko's revision), both
    # inside the signed byte range.
    assert signed.count(USCC[8:].encode()) >= 2
    forged = signed.replace(USCC[8:].encode(), b"MA60ZZZZ9X")
    assert verify_pdf(forged, [lj.root_cert]).reason == "digest"


def test_content_added_after_signing_is_caught(signed, lj):
    verdict = verify_pdf(append_content(signed), [lj.root_cert])
    assert not verdict.valid and verdict.reason == "modified"
    assert verdict.intact and verdict.trusted  # the signed revision itself is fine
    assert verdict.modified_after_signing and verdict.modification_level == "OTHER"


def test_metadata_rewritten_after_signing_is_caught_and_the_signed_uscc_reported(signed, lj):
    tampered = replace_info(signed, "/Keywords", "USCC:91500000MA60ZZZZ9X")
    info = PdfFileReader(io.BytesIO(tampered)).trailer["/Info"]
    assert uscc_from_keywords(str(info["/Keywords"])) == "91500000MA60ZZZZ9X"
    verdict = verify_pdf(tampered, [lj.root_cert])
    assert not verdict.valid and verdict.reason == "modified"
    assert "metadata" in verdict.detail
    assert verdict.uscc == USCC  # what the signature vouches for, not what was written later


def test_a_harmless_metadata_update_keeps_the_licence_valid_but_is_reported(signed, lj):
    verdict = verify_pdf(replace_info(signed, "/Title", "a new title"), [lj.root_cert])
    assert verdict.valid
    assert verdict.modified_after_signing and verdict.modification_level == "LTA_UPDATES"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed"),
        (b"hello, not a pdf", "malformed"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "malformed"),
    ],
)
def test_garbage_gets_a_verdict_not_an_exception(data, reason, lj):
    verdict = verify_pdf(data, [lj.root_cert])
    assert isinstance(verdict, PdfVerdict)
    assert not verdict.valid and verdict.reason == reason


def test_a_truncated_signed_pdf_gets_a_verdict(signed, lj):
    verdict = verify_pdf(signed[: len(signed) // 2], [lj.root_cert])
    assert not verdict.valid and verdict.reason in REASONS


def test_an_unsigned_pdf_is_unsigned(licence, lj):
    verdict = verify_pdf(licence, [lj.root_cert])
    assert verdict.reason == "unsigned" and not verdict.signed


def test_any_pdf_can_be_signed_and_validated(lj):
    signed = sign_pdf(trivial_pdf(), lj, reason="test", location="Chongqing")
    verdict = verify_pdf(signed, [lj.root_cert])
    assert verdict.valid and verdict.uscc is None
    assert abs(verdict.signing_time - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_custom_field_name(lj):
    signed = sign_pdf(trivial_pdf(), lj, reason="r", location="l", field_name="Licence")
    assert verify_pdf(signed, [lj.root_cert]).field_name == "Licence"


def test_ed25519_is_not_on_offer(lj):
    """Poppler cannot check Ed25519 PDF signatures, so there is no way to ask for one."""
    params = inspect.signature(sign_pdf).parameters
    assert set(params) == {"pdf", "pki", "reason", "location", "field_name", "signing_time"}
    with pytest.raises(PkiError, match="P-256"):
        RegionPKI("LJ", lj.root_cert, lj.signing_cert, ed25519.Ed25519PrivateKey.generate())
    sneaky = object.__new__(RegionPKI)
    for name, value in (("region", "LJ"), ("root_cert", lj.root_cert),
                        ("signing_cert", lj.signing_cert),
                        ("signing_key", ed25519.Ed25519PrivateKey.generate())):
        object.__setattr__(sneaky, name, value)
    with pytest.raises(PkiError, match="P-256"):
        sign_pdf(trivial_pdf(), sneaky, reason="r", location="l")


def test_a_naive_signing_time_is_refused(lj):
    with pytest.raises(ValueError, match="aware"):
        sign_pdf(trivial_pdf(), lj, reason="r", location="l", signing_time=datetime(2026, 1, 1))


def test_the_verdict_reasons_are_a_closed_set():
    assert REASONS == {"malformed", "encrypted", "unsigned", "unsupported", "digest",
                       "signature", "untrusted", "modified"}
    assert replace(PdfVerdict(False, "digest", "x"), detail="y").detail == "y"


# ---------------------------------------------------------------------------------------------
# Poppler's pdfsig, given the region root through an NSS database

def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is missing: apt-get install {package} (CI installs it)")
    return path


def nss_database(directory: Path, pki: RegionPKI) -> Path:
    """An NSS database that trusts the region root for signing (",C,": S/MIME CA trust)."""
    certutil = need("certutil", "libnss3-tools")
    directory.mkdir(parents=True)
    root = directory / "root.pem"
    root.write_bytes(pki.root_pem())
    subprocess.run([certutil, "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    subprocess.run([certutil, "-A", "-d", f"sql:{directory}", "-n", f"{pki.region} root",
                    "-t", ",C,", "-i", str(root)], check=True)
    return directory


@pytest.fixture(scope="module")
def lj_nss(tmp_path_factory, lj) -> Path:
    return nss_database(tmp_path_factory.mktemp("nss") / "lj", lj)


@pytest.fixture(scope="module")
def tf_nss(tmp_path_factory, tf) -> Path:
    return nss_database(tmp_path_factory.mktemp("nss") / "tf", tf)


def pdfsig(pdf: bytes, nss: Path, tmp_path: Path) -> str:
    binary = need("pdfsig", "poppler-utils")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([binary, "-nssdir", f"sql:{nss}", str(path)], capture_output=True,
                            text=True, timeout=60)
    return result.stdout + result.stderr


def test_pdfsig_validates_the_signature_and_trusts_the_region_root(signed, lj_nss, tmp_path):
    report = pdfsig(signed, lj_nss, tmp_path)
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Certificate Validation: Certificate is Trusted." in report, report
    assert "Total document signed" in report and "Not total" not in report
    assert "Signer Certificate Common Name: Liangjiang New Area Document Signing" in report
    assert "Signature Type: ETSI.CAdES.detached" in report


def test_pdfsig_does_not_trust_another_regions_root(signed, tf_nss, tmp_path):
    report = pdfsig(signed, tf_nss, tmp_path)
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Certificate Validation: Certificate issuer isn't Trusted." in report, report


def test_pdfsig_catches_a_flipped_bit(signed, lj_nss, tmp_path):
    report = pdfsig(flip_in_first_stream(signed), lj_nss, tmp_path)
    assert "Signature Validation: Digest Mismatch." in report, report


def test_pdfsig_sees_content_added_after_signing(signed, lj_nss, tmp_path):
    report = pdfsig(append_content(signed), lj_nss, tmp_path)
    # The signed revision is still valid; what pdfsig flags is that it is not the whole file.
    assert "Not total document signed" in report, report


def corrupt_signature_value(pdf: bytes) -> bytes:
    """Flip a bit in the ECDSA signature value inside /Contents: the signed bytes still hash to
    the signed digest, but the signature over it no longer verifies."""
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    header = bytes.fromhex(pdf[start:start + 8].decode())
    assert header[:2] == b"\x30\x82"
    cms_length = 4 + int.from_bytes(header[2:4], "big")
    position = start + 2 * (cms_length - 4)  # a hex digit in the last bytes: the value of s
    data = bytearray(pdf)
    data[position] = ord("0") if data[position] != ord("0") else ord("1")
    return bytes(data)


def test_a_broken_signature_value_is_caught(signed, lj):
    verdict = verify_pdf(corrupt_signature_value(signed), [lj.root_cert])
    assert not verdict.valid and verdict.reason == "signature"
    assert verdict.intact


def test_pdfsig_catches_a_broken_signature_value(signed, lj_nss, tmp_path):
    report = pdfsig(corrupt_signature_value(signed), lj_nss, tmp_path)
    assert "Signature Validation: Signature is Valid." not in report, report


@pytest.mark.parametrize("region", ["LJ", "TF"])
def test_each_regions_own_pki_has_room_for_its_signature(tmp_path, region):
    """The node's PKI (made from its settings, with the region's full names) signs a licence: the
    room reserved for the signature once fell 44 bytes short for Tianfu's longer Chinese names."""
    from eresident.config import Settings
    from eresident.crypto.pki import load_or_create_pki

    settings = Settings(region=region, data_dir=tmp_path)
    pki = load_or_create_pki(settings, now=NOW)
    pdf = sign_pdf(render_licence(make_licence_data(region=region)), pki,  # as enterprise.service.issue signs
                   reason="Business licence issued / 营业执照", location=settings.region_name, signing_time=NOW)
    verdict = verify_pdf(pdf, [pki.root_cert])
    assert verdict.valid, verdict
