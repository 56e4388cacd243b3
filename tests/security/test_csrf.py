"""Cross-site request forgery: form tokens bound to the browser and used once; header tokens for
scripts that use the session cookie; bearer-token calls carry no ambient authority."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from eresident.documents.models import Document
from eresident.identity.models import Applicant, Application
from eresident.kit.models import UsedFormToken
from eresident.officials import service as officials
from eresident.security.models import AuthSession
from eresident.security.totp import current_code
from eresident.seed import DEMO_PASSWORD
from tests.factories import Api, Person, application_payload, bearer, png_bytes

HTML = {"accept": "text/html"}
PASSWORD = "a long passphrase 1"


@pytest.fixture
def api(node) -> Api:
    return Api(node)


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def assert_csrf_problem(r) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/csrf") and body["status"] == 403 and body["title"]


def signup_form(node, email: str, csrf: str) -> dict:
    return {"csrf_token": csrf, "email": email, "password": PASSWORD}


def cookie_session(api: Api, email: str | None = None):
    """An applicant signed in through the API, with the session also set as the browser cookie."""
    email = email or f"cookie{count(api.node, Applicant)}@example.dz"
    api.client.cookies.clear()  # sign-up and sign-in as an API client, then hand the session to the "browser"
    api.applicant(email=email)
    r = api.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    body = r.json()
    api.client.cookies.set("er_session", body["token"], domain="lj.test")
    return body["token"], body["csrf_token"]


# --- page forms -------------------------------------------------------------------------------------------

def test_a_form_post_without_a_token_is_refused(node):
    client = node.client()
    client.get("/signup")
    r = client.post("/signup", data={"email": "a@example.dz", "password": PASSWORD})
    assert_csrf_problem(r)
    assert count(node, Applicant) == 0


def test_a_browser_gets_the_refusal_as_a_page(node):
    client = node.client()
    client.get("/signup")
    r = client.post("/signup", data={"email": "a@example.dz", "password": PASSWORD}, headers=HTML)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "This form is no longer valid" in r.text and "Reload the page" in r.text
    assert count(node, Applicant) == 0


@pytest.mark.parametrize("token", ["", "garbage", "nonce.0123456789abcdef0123456789abcdef01234567", "."])
def test_a_forged_token_is_refused(node, token):
    client = node.client()
    client.get("/signup")
    assert_csrf_problem(client.post("/signup", data=signup_form(node, "a@example.dz", token)))
    assert count(node, Applicant) == 0


def test_a_token_made_for_another_browser_is_refused(node):
    victim, attacker = node.client(), node.client()
    token = csrf_of(attacker.get("/signup").text)  # bound to the attacker's er_pre cookie
    victim.get("/signup")
    assert victim.cookies["er_pre"] != attacker.cookies["er_pre"]
    assert_csrf_problem(victim.post("/signup", data=signup_form(node, "a@example.dz", token)))
    # nor does it work for a browser without any cookie
    assert_csrf_problem(node.client().post("/signup", data=signup_form(node, "a@example.dz", token)))
    assert count(node, Applicant) == 0
    # in its own browser it does
    assert attacker.post("/signup", data=signup_form(node, "a@example.dz", token)).status_code == 200


def test_a_token_of_one_session_is_refused_in_another(node, api):
    api.applicant(email="first@example.dz")
    api.applicant(email="second@example.dz")
    browsers = []
    for email in ("first@example.dz", "second@example.dz"):
        b = node.client()
        form = b.get("/login")
        b.post("/login", data={"csrf_token": csrf_of(form.text), "email": email, "password": PASSWORD})
        browsers.append(b)
    first_token = csrf_of(browsers[0].get("/my", headers=HTML).text)
    r = browsers[1].post("/logout", data={"csrf_token": first_token})
    assert_csrf_problem(r)
    assert browsers[1].get("/my", headers=HTML, follow_redirects=False).status_code == 200


def test_a_pre_sign_in_token_dies_with_sign_in(node, api):
    """Tokens are bound to the session once there is one: a page fetched before sign-in cannot
    be used to post after it."""
    api.applicant(email="early@example.dz")
    b = node.client()
    stale = csrf_of(b.get("/signup").text)
    form = b.get("/login")
    b.post("/login", data={"csrf_token": csrf_of(form.text), "email": "early@example.dz", "password": PASSWORD})
    assert_csrf_problem(b.post("/logout", data={"csrf_token": stale}))


def test_a_form_token_is_single_use(node):
    client = node.client()
    token = csrf_of(client.get("/signup").text)
    first = client.post("/signup", data=signup_form(node, "first@example.dz", token))
    assert first.status_code == 200 and "Check your email" in first.text
    before = count(node, Applicant), count(node, UsedFormToken)
    again = client.post("/signup", data=signup_form(node, "second@example.dz", token))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert problem["type"].endswith("/form-replayed") and "already submitted" in problem["title"]
    assert "Nothing was changed" in problem["detail"]
    assert (count(node, Applicant), count(node, UsedFormToken)) == before == (1, 1)


def test_a_replayed_form_shows_a_page_in_a_browser(node):
    client = node.client()
    token = csrf_of(client.get("/signup").text)
    client.post("/signup", data=signup_form(node, "first@example.dz", token), headers=HTML)
    again = client.post("/signup", data=signup_form(node, "second@example.dz", token), headers=HTML)
    assert again.status_code == 409 and again.headers["content-type"].startswith("text/html")
    assert "This form was already submitted" in again.text
    with node.ctx.database.session(write=False) as db:
        assert db.scalars(select(Applicant.email)).all() == ["first@example.dz"]


def test_a_replayed_official_login_form_starts_no_second_session(node):
    with node.ctx.database.session(write=False) as db:
        secret = officials.totp_secret(node.ctx, officials.by_username(db, "lj-reviewer"))
    browser = node.client()
    token = csrf_of(browser.get("/official/login").text)
    presession = browser.cookies["er_pre"]
    form = {"csrf_token": token, "username": "lj-reviewer", "password": DEMO_PASSWORD,
            "totp": current_code(secret, node.clock.now())}
    assert browser.post("/official/login", data=form, follow_redirects=False).status_code == 303
    assert count(node, AuthSession) == 1
    # the same request again from the same browser state (e.g. a captured request, or a double click)
    replay = node.client()
    replay.cookies.set("er_pre", presession, domain="lj.test")
    r = replay.post("/official/login", data=form, follow_redirects=False)
    assert r.status_code == 409 and r.json()["type"].endswith("/form-replayed")
    assert "er_session" not in r.cookies
    assert count(node, AuthSession) == 1


def test_a_failed_form_does_not_use_up_anything_but_the_form(node):
    """A refused sign-up shows the form again with a fresh token that works."""
    client = node.client()
    token = csrf_of(client.get("/signup").text)
    r = client.post("/signup", data={"csrf_token": token, "email": "a@example.dz", "password": "short"})
    assert r.status_code == 422
    fresh = csrf_of(r.text)
    assert fresh != token
    assert client.post("/signup", data=signup_form(node, "a@example.dz", fresh)).status_code == 200


def test_reading_needs_no_token(node):
    assert node.client().get("/signup").status_code == 200


# --- JSON API with the session cookie ---------------------------------------------------------------------

def test_cookie_authenticated_api_call_without_the_header_token_is_refused(node, api):
    _token, _csrf = cookie_session(api)
    photo = api.client.post("/api/v1/documents", headers={"X-CSRF-Token": _csrf}, data={"kind": "photo"},
                            files={"file": ("photo.png", png_bytes(), "image/png")})
    assert photo.status_code == 201, photo.text
    body = application_payload(Person(), photo_id=photo.json()["id"])
    r = api.client.post("/api/v1/applications", json=body)
    assert_csrf_problem(r)
    assert count(node, Application) == 0


def test_cookie_authenticated_api_call_with_the_header_token_is_allowed(node, api):
    _token, csrf = cookie_session(api)
    photo = api.client.post("/api/v1/documents", headers={"X-CSRF-Token": csrf}, data={"kind": "photo"},
                            files={"file": ("photo.png", png_bytes(), "image/png")})
    body = application_payload(Person(), photo_id=photo.json()["id"])
    r = api.client.post("/api/v1/applications", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert count(node, Application) == 1


def test_the_header_token_is_reusable_within_its_session(node, api):
    _token, csrf = cookie_session(api)
    for _ in range(3):
        r = api.client.post("/api/v1/documents", headers={"X-CSRF-Token": csrf}, data={"kind": "photo"},
                            files={"file": ("photo.png", png_bytes(), "image/png")})
        assert r.status_code == 201, r.text
    assert count(node, Document) == 3


def test_a_header_token_of_another_session_is_refused(node, api):
    _first, first_csrf = cookie_session(api, "one@example.dz")
    cookie_session(api, "two@example.dz")  # the cookie now holds the second session
    r = api.client.post("/api/v1/documents", headers={"X-CSRF-Token": first_csrf}, data={"kind": "photo"},
                        files={"file": ("photo.png", png_bytes(), "image/png")})
    assert_csrf_problem(r)
    assert count(node, Document) == 0


def test_a_cross_site_form_posting_to_the_api_with_the_cookie_is_refused(node, api):
    """The classic attack: an HTML form elsewhere posts multipart to the API; the browser adds the cookie."""
    cookie_session(api)
    r = api.client.post("/api/v1/documents", data={"kind": "photo"},
                        files={"file": ("photo.png", png_bytes(), "image/png")})
    assert_csrf_problem(r)
    r = api.client.post("/api/v1/auth/logout", content=b"x=1", headers={"content-type": "text/plain"})
    assert_csrf_problem(r)
    assert count(node, Document) == 0
    assert api.client.get("/api/v1/applications").status_code == 200  # the session was not ended


def test_cookie_logout_with_the_header_token_ends_the_session(node, api):
    token, csrf = cookie_session(api)
    assert api.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert node.client().get("/api/v1/applications", headers=bearer(token)).status_code == 401


def test_official_cookie_api_call_needs_the_header_token(node, api):
    _applicant, app_id = api.to_review()
    ctx = node.ctx
    with ctx.database.session(write=False) as db:
        reviewer = officials.by_username(db, "lj-reviewer")
        secret, last = officials.totp_secret(ctx, reviewer), reviewer.totp_last_step
    while pyotp.TOTP(secret).timecode(ctx.clock.now()) <= last:
        ctx.clock.advance(timedelta(seconds=30))
    login = node.client().post("/api/v1/officials/login", json={
        "username": "lj-reviewer", "password": DEMO_PASSWORD, "totp": current_code(secret, ctx.clock.now())}).json()
    script = node.client()
    script.cookies.set("er_session", login["token"], domain="lj.test")
    assert_csrf_problem(script.post(f"/api/v1/cases/{app_id}/claim"))
    with ctx.database.session(write=False) as db:
        assert db.get(Application, uuid.UUID(app_id)).status == "awaiting_review"
    r = script.post(f"/api/v1/cases/{app_id}/claim", headers={"X-CSRF-Token": login["csrf_token"]})
    assert r.status_code == 200 and r.json()["status"] == "in_review"


# --- bearer tokens ---------------------------------------------------------------------------------------

def test_bearer_token_calls_need_no_csrf_token(node, api):
    token = api.applicant()
    assert not api.client.cookies.get("er_session")
    r = api.submit(token)  # upload (multipart) and submit (JSON), neither with a CSRF token
    assert r.status_code == 201, r.text
    assert count(node, Application) == 1
    assert api.client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204


def test_bearer_form_posts_are_not_consumed_as_form_tokens(node, api):
    token = api.applicant()
    for _ in range(2):
        assert api.upload(token).status_code == 201
    assert count(node, UsedFormToken) == 0


def test_anonymous_json_calls_need_no_token(node, api):
    r = api.client.post("/api/v1/applicants", json={"email": "anon@example.dz", "password": PASSWORD})
    assert r.status_code == 201


def test_a_form_token_for_an_empty_binding_is_refused(node):
    """Tokens fetched without a pre-session (a stale session cookie plus a bearer header) must not
    work for a cookie-less victim: that would allow login CSRF."""
    import re

    attacker = node.client()
    attacker.cookies.set("er_session", "stale")
    page = attacker.get("/login", headers={"Authorization": "Bearer x"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    victim = node.client()
    r = victim.post("/login", data={"csrf_token": token, "email": "a@example.dz", "password": "x" * 12},
                    follow_redirects=False)
    assert r.status_code == 403
