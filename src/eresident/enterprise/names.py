"""Check a proposed enterprise name against the Chinese naming rules, without a database.

Rules: 企业名称登记管理规定 (State Council decree 734, 2020) and 企业名称登记管理规定实施办法
(SAMR decree 82, 2023). A name is division + trade name (字号) + industry + organisational
form, e.g. 重庆两江 + 星海 + 贸易 + 有限公司; the word lists live in data/enterprise/*.yaml.
Conflicts with other names are the name index's job (name_index.py), not this module's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from anyascii import anyascii
from pypinyin import lazy_pinyin

from eresident.i18n import N_
from eresident.kit.errors import Message
__all__ = [
    "ERROR",
    "REVIEW",
    "WARNING",
    "Industry",
    "NameCheck",
    "NameProblem",
    "OrgForm",
    "check_name",
    "industries",
    "industry",
    "is_han",
    "regions",
    "to_simplified",
]

ERROR = "error"      # the name is refused
REVIEW = "review"    # a registrar must decide: no automatic approval
WARNING = "warning"  # shown to the applicant; does not stop the case

_BRACKETS = "（）"
_BRACKET_SEGMENT = re.compile(r"（([^（）]*)）")
_EN_ALLOWED_PUNCTUATION = set(" .,&()'-/")


@dataclass(frozen=True)
class NameProblem:
    """One thing wrong with a proposed name: the part at fault, a stable code, and the
    reason in English and Chinese."""

    field: str     # chinese, english, division, trade_name, industry, form
    code: str
    reason: str
    reason_zh: str
    severity: str = ERROR


@dataclass(frozen=True)
class Industry:
    code: str
    section: str          # GB/T 4754-2017 section letter
    section_en: str
    section_zh: str
    terms: tuple[str, ...]
    en: str
    en_words: tuple[str, ...]
    review: str | None = None


@dataclass(frozen=True)
class OrgForm:
    zh: str
    kind: str             # company or partnership
    en: str
    en_zh: str
    en_suffixes: tuple[str, ...]


@dataclass(frozen=True)
class NameCheck:
    """The parsed parts of a proposed name and every problem found with it."""

    chinese: str                  # normalised: no spaces, full-width brackets
    english: str
    region: str
    division: str | None
    division_placement: str | None  # "front" or "bracket"
    trade_name: str | None
    qualifier: str | None           # 国际, 中国 … directly before the industry
    industry: str | None            # the industry term as written
    industry_code: str | None
    industry_section: str | None
    form: str | None
    form_en: str | None
    china_marker: bool              # （中国） after the trade name
    trade_name_pinyin: str | None
    problems: tuple[NameProblem, ...]

    @property
    def errors(self) -> tuple[NameProblem, ...]:
        return tuple(p for p in self.problems if p.severity == ERROR)

    @property
    def reviews(self) -> tuple[NameProblem, ...]:
        return tuple(p for p in self.problems if p.severity == REVIEW)

    @property
    def warnings(self) -> tuple[NameProblem, ...]:
        return tuple(p for p in self.problems if p.severity == WARNING)

    @property
    def ok(self) -> bool:
        """No refusal: the name may be declared (maybe with review and warnings)."""
        return not self.errors

    @property
    def needs_review(self) -> bool:
        return bool(self.reviews)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        data["ok"] = self.ok
        data["needs_review"] = self.needs_review
        return data


# --------------------------------------------------------------------------- rule data


@dataclass(frozen=True)
class _Region:
    code: str
    divisions: tuple[str, ...]
    en_places: tuple[str, ...]


@dataclass(frozen=True)
class _Zone:
    zh: str
    en: str
    with_divisions: tuple[str, ...]


@dataclass(frozen=True)
class _Forbidden:
    word: str
    category: str
    severity: str
    rule: str
    reason_en: str
    reason_zh: str


@dataclass(frozen=True)
class _Rules:
    industries: tuple[Industry, ...]
    industry_by_term: dict[str, Industry]
    industry_by_code: dict[str, Industry]
    terms_longest_first: tuple[str, ...]
    forms_longest_first: tuple[OrgForm, ...]
    regions: dict[str, _Region]
    zones: tuple[_Zone, ...]
    other_divisions: frozenset[str]
    other_en_places: tuple[str, ...]
    forbidden: tuple[_Forbidden, ...]
    national_words: dict[str, bool]     # word -> may qualify the industry
    national_rule: str
    variants: dict[int, str]            # str.translate table, traditional -> simplified


def _load(name: str) -> Any:
    path = resources.files("eresident") / "data" / "enterprise" / name
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    ind = _load("industries.yaml")
    sections = ind["sections"]
    industry_list = tuple(
        Industry(code=e["code"], section=e["section"], section_en=sections[e["section"]]["en"],
                 section_zh=sections[e["section"]]["zh"], terms=tuple(e["terms"]), en=e["en"],
                 en_words=tuple(w.lower() for w in e["en_words"]), review=e.get("review"))
        for e in ind["industries"])
    by_term: dict[str, Industry] = {}
    for entry in industry_list:
        for term in entry.terms:
            if term in by_term:
                raise ValueError(f"industries.yaml: term {term} is in {by_term[term].code} and {entry.code}")
            by_term[term] = entry

    forms = tuple(OrgForm(zh=f["zh"], kind=f["kind"], en=f["en"], en_zh=f["en_zh"],
                          en_suffixes=tuple(f["en_suffixes"]))
                  for f in _load("forms.yaml")["forms"])

    div = _load("divisions.yaml")
    regions_ = {code: _Region(code=code, divisions=tuple(r["divisions"]),
                              en_places=tuple(p.lower() for p in r["en_places"]))
                for code, r in div["regions"].items()}
    zones = tuple(_Zone(zh=z["zh"], en=z["en"], with_divisions=tuple(z["with"])) for z in div["zones"])

    fw = _load("forbidden_words.yaml")
    forbidden = tuple(
        _Forbidden(word=w, category=c["id"], severity=c["severity"], rule=c["rule"],
                   reason_en=c["reason_en"], reason_zh=c["reason_zh"])
        for c in fw["categories"] for w in c["words"])
    national = {w: bool(v["as_qualifier"]) for w, v in fw["national_words"]["words"].items()}

    pairs = _load("variants.yaml")["pairs"].split()
    variants = {ord(p[0]): p[1] for p in pairs}

    return _Rules(
        industries=industry_list, industry_by_term=by_term,
        industry_by_code={i.code: i for i in industry_list},
        terms_longest_first=tuple(sorted(by_term, key=len, reverse=True)),
        forms_longest_first=tuple(sorted(forms, key=lambda f: len(f.zh), reverse=True)),
        regions=regions_, zones=zones, other_divisions=frozenset(div["others"]["zh"]),
        other_en_places=tuple(p.lower() for p in div["others"]["en_places"]),
        forbidden=forbidden, national_words=national, national_rule=fw["national_words"]["rule"],
        variants=variants)


def industries() -> tuple[Industry, ...]:
    """The industry terms a name may use, with their codes (for pick lists)."""
    return _rules().industries


def industry(code: str) -> Industry | None:
    return _rules().industry_by_code.get(code)


def regions() -> tuple[str, ...]:
    return tuple(_rules().regions)


def to_simplified(text: str) -> str:
    """Map the common traditional characters of trade names to simplified ones."""
    return text.translate(_rules().variants)


def is_han(char: str) -> bool:
    """A CJK unified ideograph (any extension block) or compatibility ideograph."""
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x323AF
            or 0xF900 <= cp <= 0xFAFF)


# --------------------------------------------------------------------------- helpers


def _normalise_chinese(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(text.split())
    return text.replace("(", "（").replace(")", "）")


def _normalise_english(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _en_key(text: str) -> str:
    """Lower case, dots, commas and brackets dropped: 'Co., Ltd.' -> 'co ltd'."""
    return " ".join(re.sub(r"[.,()]", " ", text.lower()).split())


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", anyascii(text).lower())


def _has_word(text_lower: str, phrase: str) -> bool:
    return re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text_lower) is not None


def _longest_prefix(text: str, candidates) -> str | None:
    best = None
    for c in candidates:
        if text.startswith(c) and (best is None or len(c) > len(best)):
            best = c
    return best


def _pinyin(trade: str) -> str:
    return "".join(lazy_pinyin(trade)).capitalize()


def _problem(problems: list[NameProblem], field: str, code: str, reason: str, reason_zh: str,
             severity: str = ERROR) -> None:
    problems.append(NameProblem(field=field, code=code, reason=reason, reason_zh=reason_zh,
                                severity=severity))


# --------------------------------------------------------------------------- the check


def check_name(*, chinese: str, english: str, region: str) -> NameCheck:
    """Parse and check a proposed Chinese name and its English name for a region ("LJ", "TF").

    Every problem found is listed; parts that could not be found are None.
    """
    rules = _rules()
    if region not in rules.regions:
        raise ValueError(f"unknown region {region!r}; known: {', '.join(rules.regions)}")
    own = rules.regions[region]
    other_region_divisions = {d for code, r in rules.regions.items() if code != region
                              for d in r.divisions}
    foreign_divisions = rules.other_divisions | other_region_divisions
    problems: list[NameProblem] = []

    text = _normalise_chinese(chinese or "")
    english_text = _normalise_english(english or "")
    parts: dict[str, Any] = dict(division=None, division_placement=None, trade_name=None,
                                 qualifier=None, industry=None, industry_code=None,
                                 industry_section=None, form=None, form_en=None,
                                 china_marker=False, trade_name_pinyin=None)

    if not text:
        _problem(problems, "chinese", "chinese-empty", N_("Enter the Chinese name."), "请填写中文名称。")
        _check_english(problems, english_text, parts, text, own, rules)
        return NameCheck(chinese=text, english=english_text, region=region,
                         problems=tuple(problems), **parts)

    bad = sorted({c for c in text if not (is_han(c) or c in _BRACKETS)})
    if bad:
        shown = " ".join(f"'{c}'" for c in bad[:8])
        _problem(problems, "chinese", "chinese-characters",
                 Message(N_("A Chinese name is written in Chinese characters only (brackets may hold the "
                            "division); remove %(characters)s."), characters=shown),
                 f"企业名称应当使用规范汉字，不得含有外文字母、数字或符号：{''.join(bad[:8])}。")
    traditional = [c for c in dict.fromkeys(text) if ord(c) in rules.variants]
    if traditional:
        pairs = ", ".join(f"{c} → {rules.variants[ord(c)]}" for c in traditional[:8])
        pairs_zh = "、".join(f"{c}→{rules.variants[ord(c)]}" for c in traditional[:8])
        _problem(problems, "chinese", "traditional-characters",
                 Message(N_("Use standard simplified characters: %(pairs)s."), pairs=pairs),
                 f"企业名称应当使用规范汉字（简体字）：{pairs_zh}。")
    s = text.translate(rules.variants)
    if s.count("（") != s.count("）"):
        _problem(problems, "chinese", "brackets", N_("The brackets in the name are not balanced."),
                 "名称中的括号不成对。")

    # --- organisational form (the end of the name)
    form = next((f for f in rules.forms_longest_first if s.endswith(f.zh)), None)
    if form:
        body = s[: -len(form.zh)]
        parts.update(form=form.zh, form_en=form.en)
    else:
        allowed = "、".join(f.zh for f in rules.forms_longest_first)
        if s.endswith("公司"):
            _problem(problems, "form", "form-not-allowed",
                     N_("A foreign-invested company ends its name in 有限公司, 有限责任公司 or "
                        "股份有限公司; '公司' alone or another form is not allowed."),
                     f"外商投资企业名称的组织形式应当为：{allowed}。")
            body = s[:-2]
        else:
            _problem(problems, "form", "form-missing",
                     N_("The name must end with the organisational form, e.g. 有限公司 "
                        "(Co., Ltd.)."),
                     f"企业名称应当标明组织形式，例如：{allowed}。")
            body = s

    # --- bracketed parts: （重庆） or （中国）
    bracket_division = None
    for match in _BRACKET_SEGMENT.finditer(body):
        content = match.group(1)
        if match.start() == 0:
            _problem(problems, "chinese", "bracket-position",
                     N_("A name cannot begin with brackets."), "企业名称不得以括号开头。")
        if content in own.divisions:
            if bracket_division:
                _problem(problems, "division", "division-twice",
                         N_("The division appears twice."), "行政区划名称重复。")
            bracket_division = content
        elif content == "中国":
            parts["china_marker"] = True
            _problem(problems, "trade_name", "china-marker",
                     N_("（中国） may be used only by a wholly or majority foreign-owned enterprise "
                        "whose trade name is its foreign investor's own; the formation must show it."),
                     "使用外国投资者字号的外商独资或者控股的外商投资企业，企业名称中可以含有“（中国）”字样。",
                     WARNING)
        elif any(content == z.zh for z in rules.zones):
            _zone_alone(problems, content, rules)
        elif content in foreign_divisions:
            _other_region(problems, content, own)
        else:
            _problem(problems, "chinese", "bracket-content",
                     Message(N_("Brackets may hold only the division (e.g. （%(division)s）) or （中国）, "
                                "not （%(content)s）."), division=own.divisions[-1], content=content),
                     f"括号内只能是行政区划名称或“中国”，不能是“{content}”。")
    core = _BRACKET_SEGMENT.sub("", body).replace("（", "").replace("）", "")

    # --- division (the start of the name)
    rest = core
    division = _longest_prefix(core, own.divisions)
    if division:
        rest = core[len(division):]
        zone = next((z for z in rules.zones if rest.startswith(z.zh)), None)
        if zone:
            if division in zone.with_divisions:
                division += zone.zh
            else:
                _problem(problems, "division", "zone-wrong-division",
                         Message(N_("%(zone)s (%(zone_en)s) belongs to %(divisions)s, not %(division)s."),
                                 zone=zone.zh, zone_en=zone.en, divisions="/".join(zone.with_divisions),
                                 division=division),
                         f"{zone.zh}应当与其所在的行政区划名称（{'、'.join(zone.with_divisions)}）连用。")
            rest = rest[len(zone.zh):]
        parts.update(division=division, division_placement="front")
    else:
        zone = next((z for z in rules.zones if core.startswith(z.zh)), None)
        foreign = _longest_prefix(core, foreign_divisions)
        national = _longest_prefix(core, rules.national_words)
        if zone:
            _zone_alone(problems, zone.zh, rules)
            rest = core[len(zone.zh):]
        elif foreign:
            _other_region(problems, foreign, own)
            rest = core[len(foreign):]
        elif national:
            _problem(problems, "chinese", "national-word-prefix",
                     Message(N_("A name may begin with %(word)s only with the State Council's approval, "
                                "which this service cannot give."), word=national),
                     f"企业名称冠以“{national}”字词的，应当报国务院批准。")
            rest = core[len(national):]
        if bracket_division:
            parts.update(division=bracket_division, division_placement="bracket")
        elif not (foreign or zone):
            _problem(problems, "division", "division-missing",
                     Message(N_("The name must include the division, e.g. %(division)s at the start "
                                "or （%(division)s） after the trade name; allowed here: %(allowed)s."),
                             division=own.divisions[-1], allowed=", ".join(own.divisions)),
                     f"企业名称应当含有企业所在地行政区划名称：{'、'.join(own.divisions)}。")
    if division and bracket_division:
        _problem(problems, "division", "division-twice",
                 N_("The division appears twice, at the start and in brackets."),
                 "行政区划名称重复。")

    # --- industry (just before the form) and its qualifier
    term = next((t for t in rules.terms_longest_first if rest.endswith(t)), None)
    if term and len(term) < len(rest):
        ind = rules.industry_by_term[term]
        parts.update(industry=term, industry_code=ind.code, industry_section=ind.section)
        trade = rest[: -len(term)]
        qualifier = next((w for w, ok in rules.national_words.items()
                          if ok and trade.endswith(w) and len(trade) > len(w)), None)
        if qualifier:
            parts["qualifier"] = qualifier
            trade = trade[: -len(qualifier)]
        if ind.review:
            _problem(problems, "industry", "industry-review",
                     Message(N_("%(term)s: %(review)s."), term=term, review=ind.review),
                     f"“{term}”须经登记机关审查。", REVIEW)
    else:
        trade = rest
        if term:  # the whole remainder is an industry term: there is no trade name
            parts.update(industry=term, industry_code=rules.industry_by_term[term].code,
                         industry_section=rules.industry_by_term[term].section)
            trade = ""
        else:
            _problem(problems, "industry", "industry-missing",
                     N_("Say what the company does just before the form, with a term from the "
                        "industry list (e.g. 贸易 trading, 科技 technology, 咨询 consulting)."),
                     "企业名称应当标明行业或者经营特点，请从行业表述列表中选择（例如：贸易、科技、咨询）。")

    # --- trade name
    parts["trade_name"] = trade or None
    if not trade:
        _problem(problems, "trade_name", "trade-name-missing",
                 N_("The name has no trade name (字号) between the division and the industry."),
                 "企业名称应当含有字号。")
    else:
        parts["trade_name_pinyin"] = _pinyin(trade) if all(is_han(c) for c in trade) else None
        if len(trade) < 2:
            _problem(problems, "trade_name", "trade-name-too-short",
                     N_("A trade name has at least two Chinese characters."),
                     "字号应当由两个以上汉字组成。")
        if trade in own.divisions or trade in foreign_divisions or any(trade == z.zh for z in rules.zones):
            _problem(problems, "trade_name", "trade-name-is-division",
                     Message(N_("%(trade)s is the name of an administrative division and cannot be the trade "
                                "name."), trade=trade),
                     f"县级以上地方行政区划名称不得作为字号：{trade}。")
        if trade in rules.industry_by_term:
            _problem(problems, "trade_name", "trade-name-is-industry",
                     Message(N_("%(trade)s is an industry term and cannot be the trade name."), trade=trade),
                     f"行业或者经营特点不得作为字号：{trade}。")
        _check_trade_words(problems, trade, rules)

    _check_english(problems, english_text, parts, s, own, rules)
    return NameCheck(chinese=text, english=english_text, region=region, problems=tuple(problems),
                     **parts)


def _zone_alone(problems: list[NameProblem], zone_name: str, rules: _Rules) -> None:
    zone = next(z for z in rules.zones if z.zh == zone_name)
    _problem(problems, "division", "zone-without-division",
             Message(N_("%(zone)s (%(zone_en)s) is a development zone: use it only right after its division, "
                        "e.g. %(example)s."), zone=zone.zh, zone_en=zone.en,
                     example=zone.with_divisions[0] + zone.zh),
             f"开发区等区域名称应当与行政区划名称连用，不得单独使用：{zone.with_divisions[0]}{zone.zh}。")


def _other_region(problems: list[NameProblem], name: str, own: _Region) -> None:
    _problem(problems, "division", "division-other-region",
             Message(N_("%(name)s is not a division of this region; a company registered here uses "
                        "%(allowed)s."), name=name, allowed=", ".join(own.divisions)),
             f"行政区划名称应当是企业所在地的行政区划名称（{'、'.join(own.divisions)}），不能是“{name}”。")


def _check_trade_words(problems: list[NameProblem], trade: str, rules: _Rules) -> None:
    for word, as_qualifier in rules.national_words.items():
        if word in trade:
            if as_qualifier:
                _problem(problems, "trade_name", "national-word-position",
                         Message(N_("%(word)s may stand in the middle of a name only directly before the "
                                    "industry (e.g. 星海%(word)s贸易), not in the trade name."), word=word),
                         f"企业名称中间含有“{word}”字词的，该字词应当是行业限定语。")
            else:
                _problem(problems, "trade_name", "national-word-position",
                         Message(N_("%(word)s may not be used in an enterprise name."), word=word),
                         f"企业名称冠以或者含有“{word}”字词的，应当报国务院批准。")
    for zone in rules.zones:
        if zone.zh in trade:
            _zone_alone(problems, zone.zh, rules)
    seen: set[str] = set()
    for item in rules.forbidden:
        if item.word in trade and item.word not in seen:
            seen.add(item.word)
            _problem(problems, "trade_name", f"word-{item.category}",
                     Message(N_("%(word)s: %(reason)s (%(rule)s)."), word=item.word, reason=item.reason_en,
                             rule=item.rule),
                     f"“{item.word}”：{item.reason_zh}。", item.severity)


def _check_english(problems: list[NameProblem], english: str, parts: dict[str, Any], chinese: str,
                   own: _Region, rules: _Rules) -> None:
    if not english:
        _problem(problems, "english", "english-empty",
                 N_("Enter the English name that goes alongside the Chinese one."), "请填写英文名称。")
        return
    bad = sorted({c for c in english
                  if not (c.isascii() and c.isalnum()) and c not in _EN_ALLOWED_PUNCTUATION
                  and not (c.isalpha() and unicodedata.name(c, "").startswith("LATIN"))})
    if bad:
        _problem(problems, "english", "english-not-latin",
                 Message(N_("The English name uses Latin letters, digits, spaces and . , & ( ) ' - / only; "
                            "remove %(characters)s."), characters=" ".join(repr(c) for c in bad[:8])),
                 "英文名称只能使用拉丁字母、数字、空格和常用标点。")
    lower = english.lower()
    key = _en_key(english)

    # legal form
    def ends_with_any(form: OrgForm) -> bool:
        return any(key == _en_key(suf) or key.endswith(" " + _en_key(suf)) for suf in form.en_suffixes)

    form = next((f for f in rules.forms_longest_first if f.zh == parts["form"]), None)
    if form is None or not ends_with_any(form):
        other = next((f for f in rules.forms_longest_first if ends_with_any(f)), None)
        if form is not None and other is not None and other.kind != form.kind:
            _problem(problems, "english", "english-form-mismatch",
                     Message(N_("The English name ends like a %(other)s but the Chinese name is a "
                                "%(form)s (%(form_zh)s); end it with '%(ending)s'."),
                             other=other.en_zh, form=form.en_zh, form_zh=form.zh, ending=form.en),
                     f"英文名称的组织形式与中文名称（{form.zh}）不一致。")
        elif other is None:
            wanted = form.en if form else "Co., Ltd."
            _problem(problems, "english", "english-form-missing",
                     Message(N_("The English name must end with its legal form, e.g. '%(ending)s'."),
                             ending=wanted),
                     f"英文名称应当以组织形式结尾，例如“{wanted}”。")

    # correspondence with the Chinese name (warnings: a registrar compares them)
    trade = parts["trade_name"]
    if trade and all(is_han(c) for c in trade):
        letters = _letters(english)
        spellings = {_letters("".join(lazy_pinyin(trade))),
                     _letters("".join(lazy_pinyin(c)[0] for c in trade))}
        if not any(sp and sp in letters for sp in spellings):
            _problem(problems, "english", "english-trade-name",
                     Message(N_("The English name does not contain the pinyin '%(pinyin)s' of the "
                                "trade name %(trade)s; that is fine for the investor's own brand or a "
                                "translation, which a registrar will compare."),
                             pinyin=_pinyin(trade), trade=trade),
                     f"英文名称未包含字号“{trade}”的拼音（{_pinyin(trade)}），将由登记机关核对。",
                     WARNING)
    if any(_has_word(lower, p) for p in own.en_places):
        pass
    elif any(_has_word(lower, p) for r in rules.regions.values() if r is not own for p in r.en_places) \
            or any(_has_word(lower, p) for p in rules.other_en_places):
        _problem(problems, "english", "english-division-other-region",
                 Message(N_("The English name names another place; a company registered here is %(places)s."),
                         places=" / ".join(p.title() for p in own.en_places)),
                 "英文名称中的地名与企业所在地不一致。")
    elif parts["division"]:
        _problem(problems, "english", "english-division",
                 Message(N_("The English name usually names the place too, e.g. '%(place)s …'."),
                         place=own.en_places[0].title()),
                 "英文名称通常包含企业所在地地名。", WARNING)
    code = parts["industry_code"]
    if code:
        ind = rules.industry_by_code[code]
        if not any(_has_word(lower, w) for w in ind.en_words):
            _problem(problems, "english", "english-industry",
                     Message(N_("The English name does not say the industry (%(industry_en)s) that the "
                                "Chinese name says (%(industry)s)."), industry_en=ind.en,
                             industry=parts["industry"]),
                     f"英文名称未体现行业表述“{parts['industry']}”。", WARNING)
    if re.search(r"\bchin(a|ese)\b", lower) and "中国" not in chinese and "中华" not in chinese:
        _problem(problems, "english", "english-china",
                 N_("The English name says 'China' but the Chinese name does not contain 中国; "
                    "the two must say the same."),
                 "英文名称含有“China”，但中文名称不含“中国”。")
    if _has_word(lower, "international") and "国际" not in chinese:
        _problem(problems, "english", "english-international",
                 N_("The English name says 'International' but the Chinese name does not contain 国际."),
                 "英文名称含有“International”，但中文名称不含“国际”。", WARNING)
