"""The official's worklist a page at a time (workflow/worklist.py): late cases first, then by
deadline; the queue's length and how many are late however many pages it has; `?reviewer=N` pages
one queue and keeps the others where they were; a page number that is not one shows the first or
the last page, never an error."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from eresident.audit.service import Actor
from eresident.seed import seed_demo
from eresident.workflow import service as engine
from eresident.workflow import worklist
from tests.factories import Api, Person, bearer

PROCESSES = Path(__file__).resolve().parents[2] / "src" / "eresident" / "data" / "processes"


def referred_case(api: Api) -> str:
    """A case the identity check did not clear: e-residency v2 sends it to a reviewer, with a
    deadline of 14 working hours. Returns its case number."""
    token = api.applicant()
    r = api.submit(token, Person())
    assert r.status_code == 201, r.text
    app_id, number = r.json()["id"], r.json()["case_number"]
    assert api.book_first_slot(token, app_id).status_code == 201
    r = api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(api.official("lj-agent")), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": False,
        "notes": "The face on the video call did not match the photo."})
    assert r.status_code == 201, r.text
    return number


def case_numbers(html: str) -> list[str]:
    review = html.split('id="queue-reviewer"')[1].split("</table>")[0]
    return re.findall(r'<a href="/official/cases/[0-9a-f-]+">([A-Z]{2}-\d{4}-\d{6})</a>', review)


def test_the_worklist_pages_its_queue_late_cases_first(node, monkeypatch):
    seed_demo(node.ctx)
    with node.ctx.database.session(write=True) as db:
        engine.active_definition(node.ctx, db, "e-residency")
        engine.publish(ctx=node.ctx, db=db, text=(PROCESSES / "e-residency.v2.yaml").read_text(), actor=Actor.system())
    api = Api(node)
    old = [referred_case(api) for _ in range(4)]
    node.clock.advance(timedelta(days=5))  # the first four are past their deadline now
    new = [referred_case(api) for _ in range(3)]
    monkeypatch.setattr(worklist, "PAGE_SIZE", 3)
    reviewer = bearer(api.official("lj-reviewer"))

    first = api.client.get("/official", headers=reviewer).text
    assert re.search(r'<h2 id="queue-reviewer">Review \(7\)</h2>', first)
    assert re.search(r"<strong class=\"tag late\">4 late</strong>", first)  # of the whole queue, not the page
    assert case_numbers(first) == old[:3]
    assert "Cases 1 to 3 of 7." in first and "Page 1 of 3" in first
    assert '<a href="?reviewer=2#queue-reviewer" rel="next">Next page</a>' in first
    assert 'rel="prev"' not in first

    second = api.client.get("/official?reviewer=2", headers=reviewer).text
    assert case_numbers(second) == old[3:] + new[:2]
    assert '<a href="?reviewer=1#queue-reviewer" rel="prev">Previous page</a>' in second
    assert '<a href="?reviewer=3#queue-reviewer" rel="next">Next page</a>' in second

    last = api.client.get("/official?reviewer=3", headers=reviewer).text
    assert case_numbers(last) == new[2:] and 'rel="next"' not in last

    for wrong, shown in (("99", new[2:]), ("0", old[:3]), ("-2", old[:3]), ("two", old[:3]), ("", old[:3])):
        r = api.client.get(f"/official?reviewer={wrong}", headers=reviewer)
        assert r.status_code == 200 and case_numbers(r.text) == shown, wrong


def test_each_queue_keeps_its_own_page(node, monkeypatch):
    """An official with two queues pages one of them; the links keep the other's page."""
    from eresident.officials.models import Official, RoleGrant
    from sqlalchemy import select

    seed_demo(node.ctx)
    api = Api(node)
    for _ in range(3):
        api.to_review()
    with node.ctx.database.session(write=True) as db:
        approver = db.scalars(select(Official).where(Official.username == "lj-approver")).one()
        db.add(RoleGrant(official_id=approver.id, role="reviewer", region="LJ", granted_at=node.clock.now()))
    monkeypatch.setattr(worklist, "PAGE_SIZE", 2)
    html = api.client.get("/official?reviewer=2&approver=5", headers=bearer(api.official("lj-approver"))).text
    assert '<h2 id="queue-approver">Decisions (0)</h2>' in html and '<h2 id="queue-reviewer">Review (3)</h2>' in html
    assert '<a href="?approver=1&amp;reviewer=1#queue-reviewer" rel="prev">Previous page</a>' in html
    assert len(case_numbers(html)) == 1
