"""The bilingual business licence (营业执照) as a one-page A4 PDF, with a QR code to its public
verification page. Signing is crypto/pades.py's job; this module only draws."""

from __future__ import annotations

import glob
import io
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from reportlab.lib.colors import Color, HexColor
from reportlab.lib import textsplit as _rl_textsplit
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph
from reportlab.platypus import paragraph as _rl_paragraph

from eresident.config import REGIONS
from eresident.crypto.pades import USCC_KEYWORD

__all__ = [
    "COMPANY_TYPE_JV",
    "COMPANY_TYPE_WFOE",
    "COMPANY_TYPES",
    "LicenceData",
    "FontSet",
    "StatusReference",
    "default_authority",
    "find_fonts",
    "render_licence",
    "signed_metadata",
    "verification_url",
]

log = logging.getLogger(__name__)

COMPANY_TYPE_WFOE = ("外商独资有限责任公司", "Limited liability company (wholly foreign-owned)")
COMPANY_TYPE_JV = ("有限责任公司（中外合资）", "Limited liability company (Sino-foreign joint venture)")
COMPANY_TYPES = {"wfoe": COMPANY_TYPE_WFOE, "jv": COMPANY_TYPE_JV}

CURRENCIES_ZH = {
    "CNY": "元人民币", "USD": "美元", "EUR": "欧元", "GBP": "英镑", "HKD": "港元", "JPY": "日元",
    "SGD": "新加坡元", "AUD": "澳大利亚元", "CAD": "加拿大元", "CHF": "瑞士法郎", "KRW": "韩元",
    "MOP": "澳门元", "TWD": "新台币", "NZD": "新西兰元", "SEK": "瑞典克朗", "RUB": "卢布",
}
# ReportLab keeps these characters off the start of a CJK line, but its list lacks the full-width
# comma, semicolon, colon, and marks used in Chinese text. Adding them (once, idempotently)
# keeps "，凭营业执照…" from opening a line of the business scope.
_CJK_NO_LINE_START = "，；：！？％"
for _module in (_rl_textsplit, _rl_paragraph):  # one-run paragraphs / mixed-font paragraphs
    if not set(_CJK_NO_LINE_START) <= set(_module.ALL_CANNOT_START):
        _module.ALL_CANNOT_START = _module.ALL_CANNOT_START + _CJK_NO_LINE_START

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")


@dataclass(frozen=True)
class LicenceData:
    """What a business licence shows. Names and addresses come in both languages."""

    uscc: str
    name_zh: str
    name_en: str
    legal_representative: str  # as in the passport (Latin script)
    registered_capital: Decimal
    currency: str  # ISO 4217
    established_on: date
    address_zh: str
    address_en: str
    business_scope_zh: str
    business_scope_en: str
    issued_on: date
    region: str  # region code, e.g. "LJ"
    base_url: str  # the issuing node's public address
    authority_zh: str = ""  # registration authority; default_authority(region) when empty
    authority_en: str = ""
    legal_representative_zh: str = ""  # a Chinese name, when the person has one
    term_until: date | None = None  # None: long-term (长期)
    company_type: tuple[str, str] = COMPANY_TYPE_WFOE
    # The licence's entry in the region's token status list (draft-ietf-oauth-status-list), written
    # into the signed metadata so `eresident verify --status-list` can tell a revoked licence offline.
    status: StatusReference | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9A-Z]{18}", self.uscc):
            raise ValueError("uscc must be 18 characters, digits and capital letters")
        if self.registered_capital <= 0:
            raise ValueError("registered capital must be positive")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError("currency must be an ISO 4217 code")
        if self.term_until is not None and self.term_until < self.established_on:
            raise ValueError("the business term ends before the company is established")

    @property
    def verify_url(self) -> str:
        return verification_url(self.base_url, self.uscc)

    @property
    def region_names(self) -> tuple[str, str]:
        name_en, name_zh, _ = REGIONS.get(self.region, (self.region, self.region, ""))
        return name_zh, name_en

    @property
    def authority(self) -> tuple[str, str]:
        zh, en = default_authority(self.region)
        return self.authority_zh or zh, self.authority_en or en


@dataclass(frozen=True)
class StatusReference:
    """Where a document's current status is published: the status list's URI and its index there."""

    uri: str
    index: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"https?://[!-~]+", self.uri) or "," in self.uri or "#" in self.uri:
            raise ValueError("the status list URI must be an http(s) URL without commas or a fragment")
        if self.index < 0:
            raise ValueError("a status index is not negative")

    @property
    def keyword(self) -> str:
        return f"{STATUS_KEYWORD}{self.uri}#{self.index}"


STATUS_KEYWORD = "status:"
_STATUS_IN_KEYWORDS = re.compile(re.escape(STATUS_KEYWORD) + r"(https?://[^\s,#]+)#(\d{1,9})(?![0-9])")


@dataclass(frozen=True)
class SignedMetadata:
    """What the first signature's signed revision says about the document (its Info dictionary)."""

    title: str
    keywords: str
    status: StatusReference | None

    @property
    def kind(self) -> str:
        """business_licence | fi_report | unknown, from the Keywords the renderers write."""
        if "business licence" in self.keywords:
            return "business_licence"
        if "foreign-investment information report" in self.keywords:
            return "fi_report"
        return "unknown"


def signed_metadata(pdf: bytes) -> SignedMetadata | None:
    """The Info dictionary as the first signature signed it (a later incremental update cannot
    change what this returns); None for an unreadable or unsigned file. Check the signature itself
    with crypto.pades.verify_pdf first: this only reads."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        signatures = list(reader.embedded_regular_signatures)
        if not signatures:
            return None
        history = reader.get_historical_resolver(signatures[0].signed_revision)
        info = history.get_object(history.trailer_view.raw_get("/Info").reference)
        title = str(info.get("/Title", ""))
        keywords = str(info.get("/Keywords", ""))
    except Exception:  # noqa: BLE001 - an untrusted file: anything unreadable is "no metadata"
        return None
    match = _STATUS_IN_KEYWORDS.search(keywords)
    status = StatusReference(match.group(1), int(match.group(2))) if match else None
    return SignedMetadata(title=title, keywords=keywords, status=status)


def verification_url(base_url: str, uscc: str) -> str:
    """The public page that says whether the licence with this USCC is genuine and current."""
    return f"{base_url.rstrip('/')}/verify/licence/{uscc}"


def default_authority(region: str) -> tuple[str, str]:
    """(Chinese, English) name of the region's registration authority."""
    name_en, name_zh, _ = REGIONS.get(region, (region, region, ""))
    return f"{name_zh}市场监督管理局", f"{name_en} Administration for Market Regulation"


# ---------------------------------------------------------------------------------------------
# Fonts: found at run time in Debian's font packages (or src/eresident/data/fonts/), embedded as
# subsets. Without any CJK TrueType font the licence falls back to ReportLab's STSong-Light CID
# font, which is not embedded and renders only where the viewer has a Chinese font of its own.

_HERE = Path(__file__).resolve().parent.parent / "data" / "fonts"
CJK_SANS_CANDIDATES = (
    (str(_HERE / "*.tt[fc]"), 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),  # fonts-wqy-microhei
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),  # fonts-wqy-zenhei
)
CJK_SERIF_CANDIDATES = (
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),  # fonts-arphic-uming, face "AR PL UMing CN"
)
LATIN_CANDIDATES = (
    ("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf"),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"),
)
LATIN_MONO_CANDIDATES = (
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
)


@dataclass(frozen=True)
class FontSet:
    """Registered ReportLab font names for each role, and whether all of them are embedded."""

    cjk_sans: str
    cjk_serif: str
    latin: str
    latin_bold: str
    mono: str
    embedded: bool
    files: tuple[str, ...] = field(default=())


_fonts_lock = threading.Lock()
_fonts: FontSet | None = None


def _register_ttf(name: str, path: str, index: int = 0) -> bool:
    if name in pdfmetrics.getRegisteredFontNames():
        return True
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    except (TTFError, OSError) as exc:  # missing, or CFF outlines ReportLab cannot embed
        log.debug("font %s unusable: %s", path, exc)
        return False
    return True


def _first_ttf(name: str, candidates) -> str | None:
    for pattern, index in candidates:
        for path in sorted(glob.glob(pattern)):
            if _register_ttf(name, path, index):
                return path
    return None


_CJK_RUN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")


def paragraph_markup(text: str) -> str:
    """`text` as ReportLab paragraph markup: escaped, line breaks kept, and every run of Chinese in
    the CJK serif font, so that a Chinese name inside a Latin-font paragraph is drawn (the Latin
    font has no CJK glyphs: it would draw empty boxes, and the text could not be extracted)."""
    font = find_fonts().cjk_serif
    marked = _CJK_RUN.sub(lambda m: f'<font name="{font}">{m.group(0)}</font>', escape(text))
    return marked.replace("\n", "<br/>")


def find_fonts(*, cjk_candidates=None, refresh: bool = False) -> FontSet:
    """Register the licence fonts once per process (loading a CJK font takes ~0.15 s)."""
    global _fonts
    with _fonts_lock:
        if _fonts is not None and not refresh and cjk_candidates is None:
            return _fonts
        files: list[str] = []
        suffix = "" if cjk_candidates is None else f"-{abs(hash(tuple(cjk_candidates)))}"
        sans_path = _first_ttf(f"ERes-CJK-Sans{suffix}",
                               CJK_SANS_CANDIDATES if cjk_candidates is None else cjk_candidates)
        if sans_path:
            cjk_sans = f"ERes-CJK-Sans{suffix}"
            files.append(sans_path)
            serif_path = _first_ttf(f"ERes-CJK-Serif{suffix}",
                                    CJK_SERIF_CANDIDATES if cjk_candidates is None else ())
            cjk_serif = f"ERes-CJK-Serif{suffix}" if serif_path else cjk_sans
            if serif_path:
                files.append(serif_path)
            embedded = True
        else:
            log.warning("no CJK TrueType font found (install fonts-wqy-microhei): the licence "
                        "uses STSong-Light, which is not embedded")
            pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
            cjk_sans = cjk_serif = "STSong-Light"
            embedded = False
        latin = latin_bold = mono = ""
        for regular, bold in LATIN_CANDIDATES:
            if _register_ttf("ERes-Latin", regular) and _register_ttf("ERes-Latin-Bold", bold):
                latin, latin_bold = "ERes-Latin", "ERes-Latin-Bold"
                files += [regular, bold]
                break
        if not latin:
            latin, latin_bold, embedded = "Times-Roman", "Times-Bold", False
        for path in LATIN_MONO_CANDIDATES:
            if _register_ttf("ERes-Mono", path):
                mono = "ERes-Mono"
                files.append(path)
                break
        if not mono:
            mono, embedded = "Courier", False
        fonts = FontSet(cjk_sans, cjk_serif, latin, latin_bold, mono, embedded, tuple(files))
        if cjk_candidates is None:
            _fonts = fonts
        return fonts


# ---------------------------------------------------------------------------------------------
# Formatting

def _date_zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _date_en(d: date) -> str:
    return f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}"


def _amount(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


def capital_zh(value: Decimal, currency: str) -> str:
    """注册资本 as licences write it: in units of 10,000 (万) when it divides evenly."""
    unit = CURRENCIES_ZH.get(currency, currency)
    if value >= 10_000:
        wan = value / Decimal(10_000)
        return f"{_amount(wan)}万{unit}"
    return f"{_amount(value)}{unit}"


def capital_en(value: Decimal, currency: str) -> str:
    return f"{currency} {_amount(value)}"


def term_zh(data: LicenceData) -> str:
    end = _date_zh(data.term_until) if data.term_until else "长期"
    return f"{_date_zh(data.established_on)} 至 {end}"


def term_en(data: LicenceData) -> str:
    end = _date_en(data.term_until) if data.term_until else "long-term"
    return f"{_date_en(data.established_on)} to {end}"


# ---------------------------------------------------------------------------------------------
# Drawing

PAGE_W, PAGE_H = A4
RED = HexColor("#A3271F")
INK = HexColor("#1B1B1B")
GREY = HexColor("#55595F")
RULE = HexColor("#C9A9A4")
LEFT, RIGHT = 26 * mm, PAGE_W - 26 * mm
LABEL_W = 42 * mm


def _style(font: str, size: float, color: Color = INK, *, cjk: bool = False,
           leading: float | None = None) -> ParagraphStyle:
    return ParagraphStyle(
        name=f"{font}-{size}", fontName=font, fontSize=size, leading=leading or size * 1.32,
        textColor=color, alignment=TA_LEFT, wordWrap="CJK" if cjk else None,
        splitLongWords=True,
    )


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _draw_centered(c: Canvas, text: str, font: str, size: float, y: float, *,
                   color: Color = INK, char_space: float = 0) -> None:
    width = pdfmetrics.stringWidth(text, font, size) + char_space * max(len(text) - 1, 0)
    c.saveState()  # the character spacing must not leak into later text
    t = c.beginText((PAGE_W - width) / 2, y)
    t.setFont(font, size)
    t.setFillColor(color)
    t.setCharSpace(char_space)
    t.textOut(text)
    c.drawText(t)
    c.restoreState()


def _draw_frame(c: Canvas) -> None:
    c.saveState()
    c.setStrokeColor(RED)
    outer, inner = 11 * mm, 13.2 * mm
    c.setLineWidth(2.4)
    c.rect(outer, outer, PAGE_W - 2 * outer, PAGE_H - 2 * outer)
    c.setLineWidth(0.6)
    c.rect(inner, inner, PAGE_W - 2 * inner, PAGE_H - 2 * inner)
    # A small lozenge at each corner, between the two lines, as on printed licences.
    c.setFillColor(RED)
    mid = (outer + inner) / 2
    corners = ((mid, mid), (PAGE_W - mid, mid), (mid, PAGE_H - mid), (PAGE_W - mid, PAGE_H - mid))
    for x, y in corners:
        p = c.beginPath()
        s = 3.2 * mm
        p.moveTo(x, y + s)
        p.lineTo(x + s, y)
        p.lineTo(x, y - s)
        p.lineTo(x - s, y)
        p.close()
        c.drawPath(p, stroke=0, fill=1)
    c.restoreState()


def _draw_qr(c: Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code as vector squares (sharp at any zoom, a few hundred bytes)."""
    qr = segno.make(url, error="m", micro=False)
    border = 2
    rows = [tuple(row) for row in qr.matrix_iter(scale=1, border=border)]  # (segno gives tuples already)
    module = size / len(rows)
    c.saveState()
    c.setFillColor(HexColor("#FFFFFF"))
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(HexColor("#000000"))
    for r, row in enumerate(rows):
        col = 0
        while col < len(row):
            if row[col]:
                start = col
                while col < len(row) and row[col]:
                    col += 1
                c.rect(x + start * module, y + size - (r + 1) * module, (col - start) * module,
                       module, stroke=0, fill=1)
            else:
                col += 1
    c.restoreState()


def _rows(data: LicenceData) -> list[tuple[str, str, str, str]]:
    rep_zh = data.legal_representative_zh or data.legal_representative
    rep_en = data.legal_representative if data.legal_representative_zh else ""
    return [
        ("名称", "Name", data.name_zh, data.name_en),
        ("类型", "Type", data.company_type[0], data.company_type[1]),
        ("法定代表人", "Legal representative", rep_zh, rep_en),
        ("注册资本", "Registered capital", capital_zh(data.registered_capital, data.currency),
         capital_en(data.registered_capital, data.currency)),
        ("成立日期", "Date of establishment", _date_zh(data.established_on),
         _date_en(data.established_on)),
        ("营业期限", "Business term", term_zh(data), term_en(data)),
        ("住所", "Registered address", data.address_zh, data.address_en),
        ("经营范围", "Business scope", data.business_scope_zh, data.business_scope_en),
    ]


_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


def _has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _layout_rows(data: LicenceData, fonts: FontSet, scale: float):
    """Paragraphs for each field row at a type scale, and the height they need."""
    value_w = RIGHT - LEFT - LABEL_W
    label_zh = _style(fonts.cjk_sans, 11.5 * scale, cjk=True)
    label_en = _style(fonts.latin, 7.8 * scale, GREY)
    value_cjk = _style(fonts.cjk_serif, 12 * scale, cjk=True, leading=12 * scale * 1.45)
    value_latin = _style(fonts.latin, 12 * scale, leading=12 * scale * 1.45)
    value_en = _style(fonts.latin, 9.6 * scale, GREY, leading=9.6 * scale * 1.3)
    gap = 4.2 * mm * scale
    laid = []
    total = 0.0
    for lz, le, vz, ve in _rows(data):
        left = [_para(lz, label_zh), _para(le, label_en)]
        right = [_para(vz, value_cjk if _has_cjk(vz) else value_latin)]
        right += [_para(ve, value_en)] if ve else []
        lh = sum(p.wrap(LABEL_W - 3 * mm, PAGE_H)[1] for p in left)
        rh = sum(p.wrap(value_w, PAGE_H)[1] for p in right) + 1.2 * (len(right) - 1)
        h = max(lh, rh)
        laid.append((left, right, h))
        total += h + gap
    return laid, total, gap


def render_licence(data: LicenceData, *, fonts: FontSet | None = None) -> bytes:
    """A one-page A4 PDF of the licence in Chinese and English; the USCC is in its metadata."""
    fonts = fonts or find_fonts()
    region_zh, region_en = data.region_names
    authority_zh, authority_en = data.authority
    url = data.verify_url

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1, lang="zh-CN",
               initialFontName=fonts.latin, initialFontSize=10)
    c.setTitle(f"营业执照 Business Licence — {data.name_en}")
    c.setAuthor(authority_en)
    c.setSubject(f"Business licence, USCC {data.uscc}, {region_en}")
    # ASCII only, so the entry stays a plain PDFDocEncoding string any tool can read.
    status = f", {data.status.keyword}" if data.status else ""
    c.setKeywords(f"{USCC_KEYWORD}{data.uscc}, region:{data.region}, business licence{status}")
    c.setCreator("eresident")

    _draw_frame(c)

    # Header: title (centre), QR code (right), the USCC under the title on the left.
    top = PAGE_H - 24 * mm
    qr_size = 29 * mm
    qr_x = RIGHT - qr_size
    _draw_qr(c, url, qr_x, top - qr_size, qr_size)
    c.setFont(fonts.cjk_sans, 7.5)
    c.setFillColor(INK)
    c.drawCentredString(qr_x + qr_size / 2, top - qr_size - 3.6 * mm, "扫描二维码核验")
    c.setFont(fonts.latin, 6.8)
    c.setFillColor(GREY)
    c.drawCentredString(qr_x + qr_size / 2, top - qr_size - 6.6 * mm, "Scan to verify")

    _draw_centered(c, f"{region_zh} · {region_en}", fonts.cjk_sans, 9.5, top - 2 * mm,
                   color=GREY)
    _draw_centered(c, "营业执照", fonts.cjk_sans, 36, top - 17 * mm, color=RED, char_space=10)
    _draw_centered(c, "BUSINESS LICENCE", fonts.latin_bold, 13, top - 25 * mm, color=RED,
                   char_space=3.2)

    uscc_y = top - qr_size - 2 * mm
    c.setFillColor(INK)
    c.setFont(fonts.cjk_sans, 9.5)
    c.drawString(LEFT, uscc_y, "统一社会信用代码")
    label_w = pdfmetrics.stringWidth("统一社会信用代码", fonts.cjk_sans, 9.5)
    c.setFont(fonts.latin, 7.5)
    c.setFillColor(GREY)
    c.drawString(LEFT, uscc_y - 3.8 * mm, "Unified Social Credit Code")
    c.saveState()
    t = c.beginText(LEFT + max(label_w, 36 * mm) + 4 * mm, uscc_y - 3.4 * mm)
    t.setFont(fonts.latin_bold, 14)
    t.setFillColor(INK)
    t.setCharSpace(1.2)
    t.textOut(data.uscc)
    c.drawText(t)
    c.restoreState()

    header_bottom = uscc_y - 8 * mm
    c.setStrokeColor(RULE)
    c.setLineWidth(0.8)
    c.line(LEFT, header_bottom, RIGHT, header_bottom)

    # Footer block: signature note (left) and registration authority (right).
    footer_top = 72 * mm
    c.line(LEFT, footer_top, RIGHT, footer_top)

    # Field rows, scaled down as a whole when long addresses or scopes need the room.
    available = header_bottom - footer_top - 10 * mm
    scale = 1.0
    laid, total, gap = _layout_rows(data, fonts, scale)
    while total > available and scale > 0.62:
        scale -= 0.04
        laid, total, gap = _layout_rows(data, fonts, scale)
    if total > available:
        raise ValueError("the licence text does not fit on one page; shorten the business scope")
    y = header_bottom - 8 * mm
    for i, (left, right, h) in enumerate(laid):
        yy = y
        for p in left:
            _, ph = p.wrap(LABEL_W - 3 * mm, PAGE_H)
            p.drawOn(c, LEFT, yy - ph)
            yy -= ph
        yy = y
        for p in right:
            _, ph = p.wrap(RIGHT - LEFT - LABEL_W, PAGE_H)
            p.drawOn(c, LEFT + LABEL_W, yy - ph)
            yy -= ph + 1.2
        y -= h + gap
        if i < len(laid) - 1:
            c.saveState()
            c.setStrokeColor(RULE)
            c.setLineWidth(0.3)
            c.setDash(1, 2)
            c.line(LEFT, y + gap / 2, RIGHT, y + gap / 2)
            c.restoreState()

    # Registration authority and date, bottom right.
    ax = PAGE_W / 2 + 8 * mm
    aw = RIGHT - ax
    ay = footer_top - 6 * mm
    for text, style in (
        ("登记机关", _style(fonts.cjk_sans, 10, cjk=True)),
        ("Registration authority", _style(fonts.latin, 7.5, GREY)),
        (authority_zh, _style(fonts.cjk_serif, 12, cjk=True, leading=15)),
        (authority_en, _style(fonts.latin, 8.6, GREY)),
        (_date_zh(data.issued_on), _style(fonts.cjk_serif, 12, cjk=True, leading=17)),
        (_date_en(data.issued_on), _style(fonts.latin, 8.6, GREY)),
    ):
        p = _para(text, style)
        _, ph = p.wrap(aw, PAGE_H)
        p.drawOn(c, ax, ay - ph)
        ay -= ph + 0.6 * mm

    # Electronic-signature note, bottom left.
    nx, nw = LEFT, PAGE_W / 2 - LEFT
    ny = footer_top - 6 * mm
    for text, style in (
        ("电子签名", _style(fonts.cjk_sans, 10, RED, cjk=True)),
        ("Electronic signature", _style(fonts.latin, 7.5, GREY)),
        (f"本执照由{region_zh}文档签名证书加具 PAdES 电子签名。扫描二维码或访问以下网址核验真伪。",
         _style(fonts.cjk_serif, 8.6, cjk=True, leading=12)),
        (f"This licence carries a PAdES electronic signature by the {region_en} "
         "document-signing certificate. Scan the QR code or visit the address below to verify "
         "it.", _style(fonts.latin, 7.6, GREY, leading=9.6)),
    ):
        p = _para(text, style)
        _, ph = p.wrap(nw, PAGE_H)
        p.drawOn(c, nx, ny - ph)
        ny -= ph + 0.8 * mm

    # The verification address in full, on one line, for those who cannot scan.
    size = 8.0
    while pdfmetrics.stringWidth(url, fonts.mono, size) > RIGHT - LEFT - 24 * mm and size > 5:
        size -= 0.25
    url_y = max(min(ay, ny) - 5 * mm, 22 * mm)
    c.setFont(fonts.cjk_sans, 8)
    c.setFillColor(INK)
    c.drawString(LEFT, url_y, "核验 Verify")
    c.setFont(fonts.mono, size)
    c.drawString(LEFT + 20 * mm, url_y, url)

    c.setFont(fonts.cjk_sans, 7)
    c.setFillColor(GREY)
    c.drawCentredString(PAGE_W / 2, 17 * mm,
                        f"{region_zh}电子居民服务 · {region_en} e-Resident Services")

    c.showPage()
    c.save()
    return buf.getvalue()
