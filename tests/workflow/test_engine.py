"""The workflow engine on the database: publishing changes behaviour for new cases only."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor
from eresident.kit.errors import Problem
from eresident.workflow import service as engine
from eresident.workflow.models import ProcessVersion, WorkflowCase, WorkflowTransition, WorkItem
from tests.factories import Api, bearer, sanctioned_person

PROCESSES = Path(__file__).resolve().parents[2] / "src" / "eresident" / "data" / "processes"


def publish(node, name: str):
    with node.ctx.database.session(write=True) as db:
        engine.active_definition(node.ctx, db, "e-residency")  # v1 is what runs first
        return engine.publish(ctx=node.ctx, db=db, text=(PROCESSES / name).read_text(),
                              actor=Actor("official", "admin-test", "admin"))


def identity_checked(api: Api, token: str, app_id: str):
    assert api.book_first_slot(token, app_id).status_code == 201
    agent = api.official("lj-agent")
    r = api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
    assert r.status_code == 201, r.text


@pytest.fixture
def api(node) -> Api:
    return Api(node)


def test_first_use_publishes_the_packaged_v1_and_audits_it(api, node):
    token = api.applicant()
    assert api.submit(token).status_code == 201
    with node.ctx.database.session(write=False) as db:
        versions = db.scalars(select(ProcessVersion.version)).all()
        audited = db.scalar(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.action == "workflow.published"))
    assert versions == [1] and audited == 1


def test_publishing_v2_approves_clean_new_cases_automatically_and_old_cases_keep_v1(api, node):
    old_token = api.applicant()
    old_id = api.submit(old_token).json()["id"]  # started on v1
    publish(node, "e-residency.v2.yaml")

    token = api.applicant()
    new = api.submit(token)
    assert new.status_code == 201 and new.json()["status"] == "awaiting_identity_check"
    identity_checked(api, token, new.json()["id"])
    mine = api.client.get(f"/api/v1/applications/{new.json()['id']}", headers=bearer(token)).json()
    assert mine["status"] == "approved" and mine["e_resident_number"].startswith("LJ-ER-")
    with node.ctx.database.session(write=False) as db:
        case = db.scalar(select(WorkflowCase).where(WorkflowCase.subject_id == __import__("uuid").UUID(new.json()["id"])))
        assert case.version == 2 and case.decided_by == "automatic"
        rule = db.scalar(select(WorkflowTransition).where(WorkflowTransition.case_id == case.id,
                                                          WorkflowTransition.type == "AutoDecided"))
        assert rule.data["rule_index"] == 0 and rule.data["outcome"] == "clean"

    identity_checked(api, old_token, old_id)
    old = api.client.get(f"/api/v1/applications/{old_id}", headers=bearer(old_token)).json()
    assert old["status"] == "awaiting_review"  # v1 still needs people


def test_a_screening_hit_goes_to_people_even_on_v2(api, node):


    publish(node, "e-residency.v2.yaml")
    person, target = sanctioned_person()
    token = api.applicant()
    app_id = api.submit(token, person).json()["id"]
    identity_checked(api, token, app_id)
    status = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token)).json()["status"]
    assert status == "awaiting_review"


def test_an_invalid_definition_names_the_line_and_leaves_the_published_one(node):
    text = (PROCESSES / "e-residency.v2.yaml").read_text().replace("next: decision", "next: decison", 1)
    with node.ctx.database.session(write=True) as db:
        engine.active_definition(node.ctx, db, "e-residency")
    with pytest.raises(Problem) as caught:
        with node.ctx.database.session(write=True) as db:
            engine.publish(ctx=node.ctx, db=db, text=text, actor=Actor.system())
    assert caught.value.status == 422
    assert any("line" in e.field and "decison" in e.reason for e in caught.value.errors)
    with node.ctx.database.session(write=False) as db:
        assert engine.latest(db, "e-residency").version == 1


def test_a_version_that_is_not_newer_is_refused(node):
    publish(node, "e-residency.v2.yaml")
    with pytest.raises(Problem) as caught:
        publish(node, "e-residency.v2.yaml")
    assert caught.value.status == 409


def test_deadline_passes_and_the_case_escalates_to_an_admin(api, node):
    publish(node, "e-residency.v2.yaml")
    from tests.factories import Person

    person = Person(native_name="")
    token = api.applicant()
    r = api.submit(token, person)
    app_id = r.json()["id"]
    # an identity check that did not verify sends the case to a reviewer, under a 14-hour deadline
    assert api.book_first_slot(token, app_id).status_code == 201
    agent = api.official("lj-agent")
    api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": False,
        "notes": "The face does not match the photo."})
    with node.ctx.database.session(write=False) as db:
        item = db.scalar(select(WorkItem).where(WorkItem.step == "review"))
        assert item is not None and item.due_at is not None and not item.overdue
    node.clock.advance(timedelta(days=10))
    with node.ctx.database.session(write=True) as db:
        assert engine.escalate_due(ctx=node.ctx, db=db) == 1
    with node.ctx.database.session(write=False) as db:
        item = db.scalar(select(WorkItem).where(WorkItem.step == "review"))
        assert item.overdue and item.escalated_to == "admin"
        assert db.scalar(select(func.count()).select_from(WorkflowTransition)
                         .where(WorkflowTransition.type == "DeadlineMissed")) == 1
        admin_queue = engine.worklist(db=db, roles={"admin"}, region="LJ")
        assert [w.step for w in admin_queue] == ["review"]
        metrics = engine.metrics(db=db, process="e-residency")
    assert metrics["deadline_misses"] == 1 and metrics["entered"]["review"] == 1
    with node.ctx.database.session(write=True) as db:
        assert engine.escalate_due(ctx=node.ctx, db=db) == 0  # not twice


def test_a_second_approver_above_a_risk_score_on_v3(api, node):
    """v3 asks for two approvers when the risk score is high; the engine counts them."""

    from eresident.officials import service as officials
    from eresident.seed import DEMO_PASSWORD

    publish(node, "e-residency.v2.yaml")
    with node.ctx.database.session(write=True) as db:
        engine.publish(ctx=node.ctx, db=db, text=(PROCESSES / "e-residency.v3.yaml").read_text(),
                       actor=Actor.system())
        officials.create_official(ctx=node.ctx, db=db, username="lj-approver2", display_name="Second approver",
                                  password=DEMO_PASSWORD, roles=["approver"], actor=Actor.system())
    person, target = sanctioned_person()
    token = api.applicant()
    app_id = api.submit(token, person).json()["id"]
    identity_checked(api, token, app_id)
    reviewer = api.official("lj-reviewer")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    r = api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                        json={"recommendation": "approve", "note": "Name match is a different person."})
    assert r.json()["status"] == "awaiting_decision", r.text
    first = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(api.official("lj-approver")),
                            json={"decision": "approve"})
    assert first.status_code == 200 and first.json()["status"] != "approved"  # one vote of two
    again = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(api.official("lj-approver")),
                            json={"decision": "approve"})
    assert again.status_code == 409  # the same approver cannot vote twice
    second = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(api.official("lj-approver2")),
                             json={"decision": "approve"})
    assert second.status_code == 200 and second.json()["status"] == "approved"


def test_worklist_is_by_role_and_region(api, node):
    token, app_id = api.to_review()
    with node.ctx.database.session(write=False) as db:
        reviewers = engine.worklist(db=db, roles={"reviewer"}, region="LJ")
        approvers = engine.worklist(db=db, roles={"approver"}, region="LJ")
        elsewhere = engine.worklist(db=db, roles={"reviewer"}, region="TF")
    assert [w.step for w in reviewers] == ["review"] and approvers == [] and elsewhere == []


def _items(node, case_id) -> dict:
    with node.ctx.database.session(write=False) as db:
        return {i.id: (i.step, i.claimed_by) for i in db.scalars(select(WorkItem).where(WorkItem.case_id == case_id))}


def test_a_command_rewrites_only_the_worklist_rows_that_changed(api, node):
    from eresident.workflow.semantics import Actor as EngineActor

    token, app_id = api.to_review()
    with node.ctx.database.session(write=False) as db:
        case = engine.case_for(db, "application", uuid.UUID(app_id))
    before = _items(node, case.id)
    assert [step for step, _ in before.values()] == ["review"]
    (item_id,) = before
    instance = case.state["active"][0]["id"]
    assert item_id == engine.item_id(case.id, instance, "LJ")  # derived from what the row is
    reviewer = EngineActor("reviewer-1", ("reviewer",), "LJ")
    with node.ctx.database.transaction(write=True) as tx:
        engine.claim(ctx=node.ctx, db=tx, case=engine.load_case(tx, case.id), step="review", actor=reviewer)
    assert _items(node, case.id) == {item_id: ("review", "reviewer-1")}  # the same row, updated in place
    with node.ctx.database.transaction(write=True) as tx:
        engine.act(ctx=node.ctx, db=tx, case=engine.load_case(tx, case.id), step="review",
                   action="recommend_approve", actor=reviewer)
    after = _items(node, case.id)
    assert item_id not in after and [step for step, _ in after.values()] == ["decision"]


def test_a_command_on_a_case_read_before_another_changed_it_is_refused_and_writes_nothing(api, node):
    from eresident.workflow.semantics import Actor as EngineActor

    token, app_id = api.to_review()
    with node.ctx.database.session(write=False) as db:
        case = engine.case_for(db, "application", uuid.UUID(app_id))
    reviewer = EngineActor("reviewer-1", ("reviewer",), "LJ")
    with node.ctx.database.transaction(write=True) as tx:
        engine.claim(ctx=node.ctx, db=tx, case=engine.load_case(tx, case.id), step="review", actor=reviewer)
    with node.ctx.database.transaction(write=False) as tx:
        stale = engine.load_case(tx, case.id)
    with node.ctx.database.transaction(write=True) as tx:
        engine.act(ctx=node.ctx, db=tx, case=engine.load_case(tx, case.id), step="review",
                   action="recommend_approve", actor=reviewer)
    items, transitions = _items(node, case.id), _transitions(node, case.id)
    # The stale command would add the same decision row again: it is refused as a change under it.
    with pytest.raises(Problem) as refused, node.ctx.database.transaction(write=True) as tx:
        engine.act(ctx=node.ctx, db=tx, case=stale, step="review", action="recommend_approve", actor=reviewer)
    assert refused.value.status == 409 and refused.value.code == "case-changed"
    assert _items(node, case.id) == items and _transitions(node, case.id) == transitions


def _transitions(node, case_id) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(WorkflowTransition)
                         .where(WorkflowTransition.case_id == case_id))


def test_the_timer_job_escalates_in_a_driver_transaction(api, node):
    from eresident.kit.jobs import JOBS

    publish(node, "e-residency.v2.yaml")
    from tests.factories import Person

    token = api.applicant()
    app_id = api.submit(token, Person(native_name="")).json()["id"]
    assert api.book_first_slot(token, app_id).status_code == 201
    api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(api.official("lj-agent")), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": False,
        "notes": "The face does not match the photo."})
    node.clock.advance(timedelta(days=10))
    (job,) = [j for j in JOBS if j.name == "workflow.escalate_due"]
    assert job.run(node.ctx) == 1 and job.run(node.ctx) == 0
    with node.ctx.database.session(write=False) as db:
        item = db.scalar(select(WorkItem).where(WorkItem.step == "review"))
        assert item.overdue and item.escalated_to == "admin"
