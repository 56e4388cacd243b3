"""Pages in English, Simplified Chinese and Arabic: complete catalogues, the language a person
chose (remembered), the browser's language otherwise, right-to-left layout for Arabic."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from eresident import i18n

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def _tool():
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def messages() -> set[str]:
    ids = {m.id for m in _tool().extract() if m.id}
    assert len(ids) > 50, "the extraction found almost nothing: is the i18n extension marked up?"
    return ids


@pytest.mark.parametrize("code", [c for c in i18n.LANGUAGES if c != i18n.DEFAULT])
def test_every_message_has_a_translation_with_the_same_placeholders(messages, code):
    table = i18n.catalogue(code)
    missing = sorted(m for m in messages if not table.get(m))
    assert not missing, (f"{len(missing)} messages have no {code} translation; run "
                         f"`python scripts/i18n.py update` and fill in the msgstr lines:\n" + "\n".join(missing[:20]))
    for message in messages:
        assert sorted(PLACEHOLDER.findall(table[message])) == sorted(PLACEHOLDER.findall(message)), message


def test_the_language_is_the_persons_choice_then_the_browsers():
    assert i18n.choose(None, None) == "en"
    assert i18n.choose(None, "ar-DZ,ar;q=0.9,fr;q=0.8") == "ar"
    assert i18n.choose(None, "fr-FR,zh-CN;q=0.7,en;q=0.5") == "zh"
    assert i18n.choose(None, "de;q=0.9, ar;q=0.95") == "ar"  # by quality, not by order
    assert i18n.choose("zh", "ar") == "zh"  # the choice wins
    assert i18n.choose("xx", "garbage;q=abc") == "en"


def test_start_page_in_arabic_is_right_to_left(node):
    client = node.client()
    r = client.get("/", headers={"Accept-Language": "ar"})
    assert r.status_code == 200
    assert '<html lang="ar" dir="rtl">' in r.text
    assert "كن مقيمًا إلكترونيًا في" in r.text and "ابدأ الآن" in r.text
    assert "Become an e-resident" not in r.text
    # the switcher offers the other languages, each named in itself
    assert 'hreflang="en"' in r.text and "English" in r.text and "中文（简体）" in r.text


def test_a_chosen_language_is_remembered_and_the_way_back_is_local(node):
    client = node.client()
    r = client.get("/language", params={"lang": "zh", "next": "/login"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    cookie = r.headers["set-cookie"]
    assert "er_lang=zh" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("samesite", "SameSite")
    r = client.get("/login", headers={"Accept-Language": "ar"})  # the choice beats the browser
    assert '<html lang="zh" dir="ltr">' in r.text and "电子邮箱地址" in r.text
    for unsafe in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.get("/language", params={"lang": "ar", "next": unsafe}, follow_redirects=False)
        assert r.headers["location"] == "/", unsafe


def test_form_errors_keep_the_language(node):
    client = node.client()
    client.cookies.set("er_lang", "ar")
    page = client.get("/signup")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/signup", data={"csrf_token": token, "email": "not an email", "password": "short"})
    assert r.status_code == 422
    assert '<html lang="ar" dir="rtl">' in r.text and "هناك مشكلة" in r.text  # "There is a problem"


def test_dates_are_written_for_the_language():
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    i18n.activate("zh")
    assert i18n.local_time(moment, "Asia/Shanghai") == "2026年11月26日 周四 17:00（Shanghai时间）"
    i18n.activate("ar")
    assert "نوفمبر" in i18n.local_time(moment, "Africa/Algiers")
    i18n.activate("en")
    assert i18n.local_time(moment, "Africa/Algiers") == "Thu 26 Nov 2026, 10:00 (Algiers time)"


def test_the_applicants_own_page_follows_the_case_in_arabic(node):
    from tests.factories import Api, bearer

    api = Api(node)
    token = api.applicant()
    r = api.submit(token)
    assert r.status_code == 201, r.text
    page = api.client.get("/my", headers={**bearer(token), "Accept-Language": "ar"})
    assert page.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page.text
    assert f"الملف {r.json()['case_number']}" in page.text  # "Case LJ-2026-…"
    assert "في انتظار التحقق من هويتك في مركز الخدمة" in page.text  # the status, translated
    assert "إنه في انتظارك." in page.text  # who the case waits on
    assert "Waiting for your identity check" not in page.text


def test_country_names_follow_the_language(node):
    client = node.client()
    from tests.factories import Api, bearer

    token = Api(node).applicant()
    english = client.get("/apply", headers=bearer(token))
    arabic = client.get("/apply", headers={**bearer(token), "Accept-Language": "ar"})
    assert '<option value="DZ">Algeria</option>' in english.text
    assert '<option value="DZ">الجزائر</option>' in arabic.text
    # the consent texts stay in the English wording that was versioned, marked as English
    assert 'lang="en" dir="ltr"' in arabic.text


def test_officials_read_their_worklist_and_cases_in_chinese(node):
    from tests.factories import Api, bearer

    api = Api(node)
    _token, application_id = api.to_review()
    reviewer = api.official("lj-reviewer")
    zh = {**bearer(reviewer), "Accept-Language": "zh-CN,zh;q=0.9"}
    worklist = api.client.get("/official", headers=zh)
    assert worklist.status_code == 200 and '<html lang="zh" dir="ltr">' in worklist.text
    assert "<h1>工作清单</h1>" in worklist.text and "审核" in worklist.text and "两江新区" in worklist.text
    case = api.client.get(f"/official/cases/{application_id}", headers=zh)
    assert case.status_code == 200
    for text in ("申请人", "身份核验", "认领此案件", "等待审核人员处理", "历史记录"):
        assert text in case.text, text
    login = api.client.get("/official/login", headers={"Accept-Language": "zh"})
    assert "身份验证器应用中的验证码" in login.text
