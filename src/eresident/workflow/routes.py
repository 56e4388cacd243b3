"""HTTP API of the workflow engine for administrators: process metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from eresident.deps import DbSession, require
from eresident.kit.errors import invalid, not_found
from eresident.officials.models import Official
from eresident.workflow import service
from eresident.workflow.models import ProcessVersion
from eresident.workflow.schemas import ProcessMetricsRead

router = APIRouter(prefix="/api/v1/workflow", tags=["workflow"])
MetricsReader = Annotated[Official, Depends(require("workflow.metrics"))]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise invalid(name, "Give the time with its zone (Z or an offset such as +08:00).")
    return value


@router.get("/processes/{process}/metrics", response_model=ProcessMetricsRead,
            summary="Per step: entered, waiting and working time, deadline misses; time to decision")
def process_metrics(process: str, _official: MetricsReader, db: DbSession,
                    version: Annotated[int | None, Query(ge=1, le=2**31 - 1,  # the column is a 32-bit integer
                                                         description="only cases of this version")] = None,
                    since: Annotated[datetime | None, Query(description="cases started at or after")] = None,
                    until: Annotated[datetime | None, Query(description="cases started before")] = None) -> dict:
    if db.scalar(select(ProcessVersion.id).where(ProcessVersion.process == process).limit(1)) is None:
        raise not_found("Process")
    return service.metrics(db=db, process=process, version=version, since=_aware(since, "since"),
                           until=_aware(until, "until"))
