"""A joint venture with a Chinese partner company, in real browsers against a real node process.

The founder (an e-resident, in English) chooses a joint venture on the formation form, adds a
Chinese partner company (a wrong USCC check character first: the message beside the field and in
the summary), submits, signs the articles; the supervisor signs through the API. The founder reads
the partner's invitation link from the case page. The partner, with no account, in a browser whose
language is Chinese, opens the link, finds every control by its Chinese label, downloads the
articles, uploads them unsigned first (the message beside the file field), then signs them with an
organisation certificate from a CA on the node's domestic trust list and uploads that. The case is
approved and the founder's licence says 中外合资. Screenshots go to test-artifacts/e2e/joint-venture/
(the founder) and test-artifacts/e2e/joint-venture-partner/ (the partner)."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from eresident.crypto.demo_ca import DemoCA
from eresident.crypto.pades import sign_approval
from eresident.enterprise import uscc
from eresident.enterprise.partners import trust_dir
from tests.e2e.conftest import reader_page
from tests.e2e.test_formation_browser import Journey, _sign_in
from tests.e2e.test_residency_browser import Console

pytestmark = pytest.mark.slow

NAME_ZH, NAME_EN = "重庆合力贸易有限公司", "Chongqing Heli Trading Co., Ltd."
PARTNER_NAME = "重庆山城贸易有限公司"
PARTNER_USCC = uscc.issue(division_code="500112", serial=4711)
WRONG_USCC = PARTNER_USCC[:-1] + ("0" if PARTNER_USCC[-1] != "0" else "1")  # the check character is wrong


@pytest.fixture(scope="module")
def chinese_ca(live_node) -> DemoCA:
    """A stand-in Chinese CA (crypto/demo_ca.py) on the live node's list of CAs for partners."""
    authority = DemoCA.create("Demo Chinese CA (browser test)")
    directory = trust_dir(SimpleNamespace(data_dir=live_node.data_dir))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "browser-test-ca.pem").write_bytes(authority.root_pem())
    return authority


def _pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def test_founder_and_chinese_partner_form_a_joint_venture_in_browsers(browser, live_node, chinese_ca):
    from playwright.sync_api import expect

    node = live_node
    journey = Journey(node)
    founder = journey.e_resident("BENALI")
    supervisor = journey.e_resident("HADDAD")
    r = journey.http.post("/api/v1/names/reservations", headers=founder["headers"],
                          json={"name_zh": NAME_ZH, "name_en": NAME_EN})
    assert r.status_code == 201, r.text
    reservation = r.json()["id"]
    console = Console()
    contexts = []

    try:
        # --- 1. the founder, in English: the formation form ----------------------------------------
        context, page, shot = reader_page(browser, node, folder="joint-venture", locale="en-GB",
                                          accept_language="en-GB,en;q=0.9")
        contexts.append(console.watch(context))
        _sign_in(page, founder["email"])
        page.goto(f"/my/companies/new?name={reservation}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Form your company")
        jv = page.get_by_label(re.compile("^Joint venture with a Chinese partner"))
        jv.check()
        expect(jv).to_be_checked()
        page.get_by_label("Amount", exact=True).fill("1000000")
        page.get_by_label("Currency", exact=True).select_option("USD")
        page.get_by_label(re.compile("^Software development")).check()
        page.get_by_label(re.compile("^Import and export of goods")).check()

        expect(page.get_by_label("Investor 1: e-resident number")).to_have_value(founder["number"])
        page.get_by_label("Investor 1: share in %", exact=True).fill("60")
        partner_row = page.locator("fieldset#investors-1")
        partner_row.get_by_label("Investor 2: share in %", exact=True).fill("40")
        partner_row.get_by_label("A Chinese partner company (joint venture only)", exact=True).check()
        partner_row.get_by_label("The partner's registered name in Chinese", exact=True).fill(PARTNER_NAME)
        uscc_field = partner_row.get_by_label("The partner's Unified Social Credit Code", exact=True)
        uscc_field.fill(WRONG_USCC)
        partner_row.get_by_label("The person who ultimately owns or controls it", exact=True).fill("王建国")
        partner_row.get_by_label("That person's nationality", exact=True).select_option("CN")
        page.get_by_label("Supervisor", exact=True).fill(supervisor["number"])
        partner_row.scroll_into_view_if_needed()
        shot(page, "form-jv-partner-row")

        formations_before = node.count("formations")
        page.get_by_role("button", name="Continue").click()
        summary = page.get_by_role("alert")
        expect(summary).to_contain_text("There is a problem")
        expect(summary.locator("a[href='#investors-1-uscc']")).to_have_count(1)
        error = page.locator("#investors-1-uscc-error")
        expect(error).to_be_visible()
        expect(uscc_field).to_have_attribute("aria-invalid", "true")
        assert "investors-1-uscc-error" in (uscc_field.get_attribute("aria-describedby") or "")
        # The message is beside the field: inside the USCC's own field, just above its input.
        expect(page.locator("div.field:has(#investors-1-uscc) #investors-1-uscc-error")).to_have_count(1)
        # The summary names the field, with its row (the label repeats in every row), then the message.
        summary_text = summary.locator("a[href='#investors-1-uscc']").inner_text().strip()
        named = "Investor 2 (optional) – The partner's Unified Social Credit Code: "
        assert summary_text.startswith(named), summary_text
        assert summary_text[len(named):] in error.inner_text(), (summary_text, error.inner_text())
        expect(error).to_contain_text("The Chinese partner's USCC is not valid: the check character")
        # What was typed is kept: the type, the partner row.
        expect(page.get_by_label(re.compile("^Joint venture with a Chinese partner"))).to_be_checked()
        expect(partner_row.get_by_label("The partner's registered name in Chinese", exact=True)).to_have_value(
            PARTNER_NAME)
        expect(uscc_field).to_have_value(WRONG_USCC)
        shot(page, "form-error-summary")
        uscc_field.scroll_into_view_if_needed()
        shot(page, "form-error-uscc")
        assert node.count("formations") == formations_before, "a refused form writes nothing"
        # The summary's link takes the keyboard to the field.
        summary.locator("a[href='#investors-1-uscc']").click()
        expect(page).to_have_url(re.compile("#investors-1-uscc$"))

        uscc_field.fill(PARTNER_USCC)
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(re.compile(r"/my/companies/[0-9a-f-]{36}$"))
        case_url = page.url
        main = page.locator("main")
        expect(main).to_contain_text("Joint venture with a Chinese partner")
        expect(main).to_contain_text(f"USCC {PARTNER_USCC}, signs with its own certificate")
        shot(page, "case-draft")

        page.get_by_role("button", name="Submit for signatures").click()
        expect(page.locator("p.status")).to_have_text("Waiting for every signatory to sign the articles")
        expect(page.get_by_role("heading", name="Chinese partners")).to_be_visible()

        # The founder signs in the browser.
        page.get_by_role("link", name="Read and sign the articles").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign the articles of association")
        with page.expect_download() as info:
            page.get_by_role("link", name=re.compile("Download the articles")).click()
        founders_copy = Path(info.value.path()).read_bytes()
        assert "中外合资" in _pdf_text(founders_copy)
        page.get_by_label(re.compile(rf"I, {founder['number']}, have read the articles")).check()
        page.get_by_role("button", name="Sign the articles").click()
        expect(page).to_have_url(case_url)
        # The supervisor signs through the API.
        formation_id = case_url.rsplit("/", 1)[1]
        journey_sign(journey, formation_id, supervisor["headers"])
        page.reload()
        expect(page.locator("p.status")).to_have_text("Waiting for every signatory to sign the articles")
        expect(main).to_contain_text(f"{PARTNER_NAME} (USCC {PARTNER_USCC}): not signed yet")

        # The partner's link: a read-only field found by its label.
        link_field = page.get_by_label(f"Signing link for {PARTNER_NAME}", exact=True)
        expect(link_field).to_have_attribute("readonly", "")
        # What to do with it is the field's description, read out with it.
        expect(link_field).to_have_accessible_description(re.compile("^Send this link to the partner"))
        link = link_field.input_value()
        assert re.fullmatch(rf"{re.escape(node.base_url)}/partner-signing/[0-9a-f-]{{36}}/[A-Za-z0-9_-]+", link), link
        # The whole link fits in its field's box on the page (no sideways scrolling of the page).
        box = link_field.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, box
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        link_field.scroll_into_view_if_needed()
        shot(page, "case-partner-link")

        # --- 2. the partner, in Chinese, with no account -------------------------------------------
        pcontext, ppage, pshot = reader_page(browser, node, folder="joint-venture-partner", locale="zh-CN",
                                             accept_language="zh-CN,zh;q=0.9")
        contexts.append(console.watch(pcontext))
        ppage.goto(link)
        expect(ppage.locator("html")).to_have_attribute("lang", "zh")
        expect(ppage.get_by_role("heading", level=1)).to_have_text("以中方合作方身份签署章程")
        pmain = ppage.locator("main")
        expect(pmain).to_contain_text(PARTNER_NAME)
        expect(pmain).to_contain_text(PARTNER_USCC)
        expect(pmain).to_contain_text(NAME_ZH)
        expect(pmain).to_contain_text("40%")
        assert ppage.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        pshot(ppage, "partner-page")
        with ppage.expect_download() as info:
            ppage.get_by_role("link", name="下载章程（PDF，中英文）").click()
        articles = Path(info.value.path()).read_bytes()
        assert articles.startswith(b"%PDF") and articles == founders_copy
        text = _pdf_text(articles)
        assert "中外合资" in text and PARTNER_USCC in text

        # The unsigned articles first: refused, the message beside the file field, nothing written.
        signatures_before = node.count("formation_partner_signatures")
        unsigned = Path(info.value.path())
        file_field = ppage.get_by_label("已签署的章程（PDF）", exact=True)
        file_field.set_input_files(str(unsigned))
        ppage.get_by_role("button", name="上传已签署的章程").click()
        expect(ppage.get_by_role("alert").locator("a[href='#file']")).to_have_count(1)
        file_error = ppage.locator("div.field:has(#file) #file-error")
        expect(file_error).to_contain_text("该文件不是在现行章程上添加签名后的文件")
        expect(ppage.locator("#file")).to_have_attribute("aria-invalid", "true")
        expect(ppage.locator("html")).to_have_attribute("lang", "zh")
        pshot(ppage, "partner-error-unsigned")
        # The summary's link takes the keyboard to the file field; the controls come in reading order.
        ppage.get_by_role("alert").locator("a[href='#file']").click()
        expect(ppage.locator("#file")).to_be_focused()
        assert ppage.locator("main [tabindex]:not([tabindex='-1'])").count() == 0
        controls = ppage.locator("main a[href], main input:not([type=hidden]), main button").evaluate_all(
            "els => els.map(e => e.id || e.textContent.trim())")
        assert controls[-3:] == ["下载章程（PDF，中英文）", "file", "上传已签署的章程"], controls
        assert node.count("formation_partner_signatures") == signatures_before

        # Signed with the organisation certificate of a CA on the node's list.
        key, cert = chinese_ca.organisation(PARTNER_NAME, PARTNER_USCC)
        # pyHanko runs its own event loop, which Playwright's sync API (a loop in this thread) forbids here.
        with ThreadPoolExecutor(max_workers=1) as pool:
            signed = pool.submit(sign_approval, articles, key, cert, [chinese_ca.root]).result()
        ppage.get_by_label("已签署的章程（PDF）", exact=True).set_input_files(
            files=[{"name": "章程-已签署.pdf", "mimeType": "application/pdf", "buffer": signed}])
        ppage.get_by_role("button", name="上传已签署的章程").click()
        expect(ppage).to_have_url(re.compile(r"\?signed=1$"))
        expect(ppage.get_by_role("status")).to_contain_text("贵单位的签名已记录")
        expect(pmain).to_contain_text(PARTNER_USCC)
        expect(ppage.get_by_role("button", name="上传已签署的章程")).to_have_count(0)
        pshot(ppage, "partner-signed")

        # --- 3. the founder: approved, the licence says 中外合资 ------------------------------------
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your company is registered")
        expect(page.get_by_label(f"Signing link for {PARTNER_NAME}", exact=True)).to_have_count(0)
        company_uscc = page.locator(".confirmation strong").inner_text().strip()
        shot(page, "company-registered")
        with page.expect_download() as info:
            page.get_by_role("link", name="Download the signed licence (PDF)").click()
        assert info.value.suggested_filename == f"licence-{company_uscc}.pdf"
        licence = _pdf_text(Path(info.value.path()).read_bytes())
        assert "中外合资" in licence and "joint venture" in licence, licence

        problems = [e for e in console.errors if "Content Security Policy" in e or e.startswith("pageerror")]
        assert not problems, "browser console errors:\n" + "\n".join(problems)
    except BaseException:
        print("--- browser console errors ---\n" + "\n".join(console.errors))
        raise
    finally:
        for c in contexts:
            c.close()


def journey_sign(journey: Journey, formation_id: str, headers: dict) -> None:
    """An e-resident signs the current articles through the API."""
    import hashlib

    pdf = journey.http.get(f"/api/v1/formations/{formation_id}/articles", headers=headers)
    assert pdf.status_code == 200, pdf.text
    r = journey.http.post(f"/api/v1/formations/{formation_id}/signatures", headers=headers,
                          json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()})
    assert r.status_code == 201, r.text
