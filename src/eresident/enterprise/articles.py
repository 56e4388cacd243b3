"""Articles of association (公司章程) of a wholly foreign-owned limited company or of a joint venture
with a Chinese partner, from a bilingual standard template, as PDF. The signatories sign the SHA-256
of exactly these bytes; a Chinese partner signs the file itself with its certificate."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from eresident.documents.licence_pdf import capital_en, capital_zh, find_fonts, paragraph_markup


@dataclass(frozen=True)
class Investor:
    name: str
    country: str
    share_percent: Decimal
    contribution: Decimal
    uscc: str | None = None  # a Chinese partner company's Unified Social Credit Code
    id_masked: str | None = None  # a Chinese citizen partner's identity card number, masked


@dataclass(frozen=True)
class ArticlesData:
    name_zh: str
    name_en: str
    address_zh: str
    address_en: str
    registered_capital: Decimal
    currency: str
    scope_zh: str
    scope_en: str
    investors: tuple[Investor, ...]
    legal_representative: str
    directors: tuple[str, ...]
    supervisor: str
    signatories: tuple[str, ...]  # "NAME (e-resident LJ-ER-2026-000001)"
    term_years: int | None
    case_number: str
    revision: int
    drawn_up_on: date
    joint_venture: bool = False


def _styles():
    fonts = find_fonts()
    title = ParagraphStyle("title", fontName=fonts.cjk_sans, fontSize=16, leading=22, alignment=TA_CENTER,
                           wordWrap="CJK")
    subtitle = ParagraphStyle("subtitle", fontName=fonts.latin_bold, fontSize=11, leading=15,
                              alignment=TA_CENTER)
    zh = ParagraphStyle("zh", fontName=fonts.cjk_serif, fontSize=10, leading=15, wordWrap="CJK")
    en = ParagraphStyle("en", fontName=fonts.latin, fontSize=9.5, leading=13, textColor="#333333")
    head = ParagraphStyle("head", fontName=fonts.cjk_sans, fontSize=11, leading=16, spaceBefore=6,
                          wordWrap="CJK")
    return title, subtitle, zh, en, head


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _articles(d: ArticlesData) -> list[tuple[str, str, str]]:
    """(heading, Chinese text, English text) per article."""
    def who_zh(i: Investor) -> str:
        if i.uscc:
            return f"{i.name}（中方，统一社会信用代码{i.uscc}）"
        return f"{i.name}（中方自然人，身份证号{i.id_masked}）" if i.id_masked else f"{i.name}（{i.country}）"

    def who_en(i: Investor) -> str:
        if i.uscc:
            return f"{i.name} (Chinese party, USCC {i.uscc})"
        return f"{i.name} (Chinese citizen, ID {i.id_masked})" if i.id_masked else f"{i.name} ({i.country})"

    investors_zh = "；".join(f"{who_zh(i)}，认缴出资{capital_zh(i.contribution, d.currency)}，"
                            f"占注册资本{_pct(i.share_percent)}" for i in d.investors)
    investors_en = "; ".join(f"{who_en(i)}, subscribing {capital_en(i.contribution, d.currency)}, "
                            f"{_pct(i.share_percent)} of the registered capital" for i in d.investors)
    if d.joint_venture:
        type_zh = "公司为中外合资的有限责任公司，依照《中华人民共和国公司法》《中华人民共和国外商投资法》设立。"
        type_en = ("The company is a Sino-foreign joint venture limited liability company formed under the Company "
                   "Law and the Foreign Investment Law of the People's Republic of China.")
        signing_zh = ("中方股东以登记机关信任列表所列电子认证服务机构签发的单位证书或个人证书，对本文件作电子签名"
                      "（PAdES），不得改动本文件内容。")
        signing_en = (" Each Chinese party signs this file itself with its organisation or personal certificate "
                      "from a certification authority on the registration authority's trust list (PAdES), "
                      "without changing its content.")
    else:
        type_zh = "公司为外商独资的有限责任公司，依照《中华人民共和国公司法》《中华人民共和国外商投资法》设立。"
        type_en = ("The company is a wholly foreign-owned limited liability company formed under the Company Law "
                   "and the Foreign Investment Law of the People's Republic of China.")
        signing_zh = signing_en = ""
    term_zh = f"{d.term_years}年" if d.term_years else "长期"
    term_en = f"{d.term_years} years" if d.term_years else "long-term (no fixed end)"
    return [
        ("第一条 名称 / Article 1 Name",
         f"公司名称：{d.name_zh}。", f"The name of the company is {d.name_zh} ({d.name_en})."),
        ("第二条 住所 / Article 2 Domicile",
         f"公司住所：{d.address_zh}。", f"The company is domiciled at {d.address_en}."),
        ("第三条 类型 / Article 3 Type", type_zh, type_en),
        ("第四条 注册资本 / Article 4 Registered capital",
         f"公司注册资本为{capital_zh(d.registered_capital, d.currency)}，股东应自公司成立之日起五年内缴足。",
         f"The registered capital is {capital_en(d.registered_capital, d.currency)}; shareholders pay it in "
         "full within five years of the company's establishment."),
        ("第五条 股东 / Article 5 Shareholders", f"股东及其出资：{investors_zh}。",
         f"The shareholders and their contributions: {investors_en}."),
        ("第六条 经营范围 / Article 6 Business scope", d.scope_zh, d.scope_en),
        ("第七条 股东会 / Article 7 Shareholders' meeting",
         "股东会由全体股东组成，是公司的权力机构；股东按照出资比例行使表决权。",
         "The shareholders' meeting, made up of all shareholders, is the company's highest authority; "
         "shareholders vote in proportion to their contributions."),
        ("第八条 董事 / Article 8 Directors",
         f"公司董事：{'、'.join(d.directors)}。董事任期三年，任期届满可连任。",
         f"The directors are {', '.join(d.directors)}. A director serves three years and may be re-appointed."),
        ("第九条 监事 / Article 9 Supervisor",
         f"公司设监事一名：{d.supervisor}。董事、高级管理人员不得兼任监事。",
         f"The company has one supervisor: {d.supervisor}. No director or senior manager may be the supervisor."),
        ("第十条 法定代表人 / Article 10 Legal representative",
         f"公司法定代表人：{d.legal_representative}。",
         f"The legal representative of the company is {d.legal_representative}."),
        ("第十一条 营业期限 / Article 11 Term", f"公司营业期限：{term_zh}，自营业执照签发之日起计算。",
         f"The business term is {term_en}, counted from the date the business licence is issued."),
        ("第十二条 利润分配 / Article 12 Profits",
         "公司依法提取法定公积金后，按照股东实缴出资比例分配利润。",
         "After the statutory reserve is set aside, profits are distributed in proportion to the "
         "contributions paid in."),
        ("第十三条 解散 / Article 13 Dissolution",
         "公司因章程规定的营业期限届满、股东会决议或依法被吊销营业执照等原因解散，并依法清算。",
         "The company is dissolved when its term ends, by resolution of the shareholders' meeting, or when "
         "its licence is revoked, and is then liquidated according to law."),
        ("第十四条 电子签署 / Article 14 Electronic signature",
         "本章程由全体签署人以电子方式签署：每位签署人确认本文件的SHA-256摘要，登记机关以其密钥对签署记录"
         "进行签名。" + signing_zh + "中英文本如有不一致，以中文本为准。",
         "These articles are signed electronically by every signatory: each confirms the SHA-256 digest of "
         "this file and the registration authority signs a record of it with its key." + signing_en
         + " If the Chinese and English texts differ, the Chinese text prevails."),
    ]


def render_articles(data: ArticlesData) -> bytes:
    title, subtitle, zh, en, head = _styles()
    fonts = find_fonts()

    def para(text: str, style: ParagraphStyle) -> Paragraph:
        # a Chinese name inside an English line is drawn in the CJK font
        return Paragraph(paragraph_markup(text), style)

    story = [para(f"{data.name_zh}章程", title),
             para(f"Articles of Association of {data.name_en}", subtitle),
             para(f"案件编号 Case {data.case_number} · 版本 Revision {data.revision} · "
                  f"{data.drawn_up_on.isoformat()}", en),
             Spacer(1, 5 * mm)]
    for heading, text_zh, text_en in _articles(data):
        story += [para(heading, head), para(text_zh, zh), para(text_en, en)]
    story += [Spacer(1, 6 * mm), para("签署人 / Signatories", head)]
    story += [para(f"{i + 1}. {name}", en) for i, name in enumerate(data.signatories)]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=22 * mm, rightMargin=22 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=f"Articles of Association — {data.name_en}",
                            author="eresident", subject=f"case {data.case_number} revision {data.revision}",
                            invariant=1, initialFontName=fonts.latin)  # no unembedded Helvetica in the file
    doc.build(story)
    return buffer.getvalue()
