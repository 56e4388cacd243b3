"""The application as a task list (issue 8): one section per page, the answers kept in a draft on the
server (encrypted, the applicant's own), check your answers with links back to each section, then the
confirmation with the case number. Without JavaScript, through the pages."""

from __future__ import annotations

import html
import re

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, text

from eresident.identity import drafts
from eresident.identity.models import Application, ApplicationDraft
from tests.factories import Api, Person, pdf_bytes, png_bytes
from tests.identity.test_messages_i18n import beside, browser, form_fields, in_summary, shown
from tests.test_pages import Browser, signed_up

SECTION_SLUGS = [s.slug for s in drafts.SECTIONS]


def section_fields(fields: dict, slug: str) -> dict:
    return {k: v for k, v in fields.items() if k in drafts.BY_SLUG[slug].fields}


def fill(client, fields: dict, slugs=None, photo: bytes | None = None) -> None:
    """Save each section (all by default) and check it goes back to the task list."""
    for slug in slugs or SECTION_SLUGS:
        files = {"photo": ("me.png", photo or png_bytes(), "image/png")} if slug == "documents" else None
        r = client.post(f"/apply/{slug}", data=section_fields(fields, slug), files=files, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/apply", (slug, r.text[:2000])


def statuses(page: str) -> dict[str, str]:
    """Each task of the task list and its status, as text."""
    found = re.findall(r'<a href="/apply/([a-z-]+)" aria-describedby="task-[a-z-]+-status">[^<]*</a>\s*'
                       r'<strong class="task-status[^"]*" id="task-[a-z-]+-status">([^<]*)</strong>', page)
    return {slug: state for slug, state in found if slug in SECTION_SLUGS}


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


def test_the_whole_application_section_by_section_to_a_case_number(node):
    token = Api(node).applicant()
    client = browser(node, "en", token)
    page = client.get("/apply")
    assert page.status_code == 200
    assert statuses(page.text) == {slug: "Not started" for slug in SECTION_SLUGS}
    assert 'href="/apply/check"' not in page.text and "Cannot start yet" in page.text
    assert 'href="/apply/one-page"' in page.text
    assert client.get("/apply/check", follow_redirects=False).headers["location"] == "/apply"

    person = Person()
    fields = form_fields(person, consent_cross_region_sharing="yes")
    fill(client, fields)
    page = client.get("/apply")
    assert statuses(page.text) == {slug: "Completed" for slug in SECTION_SLUGS}
    assert 'href="/apply/check"' in page.text

    check = client.get("/apply/check")
    assert check.status_code == 200
    assert person.passport_number in check.text and "14 Mar 1990" in check.text and "me.png" in check.text
    assert "MK Space Algiers" in check.text and "Algeria" in check.text
    # A Change link for every answer, naming it for screen readers.
    assert ('<a href="/apply/passport#mrz">Change<span class="visually-hidden"> Machine-readable zone</span></a>'
            in check.text)
    assert 'href="/apply/consent#consents-processing"' in check.text

    done = client.post("/apply/check", data={})
    assert done.status_code == 200, done.text[:2000]
    assert "Application submitted" in done.text
    case_number = re.search(r"<strong>(LJ-2026-\d+)</strong>", done.text).group(1)
    with node.ctx.database.session(write=False) as db:
        app = db.scalar(select(Application).where(Application.case_number == case_number))
        assert app.surname == "BENALI" and app.site_id is not None
    # The draft went in the same transaction; a new application starts from an empty task list.
    assert count(node, ApplicationDraft) == 0
    assert statuses(client.get("/apply").text) == {slug: "Not started" for slug in SECTION_SLUGS}


def test_a_sections_problems_are_shown_and_nothing_else_is_lost(node):
    token = Api(node).applicant()
    client = browser(node, "en", token)
    fields = form_fields(Person())
    fill(client, fields, ["about-you"])
    r = client.post("/apply/contact", data={"phone": "0555 12 34", "address": "12 Rue Didouche, Algiers"})
    assert r.status_code == 422
    assert shown(r.text, "phone").startswith("Enter the number in international format")
    assert 'value="12 Rue Didouche, Algiers"' in r.text and 'value="0555 12 34"' in r.text  # as typed
    # Only this section's fields are checked: nothing about the missing passport or photo.
    assert re.findall(r'<a href="#([^"]+)">', r.text) == ["phone"]
    page = client.get("/apply")
    assert statuses(page.text)["about-you"] == "Completed"
    assert statuses(page.text)["contact"] == "In progress"
    again = client.get("/apply/contact")
    assert 'value="12 Rue Didouche, Algiers"' in again.text  # the right answer was kept
    assert 'value="0555 12 34"' not in again.text  # the wrong one was not
    assert 'value="BENALI"' in client.get("/apply/about-you").text


def test_the_passport_page_checks_the_passport_and_consent_page_the_consents(node):
    token = Api(node).applicant()
    client = browser(node, "en", token)
    person = Person()
    lines = person.mrz()
    lines[1] = lines[1][:9] + ("0" if lines[1][9] != "0" else "1") + lines[1][10:]
    r = client.post("/apply/passport", data=section_fields(form_fields(person, mrz="\n".join(lines)), "passport"))
    assert r.status_code == 422
    assert shown(r.text, "mrz").startswith("Machine-readable zone: The check digit of the document number")
    r = client.post("/apply/consent", data={"consent_processing": "yes"})
    assert r.status_code == 422
    assert in_summary(r.text, "consents-sensitive_data") == ("Sensitive personal information: "  # not "I agree"
                                                             "We cannot process your application without this consent.")


def test_a_refused_upload_keeps_the_other_answers(node):
    token = Api(node).applicant()
    client = browser(node, "en", token)
    fields = form_fields(Person())
    fill(client, fields, ["about-you", "contact"])
    r = client.post("/apply/documents", data={}, files={"photo": ("me.png", pdf_bytes(), "image/png")})
    assert r.status_code == 422
    assert "PDF" in beside(r.text, "photo")
    assert 'enctype="multipart/form-data"' in r.text and '<script src="/static/upload-progress.js"' in r.text
    page = client.get("/apply")
    assert statuses(page.text)["about-you"] == "Completed" and statuses(page.text)["contact"] == "Completed"
    assert statuses(page.text)["documents"] == "Not started"
    # Then a good photo; sent again without a file, the one kept is enough.
    fill(client, fields, ["documents"])
    r = client.post("/apply/documents", data={}, follow_redirects=False)
    assert r.status_code == 303
    assert "We have your photo me.png" in client.get("/apply/documents").text


def test_the_draft_survives_signing_out_and_in(node):
    api = Api(node)
    email = "returning@example.dz"
    token = api.applicant(email=email)
    fill(browser(node, "en", token), form_fields(Person()), ["about-you", "passport"])
    assert api.client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code in (
        200, 204)
    assert browser(node, "en", token).get("/apply", follow_redirects=False).status_code in (303, 401)
    client = browser(node, "en", api.login(email, "a long passphrase 1"))
    page = client.get("/apply")
    assert statuses(page.text)["about-you"] == "Completed" and statuses(page.text)["passport"] == "Completed"
    assert 'value="BENALI"' in client.get("/apply/about-you").text


def test_the_draft_is_encrypted_at_rest(node):
    token = Api(node).applicant()
    person = Person()
    fill(browser(node, "en", token), form_fields(person), ["about-you", "passport"])
    with node.ctx.database.session(write=False) as db:
        raw = db.execute(text("SELECT * FROM application_drafts")).one()
    row = " ".join(bytes(v).hex() + " " + bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview))
                   else str(v) for v in raw)
    for secret in [person.passport_number, *person.mrz(), "BENALI"]:
        assert secret not in row
        assert secret.encode().hex() not in row
    with node.ctx.database.session(write=False) as db:
        draft = db.scalar(select(ApplicationDraft))
        answers = drafts.answers(node.ctx, draft)
    assert answers["passport_number"] == person.passport_number and answers["mrz"] == "\n".join(person.mrz())
    with pytest.raises(InvalidTag):  # bound to its table: another context cannot read it
        node.ctx.cipher.decrypt(draft.answers_enc, context="applications.mrz")


def test_check_your_answers_lists_cross_field_problems_with_links_to_the_sections(node):
    token = Api(node).applicant()
    client = browser(node, "en", token)
    fields = form_fields(Person(), surname="BENALLY", sex="M")
    fill(client, fields)  # each section alone is right
    r = client.post("/apply/check", data={})
    assert r.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', r.text, re.S).group(0)
    links = re.findall(r'<a href="([^"]+)">(.*?)</a>', summary)
    assert [href for href, _ in links] == ["/apply/about-you#surname", "/apply/about-you#sex"]
    # Named as on the check page, though the fields are on other pages.
    assert html.unescape(links[0][1]) == ("Surname: The surname you typed (BENALLY) differs from the passport's "
                                          "machine-readable zone (BENALI).")
    assert html.unescape(links[1][1]).startswith("Sex as in the passport: ")
    assert count(node, Application) == 0 and count(node, ApplicationDraft) == 1
    # Corrected on its page, the application goes through.
    fill(client, form_fields(Person()), ["about-you"])
    assert "Application submitted" in client.post("/apply/check", data={}).text
    assert count(node, Application) == 1 and count(node, ApplicationDraft) == 0


@pytest.mark.parametrize("lang", ["zh", "ar"])
def test_the_task_list_and_a_sections_problems_in_the_readers_language(node, lang):
    token = Api(node).applicant()
    client = browser(node, lang, token)
    page = client.get("/apply")
    assert f'<html lang="{lang}"' in page.text
    assert {"zh": "未开始", "ar": "لم يبدأ"}[lang] in page.text
    r = client.post("/apply/contact", data={"phone": "12", "address": "12 Rue Didouche, Algiers"})
    assert r.status_code == 422 and "Enter the number" not in r.text
    assert shown(r.text, "phone")


def test_another_applicant_cannot_see_or_change_your_draft(node):
    api = Api(node)
    mine, theirs = api.applicant(), api.applicant()
    person = Person()
    fill(browser(node, "en", mine), form_fields(person), ["about-you", "passport"])
    other = browser(node, "en", theirs)
    assert person.passport_number not in other.get("/apply/passport").text
    assert 'value="BENALI"' not in other.get("/apply/about-you").text
    assert statuses(other.get("/apply").text)["passport"] == "Not started"
    assert other.get("/apply/check", follow_redirects=False).headers["location"] == "/apply"
    fill(other, form_fields(Person(surname="HADDAD")), ["about-you"])
    assert 'value="BENALI"' in browser(node, "en", mine).get("/apply/about-you").text
    assert count(node, ApplicationDraft) == 2
    assert browser(node, "en", mine).get("/apply/nothing-here").status_code == 404


def test_a_replayed_submission_is_refused(make_node):
    """Through a browser with a session cookie: the check page's form token works once."""
    from eresident.seed import seed_demo

    node = make_node(demo=True)
    seed_demo(node.ctx)
    b: Browser = signed_up(node, "replay@example.dz")
    fields = form_fields(Person())
    for slug in SECTION_SLUGS:
        b.get(f"/apply/{slug}")
        files = {"photo": ("me.png", png_bytes(), "image/png")} if slug == "documents" else None
        assert b.post(f"/apply/{slug}", section_fields(fields, slug), files=files).status_code == 303
    page = b.get("/apply/check")
    token = re.search(r'action="/apply/check".*?name="csrf_token" value="([^"]+)"', page.text, re.S).group(1)
    first = b.post("/apply/check", {}, csrf=token)
    assert first.status_code == 200 and "Application submitted" in first.text
    second = b.post("/apply/check", {}, csrf=token)
    assert second.status_code == 409
    assert count(node, Application) == 1
