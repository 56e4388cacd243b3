"""The e-residency journey in a reader's own language, shared by the Arabic and the Chinese browser
tests: each step finds its controls by the words in `Words`, so the language files keep only their
words, their applicant and what they check beyond the shared steps."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from eresident.seed import DEMO_PASSWORD


@dataclass(frozen=True)
class Words:
    """The labels, buttons and texts of the journey in one language."""

    start: str  # the start page's link to sign up
    email: str
    password: str
    create_account: str
    check_email: str
    confirm_link: str
    confirm: str
    confirmed: str
    sign_in: str
    my_heading: str
    apply: str
    not_started: str
    save: str
    completed: str
    surname: str
    given_names: str
    birth_date: str
    sex: str
    nationality: str
    residence: str
    phone: str
    address: str
    passport_number: str
    passport_expiry: str
    mrz: str
    purpose: str
    site: str
    check_answers: str
    check_answers_heading: str
    send: str
    sent: str
    book_link: str
    method: str
    book: str
    approved_heading: str
    download: str
    rtl: bool = False  # a right-to-left language: every section's page is checked for dir="rtl"


@dataclass(frozen=True)
class Applicant:
    """What the person types in."""

    email: str
    password: str
    surname: str
    given_names: str
    birth_date: str
    sex: str
    nationality: str
    residence: str
    address: str
    passport: str
    passport_expiry: str
    mrz: str
    purpose: str
    site: str = "MK Space Algiers, Algiers"


def official_token(node, username: str) -> str:
    r = httpx.post(f"{node.base_url}/api/v1/officials/login", timeout=30, json={
        "username": username, "password": DEMO_PASSWORD, "totp": node.totp(username)})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def officials_approve(node, application_id: str) -> None:
    """The officials' part through the API: the identity check, the review and the decision."""
    def post(token: str, path: str, body: dict | None = None) -> None:
        r = httpx.post(f"{node.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, json=body or {},
                       timeout=30)
        assert r.status_code in (200, 201), (path, r.text)

    post(official_token(node, "lj-agent"), f"/api/v1/cases/{application_id}/identity-check",
         {"passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
    reviewer = official_token(node, "lj-reviewer")
    post(reviewer, f"/api/v1/cases/{application_id}/claim")
    post(reviewer, f"/api/v1/cases/{application_id}/recommend", {"recommendation": "approve", "note": "ok"})
    post(official_token(node, "lj-approver"), f"/api/v1/cases/{application_id}/decide", {"decision": "approve"})


class ReaderJourney:
    """The steps of the journey on `page`, for `applicant`, in the language of `words`."""

    def __init__(self, page, node, words: Words, applicant: Applicant, shot: Callable):
        from playwright.sync_api import expect

        self.page, self.node, self.w, self.a, self.shot, self.expect = page, node, words, applicant, shot, expect

    def no_sideways_scrolling(self) -> None:
        assert self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    def sign_up(self) -> None:
        """From the start page to "check your email"."""
        self.page.get_by_role("link", name=self.w.start).click()
        self._email_and_password(self.w.create_account, then_heading=self.w.check_email)

    def confirm_and_sign_in(self) -> None:
        page, w = self.page, self.w
        page.get_by_role("link", name=w.confirm_link).click()
        page.get_by_role("button", name=w.confirm).click()
        self.expect(page.get_by_role("status")).to_contain_text(w.confirmed)
        self._email_and_password(w.sign_in, then_heading=w.my_heading)

    def _email_and_password(self, button: str, *, then_heading: str) -> None:
        page, w = self.page, self.w
        page.get_by_label(w.email, exact=True).fill(self.a.email)
        page.get_by_label(w.password, exact=True).fill(self.a.password)
        page.get_by_role("button", name=button).click()
        self.expect(page.get_by_role("heading", level=1)).to_have_text(then_heading)

    def open_task_list(self) -> None:
        page, w, expect = self.page, self.w, self.expect
        page.get_by_role("link", name=w.apply).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(w.apply)
        expect(page.locator("#task-about-you-status")).to_have_text(w.not_started)

    def open_section(self, name: str) -> None:
        page, expect = self.page, self.expect
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        if self.w.rtl:
            expect(page.locator("html")).to_have_attribute("dir", "rtl")

    def save(self, slug: str) -> None:
        """Save and continue: back on the task list with the section completed."""
        page, expect = self.page, self.expect
        page.get_by_role("button", name=self.w.save).click()
        expect(page).to_have_url(f"{self.node.base_url}/apply")
        expect(page.locator(f"#task-{slug}-status")).to_have_text(self.w.completed)

    def section(self, name: str, slug: str, fill: Callable[[], None], shot: str | None = None) -> None:
        """Open a section, fill it in, take the screenshot `shot` if named, save and continue."""
        self.open_section(name)
        fill()
        if shot is not None:
            self.shot(self.page, shot)
        self.save(slug)

    def about_you(self) -> None:
        page, w, a = self.page, self.w, self.a
        page.get_by_label(w.surname, exact=True).fill(a.surname)
        page.get_by_label(w.given_names, exact=True).fill(a.given_names)
        page.get_by_label(w.birth_date, exact=True).fill(a.birth_date)
        page.get_by_label(w.sex, exact=True).select_option(a.sex)
        page.get_by_label(w.nationality, exact=True).select_option(a.nationality)
        page.get_by_label(w.residence, exact=True).select_option(a.residence)

    def contact(self, phone: str) -> None:
        self.page.get_by_label(self.w.phone, exact=True).fill(phone)
        self.page.get_by_label(self.w.address, exact=True).fill(self.a.address)

    def passport(self) -> None:
        page, w, a = self.page, self.w, self.a
        page.get_by_label(w.passport_number, exact=True).fill(a.passport)
        page.get_by_label(w.passport_expiry, exact=True).fill(a.passport_expiry)
        page.get_by_label(w.mrz, exact=True).fill(a.mrz)

    def photo(self, path: Path) -> None:
        self.page.locator("#photo").set_input_files(str(path))

    def purpose(self) -> None:
        self.page.get_by_label(self.w.purpose, exact=True).fill(self.a.purpose)

    def site(self) -> None:
        self.page.get_by_label(self.w.site, exact=True).select_option(label=self.a.site)

    def consent(self) -> None:
        for purpose in ("processing", "sensitive_data", "cross_region_sharing"):
            self.page.locator(f"#consents-{purpose}").check()

    def open_check_answers(self) -> None:
        self.page.get_by_role("link", name=self.w.check_answers).click()
        self.expect(self.page.get_by_role("heading", level=1)).to_have_text(self.w.check_answers_heading)

    def send(self) -> str:
        """Send the application; its case number."""
        page, expect = self.page, self.expect
        page.get_by_role("button", name=self.w.send).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(self.w.sent)
        case_number = page.get_by_role("status").locator("strong").inner_text().strip()
        assert re.fullmatch(r"LJ-2026-\d{6}", case_number), case_number
        return case_number

    def open_case(self, case_number: str):
        """Follow the link to book the identity check; the case's panel."""
        self.page.get_by_role("link", name=self.w.book_link).click()
        return self.page.locator("section.panel", has_text=case_number)

    def book_by_video(self, panel, case_number: str):
        """Book the identity check by video call; the case's panel afterwards."""
        panel.get_by_label(self.w.method).select_option("video")
        panel.get_by_role("button", name=self.w.book).click()
        return self.page.locator("section.panel", has_text=case_number)

    def officials_approve(self, case_number: str) -> None:
        """The officials approve the case; the applicant reloads the page and sees it."""
        (application_id,) = self.node.query("SELECT id FROM applications WHERE case_number = :n",
                                            {"n": case_number})[0]
        officials_approve(self.node, str(uuid.UUID(str(application_id))))  # SQLite stores it as 32 hex digits
        self.page.reload()
        self.expect(self.page.get_by_role("heading", name=self.w.approved_heading)).to_be_visible()

    def download_credential(self) -> str:
        """Download the signed credential and have the node verify it; the credential."""
        with self.page.expect_download() as download:
            self.page.get_by_role("button", name=self.w.download).click()
        credential = json.loads(Path(download.value.path()).read_text())
        verdict = httpx.post(f"{self.node.base_url}/api/v1/credentials/verify",
                             json={"credential": credential["credential"]}, timeout=30).json()
        assert verdict["valid"] is True and verdict["disclosed"]["family_name"] == self.a.surname, verdict
        return credential["credential"]
