"""Request and response shapes of the workflow API: process metrics, published definitions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eresident.workflow.source import MAX_SOURCE_CHARS


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


# --- published definitions (administrators) -------------------------------------------------------

class DefinitionSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, max_length=MAX_SOURCE_CHARS, description="the definition, YAML or JSON")


class ProcessVersionSummary(BaseModel):
    version: int
    digest: str = Field(description="SHA-256 of the definition's canonical JSON")
    published_at: datetime
    published_by: str = Field(description="the publishing official's username, or 'system'")
    cases: int = Field(description="cases started on this version")


class ProcessSummary(BaseModel):
    process: str
    versions: list[ProcessVersionSummary] = Field(description="newest first")


class ProcessVersionRead(BaseModel):
    process: str
    version: int
    title: str
    digest: str
    published_at: datetime
    published_by: str
    source: str = Field(description="the text as published")


class DefinitionCheck(BaseModel):
    """A valid definition, beside what is published for its process."""

    valid: bool = True
    process: str
    version: int
    title: str
    steps: int
    digest: str
    published_version: int | None = Field(description="the latest published version of this process")
    publishable: bool = Field(description="whether the version number is newer than the published one")
    changes: list[str] = Field(description="what changes against the published version, in sentences")
