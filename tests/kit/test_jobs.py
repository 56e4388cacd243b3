"""The periodic jobs: escalations and checkpoints happen on time, and one failure stops nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from eresident.audit.models import AuditCheckpoint
from eresident.audit.service import Actor
from eresident.kit.jobs import JOBS, PeriodicJob, run_due
from eresident.workflow import service as engine
from eresident.workflow.models import WorkItem
from tests.factories import Api, Person, bearer

PROCESSES = Path(__file__).resolve().parents[2] / "src" / "eresident" / "data" / "processes"


def test_due_jobs_escalate_late_cases_and_sign_a_checkpoint(node):
    with node.ctx.database.session(write=True) as db:
        engine.active_definition(node.ctx, db, "e-residency")
        engine.publish(ctx=node.ctx, db=db, text=(PROCESSES / "e-residency.v2.yaml").read_text(), actor=Actor.system())
    api = Api(node)
    token = api.applicant()
    app_id = api.submit(token, Person(native_name="")).json()["id"]
    api.book_first_slot(token, app_id)
    api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(api.official("lj-agent")), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": False, "notes": "No match."})
    node.clock.advance(timedelta(days=10))

    last: dict[str, float] = {}
    assert run_due(node.ctx, last, now=0.0) == {"workflow.escalate_due": "ok", "audit.checkpoint": "ok",
                                                "federation.deliver": "ok", "banking.deliver": "ok",
                                                "tax.reminders": "ok", "recognition.sweep": "ok",
                                                "dashboard.figures": "ok"}
    assert run_due(node.ctx, last, now=0.5) == {}  # not due again yet
    with node.ctx.database.session(write=False) as db:
        assert db.scalar(select(WorkItem.escalated_to).where(WorkItem.step == "review")) == "admin"
        assert db.scalar(select(func.count()).select_from(AuditCheckpoint)) >= 1
    assert set(run_due(node.ctx, last, now=61.0)) == {job.name for job in JOBS}


def test_a_failing_job_is_reported_and_the_others_still_run(node):
    ran = []

    def boom(ctx):
        raise RuntimeError("broken")

    jobs = (PeriodicJob("boom", 10, boom), PeriodicJob("fine", 10, lambda ctx: ran.append(1)))
    assert run_due(node.ctx, {}, now=0.0, jobs=jobs) == {"boom": "failed", "fine": "ok"}
    assert ran == [1]
