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

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from eresident.audit.service import Actor as AuditActor
from eresident.audit.service import record
from eresident.kit.context import NodeContext
from eresident.kit.db import Driver, Prepared, driver
from eresident.i18n import N_
from eresident.kit.errors import FieldError, Message, Problem
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


@dataclass(slots=True)
class CaseRow:
    """A case as the engine reads and writes it: the columns of `workflow_cases`, without the ORM.
    The engine also accepts a loaded `WorkflowCase`, and keeps it in step with what it writes."""

    id: uuid.UUID
    process: str
    version: int
    subject_type: str
    subject_id: uuid.UUID
    region: str
    status: str | None
    state: dict
    row_version: int
    started_at: datetime
    next_due_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    decided_by: str | None


AnyCase = CaseRow | WorkflowCase
Db = Session | Driver  # a request's session, or a driver transaction (Database.transaction)


@dataclass(frozen=True)
class Outcome:
    """What a command did: the case, its public status, and whether it has just ended."""

    case: AnyCase
    status: str | None
    ended: str | None
    effects: list[semantics.Effect]


_TITLES = {"separation-of-duties": N_("Four eyes: a different official must act"),
           "wrong-role": N_("Your role does not allow this"),
           "wrong-region": N_("This is for another region's officials"),
           "note-required": N_("A note is required"), "step-not-active": N_("The case is not at this step")}


def problem_from(error: semantics.WorkflowError) -> Problem:
    title = _TITLES.get(error.code, N_("This action is not possible now"))
    if error.code == "note-required":
        return Problem(422, title, detail=error.message, code="invalid-field",
                       errors=[FieldError("note", error.message)])
    return Problem(error.status, title, detail=error.message, code=f"workflow-{error.code}")


def definition_problem(error: DefinitionError) -> Problem:
    errors = [FieldError(f"line {p.line}" + (f", column {p.column}" if p.column else ""), p.message)
              for p in error.problems]
    return Problem(422, N_("The process definition is not valid"), detail=str(error.problems[0]) if errors else "",
                   code="invalid-definition", errors=errors)


def _compile(row: ProcessVersion) -> ProcessDefinition:
    return _compile_source(row.process, row.version, row.digest, row.source)


def validate(text: str, *, source_name: str = "<definition>") -> ProcessDefinition:
    """A definition about to be published: every rule, with the strict ones for new versions."""
    try:
        return load_definition(text, source_name=source_name, strict=True)
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
        raise Problem(409, N_("This version is not newer than the published one"), code="stale-version",
                      detail=Message(N_("%(process)s v%(version)s is published; number the new one %(next)s or "
                                        "higher."), process=defn.process, version=current.version,
                                     next=current.version + 1))
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


# The engine's statements, compiled once per dialect and run on the driver (kit.db.Prepared): a
# command is a handful of them, and through the ORM each would cost ten times the driver's time.
_versions = ProcessVersion.__table__
_cases = WorkflowCase.__table__
_transitions = WorkflowTransition.__table__
_work_items = WorkItem.__table__
_CASE_FIELDS = tuple(CaseRow.__dataclass_fields__)
assert _CASE_FIELDS == tuple(c.name for c in _cases.columns), "CaseRow mirrors workflow_cases"
_LATEST_VERSION = Prepared(select(_versions.c.version, _versions.c.digest).where(
    _versions.c.process == bindparam("process")).order_by(_versions.c.version.desc()).limit(1))
_SOURCE = Prepared(select(_versions.c.source).where(_versions.c.process == bindparam("process"),
                                                    _versions.c.version == bindparam("version")))
_CASE_BY_ID = Prepared(select(_cases).where(_cases.c.id == bindparam("id")))
_CASE_BY_SUBJECT = Prepared(select(_cases).where(_cases.c.subject_type == bindparam("subject_type"),
                                                 _cases.c.subject_id == bindparam("subject_id"))
                            .order_by(_cases.c.started_at.desc()).limit(1))
_DUE_CASES = Prepared(select(_cases).where(_cases.c.next_due_at.is_not(None), _cases.c.next_due_at <= bindparam("now"),
                                           _cases.c.outcome.is_(None)).limit(bindparam("limit")))
_INSERT_CASE = Prepared.insert(_cases)
_STATE_COLUMNS = ("status", "state", "next_due_at", "outcome", "ended_at", "decided_by", "row_version")
_UPDATE_CASE = Prepared(update(_cases).where(_cases.c.id == bindparam("case_id"),
                                             _cases.c.row_version == bindparam("read_version"))
                        .values({name: bindparam(f"new_{name}", type_=_cases.c[name].type) for name in _STATE_COLUMNS}))
_INSERT_TRANSITION = Prepared.insert(_transitions)
_DELETE_ITEM = Prepared(delete(_work_items).where(_work_items.c.id == bindparam("item_id")))
_UPDATE_ITEM = Prepared(update(_work_items).where(_work_items.c.id == bindparam("item_id"))
                        .values({c.name: bindparam(f"new_{c.name}", type_=c.type)
                                 for c in _work_items.columns if c.name != "id"}))
_INSERT_ITEM = Prepared.insert(_work_items)


def _compile_source(process: str, version: int, digest: str | None, source: str) -> ProcessDefinition:
    key = (process, version, digest or "")
    if key not in _definitions:
        _definitions[key] = load_definition(source, source_name=f"{process} v{version}")
    return _definitions[key]


def active_definition(ctx: NodeContext, db: Db, process: str) -> ProcessDefinition:
    d = driver(db)
    head = d.first(_LATEST_VERSION, {"process": process})
    if head is not None:  # every case start asks this: a two-column read, compiled once per version
        version, digest = head
        compiled = _definitions.get((process, version, digest))
        if compiled is not None:
            return compiled
        return _compile_source(process, version, digest, d.scalar(_SOURCE, {"process": process, "version": version}))
    # First use on this node: publish the packaged default, audited like any other.
    if not isinstance(db, Session):
        raise RuntimeError(f"{process} has no published version; publish one in a session first")
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


def definition_of(db: Db, case: AnyCase) -> ProcessDefinition:
    """The definition a case runs on. A published version never changes, so it is read once."""
    key = (case.process, case.version)
    if key not in _published:
        source = driver(db).scalar(_SOURCE, {"process": case.process, "version": case.version})
        if source is None:
            raise LookupError(f"{case.process} v{case.version} is not published on this node")
        _published[key] = load_definition(source, source_name=f"{case.process} v{case.version}")
    return _published[key]


def engine_actor(official, region: str) -> semantics.Actor:
    roles = [g.role for g in official.roles if g.region == region]
    return semantics.Actor(str(official.id), roles, region)


def _state_values(case: AnyCase, defn: ProcessDefinition, state: semantics.CaseState) -> tuple[dict, str | None]:
    """The case's columns after a command, and the outcome if the case has just ended."""
    values = {"status": semantics.case_status(defn, state), "state": state.to_json(), "next_due_at": semantics.next_due(state),
              "outcome": case.outcome, "ended_at": case.ended_at, "decided_by": case.decided_by}
    ended = None
    if state.outcome is not None and case.outcome is None:
        values.update(outcome=state.outcome, ended_at=state.ended_at, decided_by=semantics.decided_by(state))
        ended = state.outcome
    return values, ended


def _keep(case: AnyCase, values: dict) -> None:
    """Put what was written on the case object. A loaded WorkflowCase gets it as its committed
    state, so the session neither writes it again nor trips over its version counter."""
    if isinstance(case, WorkflowCase):
        for name, value in values.items():
            set_committed_value(case, name, value)
    else:
        for name, value in values.items():
            setattr(case, name, value)


def item_id(case_id: uuid.UUID, instance: str, region: str | None) -> uuid.UUID:
    """A worklist row's id, derived from what it is: a command rewrites only the rows that changed."""
    return uuid.uuid5(case_id, f"{instance}/{region or ''}")


def _items(case: AnyCase, defn: ProcessDefinition, state: semantics.CaseState) -> dict[uuid.UUID, dict]:
    """The worklist rows of a state: one per open step and region that may act ("any" too)."""
    return {item_id(case.id, row.instance, region): {
                "case_id": case.id, "instance": row.instance, "step": row.step, "kind": row.kind,
                "title": row.title, "role": row.role, "region": region,
                "claimed_by": row.claims[0] if row.claims else None, "entered_at": row.entered_at,
                "due_at": row.due_at, "overdue": row.overdue, "escalated_to": row.escalated_to}
            for row in semantics.open_steps(defn, state) for region in (row.regions or (None,))}


def _write_rows(d: Driver, case: AnyCase, defn: ProcessDefinition, before: semantics.CaseState | None,
                state: semantics.CaseState, effects: list[semantics.Effect], actor_id: str | None) -> None:
    """The transitions of a command, and the worklist rows that changed (all of them for a new case)."""
    d.many(_INSERT_TRANSITION, [{"case_id": case.id, "at": effect.at, "type": effect.type, "step": data.get("step"),
                                 "actor_id": data.get("actor") or actor_id, "data": data}
                                for effect in effects for data in (effect.to_json(),)])
    new = _items(case, defn, state)
    old = _items(case, defn, before) if before is not None else {}
    d.many(_DELETE_ITEM, [{"item_id": key} for key in old.keys() - new.keys()])
    d.many(_UPDATE_ITEM, [{"item_id": key, **{f"new_{name}": value for name, value in row.items()}}
                          for key, row in new.items() if key in old and old[key] != row])
    d.many(_INSERT_ITEM, [{"id": key, **row} for key, row in new.items() if key not in old])


def _store(ctx: NodeContext, db: Db, case: AnyCase, defn: ProcessDefinition, before: semantics.CaseState,
           state: semantics.CaseState, effects: list[semantics.Effect], actor_id: str | None) -> Outcome:
    d = driver(db)
    values, ended = _state_values(case, defn, state)
    values["row_version"] = case.row_version + 1
    try:
        with d.pipeline():  # PostgreSQL: one round trip; the version check is read when it ends
            update = d.start(_UPDATE_CASE, {"case_id": case.id, "read_version": case.row_version,
                                            **{f"new_{name}": value for name, value in values.items()}})
            if d.is_sqlite:
                _check_version(update.rowcount)
            _write_rows(d, case, defn, before, state, effects, actor_id)
    except d.dialect.loaded_dbapi.IntegrityError:
        if d.is_sqlite:  # the version was checked first: this is not a race
            raise
        # PostgreSQL: the case changed under this command (its update matched no row, so the worklist
        # rows it meant to add are there already). Nothing of it stays: the request rolls back.
        _check_version(0)
    _check_version(update.rowcount)  # on PostgreSQL, the rows above are rolled back with the request
    _keep(case, values)
    return Outcome(case, values["status"], ended, effects)


def _check_version(changed: int) -> None:
    if changed != 1:  # another official changed this case since it was read
        raise Problem(409, N_("Someone else acted on this case just now"), code="case-changed",
                      detail=N_("Nothing was changed. Reload the case to see where it stands."))


def start_case(*, ctx: NodeContext, db: Db, process: str, subject_type: str, subject_id: uuid.UUID,
               facts: dict, events: tuple[str, ...] = ()) -> Outcome:
    """Start a case on the process's latest version. `events` have already happened when the case
    starts (checks that ran during submission); each is delivered if this version waits for it,
    so one caller drives versions that wait for them and versions that do not."""
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
    case = CaseRow(id=uuid.uuid4(), process=defn.process, version=defn.version, subject_type=subject_type,
                   subject_id=subject_id, region=ctx.region, status=None, state={}, row_version=1, started_at=now,
                   next_due_at=None, ended_at=None, outcome=None, decided_by=None)
    values, ended = _state_values(case, defn, state)
    _keep(case, values)
    d = driver(db)
    with d.pipeline():
        d.run(_INSERT_CASE, {name: getattr(case, name) for name in _CASE_FIELDS})
        _write_rows(d, case, defn, None, state, effects, None)
    return Outcome(case, case.status, ended, effects)


def load_case(db: Db, case_id: uuid.UUID) -> CaseRow:
    row = driver(db).first(_CASE_BY_ID, {"id": case_id})
    if row is None:
        raise Problem(404, N_("No such workflow case"), code="not-found")
    return CaseRow(*row)


def case_for(db: Db, subject_type: str, subject_id: uuid.UUID) -> CaseRow:
    row = driver(db).first(_CASE_BY_SUBJECT, {"subject_type": subject_type, "subject_id": subject_id})
    if row is None:
        raise Problem(404, N_("No workflow case for this subject"), code="not-found")
    return CaseRow(*row)


def _command(ctx: NodeContext, db: Db, case: AnyCase, actor_id: str | None, run) -> Outcome:
    defn = definition_of(db, case)
    state = semantics.CaseState.from_json(case.state)
    try:
        new_state, effects = run(defn, state, load_calendar(defn.calendar))
    except semantics.WorkflowError as exc:
        raise problem_from(exc) from None
    return _store(ctx, db, case, defn, state, new_state, effects, actor_id)


def act(*, ctx: NodeContext, db: Db, case: AnyCase, step: str, action: str, actor: semantics.Actor,
        note: str = "") -> Outcome:
    now = ctx.clock.now()
    return _command(ctx, db, case, actor.id, lambda d, s, cal: semantics.act(d, s, step, action, actor, now, cal,
                                                                          note=note))


def claim(*, ctx: NodeContext, db: Db, case: AnyCase, step: str, actor: semantics.Actor) -> Outcome:
    now = ctx.clock.now()
    return _command(ctx, db, case, actor.id, lambda d, s, cal: semantics.claim(d, s, step, actor, now))


def release(*, ctx: NodeContext, db: Db, case: AnyCase, step: str, actor: semantics.Actor) -> Outcome:
    now = ctx.clock.now()
    return _command(ctx, db, case, actor.id, lambda d, s, cal: semantics.release(d, s, step, actor, now))


@overload
def signal(*, ctx: NodeContext, db: Db, case: AnyCase, event: str, facts: dict | None = None,
           only_if_waiting: Literal[False] = False) -> Outcome: ...
@overload
def signal(*, ctx: NodeContext, db: Db, case: AnyCase, event: str, facts: dict | None = None,
           only_if_waiting: bool) -> Outcome | None: ...
def signal(*, ctx: NodeContext, db: Db, case: AnyCase, event: str, facts: dict | None = None,
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


def open_task(db: Db, case: AnyCase, role: str) -> str | None:
    """The step id of the case's open task for a role (the definition names the steps)."""
    defn = definition_of(db, case)
    for row in semantics.open_steps(defn, semantics.CaseState.from_json(case.state)):
        if row.kind == "task" and row.role == role:
            return row.step
    return None


def escalate_due(*, ctx: NodeContext, db: Db, limit: int = 500) -> int:
    """The timer job: mark missed deadlines and escalate. Returns how many cases changed."""
    now = ctx.clock.now()
    cases = [CaseRow(*row) for row in driver(db).all(_DUE_CASES, {"now": now, "limit": limit})]
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


def last_auto_decision(case: AnyCase) -> dict | None:
    for entry in reversed(case.state.get("history", [])):
        if entry.get("how") == "rule":
            return entry
    return None

