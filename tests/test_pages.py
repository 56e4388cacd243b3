"""The server-rendered pages, driven like a browser without JavaScript: sign-up to decision,
errors beside fields, security headers and cookies, and escaping of what applicants type."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import func, select

from eresident.identity.models import Application
from eresident.officials import service as officials
from eresident.security.totp import current_code
from eresident.sites.models import Appointment
from eresident.seed import DEMO_PASSWORD, seed_demo
from tests.factories import Api, Person, bearer, png_bytes

PASSWORD = "a long passphrase 1"
SCRIPT = "<script>alert(1)</script>"


# --- a browser ----------------------------------------------------------------------------------------------

class Browser:
    """One person's browser: its own cookies, asks for HTML, and checks every page it gets."""

    def __init__(self, node):
        self.node = node
        self.client = node.client()
        self.client.headers["accept"] = "text/html,application/xhtml+xml"
        self.page = None

    def _check(self, r):
        assert_secure_response(r)
        if r.headers.get("content-type", "").startswith("text/html"):
            assert_safe_html(r)
            self.page = r
        return r

    def get(self, url: str, **kw):
        return self._check(self.client.get(url, follow_redirects=False, **kw))

    def post(self, url: str, data: dict, files=None, csrf: str | None = None):
        csrf = csrf if csrf is not None else csrf_of(self.page.text)
        return self._check(self.client.post(url, data={**data, "csrf_token": csrf}, files=files,
                                            follow_redirects=False))

    def submit(self, url: str, form_url: str, data: dict, files=None):
        """GET the page with the form, then POST the form with its token."""
        assert self.get(form_url).status_code == 200
        return self.post(url, data, files)


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def assert_secure_response(r) -> None:
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    for cookie in r.headers.get_list("set-cookie"):
        name_value = cookie.split(";", 1)[0]
        if name_value.split("=", 1)[1].strip('"'):  # a cookie that carries a value (not a deletion)
            lowered = cookie.lower()
            assert "httponly" in lowered and "samesite=lax" in lowered, cookie


def assert_safe_html(r) -> None:
    text = r.text
    assert re.search(r'<html lang="[a-z]{2}', text)
    # CSP forbids inline script; none is needed. The only script is a file of our own (the photo
    # page's upload progress), loaded by address.
    text = re.sub(r'<script src="/static/[a-z-]+\.js" defer></script>', "", text)
    assert "<script" not in text.lower()
    assert r.headers["cache-control"] == "no-store"


def login_redirect(r, where: str) -> None:
    assert r.status_code == 303, r.text
    assert r.headers["location"] == where


def code_for(node, username: str) -> str:
    """The official's current code, stepping the frozen clock past a code they already used."""
    ctx = node.ctx
    with ctx.database.session(write=False) as db:
        official = officials.by_username(db, username)
        secret, last = officials.totp_secret(ctx, official), official.totp_last_step
    while pyotp.TOTP(secret).timecode(ctx.clock.now()) <= last:
        ctx.clock.advance(timedelta(seconds=30))
    return current_code(secret, ctx.clock.now())


def official_browser(node, username: str) -> tuple[Browser, object]:
    b = Browser(node)
    r = b.submit("/official/login", "/official/login", {
        "username": username, "password": DEMO_PASSWORD, "totp": code_for(node, username)})
    return b, r


def apply_fields(person: Person, **overrides) -> dict:
    fields = {
        "surname": person.surname, "given_names": person.given_names, "native_name": person.native_name,
        "birth_date": person.birth_date.isoformat(), "sex": person.sex, "nationality": person.nationality,
        "residence_country": "DZ", "phone": "+213 21 23 45 67", "address": "5 Rue Larbi Ben M'hidi, Algiers",
        "passport_number": person.passport_number, "passport_expiry": person.passport_expiry.isoformat(),
        "mrz": "\r\n".join(person.mrz()),
        "purpose": "I trade dates and olive oil and want to open a company in the region.",
        "site_code": "MK-ALG", "consent_processing": "yes", "consent_sensitive_data": "yes",
        "consent_cross_region_sharing": "yes"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def photo() -> dict:
    return {"photo": ("me.png", png_bytes(), "image/png")}


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def demo(make_node):
    node = make_node(demo=True)
    seed_demo(node.ctx)
    return node


def signed_up(node, email: str = "amina@example.dz") -> Browser:
    """An applicant who signed up, confirmed and signed in through the pages."""
    b = Browser(node)
    done = b.submit("/signup", "/signup", {"email": email, "password": PASSWORD})
    assert done.status_code == 200 and "Check your email" in done.text
    link = html.unescape(re.search(r'<a href="([^"]+/confirm\?token=[^"]+)"', done.text).group(1))
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == node.settings.base_url
    confirm = b.get(f"{parts.path}?{parts.query}")
    assert confirm.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', confirm.text).group(1)
    login_redirect(b.post("/confirm", {"token": token}), "/login?confirmed=1")
    page = b.get("/login?confirmed=1")
    assert "Your email address is confirmed" in page.text
    r = b.post("/login", {"email": email, "password": PASSWORD})
    login_redirect(r, "/my")
    return b


# --- the journey --------------------------------------------------------------------------------------------

def test_start_page(node):
    b = Browser(node)
    r = b.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="en" dir="ltr">' in r.text
    assert 'href="/signup"' in r.text and 'href="/official/login"' in r.text


def test_pages_from_sign_up_to_decision(demo):
    node = demo
    person = Person()
    applicant = signed_up(node)
    my = applicant.get("/my")
    assert my.status_code == 200 and 'href="/apply"' in my.text

    form = applicant.get("/apply/one-page")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    done = applicant.post("/apply", apply_fields(person), files=photo())
    assert done.status_code == 200, done.text
    assert "Application submitted" in done.text
    case_number = re.search(r"<strong>(LJ-2026-\d+)</strong>", done.text).group(1)
    with node.ctx.database.session(write=False) as db:
        app = db.scalar(select(Application).where(Application.case_number == case_number))
        app_id, status = app.id, app.status
    assert status == "awaiting_identity_check"

    # the applicant books the identity check on their page
    my = applicant.get("/my")
    assert case_number in my.text
    slot = re.search(r'name="starts_at">\s*<option value="([^"]+)"', my.text).group(1)
    r = applicant.post(f"/my/applications/{app_id}/book", {"starts_at": slot, "mode": "video"})
    login_redirect(r, "/my")
    with node.ctx.database.session(write=False) as db:
        booked = db.scalar(select(Appointment).where(Appointment.application_id == app_id))
        assert (booked.starts_at.isoformat(), booked.mode) == (slot, "video")
    assert "Identity check" in applicant.get("/my").text

    # the site agent records the identity check
    agent, r = official_browser(node, "lj-agent")
    login_redirect(r, "/agent")
    appointments = agent.get("/agent")
    assert appointments.status_code == 200 and f'href="/agent/cases/{app_id}"' in appointments.text
    check = agent.get(f"/agent/cases/{app_id}")
    assert check.status_code == 200 and case_number in check.text
    r = agent.post(f"/agent/cases/{app_id}", {"passport_seen": "yes", "passport_matches_mrz": "yes",
                                              "face_matches_photo": "yes", "notes": ""})
    login_redirect(r, "/agent")

    # the reviewer finds it on the worklist, claims it and recommends
    reviewer, r = official_browser(node, "lj-reviewer")
    login_redirect(r, "/official")
    worklist = reviewer.get("/official")
    assert worklist.status_code == 200 and f'href="/official/cases/{app_id}"' in worklist.text
    case = reviewer.get(f"/official/cases/{app_id}")
    assert case.status_code == 200 and f'action="/official/cases/{app_id}/claim"' in case.text
    login_redirect(reviewer.post(f"/official/cases/{app_id}/claim", {}), f"/official/cases/{app_id}")
    case = reviewer.get(f"/official/cases/{app_id}")
    assert f'action="/official/cases/{app_id}/recommend"' in case.text
    r = reviewer.post(f"/official/cases/{app_id}/recommend", {"choice": "approve", "text": "All clear."})
    login_redirect(r, f"/official/cases/{app_id}")

    # the approver decides
    approver, r = official_browser(node, "lj-approver")
    login_redirect(r, "/official")
    case = approver.get(f"/official/cases/{app_id}")
    assert f'action="/official/cases/{app_id}/decide"' in case.text and "All clear." in case.text
    r = approver.post(f"/official/cases/{app_id}/decide", {"choice": "approve", "text": ""})
    login_redirect(r, f"/official/cases/{app_id}")

    with node.ctx.database.session(write=False) as db:
        assert db.get(Application, app_id).status == "approved"
    my = applicant.get("/my")
    assert "You are an e-resident" in my.text and re.search(r"LJ-ER-2026-\d+", my.text)


def test_sign_up_link_is_shown_only_on_demo_nodes(node):
    b = Browser(node)  # the `node` fixture is not a demo node
    done = b.submit("/signup", "/signup", {"email": "quiet@example.dz", "password": PASSWORD})
    assert done.status_code == 200 and "Check your email" in done.text
    assert "/confirm?token=" not in done.text


def test_sign_in_sets_a_session_cookie_that_is_http_only_and_lax(demo):
    b = Browser(demo)
    done = b.submit("/signup", "/signup", {"email": "c@example.dz", "password": PASSWORD})
    assert done.status_code == 200
    pre = b.client.cookies.get("er_pre")
    assert pre
    api = Api(demo)
    api.client.post("/api/v1/applicants/confirm", params={
        "token": api.last_mail_to("c@example.dz").split("token=")[1].split()[0]})
    b.get("/login")
    r = b.post("/login", {"email": "c@example.dz", "password": PASSWORD})
    session = [c for c in r.headers.get_list("set-cookie") if c.startswith("er_session=")]
    assert len(session) == 1
    lowered = session[0].lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert f"max-age={demo.settings.applicant_session_hours * 3600}" in lowered
    assert "er_pre" not in b.client.cookies  # the pre-session cookie is dropped at sign-in


def test_wrong_password_on_the_page_shows_an_error_beside_the_field(demo):
    signed_up(demo, "x@example.dz")
    b = Browser(demo)
    b.get("/login")
    r = b.post("/login", {"email": "x@example.dz", "password": "a wrong passphrase"})
    assert r.status_code == 401
    assert 'href="#email"' in r.text and 'id="email-error"' in r.text and 'aria-invalid="true"' in r.text
    assert 'value="x@example.dz"' in r.text  # what was typed is kept
    assert "er_session" not in b.client.cookies


def test_sign_up_errors_are_shown_beside_the_fields(node):
    b = Browser(node)
    r = b.submit("/signup", "/signup", {"email": "not-an-email", "password": "short"})
    assert r.status_code == 422
    assert 'class="error-summary"' in r.text
    assert 'href="#email"' in r.text and 'id="email"' in r.text
    assert 'value="not-an-email"' in r.text


def test_a_bad_mrz_is_shown_beside_the_field_with_a_summary_link(demo):
    person = Person()
    applicant = signed_up(demo)
    lines = person.mrz()
    lines[1] = lines[1][:9] + ("0" if lines[1][9] != "0" else "1") + lines[1][10:]
    applicant.get("/apply")
    r = applicant.post("/apply", apply_fields(person, mrz="\n".join(lines)), files=photo())
    assert r.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', r.text, re.S).group(0)
    assert 'href="#mrz"' in summary and "check digit" in summary
    assert 'id="mrz"' in r.text and 'id="mrz-error"' in r.text
    assert 'aria-describedby="mrz-hint mrz-error"' in r.text
    # the rest of what was typed is kept
    assert f'value="{person.passport_number}"' in r.text and html.escape(lines[0]) in r.text
    assert count(demo, Application) == 0


def test_a_missing_photo_and_consent_are_named(demo):
    person = Person()
    applicant = signed_up(demo)
    applicant.get("/apply")
    r = applicant.post("/apply", apply_fields(person))
    assert r.status_code == 422 and 'href="#photo"' in r.text and 'id="photo-error"' in r.text
    r = applicant.post("/apply", apply_fields(person, consent_sensitive_data=None), files=photo())
    assert r.status_code == 422
    assert 'href="#consents-sensitive_data"' in r.text and 'id="consents-sensitive_data"' in r.text
    assert count(demo, Application) == 0


def test_invalid_fields_on_the_application_page_are_named(demo):
    applicant = signed_up(demo)
    applicant.get("/apply")
    r = applicant.post("/apply", apply_fields(Person(), phone="0555"), files=photo())
    assert r.status_code == 422
    assert 'href="#phone"' in r.text and 'id="phone-error"' in r.text


def test_signed_out_pages_send_people_to_sign_in(node):
    b = Browser(node)
    login_redirect(b.get("/my"), "/login")
    login_redirect(b.get("/apply"), "/login")
    login_redirect(b.get("/official"), "/official/login")
    login_redirect(b.get(f"/official/cases/{uuid.uuid4()}"), "/official/login")
    login_redirect(b.get("/agent"), "/official/login")


def test_an_api_client_gets_a_problem_not_a_redirect(node):
    r = node.client().get("/my")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_official_login_page_with_a_wrong_code(node):
    b = Browser(node)
    b.get("/official/login")
    r = b.post("/official/login", {"username": "lj-reviewer", "password": DEMO_PASSWORD, "totp": "000000"})
    assert r.status_code == 401 and "Each code works once" in r.text and 'href="#username"' in r.text
    assert "er_session" not in b.client.cookies


def test_an_applicant_cannot_open_official_pages(demo):
    applicant = signed_up(demo)
    login_redirect(applicant.get("/official"), "/official/login")


def test_a_site_agent_cannot_open_the_case_page(node):
    api = Api(node)
    token = api.applicant()
    app_id = api.submit(token).json()["id"]
    agent, _ = official_browser(node, "lj-agent")
    r = agent.get(f"/official/cases/{app_id}")
    assert r.status_code == 403 and "reviewer" in r.text


def test_a_reviewer_cannot_decide_through_the_form(node):
    api = Api(node)
    _token, app_id = api.to_review()
    reviewer, _ = official_browser(node, "lj-reviewer")
    reviewer.get(f"/official/cases/{app_id}")
    r = reviewer.post(f"/official/cases/{app_id}/decide", {"choice": "approve", "text": ""})
    assert r.status_code == 403 and "approver" in r.text
    with node.ctx.database.session(write=False) as db:
        assert db.get(Application, uuid.UUID(app_id)).status == "awaiting_review"


def test_refusing_without_a_note_shows_the_error_beside_the_note(node):
    api = Api(node)
    _token, app_id = api.to_review()
    reviewer, _ = official_browser(node, "lj-reviewer")
    reviewer.get(f"/official/cases/{app_id}")
    reviewer.post(f"/official/cases/{app_id}/claim", {})
    reviewer.get(f"/official/cases/{app_id}")
    r = reviewer.post(f"/official/cases/{app_id}/recommend", {"choice": "refuse", "text": ""})
    assert r.status_code == 422
    assert 'href="#note"' in r.text and 'id="note"' in r.text
    with node.ctx.database.session(write=False) as db:
        assert db.get(Application, uuid.UUID(app_id)).status == "in_review"


def test_a_failed_identity_check_without_notes_is_shown_on_the_form(node):
    api = Api(node)
    token = api.applicant()
    app_id = api.submit(token).json()["id"]
    assert api.book_first_slot(token, app_id).status_code == 201
    agent, _ = official_browser(node, "lj-agent")
    agent.get(f"/agent/cases/{app_id}")
    r = agent.post(f"/agent/cases/{app_id}", {"passport_seen": "yes", "passport_matches_mrz": "yes"})
    assert r.status_code == 422 and 'href="#notes"' in r.text and 'id="notes-error"' in r.text
    with node.ctx.database.session(write=False) as db:
        assert db.get(Application, uuid.UUID(app_id)).status == "awaiting_identity_check"


# --- escaping ------------------------------------------------------------------------------------------------

def test_what_an_applicant_typed_is_escaped_on_the_official_case_page(node):
    api = Api(node)
    token = api.applicant()
    person = Person(native_name=f"أمينة {SCRIPT}")
    r = api.submit(token, person, address=f"5 Rue {SCRIPT}, Algiers",
                   purpose=f"I trade dates {SCRIPT} and want to open a company in the region.")
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    reviewer, _ = official_browser(node, "lj-reviewer")
    page = reviewer.get(f"/official/cases/{app_id}")  # the Browser also checks "<script" is absent
    assert page.status_code == 200
    assert "I trade dates &lt;script&gt;alert(1)&lt;/script&gt; and want" in page.text
    assert "أمينة &lt;script&gt;" in page.text
    assert SCRIPT not in page.text


def test_a_typed_value_is_escaped_when_the_form_comes_back(demo):
    applicant = signed_up(demo)
    applicant.get("/apply")
    r = applicant.post("/apply", apply_fields(Person(), surname=f'"><{SCRIPT[1:]}', phone="0555"), files=photo())
    assert r.status_code == 422
    assert SCRIPT not in r.text and "&#34;&gt;&lt;script&gt;" in r.text


def test_api_responses_carry_the_security_headers_too(node):
    r = node.client().get("/api/v1/sites/MK-ALG/slots")
    assert r.status_code == 200
    assert_secure_response(r)
    problem = node.client().get("/my")
    assert problem.status_code == 401
    assert_secure_response(problem)


def test_an_unsafe_upload_on_the_application_page_is_named_beside_the_photo(demo):
    applicant = signed_up(demo)
    applicant.get("/apply")
    r = applicant.post("/apply", apply_fields(Person()),
                       files={"photo": ("me.png", b"MZ\x90\x00" + bytes(64), "image/png")})
    assert r.status_code == 422
    assert 'href="#photo"' in r.text and "Windows program" in r.text
    assert count(demo, Application) == 0


def test_sign_out_through_the_page(demo):
    applicant = signed_up(demo)
    token = applicant.client.cookies["er_session"]
    applicant.get("/my")
    login_redirect(applicant.post("/logout", {}), "/")
    login_redirect(applicant.get("/my"), "/login")
    assert demo.client().get("/api/v1/applications", headers=bearer(token)).status_code == 401


def test_an_unexpected_error_is_a_page_with_the_security_headers(make_node):
    node = make_node()

    @node.app.get("/boom")
    def boom():
        raise RuntimeError("unexpected")

    browser = node.client()
    page = browser.get("/boom", headers={"Accept": "text/html"})
    assert page.status_code == 500 and "Something went wrong on our side" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    api = browser.get("/boom")
    assert api.status_code == 500 and api.headers["content-type"].startswith("application/problem+json")
    assert api.headers["x-frame-options"] == "DENY" and "unexpected" not in api.text
