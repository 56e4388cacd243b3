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
def messages() -> set[str | tuple[str, str]]:
    """Every marked message: a string, or (singular, plural) for a plural message."""
    ids = {m.id for m in _tool().extract() if m.id}
    assert len(ids) > 50, "the extraction found almost nothing: is the i18n extension marked up?"
    return ids


@pytest.mark.parametrize("code", [c for c in i18n.LANGUAGES if c != i18n.DEFAULT])
def test_every_message_has_a_translation_with_the_same_placeholders(messages, code):
    table = i18n.catalogue(code)
    key = lambda m: m[0] if isinstance(m, tuple) else m  # noqa: E731  (plural forms live under the singular)
    missing = sorted(str(m) for m in messages if not table.get(key(m)))
    assert not missing, (f"{len(missing)} messages have no {code} translation; run "
                         f"`python scripts/i18n.py update` and fill in the msgstr lines:\n" + "\n".join(missing[:20]))
    for message in messages:
        translated = table[key(message)]
        if isinstance(message, tuple):
            # A plural form may leave the number out ("سنتان", two years); it may add no other placeholder,
            # and it must keep every one that is not the count.
            assert isinstance(translated, tuple), f"{message}: a plural message needs plural forms"
            wanted = set(PLACEHOLDER.findall(message[1]))
            for form in translated:
                found = set(PLACEHOLDER.findall(form))
                assert found <= wanted and wanted - found <= {"%(count)s", "%(num)s"}, (message, form)
        else:
            assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), message


@pytest.mark.parametrize("code", [c for c in i18n.LANGUAGES if c != i18n.DEFAULT])
def test_translations_survive_the_formatting_their_message_survives(messages, code):
    """Jinja %-formats every message, even one without placeholders: a lone "%" in a translation (where
    the English has "%%") would fail only when that page is shown, in that language."""
    from collections import defaultdict

    table = i18n.catalogue(code)
    for message in messages:
        english = message if isinstance(message, tuple) else (message,)
        translated = table.get(english[0])
        forms = translated if isinstance(translated, tuple) else (translated,)
        try:
            for text in english:
                text % defaultdict(str)
        except (ValueError, TypeError):
            continue  # not a %-format (a Python message formatted with str.format)
        for form in forms:
            try:
                form % defaultdict(str)
            except (ValueError, TypeError) as exc:
                pytest.fail(f"{code}: {form!r} cannot be formatted ({exc}); write a literal % as %%")


def test_status_texts_shown_by_the_pages_are_marked_for_translation():
    """The services keep their status texts in English; the page modules mark the same texts for the
    catalogues (the pages translate them when they show them). A text changed in one place only would
    show up untranslated: this keeps them the same."""
    from eresident.banking import pages as bank_pages
    from eresident.banking import service as bank
    from eresident.crosscase import pages as cross_pages
    from eresident.crosscase import service as cross
    from eresident.enterprise import pages as company_pages
    from eresident.enterprise import service as enterprise
    from eresident.tax import pages as tax_pages
    from eresident.tax import service as tax

    assert set(enterprise.STATUSES.values()) == set(company_pages.STATUS_MESSAGES)
    assert set(cross.STATUSES.values()) <= set(cross_pages.STATUS_MESSAGES) | set(company_pages.STATUS_MESSAGES)
    assert set(cross.WHAT.values()) == set(cross_pages.EVENT_MESSAGES)
    assert set(tax.STATUS_TEXT.values()) == set(tax_pages.STATUS_MESSAGES)
    assert set(bank.STATUS_TEXT.values()) == set(bank_pages.STATUS_MESSAGES)
    for code in ("zh", "ar"):
        table = i18n.catalogue(code)
        for text in (*company_pages.ROLE_NAMES.values(), *company_pages.STATUS_MESSAGES, *bank_pages.STATUS_MESSAGES):
            assert table.get(text), (code, text)


def test_dates_and_plurals_follow_the_language():
    from datetime import date

    day = date(2027, 1, 15)
    expected = {"en": ("15 Jan 2027", "Fri 15 Jan 2027"), "zh": ("2027年1月15日", "2027年1月15日 周五"),
                "ar": ("15 يناير 2027", "الجمعة 15 يناير 2027")}
    for code, (plain, with_weekday) in expected.items():
        i18n.activate(code)
        assert (i18n.local_date(day), i18n.local_date("2027-01-15", weekday=True)) == (plain, with_weekday)
    # A time another system sent that is not ISO 8601 (a bank's video-call slot) is shown as it came.
    assert i18n.local_time("tomorrow 10:00", "Asia/Shanghai", place=False) == "tomorrow 10:00"
    # Arabic has six plural forms: the catalogue's form is chosen by the language's rule.
    i18n.activate("ar")
    forms = [i18n.ngettext("%(count)s year", "%(count)s years", n) % {"count": n} for n in (0, 1, 2, 5, 11, 100)]
    assert forms == ["0 سنة", "سنة واحدة", "سنتان", "5 سنوات", "11 سنة", "100 سنة"], forms
    i18n.activate("zh")
    assert i18n.ngettext("%(count)s year", "%(count)s years", 3) % {"count": 3} == "3 年"
    i18n.activate("en")
    assert i18n.ngettext("%(count)s year", "%(count)s years", 1) % {"count": 1} == "1 year"


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
    # China's zone is Beijing time, and the place is named in the reader's language.
    assert i18n.local_time(moment, "Asia/Shanghai") == "2026年11月26日 周四 17:00（北京时间）"
    assert i18n.local_time(moment, "Africa/Algiers").endswith("（阿尔及尔时间）")
    i18n.activate("ar")
    assert "نوفمبر" in i18n.local_time(moment, "Africa/Algiers")
    assert i18n.local_time(moment, "Africa/Algiers").endswith("(بتوقيت الجزائر)")
    i18n.activate("en")
    assert i18n.local_time(moment, "Africa/Algiers") == "Thu 26 Nov 2026, 10:00 (Algiers time)"
    assert i18n.local_time(moment, "Asia/Shanghai") == "Thu 26 Nov 2026, 17:00 (Beijing time)"


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
    english = client.get("/apply/one-page", headers=bearer(token))
    arabic = client.get("/apply/one-page", headers={**bearer(token), "Accept-Language": "ar"})
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


@pytest.mark.parametrize("code", list(i18n.LANGUAGES))
def test_the_licence_verification_page_renders_every_state_in_every_language(code):
    """The public page behind the QR code, rendered from its template in each state of the audit
    proof (the browser test and tests/audit see only some of them, and only in one language)."""
    from datetime import UTC, date, datetime
    from types import SimpleNamespace as NS

    from eresident.pages import TEMPLATES

    i18n.activate(code)
    at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    region = NS(region="LJ", region_name="Liangjiang New Area", region_name_zh="两江新区", base_url="http://lj.test")
    licence = {"uscc": "91500000E000000105", "current": True, "status": "valid", "name_zh": "重庆星海科技有限公司",
               "name_en": "Chongqing Xinghai Technology Co., Ltd.", "legal_representative": "Amina BENALI",
               "established_on": date(2026, 11, 26), "term_until": None, "issued_at": at, "region": "LJ"}
    cosigner = NS(region_name="Sichuan Tianfu New Area", time=at, key_name="tf.test/audit", verified=None)

    def proof(ok: bool, cosigned: bool):
        checkpoint = NS(root_hash="ab" * 32, signed_at=at, cosigned=cosigned, cosignatures=[cosigner] if cosigned else [],
                        origin="lj.test/audit", note="lj.test/audit\n7\nq83vEjItc\n", url="/api/v1/audit/checkpoints/7")
        return NS(seq=5, tree_size=7, leaf_index=4, leaf_hash="cd" * 32, inclusion_path=["ef" * 32],
                  checked_by_server=NS(leaf=ok, path=ok, signature=ok), checkpoint=checkpoint)

    links = {"proof_url": "/api/v1/licences/91500000E000000105/inclusion", "key_url": "/api/v1/audit/key"}
    states = [{"state": "included", "proof": proof(True, True), **links},
              {"state": "included", "proof": proof(True, False), **links},
              {"state": "failed", "proof": proof(False, False), **links},
              {"state": "pending", "seq": 5, "latest_size": 4, **links}, {"state": "pending", "seq": 5, "latest_size": 0},
              {"state": "missing"}, {"state": "broken", "detail": "the chain breaks at entry 3"}]
    template = TEMPLATES.env.get_template("verify_licence.html")
    language = i18n.LANGUAGES[code]
    frame = {"region": region, "region_label": "两江新区" if code == "zh" else "Liangjiang New Area", "lang": code,
             "dir": language.direction, "languages": i18n.LANGUAGES.values(), "here": "/", "errors": [],
             "field_errors": {}, "principal": None, "csrf_reusable": "", "csrf_token": lambda: ""}
    for issuance in states:
        page = template.render(**frame, uscc=licence["uscc"], licence=licence, issuance=issuance)
        assert f'<html lang="{code}" dir="{language.direction}">' in page
        assert "%(" not in page and "{{" not in page, issuance["state"]
    revoked = template.render(**frame, uscc=licence["uscc"], licence={**licence, "current": False, "status": "revoked"},
                              issuance=None)
    assert {"en": "Genuine, but revoked.", "zh": "已被吊销", "ar": "أُلغيت"}[code] in revoked
    unknown = template.render(**frame, uscc="91500000E00124NR20", licence=None, issuance=None,
                              problem=NS(title="Not found", detail="No licence has this code."))
    assert "91500000E00124NR20" in unknown and "audit" not in unknown.lower()
    i18n.activate("en")
