"""Process definitions: the versioned YAML/JSON documents that say how a case moves, as pydantic
models, with validation that names the line and column of every problem.

A definition about to be published is checked `strict`ly: rules added after some versions were
stored (every task and wait step names a `status`) apply to new versions only, so a version already
in a database still loads."""

from __future__ import annotations

import hashlib
import json
import re
import typing
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from eresident.i18n import N_
from eresident.kit.errors import Message
from eresident.workflow.expressions import (
    FACT_TYPES,
    Expression,
    ExpressionError,
    compile_condition,
)
from eresident.workflow.source import (
    Path,
    Position,
    Problem,
    ProblemsError,
    SourceError,
    SourceMap,
    load_source,
)

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
PROCESS_PATTERN = r"^[a-z][a-z0-9_-]*$"
REGION_PATTERN = re.compile(r"^[A-Z]{2,8}$")
STEP_KINDS = ("task", "auto", "parallel", "wait", "end")

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=64)]
FactType = Literal["bool", "int", "number", "string", "list[string]", "list[number]"]
assert set(typing.get_args(FactType)) == set(FACT_TYPES)


class DefinitionError(ProblemsError):
    """A definition was refused. `problems` lists each problem with its line and column."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadline(_Model):
    """How long a step may stay open, in working hours of the process calendar."""

    working_hours: float = Field(gt=0, le=100_000)


class Escalation(_Model):
    """Who is told when a deadline passes; with `reassign`, that role may then act on the step too."""

    to_role: str
    reassign: bool = False


class Quorum(_Model):
    """How many distinct officials must take the same action before the step completes."""

    required: int = Field(default=1, ge=1, le=50)


class Action(_Model):
    next: Name
    title: str | None = None
    note_required: bool = False
    quorum: int | None = Field(default=None, ge=1, le=50)  # overrides the step's quorum


class Rule(_Model):
    when: str
    outcome: Name
    next: Name


class Otherwise(_Model):
    next: Name
    outcome: Name = "otherwise"


class _Step(_Model):
    id: Name
    title: str | None = None
    description: str | None = None
    status: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=64)] | None = None

    @property
    def label(self) -> str:
        return self.title or self.id.replace("_", " ")


class TaskStep(_Step):
    """A person acts: an official with `role` in the `region` scope takes one of the actions."""

    kind: Literal["task"] = "task"
    role: str
    region: tuple[str, ...] = ("home",)
    actions: dict[Name, Action] = Field(min_length=1)
    quorum: Quorum = Quorum()
    not_same_actor_as: tuple[Name, ...] = ()
    deadline: Deadline | None = None
    escalate: Escalation | None = None
    claim: Literal["none", "optional", "required"] = "optional"
    sticky: bool = False
    claimed_status: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=64)] | None = None

    @field_validator("region", mode="before")
    @classmethod
    def _one_region(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("actions", mode="before")
    @classmethod
    def _short_actions(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"next": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("quorum", mode="before")
    @classmethod
    def _short_quorum(cls, value: Any) -> Any:
        return {"required": value} if isinstance(value, int) and not isinstance(value, bool) else value

    def seats(self) -> int:
        """The most votes any action needs (how many officials may hold the step at once)."""
        return max([self.quorum.required] + [a.quorum for a in self.actions.values() if a.quorum])

    def required_for(self, action: str) -> int:
        return self.actions[action].quorum or self.quorum.required


class AutoStep(_Step):
    """Decides from the case's facts: the first rule whose condition holds wins, else `otherwise`."""

    kind: Literal["auto"] = "auto"
    rules: tuple[Rule, ...] = Field(min_length=1)
    otherwise: Otherwise

    @field_validator("otherwise", mode="before")
    @classmethod
    def _short_otherwise(cls, value: Any) -> Any:
        return {"next": value} if isinstance(value, str) else value


class ParallelStep(_Step):
    """Starts every branch at once; the `join` step is entered when all branches have reached it."""

    kind: Literal["parallel"] = "parallel"
    branches: tuple[Name, ...] = Field(min_length=2)
    join: Name


class WaitStep(_Step):
    """Waits for an outside event (the applicant's answer, an identity check, a job's result)."""

    kind: Literal["wait"] = "wait"
    on: dict[Name, Name] = Field(min_length=1)
    deadline: Deadline | None = None
    escalate: Escalation | None = None
    on_timeout: Name | None = None


class EndStep(_Step):
    kind: Literal["end"] = "end"
    outcome: Name


Step = Annotated[TaskStep | AutoStep | ParallelStep | WaitStep | EndStep, Field(discriminator="kind")]
STEP_MODELS: dict[str, type[_Step]] = {"task": TaskStep, "auto": AutoStep, "parallel": ParallelStep,
                                       "wait": WaitStep, "end": EndStep}


class ProcessDefinition(_Model):
    """One version of one process. Load it with `load_definition`, which also checks the graph,
    the roles and the conditions; constructing the model directly checks only the shapes."""

    process: Annotated[str, StringConstraints(pattern=PROCESS_PATTERN, max_length=64)]
    version: int = Field(ge=1)
    title: str
    description: str | None = None
    calendar: str
    facts: dict[Name, FactType] = {}
    start: Name
    steps: dict[Name, Step]
    _compiled: Any = PrivateAttr(default=None)
    _digest: str | None = PrivateAttr(default=None)

    @property
    def key(self) -> str:
        return f"{self.process}@v{self.version}"

    def __eq__(self, other: object) -> bool:
        # the fields only: the compiled conditions cached beside them do not make a difference
        if not isinstance(other, ProcessDefinition):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(self.digest)

    def to_data(self) -> dict[str, Any]:
        """Plain data (JSON-ready) that loads back into an equal definition."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        for sid, step in data["steps"].items():
            step.pop("id", None)
            step["kind"] = self.steps[sid].kind
        return data

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: equal definitions have equal digests."""
        private = self.__pydantic_private__
        assert private is not None  # a model with private attributes always has their dict
        if private.get("_digest") is None:
            text = json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            private["_digest"] = hashlib.sha256(text.encode()).hexdigest()
        return private["_digest"]

    def conditions(self) -> dict[tuple[str, int], Expression]:
        """The compiled condition of each (auto step, rule index)."""
        return compiled(self).conditions


class Compiled:
    """What the engine needs at run time, computed once per definition."""

    __slots__ = ("_regions", "conditions", "deadline_seconds", "fact_types")

    def __init__(self, defn: ProcessDefinition):
        self.fact_types = dict(defn.facts)
        self.conditions: dict[tuple[str, int], Expression] = {}
        self.deadline_seconds: dict[str, float] = {}
        self._regions: dict[tuple[str, str], tuple[str, ...]] = {}
        for sid, step in defn.steps.items():
            if isinstance(step, AutoStep):
                for i, rule in enumerate(step.rules):
                    self.conditions[(sid, i)] = compile_condition(rule.when, defn.facts)
            deadline = getattr(step, "deadline", None)
            if deadline is not None:
                self.deadline_seconds[sid] = deadline.working_hours * 3600.0


    def regions(self, step: TaskStep, home: str) -> tuple[str, ...]:
        """The regions whose officials may act on a task of a case whose home region is `home`."""
        key = (step.id, home)
        found = self._regions.get(key)
        if found is None:
            found = self._regions[key] = tuple(home if r == "home" else r for r in step.region)
        return found


def compiled(defn: ProcessDefinition) -> Compiled:
    # the private-attribute dict directly: pydantic's attribute fallback is slow on hot paths
    private = defn.__pydantic_private__
    assert private is not None  # a model with private attributes always has their dict
    result = private.get("_compiled")
    if result is None:
        result = private["_compiled"] = Compiled(defn)
    return result


# --- validation -------------------------------------------------------------------------------

def default_roles() -> tuple[str, ...]:
    from eresident.officials.models import (
        ROLES,  # a constant; imported late to keep this module light
    )

    return tuple(ROLES)


def _suggest(word: object, choices: Iterable[str]) -> str:
    close = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unwrap(annotation: Any) -> Any:
    while True:
        args = typing.get_args(annotation)
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin in (dict, Mapping):
            return ("dict", _unwrap(args[1]))
        elif origin in (tuple, list):
            return ("list", _unwrap(args[0]))
        elif origin is Union or str(origin) == "types.UnionType":
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            return models[0] if models else annotation
        else:
            return annotation


def _owner(model: type[BaseModel], loc: tuple) -> Any:
    current: Any = model
    for part in loc:
        if isinstance(current, tuple):  # ("dict"/"list", inner): skip the key or index
            current = current[1]
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _unwrap(current.model_fields[part].annotation)
        else:
            return None
    while isinstance(current, tuple):
        current = current[1]
    return current


_TYPE_WORDS = {
    "string_type": "must be text", "int_type": "must be a whole number",
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping (name: value)", "model_type": "must be a mapping (name: value)",
    "model_attributes_type": "must be a mapping (name: value)", "list_type": "must be a list",
    "tuple_type": "must be a list", "finite_number": "must be a finite number",
}


def _describe_error(err: ErrorDetails, model: type[BaseModel], base: tuple) -> tuple[str, tuple, bool, str]:
    """(message, path of the problem, whether to point at the key, field label) for a pydantic error."""
    loc = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    label = ".".join(str(p) for p in loc)
    if kind == "missing":
        # point at the key that opens the mapping missing the field (e.g. the step's id)
        return f"'{loc[-1]}' is required", base + loc[:-1], True, ".".join(str(p) for p in loc[:-1])
    if kind == "extra_forbidden":
        owner = _owner(model, loc[:-1])
        fields = [f for f in getattr(owner, "model_fields", {}) if f != "id"]
        hint = _suggest(loc[-1], fields)
        if not hint and fields:
            hint = f" (known fields: {', '.join(fields)})"
        return f"unknown field '{loc[-1]}'{hint}", base + loc, True, ".".join(str(p) for p in loc[:-1])
    if kind == "literal_error":
        message = f"must be one of {ctx.get('expected', '')}"
        if isinstance(err.get("input"), str):
            message = f"'{err['input']}' is not allowed: {message}"
    elif kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        what = "a lowercase name (a-z, 0-9, _), starting with a letter" if pattern == NAME_PATTERN else (
            "a lowercase name (a-z, 0-9, _ or -)" if pattern == PROCESS_PATTERN else f"like {pattern}")
        message = f"'{err.get('input')}' must be {what}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()), "")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        message = f"must be {words} {bound}"
    elif kind == "too_short":
        least = ctx.get("min_length", 1)
        message = f"needs at least {least} entr{'y' if least == 1 else 'ies'}"
    elif kind == "string_too_long":
        message = f"is longer than {ctx.get('max_length')} characters"
    elif kind in _TYPE_WORDS:
        message = _TYPE_WORDS[kind]
    else:
        message = err.get("msg", "is not valid")
    return message, base + loc, False, label


class _Checker:
    def __init__(self, data: Any, where: SourceMap, source_name: str, roles: tuple[str, ...],
                 calendars: tuple[str, ...] | None):
        self.data = data
        self.where = where
        self.source_name = source_name
        self.roles = roles
        self.calendars = calendars
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str, *, key: bool = False, position: Position | None = None) -> None:
        pos = position or (self.where.key_at(path) if key else self.where.value_at(path))
        self.problems.append(Problem(pos.line if pos else None, pos.column if pos else None, message))

    @staticmethod
    def _prefix(path: Path) -> str:
        if len(path) >= 2 and path[0] == "steps":
            return f"step '{path[1]}': "
        return ""

    def add_pydantic(self, exc: ValidationError, model: type[BaseModel], base: tuple) -> None:
        errors = exc.errors()
        # "unknown field 'nxet' (did you mean 'next'?)" already says that 'next' is missing
        misspelt = set()
        for err in errors:
            if err["type"] == "extra_forbidden":
                loc = tuple(err["loc"])
                owner = _owner(model, loc[:-1])
                for name in get_close_matches(str(loc[-1]), list(getattr(owner, "model_fields", {})), n=1):
                    misspelt.add(loc[:-1] + (name,))
        for err in errors:
            if err["type"] == "missing" and tuple(err["loc"]) in misspelt:
                continue
            message, path, key, label = _describe_error(err, model, base)
            if base[:1] == ("steps",):
                rest = ".".join(str(p) for p in path[2:]) if not key and err["type"] != "missing" else label
                field_text = f"{rest}: " if rest else ""
                self.add(path, f"step '{base[1]}': {field_text}{message}", key=key)
            else:
                field_text = f"{label}: " if label else ""
                self.add(path, f"{field_text}{message}", key=key)

    # --- shapes -------------------------------------------------------------------------------

    def shapes(self) -> ProcessDefinition | None:
        data = self.data
        if not isinstance(data, dict):
            self.add((), "a process definition is a mapping with process, version, title, calendar, "
                         "start and steps")
            return None
        header = {k: v for k, v in data.items() if k != "steps"}
        header["steps"] = {}
        try:
            ProcessDefinition.model_validate(header)
        except ValidationError as exc:
            self.add_pydantic(exc, ProcessDefinition, ())
        raw_steps = data.get("steps")
        if "steps" in data and not isinstance(raw_steps, dict):
            self.add(("steps",), "steps: must be a mapping of step ids to steps")
            return None
        steps: dict[str, Any] = {}
        for sid, raw in (raw_steps or {}).items():
            path = ("steps", sid)
            if not re.match(NAME_PATTERN, sid) or len(sid) > 64:
                self.add(path, f"step id '{sid}' must be a lowercase name (a-z, 0-9, _), starting "
                               "with a letter", key=True)
                continue
            if not isinstance(raw, dict):
                self.add(path, f"step '{sid}': must be a mapping with at least 'kind'")
                continue
            if "id" in raw:
                self.add(path + ("id",), f"step '{sid}': the step's id is its key; remove 'id'", key=True)
                continue
            kind = raw.get("kind")
            if kind is None:
                self.add(path, f"step '{sid}': 'kind' is required (one of {', '.join(STEP_KINDS)})",
                         key=True)
                continue
            if kind not in STEP_MODELS:
                self.add(path + ("kind",), f"step '{sid}': kind '{kind}' is not a step kind"
                                           f"{_suggest(kind, STEP_KINDS)} (one of {', '.join(STEP_KINDS)})")
                continue
            model = STEP_MODELS[kind]
            try:
                steps[sid] = model.model_validate({**raw, "id": sid})
            except ValidationError as exc:
                self.add_pydantic(exc, model, path)
        if not raw_steps and "steps" in data:
            self.add(("steps",), "steps: a process needs at least one step")
        if self.problems:
            return None
        return ProcessDefinition.model_validate({**header, "steps": steps})

    # --- meaning ------------------------------------------------------------------------------

    def target(self, defn: ProcessDefinition, path: Path, name: str, what: str = "next") -> bool:
        if name in defn.steps:
            return True
        where = self._prefix(path)
        self.add(path, Message(N_("%(where)s%(what)s '%(name)s' is not a step%(suggestion)s"), where=where, what=what,
                               name=name, suggestion=_suggest(name, defn.steps)))
        return False

    def meaning(self, defn: ProcessDefinition) -> None:
        steps = defn.steps
        if self.calendars is not None and defn.calendar not in self.calendars:
            hint = _suggest(defn.calendar, self.calendars)
            self.add(("calendar",), f"calendar '{defn.calendar}' is not known{hint}"
                                    f" (known: {', '.join(self.calendars) or 'none'})")
        self.target(defn, ("start",), defn.start, "start")
        for sid, step in steps.items():
            base = ("steps", sid)
            if isinstance(step, TaskStep):
                self.task(defn, sid, step, base)
            elif isinstance(step, AutoStep):
                self.auto(defn, sid, step, base)
            elif isinstance(step, ParallelStep):
                for i, branch in enumerate(step.branches):
                    self.target(defn, base + ("branches", i), branch, "branch")
                    where = base + ("branches", i)
                    if branch == sid:
                        self.add(where, f"step '{sid}': a branch cannot be the parallel step itself")
                    if branch == step.join:
                        self.add(where, f"step '{sid}': '{branch}' is both a branch and the join")
                    if step.branches.index(branch) != i:
                        self.add(base + ("branches", i), f"step '{sid}': branch '{branch}' is listed twice")
                self.target(defn, base + ("join",), step.join, "join")
            elif isinstance(step, WaitStep):
                for event, nxt in step.on.items():
                    self.target(defn, base + ("on", event), nxt)
                if step.on_timeout is not None:
                    self.target(defn, base + ("on_timeout",), step.on_timeout, "on_timeout")
                    if step.deadline is None:
                        self.add(base + ("on_timeout",), f"step '{sid}': on_timeout needs a deadline")
                self.escalation(sid, step, base)
        if self.problems:
            return  # the graph checks below assume every reference resolves
        self.graph(defn)

    def statuses(self, defn: ProcessDefinition) -> None:
        """Strict only. A case resting at a task or wait step shows that step's status; without one
        the case, and the application or company it drives, would have none, and the domains keep
        it in NOT NULL columns (the engine would fail on the first case to get there)."""
        for sid, step in defn.steps.items():
            if isinstance(step, (TaskStep, WaitStep)) and step.status is None:
                self.add(("steps", sid), f"step '{sid}': a {step.kind} step needs a 'status': what a case "
                                         "waiting here shows (for example status: awaiting_review)", key=True)

    def escalation(self, sid: str, step: TaskStep | WaitStep, base: Path) -> None:
        if step.escalate is None:
            return
        if step.deadline is None:
            self.add(base + ("escalate",), f"step '{sid}': escalate needs a deadline (deadline: "
                                           "{working_hours: N})")
        if step.escalate.to_role not in self.roles:
            role = step.escalate.to_role
            self.add(base + ("escalate", "to_role"), f"step '{sid}': role '{role}' is not a role"
                     f"{_suggest(role, self.roles)} (roles: {', '.join(self.roles)})")
        if step.escalate.reassign and isinstance(step, WaitStep):
            self.add(base + ("escalate", "reassign"), f"step '{sid}': reassign applies to tasks only")

    def task(self, defn: ProcessDefinition, sid: str, step: TaskStep, base: Path) -> None:
        if step.role not in self.roles:
            self.add(base + ("role",), f"step '{sid}': role '{step.role}' is not a role"
                                       f"{_suggest(step.role, self.roles)} (roles: {', '.join(self.roles)})")
        for i, region in enumerate(step.region):
            if region not in ("home", "any") and not REGION_PATTERN.match(region):
                self.add(base + ("region", i), f"step '{sid}': region '{region}'"
                         " must be 'home', 'any' or a region code like LJ")
        for action, spec in step.actions.items():
            self.target(defn, base + ("actions", action, "next"), spec.next)
        for i, other in enumerate(step.not_same_actor_as):
            path = base + ("not_same_actor_as", i)
            if not self.target(defn, path, other, "not_same_actor_as"):
                continue
            if other == sid:
                self.add(path, f"step '{sid}': not_same_actor_as names the step itself (distinct actors "
                               "within a step are what quorum asks for)")
            elif not isinstance(defn.steps[other], TaskStep):
                self.add(path, f"step '{sid}': not_same_actor_as '{other}' is a {defn.steps[other].kind} "
                               "step; only task steps have actors")
        if step.sticky and step.claim == "none":
            self.add(base + ("sticky",), f"step '{sid}': sticky needs claims (claim: optional or required)")
        if step.claimed_status and step.claim == "none":
            self.add(base + ("claimed_status",), f"step '{sid}': claimed_status needs claims")
        self.escalation(sid, step, base)

    def auto(self, defn: ProcessDefinition, sid: str, step: AutoStep, base: Path) -> None:
        for i, rule in enumerate(step.rules):
            self.target(defn, base + ("rules", i, "next"), rule.next)
            path = base + ("rules", i, "when")
            try:
                compile_condition(rule.when, defn.facts)
            except ExpressionError as exc:
                self.add(path, f"step '{sid}': rule {i + 1}: {exc.message}",
                         position=self.expression_position(path, exc.position))
        self.target(defn, base + ("otherwise", "next") if isinstance(self.raw(base + ("otherwise",)), dict)
                    else base + ("otherwise",), step.otherwise.next, "otherwise")

    def raw(self, path: Path) -> Any:
        node: Any = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def expression_position(self, path: Path, offset: int) -> Position | None:
        pos = self.where.value_at(path)
        if pos is None or path not in self.where.values:
            return pos
        style = self.where.styles.get(path)
        if path in self.where.multiline or style not in (None, "'", '"'):
            return pos
        return Position(pos.line, pos.column + offset + (1 if style else 0))

    # --- the graph ----------------------------------------------------------------------------

    @staticmethod
    def successors(step: Any) -> list[str]:
        if isinstance(step, TaskStep):
            return [a.next for a in step.actions.values()]
        if isinstance(step, AutoStep):
            return [r.next for r in step.rules] + [step.otherwise.next]
        if isinstance(step, ParallelStep):
            return list(step.branches)
        if isinstance(step, WaitStep):
            return list(step.on.values()) + ([step.on_timeout] if step.on_timeout else [])
        return []

    def graph(self, defn: ProcessDefinition) -> None:
        steps = defn.steps
        succ = {sid: self.successors(step) for sid, step in steps.items()}
        reachable = _reach([defn.start], succ)
        for sid in steps:
            if sid not in reachable:
                self.add(("steps", sid), Message(N_("step '%(step)s' can never be reached from the start "
                                                    "'%(start)s'"), step=sid, start=defn.start), key=True)
        ends = [sid for sid, s in steps.items() if isinstance(s, EndStep)]
        if not ends:
            self.add(("steps",), N_("the process has no end step (kind: end), so no case could finish"),
                     key=True)
            return
        pred: dict[str, list[str]] = {sid: [] for sid in steps}
        for sid, nexts in succ.items():
            for nxt in nexts:
                pred[nxt].append(sid)
        can_end = _reach(ends, pred)
        for sid in steps:
            if sid in reachable and sid not in can_end:
                self.add(("steps", sid), f"step '{sid}' can never reach an end step: a case there would "
                                         "never finish", key=True)
        for sid, step in steps.items():
            if isinstance(step, ParallelStep) and sid in reachable:
                self.parallel(defn, sid, step, succ)
        self.instant_cycles(defn, succ)

    def parallel(self, defn: ProcessDefinition, sid: str, step: ParallelStep,
                 succ: dict[str, list[str]]) -> None:
        for i, branch in enumerate(step.branches):
            region = _reach([branch], succ, stop={step.join})
            path = ("steps", sid, "branches", i)
            if step.join not in region:
                self.add(path, f"step '{sid}': branch '{branch}' never reaches the join '{step.join}'")
            elif sid in region:
                self.add(path, f"step '{sid}': branch '{branch}' leads back to '{sid}' before reaching "
                               f"the join '{step.join}'")

    def instant_cycles(self, defn: ProcessDefinition, succ: dict[str, list[str]]) -> None:
        """A loop made only of auto and parallel steps would run forever without waiting for anyone."""
        instant = {sid for sid, s in defn.steps.items() if isinstance(s, (AutoStep, ParallelStep))}
        color: dict[str, int] = {}
        reported: set[frozenset[str]] = set()

        def visit(start: str) -> None:
            stack: list[tuple[str, int]] = [(start, 0)]
            trail: list[str] = []
            while stack:
                node, index = stack.pop()
                if index == 0:
                    color[node] = 1
                    trail.append(node)
                nexts = [n for n in succ[node] if n in instant]
                if index < len(nexts):
                    stack.append((node, index + 1))
                    nxt = nexts[index]
                    if color.get(nxt) == 1:
                        cycle = trail[trail.index(nxt):] + [nxt]
                        if frozenset(cycle) not in reported:
                            reported.add(frozenset(cycle))
                            self.add(("steps", nxt), f"steps {' → '.join(repr(c) for c in cycle)} form a "
                                     "loop with no task or wait step: a case would loop forever", key=True)
                    elif nxt not in color:
                        stack.append((nxt, 0))
                else:
                    color[node] = 2
                    trail.pop()

        for sid in sorted(instant):
            if sid not in color:
                visit(sid)


def _reach(starts: Iterable[str], edges: Mapping[str, list[str]], stop: set[str] | None = None) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if stop and node in stop:
            continue
        todo.extend(n for n in edges.get(node, ()) if n not in seen)
    return seen


def _check(data: Any, where: SourceMap, source_name: str, roles: Iterable[str] | None,
           calendars: Iterable[str] | None, strict: bool = False) -> ProcessDefinition:
    role_list = tuple(roles) if roles is not None else default_roles()
    if calendars is None:
        from eresident.workflow.calendar import available_calendars

        calendar_list: tuple[str, ...] | None = available_calendars()
    else:
        calendar_list = tuple(calendars)
    checker = _Checker(data, where, source_name, role_list, calendar_list)
    defn = checker.shapes()
    if defn is not None:
        checker.meaning(defn)
        if strict:
            checker.statuses(defn)
    if checker.problems or defn is None:
        raise DefinitionError(checker.problems, source_name)
    compiled(defn)
    return defn


def load_definition(text: str, *, source_name: str = "<definition>", roles: Iterable[str] | None = None,
                    calendars: Iterable[str] | None = None, strict: bool = False) -> ProcessDefinition:
    """Read and check a definition (YAML, or JSON). Raises DefinitionError listing every problem,
    each with its line and column. `roles` defaults to the officials' roles, `calendars` to the
    calendars shipped in data/calendars. `strict` adds the rules for a version about to be
    published (see the module's docstring); a stored version is read without them."""
    try:
        data, where = load_source(text, source_name=source_name)
    except SourceError as exc:
        pos = exc.position
        raise DefinitionError([Problem(pos.line if pos else None, pos.column if pos else None,
                                       exc.message)], source_name) from None
    return _check(data, where, source_name, roles, calendars, strict)


def definition_from_data(data: Mapping[str, Any], *, source_name: str = "<data>",
                         roles: Iterable[str] | None = None,
                         calendars: Iterable[str] | None = None, strict: bool = False) -> ProcessDefinition:
    """The same checks as load_definition for data already parsed (problems carry no line)."""
    return _check(dict(data), SourceMap(), source_name, roles, calendars, strict)


def load_packaged(name: str) -> ProcessDefinition:
    """A definition shipped in data/processes, e.g. load_packaged('e-residency.v1')."""
    from importlib import resources

    path = resources.files("eresident") / "data" / "processes" / f"{name}.yaml"
    return load_definition(path.read_text(encoding="utf-8"), source_name=f"{name}.yaml")


def packaged_definitions() -> tuple[str, ...]:
    from importlib import resources

    folder = resources.files("eresident") / "data" / "processes"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")))
