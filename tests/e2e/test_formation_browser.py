"""An e-resident forms a company in Liangjiang entirely in a browser, against a real node process:
declare a name (a taken one first, then a similar one), fill in the formation (a prohibited
business first), submit, sign the articles, have the supervisor sign, download the signed
licence, check it with Poppler's pdfsig against the region root, and see the public page say it
is genuine. The two e-residents are made through the API, by the e-residency journey."""

from __future__ import annotations

import hashlib
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.e2e.test_residency_browser import Console, _new_context, focused
from tests.enterprise.helpers import nss_database
from tests.factories import Person, application_payload, png_bytes

pytestmark = pytest.mark.slow

PASSWORD = "silk road traders 2026"
TAKEN_ZH, TAKEN_EN = "重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."
NAME_ZH, NAME_EN = "重庆兴海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."


class Journey:
    """Drives the e-residency journey over the node's API (as tests/factories.Api does in-process)."""

    def __init__(self, node):
        self.node = node
        self.http = httpx.Client(base_url=node.base_url, timeout=30)
        self._officials: dict[str, str] = {}

    def official(self, username: str) -> dict:
        if username not in self._officials:
            from eresident.seed import DEMO_PASSWORD

            r = self.http.post("/api/v1/officials/login", json={
                "username": username, "password": DEMO_PASSWORD, "totp": self.node.totp(username)})
            assert r.status_code == 200, r.text
            self._officials[username] = r.json()["token"]
        return {"Authorization": f"Bearer {self._officials[username]}"}

    def e_resident(self, surname: str) -> dict:
        email = f"{surname.lower()}.{uuid.uuid4().hex[:8]}@example.dz"
        r = self.http.post("/api/v1/applicants", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        token = parse_qs(urlparse(r.json()["confirmation_link"]).query)["token"][0]
        assert self.http.post("/api/v1/applicants/confirm", params={"token": token}).status_code == 200
        r = self.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        me = {"Authorization": f"Bearer {r.json()['token']}"}
        photo = self.http.post("/api/v1/documents", headers=me, data={"kind": "photo"},
                               files={"file": ("photo.png", png_bytes(), "image/png")})
        assert photo.status_code == 201, photo.text
        r = self.http.post("/api/v1/applications", headers=me, json=application_payload(
            Person(surname=surname), photo_id=photo.json()["id"]))
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
        slot = self.http.get("/api/v1/sites/MK-ALG/slots").json()[0]["starts_at"]
        assert self.http.post(f"/api/v1/applications/{app_id}/appointment", headers=me,
                              json={"starts_at": slot, "mode": "video"}).status_code == 201
        r = self.http.post(f"/api/v1/cases/{app_id}/identity-check", headers=self.official("lj-agent"), json={
            "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
        assert r.status_code == 201, r.text
        reviewer = self.official("lj-reviewer")
        assert self.http.post(f"/api/v1/cases/{app_id}/claim", headers=reviewer).status_code == 200
        assert self.http.post(f"/api/v1/cases/{app_id}/recommend", headers=reviewer,
                              json={"recommendation": "approve", "note": "ok"}).status_code == 200
        r = self.http.post(f"/api/v1/cases/{app_id}/decide", headers=self.official("lj-approver"),
                           json={"decision": "approve"})
        assert r.status_code == 200, r.text
        return {"email": email, "number": r.json()["e_resident_number"], "headers": me}


@pytest.fixture(scope="module")
def screenshot_folder() -> Path:
    """This journey's screenshots in their own folder (the residency test clears its own)."""
    from tests.e2e.conftest import ARTIFACTS

    folder = ARTIFACTS / "formation"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def _sign_in(page, email: str) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="You are an e-resident")).to_be_visible()


def test_e_resident_forms_a_company_in_the_browser(browser, live_node, shots, tmp_path):
    from playwright.sync_api import expect

    node = live_node
    journey = Journey(node)
    founder = journey.e_resident("BENALI")
    supervisor = journey.e_resident("HADDAD")
    # Someone already holds the name the founder wants first.
    r = journey.http.post("/api/v1/names/reservations", headers=supervisor["headers"],
                          json={"name_zh": TAKEN_ZH, "name_en": TAKEN_EN})
    assert r.status_code == 201, r.text
    console = Console()

    try:
        context = _new_context(browser, node, console)
        page = context.new_page()
        _sign_in(page, founder["email"])
        shots(page, "my-start-a-company")

        # From the home page, by keyboard: the "Start a company" link.
        page.get_by_role("link", name="Start a company").focus()
        assert focused(page) == "a:Start a company"
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{node.base_url}/my/companies/name")
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose your company's name")
        shots(page, "name-empty")

        # --- a conflicting name: the message beside the field, nothing written ----------------
        names_before = node.count("registered_names")
        page.get_by_label("Name in Chinese", exact=True).fill(TAKEN_ZH)
        page.get_by_label("Name in English", exact=True).fill(TAKEN_EN)
        page.get_by_role("button", name="Check the name").click()
        summary = page.get_by_role("alert")
        expect(summary).to_contain_text("There is a problem")
        expect(summary.locator("a[href='#name_zh']")).to_have_count(1)
        expect(page.locator("#name_zh-error")).to_contain_text("星海")
        expect(page.locator("#name_zh")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_role("button", name=re.compile("Reserve"))).to_have_count(0)
        expect(page.get_by_label("Name in Chinese", exact=True)).to_have_value(TAKEN_ZH)
        shots(page, "name-conflict")
        assert node.count("registered_names") == names_before

        # --- a homophone of it: available, with the similar name shown; reserve it ------------
        page.get_by_label("Name in Chinese", exact=True).fill(NAME_ZH)
        page.get_by_role("button", name="Check the name").click()
        expect(page.get_by_role("status")).to_contain_text("This name is available")
        expect(page.get_by_role("table")).to_contain_text(TAKEN_ZH)
        shots(page, "name-available-similar")
        page.get_by_role("button", name=re.compile(r"Reserve this name for \d+ days")).click()
        expect(page).to_have_url(re.compile(r"/my/companies/new\?name="))
        expect(page.get_by_role("heading", level=1)).to_have_text("Form your company")
        assert node.count("registered_names") == names_before + 1

        # --- the formation: a prohibited business first ------------------------------------------
        expect(page.get_by_label("Investor 1: e-resident number")).to_have_value(founder["number"])
        page.get_by_label("Amount", exact=True).fill("1000000")
        page.get_by_label("Currency", exact=True).select_option("USD")
        page.get_by_label(re.compile("^Software development")).check()
        page.get_by_label(re.compile("^Import and export of goods")).check()
        prohibited = page.locator("#business_scope-BS030")
        prohibited.check()
        page.get_by_label("Supervisor", exact=True).fill(supervisor["number"])
        shots(page, "formation-filled-prohibited")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("alert").locator("a[href='#business_scope-BS030']")).to_have_count(1)
        expect(page.locator("#business_scope-BS030-error")).to_contain_text("prohibited")
        expect(prohibited).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Supervisor", exact=True)).to_have_value(supervisor["number"])
        expect(page.get_by_label(re.compile("^Software development"))).to_be_checked()
        shots(page, "formation-error-prohibited")
        assert node.count("formations") == 0 and node.count("formation_parties") == 0
        # The summary link takes the keyboard to the checkbox.
        page.get_by_role("alert").locator("a[href='#business_scope-BS030']").click()
        expect(page).to_have_url(re.compile("#business_scope-BS030$"))

        prohibited.uncheck()
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(re.compile(r"/my/companies/[0-9a-f-]{36}$"))
        case_url = page.url
        expect(page.locator("p.status")).to_have_text("Draft: complete it and submit it for signature")
        expect(page.locator("main")).to_contain_text("1,000,000.00 USD")
        shots(page, "formation-review")

        # --- submit, read the articles, sign -----------------------------------------------------
        page.get_by_role("button", name="Submit for signatures").click()
        expect(page.locator("p.status")).to_have_text("Waiting for every signatory to sign the articles")
        case_number = re.search(r"LJ-CF-\d{4}-\d{6}", page.locator("main").inner_text()).group(0)
        shots(page, "formation-awaiting-signatures")
        page.get_by_role("link", name="Read and sign the articles").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign the articles of association")
        with page.expect_download() as info:
            page.get_by_role("link", name=re.compile("Download the articles")).click()
        articles = Path(info.value.path()).read_bytes()
        assert articles.startswith(b"%PDF")
        shown = page.locator("#digest").inner_text().replace(" ", "").strip()
        assert shown == hashlib.sha256(articles).hexdigest(), "the page shows another digest than the file's"
        shots(page, "sign-page")
        page.get_by_role("button", name="Sign the articles").click()  # without the declaration
        expect(page.locator("#confirm-error")).to_contain_text("Tick the box")
        shots(page, "sign-error-unticked")
        assert node.count("formation_signatures") == 0
        page.get_by_label(re.compile(rf"I, {founder['number']}, have read the articles")).check()
        page.get_by_role("button", name="Sign the articles").click()
        expect(page).to_have_url(case_url)
        expect(page.locator("main")).to_contain_text(f"({founder['number']}), investor, legal representative, "
                                                     "director: signed")
        shots(page, "founder-signed")

        # --- the supervisor signs in their own browser -------------------------------------------
        other = _new_context(browser, node, console)
        spage = other.new_page()
        _sign_in(spage, supervisor["email"])
        spage.get_by_role("link", name="Your companies and signatures").click()
        expect(spage.get_by_role("heading", name="Waiting for your signature")).to_be_visible()
        shots(spage, "supervisor-companies")
        spage.get_by_role("link", name=re.compile("Sign the articles of")).click()
        spage.get_by_label(re.compile(r"have read the articles .* as supervisor")).check()
        spage.get_by_role("button", name="Sign the articles").click()
        expect(spage.locator("p.status")).to_have_text("Approved: the business licence is issued")
        other.close()

        # --- the licence: issued at once; download, pdfsig, public page ---------------------------
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your company is registered")
        uscc = page.locator(".confirmation strong").inner_text().strip()
        assert re.fullmatch(r"91500000E[0-9A-HJ-NPQRTUWXY]{9}", uscc), uscc
        shots(page, "company-registered")
        with page.expect_download() as info:
            page.get_by_role("link", name="Download the signed licence (PDF)").click()
        assert info.value.suggested_filename == f"licence-{uscc}.pdf"
        licence = tmp_path / "licence.pdf"
        info.value.save_as(licence)
        root_pem = (node.data_dir / "keys" / "root-ca.pem").read_bytes()
        nss = nss_database(tmp_path / "nss", root_pem)
        report = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(licence)], capture_output=True,
                                text=True).stdout
        assert "Signature is Valid" in report and "Certificate is Trusted" in report, report
        assert "Total document signed" in report, report

        page.get_by_role("link", name=f"{node.base_url}/verify/licences/{uscc}").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Business licence verification")
        expect(page.get_by_role("status")).to_contain_text("Genuine and current")
        expect(page.locator("main")).to_contain_text(NAME_ZH)
        shots(page, "public-verification")

        page.goto("/my/companies")
        expect(page.locator("table")).to_contain_text(case_number)
        expect(page.locator("table")).to_contain_text(uscc)
        shots(page, "my-companies")
        context.close()

        problems = [e for e in console.errors if "Content Security Policy" in e or e.startswith("pageerror")]
        assert not problems, "browser console errors:\n" + "\n".join(problems)
    except BaseException:
        print("--- browser console errors ---\n" + "\n".join(console.errors))
        raise
