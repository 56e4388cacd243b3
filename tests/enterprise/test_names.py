"""Enterprise name rules: each rule with a name that passes it and one that breaks it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eresident.enterprise import names
from eresident.enterprise.names import ERROR, REVIEW, WARNING, check_name

GOOD_EN = "Chongqing Liangjiang Xinghai Trading Co., Ltd."


def check(chinese: str, english: str = GOOD_EN, region: str = "LJ"):
    return check_name(chinese=chinese, english=english, region=region)


def codes(result, severity: str | None = None) -> set[str]:
    return {p.code for p in result.problems if severity is None or p.severity == severity}


def test_a_standard_name_parses_into_its_four_parts_without_problems():
    result = check("重庆两江星海贸易有限公司")
    assert result.problems == ()
    assert result.ok and not result.needs_review
    assert (result.division, result.trade_name, result.industry, result.form) == (
        "重庆两江", "星海", "贸易", "有限公司")
    assert (result.industry_code, result.industry_section) == ("trade", "F")
    assert result.form_en == "Co., Ltd."
    assert result.division_placement == "front"
    assert result.trade_name_pinyin == "Xinghai"


def test_result_is_json_ready():
    data = check("重庆星海贸易公司").to_dict()
    text = json.dumps(data, ensure_ascii=False)
    assert '"form-not-allowed"' in text and data["ok"] is False


def test_unknown_region_is_a_programming_error():
    with pytest.raises(ValueError):
        check_name(chinese="重庆星海贸易有限公司", english=GOOD_EN, region="XX")


# --- division

@pytest.mark.parametrize("chinese, division", [
    ("重庆星海贸易有限公司", "重庆"),
    ("重庆市星海贸易有限公司", "重庆市"),
    ("重庆两江新区星海贸易有限公司", "重庆两江新区"),
    ("重庆市两江新区星海贸易有限公司", "重庆市两江新区"),
])
def test_lj_divisions(chinese, division):
    result = check(chinese)
    assert result.division == division
    assert "division-missing" not in codes(result) and result.ok


@pytest.mark.parametrize("chinese, division", [
    ("四川星海科技有限公司", "四川"),
    ("四川省星海科技有限公司", "四川省"),
    ("成都星海科技有限公司", "成都"),
    ("四川天府新区星海科技有限公司", "四川天府新区"),
    ("成都天府新区星海科技有限公司", "成都天府新区"),
])
def test_tf_divisions(chinese, division):
    result = check(chinese, "Chengdu Tianfu Xinghai Technology Co., Ltd.", "TF")
    assert result.division == division and result.ok, result.problems


def test_division_in_brackets_after_the_trade_name_or_the_industry():
    for chinese in ("星海（重庆）贸易有限公司", "星海贸易（重庆）有限公司", "星海(重庆)贸易有限公司"):
        result = check(chinese, "Xinghai (Chongqing) Trading Co., Ltd.")
        assert result.ok, result.problems
        assert (result.division, result.division_placement, result.trade_name) == ("重庆", "bracket", "星海")
    assert check("星海(重庆)贸易有限公司").chinese == "星海（重庆）贸易有限公司"


def test_missing_division_is_refused():
    result = check("星海贸易有限公司", "Xinghai Trading Co., Ltd.")
    assert "division-missing" in codes(result, ERROR) and not result.ok


def test_division_twice_is_refused():
    assert "division-twice" in codes(check("重庆星海（重庆）贸易有限公司"))


def test_a_division_of_the_other_region_is_refused():
    result = check("四川星海贸易有限公司", "Sichuan Xinghai Trading Co., Ltd.")
    assert "division-other-region" in codes(result, ERROR)
    result = check("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd.", "TF")
    assert "division-other-region" in codes(result, ERROR)
    assert "division-other-region" in codes(check("北京星海贸易有限公司"), ERROR)


def test_brackets_hold_only_a_division_or_china():
    assert "bracket-content" in codes(check("重庆星海（集团）贸易有限公司"), ERROR)
    assert "division-other-region" in codes(check("星海（成都）贸易有限公司"), ERROR)
    assert "brackets" in codes(check("重庆星海（贸易有限公司"), ERROR)


# --- development zones

def test_zone_with_its_division_is_allowed_and_alone_is_refused():
    assert check("重庆两江新区星海贸易有限公司").ok
    result = check("两江新区星海贸易有限公司")
    assert "zone-without-division" in codes(result, ERROR)
    assert "division-missing" not in codes(result)
    result = check("天府新区星海科技有限公司", "Tianfu Xinghai Technology Co., Ltd.", "TF")
    assert "zone-without-division" in codes(result, ERROR)


def test_zone_with_the_wrong_division_is_refused():
    result = check("重庆天府新区星海贸易有限公司")
    assert "zone-wrong-division" in codes(result, ERROR)


def test_zone_inside_the_trade_name_is_refused():
    assert "zone-without-division" in codes(check("重庆星海两江新区贸易有限公司"), ERROR)
    assert "zone-without-division" in codes(check("星海（两江新区）贸易有限公司"), ERROR)


# --- trade name

def test_trade_name_of_two_characters_is_enough_and_one_is_refused():
    assert check("重庆星海贸易有限公司").ok
    result = check("重庆星贸易有限公司")
    assert result.trade_name == "星"
    assert "trade-name-too-short" in codes(result, ERROR)


def test_missing_trade_name_is_refused():
    result = check("重庆贸易有限公司")
    assert result.trade_name is None and "trade-name-missing" in codes(result, ERROR)


def test_trade_name_may_not_be_a_division_or_an_industry():
    assert "trade-name-is-division" in codes(check("重庆北京贸易有限公司"), ERROR)
    assert "trade-name-is-division" in codes(check("重庆成都贸易有限公司"), ERROR)
    result = check("重庆科技贸易有限公司")
    assert (result.trade_name, result.industry) == ("科技", "贸易")
    assert "trade-name-is-industry" in codes(result, ERROR)


def test_only_chinese_characters():
    result = check("重庆星海ABC贸易有限公司")
    assert "chinese-characters" in codes(result, ERROR)
    assert "chinese-characters" in codes(check("重庆星海1号贸易有限公司"), ERROR)
    assert "chinese-characters" not in codes(check("重庆星海贸易有限公司"))


def test_traditional_characters_are_refused_with_the_simplified_form():
    result = check("重庆星華貿易有限公司")
    problem = next(p for p in result.problems if p.code == "traditional-characters")
    assert "華 → 华" in problem.reason and "貿 → 贸" in problem.reason
    assert result.trade_name == "星华" and result.industry == "贸易"


def test_spaces_are_ignored():
    result = check(" 重庆 星海 贸易 有限公司 ")
    assert result.chinese == "重庆星海贸易有限公司" and result.ok


def test_empty_name():
    result = check("   ")
    assert "chinese-empty" in codes(result, ERROR) and result.trade_name is None


# --- industry

def test_industry_from_the_list():
    result = check("重庆星海火锅有限公司", "Chongqing Xinghai Hotpot Co., Ltd.")
    assert (result.industry, result.industry_code, result.industry_section) == ("火锅", "catering", "H")
    assert result.ok


def test_longest_industry_term_wins():
    result = check("重庆星海企业管理咨询有限公司", "Chongqing Xinghai Management Consulting Co., Ltd.")
    assert (result.trade_name, result.industry) == ("星海", "企业管理咨询")


@pytest.mark.parametrize("chinese", ["重庆星海有限公司", "重庆星海飞船有限公司"])
def test_missing_or_unknown_industry_is_refused(chinese):
    result = check(chinese)
    assert "industry-missing" in codes(result, ERROR)


def test_industry_needing_review():
    result = check("重庆星海投资有限公司", "Chongqing Xinghai Investment Co., Ltd.")
    assert result.ok and result.needs_review
    assert "industry-review" in codes(result, REVIEW)


# --- organisational form

@pytest.mark.parametrize("chinese, form", [
    ("重庆星海贸易有限公司", "有限公司"),
    ("重庆星海贸易有限责任公司", "有限责任公司"),
    ("重庆星海贸易股份有限公司", "股份有限公司"),
])
def test_company_forms(chinese, form):
    result = check(chinese)
    assert result.form == form and result.ok, result.problems


def test_partnership_form():
    result = check("重庆星海投资合伙企业（有限合伙）", "Chongqing Xinghai Investment LP")
    assert result.form == "合伙企业（有限合伙）"
    assert not codes(result, ERROR)


def test_missing_or_plain_company_form_is_refused():
    assert "form-missing" in codes(check("重庆星海贸易"), ERROR)
    assert "form-not-allowed" in codes(check("重庆星海贸易公司"), ERROR)
    assert "form-not-allowed" in codes(check("重庆星海贸易总公司"), ERROR)


# --- forbidden content

@pytest.mark.parametrize("word, category, severity", [
    ("台独", "national-dignity", ERROR),
    ("黑帮", "public-order", ERROR),
    ("解放军", "party-state-military", ERROR),
    ("美国", "foreign-country", ERROR),
    ("联合国", "international-organisation", ERROR),
    ("赌场", "obscene-gambling-superstition-violence", ERROR),
    ("洋鬼子", "discrimination", ERROR),
    ("二奶", "public-morality", ERROR),
    ("官方", "misleading", ERROR),
    ("银行", "licensed", REVIEW),
])
def test_forbidden_words_by_category(word, category, severity):
    result = check(f"重庆星{word}贸易有限公司")
    problem = next(p for p in result.problems if p.code == f"word-{category}")
    assert problem.severity == severity and problem.field == "trade_name"
    assert word in problem.reason and word in problem.reason_zh
    assert result.ok is (severity != ERROR)
    assert result.needs_review is (severity == REVIEW)


def test_a_forbidden_word_only_overlapping_another_part_is_not_flagged():
    # 精英国际贸易 contains 英国 across the trade name and the industry.
    result = check("重庆精英国际贸易有限公司", "Chongqing Jingying International Trading Co., Ltd.")
    assert result.ok and result.problems == (), result.problems
    assert check("重庆完美国际科技有限公司", "Chongqing Wanmei International Technology Co., Ltd.").ok


def test_national_words():
    result = check("中国星海贸易有限公司", "Xinghai Trading Co., Ltd.")
    assert "national-word-prefix" in codes(result, ERROR)
    # in the middle only directly before the industry
    result = check("重庆星海国际科技有限公司", "Chongqing Xinghai International Technology Co., Ltd.")
    assert result.ok and result.qualifier == "国际" and result.trade_name == "星海"
    assert "national-word-position" in codes(check("重庆国际星海科技有限公司"), ERROR)
    assert "national-word-position" in codes(check("重庆星中华海贸易有限公司"), ERROR)
    # 中央 never qualifies an industry, but 中央空调 is an industry term
    assert "national-word-position" in codes(check("重庆星海中央科技有限公司"), ERROR)
    assert check("重庆星海中央空调有限公司", "Chongqing Xinghai Air Conditioning Co., Ltd.").ok


def test_china_in_brackets_is_a_warning_for_the_foreign_investors_trade_name():
    result = check("星海（中国）贸易（重庆）有限公司", "Xinghai (China) Trading (Chongqing) Co., Ltd.")
    assert result.china_marker and result.ok
    assert "china-marker" in codes(result, WARNING)


# --- English name

def test_english_name_that_corresponds():
    assert check("重庆两江星海贸易有限公司", "Chongqing Liangjiang Xinghai Trading Co., Ltd.").problems == ()
    assert check("重庆两江星海贸易有限公司", "Chongqing Xinghai Trading Company Limited").problems == ()


def test_english_name_missing():
    assert "english-empty" in codes(check("重庆星海贸易有限公司", " "), ERROR)


def test_english_name_must_be_latin():
    result = check("重庆星海贸易有限公司", "Chongqing 星海 Trading Co., Ltd.")
    assert "english-not-latin" in codes(result, ERROR)
    assert "english-not-latin" not in codes(check("重庆星海贸易有限公司", "Chongqing Xinghai Café Trading Co., Ltd."))


def test_english_legal_form():
    assert "english-form-missing" in codes(check("重庆星海贸易有限公司", "Chongqing Xinghai Trading"), ERROR)
    assert "english-form-missing" in codes(check("重庆星海贸易有限公司", "Chongqing Xinghai Trading Company"), ERROR)
    result = check("重庆星海贸易有限公司", "Chongqing Xinghai Trading LP")
    assert "english-form-mismatch" in codes(result, ERROR)
    for suffix in ("Co., Ltd.", "Co. Ltd", "Limited", "Ltd.", "LLC", "Company Limited"):
        assert "english-form-missing" not in codes(check("重庆星海贸易有限公司", f"Chongqing Xinghai Trading {suffix}"))


def test_english_trade_name_pinyin_is_a_warning():
    result = check("重庆星海贸易有限公司", "Chongqing Starsea Trading Co., Ltd.")
    problem = next(p for p in result.problems if p.code == "english-trade-name")
    assert problem.severity == WARNING and "Xinghai" in problem.reason
    assert result.ok
    assert "english-trade-name" not in codes(check("重庆星海贸易有限公司", "Chongqing Xing Hai Trading Co., Ltd."))


def test_english_place():
    result = check("重庆星海贸易有限公司", "Chengdu Xinghai Trading Co., Ltd.")
    assert "english-division-other-region" in codes(result, ERROR)
    result = check("重庆星海贸易有限公司", "Xinghai Trading Co., Ltd.")
    assert "english-division" in codes(result, WARNING) and result.ok


def test_english_industry():
    result = check("重庆星海贸易有限公司", "Chongqing Xinghai Software Co., Ltd.")
    assert "english-industry" in codes(result, WARNING)
    assert "english-industry" not in codes(check("重庆星海贸易有限公司", "Chongqing Xinghai Import and Export Co., Ltd."))


def test_english_china_and_international():
    result = check("重庆星海贸易有限公司", "China Xinghai Trading (Chongqing) Co., Ltd.")
    assert "english-china" in codes(result, ERROR)
    result = check("重庆星海贸易有限公司", "Chongqing Xinghai International Trading Co., Ltd.")
    assert "english-international" in codes(result, WARNING)
    assert "english-international" not in codes(check(
        "重庆星海国际贸易有限公司", "Chongqing Xinghai International Trading Co., Ltd."))


# --- data files

def test_every_problem_has_both_reasons():
    for chinese, english in [("中国台独ABC公司", "中国 Ltd"), ("两江新区星貿", ""), ("重庆银行贸易有限公司", "China International LP")]:
        for problem in check(chinese, english).problems:
            assert problem.reason and problem.reason_zh and problem.field and problem.code
            assert problem.severity in (ERROR, REVIEW, WARNING)


def test_industry_data_is_consistent():
    sections = set("ABCDEFGHIJKLMNOPQRST")
    industries = names.industries()
    assert len({i.code for i in industries}) == len(industries) >= 50
    for entry in industries:
        assert entry.section in sections and entry.en and entry.en_words and entry.terms
        assert names.industry(entry.code) is entry
    assert names.industry("nope") is None


def test_to_simplified():
    assert names.to_simplified("星華國際") == "星华国际"
    assert names.to_simplified("星海") == "星海"


@settings(max_examples=300, deadline=None)
@given(chinese=st.text(st.sampled_from(list("重庆两江新区天府四川成都星海贸易科技有限公司股份合伙（）()中国际央美A1 華")),
                       max_size=24),
       english=st.text(max_size=40), region=st.sampled_from(["LJ", "TF"]))
def test_any_input_gets_an_answer_not_an_exception(chinese, english, region):
    result = check_name(chinese=chinese, english=english, region=region)
    json.dumps(result.to_dict(), ensure_ascii=False)
    fields = {"chinese", "english", "division", "trade_name", "industry", "form"}
    assert all(p.field in fields and p.reason and p.reason_zh for p in result.problems)
    if result.ok:
        assert result.trade_name and len(result.trade_name) >= 2 and result.form and result.division
