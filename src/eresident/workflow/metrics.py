"""Process metrics from the timestamped transitions: per step, cases entered, waiting time (until
an official first picks the step up), working time (from then until it is completed), time in
step, deadline misses; per process, time to decision and automatic versus human decisions.

Durations are given in calendar hours and in working hours of the definition's calendar. A step
is "picked up" by its first claim or, on steps without claims, its first action; a sticky step
that returns to the official who held it counts as picked up at once. Working time runs from the
pick-up to completion, so a claim that was released and taken again counts as working time."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.workflow.calendar import WorkingCalendar, load_calendar
from eresident.workflow.definition import load_definition
from eresident.workflow.models import ProcessVersion, WorkflowCase, WorkflowTransition

# the effect types the metrics read (semantics.py); the others (FactsUpdated, BranchArrived …) are not needed
_TYPES = ("StepEntered", "Claimed", "ActionTaken", "Released", "StepCompleted", "StepCancelled",
          "DeadlineMissed", "Escalated", "AutoDecided")
_BATCH = 5_000


def _percentile(ordered: list[float], q: float) -> float:
    k = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))  # nearest rank, as simulate.py
    return ordered[k]


def summarise(values: list[float]) -> dict | None:
    """mean, p50 and p90 of a list of hours (None when empty), rounded to 0.01 h (36 s)."""
    if not values:
        return None
    ordered = sorted(values)
    return {"mean": round(sum(ordered) / len(ordered), 2), "p50": round(_percentile(ordered, 0.5), 2),
            "p90": round(_percentile(ordered, 0.9), 2)}


@dataclass
class _Durations:
    hours: list[float] = field(default_factory=list)
    working: list[float] = field(default_factory=list)

    def add(self, a: datetime, b: datetime, calendar: WorkingCalendar | None) -> None:
        self.hours.append((b - a).total_seconds() / 3600.0)
        if calendar is not None:
            self.working.append(calendar.seconds_between_ts(a.timestamp(), b.timestamp()) / 3600.0)

    def to_json(self) -> dict:
        return {"count": len(self.hours), "hours": summarise(self.hours),
                "working_hours": summarise(self.working)}


@dataclass
class _Step:
    kind: str | None = None
    entered: int = 0
    completed: int = 0
    cancelled: int = 0
    claims: int = 0
    releases: int = 0
    actions: int = 0
    deadline_misses: int = 0
    escalations: int = 0
    outcomes: Counter = field(default_factory=Counter)
    in_step: _Durations = field(default_factory=_Durations)
    waiting: _Durations = field(default_factory=_Durations)
    working: _Durations = field(default_factory=_Durations)


@dataclass
class _Instance:
    entered_at: datetime
    picked_at: datetime | None = None
    missed: bool = False


def _calendars(db: Session, process: str) -> dict[int, WorkingCalendar | None]:
    """The working calendar of each published version (None if its calendar file is gone)."""
    out: dict[int, WorkingCalendar | None] = {}
    for version, source in db.execute(select(ProcessVersion.version, ProcessVersion.source)
                                      .where(ProcessVersion.process == process)):
        try:
            out[version] = load_calendar(load_definition(source, source_name=f"{process} v{version}").calendar)
        except Exception:  # noqa: BLE001 - metrics must not fail on an old version's calendar
            out[version] = None
    return out


def compute(*, db: Session, process: str, version: int | None = None,
            since: datetime | None = None, until: datetime | None = None) -> dict:
    """The metrics of the cases of `process` (of one `version`, started in [since, until))."""
    calendars = _calendars(db, process)
    case_filter = [WorkflowCase.process == process]
    if version is not None:
        case_filter.append(WorkflowCase.version == version)
    if since is not None:
        case_filter.append(WorkflowCase.started_at >= since)
    if until is not None:
        case_filter.append(WorkflowCase.started_at < until)

    versions: Counter = Counter()
    outcomes: Counter = Counter()
    decided: Counter = Counter()
    to_decision = _Durations()
    started = ended = 0
    for case_version, started_at, ended_at, outcome, decided_by in db.execute(
            select(WorkflowCase.version, WorkflowCase.started_at, WorkflowCase.ended_at, WorkflowCase.outcome,
                   WorkflowCase.decided_by).where(*case_filter).execution_options(yield_per=_BATCH)):
        started += 1
        versions[case_version] += 1
        if outcome is not None:
            ended += 1
            outcomes[outcome] += 1
            decided[decided_by or "unknown"] += 1
            if ended_at is not None:
                to_decision.add(started_at, ended_at, calendars.get(case_version))

    t = WorkflowTransition
    data = t.data
    rows = db.execute(
        select(t.case_id, WorkflowCase.version, t.type, t.step, t.at, data["instance"].as_string(),
               data["kind"].as_string(), data["outcome"].as_string(), data["overdue"].as_boolean())
        .join(WorkflowCase, WorkflowCase.id == t.case_id)
        .where(*case_filter, t.type.in_(_TYPES))
        .order_by(t.id).execution_options(yield_per=_BATCH))  # insertion order is effect order
    steps: dict[str, _Step] = {}
    open_instances: dict[tuple, _Instance] = {}
    for case_id, case_version, kind, step_id, at, instance, step_kind, outcome, overdue in rows:
        step = steps.get(step_id)
        if step is None:
            step = steps[step_id] = _Step()
        key = (case_id, instance)
        calendar = calendars.get(case_version)
        if kind == "StepEntered":
            step.kind = step.kind or step_kind
            step.entered += 1
            open_instances[key] = _Instance(at)
        elif kind == "AutoDecided":
            step.kind = "auto"
            step.entered += 1
            step.completed += 1
            step.outcomes[outcome] += 1
        elif kind in ("Claimed", "ActionTaken"):
            if kind == "Claimed":
                step.claims += 1
            else:
                step.actions += 1
            inst = open_instances.get(key)
            if inst is not None and inst.picked_at is None:
                inst.picked_at = at
                step.waiting.add(inst.entered_at, at, calendar)
        elif kind == "Released":
            step.releases += 1
        elif kind == "DeadlineMissed":
            inst = open_instances.get(key)
            if inst is not None and not inst.missed:
                inst.missed = True
                step.deadline_misses += 1
        elif kind == "Escalated":
            step.escalations += 1
        elif kind in ("StepCompleted", "StepCancelled"):
            inst = open_instances.pop(key, None)
            if inst is None:  # parallel and end steps complete without entering as a wait or task
                continue
            if kind == "StepCancelled":
                step.cancelled += 1
                continue
            step.completed += 1
            step.in_step.add(inst.entered_at, at, calendar)
            if inst.picked_at is not None:
                step.working.add(inst.picked_at, at, calendar)
            if overdue and not inst.missed:  # completed late before the timer ran
                step.deadline_misses += 1

    step_json = {}
    for sid, s in steps.items():
        if not s.entered:  # only seen completing (a parallel split): not a step a case waits in
            continue
        entry: dict[str, Any] = {
            "kind": s.kind, "entered": s.entered, "completed": s.completed, "cancelled": s.cancelled,
            "open": max(0, s.entered - s.completed - s.cancelled), "deadline_misses": s.deadline_misses,
            "escalations": s.escalations}
        if s.kind == "auto":
            entry["outcomes"] = dict(sorted(s.outcomes.items()))
        else:
            entry["time_in_step"] = s.in_step.to_json()
        if s.kind == "task":
            entry.update(claims=s.claims, releases=s.releases, actions=s.actions,
                         waiting=s.waiting.to_json(), working=s.working.to_json())
        step_json[sid] = entry
    return {
        "process": process, "version": version,
        "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
        "cases": {"started": started, "ended": ended, "open": started - ended},
        "versions": {str(v): n for v, n in sorted(versions.items())},
        "outcomes": dict(sorted(outcomes.items())),
        "decided_by": dict(sorted(decided.items())),
        "time_to_decision": to_decision.to_json(),
        "deadline_misses": sum(s.deadline_misses for s in steps.values()),
        "entered": {sid: s.entered for sid, s in steps.items() if s.entered},
        "steps": step_json,
    }
