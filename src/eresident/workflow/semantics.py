"""How a case moves through a process definition: pure functions from (definition, state, input,
time) to (new state, effects). No database, no clock, no I/O: the caller persists the state and
turns the effects into timestamped transitions, audit events, notifications and timers.

Every function leaves its input state untouched (unless called with inplace=True, which the
simulation uses) and raises WorkflowError, with a code and an HTTP status, when the input is not
allowed; then nothing has changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from math import isfinite
from typing import Any, ClassVar, Protocol, overload

from eresident.i18n import N_
from eresident.kit.errors import Message, either
from eresident.workflow.calendar import WorkingCalendar
from eresident.workflow.definition import (
    AutoStep,
    EndStep,
    ProcessDefinition,
    TaskStep,
    WaitStep,
    compiled,
)

STATE_FORMAT = 1
MAX_STEPS_PER_CALL = 10_000


class WorkflowError(Exception):
    """A refused command. `status` is the HTTP status the web layer should answer with."""

    STATUS: ClassVar[dict[str, int]] = {
        "wrong-process": 409, "wrong-version": 409, "case-ended": 409, "step-not-active": 409,
        "ambiguous-step": 409, "not-a-task": 409, "already-acted": 409, "already-claimed": 409,
        "claims-disabled": 409, "unexpected-event": 409,
        "wrong-role": 403, "wrong-region": 403, "separation-of-duties": 403, "not-claimed": 403,
        "not-claimant": 403,
        "unknown-action": 422, "note-required": 422, "invalid-fact": 422, "naive-time": 422,
        "runaway": 500, "calendar-required": 500,
    }

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = self.STATUS.get(code, 409)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- who acts ---------------------------------------------------------------------------------

class ActorLike(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def roles(self) -> Iterable[str]: ...
    @property
    def region(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """An official as the engine sees them: an id, the roles they hold in `region`."""

    id: str
    roles: frozenset[str]
    region: str

    def __init__(self, id: Any, roles: Iterable[str], region: str):
        object.__setattr__(self, "id", str(id))
        object.__setattr__(self, "roles", frozenset(roles))
        object.__setattr__(self, "region", region)


# --- state ------------------------------------------------------------------------------------

def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


@overload
def _time(s: str) -> datetime: ...
@overload
def _time(s: str | None) -> datetime | None: ...
def _time(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


@dataclass(slots=True)
class Vote:
    actor: str
    action: str
    at: datetime
    note: str = ""

    def to_json(self) -> dict:
        return {"actor": self.actor, "action": self.action, "at": _iso(self.at), "note": self.note}

    @classmethod
    def from_json(cls, d: Mapping) -> Vote:
        return cls(d["actor"], d["action"], _time(d["at"]), d.get("note", ""))


@dataclass(slots=True)
class StepInstance:
    """A step the case is in now. `scope` lists the parallel frames it runs inside (innermost last)."""

    id: str
    step: str
    kind: str
    entered_at: datetime
    due_at: datetime | None = None
    scope: tuple[str, ...] = ()
    claims: list[str] = field(default_factory=list)
    votes: list[Vote] = field(default_factory=list)
    overdue: bool = False
    escalated: bool = False

    def copy(self) -> StepInstance:
        return StepInstance(self.id, self.step, self.kind, self.entered_at, self.due_at, self.scope,
                            list(self.claims), list(self.votes), self.overdue, self.escalated)

    def to_json(self) -> dict:
        return {"id": self.id, "step": self.step, "kind": self.kind, "entered_at": _iso(self.entered_at),
                "due_at": _iso(self.due_at), "scope": list(self.scope), "claims": list(self.claims),
                "votes": [v.to_json() for v in self.votes], "overdue": self.overdue,
                "escalated": self.escalated}

    @classmethod
    def from_json(cls, d: Mapping) -> StepInstance:
        return cls(d["id"], d["step"], d["kind"], _time(d["entered_at"]), _time(d.get("due_at")),
                   tuple(d.get("scope", ())), list(d.get("claims", ())),
                   [Vote.from_json(v) for v in d.get("votes", ())], bool(d.get("overdue")),
                   bool(d.get("escalated")))


@dataclass(slots=True)
class HistoryEntry:
    """A step the case has left. `how`: action (people), rule (automatic), event, timeout, split
    (parallel), end, cancelled. `result` is the action, the rule's outcome, the event or the
    end outcome. Never changed once written."""

    instance: str
    step: str
    kind: str
    entered_at: datetime
    completed_at: datetime
    how: str
    result: str | None = None
    next: str | None = None
    actors: tuple[str, ...] = ()
    votes: tuple[Vote, ...] = ()
    rule_index: int | None = None
    missing_facts: tuple[str, ...] = ()
    due_at: datetime | None = None
    overdue: bool = False

    def to_json(self) -> dict:
        return {"instance": self.instance, "step": self.step, "kind": self.kind,
                "entered_at": _iso(self.entered_at), "completed_at": _iso(self.completed_at),
                "how": self.how, "result": self.result, "next": self.next, "actors": list(self.actors),
                "votes": [v.to_json() for v in self.votes], "rule_index": self.rule_index,
                "missing_facts": list(self.missing_facts), "due_at": _iso(self.due_at),
                "overdue": self.overdue}

    @classmethod
    def from_json(cls, d: Mapping) -> HistoryEntry:
        return cls(d["instance"], d["step"], d["kind"], _time(d["entered_at"]), _time(d["completed_at"]),
                   d["how"], d.get("result"), d.get("next"), tuple(d.get("actors", ())),
                   tuple(Vote.from_json(v) for v in d.get("votes", ())), d.get("rule_index"),
                   tuple(d.get("missing_facts", ())), _time(d.get("due_at")), bool(d.get("overdue")))


@dataclass(slots=True)
class JoinFrame:
    """A running parallel step: how many of its branches have reached the join."""

    id: str
    parallel: str
    join: str
    branches: int
    arrived: int = 0
    scope: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"id": self.id, "parallel": self.parallel, "join": self.join, "branches": self.branches,
                "arrived": self.arrived, "scope": list(self.scope)}

    @classmethod
    def from_json(cls, d: Mapping) -> JoinFrame:
        return cls(d["id"], d["parallel"], d["join"], d["branches"], d.get("arrived", 0),
                   tuple(d.get("scope", ())))


@dataclass(slots=True)
class CaseState:
    """Everything the engine knows about one case. `to_json()` gives plain JSON data and
    `CaseState.from_json` reads it back; the case stays on (process, version) for life."""

    process: str
    version: int
    region: str
    started_at: datetime
    facts: dict[str, Any] = field(default_factory=dict)
    active: list[StepInstance] = field(default_factory=list)
    frames: dict[str, JoinFrame] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    outcome: str | None = None
    ended_at: datetime | None = None
    counter: int = 0

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def copy(self) -> CaseState:
        return CaseState(self.process, self.version, self.region, self.started_at, dict(self.facts),
                         [i.copy() for i in self.active],
                         {k: JoinFrame(f.id, f.parallel, f.join, f.branches, f.arrived, f.scope)
                          for k, f in self.frames.items()},
                         list(self.history), self.outcome, self.ended_at, self.counter)

    def instance(self, instance_id: str) -> StepInstance | None:
        for inst in self.active:
            if inst.id == instance_id:
                return inst
        return None

    def active_steps(self) -> list[str]:
        return [i.step for i in self.active]

    def to_json(self) -> dict:
        return {"format": STATE_FORMAT, "process": self.process, "version": self.version,
                "region": self.region, "started_at": _iso(self.started_at), "facts": dict(self.facts),
                "active": [i.to_json() for i in self.active],
                "frames": {k: f.to_json() for k, f in self.frames.items()},
                "history": [h.to_json() for h in self.history], "outcome": self.outcome,
                "ended_at": _iso(self.ended_at), "counter": self.counter}

    @classmethod
    def from_json(cls, d: Mapping) -> CaseState:
        if d.get("format", STATE_FORMAT) != STATE_FORMAT:
            raise ValueError(f"unknown case state format {d.get('format')}")
        return cls(d["process"], int(d["version"]), d["region"], _time(d["started_at"]),
                   dict(d.get("facts", {})), [StepInstance.from_json(i) for i in d.get("active", ())],
                   {k: JoinFrame.from_json(f) for k, f in d.get("frames", {}).items()},
                   [HistoryEntry.from_json(h) for h in d.get("history", ())], d.get("outcome"),
                   _time(d.get("ended_at")), int(d.get("counter", 0)))


# --- effects ----------------------------------------------------------------------------------

@dataclass(slots=True)
class Effect:
    """Something that happened, for the caller to persist as a timestamped transition."""

    at: datetime

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass(slots=True)
class CaseStarted(Effect):
    process: str
    version: int
    region: str
    facts: dict
    ignored_facts: tuple[str, ...] = ()


@dataclass(slots=True)
class StepEntered(Effect):
    instance: str
    step: str
    kind: str
    due_at: datetime | None = None
    role: str | None = None
    regions: tuple[str, ...] = ()


@dataclass(slots=True)
class StepCompleted(Effect):
    instance: str
    step: str
    kind: str
    how: str
    result: str | None
    next: str | None
    actors: tuple[str, ...] = ()
    overdue: bool = False
    entered_at: datetime | None = None


@dataclass(slots=True)
class StepCancelled(Effect):
    instance: str
    step: str
    kind: str
    reason: str


@dataclass(slots=True)
class ActionTaken(Effect):
    instance: str
    step: str
    actor: str
    action: str
    note: str
    votes: int
    required: int


@dataclass(slots=True)
class Claimed(Effect):
    instance: str
    step: str
    actor: str
    restored: bool = False


@dataclass(slots=True)
class Released(Effect):
    instance: str
    step: str
    actor: str
    by: str


@dataclass(slots=True)
class AutoDecided(Effect):
    instance: str
    step: str
    rule_index: int | None  # 0-based index into the step's rules; None when `otherwise` decided
    outcome: str
    expression: str | None
    next: str
    missing_facts: tuple[str, ...] = ()
    facts_seen: dict = field(default_factory=dict)


@dataclass(slots=True)
class ParallelStarted(Effect):
    instance: str
    step: str
    branches: tuple[str, ...]
    join: str


@dataclass(slots=True)
class BranchArrived(Effect):
    frame: str
    parallel: str
    join: str
    arrived: int
    of: int


@dataclass(slots=True)
class DeadlineMissed(Effect):
    instance: str
    step: str
    due_at: datetime


@dataclass(slots=True)
class Escalated(Effect):
    instance: str
    step: str
    to_role: str
    reassign: bool


@dataclass(slots=True)
class FactsUpdated(Effect):
    changed: dict
    ignored_facts: tuple[str, ...] = ()


@dataclass(slots=True)
class CaseEnded(Effect):
    outcome: str
    step: str
    instance: str = ""


# --- facts ------------------------------------------------------------------------------------

_FACT_WORDS = {"bool": N_("true or false"), "int": N_("a whole number"), "number": N_("a number"),
               "string": N_("text"), "list[string]": N_("a list of texts"),
               "list[number]": N_("a list of numbers")}


def _fact_ok(kind: str, value: Any) -> bool:
    t = type(value)
    if kind == "bool":
        return t is bool
    if kind == "int":
        return t is int
    if kind == "number":
        return (t is int or t is float) and isfinite(value)
    if kind == "string":
        return t is str
    if t is not list and t is not tuple:
        return False
    if kind == "list[string]":
        return all(type(v) is str for v in value)
    return all((type(v) is int or type(v) is float) and isfinite(v) for v in value)


def check_facts(defn: ProcessDefinition, facts: Mapping[str, Any] | None) -> tuple[dict, tuple[str, ...]]:
    """Facts typed as the definition declares them. Undeclared names are ignored (another version
    may use them) and returned; None means "unknown" (the fact is removed). Raises invalid-fact."""
    if not facts:
        return {}, ()
    types = compiled(defn).fact_types
    clean: dict[str, Any] = {}
    ignored = []
    for name, value in facts.items():
        kind = types.get(name)
        if kind is None:
            ignored.append(name)
            continue
        if value is not None and not _fact_ok(kind, value):
            raise WorkflowError("invalid-fact", Message(N_("fact '%(name)s' must be %(kind)s, not %(value)s"),
                                                        name=name, kind=Message(_FACT_WORDS[kind]),
                                                        value=repr(value)))
        clean[name] = list(value) if type(value) is tuple else value
    return clean, tuple(ignored)


def _merge_facts(state: CaseState, clean: Mapping[str, Any]) -> dict:
    changed: dict[str, Any] = {}
    for name, value in clean.items():
        if value is None:
            if name in state.facts:
                del state.facts[name]
                changed[name] = None
        elif state.facts.get(name, _UNSET) != value:
            state.facts[name] = value
            changed[name] = value
    return changed


_UNSET = object()


# --- the run: one call's worth of moving the case ------------------------------------------------

class _Run:
    __slots__ = ("budget", "calendar", "compiled", "defn", "effects", "now", "state", "steps")

    def __init__(self, defn: ProcessDefinition, state: CaseState, now: datetime,
                 calendar: WorkingCalendar | None):
        self.defn = defn
        self.steps = defn.steps
        self.compiled = compiled(defn)
        self.state = state
        self.now = now
        self.calendar = calendar
        self.effects: list[Effect] = []
        self.budget = MAX_STEPS_PER_CALL

    def enter(self, sid: str, scope: tuple[str, ...]) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise WorkflowError("runaway", Message(N_("more than %(limit)s steps in one move: the definition "
                                                      "loops without waiting"), limit=MAX_STEPS_PER_CALL))
        state, now, step = self.state, self.now, self.steps[sid]
        state.counter += 1
        iid = f"s{state.counter}"
        kind = step.kind
        effects = self.effects
        if step.kind == "task" or step.kind == "wait":
            due = None
            seconds = self.compiled.deadline_seconds.get(sid)
            if seconds is not None:
                if self.calendar is None:
                    raise WorkflowError("calendar-required", Message(N_("step '%(step)s' has a deadline: pass "
                                                                        "the process calendar"), step=sid))
                due = datetime.fromtimestamp(self.calendar.add_seconds_ts(now.timestamp(), seconds),
                                             now.tzinfo)
            inst = StepInstance(iid, sid, kind, now, due, scope)
            state.active.append(inst)
            if step.kind == "task":
                effects.append(StepEntered(now, iid, sid, kind, due, step.role,
                                           self.compiled.regions(step, state.region)))
                if step.sticky:
                    self.restore_claims(step, inst)
            else:
                effects.append(StepEntered(now, iid, sid, kind, due))
            return
        # auto, parallel and end steps are over the moment they are entered: one effect each
        if step.kind == "auto":
            self.decide(step, iid, scope)
        elif step.kind == "parallel":
            frame = JoinFrame(iid, sid, step.join, len(step.branches), 0, scope)
            state.frames[iid] = frame
            state.history.append(HistoryEntry(iid, sid, kind, now, now, "split", None, None))
            effects.append(ParallelStarted(now, iid, sid, step.branches, step.join))
            inner = scope + (iid,)
            for branch in step.branches:
                if state.outcome is not None:
                    break
                self.route(branch, inner)
        else:  # end
            self.end(step, iid)

    def restore_claims(self, step: TaskStep, inst: StepInstance) -> None:
        for entry in reversed(self.state.history):
            if entry.step == step.id and entry.how == "action":
                for actor in entry.actors[:step.seats()]:
                    inst.claims.append(actor)
                    self.effects.append(Claimed(self.now, inst.id, step.id, actor, True))
                return

    def decide(self, step: AutoStep, iid: str, scope: tuple[str, ...]) -> None:
        facts = self.state.facts
        conditions = self.compiled.conditions
        missing: list[str] = []
        seen: dict[str, Any] = {}
        chosen = None
        for i, _rule in enumerate(step.rules):
            condition = conditions[(step.id, i)]
            for name in condition.facts_used:
                if name in facts:
                    seen[name] = facts[name]
            result = condition.evaluate(facts)
            if result.missing:
                missing.extend(m for m in result.missing if m not in missing)
            if result.value:
                chosen = i
                break
        if chosen is None:
            outcome, nxt, expression = step.otherwise.outcome, step.otherwise.next, None
        else:
            rule = step.rules[chosen]
            outcome, nxt, expression = rule.outcome, rule.next, rule.when
        now = self.now
        missing_t = tuple(missing)
        self.state.history.append(HistoryEntry(iid, step.id, "auto", now, now, "rule", outcome, nxt,
                                               rule_index=chosen, missing_facts=missing_t))
        self.effects.append(AutoDecided(now, iid, step.id, chosen, outcome, expression, nxt, missing_t, seen))
        self.route(nxt, scope)

    def route(self, target: str, scope: tuple[str, ...]) -> None:
        """Go to `target`; arriving at the join of the enclosing parallel waits for the other branches."""
        state = self.state
        if state.outcome is not None:
            return
        while scope:
            frame = state.frames.get(scope[-1])
            if frame is None or frame.join != target:
                break
            frame.arrived += 1
            self.effects.append(BranchArrived(self.now, frame.id, frame.parallel, frame.join,
                                              frame.arrived, frame.branches))
            if frame.arrived < frame.branches:
                return
            del state.frames[frame.id]
            scope = frame.scope
        self.enter(target, scope)

    def complete(self, inst: StepInstance, how: str, result: str | None, nxt: str | None,
                 actors: tuple[str, ...] = (), votes: tuple[Vote, ...] = ()) -> None:
        state, now = self.state, self.now
        state.active.remove(inst)
        overdue = inst.overdue or (inst.due_at is not None and now > inst.due_at)
        state.history.append(HistoryEntry(inst.id, inst.step, inst.kind, inst.entered_at, now, how, result,
                                          nxt, actors, votes, None, (), inst.due_at, overdue))
        self.effects.append(StepCompleted(now, inst.id, inst.step, inst.kind, how, result, nxt, actors,
                                          overdue, inst.entered_at))
        if nxt is not None:
            self.route(nxt, inst.scope)

    def end(self, step: EndStep, iid: str) -> None:
        state, now, effects = self.state, self.now, self.effects
        for inst in state.active:
            state.history.append(HistoryEntry(inst.id, inst.step, inst.kind, inst.entered_at, now,
                                              "cancelled", None, None, due_at=inst.due_at,
                                              overdue=inst.overdue))
            effects.append(StepCancelled(now, inst.id, inst.step, inst.kind,
                                         f"the case ended at '{step.id}'"))
        state.active.clear()
        state.frames.clear()
        state.history.append(HistoryEntry(iid, step.id, "end", now, now, "end", step.outcome, None))
        state.outcome = step.outcome
        state.ended_at = now
        effects.append(CaseEnded(now, step.outcome, step.id, iid))


# --- checks shared by the commands -----------------------------------------------------------

def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise WorkflowError("naive-time", N_("times must be timezone-aware"))


def _pinned(defn: ProcessDefinition, state: CaseState) -> None:
    if defn.process != state.process:
        raise WorkflowError("wrong-process", Message(N_("this case runs process '%(process)s', not '%(given)s'"),
                                                     process=state.process, given=defn.process))
    if defn.version != state.version:
        raise WorkflowError("wrong-version", Message(N_("this case runs %(process)s version %(version)s; it was "
                                                        "given version %(given)s"), process=state.process,
                                                     version=state.version, given=defn.version))


def _open(defn: ProcessDefinition, state: CaseState) -> None:
    _pinned(defn, state)
    if state.outcome is not None:
        raise WorkflowError("case-ended", Message(N_("the case has ended (%(outcome)s)"), outcome=state.outcome))


def _find(defn: ProcessDefinition, state: CaseState, step_id: str, instance_id: str | None) -> StepInstance:
    if instance_id is not None:
        inst = state.instance(instance_id)
        if inst is None or inst.step != step_id:
            raise WorkflowError("step-not-active", Message(N_("step '%(step)s' (%(instance)s) is not open"),
                                                           step=step_id, instance=instance_id))
        return inst
    found = [i for i in state.active if i.step == step_id]
    if not found:
        where = ", ".join(repr(i.step) for i in state.active) or Message(N_("no step"))
        label = Message(defn.steps[step_id].label) if step_id in defn.steps else step_id
        raise WorkflowError("step-not-active", Message(N_("the case is not at '%(step)s' (it is at %(where)s)"),
                                                       step=label, where=where))
    if len(found) > 1:
        raise WorkflowError("ambiguous-step", Message(N_("step '%(step)s' is open more than once; give the "
                                                         "instance id"), step=step_id))
    return found[0]


def _same_instance(copy: CaseState, instance_id: str) -> StepInstance:
    """The instance of a state just copied from one where it was found open (so it is there)."""
    inst = copy.instance(instance_id)
    assert inst is not None
    return inst


def _held(defn: ProcessDefinition, inst: StepInstance) -> TaskStep | WaitStep:
    """The step of an open instance: only task and wait steps stay open."""
    step = defn.steps[inst.step]
    assert isinstance(step, (TaskStep, WaitStep))
    return step


def _waiting(defn: ProcessDefinition, inst: StepInstance) -> WaitStep:
    """The step of an open instance of kind wait."""
    step = defn.steps[inst.step]
    assert isinstance(step, WaitStep)
    return step


def _task(defn: ProcessDefinition, inst: StepInstance) -> TaskStep:
    step = defn.steps[inst.step]
    if not isinstance(step, TaskStep):
        raise WorkflowError("not-a-task", Message(N_("step '%(step)s' is a %(kind)s step: no official acts on it"),
                                                  step=inst.step, kind=step.kind))
    return step


def _acted_on(state: CaseState, step_id: str, actor_id: str) -> bool:
    """Whether the actor acted on (or now holds) any instance of a step in this case."""
    for entry in state.history:
        if entry.step == step_id:
            for v in entry.votes:
                if v.actor == actor_id:
                    return True
    for inst in state.active:
        if inst.step == step_id:
            if actor_id in inst.claims:
                return True
            for v in inst.votes:
                if v.actor == actor_id:
                    return True
    return False


def _authorise(defn: ProcessDefinition, state: CaseState, step: TaskStep, inst: StepInstance,
               actor: ActorLike) -> str:
    actor_id = str(actor.id)
    roles = actor.roles
    if step.role not in roles:
        esc = step.escalate
        if not (inst.escalated and esc is not None and esc.reassign and esc.to_role in roles):
            raise WorkflowError("wrong-role", Message(N_("'%(step)s' needs the role %(role)s"),
                                                      step=Message(step.label), role=step.role))
    if "any" not in step.region:
        allowed = compiled(defn).regions(step, state.region)
        if actor.region not in allowed:
            raise WorkflowError("wrong-region", Message(N_("'%(step)s' is for officials acting in %(regions)s, "
                                                          "not %(region)s"), step=Message(step.label),
                                                        regions=either(list(allowed)) if allowed else "",
                                                        region=actor.region))
    for other in step.not_same_actor_as:
        if _acted_on(state, other, actor_id):
            other_label = defn.steps[other].label
            raise WorkflowError("separation-of-duties", Message(
                N_("you acted on '%(other)s' in this case; a different official must act on '%(step)s'"),
                other=Message(other_label), step=Message(step.label)))
    return actor_id


def _open_seats(step: TaskStep, inst: StepInstance) -> int:
    counts: dict[str, int] = {}
    for v in inst.votes:
        counts[v.action] = counts.get(v.action, 0) + 1
    need = max(step.required_for(a) - counts.get(a, 0) for a in step.actions)
    return need - len(inst.claims)


def _already_acted(step: TaskStep) -> Message:
    return Message(N_("you already acted on '%(step)s' in this case"), step=Message(step.label))


def _not_claimed(step: TaskStep) -> Message:
    return Message(N_("claim '%(step)s' before you act on it: another official holds it, or nobody does"),
                   step=Message(step.label))


def check_allowed(defn: ProcessDefinition, state: CaseState, step_id: str, actor: ActorLike, *,
                  instance_id: str | None = None, claiming: bool = False) -> WorkflowError | None:
    """Why `actor` may not act on (or claim) the step now, or None when they may."""
    try:
        _open(defn, state)
        inst = _find(defn, state, step_id, instance_id)
        step = _task(defn, inst)
        actor_id = _authorise(defn, state, step, inst, actor)
        if any(v.actor == actor_id for v in inst.votes):
            raise WorkflowError("already-acted", _already_acted(step))
        if claiming:
            if step.claim == "none":
                raise WorkflowError("claims-disabled", Message(N_("'%(step)s' is not claimed; act on it directly"),
                                                               step=Message(step.label)))
            if actor_id not in inst.claims and _open_seats(step, inst) <= 0:
                raise WorkflowError("already-claimed", Message(N_("'%(step)s' is held by another official"),
                                                               step=Message(step.label)))
        elif step.claim == "required" and actor_id not in inst.claims:
            raise WorkflowError("not-claimed", _not_claimed(step))
    except WorkflowError as exc:
        return exc
    return None


# --- commands ---------------------------------------------------------------------------------

def start(defn: ProcessDefinition, facts: Mapping[str, Any] | None, now: datetime,
          calendar: WorkingCalendar | None, *, region: str | None = None) -> tuple[CaseState, list[Effect]]:
    """A new case on this definition (and version, for life). `region` is the case's home
    region (default: the definition's calendar id). Automatic steps at the start run at once."""
    _aware(now)
    clean, ignored = check_facts(defn, facts)
    clean = {k: v for k, v in clean.items() if v is not None}
    state = CaseState(defn.process, defn.version, region or defn.calendar, now, clean)
    run = _Run(defn, state, now, calendar)
    run.effects.append(CaseStarted(now, defn.process, defn.version, state.region, dict(clean), ignored))
    run.enter(defn.start, ())
    return state, run.effects


def act(defn: ProcessDefinition, state: CaseState, step_id: str, action: str, actor: ActorLike,
        now: datetime, calendar: WorkingCalendar | None, *, note: str = "", instance_id: str | None = None,
        inplace: bool = False) -> tuple[CaseState, list[Effect]]:
    """An official takes `action` on an open task step. Enforces role, region scope, separation
    of duties, claims and notes; completes the step when the action has its quorum."""
    if now.tzinfo is None:
        _aware(now)
    if state.outcome is not None or state.version != defn.version or state.process != defn.process:
        _open(defn, state)
    inst = state.instance(instance_id) if instance_id is not None else None
    if inst is None or inst.step != step_id:
        inst = _find(defn, state, step_id, instance_id)
    step = _task(defn, inst)
    spec = step.actions.get(action)
    if spec is None:
        raise WorkflowError("unknown-action", Message(N_("'%(action)s' is not an action of '%(step)s' "
                                                         "(actions: %(actions)s)"), action=action,
                                                      step=Message(step.label), actions=", ".join(step.actions)))
    actor_id = _authorise(defn, state, step, inst, actor)
    for v in inst.votes:
        if v.actor == actor_id:
            raise WorkflowError("already-acted", _already_acted(step))
    if step.claim == "required" and actor_id not in inst.claims:
        raise WorkflowError("not-claimed", _not_claimed(step))
    if spec.note_required and not (note or "").strip():
        raise WorkflowError("note-required", Message(N_("'%(action)s' needs a note saying why"),
                                                     action=Message(spec.title) if spec.title else action))
    if not inplace:
        state = state.copy()
        inst = _same_instance(state, inst.id)
    run = _Run(defn, state, now, calendar)
    inst.votes.append(Vote(actor_id, action, now, note or ""))
    if actor_id in inst.claims:
        inst.claims.remove(actor_id)
    votes = [v for v in inst.votes if v.action == action]
    required = spec.quorum or step.quorum.required
    run.effects.append(ActionTaken(now, inst.id, step.id, actor_id, action, note or "", len(votes), required))
    if len(votes) >= required:
        run.complete(inst, "action", action, spec.next, tuple(v.actor for v in votes), tuple(inst.votes))
    return state, run.effects


def claim(defn: ProcessDefinition, state: CaseState, step_id: str, actor: ActorLike, now: datetime, *,
          instance_id: str | None = None, inplace: bool = False) -> tuple[CaseState, list[Effect]]:
    """An official takes a task into their hands (with quorum k, up to k officials at once).
    Claiming what one already holds changes nothing."""
    _aware(now)
    refused = check_allowed(defn, state, step_id, actor, instance_id=instance_id, claiming=True)
    if refused is not None:
        raise refused
    inst = _find(defn, state, step_id, instance_id)
    actor_id = str(actor.id)
    if actor_id in inst.claims:
        return state, []
    if not inplace:
        state = state.copy()
        inst = _same_instance(state, inst.id)
    inst.claims.append(actor_id)
    return state, [Claimed(now, inst.id, inst.step, actor_id)]


def release(defn: ProcessDefinition, state: CaseState, step_id: str, actor: ActorLike, now: datetime, *,
            holder: str | None = None, instance_id: str | None = None,
            inplace: bool = False) -> tuple[CaseState, list[Effect]]:
    """Give a claimed task back to the queue. `holder` releases someone else's claim: the caller
    must have checked that `actor` may do that (an administrator)."""
    _aware(now)
    _open(defn, state)
    inst = _find(defn, state, step_id, instance_id)
    step = _task(defn, inst)
    holder_id = str(holder) if holder is not None else str(actor.id)
    if holder_id not in inst.claims:
        raise WorkflowError("not-claimant", Message(N_("only the official who claimed '%(step)s' can release it"),
                                                    step=Message(step.label)))
    if not inplace:
        state = state.copy()
        inst = _same_instance(state, inst.id)
    inst.claims.remove(holder_id)
    return state, [Released(now, inst.id, inst.step, holder_id, str(actor.id))]


def signal(defn: ProcessDefinition, state: CaseState, event: str, now: datetime,
           calendar: WorkingCalendar | None = None, *, facts: Mapping[str, Any] | None = None,
           step_id: str | None = None, inplace: bool = False) -> tuple[CaseState, list[Effect]]:
    """An outside event (the applicant answered, the identity check is done, a job finished):
    updates `facts` first, then moves every open wait step that listens for `event`."""
    _aware(now)
    _open(defn, state)
    listening = [i.id for i in state.active if i.kind == "wait" and event in _waiting(defn, i).on
                 and (step_id is None or i.step == step_id)]
    if not listening:
        waiting = [f"{i.step} ({', '.join(_waiting(defn, i).on)})" for i in state.active if i.kind == "wait"]
        raise WorkflowError("unexpected-event", Message(N_("the case is not waiting for '%(event)s'; it waits "
                                                           "for: %(waiting)s"), event=event, waiting="; ".join(waiting))
                            if waiting else Message(N_("the case is not waiting for '%(event)s'"), event=event))
    clean, ignored = check_facts(defn, facts)
    if not inplace:
        state = state.copy()
    run = _Run(defn, state, now, calendar)
    changed = _merge_facts(state, clean)
    if changed or ignored:
        run.effects.append(FactsUpdated(now, changed, ignored))
    for iid in listening:
        inst = state.instance(iid)
        if inst is None or state.outcome is not None:
            continue
        run.complete(inst, "event", event, _waiting(defn, inst).on[event])
    return state, run.effects


def update_facts(defn: ProcessDefinition, state: CaseState, facts: Mapping[str, Any], now: datetime, *,
                 inplace: bool = False) -> tuple[CaseState, list[Effect]]:
    """Record new facts (None removes one) without moving the case; later automatic steps see them."""
    _aware(now)
    _open(defn, state)
    clean, ignored = check_facts(defn, facts)
    if not inplace:
        state = state.copy()
    changed = _merge_facts(state, clean)
    return state, ([FactsUpdated(now, changed, ignored)] if changed or ignored else [])


def escalate_due(defn: ProcessDefinition, state: CaseState, now: datetime,
                 calendar: WorkingCalendar | None = None, *,
                 inplace: bool = False) -> tuple[CaseState, list[Effect]]:
    """Mark the open steps whose deadline has passed: DeadlineMissed, Escalated when the step says
    so, and a wait step with on_timeout moves on. Each deadline fires once. Call it from a timer
    at `next_due(state)`."""
    _aware(now)
    _pinned(defn, state)
    if state.outcome is not None:
        return state, []
    due = [i.id for i in state.active if i.due_at is not None and not i.overdue and i.due_at <= now]
    if not due:
        return state, []
    if not inplace:
        state = state.copy()
    run = _Run(defn, state, now, calendar)
    for iid in due:
        inst = state.instance(iid)
        if inst is None or state.outcome is not None:
            continue
        step = _held(defn, inst)
        assert inst.due_at is not None  # only instances with a due time were selected
        inst.overdue = True
        run.effects.append(DeadlineMissed(now, inst.id, inst.step, inst.due_at))
        if step.escalate is not None:
            inst.escalated = True
            run.effects.append(Escalated(now, inst.id, inst.step, step.escalate.to_role,
                                         step.escalate.reassign))
        if isinstance(step, WaitStep) and step.on_timeout is not None:
            run.complete(inst, "timeout", "timeout", step.on_timeout)
    return state, run.effects


# --- questions --------------------------------------------------------------------------------

def next_due(state: CaseState) -> datetime | None:
    """When escalate_due next has something to do (the earliest deadline not yet missed)."""
    dues = [i.due_at for i in state.active if i.due_at is not None and not i.overdue]
    return min(dues) if dues else None


@dataclass(frozen=True, slots=True)
class OpenStep:
    """A row of a worklist: an open step, who may act on it and when it is due."""

    instance: str
    step: str
    kind: str
    title: str
    status: str | None
    role: str | None
    regions: tuple[str, ...]
    entered_at: datetime
    due_at: datetime | None
    overdue: bool
    escalated_to: str | None
    claims: tuple[str, ...]
    votes: int
    required: int
    actions: tuple[str, ...]
    events: tuple[str, ...]


def open_steps(defn: ProcessDefinition, state: CaseState) -> list[OpenStep]:
    """The open steps of a case, for worklists (queues by role and region; due and late)."""
    _pinned(defn, state)
    rows = []
    for inst in state.active:
        step = _held(defn, inst)
        status = step.status
        if isinstance(step, TaskStep):
            if inst.claims and step.claimed_status:
                status = step.claimed_status
            regions = tuple(state.region if r == "home" else r for r in step.region)
            rows.append(OpenStep(inst.id, inst.step, inst.kind, step.label, status, step.role, regions,
                                 inst.entered_at, inst.due_at, inst.overdue,
                                 step.escalate.to_role if inst.escalated and step.escalate else None,
                                 tuple(inst.claims), len(inst.votes), step.quorum.required,
                                 tuple(step.actions), ()))
        else:
            rows.append(OpenStep(inst.id, inst.step, inst.kind, step.label, status, None, (),
                                 inst.entered_at, inst.due_at, inst.overdue,
                                 step.escalate.to_role if inst.escalated and step.escalate else None,
                                 (), 0, 0, (), tuple(step.on)))
    return rows


def available_actions(defn: ProcessDefinition, state: CaseState,
                      actor: ActorLike) -> dict[str, tuple[str, ...]]:
    """{instance id: actions} this actor may take now (claims count: a required claim must be held)."""
    if state.outcome is not None:
        return {}
    out = {}
    for inst in state.active:
        if inst.kind == "task" and check_allowed(defn, state, inst.step, actor, instance_id=inst.id) is None:
            out[inst.id] = tuple(_task(defn, inst).actions)
    return out


def case_status(defn: ProcessDefinition, state: CaseState) -> str | None:
    """The public status of the case (the `status` names of the definition; claimed_status while a
    task is claimed): the first open step's, or the end step's once the case has ended."""
    _pinned(defn, state)
    if state.outcome is not None:
        for entry in reversed(state.history):
            if entry.how == "end":
                return defn.steps[entry.step].status or entry.result
        return state.outcome
    for row in open_steps(defn, state):
        if row.status:
            return row.status
    return None


def decided_by(state: CaseState) -> str | None:
    """How an ended case was decided: 'automatic' (an auto rule led to the end), 'human' (a task
    action), 'event' or 'timeout'; None while open."""
    if state.outcome is None:
        return None
    last_end = None
    for entry in reversed(state.history):
        if last_end is None:
            if entry.how == "end":
                last_end = entry.step
            continue
        if entry.next == last_end and entry.how != "cancelled":
            return {"rule": "automatic", "action": "human"}.get(entry.how, entry.how)
    return None
