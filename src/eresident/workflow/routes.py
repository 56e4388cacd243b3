"""HTTP API of the workflow engine for administrators: published definitions (read, check,
publish) and process metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.deps import Ctx, DbSession, official_actor, require
from eresident.i18n import N_
from eresident.kit.errors import invalid, not_found
from eresident.officials.models import Official
from eresident.workflow import published, service
from eresident.workflow.definition import DefinitionError
from eresident.workflow.models import ProcessVersion
from eresident.workflow.schemas import (
    DefinitionCheck,
    DefinitionSource,
    ProcessMetricsRead,
    ProcessSummary,
    ProcessVersionRead,
    ProcessVersionSummary,
)

router = APIRouter(prefix="/api/v1/workflow", tags=["workflow"])
MetricsReader = Annotated[Official, Depends(require("workflow.metrics"))]
Reader = Annotated[Official, Depends(require("workflow.read"))]
Publisher = Annotated[Official, Depends(require("workflow.publish"))]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]  # the column is a 32-bit integer


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise invalid(name, N_("Give the time with its zone (Z or an offset such as +08:00)."))
    return value


@router.get("/processes/{process}/metrics", response_model=ProcessMetricsRead,
            summary="Per step: entered, waiting and working time, deadline misses; time to decision")
def process_metrics(process: str, _official: MetricsReader, db: DbSession,
                    version: Annotated[int | None, Query(ge=1, le=2**31 - 1,  # the column is a 32-bit integer
                                                         description="only cases of this version")] = None,
                    since: Annotated[datetime | None, Query(description="cases started at or after")] = None,
                    until: Annotated[datetime | None, Query(description="cases started before")] = None) -> dict:
    if db.scalar(select(ProcessVersion.id).where(ProcessVersion.process == process).limit(1)) is None:
        raise not_found(N_("Process"))
    return service.metrics(db=db, process=process, version=version, since=_aware(since, "since"),
                           until=_aware(until, "until"))


@router.get("/processes", response_model=list[ProcessSummary],
            summary="Every process with its published versions (newest first) and the cases started on each")
def processes(_official: Reader, db: DbSession) -> list[ProcessSummary]:
    return [ProcessSummary(process=process, versions=[
        ProcessVersionSummary(version=v.version, digest=v.digest, published_at=v.published_at,
                              published_by=v.publisher, cases=v.cases) for v in rows])
        for process, rows in published.versions(db).items()]


def _version_read(db: Session, row: ProcessVersion) -> ProcessVersionRead:
    return ProcessVersionRead(process=row.process, version=row.version, title=published.definition(row).title,
                              digest=row.digest, published_at=row.published_at,
                              published_by=published.publisher(db, row), source=row.source)


@router.get("/processes/{process}/versions/{version}", response_model=ProcessVersionRead,
            summary="One published version: its source as published, digest, when and by whom")
def process_version(process: str, version: Version, _official: Reader, db: DbSession) -> ProcessVersionRead:
    return _version_read(db, published.version(db, process, version))


@router.post("/processes/validate", response_model=DefinitionCheck,
             responses={422: {"description": "Not valid: `errors` lists each problem with its line"}},
             summary="Check a definition without publishing it; compare it with the published version")
def validate(body: DefinitionSource, _official: Publisher, db: DbSession) -> DefinitionCheck:
    try:
        defn = published.check(body.source)
    except DefinitionError as exc:
        raise service.definition_problem(exc) from None
    comparison = published.compare(db, defn)
    return DefinitionCheck(process=defn.process, version=defn.version, title=defn.title, steps=len(defn.steps),
                           digest=defn.digest, published_version=comparison.latest.version if comparison.latest
                           else None, publishable=comparison.publishable(defn), changes=comparison.changes)


@router.post("/processes", status_code=201, response_model=ProcessVersionRead,
             responses={409: {"description": "The version is not newer than the published one"},
                        422: {"description": "Not valid: `errors` lists each problem with its line"}},
             summary="Publish a new version for new cases (audited); running cases keep theirs")
def publish(body: DefinitionSource, official: Publisher, ctx: Ctx, db: DbSession) -> ProcessVersionRead:
    row = published.publish(ctx=ctx, db=db, text=body.source, actor=official_actor(official))
    return _version_read(db, row)
