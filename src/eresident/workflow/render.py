"""The process map: a definition as nodes and edges (for the case view), marked with where a
case is now, and as Mermaid flowchart text."""

from __future__ import annotations

from eresident.i18n import N_

from dataclasses import dataclass
from datetime import datetime

from eresident.workflow.definition import (
    AutoStep,
    EndStep,
    ParallelStep,
    ProcessDefinition,
    TaskStep,
    WaitStep,
)
from eresident.workflow.calendar import WorkingCalendar
from eresident.workflow.semantics import CaseState

# An open step is "due soon" when at most one working day (7 working hours in LJ and TF) is left.
DUE_SOON_WORKING_HOURS = 7.0


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str
    label: str
    role: str | None
    state: str  # "open" (the case is here), "done" (it passed here), "" (not yet / never)


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str  # the action, event, rule outcome, "branch" or "timeout"


def process_map(defn: ProcessDefinition, state: CaseState | None = None) -> tuple[list[Node], list[Edge]]:
    """Nodes in definition order and edges with what takes the case along them."""
    open_steps = {i.step for i in state.active} if state else set()
    done = {h.step for h in state.history} if state else set()
    nodes, edges = [], []
    for sid, step in defn.steps.items():
        mark = "open" if sid in open_steps else ("done" if sid in done else "")
        nodes.append(Node(sid, step.kind, step.label, getattr(step, "role", None), mark))
        if isinstance(step, TaskStep):
            edges += [Edge(sid, a.next, name) for name, a in step.actions.items()]
        elif isinstance(step, AutoStep):
            edges += [Edge(sid, r.next, r.outcome) for r in step.rules]
            edges.append(Edge(sid, step.otherwise.next, step.otherwise.outcome))
        elif isinstance(step, ParallelStep):
            edges += [Edge(sid, b, "branch") for b in step.branches]
        elif isinstance(step, WaitStep):
            edges += [Edge(sid, n, event) for event, n in step.on.items()]
            if step.on_timeout:
                edges.append(Edge(sid, step.on_timeout, "timeout"))
        else:
            assert isinstance(step, EndStep)
    return nodes, edges


_SHAPES = {"task": ("[", "]"), "auto": ("{", "}"), "parallel": ("[[", "]]"), "wait": ("([", "])"),
           "end": ("((", "))")}


def _text(value: str) -> str:
    return value.replace('"', "'")


def mermaid(defn: ProcessDefinition, state: CaseState | None = None) -> str:
    """Mermaid flowchart text; the steps the case is at are styled `open`, passed ones `done`."""
    nodes, edges = process_map(defn, state)
    lines = ["flowchart TD"]
    for n in nodes:
        left, right = _SHAPES[n.kind]
        role = f"<br/>{n.role}" if n.role else ""
        lines.append(f'  {n.id}{left}"{_text(n.label)}{role}"{right}')
    for e in edges:
        lines.append(f"  {e.source} -->|{_text(e.label)}| {e.target}")
    lines.append("  classDef open stroke-width:4px")
    lines.append("  classDef done opacity:0.6")
    for mark in ("open", "done"):
        ids = [n.id for n in nodes if n.state == mark]
        if ids:
            lines.append(f"  class {','.join(ids)} {mark}")
    return "\n".join(lines)


def due_state(due_at: datetime | None, now: datetime, calendar: WorkingCalendar, *, overdue: bool = False) -> str:
    """"late" (past its deadline), "due soon" (at most DUE_SOON_WORKING_HOURS of working time left)
    or "" (no deadline, or time enough), for worklists and the case view."""
    if due_at is None:
        return ""
    if overdue or due_at <= now:
        return N_("late")
    if calendar.working_hours_between(now, due_at) <= DUE_SOON_WORKING_HOURS:
        return N_("due soon")
    return ""
