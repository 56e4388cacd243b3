"""Pages for administrators (and auditors, to read) on process definitions: every published version,
one version with its source, map and changes, and the form that checks and publishes a new one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.datastructures import FormData, UploadFile

from eresident.deps import Ctx, DbSession, official_actor, require
from eresident.kit.context import NodeContext
from eresident.i18n import N_
from eresident.kit.errors import FieldError, Message, Problem, translate
from eresident.officials.models import Official
from eresident.officials.service import has_role
from eresident.pages import Form, problem_errors, redirect, render
from eresident.security.permissions import roles_for
from eresident.workflow import published
from eresident.workflow.definition import DefinitionError
from eresident.workflow.diff import diff
from eresident.workflow.render import process_map
from eresident.workflow.source import MAX_SOURCE_CHARS
from eresident.workflow.source import Problem as SourceProblem

router = APIRouter(include_in_schema=False)
Reader = Annotated[Official, Depends(require("workflow.read"))]
Publisher = Annotated[Official, Depends(require("workflow.publish"))]
BASE = "/official/admin/processes"


def _may_publish(official: Official, ctx: NodeContext) -> bool:
    return any(has_role(official, role, ctx.region) for role in roles_for("workflow.publish"))


@router.get(BASE)
def processes_page(request: Request, official: Reader, ctx: Ctx, db: DbSession):
    return render(request, "admin_processes.html", processes=published.versions(db), official=official,
                  may_publish=_may_publish(official, ctx))


# --- checking and publishing ----------------------------------------------------------------------

def _publish_form(request: Request, status: int = 200, *, text: str = "", **context):
    return render(request, "admin_publish.html", status, values={"source": text}, **context)


def _submitted(form: FormData) -> tuple[str, str, list[FieldError]]:
    """The definition's text (an uploaded file wins over the text box), a name for it, and what is
    wrong with the submission itself."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = upload.file.read(MAX_SOURCE_CHARS * 4 + 1)
        if len(data) > MAX_SOURCE_CHARS * 4:
            return "", upload.filename, [FieldError("file", N_("The file is too large for a process definition."))]
        try:
            return data.decode("utf-8-sig"), upload.filename, []
        except UnicodeDecodeError:
            return "", upload.filename, [FieldError("file", N_("The file is not text in UTF-8 (YAML or JSON)."))]
    text = str(form.get("source", ""))
    if not text.strip():
        return text, "", [FieldError("source", N_("Paste a definition or choose a file (YAML or JSON)."))]
    return text, "<definition>", []


def line_message(problem: SourceProblem) -> str:
    """A problem with its line and column, as `str(problem)` words it, translated on pages (the problem's
    own message is translated where the checker marks it)."""
    if problem.line is None:
        return problem.message
    if problem.column is None:
        return Message(N_("line %(line)s: %(message)s"), line=problem.line, message=problem.message)
    return Message(N_("line %(line)s, column %(column)s: %(message)s"), line=problem.line, column=problem.column,
                   message=problem.message)


@dataclass(frozen=True)
class _Shown:
    """A problem as the form lists it: its line (to quote the source) and its text in the page's language."""

    line: int | None
    text: str

    def __str__(self) -> str:
        return translate(self.text)


def _line_errors(problems: list[SourceProblem]) -> list[FieldError]:
    """Each problem with its line, for the summary; every one links to the text box."""
    return [FieldError("source", line_message(problem)) for problem in problems]


@router.get(BASE + "/publish")
def publish_form(request: Request, official: Publisher, db: DbSession,
                 process: Annotated[str | None, Query(max_length=64)] = None,
                 version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None):
    """Empty, or filled with a published version to start the next one from."""
    text = published.version(db, process, version).source if process and version else ""
    return _publish_form(request, text=text)


@router.post(BASE + "/publish")
def publish_page(request: Request, official: Publisher, ctx: Ctx, db: DbSession, form: FormData = Form):
    text, name, errors = _submitted(form)
    if errors:
        return _publish_form(request, 422, text=text, errors=errors)
    try:
        defn = published.check(text, source_name=name)
    except DefinitionError as exc:
        return _publish_form(request, 422, text=text, lines=text.splitlines(),
                             problems=[_Shown(p.line, line_message(p)) for p in exc.problems],
                             errors=_line_errors(exc.problems))
    if form.get("intent") == "publish":
        try:
            row = published.publish(ctx=ctx, db=db, text=text, actor=official_actor(official), source_name=name)
            return redirect(f"{BASE}/{row.process}/{row.version}")
        except Problem as exc:
            db.rollback()
            errors = [FieldError("source", Message(N_("%(field)s: %(reason)s"), field=e.field, reason=e.reason)
                                 if e.field else e.reason)
                      for e in problem_errors(exc)]
            comparison = published.compare(db, defn)
            return _publish_form(request, exc.status, text=text, checked=defn, comparison=comparison,
                                 publishable=False, errors=errors)
    comparison = published.compare(db, defn)
    return _publish_form(request, text=text, checked=defn, comparison=comparison,
                         publishable=comparison.publishable(defn))


# --- one version --------------------------------------------------------------------------------

@router.get(BASE + "/{process}/{version}")
def version_page(request: Request, process: str, version: Annotated[int, Path(ge=1, le=2**31 - 1)],
                 official: Reader, ctx: Ctx, db: DbSession):
    row = published.version(db, process, version)
    defn = published.definition(row)
    before = published.previous(db, row)
    nodes, edges = process_map(defn)
    listed = {v.version: v for v in published.versions(db, process).get(process, [])}
    return render(request, "admin_process.html", row=row, defn=defn, before=before, listed=listed[row.version],
                  changes=diff(published.definition(before), defn) if before is not None else None,
                  nodes=nodes, edges={n.id: [e for e in edges if e.source == n.id] for n in nodes},
                  lines=row.source.splitlines(), newest=max(listed), official=official,
                  may_publish=_may_publish(official, ctx))
