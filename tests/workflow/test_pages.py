"""Officials' pages on the engine: the worklist says what is late and what is due soon, and the case
view shows the process map with the step the case is at."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from eresident.workflow import service as engine
from eresident.workflow.calendar import load_calendar
from eresident.workflow.models import WorkItem
from tests.factories import Api, sanctioned_person
from tests.test_pages import official_browser
from tests.workflow.test_engine import publish



def row_of(page: str, app_id: str) -> str:
    """The worklist table row that links to the case."""
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page, flags=re.S)
    found = [r for r in rows if f'href="/official/cases/{app_id}"' in r]
    assert len(found) == 1, page
    return found[0]


def steps_of(page: str) -> list[str]:
    section = re.search(r'<ol class="process">(.*?)</ol>', page, flags=re.S).group(1)
    return re.findall(r"<li[^>]*>.*?</li>", section, flags=re.S)


def review_entered(node, app_id: str):
    with node.ctx.database.session(write=False) as db:
        case = engine.case_for(db, "application", __import__("uuid").UUID(app_id))
        item = db.query(WorkItem).filter(WorkItem.case_id == case.id, WorkItem.step == "review").one()
        return item.entered_at, item.due_at


@pytest.fixture
def three_reviews(node):
    """On version 2 (review within 14 working hours): one review late, one due within a working
    day, one just arrived. Returns their application ids."""
    publish(node, "e-residency.v2.yaml")
    api = Api(node)
    _, late = api.to_review(sanctioned_person()[0])
    node.clock.advance(timedelta(days=7))
    _, soon = api.to_review(sanctioned_person()[0])
    entered, due = review_entered(node, soon)
    node.clock.set(load_calendar("LJ").add_working_hours(entered, 10))  # 4 working hours left
    _, fresh = api.to_review(sanctioned_person()[0])
    return late, soon, fresh


def test_the_worklist_marks_late_and_due_soon_cases(node, three_reviews):
    late, soon, fresh = three_reviews
    reviewer, _ = official_browser(node, "lj-reviewer")
    page = reviewer.get("/official")
    assert page.status_code == 200
    text = page.text
    assert '<strong class="tag late">1 late</strong>' in text and '<strong class="tag soon">1 due soon</strong>' in text

    late_row, soon_row, fresh_row = row_of(text, late), row_of(text, soon), row_of(text, fresh)
    assert late_row.startswith('<tr class="late">') and '<strong class="tag late">late</strong>' in late_row
    assert soon_row.startswith('<tr class="soon">') and '<strong class="tag soon">due soon</strong>' in soon_row
    assert fresh_row.startswith("<tr>") and "tag" not in fresh_row
    # each due date is machine-readable and the oldest deadline comes first
    _, due = review_entered(node, late)
    assert f'<time datetime="{due.isoformat()}">' in late_row
    assert text.index(late) < text.index(soon) < text.index(fresh)
    assert 'aria-labelledby="queue-' in text


def test_an_escalated_case_is_on_the_administrators_worklist(node, three_reviews):
    late, soon, fresh = three_reviews
    with node.ctx.database.session(write=True) as db:
        assert engine.escalate_due(ctx=node.ctx, db=db) == 1
    admin, _ = official_browser(node, "lj-admin")
    text = admin.get("/official").text
    assert "Escalated to administrators (1)" in text
    row = row_of(text, late)
    assert row.startswith('<tr class="late">') and "(escalated)" in row
    assert soon not in text and fresh not in text


def test_the_case_view_highlights_where_the_case_is(node, three_reviews):
    late, soon, fresh = three_reviews
    reviewer, _ = official_browser(node, "lj-reviewer")
    page = reviewer.get(f"/official/cases/{late}")
    assert page.status_code == 200
    steps = steps_of(page.text)
    current = [s for s in steps if 'aria-current="step"' in s]
    assert len(current) == 1 and "step-open" in current[0] and "Here now: Review" in current[0]
    assert '<strong class="tag late">late</strong>' in current[0] and "<time datetime=" in current[0]
    done = [s for s in steps if "step-done" in s]
    assert any("Identity check" in s for s in done) and any("Clean case?" in s for s in done)
    assert all("(done)" in s for s in done)
    assert sum("step-todo" in s for s in steps) == len(steps) - len(current) - len(done)
    # the map lists what takes the case along each edge
    assert "recommend approve: decision" in page.text

    soon_page = reviewer.get(f"/official/cases/{soon}").text
    (here,) = [s for s in steps_of(soon_page) if 'aria-current="step"' in s]
    assert '<strong class="tag soon">due soon</strong>' in here
    fresh_page = reviewer.get(f"/official/cases/{fresh}").text
    (here,) = [s for s in steps_of(fresh_page) if 'aria-current="step"' in s]
    assert "tag" not in here and "due <time" in here


def test_the_case_view_follows_the_case_to_the_decision(node):
    api = Api(node)
    _, app_id = api.to_review()  # version 1: no deadlines
    reviewer, _ = official_browser(node, "lj-reviewer")
    reviewer.get(f"/official/cases/{app_id}")
    reviewer.post(f"/official/cases/{app_id}/claim", {})
    reviewer.get(f"/official/cases/{app_id}")
    reviewer.post(f"/official/cases/{app_id}/recommend", {"choice": "approve", "text": "All clear."})
    steps = steps_of(reviewer.get(f"/official/cases/{app_id}").text)
    (here,) = [s for s in steps if 'aria-current="step"' in s]
    assert "Here now: Decision" in here and "due" not in here
    assert any("Review" in s and "step-done" in s for s in steps)
    worklist = official_browser(node, "lj-approver")[0].get("/official").text
    assert "no deadline" in row_of(worklist, app_id) and "Nothing late or due within a working day." in worklist
