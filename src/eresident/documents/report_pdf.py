"""The initial foreign-investment information report (外商投资信息报告 · 初始报告) as a bilingual A4
PDF, drawn from the formation data when the licence is issued. Signing is crypto/pades.py's job;
this module only draws, with the licence's fonts (documents/licence_pdf.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import Locale
from reportlab.lib.colors import HexColor
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from eresident.config import REGIONS
from eresident.crypto.pades import USCC_KEYWORD
from eresident.documents.licence_pdf import (COMPANY_TYPE_WFOE, FontSet, _date_en, _date_zh, capital_en, capital_zh,
                                             default_authority, find_fonts, paragraph_markup)

__all__ = ["REPORT_KEYWORD", "ReportData", "ReportInvestor", "ReportOwner", "render_report"]

# What `eresident verify` and the verification page read back from the signed metadata (Keywords).
REPORT_KEYWORD = "foreign-investment information report"
RED = HexColor("#A3271F")
INK = HexColor("#1B1B1B")
GREY = HexColor("#55595F")
RULE = HexColor("#C9A9A4")
SHADE = HexColor("#F4EEED")
PAGE_W, PAGE_H = A4
MARGIN = 20 * mm


@dataclass(frozen=True)
class ReportInvestor:
    kind: str  # natural | legal | domestic_company | domestic_person
    name: str
    country: str  # ISO 3166-1 alpha-2
    registration_number: str | None  # a company investor's; a person is named, not numbered
    share_percent: Decimal
    contribution: Decimal


@dataclass(frozen=True)
class ReportOwner:
    name: str
    country: str
    share_percent: Decimal


@dataclass(frozen=True)
class ReportData:
    """What the initial report says: the enterprise, its investors, beneficial owners, officers and
    where it stands against the negative list. Names of people as in their passports."""

    uscc: str
    name_zh: str
    name_en: str
    region: str
    case_number: str
    filed_on: date
    established_on: date
    registered_capital: Decimal
    currency: str
    address_zh: str
    address_en: str
    term_until: date | None
    scope_zh: str
    scope_en: str
    investors: tuple[ReportInvestor, ...]
    beneficial_owners: tuple[ReportOwner, ...]
    legal_representative: str
    directors: tuple[str, ...]
    supervisor: str
    negative_list_version: str
    restricted: tuple[tuple[str, str, str], ...] = ()  # (code, conditions zh, conditions en)
    json_sha256: str = ""  # the machine-readable copy filed with it
    company_type: tuple[str, str] = COMPANY_TYPE_WFOE

    def __post_init__(self) -> None:
        if not self.investors:
            raise ValueError("a report names at least one investor")
        if sum((i.share_percent for i in self.investors), Decimal(0)) != Decimal(100):
            raise ValueError("the investors' shares must add up to 100%")


def _country(code: str) -> tuple[str, str]:
    """(Chinese, English) name of a country; the code itself when unknown."""
    zh = Locale.parse("zh_Hans").territories.get(code) or code
    en = Locale.parse("en").territories.get(code) or code
    return zh, en


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


class _Styles:
    def __init__(self, fonts: FontSet):
        self.font = fonts.latin  # tables set a cell font even around flowables: never an unembedded default
        self.title = ParagraphStyle("title", fontName=fonts.cjk_sans, fontSize=20, leading=26, alignment=TA_CENTER,
                                    textColor=RED, wordWrap="CJK")
        self.subtitle = ParagraphStyle("subtitle", fontName=fonts.latin_bold, fontSize=11.5, leading=15,
                                       alignment=TA_CENTER, textColor=RED)
        self.region = ParagraphStyle("region", fontName=fonts.cjk_sans, fontSize=9, leading=12, alignment=TA_CENTER,
                                     textColor=GREY, wordWrap="CJK")
        self.head = ParagraphStyle("head", fontName=fonts.cjk_sans, fontSize=11.5, leading=16, spaceBefore=7,
                                   spaceAfter=3, textColor=RED, wordWrap="CJK", keepWithNext=1)
        self.label_zh = ParagraphStyle("label_zh", fontName=fonts.cjk_sans, fontSize=8.6, leading=11, wordWrap="CJK")
        self.label_en = ParagraphStyle("label_en", fontName=fonts.latin, fontSize=7, leading=9, textColor=GREY)
        self.zh = ParagraphStyle("zh", fontName=fonts.cjk_serif, fontSize=9.4, leading=13, wordWrap="CJK")
        self.en = ParagraphStyle("en", fontName=fonts.latin, fontSize=8.4, leading=10.6, textColor=GREY)
        self.value_latin = ParagraphStyle("latin", fontName=fonts.latin, fontSize=9.4, leading=12)
        self.cell_zh = ParagraphStyle("cell_zh", fontName=fonts.cjk_serif, fontSize=8.4, leading=11, wordWrap="CJK")
        self.cell = ParagraphStyle("cell", fontName=fonts.latin, fontSize=8.2, leading=10.2)
        self.cell_head = ParagraphStyle("cell_head", fontName=fonts.cjk_sans, fontSize=7.8, leading=10,
                                        wordWrap="CJK")
        self.note = ParagraphStyle("note", fontName=fonts.latin, fontSize=7.6, leading=9.8, textColor=GREY)
        self.note_zh = ParagraphStyle("note_zh", fontName=fonts.cjk_serif, fontSize=8, leading=11, textColor=GREY,
                                      wordWrap="CJK")
        self.mono = ParagraphStyle("mono", fontName=fonts.mono, fontSize=7, leading=9, textColor=GREY)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(paragraph_markup(text), style)


def _both(zh: str, en: str, s: _Styles, *, latin_value: bool = False) -> list[Paragraph]:
    """A value in Chinese with its English under it (once, when both are the same)."""
    first = _p(zh, s.value_latin if latin_value else s.zh)
    return [first] if not en or en == zh else [first, _p(en, s.en)]


def _label(zh: str, en: str, s: _Styles) -> list[Paragraph]:
    return [_p(zh, s.label_zh), _p(en, s.label_en)]


def _fields(rows: list[tuple[str, str, list[Paragraph]]], s: _Styles) -> Table:
    width = PAGE_W - 2 * MARGIN
    table = Table([[_label(zh, en, s), value] for zh, en, value in rows], colWidths=[40 * mm, width - 40 * mm])
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), s.font),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ("LEFTPADDING", (0, 0), (0, -1), 0),
    ]))
    return table


def _grid(header: list[tuple[str, str]], body: list[list[list[Paragraph]]], widths: list[float],
          s: _Styles) -> Table:
    head = [[_p(zh, s.cell_head), _p(en, s.label_en)] for zh, en in header]
    table = Table([head, *body], colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), s.font),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _story(d: ReportData, s: _Styles) -> list:
    region_en, region_zh, _ = REGIONS.get(d.region, (d.region, d.region, ""))
    authority_zh, authority_en = default_authority(d.region)
    term_zh = f"{_date_zh(d.established_on)} 至 {_date_zh(d.term_until) if d.term_until else '长期'}"
    term_en = f"{_date_en(d.established_on)} to {_date_en(d.term_until) if d.term_until else 'long-term'}"
    width = PAGE_W - 2 * MARGIN
    story: list = [
        _p(f"{region_zh} · {region_en}", s.region), Spacer(1, 3 * mm),
        _p("外商投资信息报告", s.title), _p("（初始报告）", s.region),
        _p("FOREIGN INVESTMENT INFORMATION REPORT — INITIAL REPORT", s.subtitle), Spacer(1, 5 * mm),
        _fields([
            ("报告编号", "Report reference", [_p(d.case_number, s.value_latin)]),
            ("统一社会信用代码", "Unified Social Credit Code", [_p(d.uscc, s.value_latin)]),
            ("报送日期", "Filed on", _both(_date_zh(d.filed_on), _date_en(d.filed_on), s)),
            ("报送方式", "Filed through", _both(
                f"随营业执照通过{authority_zh}企业登记系统报送商务主管部门",
                f"Filed with the business licence through the registration system of the {authority_en}, "
                "for the competent commerce authority", s)),
        ], s),
        _p("一、企业基本信息 / 1. The enterprise", s.head),
        _fields([
            ("名称", "Name", _both(d.name_zh, d.name_en, s)),
            ("类型", "Type", _both(*d.company_type, s)),
            ("注册资本", "Registered capital", _both(capital_zh(d.registered_capital, d.currency),
                                                    capital_en(d.registered_capital, d.currency), s)),
            ("成立日期", "Date of establishment", _both(_date_zh(d.established_on), _date_en(d.established_on), s)),
            ("营业期限", "Business term", _both(term_zh, term_en, s)),
            ("住所", "Registered address", _both(d.address_zh, d.address_en, s)),
            ("经营范围", "Business scope", _both(d.scope_zh, d.scope_en, s)),
            ("登记机关", "Registration authority", _both(authority_zh, authority_en, s)),
        ], s),
        _p("二、投资者及出资 / 2. Investors and their contributions", s.head),
    ]
    rows = []
    for inv in d.investors:
        zh, en = _country(inv.country)
        kind = {"natural": ("自然人", "Natural person"), "domestic_company": ("中方法人", "Chinese legal person"),
                "domestic_person": ("中方自然人", "Chinese natural person")}.get(inv.kind, ("法人", "Legal person"))
        rows.append([
            [_p(inv.name, s.cell)] + ([_p(f"No. {inv.registration_number}", s.label_en)]
                                      if inv.registration_number else []),
            [_p(kind[0], s.cell_zh), _p(kind[1], s.label_en)],
            [_p(zh, s.cell_zh), _p(en, s.label_en)],
            [_p(capital_zh(inv.contribution, d.currency), s.cell_zh), _p(capital_en(inv.contribution, d.currency),
                                                                        s.label_en)],
            [_p(_pct(inv.share_percent), s.cell)],
        ])
    story.append(_grid([("投资者", "Investor"), ("类型", "Kind"), ("国别（地区）", "Country or region"),
                        ("认缴出资额", "Subscribed capital"), ("出资比例", "Share")], rows,
                       [width * 0.34, width * 0.13, width * 0.17, width * 0.22, width * 0.14], s))
    story.append(_p("三、最终受益所有人（持股或控制25%以上） / 3. Beneficial owners (25% or more, directly or "
                    "indirectly)", s.head))
    if d.beneficial_owners:
        owners = []
        for o in d.beneficial_owners:
            zh, en = _country(o.country)
            owners.append([[_p(o.name, s.cell)], [_p(zh, s.cell_zh), _p(en, s.label_en)],
                           [_p(_pct(o.share_percent), s.cell)]])
        story.append(_grid([("姓名", "Name"), ("国籍", "Nationality"), ("持股或控制比例", "Ownership or control")],
                           owners, [width * 0.5, width * 0.3, width * 0.2], s))
    else:
        story.append(_p("无 / None listed.", s.zh))
    story += [
        _p("四、主要人员 / 4. Officers", s.head),
        _fields([
            ("法定代表人", "Legal representative", [_p(d.legal_representative, s.value_latin)]),
            ("董事", "Directors", [_p("; ".join(d.directors), s.value_latin)]),
            ("监事", "Supervisor", [_p(d.supervisor, s.value_latin)]),
        ], s),
        _p("五、外商投资准入负面清单 / 5. The negative list for foreign investment", s.head),
    ]
    if d.restricted:
        listed = [[[_p(code, s.cell)], [_p(zh, s.cell_zh), _p(en, s.label_en)]] for code, zh, en in d.restricted]
        story.append(_p(f"经营范围含限制类项目（负面清单版本 {d.negative_list_version}），已由登记机关审查：",
                        s.zh))
        story.append(_p(f"The business scope has restricted items (negative list {d.negative_list_version}), "
                        "which the registration authority examined:", s.en))
        story.append(Spacer(1, 2 * mm))
        story.append(_grid([("项目", "Item"), ("限制性措施", "Conditions")], listed, [width * 0.16, width * 0.84], s))
    else:
        story.append(_p(f"经营范围不涉及负面清单所列禁止类或限制类项目（负面清单版本 {d.negative_list_version}）。", s.zh))
        story.append(_p(f"The business scope has no item the negative list prohibits or restricts (negative list "
                        f"{d.negative_list_version}).", s.en))
    story += [
        Spacer(1, 6 * mm),
        _p("本报告由登记机关根据公司设立登记材料生成，与营业执照同时报送，并以" f"{region_zh}"
           "文档签名证书加具 PAdES 电子签名。机器可读副本（JSON）与本报告一并存档。", s.note_zh),
        _p("The registration authority drew up this report from the formation filing and filed it together with "
           f"the business licence. It carries a PAdES electronic signature by the {region_en} document-signing "
           "certificate; the machine-readable copy (JSON) is filed with it.", s.note),
    ]
    if d.json_sha256:
        story.append(_p(f"JSON SHA-256 {d.json_sha256}", s.mono))
    return story


def render_report(data: ReportData, *, fonts: FontSet | None = None) -> bytes:
    """The report as an A4 PDF in Chinese and English (one or two pages); the USCC in its metadata."""
    fonts = fonts or find_fonts()
    styles = _Styles(fonts)
    region_en = REGIONS.get(data.region, (data.region, data.region, ""))[0]
    buffer = io.BytesIO()

    def footer(canvas: Canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(fonts.cjk_sans, 7)
        canvas.setFillColor(GREY)
        canvas.drawString(MARGIN, 11 * mm, f"外商投资信息报告 Foreign investment information report · {data.uscc}")
        canvas.drawRightString(PAGE_W - MARGIN, 11 * mm, f"第 {doc.page} 页 · page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=18 * mm, bottomMargin=18 * mm,
        title=f"外商投资信息报告 Foreign Investment Information Report — {data.name_en}",
        author=default_authority(data.region)[1], creator="eresident", lang="zh-CN", pageCompression=1,
        initialFontName=fonts.latin, initialFontSize=10,  # no unembedded Helvetica in the file
        subject=f"Initial foreign-investment information report, USCC {data.uscc}, {region_en}",
        # ASCII only, as on the licence: the USCC and the kind of document for any tool to read.
        keywords=f"{USCC_KEYWORD}{data.uscc}, region:{data.region}, {REPORT_KEYWORD}")
    doc.build(_story(data, styles), onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
