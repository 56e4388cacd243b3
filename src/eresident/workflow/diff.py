"""What changed between two versions of a process, in sentences an official can read."""

from __future__ import annotations

from typing import Any

from eresident.workflow.definition import (
    AutoStep,
    EndStep,
    ParallelStep,
    ProcessDefinition,
    TaskStep,
    WaitStep,
)


def _deadline(step: Any) -> str:
    d = getattr(step, "deadline", None)
    return "none" if d is None else f"{d.working_hours:g} working hours"


def _escalate(step: Any) -> str:
    e = getattr(step, "escalate", None)
    return "none" if e is None else f"to {e.to_role}" + (" (may act)" if e.reassign else "")


def _list(values: Any) -> str:
    return "[" + ", ".join(values) + "]" if values else "none"


def summary(step: Any) -> str:
    """One line describing a step."""
    if isinstance(step, TaskStep):
        acts = ", ".join(f"{a} → {s.next}" for a, s in step.actions.items())
        extra = []
        if step.quorum.required > 1:
            extra.append(f"quorum {step.quorum.required}")
        if step.not_same_actor_as:
            extra.append(f"not the actor of {', '.join(step.not_same_actor_as)}")
        if step.deadline:
            extra.append(f"deadline {_deadline(step)}")
        more = f"; {'; '.join(extra)}" if extra else ""
        return f"task for {step.role}: {acts}{more}"
    if isinstance(step, AutoStep):
        rules = "; ".join(f"when {r.when} → {r.outcome} → {r.next}" for r in step.rules)
        return f"automatic: {rules}; otherwise → {step.otherwise.outcome} → {step.otherwise.next}"
    if isinstance(step, ParallelStep):
        return f"parallel: {', '.join(step.branches)}, joining at {step.join}"
    if isinstance(step, WaitStep):
        return "wait for " + ", ".join(f"{e} → {n}" for e, n in step.on.items())
    if isinstance(step, EndStep):
        return f"end: {step.outcome}"
    return step.kind  # pragma: no cover


def _changed(out: list[str], where: str, what: str, a: Any, b: Any) -> None:
    if a != b:
        out.append(f"{where}: {what} {a} → {b}")


def _task(out: list[str], w: str, a: TaskStep, b: TaskStep) -> None:
    _changed(out, w, "role", a.role, b.role)
    _changed(out, w, "region", _list(a.region), _list(b.region))
    _changed(out, w, "quorum", a.quorum.required, b.quorum.required)
    _changed(out, w, "not_same_actor_as", _list(a.not_same_actor_as), _list(b.not_same_actor_as))
    _changed(out, w, "deadline", _deadline(a), _deadline(b))
    _changed(out, w, "escalation", _escalate(a), _escalate(b))
    _changed(out, w, "claim", a.claim, b.claim)
    _changed(out, w, "sticky", a.sticky, b.sticky)
    _changed(out, w, "claimed status", a.claimed_status, b.claimed_status)
    for name in a.actions.keys() - b.actions.keys():
        out.append(f"{w}: action '{name}' removed")
    for name in b.actions:
        if name not in a.actions:
            out.append(f"{w}: action '{name}' added (→ {b.actions[name].next})")
            continue
        x, y = a.actions[name], b.actions[name]
        _changed(out, w, f"action '{name}' goes to", x.next, y.next)
        _changed(out, w, f"action '{name}' note required", x.note_required, y.note_required)
        _changed(out, w, f"action '{name}' quorum", x.quorum or "step's", y.quorum or "step's")
        _changed(out, w, f"action '{name}' title", x.title, y.title)


def _auto(out: list[str], w: str, a: AutoStep, b: AutoStep) -> None:
    for i in range(max(len(a.rules), len(b.rules))):
        label = f"rule {i + 1}"
        if i >= len(a.rules):
            r = b.rules[i]
            out.append(f"{w}: {label} added: when {r.when} → {r.outcome} → {r.next}")
        elif i >= len(b.rules):
            r = a.rules[i]
            out.append(f"{w}: {label} removed (was: when {r.when} → {r.outcome} → {r.next})")
        else:
            x, y = a.rules[i], b.rules[i]
            _changed(out, w, f"{label} condition", repr(x.when), repr(y.when))
            _changed(out, w, f"{label} outcome", x.outcome, y.outcome)
            _changed(out, w, f"{label} goes to", x.next, y.next)
    _changed(out, w, "otherwise goes to", a.otherwise.next, b.otherwise.next)
    _changed(out, w, "otherwise outcome", a.otherwise.outcome, b.otherwise.outcome)


def _wait(out: list[str], w: str, a: WaitStep, b: WaitStep) -> None:
    for event in a.on.keys() - b.on.keys():
        out.append(f"{w}: no longer waits for '{event}'")
    for event, nxt in b.on.items():
        if event not in a.on:
            out.append(f"{w}: now also waits for '{event}' (→ {nxt})")
        else:
            _changed(out, w, f"event '{event}' goes to", a.on[event], nxt)
    _changed(out, w, "deadline", _deadline(a), _deadline(b))
    _changed(out, w, "escalation", _escalate(a), _escalate(b))
    _changed(out, w, "on timeout goes to", a.on_timeout or "none", b.on_timeout or "none")


def diff(a: ProcessDefinition, b: ProcessDefinition) -> list[str]:
    """Human-readable differences from a to b; empty when they behave the same."""
    out: list[str] = []
    if a.process != b.process:
        out.append(f"process {a.process} → {b.process} (these are different processes)")
    _changed(out, "process", "version", a.version, b.version)
    _changed(out, "process", "title", repr(a.title), repr(b.title))
    if a.description != b.description:
        out.append("process: description changed")
    _changed(out, "process", "calendar", a.calendar, b.calendar)
    _changed(out, "process", "start", a.start, b.start)
    for name in a.facts.keys() - b.facts.keys():
        out.append(f"fact '{name}' removed")
    for name, kind in b.facts.items():
        if name not in a.facts:
            out.append(f"fact '{name}' added ({kind})")
        elif a.facts[name] != kind:
            out.append(f"fact '{name}': type {a.facts[name]} → {kind}")
    for sid, step in a.steps.items():
        if sid not in b.steps:
            out.append(f"step '{sid}' removed (was {summary(step)})")
    for sid, y in b.steps.items():
        if sid not in a.steps:
            out.append(f"step '{sid}' added: {summary(y)}")
            continue
        x = a.steps[sid]
        w = f"step '{sid}'"
        if x.kind != y.kind:
            out.append(f"{w}: now a {y.kind} step (was {summary(x)}; now {summary(y)})")
            continue
        _changed(out, w, "title", repr(x.title), repr(y.title))
        _changed(out, w, "status", x.status, y.status)
        if isinstance(x, TaskStep) and isinstance(y, TaskStep):
            _task(out, w, x, y)
        elif isinstance(x, AutoStep) and isinstance(y, AutoStep):
            _auto(out, w, x, y)
        elif isinstance(x, ParallelStep) and isinstance(y, ParallelStep):
            _changed(out, w, "branches", _list(x.branches), _list(y.branches))
            _changed(out, w, "join", x.join, y.join)
        elif isinstance(x, WaitStep) and isinstance(y, WaitStep):
            _wait(out, w, x, y)
        elif isinstance(x, EndStep) and isinstance(y, EndStep):
            _changed(out, w, "outcome", x.outcome, y.outcome)
    return out
