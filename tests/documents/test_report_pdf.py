"""The foreign-investment information report PDF: every section in Chinese and English, fonts
embedded, the USCC and its kind in the metadata, and a PAdES signature that pyHanko and Poppler's
pdfsig validate against the region root. Also the licence's status-list reference, read back from
the signed revision only."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from eresident.crypto.pades import sign_pdf, uscc_from_keywords, verify_pdf
from eresident.crypto.pki import create_region_pki, export_root_pem
from eresident.documents.licence_pdf import StatusReference, render_licence, signed_metadata
from eresident.documents.report_pdf import ReportData, ReportInvestor, ReportOwner, render_report
from tests.documents.test_licence_pdf import make_licence_data, need, pdf_text
from tests.enterprise.helpers import nss_database

NOW = datetime.now(UTC).replace(microsecond=0)
USCC = "91500000MA60AB1C2X"


def make_report(**overrides) -> ReportData:
    values = dict(
        uscc=USCC, name_zh="重庆星海科技有限公司", name_en="Chongqing Xinghai Technology Co., Ltd.", region="LJ",
        case_number="LJ-CF-2026-000001", filed_on=date(2026, 11, 26), established_on=date(2026, 11, 26),
        registered_capital=Decimal("1000000"), currency="USD",
        address_zh="重庆市两江新区金渝大道99号e居民登记地址服务中心",
        address_en="e-Resident Registered Address Service, 99 Jinyu Avenue, Liangjiang New Area, Chongqing",
        term_until=date(2046, 11, 26), scope_zh="一般项目：软件开发；信息技术咨询服务。",
        scope_en="General items: software development; information technology consulting services.",
        investors=(ReportInvestor("natural", "Amina BENALI", "DZ", None, Decimal("60"), Decimal("600000")),
                   ReportInvestor("legal", "Atlas Holdings GmbH", "DE", "HRB 123456", Decimal("40"),
                                  Decimal("400000"))),
        beneficial_owners=(ReportOwner("Amina BENALI", "DZ", Decimal("60")),
                           ReportOwner("Karl MUSTER", "DE", Decimal("40"))),
        legal_representative="Amina BENALI", directors=("Amina BENALI", "Omar HADDAD"), supervisor="Lina SAID",
        negative_list_version="sample-2026",
        restricted=(("BS028", "限于合资，中方控股", "Only as a joint venture with Chinese control"),),
        json_sha256="ab" * 32)
    values.update(overrides)
    return ReportData(**values)


@pytest.fixture(scope="module")
def report() -> bytes:
    return render_report(make_report())


def test_every_section_is_there_in_chinese_and_english(report, tmp_path):
    flat = "".join(pdf_text(report, tmp_path).split())
    for expected in (
        "外商投资信息报告", "（初始报告）", "FOREIGNINVESTMENTINFORMATIONREPORT—INITIALREPORT",
        "LJ-CF-2026-000001", USCC, "2026年11月26日", "26November2026",
        "重庆星海科技有限公司", "ChongqingXinghaiTechnologyCo.,Ltd.", "外商独资有限责任公司",
        "100万美元", "USD1,000,000", "2026年11月26日至2046年11月26日", "26November2026to26November2046",
        "金渝大道99号", "软件开发", "softwaredevelopment", "两江新区市场监督管理局",
        "投资者", "Investor", "AminaBENALI", "自然人", "Naturalperson", "阿尔及利亚", "Algeria", "60万美元",
        "AtlasHoldingsGmbH", "No.HRB123456", "法人", "Legalperson", "德国", "Germany", "40%",
        "最终受益所有人", "Beneficialowners", "KarlMUSTER",
        "法定代表人", "董事", "AminaBENALI;OmarHADDAD", "监事", "LinaSAID",
        "负面清单", "sample-2026", "BS028", "限于合资，中方控股", "OnlyasajointventurewithChinesecontrol",
        "JSONSHA-256" + "ab" * 32,
    ):
        assert expected in flat, expected


def test_no_restricted_item_and_a_long_term_say_so(tmp_path):
    flat = "".join(pdf_text(render_report(make_report(restricted=(), term_until=None)), tmp_path).split())
    assert "不涉及负面清单所列禁止类或限制类项目" in flat and "hasnoitemthenegativelistprohibitsorrestricts" in flat
    assert "至长期" in flat and "tolong-term" in flat


def test_metadata_names_the_uscc_and_the_kind_of_document(report):
    info = PdfFileReader(io.BytesIO(report)).trailer["/Info"]
    assert uscc_from_keywords(str(info["/Keywords"])) == USCC
    assert "foreign-investment information report" in str(info["/Keywords"])
    assert "business licence" not in str(info["/Keywords"])  # never mistaken for the licence


def test_all_fonts_are_embedded(report, tmp_path):
    need("pdffonts", "poppler-utils")
    path = tmp_path / "report.pdf"
    path.write_bytes(report)
    listing = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                             text=True).stdout.splitlines()[2:]
    assert listing and all(line.split()[-5] == "yes" for line in listing), listing


def test_bad_report_data_is_refused():
    with pytest.raises(ValueError, match="100%"):
        make_report(investors=(ReportInvestor("natural", "A", "DZ", None, Decimal("60"), Decimal("1")),))
    with pytest.raises(ValueError, match="at least one"):
        make_report(investors=())


def test_markup_in_names_is_printed_not_interpreted(tmp_path):
    investors = (ReportInvestor("legal", "A & B <Holdings> Ltd.", "GB", "0123", Decimal("100"), Decimal("1000000")),)
    text = pdf_text(render_report(make_report(investors=investors, beneficial_owners=())), tmp_path)
    assert "A & B <Holdings> Ltd." in text and "None listed." in text


def test_signed_it_validates_with_pyhanko_and_pdfsig_against_the_region_root(report, tmp_path):
    need("pdfsig", "poppler-utils")
    need("certutil", "libnss3-tools")
    lj, tf = create_region_pki("LJ", now=NOW), create_region_pki("TF", now=NOW)
    signed = sign_pdf(report, lj, reason="Foreign-investment information report filed", location="Chongqing",
                      signing_time=NOW)
    verdict = verify_pdf(signed, [lj.root_cert])
    assert verdict.valid and verdict.certified and verdict.uscc == USCC, verdict
    assert verify_pdf(signed, [tf.root_cert]).reason == "untrusted"
    meta = signed_metadata(signed)
    assert meta is not None and meta.kind == "fi_report" and meta.status is None
    path = tmp_path / "report.pdf"
    path.write_bytes(signed)
    nss = nss_database(tmp_path / "nss", export_root_pem(lj))
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid" in out and "Certificate is Trusted" in out and "Total document signed" in out, out
    other = nss_database(tmp_path / "nss-tf", export_root_pem(tf))
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{other}", str(path)], capture_output=True, text=True).stdout
    assert "Certificate is Trusted" not in out


def test_the_licence_status_reference_is_read_from_the_signed_revision_only(tmp_path):
    lj = create_region_pki("LJ", now=NOW)
    reference = StatusReference("https://lj.eresident.example/status-lists/1", 41)
    pdf = render_licence(replace(make_licence_data(), status=reference))
    signed = sign_pdf(pdf, lj, reason="Business licence issued", location="Chongqing", signing_time=NOW)
    meta = signed_metadata(signed)
    assert meta is not None and meta.status == reference and meta.kind == "business_licence"
    assert verify_pdf(signed, [lj.root_cert]).valid
    # An update after signing that points the licence at another (unrevoked) entry changes nothing.
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    info_ref = writer.trailer.raw_get("/Info")
    info = info_ref.get_object()
    info["/Keywords"] = generic.TextStringObject(str(info["/Keywords"]).replace("#41", "#7"))
    writer.mark_update(info_ref)
    out = io.BytesIO()
    writer.write(out)
    assert signed_metadata(out.getvalue()).status == reference
    assert signed_metadata(pdf) is None  # unsigned: nothing vouches for it
    assert signed_metadata(b"%PDF-1.4 junk") is None
    for bad in ("ftp://x/1", "https://x/1,2", "https://x/1#frag"):
        with pytest.raises(ValueError):
            StatusReference(bad, 1)
    with pytest.raises(ValueError):
        StatusReference("https://x/1", -1)
