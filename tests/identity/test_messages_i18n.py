"""Refusals in the reader's language (issue 8): a person who reads only Chinese or Arabic sees why the
application, the upload or the sign-in was refused, beside the field and in the error summary; the API
answers the same input in the same English as before (kit.errors.Message, kit.web.validation_problem)."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from eresident import i18n
from eresident.identity import accounts
from eresident.identity.schemas import ApplicantCreate, ApplicationCreate
from eresident.kit.errors import FRAME_TEXTS, Message, Problem, not_found, translate
from eresident.kit.web import http_problem, validation_problem
from eresident.security.passwords import password_problem
from tests.factories import Api, Person, bearer, png_bytes

LANGUAGES = list(i18n.LANGUAGES)  # en, zh, ar
PASSWORD = "a long passphrase 1"
WINDOWS_PROGRAM = b"MZ\x90\x00" + bytes(64)


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    i18n.activate("en")


def browser(node, lang: str, token: str | None = None):
    """A client that reads pages in `lang` (the language switcher's cookie), signed in with `token`."""
    client = node.client()
    client.headers["accept"] = "text/html"
    if lang != "en":
        client.cookies.set(i18n.LANGUAGE_COOKIE, lang)
    if token:
        client.headers.update(bearer(token))
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def form_fields(person: Person, **overrides) -> dict:
    fields = {
        "surname": person.surname, "given_names": person.given_names, "native_name": person.native_name,
        "birth_date": person.birth_date.isoformat(), "sex": person.sex, "nationality": person.nationality,
        "residence_country": "DZ", "phone": "+213 21 23 45 67", "address": "5 Rue Larbi Ben M'hidi, Algiers",
        "passport_number": person.passport_number, "passport_expiry": person.passport_expiry.isoformat(),
        "mrz": "\n".join(person.mrz()), "site_code": "MK-ALG",
        "purpose": "I trade dates and olive oil and want to open a company in the region.",
        "consent_processing": "yes", "consent_sensitive_data": "yes"}
    fields.update(overrides)
    return fields


def apply_page(node, lang: str, token: str, fields: dict, photo: bytes | None = None):
    r = browser(node, lang, token).post("/apply", data=fields,
                                        files={"photo": ("me.png", photo or png_bytes(), "image/png")})
    assert f'<html lang="{lang}"' in r.text
    return r


def beside(page: str, field: str) -> str:
    """The message shown beside a field (without the hidden "Error:" for screen readers)."""
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert found, f"no message beside {field}"
    return html.unescape(re.sub(r'<span class="visually-hidden">.*?</span>', "", found.group(1))).strip()


def in_summary(page: str, field: str) -> str:
    """The error summary's link to a field: the field's name, then the reason ("Surname: Fill in …")."""
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert summary, "no error summary"
    link = re.search(rf'<a href="#{field}">(.*?)</a>', summary.group(0), re.S)
    assert link, f"the summary does not link to {field}"
    return html.unescape(link.group(1)).strip()


def named_in_summary(page: str, field: str, reason: str) -> str:
    """The name the summary gives a field before `reason` ("Surname" of "Surname: Fill in …"; a colon
    after it in the page's language); "" when the reason names the field itself."""
    text = in_summary(page, field)
    assert text.endswith(reason), (text, reason)
    named = text[:-len(reason)]
    if not named:
        assert re.match(r"[^:：]+[:：]", reason), f"the summary does not name {field}: {text}"
        return ""
    assert named.endswith((": ", "：")) and named.rstrip(": ："), f"the summary does not name {field}: {text}"
    return named.rstrip(" ").rstrip(":：")


def shown(page: str, field: str, name: str | None = None) -> str:
    """The message beside the field, checked to be the one in the summary too, after the field's name
    (`name`, if given)."""
    message = beside(page, field)
    named = named_in_summary(page, field, message)
    assert name is None or named == name, (named, name)
    return message


def broken_check_digit(person: Person) -> tuple[list[str], str, str]:
    """The person's MRZ with the document number's check digit changed: (lines, found, expected)."""
    lines = person.mrz()
    expected = lines[1][9]
    found = "0" if expected != "0" else "1"
    lines[1] = lines[1][:9] + found + lines[1][10:]
    return lines, found, expected


# --- the application page -----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_bad_mrz_check_digit_is_explained_in_the_readers_language(node, lang):
    api = Api(node)
    token = api.applicant()
    person = Person()
    lines, found, expected = broken_check_digit(person)
    r = apply_page(node, lang, token, form_fields(person, mrz="\n".join(lines)))
    assert r.status_code == 422
    message = shown(r.text, "mrz")
    english = (f"Machine-readable zone: The check digit of the document number is {found} but should be "
               f"{expected}. Copy the lines again exactly as printed at the bottom of your passport's photo "
               "page; do not change digits to make them fit.")
    wanted = {
        "en": english,
        "zh": (f"机读区：证件号码的校验位是 {found}，应为 {expected}。请按护照资料页底部的印刷内容重新逐字抄写各行；"
               "不要为了通过校验而修改数字。"),
        "ar": (f"المنطقة المقروءة آليًا: رقم التحقق لخانة رقم الوثيقة هو {found} والصحيح {expected}. انسخ الأسطر "
               "مرة أخرى كما هي مطبوعة تمامًا أسفل صفحة الصورة في جواز سفرك؛ ولا تغيّر الأرقام لتتطابق."),
    }[lang]
    assert message == wanted

    # The API answers the same MRZ in English, as it always has.
    problem = api.submit(token, person, mrz=lines).json()
    assert problem["title"] == "The machine-readable zone is not valid"
    assert problem["detail"] == english
    assert problem["errors"] == [{"field": "mrz", "reason": english}]
    assert (problem["check"], problem["mrz_field"]) == ("check_digit", "document_number")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_passport_expiring_too_soon_names_both_dates_written_for_the_reader(node, lang):
    api = Api(node)
    token = api.applicant()
    person = Person(passport_expiry=date(2027, 3, 1))
    r = apply_page(node, lang, token, form_fields(person))
    assert r.status_code == 422
    message = shown(r.text, "passport_expiry")
    needed = node.ctx.clock.now().date() + timedelta(days=node.settings.passport_min_validity_days)
    i18n.activate(lang)
    expiry_text, needed_text = i18n.local_date(date(2027, 3, 1)), i18n.local_date(needed)
    assert {"en": "1 Mar 2027", "zh": "2027年3月1日", "ar": "1 مارس 2027"}[lang] == expiry_text
    assert message == {
        "en": (f"Your passport expires on {expiry_text}. It must be valid until at least {needed_text} "
               "(six months from today). Renew it, then apply."),
        "zh": f"您的护照将于 {expiry_text} 到期。护照有效期必须至少到 {needed_text}（自今天起六个月）。请先换发护照，再提交申请。",
        "ar": (f"تنتهي صلاحية جواز سفرك في {expiry_text}. يجب أن يبقى صالحًا حتى {needed_text} على الأقل "
               "(ستة أشهر من اليوم). جدّده ثم قدّم طلبك."),
    }[lang]

    problem = api.submit(token, person).json()  # the API: ISO dates, English
    assert problem["title"] == "Your passport expires too soon"
    assert problem["detail"] == (f"Your passport expires on 2027-03-01. It must be valid until at least "
                                 f"{needed.isoformat()} (six months from today). Renew it, then apply.")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_missing_field_is_named_in_plain_words(node, lang):
    api = Api(node)
    token = api.applicant()
    r = apply_page(node, lang, token, form_fields(Person(), surname="", purpose="Too short"))
    assert r.status_code == 422
    assert shown(r.text, "surname") == {"en": "Fill in this field.", "zh": "请填写此项。",
                                        "ar": "املأ هذا الحقل."}[lang]
    assert shown(r.text, "purpose") == {"en": "Enter at least 20 characters.", "zh": "请至少输入 20 个字符。",
                                        "ar": "يجب ألا يقل عدد الأحرف عن 20."}[lang]

    problem = api.submit(token, Person(), surname="", purpose="Too short").json()  # pydantic's words, as before
    assert problem["title"] == "Your request has invalid fields"
    assert problem["detail"] == "surname: String should have at least 1 character"
    assert problem["errors"] == [{"field": "surname", "reason": "String should have at least 1 character"},
                                 {"field": "purpose", "reason": "String should have at least 20 characters"}]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_file_of_the_wrong_type_is_named_beside_the_photo(node, lang):
    api = Api(node)
    token = api.applicant()
    r = apply_page(node, lang, token, form_fields(Person()), photo=WINDOWS_PROGRAM)
    assert r.status_code == 422
    assert shown(r.text, "photo") == {
        "en": "This file is a Windows program; upload a JPEG image or a PNG image.",
        "zh": "此文件是Windows 程序，请上传JPEG 图片或PNG 图片。",
        "ar": "هذا الملف برنامج Windows؛ ارفع صورة JPEG أو صورة PNG.",
    }[lang]

    problem = api.upload(token, data=WINDOWS_PROGRAM, filename="me.png").json()
    assert problem["title"] == "The file type is not accepted"
    assert problem["detail"] == "This file is a Windows program; upload a JPEG image or a PNG image."
    assert problem["errors"] == [{"field": "file", "reason": problem["detail"]}]


def test_a_photo_too_large_says_the_limit_in_chinese_and_the_api_keeps_its_words(node):
    api = Api(node)
    token = api.applicant()
    too_large = png_bytes() + bytes(node.settings.max_photo_bytes)
    r = apply_page(node, "zh", token, form_fields(Person()), photo=too_large)
    assert r.status_code == 413
    assert shown(r.text, "photo") == "此文件超过 5 MB。请选择较小的文件。"
    problem = api.upload(token, data=too_large).json()
    assert problem["title"] == "The file is too large" and problem["errors"] == [{"field": "file", "reason": "too large"}]
    assert problem["detail"] == "A photo may be at most 5 MB; this file is larger."


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_site_of_another_region_is_refused_in_the_readers_language(node, lang):
    api = Api(node)
    token = api.applicant()
    r = apply_page(node, lang, token, form_fields(Person(), site_code="NOWHERE"))
    assert r.status_code == 422
    assert shown(r.text, "site_code") == {
        "en": "Choose one of this region's overseas service sites.",
        "zh": "请选择本地区的一个海外服务站。",
        "ar": "اختر أحد مراكز الخدمة الخارجية التابعة لهذه المنطقة."}[lang]
    assert api.submit(token, site_code="NOWHERE").json()["detail"] == \
        "Choose one of this region's overseas service sites."


# --- signing in and up --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_wrong_password_is_explained_in_the_readers_language(node, lang):
    api = Api(node)
    api.applicant("amina@example.dz", PASSWORD)
    client = browser(node, lang)
    form = client.get("/login")
    token = csrf_of(form.text)
    r = client.post("/login", data={"csrf_token": token, "email": "amina@example.dz",
                                    "password": "not the passphrase"})
    assert r.status_code == 401 and f'<html lang="{lang}"' in r.text
    assert shown(r.text, "email") == {"en": "Wrong email or password.", "zh": "电子邮箱地址或密码错误。",
                                      "ar": "البريد الإلكتروني أو كلمة المرور غير صحيحة."}[lang]

    r = api.client.post("/api/v1/auth/login", json={"email": "amina@example.dz", "password": "not the passphrase"})
    assert r.status_code == 401
    assert {k: r.json()[k] for k in ("title", "detail")} == {"title": "Wrong email or password",
                                                              "detail": "Check both and try again."}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sign_up_refusals_follow_the_language(node, lang):
    client = browser(node, lang)
    form = client.get("/signup")
    token = csrf_of(form.text)
    r = client.post("/signup", data={"csrf_token": token, "email": "not an email", "password": PASSWORD})
    assert r.status_code == 422
    assert shown(r.text, "email") == {
        "en": "Enter an email address in the right format, such as name@example.com.",
        "zh": "请按正确格式输入电子邮箱地址，例如 name@example.com。",
        "ar": "أدخل عنوان بريد إلكتروني بالصيغة الصحيحة، مثل name@example.com."}[lang]
    form = client.get("/signup")
    token = csrf_of(form.text)
    r = client.post("/signup", data={"csrf_token": token, "email": "new@example.dz", "password": "short"})
    assert r.status_code == 422
    assert shown(r.text, "password") == {"en": "Use at least 12 characters.", "zh": "密码至少需要 12 个字符。",
                                         "ar": "استخدم 12 حرفًا على الأقل."}[lang]


# --- error pages --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_error_pages_say_what_went_wrong_in_the_readers_language(node, lang):
    client = browser(node, lang)
    page = client.get("/confirm", params={"token": "not-a-token"})
    token = csrf_of(page.text)
    r = client.post("/confirm", data={"csrf_token": token, "token": "not-a-token"})
    assert r.status_code == 400
    title, detail = {
        "en": ("This confirmation link is not valid",
               "It may have expired or been used already. Sign in to get a new one."),
        "zh": ("此确认链接无效", "它可能已过期或已被使用。请登录以获取新链接。"),
        "ar": ("رابط التأكيد هذا غير صالح", "ربما انتهت صلاحيته أو استُخدم من قبل. سجّل الدخول للحصول على رابط جديد."),
    }[lang]
    assert f"<h1>{html.escape(title)}</h1>" in r.text and f"<p>{html.escape(detail)}</p>" in r.text

    # A form whose token is stale (deps.py words it; kit.errors.FRAME_TEXTS marks it for the catalogues).
    r = client.post("/login", data={"csrf_token": "stale", "email": "a@example.dz", "password": PASSWORD})
    assert r.status_code == 403
    assert {"en": "This form is no longer valid", "zh": "此表单已失效", "ar": "هذا النموذج لم يعد صالحًا"}[lang] in r.text
    assert {"en": "Reload the page", "zh": "请刷新页面", "ar": "أعد تحميل الصفحة"}[lang] in r.text

    r = client.get("/no-such-page")
    assert r.status_code == 404
    not_found_title = {"en": "Not found", "zh": "未找到", "ar": "غير موجود"}[lang]
    assert f"<h1>{not_found_title}</h1>" in r.text
    assert "Not Found" not in r.text  # Starlette's detail repeats the title: not shown twice


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_booking_refusal_is_an_error_page_in_the_readers_language(node, lang):
    api = Api(node)
    token = api.applicant()
    app_id = api.submit(token).json()["id"]
    r = browser(node, lang, token).post(f"/my/applications/{app_id}/book", data={"starts_at": "soon"})
    assert r.status_code == 422
    title, reason = {"en": ("Choose a slot", "Choose one of the listed times."),
                     "zh": ("请选择时段", "请从列出的时间中选择一个。"),
                     "ar": ("اختر موعدًا", "اختر أحد الأوقات المعروضة.")}[lang]
    assert f"<h1>{title}</h1>" in r.text and reason in r.text
    odd_time = (node.ctx.clock.now() + timedelta(days=3)).replace(hour=9, minute=17, second=0, microsecond=0)
    r = api.client.post(f"/api/v1/applications/{app_id}/appointment", headers=bearer(token),
                        json={"starts_at": odd_time.isoformat(), "mode": "video"})
    assert r.json()["detail"] == "This is not one of the site's appointment times. Choose a listed slot."


def test_a_credential_for_someone_not_yet_an_e_resident_is_refused_in_arabic(node):
    api = Api(node)
    token = api.applicant()
    r = browser(node, "ar", token).post("/my/credential")
    assert r.status_code == 409
    assert "<h1>لست مقيمًا إلكترونيًا بعد</h1>" in r.text and "تُصدر الوثيقة بعد الموافقة على طلبك." in r.text


# --- the mechanism ------------------------------------------------------------------------------------------

def test_a_message_is_english_for_the_api_and_translated_with_its_parameters_for_pages():
    message = Message("Your passport expires on %(expiry)s. It must be valid until at least %(needed)s "
                      "(six months from today). Renew it, then apply.",
                      expiry=date(2027, 3, 1), needed=date(2027, 5, 26))
    assert message == ("Your passport expires on 2027-03-01. It must be valid until at least 2027-05-26 "
                       "(six months from today). Renew it, then apply.")
    problem = Problem(422, "Your passport expires too soon", detail=message)
    assert type(problem.to_dict()["detail"]) is str and problem.to_dict()["detail"] == message
    i18n.activate("zh")
    assert translate(message) == ("您的护照将于 2027年3月1日 到期。护照有效期必须至少到 2027年5月26日（自今天起六个月）。"
                                  "请先换发护照，再提交申请。")
    assert translate(problem.title) == "您的护照即将到期"  # a text marked with N_ is its own msgid
    assert translate("Someone's own words") == "Someone's own words"  # not a message: as it is
    # A nested message is translated too; a plain value (what was typed) is left as it is.
    assert translate(not_found("Application").title) == "未找到申请"
    i18n.activate("ar")
    assert translate(not_found("Application").title) == "لم يُعثر على الطلب"
    assert not_found("Application").to_dict()["title"] == "Application not found"


def test_a_translation_that_cannot_be_formatted_falls_back_to_english(monkeypatch):
    message = Message("You already have application %(case)s for this passport.", case="LJ-2026-000001")
    monkeypatch.setattr(i18n, "gettext", lambda text: "您已有申请 %(number)s")  # a placeholder lost in translation
    i18n.activate("zh")
    assert translate(message) == "You already have application LJ-2026-000001 for this passport."


@pytest.mark.parametrize(("body", "field", "api", "page_zh"), [
    ({"surname": ""}, "surname", "String should have at least 1 character", "请填写此项。"),
    ({"given_names": "X" * 201}, "given_names", "String should have at most 200 characters", "最多输入 200 个字符。"),
    ({"sex": "Q"}, "sex", "String should match pattern '^[MFX]$'", "格式不正确。"),
    ({"birth_date": "1990-02-30"}, "birth_date",
     "Input should be a valid date or datetime, day value is outside expected range",
     "请按“年-月-日”格式输入真实日期，例如 1990-03-27。"),
    ({"photo_document_id": "photo"}, "photo_document_id",
     "Input should be a valid UUID", "这不是有效的编号。"),
    ({"phone": "0555"}, "phone", "use international format, e.g. +213 21 23 45 67",
     "请按国际格式填写号码，以 + 和国家代码开头，例如 +213 21 23 45 67。"),
    ({"nationality": "XX"}, "nationality", "is not an ISO 3166-1 country code", "请从列表中选择国家或地区。"),
    ({"mrz": ""}, "mrz", "List should have at least 2 items after validation, not 0", "请填写此项。"),
    ({"consents": {"processing": True}}, "consents/sensitive_data", "Field required", "请填写此项。"),
    ({"bogus": 1}, "bogus", "Extra inputs are not permitted", "此处不应有此字段，请删除。"),
])
def test_pydantic_errors_keep_their_api_english_and_read_plainly_on_pages(body, field, api, page_zh):
    from tests.factories import application_payload

    payload = {**application_payload(Person(), photo_id="7f1e5c9c-9a57-4e36-9c1a-3f0b1f0c2a11"), **body}
    with pytest.raises(ValidationError) as caught:
        ApplicationCreate.model_validate(payload)
    errors = {e.field: e.reason for e in validation_problem(caught.value).errors}
    assert errors[field].startswith(api), errors
    i18n.activate("zh")
    assert translate(errors[field]) == page_zh


def test_an_email_refusal_keeps_pydantics_words_for_the_api():
    with pytest.raises(ValidationError) as caught:
        ApplicantCreate(email="not an email", password=PASSWORD)
    problem = validation_problem(caught.value)
    assert problem.to_dict()["errors"][0]["reason"].startswith("value is not a valid email address")
    i18n.activate("ar")
    assert translate(problem.errors[0].reason) == "أدخل عنوان بريد إلكتروني بالصيغة الصحيحة، مثل name@example.com."


def test_the_password_reasons_marked_for_the_sign_up_page_are_the_ones_given():
    given = {password_problem(p) for p in ("short", "x" * 257, "aaaaaaaaaaaaaaaa", "a long passphrase 1")}
    assert given - {None} == set(accounts.PASSWORD_REASONS)


def test_the_web_layers_own_titles_are_marked_for_translation():
    from starlette.exceptions import HTTPException

    for status in (401, 403, 404, 405, 413, 415, 418):
        title = http_problem(HTTPException(status)).title
        assert title in FRAME_TEXTS or title == "Forbidden", title  # kit.errors.forbidden marks "Forbidden"
        for code in ("zh", "ar"):
            assert i18n.catalogue(code).get(title), (code, title)
