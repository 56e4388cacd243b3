"""Definitions, actors and times for the workflow tests."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from eresident.workflow.calendar import load_calendar
from eresident.workflow.definition import ProcessDefinition, load_definition, load_packaged
from eresident.workflow.semantics import Actor

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = load_calendar("LJ")


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """An aware datetime, Asia/Shanghai local time."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


# Monday 2 March 2026, 10:00 in Chongqing: a plain working day
MONDAY = local(2026, 3, 2, 10)
MONDAY_UTC = MONDAY.astimezone(UTC)

# A small process with every step kind: a parallel intake (identity check and automatic checks),
# an automatic triage, a review with a request-for-information loop, and a four-eyes decision.
DEMO = textwrap.dedent("""\
    process: demo
    version: 1
    title: Demo process
    calendar: LJ
    facts:
      hits: int
      verified: bool
      score: number
      country: string
    start: intake
    steps:
      intake:
        kind: parallel
        branches: [identity, checks]
        join: triage
      identity:
        kind: wait
        on: {identity_checked: triage}
      checks:
        kind: wait
        on: {checks_done: triage}
      triage:
        kind: auto
        rules:
          - when: verified and hits == 0
            outcome: clean
            next: approved
        otherwise: review
      review:
        kind: task
        role: reviewer
        actions:
          recommend: {next: decision}
          ask: {next: answer, note_required: true}
      answer:
        kind: wait
        on: {answered: review}
      decision:
        kind: task
        role: approver
        not_same_actor_as: [review]
        actions:
          approve: {next: approved}
          refuse: {next: refused}
      approved: {kind: end, outcome: approved}
      refused: {kind: end, outcome: refused}
    """)


def demo(text: str = DEMO) -> ProcessDefinition:
    return load_definition(text, source_name="demo.yaml")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in the text")


def column_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based column where `needle` starts on its line."""
    line = text.splitlines()[line_of(text, needle, occurrence) - 1]
    return line.index(needle) + 1


def reviewer(n: int = 1, region: str = "LJ") -> Actor:
    return Actor(f"reviewer-{n}", {"reviewer"}, region)


def approver(n: int = 1, region: str = "LJ") -> Actor:
    return Actor(f"approver-{n}", {"approver"}, region)


def admin(n: int = 1, region: str = "LJ") -> Actor:
    return Actor(f"admin-{n}", {"admin"}, region)


def eresidency(version: int) -> ProcessDefinition:
    return load_packaged(f"e-residency.v{version}")


CLEAN = {"identity_verified": True, "screening_hits": 0, "risk_score": 0.0, "refused_before": False}
