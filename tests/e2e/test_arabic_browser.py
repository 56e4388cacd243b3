"""A person who reads only Arabic applies, follows the case and downloads the credential, in a
browser whose language is Arabic, against a real node process. Every step is found by its Arabic
label or text, so an untranslated or unlabelled control fails the test; the pages are right to
left. The officials' part (identity check, review, decision) goes through the API: it is not what
this test is about."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from eresident.identity.mrz import make_td3
from eresident.seed import DEMO_PASSWORD
from tests.e2e.conftest import reader_page
from tests.factories import pdf_bytes, png_bytes

pytestmark = pytest.mark.slow

EMAIL = "yasmina.haddad@example.dz"
PASSWORD = "les oliviers de Tlemcen 1988"
PASSPORT = "DZ5512094"
MRZ = "\n".join(make_td3(surname="HADDAD", given_names="YASMINA", document_number=PASSPORT, nationality="DZA",
                         birth_date=date(1988, 6, 2), sex="F", expiry_date=date(2032, 1, 10), issuing_state="DZA"))


def _official_token(node, username: str) -> str:
    r = httpx.post(f"{node.base_url}/api/v1/officials/login", timeout=30, json={
        "username": username, "password": DEMO_PASSWORD, "totp": node.totp(username)})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _officials_approve(node, application_id: str) -> None:
    def post(token: str, path: str, body: dict | None = None) -> None:
        r = httpx.post(f"{node.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, json=body or {},
                       timeout=30)
        assert r.status_code in (200, 201), (path, r.text)

    post(_official_token(node, "lj-agent"), f"/api/v1/cases/{application_id}/identity-check",
         {"passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
    reviewer = _official_token(node, "lj-reviewer")
    post(reviewer, f"/api/v1/cases/{application_id}/claim")
    post(reviewer, f"/api/v1/cases/{application_id}/recommend", {"recommendation": "approve", "note": "ok"})
    post(_official_token(node, "lj-approver"), f"/api/v1/cases/{application_id}/decide", {"decision": "approve"})


def test_an_arabic_reader_applies_follows_the_case_and_downloads_the_credential(browser, live_node, tmp_path):
    from playwright.sync_api import expect

    node = live_node
    context, page, shot = reader_page(browser, node, folder="arabic", locale="ar", accept_language="ar")
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(8, 8))

    # The start page: Arabic, right to left, no sideways scrolling.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_contain_text("كن مقيمًا إلكترونيًا")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "start")

    # Sign up, confirm, sign in.
    page.get_by_role("link", name="ابدأ الآن").click()
    page.get_by_label("البريد الإلكتروني", exact=True).fill(EMAIL)
    page.get_by_label("كلمة المرور", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="أنشئ الحساب").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("تحقّق من بريدك الإلكتروني")
    shot(page, "check-email")
    page.get_by_role("link", name="أكّد عنوان بريدي الإلكتروني").click()
    page.get_by_role("button", name="تأكيد").click()
    expect(page.get_by_role("status")).to_contain_text("تم تأكيد عنوان بريدك الإلكتروني")
    page.get_by_label("البريد الإلكتروني", exact=True).fill(EMAIL)
    page.get_by_label("كلمة المرور", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="تسجيل الدخول").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("إقامتك الإلكترونية")
    shot(page, "my-empty")

    # Apply through the task list: one section per page, every control found by its Arabic label.
    page.get_by_role("link", name="قدّم طلب الإقامة الإلكترونية").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("قدّم طلب الإقامة الإلكترونية")
    expect(page.locator("#task-about-you-status")).to_have_text("لم يبدأ")
    expect(page.get_by_role("link", name="راجع إجاباتك")).to_have_count(0)  # not before every section is done
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "apply-tasks")

    def open_section(name: str) -> None:
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        expect(page.locator("html")).to_have_attribute("dir", "rtl")

    def save(slug: str) -> None:
        page.get_by_role("button", name="احفظ وتابع").click()
        expect(page).to_have_url(f"{node.base_url}/apply")
        expect(page.locator(f"#task-{slug}-status")).to_have_text("مكتمل")

    open_section("معلومات عنك")
    page.get_by_label("اللقب", exact=True).fill("HADDAD")
    page.get_by_label("الاسم", exact=True).fill("YASMINA")
    page.get_by_label("تاريخ الميلاد", exact=True).fill("1988-06-02")
    page.get_by_label("الجنس كما في جواز السفر", exact=True).select_option("F")
    page.get_by_label("الجنسية", exact=True).select_option("DZ")
    page.get_by_label("بلد الإقامة", exact=True).select_option("DZ")
    shot(page, "apply-about-you")
    save("about-you")

    # A phone number without its country code: the reason in Arabic, beside the field and in the summary.
    open_section("الاتصال")
    page.get_by_label("رقم الهاتف", exact=True).fill("041 33 22 11")
    page.get_by_label("عنوان السكن", exact=True).fill("12 Boulevard de la Soummam, Oran")
    page.get_by_role("button", name="احفظ وتابع").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("هناك مشكلة")
    expect(summary.locator("a[href='#phone']")).to_have_count(1)
    expect(page.locator("#phone-error")).not_to_contain_text("Enter the number")
    expect(page.get_by_label("عنوان السكن", exact=True)).to_have_value("12 Boulevard de la Soummam, Oran")
    shot(page, "apply-contact-error")
    page.get_by_label("رقم الهاتف", exact=True).fill("+213 41 33 22 11")
    save("contact")
    expect(page.locator("#task-about-you-status")).to_have_text("مكتمل")  # nothing else was lost

    open_section("جواز السفر")
    page.get_by_label("رقم جواز السفر", exact=True).fill(PASSPORT)
    page.get_by_label("تاريخ انتهاء الصلاحية", exact=True).fill("2032-01-10")
    page.get_by_label("المنطقة المقروءة آليًا", exact=True).fill(MRZ)
    shot(page, "apply-passport")
    save("passport")

    # With JavaScript the photo goes with upload progress (XMLHttpRequest); a refused file comes back as
    # the page with the reason beside the field, and the next choice goes through.
    open_section("الصورة والوثائق")
    expect(page.locator("#upload-progress")).to_be_hidden()
    not_a_photo = tmp_path / "photo-really-a-pdf.png"
    not_a_photo.write_bytes(pdf_bytes())
    page.locator("#photo").set_input_files(str(not_a_photo))
    with page.expect_request(lambda r: r.url.endswith("/apply/documents") and r.method == "POST") as sent:
        page.get_by_role("button", name="احفظ وتابع").click()
    assert sent.value.resource_type == "xhr", sent.value.resource_type
    expect(page.get_by_role("alert").locator("a[href='#photo']")).to_have_count(1)
    expect(page.locator("#photo-error")).to_contain_text("PDF")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    shot(page, "apply-documents-error")
    page.locator("#photo").set_input_files(str(photo))
    save("documents")
    expect(page.locator("#task-contact-status")).to_have_text("مكتمل")  # the refused file lost nothing

    open_section("سبب الطلب")
    page.get_by_label("الغرض من الإقامة الإلكترونية", exact=True).fill("أصدّر التمور وزيت الزيتون وأريد تأسيس شركة تجارية.")
    save("purpose")
    open_section("مكان التحقق من الهوية")
    page.get_by_label("مركز الخدمة للتحقق من هويتك", exact=True).select_option(label="MK Space Algiers, Algiers")
    save("site")
    open_section("الموافقة")
    for purpose in ("processing", "sensitive_data", "cross_region_sharing"):
        page.locator(f"#consents-{purpose}").check()
    shot(page, "apply-consent")
    save("consent")
    shot(page, "apply-tasks-complete")

    # Check your answers, each with a link to change it (named for screen readers), then send.
    page.get_by_role("link", name="راجع إجاباتك").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("راجع إجاباتك قبل تقديم الطلب")
    expect(page.locator("main")).to_contain_text("HADDAD")
    expect(page.locator("main")).to_contain_text(PASSPORT)
    expect(page.locator("main")).to_contain_text("الجزائر")
    expect(page.get_by_role("link", name="تغيير اللقب")).to_have_attribute("href", "/apply/about-you#surname")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "apply-check")
    page.get_by_role("button", name="قدّم الطلب").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("تم تقديم الطلب")
    case_number = page.get_by_role("status").locator("strong").inner_text().strip()
    assert re.fullmatch(r"LJ-2026-\d{6}", case_number), case_number
    shot(page, "applied")

    # Follow the case and book the identity check, in Arabic.
    page.get_by_role("link", name="احجز موعد التحقق من هويتك").click()
    panel = page.locator("section.panel", has_text=case_number)
    expect(panel).to_contain_text("في انتظار التحقق من هويتك في مركز الخدمة")
    expect(panel).to_contain_text("إنه في انتظارك.")
    panel.get_by_label("الطريقة").select_option("video")
    panel.get_by_role("button", name="احجز هذا الموعد").click()
    panel = page.locator("section.panel", has_text=case_number)
    expect(panel).to_contain_text("عبر مكالمة فيديو")
    shot(page, "my-booked")

    # The officials do their part; the applicant sees the outcome and downloads the credential.
    (application_id,) = node.query("SELECT id FROM applications WHERE case_number = :n", {"n": case_number})[0]
    _officials_approve(node, str(uuid.UUID(str(application_id))))  # SQLite stores it as 32 hex digits
    page.reload()
    expect(page.get_by_role("heading", name="أنت مقيم إلكتروني")).to_be_visible()
    expect(page.locator("main")).to_contain_text("تمت الموافقة: أنت مقيم إلكتروني")
    shot(page, "my-approved")
    with page.expect_download() as download:
        page.get_by_role("button", name="نزّل وثيقتي الموقّعة").click()
    saved = Path(download.value.path())
    credential = json.loads(saved.read_text())
    assert credential["credential"].count("~") >= 2  # an SD-JWT with disclosures
    verdict = httpx.post(f"{node.base_url}/api/v1/credentials/verify", json={"credential": credential["credential"]},
                         timeout=30).json()
    assert verdict["valid"] is True and verdict["disclosed"]["family_name"] == "HADDAD", verdict
    context.close()
