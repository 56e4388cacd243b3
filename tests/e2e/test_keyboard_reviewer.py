"""A day's queue processed by keyboard alone, in Chromium against a real node process: a reviewer
signs in (with a mistake first), claims and examines each of four cases, recommends approval of two,
recommends refusal of one (forgetting the note once) and asks the applicant of the fourth for more
information; an approver then approves two and refuses one with reasons (forgetting to choose once,
and the reasons once). Only Tab, Shift+Tab, the arrow keys, Enter, Space and typing: no mouse, no
click(), no page.goto after the start page. A radio group is one Tab stop; the arrow keys move to
and select its other choices. At every stop the focused element must show a focus style, and focus
must land where a keyboard user expects it: past the header after the skip link, on the error summary
after a refused form, on the field a summary link names; what was chosen and written before a refusal
is still there. Screenshots go to test-artifacts/e2e/keyboard/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from eresident.seed import DEMO_PASSWORD
from tests.e2e.conftest import ARTIFACTS, Screenshots
from tests.e2e.test_residency_browser import Console
from tests.factories import Person, application_payload, png_bytes

pytestmark = pytest.mark.slow

FOLDER = ARTIFACTS / "keyboard"
PASSWORD = "olive groves of Tlemcen 1990"
SURNAMES = ("NASRI", "TOUATI", "ZERROUK", "HADDAD")
# What the reviewer does with each case of the queue, in order, and what the approver then decides.
REVIEW = ("approve", "approve", "refuse", "ask")
DECIDE = ("approve", "refuse", "approve")  # the three recommended cases, oldest first

FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return {tag: 'body'};
    const style = getComputedStyle(e);
    const box = e.getBoundingClientRect();
    return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className, type: e.type || '',
            text: e.textContent.replace(/\\s+/g, ' ').trim(), href: e.getAttribute('href') || '',
            checked: !!e.checked, value: e.value || '',
            outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0,
            shadow: style.boxShadow, width: box.width, height: box.height};
}"""


@pytest.fixture(scope="module")
def queue(live_node) -> list[str]:
    """Four applications whose identity was checked: the reviewer's queue, oldest first. Set up
    through the API (the applicants and the site agent are not under test here)."""
    http = httpx.Client(base_url=live_node.base_url, timeout=30)
    agent = http.post("/api/v1/officials/login", json={"username": "lj-agent", "password": DEMO_PASSWORD,
                                                        "totp": live_node.totp("lj-agent")})
    assert agent.status_code == 200, agent.text
    agent_headers = {"Authorization": f"Bearer {agent.json()['token']}"}
    numbers = []
    for surname in SURNAMES:
        email = f"{surname.lower()}.{uuid.uuid4().hex[:8]}@example.dz"
        r = http.post("/api/v1/applicants", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        token = r.json()["confirmation_link"].split("token=")[1]
        assert http.post("/api/v1/applicants/confirm", params={"token": token}).status_code == 200
        me = {"Authorization": f"Bearer {http.post('/api/v1/auth/login', json={'email': email, 'password': PASSWORD}).json()['token']}"}
        photo = http.post("/api/v1/documents", headers=me, data={"kind": "photo"},
                          files={"file": ("photo.png", png_bytes(), "image/png")})
        r = http.post("/api/v1/applications", headers=me,
                      json=application_payload(Person(surname=surname), photo_id=photo.json()["id"]))
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
        numbers.append(r.json()["case_number"])
        slot = http.get("/api/v1/sites/MK-ALG/slots").json()[0]["starts_at"]
        assert http.post(f"/api/v1/applications/{app_id}/appointment", headers=me,
                         json={"starts_at": slot, "mode": "video"}).status_code == 201
        r = http.post(f"/api/v1/cases/{app_id}/identity-check", headers=agent_headers,
                      json={"passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
        assert r.status_code == 201, r.text
    http.close()
    return numbers


class Keyboard:
    """The keys a keyboard user presses, checking after each where the focus is and that it shows."""

    def __init__(self, page, shots: Screenshots):
        self.page, self.shots = page, shots

    def focus(self) -> dict:
        return self.page.evaluate(FOCUSED)

    def visible(self, where: str) -> dict:
        """The focused element, which must be on screen with a focus style (an outline of at least
        2 px, or a box shadow)."""
        f = self.focus()
        if f["tag"] == "body":  # autofocus runs at the page's next rendering step: slow on a busy machine
            self.page.wait_for_function("document.activeElement && document.activeElement !== document.body",
                                        timeout=5_000)
            f = self.focus()
        assert f["tag"] != "body", f"{where}: nothing has the focus"
        assert f["width"] > 1 and f["height"] > 1, f"{where}: the focused element is not on screen: {f}"
        assert (f["outline"] != "none" and f["outlineWidth"] >= 2) or f["shadow"] not in ("", "none"), \
            f"{where}: no visible focus style on {f}"
        return f

    def press(self, key: str, where: str = "") -> dict:
        self.page.keyboard.press(key)
        return self.visible(where or key)

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def follow(self, key: str = "Enter") -> None:
        """Press `key` on a link or a form's button and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.keyboard.press(key)

    def tab_until(self, wanted, what: str, limit: int = 40, back: bool = False) -> dict:
        """Tab (or Shift+Tab) until `wanted(focused)`; each stop must show its focus."""
        for _ in range(limit):
            f = self.press("Shift+Tab" if back else "Tab", f"looking for {what}")
            if wanted(f):
                return f
        pytest.fail(f"{what} cannot be reached with {'Shift+Tab' if back else 'Tab'} "
                    f"({limit} presses); last focus: {self.focus()}")

    def skip_to_main(self) -> None:
        """From the top of a page: the first Tab reaches the skip link, which shows itself; Enter
        moves on to the main content."""
        f = self.press("Tab", "first Tab")
        assert f["tag"] == "a" and f["text"] == "Skip to main content", f
        self.page.keyboard.press("Enter")
        # The fragment navigation is reported a moment later on a busy machine: wait for it.
        self.page.wait_for_function("window.location.hash === '#main'", timeout=5_000)

    def button(self, name: str) -> dict:
        return self.tab_until(lambda f: f["tag"] == "button" and f["text"] == name, f"the {name!r} button")


def _sign_in(kb: Keyboard, username: str, password: str, code: str) -> None:
    """On the sign-in page: skip link, then the form, Enter on the button."""
    kb.skip_to_main()
    f = kb.press("Tab", "after the skip link")
    assert f["id"] == "username", f  # past the header's links, straight into the form
    kb.type(username)
    assert kb.press("Tab")["id"] == "password"
    kb.type(password)
    assert kb.press("Tab")["id"] == "totp"
    kb.type(code)
    assert kb.press("Tab")["text"] == "Sign in"
    kb.follow()


def _open_first_case(kb: Keyboard, queue_title: str) -> str:
    """From the worklist's top: skip link, past the one navigation link above the queues (finding a
    company), and the next Tab is the first case of the queue. Enter opens it; returns its number."""
    from playwright.sync_api import expect

    expect(kb.page.get_by_role("heading", level=1)).to_have_text("Worklist")
    kb.skip_to_main()
    f = kb.press("Tab", "the company search link")
    assert f["tag"] == "a" and f["text"] == "Find a company by USCC or case number", f
    f = kb.press("Tab", "first case")
    assert f["tag"] == "a" and re.fullmatch(r"LJ-\d{4}-\d{6}", f["text"]), f
    first_link = kb.page.locator("h2", has_text=queue_title).locator("xpath=following-sibling::table[1]//a").first
    assert first_link.inner_text() == f["text"], "the first Tab does not reach the queue's first case"
    kb.follow()
    expect(kb.page.get_by_role("heading", level=1)).to_have_text(f"Case {f['text']}")
    return f["text"]


def _back_to_worklist(kb: Keyboard) -> None:
    kb.skip_to_main()
    f = kb.press("Tab", "the back link")
    assert f["tag"] == "a" and f["text"] == "Back to the worklist", f
    kb.follow()


def _choose(kb: Keyboard, group: str, choice: str) -> None:
    """Tab into a radio group (one stop, at its first choice while none is selected), then select the
    first choice with Space, or move to the second ("refuse") with the Down arrow, which selects it."""
    f = kb.tab_until(lambda f: f["type"] == "radio", "the choices")
    assert f["id"] == group, f
    if choice == "approve":
        kb.page.keyboard.press("Space")
    else:
        f = kb.press("ArrowDown", "the second choice")
        assert f["value"] == "refuse", f
    f = kb.focus()
    assert f["checked"] and f["value"] == choice, f"{choice} is not selected in {group}: {f}"


def _refused_for(kb: Keyboard, button: str, field: str, shots, name: str) -> None:
    """Send the form with `field` left empty: refused, the summary has the focus, and its link leads
    into the empty field, ready to type."""
    kb.button(button)
    kb.follow()
    f = kb.visible("after a refused form")
    assert "error-summary" in f["cls"], f"the error summary does not have the focus: {f}"
    shots(kb.page, name)
    f = kb.press("Tab", "the summary's link")
    assert f["href"] == f"#{field}", f
    kb.page.keyboard.press("Enter")
    assert kb.visible("after the summary's link")["id"] == field


def _forgot_to_choose(kb: Keyboard, button: str, group: str, shots, name: str) -> None:
    """Send the form without a choice: refused, the error summary has the focus, its link leads to
    the first choice, and Space selects it."""
    _refused_for(kb, button, group, shots, name)
    kb.page.keyboard.press("Space")
    assert kb.focus()["checked"], f"{group} is not selected"


def _status(kb: Keyboard) -> str:
    return kb.page.locator("p.status").inner_text()


def test_a_reviewer_and_an_approver_process_the_queue_by_keyboard(browser, live_node, queue, tmp_path):
    from playwright.sync_api import expect

    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.glob("*.png"):
        old.unlink()
    shots = Screenshots(FOLDER)
    console = Console()

    def new_page():
        context = browser.new_context(base_url=live_node.base_url, viewport={"width": 1280, "height": 900},
                                      locale="en-GB")
        context.set_default_timeout(15_000)
        console.watch(context)
        return context, context.new_page()

    # --- the reviewer ----------------------------------------------------------------------------
    context, page = new_page()
    kb = Keyboard(page, shots)
    page.goto("/official/login")  # the start page; from here on only the keyboard
    _sign_in(kb, "lj-reviewer", "not the password at all", "000000")
    # Refused: the error summary has the focus, shows it, and its link leads to the field.
    f = kb.visible("after a refused sign-in")
    assert "error-summary" in f["cls"], f"the error summary does not have the focus: {f}"
    expect(page.get_by_role("alert")).to_contain_text("Wrong username, password or code")
    shots(page, "reviewer-sign-in-refused")
    f = kb.press("Tab", "the summary's link")
    assert f["href"] == "#username", f
    page.keyboard.press("Enter")
    f = kb.visible("after the summary's link")
    assert f["id"] == "username" and f["value"] == "lj-reviewer", f  # what was typed is kept
    assert kb.press("Tab")["id"] == "password"
    kb.type(DEMO_PASSWORD)
    assert kb.press("Tab")["id"] == "totp"
    kb.type(live_node.totp("lj-reviewer"))
    kb.button("Sign in")
    kb.follow()
    expect(page).to_have_url(f"{live_node.base_url}/official")
    expect(page.locator("h2", has_text="Review")).to_have_text(f"Review ({len(queue)})")
    shots(page, "reviewer-worklist")

    for n, expected in enumerate(queue):
        number = _open_first_case(kb, "Review")
        assert number == expected, "the queue is not oldest first"
        assert _status(kb) == "Waiting for a reviewer"
        # Examine: the applicant's details, checks and identity check are on the page.
        expect(page.locator("main")).to_contain_text(SURNAMES[n])
        expect(page.locator("main")).to_contain_text("Verified (video")
        shots(page, f"case-{n + 1}-open")
        kb.skip_to_main()
        kb.button("Claim this case")
        kb.follow("Space")  # a button takes Space as well as Enter
        expect(page.locator("p.status")).to_have_text("In review")
        kb.skip_to_main()
        if REVIEW[n] == "ask":
            f = kb.tab_until(lambda f: f["id"] == "text", "the question to the applicant")
            kb.type("Please upload a photo taken in the last six months.")
            shots(page, f"case-{n + 1}-ask")
            kb.button("Request information")
            kb.follow()
            expect(page.locator("p.status")).to_have_text("Waiting for the applicant's answer")
            _back_to_worklist(kb)
            continue
        if n == 0:
            _forgot_to_choose(kb, "Send recommendation", "recommendation", shots, "case-1-no-choice")
        else:
            _choose(kb, "recommendation", REVIEW[n])
        if REVIEW[n] == "refuse":
            # The note is required to refuse: forgotten once, the choice survives the refusal.
            _refused_for(kb, "Send recommendation", "note", shots, f"case-{n + 1}-no-note")
            expect(page.locator("#rec-refuse")).to_be_checked()
            kb.type("The photo does not match the person seen by video.")
        else:
            assert kb.press("Tab")["id"] == "note"
            kb.type("Passport and face checked by video; screening clear.")
        shots(page, f"case-{n + 1}-recommend")
        kb.button("Send recommendation")
        kb.follow()
        expect(page.locator("p.status")).to_have_text("Reviewed; waiting for the approver's decision")
        _back_to_worklist(kb)
    expect(page.locator("h2", has_text="Review")).to_have_text("Review (0)")
    shots(page, "reviewer-queue-done")
    kb.tab_until(lambda f: f["tag"] == "button" and f["text"] == "Sign out", "Sign out")
    kb.follow()
    expect(page).to_have_url(f"{live_node.base_url}/")
    context.close()

    # --- the approver ----------------------------------------------------------------------------
    context, page = new_page()
    kb = Keyboard(page, shots)
    page.goto("/official/login")
    _sign_in(kb, "lj-approver", DEMO_PASSWORD, live_node.totp("lj-approver"))
    expect(page).to_have_url(f"{live_node.base_url}/official")
    recommended = [number for number, what in zip(queue, REVIEW, strict=True) if what != "ask"]
    expect(page.locator("h2", has_text="Decisions")).to_have_text(f"Decisions ({len(recommended)})")
    shots(page, "approver-worklist")
    for n, expected in enumerate(recommended):
        assert _open_first_case(kb, "Decisions") == expected
        expect(page.locator("main")).to_contain_text("Reviewer's recommendation")
        kb.skip_to_main()
        if n == 0:
            _forgot_to_choose(kb, "Record decision", "decision", shots, "decision-1-no-choice")
        else:
            _choose(kb, "decision", DECIDE[n])
        if DECIDE[n] == "refuse":
            # Reasons are required to refuse (the applicant reads them): forgotten once.
            _refused_for(kb, "Record decision", "reasons", shots, f"decision-{n + 1}-no-reasons")
            expect(page.locator("#dec-refuse")).to_be_checked()
            kb.type("The person seen by video is not the person in the passport photo.")
        shots(page, f"decision-{n + 1}")
        kb.button("Record decision")
        kb.follow()
        expect(page.locator("p.status")).to_have_text(
            "Refused" if DECIDE[n] == "refuse" else "Approved; e-resident number issued")
        _back_to_worklist(kb)
    expect(page.locator("h2", has_text="Decisions")).to_have_text("Decisions (0)")
    shots(page, "approver-queue-done")
    context.close()

    assert live_node.count("e_residents") == DECIDE.count("approve")
    problems = [e for e in console.errors if "Content Security Policy" in e or e.startswith("pageerror")]
    assert not problems, problems
    assert len(list(Path(FOLDER).glob("*.png"))) >= 15
