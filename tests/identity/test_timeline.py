"""The applicant's timeline of a case on /my (issue 8): each step passed and when, the step the case is
in now (who holds it, which region, whether it waits on the applicant, the deadline), and what comes
next — read from the process version the case runs on, in the reader's language."""

from __future__ import annotations

import html
import re

import pytest

from tests.factories import Api, bearer
from tests.identity.test_messages_i18n import browser


def timeline_of(page: str) -> list[tuple[str, str]]:
    """(state, text) of each line of the first case's timeline."""
    found = re.search(r'<ol class="timeline".*?</ol>', page, re.S)
    assert found, "no timeline on the page"
    lines = re.findall(r'<li class="tl-(\w+)"[^>]*>(.*?)</li>', found.group(0), re.S)
    return [(state, " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())) for state, text in lines]


def my_page(node, token: str, lang: str = "en") -> str:
    r = browser(node, lang, token).get("/my")
    assert r.status_code == 200
    return r.text


def test_a_new_application_waits_for_the_applicants_identity_check(node):
    api = Api(node)
    token = api.applicant()
    assert api.submit(token).status_code == 201
    lines = timeline_of(my_page(node, token))
    assert [state for state, _ in lines] == ["done", "now", "next", "next", "next"]
    assert lines[0][1].startswith("Done Application submitted") and "by you, the applicant" in lines[0][1]
    assert lines[1][1].startswith("Now Identity check at the overseas service site")
    assert "This step is waiting for you." in lines[1][1]
    assert lines[2][1] == "Next Review by a reviewer of Liangjiang New Area"
    assert lines[3][1] == "Next Decision by an approver of Liangjiang New Area"
    assert lines[4][1] == "Next Decision: approved or refused Liangjiang New Area"

    # Once the appointment is booked, the step waits on the service site, not on the applicant.
    app_id = api.client.get("/api/v1/applications", headers=bearer(token)).json()[0]["id"]
    assert api.book_first_slot(token, app_id).status_code == 201
    now = timeline_of(my_page(node, token))[1][1]
    assert "Your appointment is booked (below): the service site records the check." in now
    assert "waiting for you" not in now


def test_the_timeline_follows_the_case_through_review_and_a_question(node):
    api = Api(node)
    token, app_id = api.to_review()
    lines = timeline_of(my_page(node, token))
    assert [s for s, _ in lines][:3] == ["done", "done", "now"]
    assert lines[2][1].startswith("Now Review") and "Waiting for an official to take it." in lines[2][1]

    reviewer = api.session_of("lj-reviewer")
    assert api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer)).status_code == 200
    lines = timeline_of(my_page(node, token))
    assert "An official is working on it." in lines[2][1]

    r = api.client.post(f"/api/v1/cases/{app_id}/request-info", headers=bearer(reviewer),
                        json={"message": "Please send a newer photo."})
    assert r.status_code == 200, r.text
    lines = timeline_of(my_page(node, token))
    now = [text for state, text in lines if state == "now"]
    assert len(now) == 1 and now[0].startswith("Now Waiting for the applicant's answer")
    assert "This step is waiting for you." in now[0]
    # After the answer the case goes back to the review, then the decision.
    assert [text.split(" by ")[0] for state, text in lines if state == "next"][:2] == ["Next Review", "Next Decision"]


def test_a_decided_case_shows_every_step_done(node):
    api = Api(node)
    token, _number = api.e_resident()
    lines = timeline_of(my_page(node, token))
    assert {state for state, _ in lines} == {"done"}
    assert [re.split(r" by | (Mon|Tue|Wed|Thu|Fri|Sat|Sun) ", text)[0] for _, text in lines] == [
        "Done Application submitted", "Done Identity check at the overseas service site", "Done Review",
        "Done Decision", "Done Approved: you are an e-resident"]


@pytest.mark.parametrize(("lang", "wanted"), [
    ("zh", ["境外服务点身份核验", "审核", "决定"]),
    ("ar", ["التحقق من الهوية في موقع الخدمة في الخارج", "المراجعة", "القرار"]),
])
def test_the_timeline_is_in_the_readers_language(node, lang, wanted):
    api = Api(node)
    token = api.applicant()
    assert api.submit(token).status_code == 201
    lines = timeline_of(my_page(node, token, lang))
    for title in wanted:
        assert any(title in text for _, text in lines), (title, lines)
    assert not any("Review" in text or "Decision" in text for _, text in lines), lines
