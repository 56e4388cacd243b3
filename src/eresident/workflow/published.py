"""Published process versions, as administrators see and change them: the strict check a new
version passes before the engine publishes it, every version with the cases started on it, and one
version beside the one before. Shared by the API (routes.py) and the pages (pages.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor
from eresident.i18n import N_
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem, not_found
from eresident.officials import service as officials
from eresident.workflow import service
from eresident.workflow.definition import ProcessDefinition, load_definition
from eresident.workflow.diff import diff
from eresident.workflow.models import ProcessVersion, WorkflowCase


def check(text: str, *, source_name: str = "<definition>") -> ProcessDefinition:
    """What `service.validate` checks, plus the rules for new versions (`strict`: every task and wait
    step names a status). Raises DefinitionError, each problem with its line."""
    return load_definition(text, source_name=source_name, strict=True)


def publish(*, ctx: NodeContext, db: Session, text: str, actor: Actor,
            source_name: str = "<definition>") -> ProcessVersion:
    """Publish a new version (audited by the engine). Refused (422 with every problem and its line,
    409 for a version that is not newer), nothing changes and the published version stays."""
    try:
        with db.begin_nested():  # service.publish validates with the strict rules
            return service.publish(ctx=ctx, db=db, text=text, actor=actor, source_name=source_name)
    except IntegrityError:  # the same version published by someone else a moment ago
        raise Problem(409, N_("This version is not newer than the published one"), code="stale-version",
                      detail=N_("Someone published this version just now; reload to see it.")) from None


@dataclass(frozen=True)
class VersionRow:
    process: str
    version: int
    digest: str
    published_at: datetime
    published_by: str  # the actor id the engine recorded
    publisher: str  # the official's username, or the actor id ("system")
    cases: int  # cases started on this version


def versions(db: Session, process: str | None = None) -> dict[str, list[VersionRow]]:
    """Every process (by name), or the one named, with its published versions, newest first."""
    rows_query = select(ProcessVersion.process, ProcessVersion.version, ProcessVersion.digest,
                        ProcessVersion.published_at, ProcessVersion.published_by)
    cases_query = select(WorkflowCase.process, WorkflowCase.version, func.count()).group_by(
        WorkflowCase.process, WorkflowCase.version)
    if process is not None:
        rows_query = rows_query.where(ProcessVersion.process == process)
        cases_query = cases_query.where(WorkflowCase.process == process)
    rows = db.execute(rows_query.order_by(ProcessVersion.process, ProcessVersion.version.desc())).all()
    cases = {(name, version): count for name, version, count in db.execute(cases_query)}
    names = officials.usernames(db, {row.published_by for row in rows})
    found: dict[str, list[VersionRow]] = {}
    for row in rows:
        found.setdefault(row.process, []).append(VersionRow(
            row.process, row.version, row.digest, row.published_at, row.published_by,
            names.get(row.published_by, row.published_by), cases.get((row.process, row.version), 0)))
    return found


def version(db: Session, process: str, number: int) -> ProcessVersion:
    row = db.scalar(select(ProcessVersion).where(ProcessVersion.process == process,
                                                 ProcessVersion.version == number))
    if row is None:
        raise not_found(N_("Process version"))
    return row


def previous(db: Session, row: ProcessVersion) -> ProcessVersion | None:
    return db.scalars(select(ProcessVersion).where(ProcessVersion.process == row.process,
                                                   ProcessVersion.version < row.version)
                      .order_by(ProcessVersion.version.desc()).limit(1)).first()


def definition(row: ProcessVersion) -> ProcessDefinition:
    """A stored version as the engine reads it (without the rules for new versions: it is published)."""
    return load_definition(row.source, source_name=f"{row.process} v{row.version}")


def publisher(db: Session, row: ProcessVersion) -> str:
    return officials.usernames(db, [row.published_by]).get(row.published_by, row.published_by)


@dataclass(frozen=True)
class Comparison:
    """A checked definition beside the latest published version of its process."""

    latest: ProcessVersion | None
    changes: list[str]  # in sentences (workflow.diff); empty when nothing is published yet

    def publishable(self, defn: ProcessDefinition) -> bool:
        return self.latest is None or defn.version > self.latest.version


def compare(db: Session, defn: ProcessDefinition) -> Comparison:
    latest = service.latest(db, defn.process)
    return Comparison(latest, diff(definition(latest), defn) if latest is not None else [])
