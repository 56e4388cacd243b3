"""The bilingual business licence PDF: content in both languages, one A4 page, embedded fonts,
the USCC in the metadata and a QR code that decodes to the verification URL."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from eresident.crypto.pades import uscc_from_keywords
from eresident.documents.licence_pdf import (
    COMPANY_TYPE_WFOE,
    LicenceData,
    capital_en,
    capital_zh,
    default_authority,
    find_fonts,
    render_licence,
    verification_url,
)

SCOPE_ZH = ("一般项目：软件开发；信息技术咨询服务；技术服务、技术开发、技术咨询、技术交流、技术转让、"
            "技术推广；数据处理和存储支持服务；货物进出口；技术进出口。（除依法须经批准的项目外，凭营业执照"
            "依法自主开展经营活动）")
SCOPE_EN = ("General items: software development; information technology consulting services; "
            "technical services, development, consulting, exchange, transfer and promotion; data "
            "processing and storage support services; import and export of goods and technology.")


def make_licence_data(**overrides) -> LicenceData:
    """A valid licence for a wholly foreign-owned company in Liangjiang; override any field."""
    values = dict(
        uscc="91500000MA60AB1C2X",
        name_zh="重庆澄川科技有限公司",
        name_en="Chongqing Chengchuan Technology Co., Ltd.",
        legal_representative="Maria Helena OLIVEIRA SANTOS",
        registered_capital=Decimal("1000000"),
        currency="USD",
        established_on=date(2026, 11, 26),
        address_zh="重庆市两江新区金渝大道99号国际商务中心A座12楼1205室",
        address_en="Room 1205, 12/F, Tower A, International Business Centre, 99 Jinyu Avenue, "
                   "Liangjiang New Area, Chongqing",
        business_scope_zh=SCOPE_ZH,
        business_scope_en=SCOPE_EN,
        issued_on=date(2026, 11, 26),
        region="LJ",
        base_url="https://lj.eresident.example/",
    )
    values.update(overrides)
    return LicenceData(**values)


def need(tool: str, package: str) -> str:
    """CI installs these; a missing one is a broken environment, not a reason to skip."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is missing: apt-get install {package}")
    return path


@pytest.fixture(scope="module")
def licence_pdf() -> bytes:
    return render_licence(make_licence_data())


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    need("pdftotext", "poppler-utils")
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-raw", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def test_the_licence_is_one_a4_page(licence_pdf):
    reader = PdfFileReader(io.BytesIO(licence_pdf))
    assert licence_pdf.startswith(b"%PDF-")
    assert len(reader.root["/Pages"]["/Kids"]) == 1
    box = [float(v) for v in reader.root["/Pages"]["/Kids"][0]["/MediaBox"]]
    assert box == pytest.approx([0, 0, 595.2756, 841.8898], abs=0.01)


def test_every_field_is_there_in_chinese_and_english(licence_pdf, tmp_path):
    text = pdf_text(licence_pdf, tmp_path)
    flat = "".join(text.split())  # CJK wrapping splits lines anywhere
    for expected in (
        "营业执照", "BUSINESSLICENCE", "统一社会信用代码", "UnifiedSocialCreditCode",
        "91500000MA60AB1C2X",
        "名称", "重庆澄川科技有限公司", "ChongqingChengchuanTechnologyCo.,Ltd.",
        "类型", "外商独资有限责任公司", "Limitedliabilitycompany(whollyforeign-owned)",
        "法定代表人", "MariaHelenaOLIVEIRASANTOS",
        "注册资本", "100万美元", "USD1,000,000",
        "成立日期", "2026年11月26日", "26November2026",
        "营业期限", "至长期", "tolong-term",
        "住所", "金渝大道99号", "99JinyuAvenue",
        "经营范围", "软件开发", "softwaredevelopment",
        "登记机关", "两江新区市场监督管理局", "LiangjiangNewAreaAdministrationforMarketRegulation",
        "两江新区", "LiangjiangNewArea",
        "https://lj.eresident.example/verify/licence/91500000MA60AB1C2X",
    ):
        assert expected in flat, expected


def test_the_uscc_is_in_the_metadata(licence_pdf):
    info = PdfFileReader(io.BytesIO(licence_pdf)).trailer["/Info"]
    assert uscc_from_keywords(str(info["/Keywords"])) == "91500000MA60AB1C2X"
    assert "91500000MA60AB1C2X" in str(info["/Subject"])
    assert "Business Licence" in str(info["/Title"])


def test_all_fonts_are_embedded(licence_pdf, tmp_path):
    fonts = find_fonts()
    if not fonts.embedded:
        pytest.fail("no CJK TrueType font found: apt-get install fonts-wqy-microhei "
                    "fonts-arphic-uming (the licence would fall back to unembedded STSong-Light)")
    need("pdffonts", "poppler-utils")
    path = tmp_path / "licence.pdf"
    path.write_bytes(licence_pdf)
    listing = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                             text=True).stdout.splitlines()[2:]
    assert listing, "no fonts listed"
    for line in listing:
        name, emb = line.split()[0], line.split()[-5]
        assert emb == "yes", f"{name} is not embedded"
    assert any("WenQuanYi" in line or "UMing" in line for line in listing)


def test_the_qr_code_decodes_to_the_verification_url(licence_pdf, tmp_path):
    need("pdftoppm", "poppler-utils")
    need("zbarimg", "zbar-tools")
    path = tmp_path / "licence.pdf"
    path.write_bytes(licence_pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(path),
                    str(tmp_path / "page")], check=True)
    png = tmp_path / "page.png"
    assert png.stat().st_size > 10_000  # a page with content, not a blank
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True,
                             text=True)
    assert decoded.stdout.strip() == (
        "https://lj.eresident.example/verify/licence/91500000MA60AB1C2X")


def test_a_licence_from_the_other_region_names_it(tmp_path):
    data = make_licence_data(region="TF", uscc="91510100MA6CXYZ12Q",
                             base_url="https://tf.eresident.example")
    flat = "".join(pdf_text(render_licence(data), tmp_path).split())
    assert "四川天府新区" in flat and "SichuanTianfuNewArea" in flat
    assert "tf.eresident.example/verify/licence/91510100MA6CXYZ12Q" in flat


def test_a_fixed_term_and_a_chinese_name_for_the_representative(tmp_path):
    data = make_licence_data(term_until=date(2056, 11, 25), legal_representative_zh="桑托斯",
                             authority_zh="重庆两江新区市场监督管理局",
                             authority_en="Chongqing Liangjiang New Area AMR")
    flat = "".join(pdf_text(render_licence(data), tmp_path).split())
    assert "2026年11月26日至2056年11月25日" in flat
    assert "to25November2056" in flat
    assert "桑托斯" in flat and "MariaHelenaOLIVEIRASANTOS" in flat
    assert "重庆两江新区市场监督管理局" in flat and "ChongqingLiangjiangNewAreaAMR" in flat


def test_a_long_business_scope_shrinks_to_fit_one_page(tmp_path):
    data = make_licence_data(business_scope_zh=SCOPE_ZH * 3, business_scope_en=SCOPE_EN * 3)
    pdf = render_licence(data)
    assert len(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]) == 1
    assert "技术进出口" in pdf_text(pdf, tmp_path)


def test_a_scope_that_cannot_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        render_licence(make_licence_data(business_scope_zh=SCOPE_ZH * 12,
                                         business_scope_en=SCOPE_EN * 12))


def test_markup_in_user_text_is_printed_not_interpreted(tmp_path):
    data = make_licence_data(name_en="A & B <Holdings> Ltd.")
    assert "A & B <Holdings> Ltd." in pdf_text(render_licence(data), tmp_path)


def test_without_a_cjk_font_it_falls_back_to_the_unembedded_cid_font(tmp_path):
    fonts = find_fonts(cjk_candidates=[(str(tmp_path / "none-*.ttf"), 0)])
    assert fonts.cjk_sans == fonts.cjk_serif == "STSong-Light"
    assert fonts.embedded is False
    pdf = render_licence(make_licence_data(), fonts=fonts)
    assert b"/STSong-Light" in pdf
    assert find_fonts().cjk_sans != "STSong-Light"  # the process-wide choice is untouched


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("uscc", "91500000ma60ab1c2x", "uscc"),
        ("uscc", "9150000", "uscc"),
        ("registered_capital", Decimal("0"), "capital"),
        ("currency", "usd", "currency"),
        ("term_until", date(2020, 1, 1), "term"),
    ],
)
def test_bad_licence_data_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_licence_data(**{field: value})


@pytest.mark.parametrize(
    ("amount", "currency", "zh", "en"),
    [
        ("1000000", "USD", "100万美元", "USD 1,000,000"),
        ("150000", "EUR", "15万欧元", "EUR 150,000"),
        ("12345", "CNY", "1.2345万元人民币", "CNY 12,345"),
        ("5000.50", "HKD", "5,000.5港元", "HKD 5,000.5"),
        ("30000", "XAF", "3万XAF", "XAF 30,000"),
    ],
)
def test_registered_capital_is_written_as_licences_write_it(amount, currency, zh, en):
    assert capital_zh(Decimal(amount), currency) == zh
    assert capital_en(Decimal(amount), currency) == en


def test_defaults_for_the_authority_the_url_and_the_company_type():
    data = make_licence_data()
    assert data.company_type == COMPANY_TYPE_WFOE
    assert data.authority == default_authority("LJ") == (
        "两江新区市场监督管理局", "Liangjiang New Area Administration for Market Regulation")
    assert verification_url("https://x.example/", "91500000MA60AB1C2X") == (
        "https://x.example/verify/licence/91500000MA60AB1C2X")
    assert replace(data, base_url="https://y.example").verify_url.startswith("https://y.example/")
