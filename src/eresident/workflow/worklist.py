"""An official's worklist a page at a time: late first, then due soon, then by deadline, then the
ones without a deadline, oldest first. One query for the page's rows (the work item, its case and
the application, without the case's state) and one for the queue's counts, however long the queue."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from eresident.identity.models import Application
from eresident.workflow.calendar import WorkingCalendar, load_calendar
from eresident.workflow.definition import load_definition
from eresident.workflow.models import ProcessVersion, WorkflowCase, WorkItem
from eresident.workflow.render import DUE_SOON_WORKING_HOURS, due_state

PAGE_SIZE = 25

_calendars: dict[tuple[str, int], WorkingCalendar] = {}  # a published version never changes


def calendar_of(db: Session, process: str, version: int) -> WorkingCalendar:
    """The working calendar of a published process version (read once per version)."""
    key = (process, version)
    if key not in _calendars:
        source = db.scalar(select(ProcessVersion.source).where(ProcessVersion.process == process,
                                                               ProcessVersion.version == version))
        if source is None:
            raise LookupError(f"{process} v{version} is not published on this node")
        _calendars[key] = load_calendar(load_definition(source, source_name=f"{process} v{version}").calendar)
    return _calendars[key]


def _latest_calendar(db: Session, process: str) -> WorkingCalendar | None:
    version = db.scalar(select(func.max(ProcessVersion.version)).where(ProcessVersion.process == process))
    return calendar_of(db, process, version) if version is not None else None


@dataclass(frozen=True)
class Row:
    item: WorkItem
    application_id: uuid.UUID
    case_number: str
    surname: str
    given_names: str
    screening_hits: int
    state: str  # "late" | "due soon" | ""
    claimed_by_me: bool


@dataclass(frozen=True)
class Queue:
    role: str
    rows: list[Row]
    total: int
    late: int
    soon: int
    page: int  # 1-based, within 1 … pages
    pages: int
    size: int

    @property
    def first(self) -> int:
        """The position of the page's first row in the queue (1-based; 0 when empty)."""
        return (self.page - 1) * self.size + 1 if self.total else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.size + len(self.rows)


def queue(*, db: Session, role: str, region: str, process: str, official_id: str, now: datetime,
          page: int = 1, size: int | None = None) -> Queue:
    """Page `page` (of `size` rows, PAGE_SIZE by default) of the open work for `role` in `region`
    (items escalated to that role too), of cases of `process` whose subject is an application. A
    page beyond the last shows the last."""
    size = size or PAGE_SIZE
    # The queue's items, from the work items (a small table): each one's case by its key, never a
    # scan of the cases (their state makes them large rows).
    where = [WorkItem.region.in_((region, "any")), or_(WorkItem.role == role, WorkItem.escalated_to == role),
             exists().where(WorkflowCase.id == WorkItem.case_id, WorkflowCase.process == process,
                            WorkflowCase.subject_type == "application")]
    late = or_(WorkItem.overdue.is_(True), WorkItem.due_at <= now)
    calendar = _latest_calendar(db, process)
    # Due soon: at most DUE_SOON_WORKING_HOURS of working time left. Working time stands still
    # outside working hours, so that is "due before the working time after that much work resumes".
    soon_until = (calendar.next_working_time(calendar.add_working_hours(now, DUE_SOON_WORKING_HOURS))
                  if calendar is not None else now)
    soon = and_(WorkItem.overdue.is_(False), WorkItem.due_at > now, WorkItem.due_at <= soon_until)
    total, late_n, soon_n = db.execute(
        select(func.count(), func.coalesce(func.sum(case((late, 1), else_=0)), 0),
               func.coalesce(func.sum(case((soon, 1), else_=0)), 0)).select_from(WorkItem).where(*where)).one()
    pages = max(1, math.ceil(total / size))
    page = min(max(1, page), pages)
    ids = list(db.scalars(select(WorkItem.id).where(*where)
                          .order_by(WorkItem.due_at.is_(None), WorkItem.due_at, WorkItem.entered_at, WorkItem.id)
                          .offset((page - 1) * size).limit(size)))  # late ones first: the oldest deadlines
    found = {row[0].id: row for row in db.execute(
        select(WorkItem, WorkflowCase.version, Application.id, Application.case_number, Application.surname,
               Application.given_names, Application.screening_hits)
        .join(WorkflowCase, WorkflowCase.id == WorkItem.case_id)
        .join(Application, Application.id == WorkflowCase.subject_id)
        .where(WorkItem.id.in_(ids)))} if ids else {}
    rows = []
    for item, version, app_id, number, surname, given_names, hits in (found[i] for i in ids if i in found):
        state = due_state(item.due_at, now, calendar_of(db, process, version), overdue=item.overdue)
        rows.append(Row(item, app_id, number, surname, given_names, hits or 0, state,
                        item.claimed_by == official_id))
    return Queue(role, rows, int(total), int(late_n), int(soon_n), page, pages, size)


def page_number(value: Any) -> int:
    """A page number from a query string: a positive whole number, else the first page."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return 1
    return number if 1 <= number <= 10**6 else 1
