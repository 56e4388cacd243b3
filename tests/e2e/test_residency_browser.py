"""An applicant from Algeria becomes an e-resident of Liangjiang, entirely in a browser, against a
real node process: sign up, apply (with the mistakes people make), book the identity check; the
site agent, the reviewer and the approver do their parts; the applicant downloads the signed
credential, which we verify through the node and independently with the published key."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from eresident.identity.mrz import make_td3
from eresident.seed import DEMO_PASSWORD
from tests.factories import pdf_bytes, png_bytes

pytestmark = pytest.mark.slow

EMAIL = f"amina.benali.{uuid.uuid4().hex[:8]}@example.dz"
PASSWORD = "olive groves of Tlemcen 1990"
PASSPORT = "DZ4471203"
PURPOSE = "I export dates and olive oil and want to open a trading company in Liangjiang."
ADDRESS = "5 Rue Larbi Ben M'hidi, Algiers 16000"
PHONE = "+213 21 23 45 67"
MRZ_LINES = make_td3(surname="BENALI", given_names="AMINA", document_number=PASSPORT, nationality="DZA",
                     birth_date=date(1990, 3, 14), sex="F", expiry_date=date(2031, 5, 20), issuing_state="DZA")
MRZ = "\n".join(MRZ_LINES)


def _bad_mrz() -> str:
    """The same MRZ with the document number's check digit (line 2, position 10) changed."""
    upper, lower = MRZ_LINES
    digit = str((int(lower[9]) + 1) % 10)
    return "\n".join([upper, lower[:9] + digit + lower[10:]])


E_RESIDENT: dict[str, str] = {}  # filled by the journey, for the tests that need an e-resident


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def focused(page) -> str:
    """The focused element as `id`, or `tag:text` when it has no id."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        if (!e || e === document.body) return 'body';
        return e.id || (e.tagName.toLowerCase() + ':' + e.textContent.replace(/\\s+/g, ' ').trim());
    }""")


class Console:
    """Browser console errors and uncaught page errors (a CSP violation shows up here)."""

    def __init__(self):
        self.errors: list[str] = []

    def watch(self, context):
        context.on("console", lambda m: self.errors.append(f"{m.type}: {m.text} @ {m.location.get('url')}")
                   if m.type == "error" else None)
        context.on("weberror", lambda e: self.errors.append(f"pageerror: {e.error}"))
        return context


def _new_context(browser, node, console: Console):
    context = browser.new_context(base_url=node.base_url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    return console.watch(context)


def _fill_application(page, *, mrz: str, photo: Path) -> None:
    page.get_by_label("Surname", exact=True).fill("BENALI")
    page.get_by_label("Given names", exact=True).fill("AMINA")
    page.get_by_label("Date of birth", exact=True).fill("1990-03-14")
    page.get_by_label("Sex as in the passport", exact=True).select_option("F")
    page.get_by_label("Nationality", exact=True).select_option("DZ")
    page.get_by_label("Country where you live", exact=True).select_option("DZ")
    page.get_by_label("Phone number", exact=True).fill(PHONE)
    page.get_by_label("Home address", exact=True).fill(ADDRESS)
    page.get_by_label("Passport number", exact=True).fill(PASSPORT)
    page.get_by_label("Expiry date", exact=True).fill("2031-05-20")
    page.get_by_label("Machine-readable zone", exact=True).fill(mrz)
    page.locator("#photo").set_input_files(str(photo))
    page.get_by_label("Purpose of your e-residency", exact=True).fill(PURPOSE)
    page.get_by_label("Service site for your identity check", exact=True).select_option(label="MK Space Algiers, Algiers")
    for purpose in ("processing", "sensitive_data", "cross_region_sharing"):
        page.locator(f"#consents-{purpose}").check()


def _official_page(browser, node, console, shots, username: str):
    from playwright.sync_api import expect

    context = _new_context(browser, node, console)
    page = context.new_page()
    page.goto("/official/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Officials and site agents: sign in")
    shots(page, f"{username}-login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_label("Code from your authenticator app", exact=True).fill(node.totp(username))
    page.get_by_role("button", name="Sign in").click()
    return context, page


def _queue_table(page, title: str):
    """The table that follows the worklist heading that starts with `title`."""
    return page.locator("h2", has_text=title).locator("xpath=following-sibling::*[1][self::table]")


def test_applicant_becomes_e_resident_in_the_browser(browser, live_node, shots, tmp_path):
    from playwright.sync_api import expect

    node = live_node
    console = Console()
    photo = tmp_path / "amina-photo.png"
    photo.write_bytes(png_bytes(40, 50))
    fake_photo = tmp_path / "passport-scan.png"  # a PDF with a .png name
    fake_photo.write_bytes(pdf_bytes())

    try:
        # --- 1. Sign up, confirm the address, sign in ----------------------------------------
        applicant_ctx = _new_context(browser, node, console)
        page = applicant_ctx.new_page()
        page.goto("/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Become an e-resident of Liangjiang New Area")
        shots(page, "home")
        page.get_by_role("link", name="Start now").click()
        expect(page).to_have_url(f"{node.base_url}/signup")
        expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
        shots(page, "signup")

        # A password that is too short is explained beside the field.
        page.get_by_label("Email address", exact=True).fill(EMAIL)
        page.get_by_label("Password", exact=True).fill("short1")
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("#password-error")).to_contain_text("at least 12 characters")
        expect(page.get_by_role("alert").get_by_role("link")).to_have_attribute("href", "#password")
        expect(page.get_by_label("Email address", exact=True)).to_have_value(EMAIL)
        shots(page, "signup-short-password")

        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        shots(page, "signup-done")
        link = page.get_by_role("link", name="Confirm my email address")
        assert (link.get_attribute("href") or "").startswith(f"{node.base_url}/confirm?token=")
        link.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
        shots(page, "confirm")
        page.get_by_role("button", name="Confirm").click()
        expect(page).to_have_url(f"{node.base_url}/login?confirmed=1")
        expect(page.get_by_role("status")).to_contain_text("Your email address is confirmed")
        shots(page, "login-confirmed")

        # --- 9. Keyboard: the sign-in form is reachable by Tab, in order, and works without a mouse.
        order = []
        for _ in range(7):
            page.keyboard.press("Tab")
            order.append(focused(page))
        assert order[0] == "a:Skip to main content", order
        assert order[2:4] == ["a:中文（简体）", "a:العربية"], order  # the other languages, named in themselves
        assert order[4:] == ["email", "password", "button:Sign in"], order
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        assert focused(page) == "email"
        page.keyboard.type(EMAIL)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert focused(page) == "button:Sign in"
        shots(page, "login-keyboard-focus")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{node.base_url}/my")

        # --- 2. Apply --------------------------------------------------------------------------
        expect(page.get_by_role("heading", level=1)).to_have_text("Your e-residency")
        shots(page, "my-no-application")
        page.get_by_role("link", name="Apply for e-residency").click()
        expect(page).to_have_url(f"{node.base_url}/apply")  # the task list; this journey uses the one page
        expect(page.get_by_role("heading", level=1)).to_have_text("Apply for e-residency")
        page.get_by_role("link", name="Or fill in everything on one page").click()
        expect(page).to_have_url(f"{node.base_url}/apply/one-page")
        expect(page.get_by_role("heading", level=1)).to_have_text("Apply for e-residency")
        shots(page, "apply-empty")

        # --- 3a. A mistyped MRZ: summary linking to the field, message beside it, no case ----
        _fill_application(page, mrz=_bad_mrz(), photo=photo)
        shots(page, "apply-filled-bad-mrz")
        page.get_by_role("button", name="Submit application").click()
        summary = page.get_by_role("alert")
        expect(summary).to_contain_text("There is a problem")
        expect(summary.locator("a[href='#mrz']")).to_have_count(1)
        expect(page.locator("#mrz-error")).to_contain_text("check digit of the document number")
        expect(summary.locator("a[href='#mrz']")).to_contain_text("check digit of the document number")
        expect(page.locator("#mrz")).to_have_attribute("aria-describedby", re.compile(r"\bmrz-error\b"))
        # What the applicant typed is kept (except the file, which browsers never refill).
        expect(page.get_by_label("Surname", exact=True)).to_have_value("BENALI")
        expect(page.get_by_label("Nationality", exact=True)).to_have_value("DZ")
        expect(page.locator("#consents-sensitive_data")).to_be_checked()
        shots(page, "apply-error-mrz")
        assert node.count("applications") == 0, "a refused form created a case"

        # --- 3b. A PDF renamed .png as the photo: a clear message beside the photo field ------
        page.get_by_label("Machine-readable zone", exact=True).fill(MRZ)
        page.locator("#photo").set_input_files(str(fake_photo))
        page.get_by_role("button", name="Submit application").click()
        expect(page.get_by_role("alert").locator("a[href='#photo']")).to_have_count(1)
        photo_error = page.locator("#photo-error")
        expect(photo_error).to_contain_text("PDF")
        expect(photo_error).to_contain_text("JPEG")
        expect(page.locator("#mrz-error")).to_have_count(0)
        shots(page, "apply-error-photo-is-pdf")
        assert node.count("applications") == 0, "a refused form created a case"

        # --- 2 (cont.). The good submission ----------------------------------------------------
        page.locator("#photo").set_input_files(str(photo))
        expect(page.get_by_label("Machine-readable zone", exact=True)).to_have_value(MRZ)
        used_token = page.locator("form[action='/apply'] input[name=csrf_token]").input_value()
        page.get_by_role("button", name="Submit application").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Application submitted")
        case_number = page.get_by_role("status").locator("strong").inner_text().strip()
        assert re.fullmatch(r"LJ-2026-\d{6}", case_number), case_number
        shots(page, "applied")
        assert node.count("applications") == 1
        documents_before = node.count("documents")

        # --- 3c. The same form posted again (as back + resubmit does): 409, nothing changes ----
        page.goto("/apply/one-page")
        _fill_application(page, mrz=MRZ, photo=photo)
        page.locator("form[action='/apply'] input[name=csrf_token]").evaluate(
            "(el, token) => { el.value = token; }", used_token)
        with page.expect_response(lambda r: r.url == f"{node.base_url}/apply" and r.request.method == "POST") as resp:
            page.get_by_role("button", name="Submit application").click()
        assert resp.value.status == 409
        expect(page.get_by_role("heading", level=1)).to_have_text("This form was already submitted")
        expect(page.locator("main")).to_contain_text("Nothing was changed")
        shots(page, "apply-resubmitted-409")
        assert node.count("applications") == 1
        assert node.count("documents") == documents_before

        # --- 4. Book the identity check (first slot, by video) ---------------------------------
        page.goto("/my")
        panel = page.locator("section.panel", has_text=f"Case {case_number}")
        expect(panel).to_contain_text("Waiting for your identity check at the service site")
        shots(page, "my-book-slot")
        slot_select = panel.get_by_label("Time (local time of the site)")
        expect(slot_select.locator("option").first).to_contain_text("free")
        slot_select.select_option(index=0)
        panel.get_by_label("How", exact=True).select_option("video")
        panel.get_by_role("button", name="Book this time").click()
        expect(page).to_have_url(f"{node.base_url}/my")
        panel = page.locator("section.panel", has_text=f"Case {case_number}")
        expect(panel).to_contain_text(re.compile(r"Identity check by video call at MK Space Algiers on \w{3} \d{1,2} \w{3} \d{4}, \d{2}:\d{2} \(Algiers time\)"))
        shots(page, "my-booked")

        # --- 5. The site agent records the identity check ---------------------------------------
        agent_ctx, agent = _official_page(browser, node, console, shots, "lj-agent")
        expect(agent).to_have_url(f"{node.base_url}/agent")
        row = agent.locator("tr", has_text=case_number)
        expect(row).to_contain_text("BENALI, AMINA")
        expect(row).to_contain_text("video")
        expect(row).to_contain_text("booked")
        shots(agent, "agent-appointments")
        row.get_by_role("link", name=case_number).click()
        expect(agent.get_by_role("heading", level=1)).to_have_text(f"Identity check for case {case_number}")
        shots(agent, "agent-check")
        photo_img = agent.get_by_role("img", name="The photo the applicant sent")
        expect(photo_img).to_be_visible()
        # decode() waits for the download and the decoding, and rejects if either fails; the
        # image is laid out (visible) before its bytes arrive, so naturalWidth alone races.
        assert photo_img.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
        photo_response = agent.request.get(photo_img.get_attribute("src"))
        assert photo_response.ok and photo_response.headers["content-type"].startswith("image/png")
        assert photo_response.body() == photo.read_bytes()
        agent.get_by_label("I saw the original passport").check()
        agent.get_by_label("The passport matches the details and MRZ above").check()
        agent.get_by_label("The person's face matches the photo").check()
        agent.get_by_role("button", name="Record the identity check").click()
        expect(agent).to_have_url(f"{node.base_url}/agent")
        expect(agent.locator("tr", has_text=case_number)).to_contain_text("attended")
        shots(agent, "agent-after-check")
        agent_ctx.close()

        # --- 6. The reviewer claims the case and recommends approval ---------------------------
        reviewer_ctx, reviewer = _official_page(browser, node, console, shots, "lj-reviewer")
        expect(reviewer).to_have_url(f"{node.base_url}/official")
        expect(_queue_table(reviewer, "Review")).to_contain_text(case_number)
        shots(reviewer, "reviewer-worklist")
        expect(reviewer.get_by_role("cell", name="Review", exact=True)).to_be_visible()  # the step it waits at
        _queue_table(reviewer, "Review").get_by_role("link", name=case_number).click()
        expect(reviewer.get_by_role("heading", level=1)).to_have_text(f"Case {case_number}")
        expect(reviewer.locator("p.status")).to_have_text("Waiting for a reviewer")
        expect(reviewer.locator("main")).to_contain_text("Verified (video")
        shots(reviewer, "reviewer-case")
        reviewer.get_by_role("button", name="Claim this case").click()
        expect(reviewer.locator("p.status")).to_have_text("In review")
        shots(reviewer, "reviewer-claimed")
        reviewer.get_by_label("Recommend approval", exact=True).check()
        reviewer.get_by_label("Note for the approver (required to refuse)").fill(
            "Passport and face checked by video; screening clear.")
        reviewer.get_by_role("button", name="Send recommendation").click()
        expect(reviewer.locator("p.status")).to_have_text("Reviewed; waiting for the approver's decision")
        expect(reviewer.locator("main")).to_contain_text("Reviewer's recommendation")
        shots(reviewer, "reviewer-sent")
        reviewer_ctx.close()

        # --- 7. The approver approves -----------------------------------------------------------
        approver_ctx, approver = _official_page(browser, node, console, shots, "lj-approver")
        expect(approver).to_have_url(f"{node.base_url}/official")
        expect(_queue_table(approver, "Decisions")).to_contain_text(case_number)
        shots(approver, "approver-worklist")
        _queue_table(approver, "Decisions").get_by_role("link", name=case_number).click()
        expect(approver.locator("p.status")).to_have_text("Reviewed; waiting for the approver's decision")
        shots(approver, "approver-case")
        approver.get_by_label("Approve", exact=True).check()
        approver.get_by_role("button", name="Record decision").click()
        expect(approver.locator("p.status")).to_have_text("Approved; e-resident number issued")
        shots(approver, "approver-approved")
        approver_ctx.close()

        # --- 8. The applicant is an e-resident and downloads the credential ----------------------
        page.goto("/my")
        resident = page.locator("section.panel", has=page.get_by_role("heading", name="You are an e-resident"))
        expect(resident).to_be_visible()
        number = resident.locator("strong").first.inner_text().strip()
        assert re.fullmatch(r"[A-Z0-9-]{6,}", number), number
        expect(page.locator("section.panel", has_text=f"Case {case_number}")).to_contain_text(
            "Approved: you are an e-resident")
        shots(page, "my-e-resident")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download my signed credential").click()
        download = download_info.value
        assert download.suggested_filename == f"e-residency-{number}.json"
        issued = json.loads(Path(download.path()).read_text())
        credential = issued["credential"]

        # Verified by the node ...
        verdict = httpx.post(f"{node.base_url}/api/v1/credentials/verify", json={"credential": credential},
                             timeout=10).json()
        assert verdict["valid"] is True and verdict["status"] == "valid", verdict
        assert verdict["claims"]["e_resident_number"] == number
        assert verdict["disclosed"]["family_name"] == "BENALI"

        # ... and independently: the published Ed25519 key, checked with `cryptography` directly.
        metadata = httpx.get(f"{node.base_url}/.well-known/jwt-vc-issuer", timeout=10).json()
        assert metadata["issuer"] == node.base_url
        parts = credential.split("~")
        issuer_jwt, disclosures = parts[0], parts[1:-1]
        header_b64, payload_b64, signature_b64 = issuer_jwt.split(".")
        header, payload = json.loads(b64d(header_b64)), json.loads(b64d(payload_b64))
        assert header["alg"] == "EdDSA" and header["typ"] == "dc+sd-jwt", header
        [jwk] = [k for k in metadata["jwks"]["keys"] if k.get("kid") == header["kid"]]
        assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519") and "d" not in jwk
        public_key = Ed25519PublicKey.from_public_bytes(b64d(jwk["x"]))
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        public_key.verify(b64d(signature_b64), signing_input)  # raises InvalidSignature if forged
        forged = bytearray(b64d(signature_b64))
        forged[0] ^= 1
        with pytest.raises(InvalidSignature):
            public_key.verify(bytes(forged), signing_input)
        assert payload["iss"] == node.base_url and payload["e_resident_number"] == number
        assert payload["region"] == "LJ" and payload["exp"] > time.time() > payload["iat"] - 60
        disclosed = {}
        for disclosure in disclosures:
            assert b64e(hashlib.sha256(disclosure.encode("ascii")).digest()) in payload["_sd"]
            _salt, name, value = json.loads(b64d(disclosure))
            disclosed[name] = value
        assert disclosed["family_name"] == "BENALI" and disclosed["given_name"] == "AMINA"
        assert disclosed["birthdate"] == "1990-03-14"
        # The private key handed to the holder belongs to the key the credential is bound to.
        holder_private = Ed25519PrivateKey.from_private_bytes(b64d(issued["holder_private_jwk"]["d"]))
        assert holder_private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == \
            b64d(payload["cnf"]["jwk"]["x"])

        E_RESIDENT["email"] = EMAIL

        # Sign out ends the session. (From a freshly loaded page: signing out straight after the
        # download fails, see test_sign_out_right_after_downloading_the_credential.)
        page.goto("/my")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{node.base_url}/")
        shots(page, "signed-out")
        page.goto("/my")
        expect(page).to_have_url(f"{node.base_url}/login")
        applicant_ctx.close()

        problems = [e for e in console.errors if "Content Security Policy" in e or e.startswith("pageerror")]
        assert not problems, "browser console errors:\n" + "\n".join(problems)
    except BaseException:
        print("--- browser console errors ---\n" + "\n".join(console.errors))
        raise



def _signed_in_e_resident(browser, node):
    """A fresh browser session for the e-resident the journey made (skips if it made none)."""
    from playwright.sync_api import expect

    if "email" not in E_RESIDENT:
        pytest.skip("needs the e-resident made by test_applicant_becomes_e_resident_in_the_browser")
    context = browser.new_context(base_url=node.base_url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email address", exact=True).fill(E_RESIDENT["email"])
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="You are an e-resident")).to_be_visible()
    return context, page


def _download_credential(page):
    with page.expect_response(lambda r: r.url.endswith("/my/credential")) as response:
        page.get_by_role("button", name="Download my signed credential").click()
    return response.value


def test_a_second_credential_can_be_downloaded(browser, live_node, shots):
    context, page = _signed_in_e_resident(browser, live_node)
    try:
        response = _download_credential(page)
        page.wait_for_load_state()
        shots(page, "second-download")
        assert response.status == 200, f"{response.status}: {response.text()[:300]}"
        assert response.headers.get("content-disposition", "").startswith("attachment")
    finally:
        context.close()


def test_sign_out_right_after_downloading_the_credential(browser, live_node, shots):
    from playwright.sync_api import expect

    context, page = _signed_in_e_resident(browser, live_node)
    try:
        assert _download_credential(page).status == 200
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        shots(page, "sign-out-after-download")
        expect(page).to_have_url(f"{live_node.base_url}/", timeout=5_000)
    finally:
        context.close()
