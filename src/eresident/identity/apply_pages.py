"""The e-residency application as a task list (GOV.UK patterns): one section per page, the answers kept
in a draft on the server (identity/drafts.py), check your answers, then the confirmation with the case
number. Everything works without JavaScript; the photo page shows upload progress when it runs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor
from eresident.documents import service as documents
from eresident.i18n import N_
from eresident.identity import drafts, presenters, service
from eresident.identity.drafts import SECTIONS, Section
from eresident.identity.pages import LABELS, _apply_context, _as_on_page, _form_name, summary_labels, take_uploads
from eresident.identity.schemas import ApplicationCreate
from eresident.kit.errors import FieldError, Problem
from eresident.pages import Form, problem_errors, redirect, render, validate_partly

router = APIRouter()
BODY_FIELDS = frozenset(ApplicationCreate.model_fields)


def _section(slug: str) -> Section:
    if slug not in drafts.BY_SLUG:
        raise Problem(404, N_("Not found"), code="not-found")
    return drafts.BY_SLUG[slug]


@router.get("/apply")
def task_list(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    draft = drafts.draft_of(db, applicant)
    values = drafts.answers(ctx, draft)
    tasks = [(s, drafts.status(s, values, draft)) for s in SECTIONS]
    return render(request, "apply_tasks.html", tasks=tasks, complete=drafts.complete(values),
                  done=sum(1 for _s, st in tasks if st == "completed"))


def _answer_rows(ctx, db, values: dict, draft) -> list[dict]:
    """Each section with its answers as the check page shows them."""
    sites = {s.code: f"{s.name}, {s.city}" for s in _apply_context(ctx, db, {})["sites"]}
    docs = {"photo": [draft.photo_document_id] if draft and draft.photo_document_id else [],
            "supporting": list(draft.supporting_document_ids) if draft else []}
    rows = []
    for section in SECTIONS:
        answers = []
        for name in section.fields:
            value = values.get(name, "")
            if name in docs:
                found = [documents.get_owned(db, d, draft.applicant_id) for d in docs[name]]
                value = ", ".join(d.filename for d in found if d is not None)
            elif name == "site_code":
                value = sites.get(value, value)
            answers.append({"name": name, "label": LABELS[name], "value": value,
                            "anchor": f"consents-{name[8:]}" if name.startswith("consent_") else name})
        rows.append({"section": section, "answers": answers})
    return rows


@router.get("/apply/check")
def check_answers(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    draft = drafts.draft_of(db, applicant)
    values = drafts.answers(ctx, draft)
    if not drafts.complete(values):
        return redirect("/apply")
    return render(request, "apply_check.html", rows=_answer_rows(ctx, db, values, draft))


@router.post("/apply/check")
def submit_answers(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    """Every problem of the whole application (cross-field ones too: the MRZ against the typed names), each
    linked to its section's page; else the submission, and the draft goes in the same transaction."""
    draft = drafts.draft_of(db, applicant)
    values = drafts.answers(ctx, draft)
    if draft is None or not drafts.complete(values):
        return redirect("/apply")
    data, errors, failed = validate_partly(ApplicationCreate, drafts.body(values, draft))
    if data is not None:
        errors += service.form_problems(ctx=ctx, db=db, applicant=applicant, data=data, skip=failed)
    status = 422
    if data is not None and not errors:
        try:
            app = service.submit_application(ctx=ctx, db=db, applicant=applicant, data=data,
                                             actor=applicant_actor(applicant))
            db.delete(draft)
            return render(request, "applied.html", app=presenters.application_read(db, app))
        except Problem as exc:
            status, errors = exc.status, problem_errors(exc)
    errors = _as_on_page(errors)
    rows = _answer_rows(ctx, db, values, draft)
    links = {}
    for error in errors:
        section = drafts.section_of(error.field) if error.field else None
        if section is not None:
            links[error.field] = f"/apply/{section.slug}"  # base.html adds the field's #anchor
    db.rollback()
    return render(request, "apply_check.html", status, errors=errors, rows=rows, error_links=links,
                  error_labels=summary_labels(errors))


@router.get("/apply/{slug}")
def section_form(request: Request, slug: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    section = _section(slug)
    draft = drafts.draft_of(db, applicant)
    return render(request, "apply_section.html", section=section, **_section_context(ctx, db, draft,
                                                                                      drafts.answers(ctx, draft)))


def _section_context(ctx, db, draft, values: dict) -> dict:
    photo = (documents.get_owned(db, draft.photo_document_id, draft.applicant_id)
             if draft is not None and draft.photo_document_id else None)
    supporting = [documents.get_owned(db, d, draft.applicant_id) for d in draft.supporting_document_ids] \
        if draft is not None else []
    return {**_apply_context(ctx, db, values), "photo": photo, "supporting": [d for d in supporting if d]}


@router.post("/apply/{slug}")
async def section_save(request: Request, slug: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
                       form: FormData = Form):
    """Check this section's answers alone and keep the right ones in the draft; back to the task list
    when all are right, else the page again with each problem beside its field."""
    section = _section(slug)
    draft = drafts.draft_of(db, applicant)
    kept = drafts.answers(ctx, draft)
    values = dict(kept)
    errors: list[FieldError] = []
    status = 422
    if section.slug == "documents":
        uploaded, errors, status = await take_uploads(
            ctx, db, applicant, form, photo_required=draft is None or draft.photo_document_id is None)
        draft = drafts.save(ctx, db, applicant, values, draft=draft)
        drafts.set_documents(draft, photo=uploaded["photo"], supporting=uploaded["supporting"])
    else:
        for name in section.fields:
            typed = form.get(name)
            values[name] = typed if isinstance(typed, str) else ""
    # Only this section is checked: every other field counts as invalid already, so no check compares it.
    data, invalid, failed = validate_partly(ApplicationCreate, drafts.body(values, draft))
    errors += invalid
    if data is not None:
        skip = failed | (BODY_FIELDS - set(section.body_fields))
        errors += service.form_problems(ctx=ctx, db=db, applicant=applicant, data=data, skip=frozenset(skip))
    errors = [e for e in _as_on_page(errors) if drafts.section_of(e.field) is section]
    done = set(values.get(drafts.DONE, []))
    stored = dict(values)
    for error in errors:  # a wrong answer is not kept; the one before it stays
        stored[_form_name(error.field)] = kept.get(_form_name(error.field), "")
    if errors:
        done.discard(section.slug)
    else:
        done.add(section.slug)
    stored[drafts.DONE] = sorted(done)
    draft = drafts.save(ctx, db, applicant, stored, draft=draft)
    if not errors:
        return redirect("/apply")
    db.flush()
    return render(request, "apply_section.html", status, errors=errors, section=section,
                  error_labels=summary_labels(errors), **_section_context(ctx, db, draft, values))

