"""The workflow engine on the database: publish definitions, start and move cases, keep worklists.

The rules live in `semantics` (pure); this module loads a case, asks semantics for the new state
and its effects, and stores both with the worklist rows in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, overload

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from eresident.audit.service import Actor as AuditActor
from eresident.audit.service import record
from eresident.kit.context import NodeContext
from eresident.kit.db import insert_attached
from eresident.kit.errors import FieldError, Problem
from eresident.workflow import semantics
from eresident.workflow.calendar import load_calendar
from eresident.workflow.definition import DefinitionError, ProcessDefinition, load_definition
from eresident.workflow.diff import diff
from eresident.workflow.models import ProcessVersion, WorkflowCase, WorkflowTransition, WorkItem

PACKAGED = Path(__file__).resolve().parent.parent / "data" / "processes"
# What a node runs until an administrator publishes something else.
DEFAULT_VERSIONS = {"e-residency": "e-residency.v1.yaml",
                    "company-formation": "company-formation.v1.yaml",
                    "tax-registration": "tax-registration.v1.yaml"}

_definitions: dict[tuple[str, int, str], ProcessDefinition] = {}


@dataclass(frozen=True)
class Outcome:
    """What a command did: the case, its public status, and whether it has just ended."""

    case: WorkflowCase
    status: str | None
    ended: str | None
    effects: list[semantics.Effect]


_TITLES = {"separation-of-duties": "Four eyes: a different official must act",
           "wrong-role": "Your role does not allow this", "wrong-region": "This is for another region's officials",
           "note-required": "A note is required", "step-not-active": "The case is not at this step"}


def problem_from(error: semantics.WorkflowError) -> Problem:
    title = _TITLES.get(error.code, "This action is not possible now")
    if error.code == "note-required":
        return Problem(422, title, detail=error.message, code="invalid-field",
                       errors=[FieldError("note", error.message)])
    return Problem(error.status, title, detail=error.message, code=f"workflow-{error.code}")


def definition_problem(error: DefinitionError) -> Problem:
    errors = [FieldError(f"line {p.line}" + (f", column {p.column}" if p.column else ""), p.message)
              for p in error.problems]
    return Problem(422, "The process definition is not valid", detail=str(error.problems[0]) if errors else "",
                   code="invalid-definition", errors=errors)


def _compile(row: ProcessVersion) -> ProcessDefinition:
    key = (row.process, row.version, row.digest)
    if key not in _definitions:
        _definitions[key] = load_definition(row.source, source_name=f"{row.process} v{row.version}")
    return _definitions[key]


def validate(text: str, *, source_name: str = "<definition>") -> ProcessDefinition:
    try:
        return load_definition(text, source_name=source_name)
    except DefinitionError as exc:
        raise definition_problem(exc) from None


def latest(db: Session, process: str) -> ProcessVersion | None:
    return db.scalars(select(ProcessVersion).where(ProcessVersion.process == process)
                      .order_by(ProcessVersion.version.desc())).first()


def publish(*, ctx: NodeContext, db: Session, text: str, actor: AuditActor,
            source_name: str = "<definition>") -> ProcessVersion:
    """Publish a new version. An invalid text or a version that is not newer changes nothing."""
    defn = validate(text, source_name=source_name)
    current = latest(db, defn.process)
    if current is not None and defn.version <= current.version:
        raise Problem(409, "This version is not newer than the published one", code="stale-version",
                      detail=f"{defn.process} v{current.version} is published; number the new one "
                             f"{current.version + 1} or higher.")
    row = ProcessVersion(process=defn.process, version=defn.version, source=text, digest=defn.digest,
                         published_at=ctx.clock.now(), published_by=actor.id)
    db.add(row)
    db.flush()
    record(db=db, actor=actor, region=ctx.region, action="workflow.published", entity_type="process",
           entity_id=f"{defn.process}@{defn.version}", at=ctx.clock.now(),
           before=None if current is None else {"version": current.version},
           after={"version": defn.version, "digest": defn.digest,
                  "changes": diff(_compile(current), defn) if current is not None else ["first version"]})
    return row


_versions = ProcessVersion.__table__
_LATEST_VERSION = select(_versions.c.version, _versions.c.digest).where(
    _versions.c.process == bindparam("process")).order_by(_versions.c.version.desc()).limit(1)


def active_definition(ctx: NodeContext, db: Session, process: str) -> ProcessDefinition:
    head = db.connection().execute(_LATEST_VERSION, {"process": process}).first()
    if head is not None:  # every case start asks this: a two-column read, compiled once per version
        compiled = _definitions.get((process, head.version, head.digest))
        if compiled is not None:
            return compiled
        return _compile(db.scalars(select(ProcessVersion).where(ProcessVersion.process == process,
                                                                ProcessVersion.version == head.version)).one())
    # First use on this node: publish the packaged default, audited like any other.
    text = (PACKAGED / DEFAULT_VERSIONS[process]).read_text()
    try:
        with db.begin_nested():
            row = publish(ctx=ctx, db=db, text=text, actor=AuditActor.system(),
                          source_name=DEFAULT_VERSIONS[process])
    except IntegrityError:  # another request published it first
        published = latest(db, process)
        assert published is not None
        row = published
    return _compile(row)


_published: dict[tuple[str, int], ProcessDefinition] = {}


def definition_of(db: Session, case: WorkflowCase) -> ProcessDefinition:
    """The definition a case runs on. A published version never changes, so it is read once."""
    key = (case.process, case.version)
    if key not in _published:
        row = db.scalars(select(ProcessVersion).where(ProcessVersion.process == case.process,
                                                      ProcessVersion.version == case.version)).one()
        _published[key] = _compile(row)
    return _published[key]


def engine_actor(official, region: str) -> semantics.Actor:
    roles = [g.role for g in official.roles if g.region == region]
    return semantics.Actor(str(official.id), roles, region)


def _set_state(case: WorkflowCase, defn: ProcessDefinition, state: semantics.CaseState) -> str | None:
    """Put a new state on the case row; returns the outcome if the case has just ended."""
    case.state = state.to_json()
    case.status = semantics.case_status(defn, state)
    case.next_due_at = semantics.next_due(state)
    if state.outcome is not None and case.outcome is None:
        case.outcome, case.ended_at = state.outcome, state.ended_at
        case.decided_by = semantics.decided_by(state)
        return state.outcome
    return None


def _write_rows(db: Session, case: WorkflowCase, defn: ProcessDefinition, state: semantics.CaseState,
                effects: list[semantics.Effect], actor_id: str | None, *, new: bool) -> None:
    """The transitions and the worklist rows of a command, as plain Core statements (no unit of work)."""
    conn = db.connection()
    transitions = [{"case_id": case.id, "at": effect.at, "type": effect.type, "step": data.get("step"),
                    "actor_id": data.get("actor") or actor_id, "data": data}
                   for effect in effects for data in (effect.to_json(),)]
    if transitions:
        conn.execute(insert(WorkflowTransition.__table__), transitions)
    if not new:
        conn.execute(delete(WorkItem.__table__).where(WorkItem.__table__.c.case_id == case.id))
    items = [{"id": uuid.uuid4(), "case_id": case.id, "instance": row.instance, "step": row.step,
              "kind": row.kind, "title": row.title, "role": row.role, "region": region,
              "claimed_by": row.claims[0] if row.claims else None, "entered_at": row.entered_at,
              "due_at": row.due_at, "overdue": row.overdue, "escalated_to": row.escalated_to}
             for row in semantics.open_steps(defn, state)
             for region in (row.regions or (None,))]  # one row per region that may act ("any" too)
    if items:
        conn.execute(insert(WorkItem.__table__), items)


def _store(ctx: NodeContext, db: Session, case: WorkflowCase, defn: ProcessDefinition,
           state: semantics.CaseState, effects: list[semantics.Effect], actor_id: str | None) -> Outcome:
    ended = _set_state(case, defn, state)
    try:
        db.flush()  # the case row first (its version check), then plain inserts without the unit of work
    except StaleDataError:  # another official changed this case since it was read
        raise Problem(409, "Someone else acted on this case just now", code="case-changed",
                      detail="Nothing was changed. Reload the case to see where it stands.") from None
    _write_rows(db, case, defn, state, effects, actor_id, new=False)
    return Outcome(case, case.status, ended, effects)


def start_case(*, ctx: NodeContext, db: Session, process: str, subject_type: str, subject_id: uuid.UUID,
               facts: dict, events: tuple[str, ...] = ()) -> Outcome:
    """Start a case on the process's latest version. `events` have already happened when the case
    starts (checks that ran during submission); each is delivered if this version waits for it,
    so one caller drives versions that wait for them and versions that do not.

    A new case is written with plain inserts and then attached to the session as loaded, so later
    commands in the same transaction update it (with the version check) like any other case."""
    defn = active_definition(ctx, db, process)
    now = ctx.clock.now()
    calendar = load_calendar(defn.calendar)
    try:
        state, effects = semantics.start(defn, facts, now, calendar, region=ctx.region)
        for event in events:
            if event in {e for row in semantics.open_steps(defn, state) for e in row.events}:
                state, more = semantics.signal(defn, state, event, now, calendar, inplace=True)
                effects = [*effects, *more]
    except semantics.WorkflowError as exc:
        raise problem_from(exc) from None
    case = WorkflowCase(id=uuid.uuid4(), process=defn.process, version=defn.version, subject_type=subject_type,
                        subject_id=subject_id, region=ctx.region, started_at=now, row_version=1,
                        outcome=None, ended_at=None, decided_by=None)
    ended = _set_state(case, defn, state)
    insert_attached(db, case)
    _write_rows(db, case, defn, state, effects, None, new=True)
    return Outcome(case, case.status, ended, effects)


def case_for(db: Session, subject_type: str, subject_id: uuid.UUID) -> WorkflowCase:
    case = db.scalars(select(WorkflowCase).where(WorkflowCase.subject_type == subject_type,
                                                 WorkflowCase.subject_id == subject_id)
                      .order_by(WorkflowCase.started_at.desc())).first()
    if case is None:
        raise Problem(404, "No workflow case for this subject", code="not-found")
    return case


def _command(ctx: NodeContext, db: Session, case: WorkflowCase, actor_id: str | None, run) -> Outcome:
    defn = definition_of(db, case)
    state = semantics.CaseState.from_json(case.state)
    try:
        new_state, effects = run(defn, state, load_calendar(defn.calendar))
    except semantics.WorkflowError as exc:
        raise problem_from(exc) from None
    return _store(ctx, db, case, defn, new_state, effects, actor_id)


def act(*, ctx: NodeContext, db: Session, case: WorkflowCase, step: str, action: str, actor: semantics.Actor,
        note: str = "") -> Outcome:
    now = ctx.clock.now()
    return _command(ctx, db, case, actor.id, lambda d, s, cal: semantics.act(d, s, step, action, actor, now, cal,
                                                                          note=note))


def claim(*, ctx: NodeContext, db: Session, case: WorkflowCase, step: str, actor: semantics.Actor) -> Outcome:
    now = ctx.clock.now()
    return _command(ctx, db, case, actor.id, lambda d, s, cal: semantics.claim(d, s, step, actor, now))


def release(*, ctx: NodeContext, db: Session, case: WorkflowCase, step: str, actor: semantics.Actor) -> Outcome:
    now = ctx.clock.now()
    return _command(ctx, db, case, actor.id, lambda d, s, cal: semantics.release(d, s, step, actor, now))


@overload
def signal(*, ctx: NodeContext, db: Session, case: WorkflowCase, event: str, facts: dict | None = None,
           only_if_waiting: Literal[False] = False) -> Outcome: ...
@overload
def signal(*, ctx: NodeContext, db: Session, case: WorkflowCase, event: str, facts: dict | None = None,
           only_if_waiting: bool) -> Outcome | None: ...
def signal(*, ctx: NodeContext, db: Session, case: WorkflowCase, event: str, facts: dict | None = None,
           only_if_waiting: bool = False) -> Outcome | None:
    """Deliver an outside event (identity checked, applicant answered). With only_if_waiting, an
    event this version does not wait for is ignored (the same code drives several versions)."""
    if only_if_waiting:
        defn = definition_of(db, case)
        waiting = {e for row in semantics.open_steps(defn, semantics.CaseState.from_json(case.state))
                   for e in row.events}
        if event not in waiting:
            if facts:
                return _command(ctx, db, case, None,
                                lambda d, s, cal: semantics.update_facts(d, s, facts, ctx.clock.now()))
            return None
    now = ctx.clock.now()
    return _command(ctx, db, case, None, lambda d, s, cal: semantics.signal(d, s, event, now, cal, facts=facts))


def open_task(db: Session, case: WorkflowCase, role: str) -> str | None:
    """The step id of the case's open task for a role (the definition names the steps)."""
    defn = definition_of(db, case)
    for row in semantics.open_steps(defn, semantics.CaseState.from_json(case.state)):
        if row.kind == "task" and row.role == role:
            return row.step
    return None


def escalate_due(*, ctx: NodeContext, db: Session, limit: int = 500) -> int:
    """The timer job: mark missed deadlines and escalate. Returns how many cases changed."""
    now = ctx.clock.now()
    cases = db.scalars(select(WorkflowCase).where(WorkflowCase.next_due_at.is_not(None),
                                                  WorkflowCase.next_due_at <= now,
                                                  WorkflowCase.outcome.is_(None)).limit(limit)).all()
    for case in cases:
        _command(ctx, db, case, None, lambda d, s, cal: semantics.escalate_due(d, s, now, cal))
    return len(cases)


def worklist(*, db: Session, roles: set[str], region: str, process: str | None = None) -> list[WorkItem]:
    query = select(WorkItem).join(WorkflowCase, WorkflowCase.id == WorkItem.case_id).where(
        WorkItem.region.in_((region, "any")), (WorkItem.role.in_(roles)) | (WorkItem.escalated_to.in_(roles)))
    if process:
        query = query.where(WorkflowCase.process == process)
    return list(db.scalars(query.order_by(WorkItem.due_at.is_(None), WorkItem.due_at, WorkItem.entered_at)))


def metrics(*, db: Session, process: str, version: int | None = None, since: datetime | None = None,
            until: datetime | None = None) -> dict:
    """Per step: entered, waiting and working time, time in step, deadline misses; per process: time
    to decision, automatic vs human decisions (see `workflow.metrics`)."""
    from eresident.workflow.metrics import compute

    return compute(db=db, process=process, version=version, since=since, until=until)


def last_auto_decision(case: WorkflowCase) -> dict | None:
    for entry in reversed(case.state.get("history", [])):
        if entry.get("how") == "rule":
            return entry
    return None

