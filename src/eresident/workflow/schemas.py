"""Response shapes of the workflow API (process metrics)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Summary(BaseModel):
    mean: float
    p50: float
    p90: float


class DurationsRead(BaseModel):
    count: int = Field(description="how many step instances (or cases) the figures cover")
    hours: Summary | None = Field(description="calendar hours")
    working_hours: Summary | None = Field(description="working hours of the definition's calendar")


class StepMetricsRead(BaseModel):
    kind: str | None
    entered: int
    completed: int
    cancelled: int
    open: int
    deadline_misses: int
    escalations: int
    outcomes: dict[str, int] | None = Field(None, description="automatic steps: how often each rule outcome decided")
    time_in_step: DurationsRead | None = Field(None, description="tasks and waits: from entering to completion")
    claims: int | None = None
    releases: int | None = None
    actions: int | None = None
    waiting: DurationsRead | None = Field(None, description="tasks: from entering to the first claim or action")
    working: DurationsRead | None = Field(None, description="tasks: from the first claim or action to completion")


class CaseCounts(BaseModel):
    started: int
    ended: int
    open: int


class ProcessMetricsRead(BaseModel):
    process: str
    version: int | None
    since: str | None
    until: str | None
    cases: CaseCounts
    versions: dict[str, int]
    outcomes: dict[str, int]
    decided_by: dict[str, int] = Field(description="automatic, human, event, timeout")
    time_to_decision: DurationsRead = Field(description="from the start of a case to its end")
    deadline_misses: int
    entered: dict[str, int]
    steps: dict[str, StepMetricsRead]
