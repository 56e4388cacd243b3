"""Automated WCAG checks in the browser: every page a founder and an official see, in English,
Simplified Chinese and Arabic, on a real node seeded through the API, checked with axe-core (the
WCAG 2.0, 2.1 and 2.2 level A and AA rules). Any violation fails the test with its rule, impact and
element. A screenshot of every page checked goes to test-artifacts/e2e/accessibility/.

Axe finds what machines can find (names, labels, contrast, ARIA, language attributes); keyboard
order and the wording of errors are checked by the journeys (test_residency_browser.py)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from eresident.enterprise import uscc
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_residency_browser import Console
from tests.e2e.test_formation_browser import PASSWORD, Journey
from tests.factories import Person, application_payload, png_bytes

pytestmark = pytest.mark.slow

LANGUAGES = ("en", "zh", "ar")
PARTNER_NAME = "重庆山城贸易有限公司"
PARTNER_USCC = uscc.issue(division_code="500112", serial=4711)
# axe-core's tags for the WCAG success criteria at levels A and AA (2.0, 2.1 and the 2.2 additions).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FOLDER = ARTIFACTS / "accessibility"


@dataclass
class Seeded:
    """What the pages show: people and cases in the states worth checking."""

    founder: dict  # an e-resident with companies in every state
    applicant: str  # a session: confirmed, nothing applied for yet
    booked: str  # a session: applied, identity check booked
    booked_case: str  # the booked application's id (the site agent's form)
    in_review_case: str  # an application waiting for a reviewer
    uscc: str  # the founder's registered company
    approved: str  # formation ids by state
    awaiting: str
    draft: str
    held_name: str  # a reservation the founder holds but has not used
    officials: dict  # username -> session token
    banked: str  # the USCC of a company that asked the partner bank
    drafted: str  # a session: every section of the task list saved, the typed surname unlike the MRZ's
    joint_venture: str  # a joint venture the e-residents signed, waiting for its Chinese partner
    partner_link: str  # the path of that partner's signing page (no account needed)
    supervisor: str  # the supervisor's e-resident number


def _account(journey: Journey, surname: str) -> str:
    """A confirmed applicant's session token."""
    http = journey.http
    email = f"{surname.lower()}.{uuid.uuid4().hex[:8]}@example.dz"
    r = http.post("/api/v1/applicants", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    token = parse_qs(urlparse(r.json()["confirmation_link"]).query)["token"][0]
    assert http.post("/api/v1/applicants/confirm", params={"token": token}).status_code == 200
    r = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _apply_and_book(journey: Journey, token: str, surname: str) -> str:
    http, me = journey.http, {"Authorization": f"Bearer {token}"}
    photo = http.post("/api/v1/documents", headers=me, data={"kind": "photo"},
                      files={"file": ("photo.png", png_bytes(), "image/png")})
    assert photo.status_code == 201, photo.text
    r = http.post("/api/v1/applications", headers=me,
                  json=application_payload(Person(surname=surname), photo_id=photo.json()["id"]))
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    slot = http.get("/api/v1/sites/MK-ALG/slots").json()[0]["starts_at"]
    r = http.post(f"/api/v1/applications/{app_id}/appointment", headers=me, json={"starts_at": slot, "mode": "video"})
    assert r.status_code == 201, r.text
    return app_id


def _draft_every_section(journey: Journey, token: str) -> None:
    """Save each section of the task list; the surname differs from the MRZ, so the check page refuses."""
    from eresident.identity import drafts
    from tests.identity.test_messages_i18n import form_fields

    fields = form_fields(Person(), surname="BENALLY")
    for section in drafts.SECTIONS:
        files = {"photo": ("me.png", png_bytes(), "image/png")} if section.slug == "documents" else None
        r = journey.http.post(f"/apply/{section.slug}", headers={"Authorization": f"Bearer {token}"},
                              data={k: v for k, v in fields.items() if k in section.fields}, files=files)
        assert r.status_code in (200, 303) and "error-summary" not in r.text, (section.slug, r.text[:500])


def _formation(journey: Journey, founder: dict, supervisor: dict, name: tuple[str, str], **overrides) -> str:
    http = journey.http
    r = http.post("/api/v1/names/reservations", headers=founder["headers"], json={"name_zh": name[0], "name_en": name[1]})
    assert r.status_code == 201, r.text
    body = {"name_reservation_id": r.json()["id"], "registered_capital": "1000000", "currency": "USD",
            "business_scope": ["BS001", "BS002", "BS007"], "address": {"kind": "service_site"},
            "investors": [{"kind": "natural", "e_resident_number": founder["number"], "share_percent": "100"}],
            "legal_representative": {"e_resident_number": founder["number"]},
            "directors": [{"e_resident_number": founder["number"]}],
            "supervisor": {"e_resident_number": supervisor["number"]},
            "beneficial_owners": [{"name": "Amina BENALI", "country": "DZ", "e_resident_number": founder["number"],
                                   "share_percent": "100"}]}
    body.update(overrides)
    r = http.post("/api/v1/formations", headers=founder["headers"], json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _submit(journey: Journey, formation_id: str, owner: dict, signers: list[dict]) -> dict:
    """Submit the formation for signatures; `signers` sign the articles."""
    http = journey.http
    r = http.post(f"/api/v1/formations/{formation_id}/submit", headers=owner["headers"])
    assert r.status_code == 200, r.text
    for who in signers:
        pdf = http.get(f"/api/v1/formations/{formation_id}/articles", headers=who["headers"])
        r = http.post(f"/api/v1/formations/{formation_id}/signatures", headers=who["headers"],
                      json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()})
        assert r.status_code == 201, r.text
    return http.get(f"/api/v1/formations/{formation_id}", headers=owner["headers"]).json()


@pytest.fixture(scope="module")
def seeded(live_node) -> Seeded:
    journey = Journey(live_node)
    founder = journey.e_resident("BENALI")
    supervisor = journey.e_resident("HADDAD")
    approved = _formation(journey, founder, supervisor, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."))
    done = _submit(journey, approved, founder, [founder, supervisor])
    assert done["status"] == "approved", done
    # A second company has asked the partner bank (the request waits: no bank runs here).
    banked = _submit(journey, _formation(journey, founder, supervisor, ("重庆长风科技有限公司",
                                                                       "Chongqing Changfeng Technology Co., Ltd.")),
                     founder, [founder, supervisor])
    bank = journey.http.get("/api/v1/banks").json()[0]
    r = journey.http.post(f"/api/v1/companies/{banked['uscc']}/bank/requests", headers=founder["headers"], json={
        "bank": bank["code"], "consent_text_sha256": bank["consent_text_sha256"], "agree": True})
    assert r.status_code == 201, r.text
    awaiting = _formation(journey, founder, supervisor, ("重庆云帆科技有限公司", "Chongqing Yunfan Technology Co., Ltd."))
    _submit(journey, awaiting, founder, [])  # submitted; nobody has signed yet
    draft = _formation(journey, founder, supervisor, ("重庆青松科技有限公司", "Chongqing Qingsong Technology Co., Ltd."))
    # A joint venture with a Chinese partner company: both e-residents signed, the partner has not.
    joint_venture = _formation(
        journey, founder, supervisor, ("重庆合力贸易有限公司", "Chongqing Heli Trading Co., Ltd."), company_type="jv",
        investors=[{"kind": "natural", "e_resident_number": founder["number"], "share_percent": "60"},
                   {"kind": "domestic_company", "name": PARTNER_NAME, "registration_number": PARTNER_USCC,
                    "share_percent": "40"}],
        beneficial_owners=[{"name": "Amina BENALI", "country": "DZ", "e_resident_number": founder["number"],
                            "share_percent": "60"}, {"name": "王建国", "country": "CN", "share_percent": "40"}])
    waiting = _submit(journey, joint_venture, founder, [founder, supervisor])
    assert waiting["status"] == "awaiting_signatures", waiting
    partner_link = urlparse(waiting["partners"][0]["signing_url"]).path
    r = journey.http.post("/api/v1/names/reservations", headers=founder["headers"],
                          json={"name_zh": "重庆明月科技有限公司", "name_en": "Chongqing Mingyue Technology Co., Ltd."})
    assert r.status_code == 201, r.text
    held = r.json()["id"]

    applicant = _account(journey, "MANSOURI")
    booked = _account(journey, "SAIDI")
    booked_case = _apply_and_book(journey, booked, "SAIDI")
    reviewed = _account(journey, "BOUZID")
    in_review = _apply_and_book(journey, reviewed, "BOUZID")
    r = journey.http.post(f"/api/v1/cases/{in_review}/identity-check", headers=journey.official("lj-agent"), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
    assert r.status_code == 201, r.text
    drafted = _account(journey, "KADDOUR")
    _draft_every_section(journey, drafted)
    officials = {name: journey.official(name)["Authorization"].removeprefix("Bearer ")
                 for name in ("lj-agent", "lj-reviewer", "lj-admin")}
    founder_token = founder["headers"]["Authorization"].removeprefix("Bearer ")
    return Seeded(founder={**founder, "token": founder_token}, applicant=applicant, booked=booked,
                  booked_case=booked_case, in_review_case=in_review, uscc=done["uscc"], approved=approved,
                  awaiting=awaiting, draft=draft, held_name=held, officials=officials, banked=banked["uscc"],
                  drafted=drafted, joint_venture=joint_venture, partner_link=partner_link,
                  supervisor=supervisor["number"])


def _violations(page) -> list[dict]:
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.fail("axe-playwright-python is missing: `make install` (it is in the test extra; it bundles "
                    "axe-core, nothing is downloaded)", pytrace=False)
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS},
                                       "resultTypes": ["violations"]})
    return results.response["violations"]


def _report(where: str, violations: list[dict]) -> list[str]:
    lines = []
    for v in violations:
        for node in v["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            why = "; ".join(line.strip() for line in node.get("failureSummary", "").splitlines()[1:])
            lines.append(f"{where}: {v['id']} ({v['impact']}) {v['help']}\n    at {target}\n"
                         f"    {node['html'][:200]}\n    {why}")
    return lines


class Checker:
    """Visits pages in one language, runs axe on each and keeps every finding."""

    def __init__(self, browser, node, lang: str):
        self.browser, self.node, self.lang = browser, node, lang
        self.console = Console()  # a style or script the CSP refuses shows up here
        self.findings: list[str] = []
        self.checked: list[str] = []
        self.contexts = []

    def context(self, session: str | None = None):
        context = self.browser.new_context(base_url=self.node.base_url, locale=self.lang,
                                           viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        self.console.watch(context)
        host = urlparse(self.node.base_url).hostname
        cookies = [{"name": "er_lang", "value": self.lang, "domain": host, "path": "/"}]
        if session:
            cookies.append({"name": "er_session", "value": session, "domain": host, "path": "/"})
        context.add_cookies(cookies)
        self.contexts.append(context)
        return context.new_page()

    def check(self, page, name: str, path: str | None = None, status: int = 200) -> None:
        if path is not None:
            response = page.goto(path)
            assert response is not None and response.status == status, f"{path}: {response and response.status}"
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == self.lang, f"{name}: not in {self.lang}"
        self.checked.append(name)
        page.screenshot(path=str(FOLDER / f"{self.lang}-{len(self.checked):02d}-{name}.png"), full_page=True)
        self.findings += _report(f"[{self.lang}] {name} ({page.url.removeprefix(self.node.base_url)})",
                                 _violations(page))

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="module")
def folder() -> Path:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.glob("*.png"):
        old.unlink()
    return FOLDER


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_passes_the_wcag_checks(browser, live_node, seeded, folder, lang):
    from playwright.sync_api import expect

    c = Checker(browser, live_node, lang)
    s = seeded
    try:
        # --- public ----------------------------------------------------------------------------
        page = c.context()
        c.check(page, "start", "/")
        c.check(page, "signup", "/signup")
        page.locator("#email").fill("not an address")
        page.locator("#password").fill("short")
        page.locator("form[action='/signup'] button").click()
        c.check(page, "signup-errors")
        c.check(page, "login", "/login")
        c.check(page, "official-login", "/official/login")
        c.check(page, "secondee-login", "/official/secondee-login")
        c.check(page, "verify-licence", f"/verify/licences/{s.uscc}")
        unknown = uscc.issue(division_code="500000", serial=987_654)  # well formed, never issued here
        c.check(page, "verify-licence-unknown", f"/verify/licences/{unknown}", status=404)

        # --- applicants ------------------------------------------------------------------------
        page = c.context(s.applicant)
        c.check(page, "my-nothing-yet", "/my")
        c.check(page, "apply-tasks", "/apply")
        c.check(page, "apply", "/apply/one-page")
        page.locator("form[action='/apply'] button.button").click()
        c.check(page, "apply-errors")
        c.check(page, "apply-section", "/apply/about-you")
        c.check(page, "apply-documents", "/apply/documents")
        c.check(page, "apply-contact", "/apply/contact")
        page.locator("#phone").fill("0555")
        page.locator("form[action='/apply/contact'] button.button").click()
        c.check(page, "apply-section-errors")
        page = c.context(s.drafted)
        c.check(page, "apply-tasks-complete", "/apply")
        c.check(page, "apply-check", "/apply/check")
        page.locator("form[action='/apply/check'] button.button").click()
        c.check(page, "apply-check-errors")
        page = c.context(s.booked)
        c.check(page, "my-booked", "/my")

        # --- the founder -----------------------------------------------------------------------
        page = c.context(s.founder["token"])
        c.check(page, "my-e-resident", "/my")
        c.check(page, "companies", "/my/companies")
        c.check(page, "company-name", "/my/companies/name")
        page.locator("#name_zh").fill("重庆兴海科技有限公司")
        page.locator("#name_en").fill("Chongqing Xinghai Technology Co., Ltd.")
        page.locator("button[value=check]").click()
        c.check(page, "company-name-checked")
        c.check(page, "company-form", f"/my/companies/new?name={s.held_name}")
        page.locator("#registered_capital").fill("")
        page.locator("#business_scope-BS030").check()
        page.locator("form button.button").last.click()
        c.check(page, "company-form-errors")
        # The joint-venture form: the type chosen, a Chinese partner row with a USCC whose check character is wrong.
        c.check(page, "company-form-jv", f"/my/companies/new?name={s.held_name}")
        page.locator("#company_type-jv").check()
        page.locator("#registered_capital").fill("1000000")
        page.locator("#business_scope-BS001").check()
        page.locator("#supervisor-e_resident_number").fill(s.supervisor)
        page.locator("#investors-0-share_percent").fill("60")
        page.locator("#investors-1-share_percent").fill("40")
        page.locator("#investors-1-kind-domestic").check()
        page.locator("#investors-1-partner_name").fill(PARTNER_NAME)
        page.locator("#investors-1-uscc").fill(PARTNER_USCC[:-1] + ("0" if PARTNER_USCC[-1] != "0" else "1"))
        page.locator("#investors-1-owner_name").fill("王建国")
        page.locator("#investors-1-owner_country").select_option("CN")
        page.locator("form button.button").last.click()
        # count() does not wait: the refused form's page may not have arrived yet on a busy machine.
        expect(page.locator("#investors-1-uscc-error"), "the USCC's error is not beside its field").to_have_count(1)
        c.check(page, "company-form-jv-errors")
        c.check(page, "company-jv-partner-link", f"/my/companies/{s.joint_venture}")
        c.check(page, "company-draft", f"/my/companies/{s.draft}")
        c.check(page, "company-signatures", f"/my/companies/{s.awaiting}")
        c.check(page, "company-sign", f"/my/companies/{s.awaiting}/sign")
        page.locator("form[action$='/sign'] button").click()
        c.check(page, "company-sign-errors")
        c.check(page, "company-registered", f"/my/companies/{s.approved}")
        c.check(page, "company-tax", f"/my/companies/{s.uscc}/tax")
        c.check(page, "company-bank", f"/my/companies/{s.uscc}/bank")
        c.check(page, "company-bank-asked", f"/my/companies/{s.banked}/bank")
        # One node has no peer: the list and the form, not a case (tests/federation checks those pages).
        c.check(page, "cross-region-cases", "/my/cross-region-cases")
        c.check(page, "cross-region-form", "/my/cross-region-cases/new")

        # --- a Chinese partner company, with no account: its signing page, then a file refused -----
        page = c.context()
        c.check(page, "partner-sign", s.partner_link)
        page.locator("#file").set_input_files(files=[{"name": "articles.pdf", "mimeType": "application/pdf",
                                                      "buffer": b"%PDF-1.7 not the articles"}])
        page.locator(f"form[action='{s.partner_link}'] button.button").click()
        expect(page.locator("#file-error"), "the file's error is not beside its field").to_have_count(1)
        c.check(page, "partner-sign-errors")

        # --- officials -------------------------------------------------------------------------
        page = c.context(s.officials["lj-agent"])
        c.check(page, "agent-appointments", "/agent")
        c.check(page, "agent-check", f"/agent/cases/{s.booked_case}")
        page = c.context(s.officials["lj-reviewer"])
        c.check(page, "worklist", "/official")
        c.check(page, "official-case", f"/official/cases/{s.in_review_case}")
        c.check(page, "my-secondments", "/official/secondments")
        page = c.context(s.officials["lj-admin"])
        c.check(page, "dashboard", "/official/dashboard")
        c.check(page, "exchange", "/official/exchange")
        c.check(page, "admin-officials", "/official/admin/officials")
        page.locator("tbody a").first.click()
        c.check(page, "admin-official")
        c.check(page, "admin-official-new", "/official/admin/officials/new")
        page.locator("form[action='/official/admin/officials/new'] button.button").click()
        c.check(page, "admin-official-new-errors")
        page.locator("#username").fill(f"lj-a11y-{lang}")
        page.locator("#display_name").fill("Accessibility check")
        page.locator("#role-auditor").check()
        page.locator("form[action='/official/admin/officials/new'] button.button").click()
        c.check(page, "admin-official-created")
        c.check(page, "admin-processes", "/official/admin/processes")
        c.check(page, "admin-process", "/official/admin/processes/e-residency/1")
        c.check(page, "admin-publish", "/official/admin/processes/publish?process=e-residency&version=1")
        page.locator("button[value=check]").click()
        c.check(page, "admin-publish-checked")
        page.locator("#source").fill("process: e-residency\nversion: two\n")
        page.locator("button[value=check]").click()
        c.check(page, "admin-publish-errors")
    finally:
        c.close()
    assert not c.findings, (f"{len(c.findings)} WCAG violations on {len(c.checked)} pages in {lang}:\n"
                            + "\n".join(c.findings))
    refused = [e for e in c.console.errors if "Content Security Policy" in e or e.startswith("pageerror")]
    assert not refused, "browser console errors:\n" + "\n".join(refused)


def test_the_checker_finds_what_it_is_meant_to_find(browser):
    """An unlabelled field, an image without text and grey-on-white text: if axe (or its injection)
    broke, every page would pass; this page must not."""
    page = browser.new_page()
    try:
        page.set_content('<!doctype html><html lang="en"><title>t</title><main><input type="text">'
                         '<img src="data:,"><p style="color:#bbb">faint</p></main></html>')
        found = {v["id"] for v in _violations(page)}
    finally:
        page.close()
    assert {"label", "image-alt", "color-contrast"} <= found, found
