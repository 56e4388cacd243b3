"""Process metrics from real cases driven through the engine on the database, with the clock moved
by hand: waiting and working time per step, time to decision, deadline misses, automatic vs human."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eresident.audit.service import Actor as AuditActor
from eresident.workflow import service as engine
from eresident.workflow.cli import app as workflow_cli
from eresident.workflow.models import WorkflowCase
from eresident.workflow.semantics import Actor
from tests.factories import Api, bearer
from tests.workflow.builders import CLEAN, local

PROCESSES = Path(__file__).resolve().parents[2] / "src" / "eresident" / "data" / "processes"
REVIEWER_1, REVIEWER_2 = Actor("reviewer-1", {"reviewer"}, "LJ"), Actor("reviewer-2", {"reviewer"}, "LJ")
APPROVER = Actor("approver-1", {"approver"}, "LJ")


class Driver:
    """Starts cases and runs commands on them, each in its own transaction, at the clock's time."""

    def __init__(self, node):
        self.node = node

    def at(self, hh: int, mm: int = 0, *, month: int = 11, day: int = 30) -> Driver:
        self.node.clock.set(local(2026, month, day, hh, mm))  # Monday 30 November 2026, Chongqing time
        return self

    def start(self, facts: dict = CLEAN, events: tuple[str, ...] = ()) -> uuid.UUID:
        with self.node.ctx.database.session(write=True) as db:
            return engine.start_case(ctx=self.node.ctx, db=db, process="e-residency", subject_type="test",
                                     subject_id=uuid.uuid4(), facts=facts, events=events).case.id

    def run(self, case_id: uuid.UUID, command, **kw):
        with self.node.ctx.database.session(write=True) as db:
            return command(ctx=self.node.ctx, db=db, case=db.get(WorkflowCase, case_id), **kw)

    def metrics(self, **kw) -> dict:
        with self.node.ctx.database.session(write=False) as db:
            return engine.metrics(db=db, process="e-residency", **kw)


def publish(node, name: str) -> None:
    with node.ctx.database.session(write=True) as db:
        engine.active_definition(node.ctx, db, "e-residency")
        engine.publish(ctx=node.ctx, db=db, text=(PROCESSES / name).read_text(), actor=AuditActor.system())


@pytest.fixture
def drive(node) -> Driver:
    return Driver(node)


def two_reviewed_cases_and_one_waiting(drive: Driver) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Version 1, on a plain Monday (working hours 09:00–12:00 and 13:30–17:30):

    case  identity checked  claimed  recommended  decided   time to decision
    a     10:00             11:00    14:00        15:00     6 h (4.5 working h)
    b     10:00             13:00    14:00        16:00     7 h (5.5 working h)
    c     10:00             —        —            —         open, waiting for a reviewer
    """
    drive.at(9)
    a, b, c = drive.start(), drive.start(), drive.start()
    drive.at(10)
    for case in (a, b, c):
        drive.run(case, engine.signal, event="identity_checked")
    drive.at(11).run(a, engine.claim, step="review", actor=REVIEWER_1)
    drive.at(13).run(b, engine.claim, step="review", actor=REVIEWER_2)
    drive.at(14).run(a, engine.act, step="review", action="recommend_approve", actor=REVIEWER_1)
    drive.run(b, engine.act, step="review", action="recommend_approve", actor=REVIEWER_2)
    drive.at(15).run(a, engine.act, step="decision", action="approve", actor=APPROVER)
    drive.at(16).run(b, engine.act, step="decision", action="approve", actor=APPROVER)
    return a, b, c


def test_waiting_and_working_time_per_step_and_time_to_decision(drive):
    two_reviewed_cases_and_one_waiting(drive)
    m = drive.metrics()

    assert m["cases"] == {"started": 3, "ended": 2, "open": 1}
    assert m["versions"] == {"1": 3} and m["outcomes"] == {"approved": 2} and m["decided_by"] == {"human": 2}
    assert m["time_to_decision"] == {"count": 2, "hours": {"mean": 6.5, "p50": 6.0, "p90": 7.0},
                                     "working_hours": {"mean": 5.0, "p50": 4.5, "p90": 5.5}}

    review = m["steps"]["review"]
    assert (review["kind"], review["entered"], review["completed"], review["open"]) == ("task", 3, 2, 1)
    assert (review["claims"], review["actions"], review["releases"]) == (2, 2, 0)
    # waiting: a 1 h, b 3 h (10:00–13:00 holds 2 working hours: lunch is 12:00–13:30)
    assert review["waiting"] == {"count": 2, "hours": {"mean": 2.0, "p50": 1.0, "p90": 3.0},
                                 "working_hours": {"mean": 1.5, "p50": 1.0, "p90": 2.0}}
    # working: a 11:00–14:00 (1.5 working h), b 13:00–14:00 (0.5 working h)
    assert review["working"] == {"count": 2, "hours": {"mean": 2.0, "p50": 1.0, "p90": 3.0},
                                 "working_hours": {"mean": 1.0, "p50": 0.5, "p90": 1.5}}

    decision = m["steps"]["decision"]  # no claims here: the approver's action picks it up and ends it
    assert decision["waiting"]["hours"] == {"mean": 1.5, "p50": 1.0, "p90": 2.0}
    assert decision["working"]["hours"] == {"mean": 0.0, "p50": 0.0, "p90": 0.0}
    assert decision["time_in_step"]["hours"] == decision["waiting"]["hours"]

    identity = m["steps"]["identity_check"]
    assert identity["kind"] == "wait" and "waiting" not in identity
    assert identity["time_in_step"]["hours"] == {"mean": 1.0, "p50": 1.0, "p90": 1.0}
    assert m["entered"] == {"identity_check": 3, "review": 3, "decision": 2}
    assert m["deadline_misses"] == 0


def test_a_released_claim_and_a_sticky_return(drive):
    drive.at(9)
    case = drive.start()
    drive.at(10).run(case, engine.signal, event="identity_checked")
    drive.at(11).run(case, engine.claim, step="review", actor=REVIEWER_1)
    drive.at(14).run(case, engine.release, step="review", actor=REVIEWER_1)
    drive.at(15).run(case, engine.claim, step="review", actor=REVIEWER_2)
    drive.at(16).run(case, engine.act, step="review", action="request_info", actor=REVIEWER_2,
                     note="Please send a clearer copy of your passport.")
    drive.at(10, month=12, day=1).run(case, engine.signal, event="resubmitted")
    review = drive.metrics()["steps"]["review"]
    assert (review["entered"], review["completed"], review["claims"], review["releases"]) == (2, 1, 3, 1)
    # the first round waited 1 h and was worked on from the first claim (11:00) to the request (16:00);
    # the second round went straight back to the reviewer who asked (a sticky claim): no wait
    assert review["waiting"]["count"] == 2 and review["waiting"]["hours"]["p90"] == 1.0
    assert review["waiting"]["hours"]["p50"] == 0.0
    assert review["working"]["count"] == 1 and review["working"]["hours"]["mean"] == 5.0


def test_deadline_misses_automatic_decisions_and_the_version_filter(drive, node):
    drive.at(9)
    old = drive.start()  # v1, left waiting
    publish(node, "e-residency.v2.yaml")
    drive.at(10)
    clean = drive.start(events=("checks_completed",))
    hit = drive.start(facts={**CLEAN, "screening_hits": 1, "risk_score": 0.8}, events=("checks_completed",))
    late = drive.start(facts={**CLEAN, "refused_before": True}, events=("checks_completed",))
    drive.at(11)
    for case in (clean, hit, late):
        drive.run(case, engine.signal, event="identity_checked")
    # the review deadline is 14 working hours: Wednesday 2 December, 12:00 … let a week pass
    node.clock.advance(timedelta(days=7))
    with node.ctx.database.session(write=True) as db:
        assert engine.escalate_due(ctx=node.ctx, db=db) == 2  # the timer finds both open reviews
    drive.run(hit, engine.claim, step="review", actor=REVIEWER_1)
    drive.run(hit, engine.act, step="review", action="recommend_approve", actor=REVIEWER_1)

    v2 = drive.metrics(version=2)
    assert v2["cases"] == {"started": 3, "ended": 1, "open": 2} and v2["decided_by"] == {"automatic": 1}
    assert v2["steps"]["triage"]["outcomes"] == {"clean": 1, "refer": 2}
    assert v2["steps"]["triage"]["kind"] == "auto" and v2["steps"]["triage"]["entered"] == 3
    review = v2["steps"]["review"]
    assert review["deadline_misses"] == 2 and review["escalations"] == 2  # one each: the late act adds none
    assert v2["deadline_misses"] == 2 and v2["time_to_decision"]["hours"]["p50"] == 1.0
    assert "identity_check" in v2["steps"] and v2["steps"]["automatic_checks"]["completed"] == 3
    everything = drive.metrics()
    assert everything["cases"]["started"] == 4 and everything["versions"] == {"1": 1, "2": 3}
    assert drive.metrics(since=local(2026, 11, 30, 9, 30))["cases"]["started"] == 3
    assert drive.metrics(until=local(2026, 11, 30, 9, 30))["cases"]["started"] == 1
    assert old is not None


def test_a_step_completed_late_counts_as_a_miss_without_the_timer(drive, node):
    publish(node, "e-residency.v2.yaml")
    drive.at(9)
    case = drive.start(facts={**CLEAN, "screening_hits": 1}, events=("checks_completed",))
    drive.run(case, engine.signal, event="identity_checked")
    node.clock.advance(timedelta(days=7))  # no timer ran
    drive.run(case, engine.claim, step="review", actor=REVIEWER_1)
    drive.run(case, engine.act, step="review", action="recommend_approve", actor=REVIEWER_1)
    m = drive.metrics()
    assert m["steps"]["review"]["deadline_misses"] == 1 and m["steps"]["review"]["escalations"] == 0
    assert m["deadline_misses"] == 1


def test_no_cases_gives_empty_figures(drive):
    m = drive.metrics()
    assert m["cases"] == {"started": 0, "ended": 0, "open": 0} and m["steps"] == {}
    assert m["time_to_decision"] == {"count": 0, "hours": None, "working_hours": None}


def test_the_admin_api_route(node, drive):
    two_reviewed_cases_and_one_waiting(drive)
    api = Api(node)
    admin = api.official("lj-admin")
    r = api.client.get("/api/v1/workflow/processes/e-residency/metrics", headers=bearer(admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["steps"]["review"]["waiting"]["working_hours"]["p90"] == 2.0
    assert body["time_to_decision"]["hours"]["p50"] == 6.0 and body["decided_by"] == {"human": 2}
    only_v2 = api.client.get("/api/v1/workflow/processes/e-residency/metrics", params={"version": 2},
                             headers=bearer(admin))
    assert only_v2.status_code == 200 and only_v2.json()["cases"]["started"] == 0

    naive = api.client.get("/api/v1/workflow/processes/e-residency/metrics",
                           params={"since": "2026-11-30T09:00:00"}, headers=bearer(admin))
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "since"
    unknown = api.client.get("/api/v1/workflow/processes/no-such/metrics", headers=bearer(admin))
    assert unknown.status_code == 404
    reviewer = api.client.get("/api/v1/workflow/processes/e-residency/metrics",
                              headers=bearer(api.official("lj-reviewer")))
    assert reviewer.status_code == 403
    assert api.client.get("/api/v1/workflow/processes/e-residency/metrics").status_code == 401


def test_the_cli_prints_the_table_and_json(node, drive, monkeypatch):
    two_reviewed_cases_and_one_waiting(drive)
    monkeypatch.setenv("ERESIDENT_DATABASE_URL", node.settings.database_url)
    monkeypatch.setenv("ERESIDENT_DATA_DIR", str(node.settings.data_dir))
    monkeypatch.setenv("ERESIDENT_REGION", "LJ")
    runner = CliRunner()
    text = runner.invoke(workflow_cli, ["metrics", "e-residency"])
    assert text.exit_code == 0, text.output
    assert "3 cases, 2 ended, 1 open" in text.output
    assert "time to decision, mean/p50/p90: 6.5/6.0/7.0 h, 5.0/4.5/5.5 working h" in text.output
    review = next(line for line in text.output.splitlines() if line.strip().startswith("review"))
    assert review.split()[:5] == ["review", "task", "3", "1", "0"] and "1.5/1.0/2.0" in review
    as_json = runner.invoke(workflow_cli, ["metrics", "e-residency", "--json", "--version", "1"])
    assert as_json.exit_code == 0 and '"waiting"' in as_json.output
    bad = runner.invoke(workflow_cli, ["metrics", "e-residency", "--since", "yesterday"])
    assert bad.exit_code == 2
