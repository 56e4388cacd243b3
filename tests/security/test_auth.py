"""Signing in: officials' password + TOTP, applicants' password, throttling, session lifetime,
logout and session fixation, on each database."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from eresident.officials import service as officials
from eresident.security.models import AuthSession, LoginAttempt
from eresident.security.totp import current_code
from eresident.seed import DEMO_PASSWORD
from tests.factories import Api, bearer

PROBLEM_KEYS = {"type", "title", "status", "detail"}


@pytest.fixture
def api(node) -> Api:
    return Api(node)


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


def totp_secret(node, username: str) -> str:
    with node.ctx.database.session(write=False) as db:
        return officials.totp_secret(node.ctx, officials.by_username(db, username))


def code_now(node, username: str) -> str:
    return current_code(totp_secret(node, username), node.clock.now())


def wrong_code(node, username: str) -> str:
    """A well-formed code that is valid for none of the accepted steps (now, one back, one ahead)."""
    totp = pyotp.TOTP(totp_secret(node, username))
    step = totp.timecode(node.clock.now())
    valid = {totp.generate_otp(s) for s in (step - 1, step, step + 1)}
    return next(c for c in (f"{n:06d}" for n in range(0, 10**6, 7919)) if c not in valid)


def official_login(api: Api, username: str, *, password: str = DEMO_PASSWORD, code: str | None = None):
    code = code if code is not None else code_now(api.node, username)
    return api.client.post("/api/v1/officials/login",
                           json={"username": username, "password": password, "totp": code})


def applicant_login(api: Api, email: str, password: str):
    return api.client.post("/api/v1/auth/login", json={"email": email, "password": password})


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert PROBLEM_KEYS <= body.keys() and body["status"] == status
    return body


def page_csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# --- officials: password and TOTP -----------------------------------------------------------------

def test_official_signs_in_with_password_and_current_code(api):
    r = official_login(api, "lj-reviewer")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] and body["csrf_token"]
    me = api.client.get("/api/v1/officials/me", headers=bearer(body["token"])).json()
    assert me["username"] == "lj-reviewer" and me["roles"] == ["reviewer"]


def test_wrong_password_is_a_401_problem(api, node):
    r = official_login(api, "lj-reviewer", password="not the password at all")
    body = assert_problem(r, 401)
    assert "token" not in body
    assert count(node, AuthSession) == 0


def test_wrong_totp_code_is_a_401_problem(api, node):
    r = official_login(api, "lj-reviewer", code=wrong_code(node, "lj-reviewer"))
    assert_problem(r, 401)
    assert count(node, AuthSession) == 0


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef"])
def test_malformed_totp_code_is_refused(api, code):
    assert_problem(official_login(api, "lj-reviewer", code=code), 401)


def test_a_totp_code_works_once(api, node):
    code = code_now(node, "lj-reviewer")
    assert official_login(api, "lj-reviewer", code=code).status_code == 200
    replay = official_login(api, "lj-reviewer", code=code)
    assert_problem(replay, 401)
    assert count(node, AuthSession) == 1
    # the next time step brings a new code, which works
    node.clock.advance(timedelta(seconds=30))
    assert official_login(api, "lj-reviewer").status_code == 200


def test_a_code_older_than_the_last_used_one_is_refused(api, node):
    secret = totp_secret(node, "lj-reviewer")
    older = current_code(secret, node.clock.now())
    node.clock.advance(timedelta(seconds=30))
    assert official_login(api, "lj-reviewer").status_code == 200  # uses the newer step
    # `older` is within the one-step drift window, but precedes the step just used
    assert_problem(official_login(api, "lj-reviewer", code=older), 401)


def _race_two_logins(node, code: str) -> list[int]:
    """Two sign-ins with the same code at the same moment: both have read the official's last used
    step before either records the new one (a barrier inside password verification)."""
    barrier = threading.Barrier(2, timeout=2)
    real_verify = node.ctx.passwords.verify

    def verify_together(password_hash, password):
        ok = real_verify(password_hash, password)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass  # the other request could not get here first (SQLite queues writers): go on alone
        return ok

    node.ctx.passwords.verify = verify_together
    statuses: list[int] = []

    def attempt():
        r = node.client().post("/api/v1/officials/login", json={
            "username": "lj-reviewer", "password": DEMO_PASSWORD, "totp": code})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(statuses)


def test_a_totp_code_works_once_even_when_two_sign_ins_race(node):
    statuses = _race_two_logins(node, code_now(node, "lj-reviewer"))
    assert statuses == [200, 401]
    assert count(node, AuthSession) == 1


def test_unknown_official_gets_the_same_answer_as_a_wrong_password(api, node):
    calls = []
    real_verify = node.ctx.passwords.verify

    def spy(password_hash, password):
        calls.append(password_hash)
        return real_verify(password_hash, password)

    node.ctx.passwords.verify = spy
    wrong = official_login(api, "lj-reviewer", password="not the password at all")
    unknown = official_login(api, "nobody-here", password="not the password at all",
                             code=code_now(node, "lj-reviewer"))
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.json() == unknown.json()
    # both verify a password hash (the unknown one against a dummy), so timing does not tell them apart
    assert len(calls) == 2 and calls[1] is None
    # and both count towards throttling
    assert count(node, LoginAttempt) == 4  # one per account key and one per address, each time


def test_unknown_applicant_gets_the_same_answer_as_a_wrong_password(api):
    email = "known@example.dz"
    api.applicant(email=email)
    wrong = applicant_login(api, email, "a wrong passphrase 9")
    unknown = applicant_login(api, "unknown@example.dz", "a wrong passphrase 9")
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.json() == unknown.json()


def test_inactive_official_cannot_sign_in(api, node):
    with node.ctx.database.session(write=True) as db:
        officials.by_username(db, "lj-reviewer").active = False
    assert_problem(official_login(api, "lj-reviewer"), 401)


# --- throttling ------------------------------------------------------------------------------------

def test_official_is_throttled_after_max_failures_and_it_clears_after_the_window(api, node):
    settings = node.settings
    assert settings.login_max_failures == 5
    for _ in range(settings.login_max_failures):
        assert official_login(api, "lj-approver", password="not the password at all").status_code == 401
    # now even the right password and code are refused
    r = official_login(api, "lj-approver")
    body = assert_problem(r, 429)
    assert r.headers["retry-after"] == str(settings.login_window_minutes * 60)
    assert body["retry_after"] == settings.login_window_minutes * 60
    assert str(settings.login_window_minutes) in body["detail"]
    # throttling is per account: another official signs in
    assert official_login(api, "lj-reviewer").status_code == 200
    node.clock.advance(timedelta(minutes=settings.login_window_minutes) - timedelta(seconds=30))
    assert official_login(api, "lj-approver").status_code == 429
    node.clock.advance(timedelta(seconds=30))
    assert official_login(api, "lj-approver").status_code == 200


def test_throttling_counts_the_username_case_insensitively(api, node):
    for name in ("LJ-APPROVER", "Lj-Approver", "lj-approver", "lj-APPROVER", "LJ-approver"):
        r = official_login(api, name, password="not the password at all", code="123456")
        assert r.status_code == 401
    assert official_login(api, "lj-approver").status_code == 429


def test_applicant_is_throttled_after_max_failures(api, node):
    email = "throttled@example.dz"
    api.applicant(email=email)
    for _ in range(node.settings.login_max_failures):
        assert applicant_login(api, email, "a wrong passphrase 9").status_code == 401
    r = applicant_login(api, email, "a long passphrase 1")
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) == node.settings.login_window_minutes * 60
    node.clock.advance(timedelta(minutes=node.settings.login_window_minutes))
    assert applicant_login(api, email, "a long passphrase 1").status_code == 200


def test_a_successful_sign_in_clears_the_account_failures(api, node):
    email = "forgetful@example.dz"
    api.applicant(email=email)
    for _ in range(node.settings.login_max_failures - 1):
        applicant_login(api, email, "a wrong passphrase 9")
    assert applicant_login(api, email, "a long passphrase 1").status_code == 200
    for _ in range(node.settings.login_max_failures - 1):
        assert applicant_login(api, email, "a wrong passphrase 9").status_code == 401
    assert applicant_login(api, email, "a long passphrase 1").status_code == 200


def test_an_address_guessing_across_many_accounts_is_throttled(api, node):
    per_address = node.settings.login_max_failures * 4
    for i in range(per_address):
        r = official_login(api, f"guess-{i}", password="not the password at all", code="123456")
        assert r.status_code == 401
    # a real account from the same address is now refused too
    assert_problem(official_login(api, "lj-reviewer"), 429)


def test_the_page_login_is_throttled_too(node):
    client = node.client()
    for _ in range(node.settings.login_max_failures):
        form = client.get("/official/login")
        r = client.post("/official/login", data={"csrf_token": page_csrf(form.text), "username": "lj-agent",
                                                 "password": "wrong", "totp": "000000"})
        assert r.status_code == 401
    form = client.get("/official/login")
    r = client.post("/official/login", data={"csrf_token": page_csrf(form.text), "username": "lj-agent",
                                             "password": DEMO_PASSWORD, "totp": code_now(node, "lj-agent")},
                    follow_redirects=False)
    assert r.status_code == 429 and "Wait 15 minutes" in r.text
    assert "er_session" not in r.cookies


# --- session lifetime and logout ---------------------------------------------------------------------

def test_official_session_expires_after_session_hours(api, node):
    token = official_login(api, "lj-reviewer").json()["token"]
    node.clock.advance(timedelta(hours=node.settings.session_hours) - timedelta(seconds=1))
    assert api.client.get("/api/v1/officials/me", headers=bearer(token)).status_code == 200
    node.clock.advance(timedelta(seconds=1))
    r = api.client.get("/api/v1/officials/me", headers=bearer(token))
    assert_problem(r, 401)


def test_official_login_reports_when_the_session_ends(api, node):
    r = official_login(api, "lj-reviewer").json()
    expires = datetime.fromisoformat(r["expires_at"])
    assert expires == node.clock.now() + timedelta(hours=node.settings.session_hours)


def test_an_expired_page_session_sends_the_official_back_to_sign_in(node):
    client = node.client()
    form = client.get("/official/login")
    r = client.post("/official/login", data={"csrf_token": page_csrf(form.text), "username": "lj-reviewer",
                                             "password": DEMO_PASSWORD, "totp": code_now(node, "lj-reviewer")},
                    follow_redirects=False)
    assert r.status_code == 303
    html = {"accept": "text/html"}
    assert client.get("/official", headers=html, follow_redirects=False).status_code == 200
    node.clock.advance(timedelta(hours=node.settings.session_hours))
    r = client.get("/official", headers=html, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/official/login"


def test_applicant_session_expires_after_applicant_session_hours(api, node):
    token = api.applicant()
    node.clock.advance(timedelta(hours=node.settings.applicant_session_hours) - timedelta(seconds=1))
    assert api.client.get("/api/v1/applications", headers=bearer(token)).status_code == 200
    node.clock.advance(timedelta(seconds=1))
    assert_problem(api.client.get("/api/v1/applications", headers=bearer(token)), 401)


def test_applicant_logout_ends_the_session(api):
    email = "leaving@example.dz"
    token = api.applicant(email=email)
    other = api.login(email, "a long passphrase 1")
    r = api.client.post("/api/v1/auth/logout", headers=bearer(token))
    assert r.status_code == 204
    assert_problem(api.client.get("/api/v1/applications", headers=bearer(token)), 401)
    # only that session ends; the same person's other session goes on
    assert api.client.get("/api/v1/applications", headers=bearer(other)).status_code == 200


def test_an_official_can_end_an_api_session(api):
    token = official_login(api, "lj-reviewer").json()["token"]
    for path in ("/api/v1/officials/logout", "/api/v1/auth/logout"):
        r = api.client.post(path, headers=bearer(token))
        if r.status_code not in (404, 405):
            break
    assert r.status_code == 204
    assert_problem(api.client.get("/api/v1/officials/me", headers=bearer(token)), 401)


def test_page_logout_ends_an_official_session(node):
    client = node.client()
    form = client.get("/official/login")
    r = client.post("/official/login", data={"csrf_token": page_csrf(form.text), "username": "lj-reviewer",
                                             "password": DEMO_PASSWORD, "totp": code_now(node, "lj-reviewer")},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/official"
    token = client.cookies["er_session"]
    worklist = client.get("/official", headers={"accept": "text/html"})
    assert worklist.status_code == 200
    r = client.post("/logout", data={"csrf_token": page_csrf(worklist.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "er_session" not in client.cookies
    assert_problem(node.client().get("/api/v1/officials/me", headers=bearer(token)), 401)
    r = client.get("/official", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/official/login"


def test_sessions_store_only_a_hash_of_the_token(api, node):
    token = official_login(api, "lj-reviewer").json()["token"]
    with node.ctx.database.engine.connect() as conn:
        stored = [row[0] for row in conn.exec_driver_sql("SELECT token_hash FROM auth_sessions")]
    assert stored and token not in stored and all(len(h) == 64 for h in stored)


# --- session fixation ---------------------------------------------------------------------------------

def test_page_login_rotates_a_planted_session_cookie(node):
    api = Api(node)
    email = "fixated@example.dz"
    planted = api.applicant(email=email)  # a genuine session the attacker knows
    browser = node.client()
    browser.cookies.set("er_session", planted, domain="lj.test")
    form = browser.get("/login")
    r = browser.post("/login", data={"csrf_token": page_csrf(form.text), "email": email,
                                     "password": "a long passphrase 1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/my"
    fresh = browser.cookies["er_session"]
    assert fresh != planted
    # the planted value no longer signs anyone in; the new one does
    assert_problem(api.client.get("/api/v1/applications", headers=bearer(planted)), 401)
    assert api.client.get("/api/v1/applications", headers=bearer(fresh)).status_code == 200
    with node.ctx.database.session(write=False) as db:
        assert db.scalar(select(func.count()).select_from(AuthSession)
                         .where(AuthSession.revoked_at.is_not(None))) == 1


def test_official_page_login_rotates_a_planted_session_cookie(node):
    api = Api(node)
    planted = api.official("lj-reviewer")
    browser = node.client()
    browser.cookies.set("er_session", planted, domain="lj.test")
    form = browser.get("/official/login")
    node.clock.advance(timedelta(seconds=30))  # a fresh code: the one above was used
    r = browser.post("/official/login", data={"csrf_token": page_csrf(form.text), "username": "lj-reviewer",
                                              "password": DEMO_PASSWORD, "totp": code_now(node, "lj-reviewer")},
                     follow_redirects=False)
    assert r.status_code == 303
    assert browser.cookies["er_session"] != planted
    assert_problem(api.client.get("/api/v1/officials/me", headers=bearer(planted)), 401)


def test_an_invented_session_cookie_is_never_adopted(node):
    browser = node.client()
    browser.cookies.set("er_session", "attacker-chosen-value", domain="lj.test")
    form = browser.get("/official/login")
    r = browser.post("/official/login", data={"csrf_token": page_csrf(form.text), "username": "lj-reviewer",
                                              "password": DEMO_PASSWORD, "totp": code_now(node, "lj-reviewer")},
                     follow_redirects=False)
    assert r.status_code == 303
    assert browser.cookies["er_session"] != "attacker-chosen-value"
    r = node.client().get("/api/v1/officials/me", headers=bearer("attacker-chosen-value"))
    assert_problem(r, 401)
