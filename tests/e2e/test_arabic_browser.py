"""A person who reads only Arabic applies, follows the case and downloads the credential, in a
browser whose language is Arabic, against a real node process. Every step is found by its Arabic
label or text, so an untranslated or unlabelled control fails the test; the pages are right to
left. The officials' part (identity check, review, decision) goes through the API: it is not what
this test is about."""

from __future__ import annotations

from datetime import date

import pytest

from eresident.identity.mrz import make_td3
from tests.e2e.conftest import reader_page
from tests.e2e.journeys import Applicant, ReaderJourney, Words
from tests.factories import pdf_bytes, png_bytes

pytestmark = pytest.mark.slow

EMAIL = "yasmina.haddad@example.dz"
PASSWORD = "les oliviers de Tlemcen 1988"
PASSPORT = "DZ5512094"
MRZ = "\n".join(make_td3(surname="HADDAD", given_names="YASMINA", document_number=PASSPORT, nationality="DZA",
                         birth_date=date(1988, 6, 2), sex="F", expiry_date=date(2032, 1, 10), issuing_state="DZA"))
APPLICANT = Applicant(email=EMAIL, password=PASSWORD, surname="HADDAD", given_names="YASMINA",
                      birth_date="1988-06-02", sex="F", nationality="DZ", residence="DZ",
                      address="12 Boulevard de la Soummam, Oran", passport=PASSPORT, passport_expiry="2032-01-10",
                      mrz=MRZ, purpose="أصدّر التمور وزيت الزيتون وأريد تأسيس شركة تجارية.")
ARABIC = Words(
    start="ابدأ الآن", email="البريد الإلكتروني", password="كلمة المرور", create_account="أنشئ الحساب",
    check_email="تحقّق من بريدك الإلكتروني", confirm_link="أكّد عنوان بريدي الإلكتروني", confirm="تأكيد",
    confirmed="تم تأكيد عنوان بريدك الإلكتروني", sign_in="تسجيل الدخول", my_heading="إقامتك الإلكترونية",
    apply="قدّم طلب الإقامة الإلكترونية", not_started="لم يبدأ", save="احفظ وتابع", completed="مكتمل",
    surname="اللقب", given_names="الاسم", birth_date="تاريخ الميلاد", sex="الجنس كما في جواز السفر",
    nationality="الجنسية", residence="بلد الإقامة", phone="رقم الهاتف", address="عنوان السكن",
    passport_number="رقم جواز السفر", passport_expiry="تاريخ انتهاء الصلاحية", mrz="المنطقة المقروءة آليًا",
    purpose="الغرض من الإقامة الإلكترونية", site="مركز الخدمة للتحقق من هويتك", check_answers="راجع إجاباتك",
    check_answers_heading="راجع إجاباتك قبل تقديم الطلب", send="قدّم الطلب", sent="تم تقديم الطلب",
    book_link="احجز موعد التحقق من هويتك", method="الطريقة", book="احجز هذا الموعد",
    approved_heading="أنت مقيم إلكتروني", download="نزّل وثيقتي الموقّعة", rtl=True)


def test_an_arabic_reader_applies_follows_the_case_and_downloads_the_credential(browser, live_node, tmp_path):
    from playwright.sync_api import expect

    node = live_node
    context, page, shot = reader_page(browser, node, folder="arabic", locale="ar", accept_language="ar")
    journey = ReaderJourney(page, node, ARABIC, APPLICANT, shot)
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(8, 8))

    # The start page: Arabic, right to left, no sideways scrolling.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_contain_text("كن مقيمًا إلكترونيًا")
    journey.no_sideways_scrolling()
    shot(page, "start")

    # Sign up, confirm, sign in.
    journey.sign_up()
    shot(page, "check-email")
    journey.confirm_and_sign_in()
    shot(page, "my-empty")

    # Apply through the task list: one section per page, every control found by its Arabic label.
    journey.open_task_list()
    expect(page.get_by_role("link", name="راجع إجاباتك")).to_have_count(0)  # not before every section is done
    journey.no_sideways_scrolling()
    shot(page, "apply-tasks")

    journey.section("معلومات عنك", "about-you", journey.about_you, shot="apply-about-you")

    # A phone number without its country code: the reason in Arabic, beside the field and in the summary.
    journey.open_section("الاتصال")
    journey.contact("041 33 22 11")
    page.get_by_role("button", name="احفظ وتابع").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("هناك مشكلة")
    expect(summary.locator("a[href='#phone']")).to_have_count(1)
    expect(page.locator("#phone-error")).not_to_contain_text("Enter the number")
    expect(page.get_by_label("عنوان السكن", exact=True)).to_have_value("12 Boulevard de la Soummam, Oran")
    shot(page, "apply-contact-error")
    page.get_by_label("رقم الهاتف", exact=True).fill("+213 41 33 22 11")
    journey.save("contact")
    expect(page.locator("#task-about-you-status")).to_have_text("مكتمل")  # nothing else was lost

    journey.section("جواز السفر", "passport", journey.passport, shot="apply-passport")

    # With JavaScript the photo goes with upload progress (XMLHttpRequest); a refused file comes back as
    # the page with the reason beside the field, and the next choice goes through.
    journey.open_section("الصورة والوثائق")
    expect(page.locator("#upload-progress")).to_be_hidden()
    not_a_photo = tmp_path / "photo-really-a-pdf.png"
    not_a_photo.write_bytes(pdf_bytes())
    journey.photo(not_a_photo)
    with page.expect_request(lambda r: r.url.endswith("/apply/documents") and r.method == "POST") as sent:
        page.get_by_role("button", name="احفظ وتابع").click()
    assert sent.value.resource_type == "xhr", sent.value.resource_type
    expect(page.get_by_role("alert").locator("a[href='#photo']")).to_have_count(1)
    expect(page.locator("#photo-error")).to_contain_text("PDF")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    shot(page, "apply-documents-error")
    journey.photo(photo)
    journey.save("documents")
    expect(page.locator("#task-contact-status")).to_have_text("مكتمل")  # the refused file lost nothing

    journey.section("سبب الطلب", "purpose", journey.purpose)
    journey.section("مكان التحقق من الهوية", "site", journey.site)
    journey.section("الموافقة", "consent", journey.consent, shot="apply-consent")
    shot(page, "apply-tasks-complete")

    # Check your answers, each with a link to change it (named for screen readers), then send.
    journey.open_check_answers()
    expect(page.locator("main")).to_contain_text("HADDAD")
    expect(page.locator("main")).to_contain_text(PASSPORT)
    expect(page.locator("main")).to_contain_text("الجزائر")
    expect(page.get_by_role("link", name="تغيير اللقب")).to_have_attribute("href", "/apply/about-you#surname")
    journey.no_sideways_scrolling()
    shot(page, "apply-check")
    case_number = journey.send()
    shot(page, "applied")

    # Follow the case and book the identity check, in Arabic.
    panel = journey.open_case(case_number)
    expect(panel).to_contain_text("في انتظار التحقق من هويتك في مركز الخدمة")
    expect(panel).to_contain_text("إنه في انتظارك.")
    panel = journey.book_by_video(panel, case_number)
    expect(panel).to_contain_text("عبر مكالمة فيديو")
    shot(page, "my-booked")

    # The officials do their part; the applicant sees the outcome and downloads the credential.
    journey.officials_approve(case_number)
    expect(page.locator("main")).to_contain_text("تمت الموافقة: أنت مقيم إلكتروني")
    shot(page, "my-approved")
    credential = journey.download_credential()
    assert credential.count("~") >= 2  # an SD-JWT with disclosures
    context.close()
