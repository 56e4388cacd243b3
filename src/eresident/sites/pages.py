"""Pages for booking the identity check (applicant) and recording it (site agent)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, official_actor, require
from eresident.i18n import N_
from eresident.identity import presenters
from eresident.identity import service as identity
from eresident.kit.errors import FieldError, Problem
from eresident.officials.models import Official
from eresident.pages import Form, problem_errors, redirect, render
from eresident.sites import service

router = APIRouter()
Agent = Annotated[Official, Depends(require("identity_check.record"))]


@router.post("/my/applications/{application_id}/book")
def book(request: Request, application_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
         form: FormData = Form):
    try:
        starts_at = datetime.fromisoformat(str(form.get("starts_at", "")))
    except ValueError:
        raise Problem(422, N_("Choose a slot"), code="invalid-field",
                      errors=[FieldError("starts_at", N_("Choose one of the listed times."))]) from None
    service.book(ctx=ctx, db=db, applicant=applicant, application_id=application_id, starts_at=starts_at,
                 mode=str(form.get("mode", "in_person")), actor=applicant_actor(applicant))
    return redirect("/my")


@router.get("/agent")
def agent_home(request: Request, official: Agent, ctx: Ctx, db: DbSession, day: str | None = None):
    now = ctx.clock.now()
    start = datetime.combine(now.date(), time(0), ZoneInfo("UTC"))
    rows = []
    zones = {s.id: s.timezone for s in service.agent_sites(db, official)}
    for appointment in service.appointments_for(db=db, official=official, day_start=start - timedelta(days=1),
                                                day_end=start + timedelta(days=30)):
        app = identity.get_application(db=db, application_id=appointment.application_id)
        rows.append({"appointment": appointment, "app": app, "timezone": zones[appointment.site_id]})
    return render(request, "agent.html", rows=rows, sites=service.agent_sites(db, official), official=official)


@router.get("/agent/cases/{application_id}")
def agent_case(request: Request, application_id: uuid.UUID, official: Agent, ctx: Ctx, db: DbSession):
    app = service.application_for_agent(db, official, application_id)
    return render(request, "agent_check.html", case=presenters.application_detail(ctx, db, app),
                  appointment=service.current_appointment(db, app.id), values={})


@router.post("/agent/cases/{application_id}")
def agent_check(request: Request, application_id: uuid.UUID, official: Agent, ctx: Ctx, db: DbSession,
                form: FormData = Form):
    flags = {k: form.get(k) == "yes" for k in ("passport_seen", "passport_matches_mrz", "face_matches_photo")}
    try:
        service.record_identity_check(ctx=ctx, db=db, application_id=application_id, official=official,
                                      notes=str(form.get("notes", "")), actor=official_actor(official), **flags)
    except Problem as exc:
        db.rollback()
        app = service.application_for_agent(db, official, application_id)
        return render(request, "agent_check.html", exc.status, case=presenters.application_detail(ctx, db, app),
                      appointment=service.current_appointment(db, app.id), values=flags,
                      errors=problem_errors(exc))
    return redirect("/agent")
