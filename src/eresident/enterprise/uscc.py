"""Check and issue Unified Social Credit Codes (统一社会信用代码, GB 32100-2015).

python-stdnum's ``stdnum.cn.uscc`` computes the final check character correctly, and this
module uses it for that. stdnum does not check the rest, so this module adds its own checks:
the registration authority and entity type codes and the combinations the standard allows,
the GB/T 2260 division code's shape, and the GB 11714 check character of the embedded
organisation code. It also rejects authority codes A, N and Y, which stdnum refuses only
because it expects the first eight characters to be digits.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from dataclasses import asdict, dataclass
from typing import TextIO

from stdnum.cn import uscc as _stdnum_uscc

from eresident.i18n import N_
from eresident.kit.errors import Message

__all__ = [
    "ALPHABET",
    "AUTHORITIES",
    "DIVISION_BY_REGION",
    "PROVINCES",
    "SERIAL_CAPACITY",
    "UsccError",
    "UsccInfo",
    "check_character",
    "division_problem",
    "issue",
    "main",
    "organisation_check_character",
    "validate",
]

# GB 32100-2015 section 4: the digits and the capital letters except I, O, Z, S and V.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_EXCLUDED = "IOZSV"
_USCC_LENGTH = 18

# GB 11714-1997: weights of the eight body characters; letters count A=10 ... Z=35 (the
# full Latin alphabet, not the USCC's own 31-character one).
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# GB 32100-2015 appendix A (with the later additions A and N): registration authority code
# -> (English label, Chinese label, {entity type code: (English, Chinese)}).
AUTHORITIES: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "1": ("institutional establishment administration", "机构编制", {
        "1": ("government organ", "机关"),
        "2": ("public institution", "事业单位"),
        "3": ("mass organisation under the central establishment office", "中央编办直接管理机构编制的群众团体"),
        "9": ("other", "其他"),
    }),
    "2": ("foreign affairs", "外交", {
        "1": ("resident foreign news agency", "外国常驻新闻机构"),
        "9": ("other", "其他"),
    }),
    "3": ("justice administration", "司法行政", {
        "1": ("law firm", "律师执业机构"),
        "2": ("notary office", "公证处"),
        "3": ("grassroots legal service office", "基层法律服务所"),
        "4": ("forensic appraisal institution", "司法鉴定机构"),
        "5": ("arbitration commission", "仲裁委员会"),
        "9": ("other", "其他"),
    }),
    "4": ("culture", "文化", {
        "1": ("foreign cultural centre in China", "外国在华文化中心"),
        "9": ("other", "其他"),
    }),
    "5": ("civil affairs", "民政", {
        "1": ("social organisation", "社会团体"),
        "2": ("private non-enterprise unit", "民办非企业单位"),
        "3": ("foundation", "基金会"),
        "9": ("other", "其他"),
    }),
    "6": ("tourism", "旅游", {
        "1": ("representative office of a foreign tourism authority", "外国旅游部门常驻代表机构"),
        "2": ("representative office of a Hong Kong, Macao or Taiwan tourism authority",
              "港澳台地区旅游部门常驻内地（大陆）代表机构"),
        "9": ("other", "其他"),
    }),
    "7": ("religious affairs", "宗教", {
        "1": ("venue for religious activities", "宗教活动场所"),
        "2": ("religious school", "宗教院校"),
        "9": ("other", "其他"),
    }),
    "8": ("trade unions", "工会", {
        "1": ("grassroots trade union", "基层工会"),
        "9": ("other", "其他"),
    }),
    "9": ("market regulation (industry and commerce)", "工商", {
        "1": ("enterprise", "企业"),
        "2": ("individual business", "个体工商户"),
        "3": ("farmers' specialised cooperative", "农民专业合作社"),
    }),
    "A": ("Central Military Commission establishment office", "中央军委改革和编制办公室", {
        "1": ("military public institution", "军队事业单位"),
        "9": ("other", "其他"),
    }),
    "N": ("agriculture", "农业", {
        "1": ("group-level collective economic organisation", "组级集体经济组织"),
        "2": ("village-level collective economic organisation", "村级集体经济组织"),
        "3": ("township-level collective economic organisation", "乡镇级集体经济组织"),
        "9": ("other", "其他"),
    }),
    "Y": ("other registration authorities", "其他", {
        "1": ("other", "其他"),
    }),
}

# GB/T 2260 province-level codes (first two digits); "10" is the code central-level
# registrations use (100000, e.g. the big state banks).
PROVINCES: dict[str, tuple[str, str]] = {
    "10": ("national (central level)", "中央"),
    "11": ("Beijing", "北京市"), "12": ("Tianjin", "天津市"), "13": ("Hebei", "河北省"),
    "14": ("Shanxi", "山西省"), "15": ("Inner Mongolia", "内蒙古自治区"),
    "21": ("Liaoning", "辽宁省"), "22": ("Jilin", "吉林省"), "23": ("Heilongjiang", "黑龙江省"),
    "31": ("Shanghai", "上海市"), "32": ("Jiangsu", "江苏省"), "33": ("Zhejiang", "浙江省"),
    "34": ("Anhui", "安徽省"), "35": ("Fujian", "福建省"), "36": ("Jiangxi", "江西省"),
    "37": ("Shandong", "山东省"), "41": ("Henan", "河南省"), "42": ("Hubei", "湖北省"),
    "43": ("Hunan", "湖南省"), "44": ("Guangdong", "广东省"),
    "45": ("Guangxi", "广西壮族自治区"), "46": ("Hainan", "海南省"),
    "50": ("Chongqing", "重庆市"), "51": ("Sichuan", "四川省"), "52": ("Guizhou", "贵州省"),
    "53": ("Yunnan", "云南省"), "54": ("Tibet", "西藏自治区"), "61": ("Shaanxi", "陕西省"),
    "62": ("Gansu", "甘肃省"), "63": ("Qinghai", "青海省"), "64": ("Ningxia", "宁夏回族自治区"),
    "65": ("Xinjiang", "新疆维吾尔自治区"), "71": ("Taiwan", "台湾省"),
    "81": ("Hong Kong", "香港特别行政区"), "82": ("Macao", "澳门特别行政区"),
}
_MUNICIPALITIES = {"11", "12", "31", "50"}
# Second pair of a municipality: 01 districts, 02 counties, 03 county-level cities (Chongqing
# until 2006: codes already issued stay valid after a division changes).
_MUNICIPALITY_PREFECTURES = {"00", "01", "02", "03"}
_PROVINCE_ONLY = {"10", "71", "81", "82"}

# The division code each node issues under. Distinct codes keep the regions' serial spaces
# apart: the same serial in LJ and TF yields different USCCs. Settings may override them.
DIVISION_BY_REGION = {"LJ": "500000", "TF": "510100"}

# Organisation codes this platform issues: "E" + seven base-31 digits of the serial + the
# GB 11714 check character. The "E" prefix keeps them clear of the "MA..." series that
# China's national code centre assigns to new entities since 2015.
_ISSUE_PREFIX = "E"
_SERIAL_DIGITS = 7
SERIAL_CAPACITY = len(ALPHABET) ** _SERIAL_DIGITS  # 27,512,614,111 per node


class UsccError(ValueError):
    """An invalid USCC. ``reason`` is a plain-English sentence that can be shown to a person (a
    `Message`, so pages translate it; as a string it is English);
    ``check`` is a short machine code (length, charset, authority, entity_type, division,
    organisation_check, check_character)."""

    def __init__(self, reason: str, check: str = "format") -> None:
        super().__init__(reason)
        self.reason = reason
        self.check = check

    def __reduce__(self):
        return (type(self), (self.reason, self.check))


@dataclass(frozen=True)
class UsccInfo:
    """The parts of a valid USCC, with labels."""

    code: str
    authority_code: str
    authority_en: str
    authority_zh: str
    entity_type_code: str
    entity_type_en: str
    entity_type_zh: str
    division_code: str
    province_en: str
    province_zh: str
    organisation_code: str
    check_character: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def check_character(first17: str) -> str:
    """The final check character (position 18) for the first 17 characters."""
    if len(first17) != 17 or any(c not in ALPHABET for c in first17):
        raise ValueError("need 17 characters of the USCC alphabet")
    return _stdnum_uscc.calc_check_digit(first17)


def _gb11714_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def organisation_check_character(body: str) -> str:
    """The GB 11714 check character ('0'-'9' or 'X') of an 8-character organisation code body."""
    if len(body) != 8 or any(not ("0" <= c <= "9" or "A" <= c <= "Z") for c in body):
        raise ValueError("an organisation code body is 8 digits or capital letters")
    remainder = 11 - sum(_gb11714_value(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def _normalise(code: str) -> str:
    # NFKC turns full-width digits and letters (common in Chinese input) into ASCII.
    text = unicodedata.normalize("NFKC", code)
    return "".join(c for c in text if c not in " -\t\r\n").upper()


def division_problem(division: str) -> str | None:
    """Why a six-digit GB/T 2260 code is not well-formed, or None if it is."""
    if len(division) != 6 or not division.isascii() or not division.isdigit():
        return _not_well_formed(division, Message(N_("it must be six digits")))
    province, prefecture, county = division[:2], division[2:4], division[4:]
    if province not in PROVINCES:
        return _not_well_formed(division, Message(N_("%(province)s is not a province-level code of GB/T 2260"),
                                                  province=province))
    if province in _PROVINCE_ONLY and division[2:] != "0000":
        return _not_well_formed(division, Message(N_("%(province)s has no subdivisions in GB/T 2260, so it must "
                                                     "be %(province)s0000"), province=province))
    if province in _MUNICIPALITIES and prefecture not in _MUNICIPALITY_PREFECTURES:
        return _not_well_formed(division, Message(N_("%(municipality)s is a municipality, its second pair is 00, "
                                                     "01, 02 or 03, not %(pair)s"),
                                                  municipality=PROVINCES[province][0], pair=prefecture))
    if not (prefecture <= "70" or prefecture == "90"):
        return _not_well_formed(division, Message(N_("the prefecture pair %(pair)s is outside GB/T 2260's "
                                                     "ranges (01-70, 90)"), pair=prefecture))
    if prefecture == "00" and county != "00":
        return _not_well_formed(division, Message(N_("a province-level code ends in 0000")))
    return None


def _not_well_formed(division: str, why: Message) -> Message:
    return Message(N_("the administrative division code %(division)s is not well-formed: %(why)s"),
                   division=division, why=why)


def validate(code: str) -> UsccInfo:
    """Check a USCC completely and return its parts; raise UsccError with the first problem.

    Spaces and hyphens are ignored, lower case and full-width characters are accepted.
    """
    if not isinstance(code, str):
        raise UsccError(Message(N_("a USCC is a text of 18 characters")), "format")
    number = _normalise(code)
    if len(number) != _USCC_LENGTH:
        raise UsccError(Message(N_("a USCC has 18 characters; this one has %(count)s"), count=len(number)),
                        "length")
    if number[0] not in AUTHORITIES:
        raise UsccError(Message(N_("position 1 (registration authority) '%(char)s' is not a valid code; valid "
                                   "codes are %(codes)s"), char=number[0], codes=", ".join(AUTHORITIES)),
                        "authority")
    for position, char in enumerate(number, start=1):
        if char not in ALPHABET:
            why = (Message(N_("'%(char)s' is one of the letters I, O, Z, S and V that GB 32100 leaves out"),
                           char=char)
                   if char in _EXCLUDED else Message(N_("'%(char)s' is not allowed"), char=char))
            raise UsccError(Message(N_("position %(position)s: %(why)s; a USCC uses the digits and the capital "
                                       "letters except I, O, Z, S and V"), position=position, why=why), "charset")

    authority, entity_type = number[0], number[1]
    authority_en, authority_zh, types = AUTHORITIES[authority]
    if entity_type not in types:
        raise UsccError(Message(N_("position 2 (entity type) '%(char)s' is not valid for registration authority "
                                   "%(authority)s (%(label)s); valid codes are %(codes)s"), char=entity_type,
                                authority=authority, label=authority_en, codes=", ".join(types)),
                        "entity_type")

    division = number[2:8]
    problem = division_problem(division)
    if problem:
        raise UsccError(problem, "division")

    organisation = number[8:17]
    expected_org = organisation_check_character(organisation[:8])
    if organisation[8] != expected_org:
        raise UsccError(Message(N_("the organisation code's own check character (GB 11714) is wrong: for "
                                   "%(body)s it should be '%(expected)s' but is '%(found)s'"),
                                body=organisation[:8], expected=expected_org, found=organisation[8]),
                        "organisation_check")

    expected = check_character(number[:17])
    if number[17] != expected:
        raise UsccError(Message(N_("the check character should be '%(expected)s' but is '%(found)s'"),
                                expected=expected, found=number[17]), "check_character")

    type_en, type_zh = types[entity_type]
    province_en, province_zh = PROVINCES[division[:2]]
    return UsccInfo(code=number, authority_code=authority, authority_en=authority_en,
                    authority_zh=authority_zh, entity_type_code=entity_type,
                    entity_type_en=type_en, entity_type_zh=type_zh, division_code=division,
                    province_en=province_en, province_zh=province_zh,
                    organisation_code=organisation, check_character=number[17])


def _serial_body(serial: int) -> str:
    digits = []
    for _ in range(_SERIAL_DIGITS):
        serial, digit = divmod(serial, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return _ISSUE_PREFIX + "".join(reversed(digits))


def issue(*, authority: str = "9", entity_type: str = "1", division_code: str, serial: int) -> str:
    """Build the USCC for a node's ``serial`` (0 <= serial < SERIAL_CAPACITY).

    The organisation code is "E" + the serial in seven base-31 digits + its GB 11714 check
    character, so distinct serials always give distinct codes; the caller draws serials from
    a never-reused sequence of its node.
    """
    if isinstance(serial, bool) or not isinstance(serial, int):
        raise TypeError("serial must be an int")
    if not 0 <= serial < SERIAL_CAPACITY:
        raise ValueError(f"serial must be in 0..{SERIAL_CAPACITY - 1}")
    if authority not in AUTHORITIES or entity_type not in AUTHORITIES[authority][2]:
        raise ValueError(f"no entity type {entity_type!r} under registration authority {authority!r}")
    problem = division_problem(division_code)
    if problem:
        raise ValueError(problem)
    body = _serial_body(serial)
    first17 = authority + entity_type + division_code + body + organisation_check_character(body)
    return first17 + check_character(first17)


def main(code: str, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`eresident uscc validate CODE`: print the parts as JSON and return 0, or the reason and 1."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        info = validate(code)
    except UsccError as exc:
        print(json.dumps({"valid": False, "check": exc.check, "reason": exc.reason},
                         ensure_ascii=False), file=err)
        return 1
    print(json.dumps({"valid": True, **info.to_dict()}, ensure_ascii=False, indent=2), file=out)
    return 0
