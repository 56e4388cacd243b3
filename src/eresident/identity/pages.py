"""Pages of the e-residency journey: applicant sign-up, application, status; officials' worklist and case."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from eresident.credentials import service as credentials
from eresident.deps import Ctx, CurrentApplicant, CurrentOfficial, DbSession, applicant_actor, official_actor, require
from eresident.documents import service as documents
from eresident.documents.models import Document
from eresident.i18n import N_
from eresident.identity import accounts, countries, presenters, service
from eresident.identity.consents import CONSENTS
from eresident.identity.schemas import ApplicationCreate
from eresident.identity.timeline import timeline
from eresident.kit.errors import FieldError, Message, Problem
from eresident.officials import service as officials
from eresident.officials.models import Official
from eresident.pages import (Form, problem_errors, redirect, render, set_session_cookie, validate_partly,
                             validation_errors)
from eresident.security import service as security
from eresident.security.permissions import roles_for
from eresident.sites import service as sites
from eresident.workflow import service as workflow
from eresident.workflow.models import WorkItem
from eresident.workflow.calendar import load_calendar
from eresident.workflow.render import due_state, process_map
from eresident.workflow.semantics import CaseState

router = APIRouter()
Reviewer = Annotated[Official, Depends(require("residency.review"))]
Approver = Annotated[Official, Depends(require("residency.decide"))]
CaseReader = Annotated[Official, Depends(require("residency.read"))]


def _throttled(response, problem: Problem):
    """A throttled sign-in page says, like the API, when to try again."""
    if "retry_after" in problem.extra:
        response.headers["Retry-After"] = str(problem.extra["retry_after"])
    return response


def _sign_in_refused(problem: Problem) -> str:
    """Why sign-in is refused for now (security.check_login_allowed words it in English)."""
    if problem.status == 429 and "retry_after" in problem.extra:
        return Message.with_english(problem.detail, N_("Too many failed attempts to sign in. Wait %(minutes)s "
                                                       "minutes before you try again."),
                                    minutes=max(1, int(problem.extra["retry_after"]) // 60))
    return problem.detail or problem.title


@router.get("/")
def home(request: Request):
    return render(request, "home.html")


@router.get("/signup")
def signup_form(request: Request):
    return render(request, "signup.html", values={})


@router.post("/signup")
def signup(request: Request, ctx: Ctx, db: DbSession, form: FormData = Form):
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    try:
        from eresident.identity.schemas import ApplicantCreate

        body = ApplicantCreate(email=email, password=password, locale="en")
        _applicant, link = accounts.sign_up(ctx=ctx, db=db, email=str(body.email), password=body.password,
                                            locale=body.locale)
    except ValidationError as exc:
        return render(request, "signup.html", 422, values={"email": email}, errors=validation_errors(exc))
    except Problem as exc:
        db.rollback()
        return render(request, "signup.html", exc.status, values={"email": email},
                      errors=[FieldError(e.field or "email", e.reason) for e in problem_errors(exc)])
    return render(request, "signup_done.html", link=link if ctx.settings.demo else None)


@router.get("/confirm")
def confirm(request: Request, token: str, ctx: Ctx):
    return render(request, "confirm.html", token=token)


@router.post("/confirm")
def confirm_post(request: Request, ctx: Ctx, db: DbSession, form: FormData = Form):
    accounts.confirm_email(ctx=ctx, db=db, token=str(form.get("token", "")))
    return redirect("/login?confirmed=1")


@router.get("/login")
def login_form(request: Request, confirmed: int = 0):
    return render(request, "login.html", values={}, confirmed=bool(confirmed))


@router.post("/login")
def login(request: Request, ctx: Ctx, db: DbSession, form: FormData = Form):
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    try:
        applicant = accounts.authenticate(ctx=ctx, db=db, email=email, password=password,
                                          client_ip=request.client.host if request.client else "")
    except Problem as exc:
        return _throttled(render(request, "login.html", exc.status, values={"email": email},
                                 errors=[FieldError("email", _sign_in_refused(exc))]), exc)
    if applicant is None:
        return render(request, "login.html", 401, values={"email": email},
                      errors=[FieldError("email", N_("Wrong email or password."))])
    token = security.start_session(db=db, principal_type="applicant", principal_id=applicant.id,
                                   now=ctx.clock.now(), hours=ctx.settings.applicant_session_hours,
                                   replaces=request.cookies.get("er_session"))
    response = redirect("/my")
    set_session_cookie(request, response, token, ctx.settings.applicant_session_hours)
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx, db: DbSession):
    token = request.cookies.get("er_session")
    if token:
        security.end_session(db=db, token=token, now=ctx.clock.now())
    response = redirect("/")
    response.delete_cookie("er_session", path="/")
    return response


@router.get("/my")
def my_page(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    apps = service.applications_of(db=db, applicant=applicant)
    rows = []
    for app in apps:
        read = presenters.application_read(db, app)
        site = sites.site_by_code(db, read.site_code)
        rows.append({"app": read, "site": site, "appointment": sites.current_appointment(db, app.id),
                     "timeline": timeline(ctx, db, app),
                     "slots": sites.free_slots(ctx=ctx, db=db, site=site)[:40]
                     if app.status == "awaiting_identity_check" else []})
    return render(request, "my.html", rows=rows, confirmed=applicant.email_confirmed_at is not None,
                  resident=service.e_resident_of(db, applicant))


def _apply_context(ctx, db, values: dict) -> dict:
    return {"values": values, "countries": countries.all_countries(), "consents": CONSENTS,
            "sites": sites.sites_of_region(db, ctx.region)}


@router.get("/apply/one-page")  # GET /apply is the task list (identity/apply_pages.py); POST /apply stays
def apply_form(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    return render(request, "apply.html", **_apply_context(ctx, db, {}))


async def _upload(ctx, db, applicant, form: FormData, field: str, kind: str, required: bool):
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        if required:
            raise Problem(422, N_("A file is missing"), code="invalid-field",
                          errors=[FieldError(field, N_("Choose a file to upload."))])
        return None
    limit = ctx.settings.max_photo_bytes if kind == "photo" else ctx.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    return documents.accept_upload(db=db, store=ctx.files, owner_type="applicant", owner_id=applicant.id,
                                   kind=kind, filename=upload.filename, declared_type=upload.content_type,
                                   data=data, max_bytes=limit, now=ctx.clock.now(), field=field)


async def take_uploads(ctx, db, applicant, form: FormData, *, photo_required: bool
                       ) -> tuple[dict[str, uuid.UUID | None], list[FieldError], int]:
    """The photo and the supporting document of a form, each stored if it passes the checks: their ids
    (None when not sent or refused), the refusals, and the status to answer them with (422, or an
    upload's own: 413 for a file too large)."""
    errors: list[FieldError] = []
    status = 422
    uploaded: dict[str, uuid.UUID | None] = {}
    for field, required in (("photo", photo_required), ("supporting", False)):
        try:
            doc = await _upload(ctx, db, applicant, form, field, field, required)
            uploaded[field] = doc.id if doc is not None else None
        except Problem as problem:
            errors += problem_errors(problem)
            status = problem.status if status == 422 else status
            uploaded[field] = None
    return uploaded, errors, status


_FIELDS = ("surname", "given_names", "native_name", "birth_date", "sex", "nationality", "residence_country",
           "phone", "address", "passport_number", "passport_expiry", "purpose", "site_code")
# The form's fields in the order the page shows them, so the error summary follows the page; and the
# page's name of the body's document fields.
_PAGE_ORDER = ("answer", "surname", "given_names", "native_name", "birth_date", "sex", "nationality",
               "residence_country", "phone", "address", "passport_number", "passport_expiry", "mrz", "photo",
               "supporting", "purpose", "site_code", "consents")
_ON_PAGE = {"photo_document_id": "photo", "supporting_document_ids": "supporting"}

# What the application's pages call each answer: the check-your-answers page, and every error summary of
# the application (summary_labels).
LABELS = {"surname": N_("Surname"), "given_names": N_("Given names"), "native_name": N_("Your name in your own script"),
          "birth_date": N_("Date of birth"), "sex": N_("Sex as in the passport"), "nationality": N_("Nationality"),
          "residence_country": N_("Country where you live"), "phone": N_("Phone number"),
          "address": N_("Home address"), "passport_number": N_("Passport number"), "passport_expiry": N_("Expiry date"),
          "mrz": N_("Machine-readable zone"), "photo": N_("Your photo"), "supporting": N_("Supporting document"),
          "purpose": N_("Purpose of your e-residency"), "site_code": N_("Service site for your identity check"),
          "consent_processing": N_("Processing your personal information"),
          "consent_sensitive_data": N_("Sensitive personal information"),
          "consent_cross_region_sharing": N_("Sharing with the other region")}


def _form_name(field: str) -> str:
    """A page's error field as the section's form names it ("consents.processing" -> "consent_processing")."""
    root, _, rest = field.replace("/", ".").partition(".")
    return f"consent_{rest}" if root == "consents" else root


def summary_labels(errors: list[FieldError]) -> dict[str, str]:
    """What the error summary calls each refused answer (base.html `error_labels`): the check page shows
    no field to read a label from, and on the forms a consent's box says only "I agree"."""
    return {e.field: LABELS[_form_name(e.field)] for e in errors if _form_name(e.field) in LABELS}


def _as_on_page(errors: list[FieldError]) -> list[FieldError]:
    """The first error of each field, under the field's name on the page, in page order."""
    first: dict[str, FieldError] = {}
    for error in errors:
        root = re.split(r"[/.]", error.field, maxsplit=1)[0]
        field = _ON_PAGE.get(root, error.field)
        first.setdefault(field.replace("/", "."), FieldError(field, error.reason))

    def position(error: FieldError) -> int:
        root = re.split(r"[/.]", error.field, maxsplit=1)[0]
        return _PAGE_ORDER.index(root) if root in _PAGE_ORDER else len(_PAGE_ORDER)
    return sorted(first.values(), key=position)


async def _application_from_form(ctx, db, applicant, form: FormData, values: dict,
                                 keep_photo: uuid.UUID | None = None) -> tuple[ApplicationCreate | None, list, int]:
    """Store the uploaded files and build the same body the API takes, with every problem the
    submission would meet on its fields (the uploads, the form, the passport, consents, site): all at
    once, in page order. A photo accepted on an earlier attempt comes back as `photo_document_id`, so
    people need not choose it again. The status is 422, or an upload's own (413 for a file too large)."""
    if keep_photo is None and values.get("photo_document_id"):
        keep_photo = values["photo_document_id"]
    uploaded, errors, status = await take_uploads(ctx, db, applicant, form, photo_required=keep_photo is None)
    if uploaded["photo"] is not None:
        values["photo_document_id"] = str(uploaded["photo"])
    photo = uploaded["photo"] or keep_photo
    body = {**{k: values.get(k, "") for k in _FIELDS}, "mrz": values.get("mrz", ""),
            "supporting_document_ids": [str(uploaded["supporting"])] if uploaded["supporting"] else [],
            "consents": {p: values.get(f"consent_{p}") == "yes" for p in CONSENTS}}
    if photo is not None:
        body["photo_document_id"] = str(photo)
    data, invalid, failed = validate_partly(ApplicationCreate, body)
    errors += invalid
    if data is not None:
        errors += service.form_problems(ctx=ctx, db=db, applicant=applicant, data=data, skip=failed)
    return (None, _as_on_page(errors), status) if errors else (data, [], status)


@router.post("/apply")
async def apply(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, form: FormData = Form):
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    earlier_photo = values.get("photo_document_id")  # accepted on an earlier attempt, stored then
    body, errors, status = await _application_from_form(ctx, db, applicant, form, values)
    if body is not None:
        try:
            app = service.submit_application(ctx=ctx, db=db, applicant=applicant, data=body,
                                             actor=applicant_actor(applicant))
            return render(request, "applied.html", app=presenters.application_read(db, app))
        except Problem as exc:
            status, errors = exc.status, _as_on_page(problem_errors(exc))
    photo_id = values.get("photo_document_id")
    kept = documents.get_owned(db, photo_id, applicant.id) if photo_id else None
    # Read before the rollback; stored again as a row of its own. Its row was inserted in the
    # transaction being rolled back: the session then expunges the object with its attributes
    # expired but its identity key kept, so add()-ing it again would take it for an existing row
    # and never insert it (the photo was once lost that way), and make_transient() leaves nothing to
    # insert (tried: NOT NULL owner_type). A new object from the values read here is inserted.
    new_photo = ({a.key: getattr(kept, a.key) for a in Document.__mapper__.column_attrs}
                 if kept is not None and photo_id != earlier_photo else None)
    db.rollback()
    if kept is None:
        values.pop("photo_document_id", None)
    elif new_photo is not None:  # keep the photo accepted now across the correction
        db.add(Document(**new_photo))
    return render(request, "apply.html", status, errors=errors, error_labels=summary_labels(errors),
                  **_apply_context(ctx, db, values))


@router.get("/my/applications/{application_id}/edit")
def edit_form(request: Request, application_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    app = service.get_for_applicant(db=db, applicant=applicant, application_id=application_id)
    values = service.editable_values(ctx=ctx, db=db, app=app)
    read = presenters.application_read(db, app)
    return render(request, "apply.html", **_apply_context(ctx, db, values), resubmit=read)


@router.post("/my/applications/{application_id}/edit")
async def resubmit(request: Request, application_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx,
                   db: DbSession, form: FormData = Form):
    app = service.get_for_applicant(db=db, applicant=applicant, application_id=application_id)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    read = presenters.application_read(db, app)
    answer = values.get("answer", "").strip()
    body, errors, status = await _application_from_form(ctx, db, applicant, form, values,
                                                         keep_photo=app.photo_document_id)
    if not answer:
        errors = _as_on_page([FieldError("answer", N_("Write your answer to the reviewer's question.")), *errors])
    if body is not None and answer:
        try:
            service.resubmit_application(ctx=ctx, db=db, applicant=applicant, application_id=application_id,
                                         data=body, answer=answer, actor=applicant_actor(applicant))
            return redirect("/my")
        except Problem as exc:
            status, errors = exc.status, _as_on_page(problem_errors(exc))
    db.rollback()
    return render(request, "apply.html", status, errors=errors, error_labels=summary_labels(errors), resubmit=read,
                  **_apply_context(ctx, db, values))


@router.post("/my/credential")
def download_credential(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    import json

    from fastapi.responses import Response

    resident = service.e_resident_of(db, applicant)
    if resident is None:
        raise Problem(409, N_("You are not an e-resident yet"), code="not-e-resident",
                      detail=N_("A credential is issued once your application is approved."))
    issued = credentials.issue_e_residency(ctx=ctx, db=db, resident=resident, holder_jwk=None,
                                           actor=applicant_actor(applicant))
    return Response(json.dumps(issued, indent=2), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="e-residency-{resident.number}.json"'})


# --- officials ------------------------------------------------------------------------------

@router.get("/official/login")
def official_login_form(request: Request):
    return render(request, "official_login.html", values={})


@router.post("/official/login")
def official_login(request: Request, ctx: Ctx, db: DbSession, form: FormData = Form):
    username = str(form.get("username", ""))
    try:
        official = officials.authenticate(ctx=ctx, db=db, username=username, password=str(form.get("password", "")),
                                          code=str(form.get("totp", "")),
                                          client_ip=request.client.host if request.client else "")
    except Problem as exc:
        return _throttled(render(request, "official_login.html", exc.status, values={"username": username},
                                 errors=[FieldError("username", _sign_in_refused(exc))]), exc)
    if official is None:
        return render(request, "official_login.html", 401, values={"username": username},
                      errors=[FieldError("username", N_("Wrong username, password or code. Each code works once."))])
    token = security.start_session(db=db, principal_type="official", principal_id=official.id,
                                   now=ctx.clock.now(), hours=ctx.settings.session_hours,
                                   replaces=request.cookies.get("er_session"))
    roles = {g.role for g in official.roles if g.region == ctx.region}
    response = redirect("/agent" if roles == {"site_agent"} else "/official")
    set_session_cookie(request, response, token, ctx.settings.session_hours)
    return response


@router.get("/official")
def worklist(request: Request, official: CurrentOfficial, ctx: Ctx, db: DbSession):
    """Queues by role in this region, a page at a time (workflow/worklist.py): late first, then due
    soon, then by deadline. `?reviewer=2` shows the review queue's second page, and so on."""
    from eresident.workflow import worklist as work

    roles = {g.role for g in official.roles if g.region == ctx.region}
    now = ctx.clock.now()
    titles = {"reviewer": N_("Review"), "approver": N_("Decisions"), "admin": N_("Escalated to administrators")}
    wanted = {role: work.page_number(request.query_params.get(role, 1)) for role in titles}
    queues = [(titles[role], work.queue(db=db, role=role, region=ctx.region, process=service.PROCESS,
                                        official_id=str(official.id), now=now, page=wanted[role]))
              for role in sorted(roles & set(titles))]
    pages = {q.role: q.page for _title, q in queues}
    # The links to other areas, for the permissions their pages require (security/permissions.py).
    may = {p: bool(roles & roles_for(p)) for p in ("dashboard.read", "enterprise.read", "officials.manage",
                                                     "workflow.read")}
    return render(request, "worklist.html", queues=queues, pages=pages, roles=sorted(roles), official=official,
                  now=now, may=may)


def _process_map(ctx, db, app) -> dict:
    """The published process this case runs on, with where the case is and what is due."""
    case = workflow.case_for(db, "application", app.id)
    defn = workflow.definition_of(db, case)
    nodes, edges = process_map(defn, CaseState.from_json(case.state))
    items = {i.step: i for i in db.scalars(select(WorkItem).where(WorkItem.case_id == case.id))}
    now, calendar = ctx.clock.now(), load_calendar(defn.calendar)
    due = {step: due_state(i.due_at, now, calendar, overdue=i.overdue) for step, i in items.items()}
    return {"process": case.process, "version": case.version, "work": items, "due": due,
            "nodes": nodes, "edges": {n.id: [e for e in edges if e.source == n.id] for n in nodes}}


@router.get("/official/cases/{application_id}")
def case_page(request: Request, application_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession):
    app = service.get_application(db=db, application_id=application_id)
    detail = presenters.application_detail(ctx, db, app)
    return render(request, "case.html", case=detail, official=official, process=_process_map(ctx, db, app),
                  can_review="reviewer" in {g.role for g in official.roles if g.region == ctx.region},
                  can_decide="approver" in {g.role for g in official.roles if g.region == ctx.region})


@router.post("/official/cases/{application_id}/{action}")
def case_action(request: Request, application_id: uuid.UUID, action: str, official: CaseReader, ctx: Ctx,
                db: DbSession, form: FormData = Form):
    roles = {g.role for g in official.roles if g.region == ctx.region}
    actor = official_actor(official)
    text = str(form.get("text", ""))
    needs = {"claim": "reviewer", "release": "reviewer", "request-info": "reviewer", "recommend": "reviewer",
             "decide": "approver"}
    if action not in needs:
        raise Problem(404, N_("Not found"), code="not-found")
    if needs[action] not in roles:
        raise Problem(403, N_("Forbidden"), code="forbidden",
                      detail=Message(N_("This needs the %(role)s role."), role=Message(needs[action])))
    try:
        if action == "claim":
            service.claim(ctx=ctx, db=db, application_id=application_id, official=official, actor=actor)
        elif action == "release":
            service.release(ctx=ctx, db=db, application_id=application_id, official=official, actor=actor)
        elif action == "request-info":
            if len(text.strip()) < 5:
                raise Problem(422, N_("Say what you need"), code="invalid-field",
                              errors=[FieldError("text", N_("Write at least a short sentence."))])
            service.request_information(ctx=ctx, db=db, application_id=application_id, official=official,
                                        message=text, actor=actor)
        elif action == "recommend":
            service.recommend(ctx=ctx, db=db, application_id=application_id, official=official,
                              recommendation=str(form.get("choice", "")), note=text, actor=actor)
        else:
            service.decide(ctx=ctx, db=db, application_id=application_id, official=official,
                           decision=str(form.get("choice", "")), reasons=text, actor=actor)
    except Problem as exc:
        db.rollback()
        app = service.get_application(db=db, application_id=application_id)
        return render(request, "case.html", exc.status, case=presenters.application_detail(ctx, db, app),
                      process=_process_map(ctx, db, app),
                      official=official, can_review="reviewer" in roles, can_decide="approver" in roles,
                      errors=[FieldError(e.field or "text", e.reason) for e in problem_errors(exc)],
                      kept={"action": action, "choice": str(form.get("choice", "")), "text": text})
    return redirect(f"/official/cases/{application_id}")
