"""HTTP API and pages of the cadre exchange: propose, answer and withdraw secondments; the home's
vouching credential; the secondee's sign-in at the host; the exchange overview."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

from eresident.deps import Ctx, CurrentOfficial, DbSession, official_actor, require
from eresident.federation import secondment as service
from eresident.federation.keys import iso
from eresident.kit.errors import FieldError, Problem
from eresident.officials import secondees
from eresident.officials.models import Official
from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment
from eresident.officials.secondment_schemas import (
    SecondeeLogin,
    SecondmentAnswer,
    SecondmentCreate,
    SecondmentReason,
)
from eresident.pages import Form, problem_errors, redirect, render, set_session_cookie

router = APIRouter(tags=["cadre exchange"])
pages = APIRouter(include_in_schema=False)
Manager = Annotated[Official, Depends(require("secondment.manage"))]
Reader = Annotated[Official, Depends(require("secondment.read"))]


def _out(row: OutgoingSecondment, ctx) -> dict:
    return {"id": str(row.id), "host_region": row.host_region, "term_start": iso(row.term_start),
            "term_end": iso(row.term_end), "host_roles": list(row.host_roles), "department": row.department,
            "purpose": row.purpose, "status": row.status,
            "phase": secondees.phase(row.status, row.term_start, row.term_end, ctx.clock.now())}


def _in(row: IncomingSecondment, ctx) -> dict:
    return {"id": str(row.id), "home_region": row.home_region, "official": row.home_username,
            "display_name": row.display_name, "term_start": iso(row.term_start), "term_end": iso(row.term_end),
            "host_roles": list(row.host_roles), "department": row.department, "status": row.status,
            "phase": secondees.phase(row.status, row.term_start, row.term_end, ctx.clock.now())}


@router.post("/api/v1/secondments", status_code=201,
             summary="Home: propose one of this region's officials for a term in another region")
def propose(body: SecondmentCreate, official: Manager, ctx: Ctx, db: DbSession) -> dict:
    row = service.propose(ctx=ctx, db=db, official_username=body.official, host_region=body.host_region,
                          term_start=body.term_start, term_end=body.term_end, host_roles=body.host_roles,
                          department=body.department, purpose=body.purpose, actor=official_actor(official))
    return _out(row, ctx)


@router.get("/api/v1/secondments", summary="Exchange overview: officials out and in, terms, cases handled")
def overview(official: Reader, ctx: Ctx, db: DbSession) -> dict:
    return secondees.overview(ctx=ctx, db=db)


@router.post("/api/v1/secondments/{secondment_id}/accept", summary="Host: accept a proposed secondment")
def accept(secondment_id: uuid.UUID, body: SecondmentAnswer, official: Manager, ctx: Ctx, db: DbSession) -> dict:
    return _in(service.accept(ctx=ctx, db=db, secondment_id=secondment_id, note=body.note,
                              actor=official_actor(official)), ctx)


@router.post("/api/v1/secondments/{secondment_id}/decline", summary="Host: decline a proposed secondment")
def decline(secondment_id: uuid.UUID, body: SecondmentReason, official: Manager, ctx: Ctx, db: DbSession) -> dict:
    return _in(service.decline(ctx=ctx, db=db, secondment_id=secondment_id, reason=body.reason,
                               actor=official_actor(official)), ctx)


@router.post("/api/v1/secondments/{secondment_id}/withdraw",
             summary="Home: withdraw a secondment; the host ends the secondee's access at once")
def withdraw(secondment_id: uuid.UUID, body: SecondmentReason, official: Manager, ctx: Ctx,
             db: DbSession) -> dict:
    return _out(service.withdraw(ctx=ctx, db=db, secondment_id=secondment_id, reason=body.reason,
                                 actor=official_actor(official)), ctx)


@router.get("/api/v1/officials/me/secondments", summary="Home: my secondments")
def my_secondments(official: CurrentOfficial, ctx: Ctx, db: DbSession) -> list[dict]:
    return [_out(row, ctx) for row in service.mine(db=db, official=official)]


@router.post("/api/v1/officials/me/secondments/{secondment_id}/credential",
             summary="Home: a short-lived, single-use credential vouching for me at the host")
def credential(secondment_id: uuid.UUID, official: CurrentOfficial, ctx: Ctx, db: DbSession) -> dict:
    return service.issue_credential(ctx=ctx, db=db, official=official, secondment_id=secondment_id)


@router.post("/api/v1/officials/secondee-login",
             summary="Host: sign in as a secondee with the home node's vouching credential",
             responses={401: {"description": "Refused: the problem's type names the reason"}})
def secondee_login(body: SecondeeLogin, ctx: Ctx, db: DbSession) -> JSONResponse:
    _official, token, ends = service.secondee_login(ctx=ctx, db=db, token=body.credential)
    return JSONResponse({"token": token, "expires_at": iso(ends),
                         "csrf_token": ctx.csrf.header_token("s:" + token)})


# --- pages --------------------------------------------------------------------------------------

@pages.get("/official/exchange")
def exchange_page(request: Request, official: Reader, ctx: Ctx, db: DbSession):
    return render(request, "exchange.html", overview=secondees.overview(ctx=ctx, db=db), official=official)


@pages.get("/official/secondments")
def my_secondments_page(request: Request, official: CurrentOfficial, ctx: Ctx, db: DbSession):
    rows = [_out(row, ctx) for row in service.mine(db=db, official=official)]
    return render(request, "secondments.html", rows=rows, official=official, issued=None)


@pages.post("/official/secondments/{secondment_id}/credential")
def credential_page(request: Request, secondment_id: uuid.UUID, official: CurrentOfficial, ctx: Ctx,
                    db: DbSession, form: FormData = Form):
    rows = [_out(row, ctx) for row in service.mine(db=db, official=official)]
    try:
        issued = service.issue_credential(ctx=ctx, db=db, official=official, secondment_id=secondment_id)
    except Problem as exc:
        db.rollback()
        return render(request, "secondments.html", exc.status, rows=rows, official=official, issued=None,
                      errors=problem_errors(exc))
    return render(request, "secondments.html", rows=rows, official=official, issued=issued)


@pages.get("/official/secondee-login")
def secondee_login_form(request: Request):
    return render(request, "secondee_login.html")


@pages.post("/official/secondee-login")
def secondee_login_page(request: Request, ctx: Ctx, db: DbSession, form: FormData = Form):
    try:
        _official, token, ends = service.secondee_login(ctx=ctx, db=db, token=str(form.get("credential", "")).strip())
    except Problem as exc:
        db.rollback()
        return render(request, "secondee_login.html", 401 if exc.status == 401 else exc.status,
                      errors=[FieldError("credential", e.reason) for e in problem_errors(exc)])
    response = redirect("/official")
    hours = max(1, int((ends - ctx.clock.now()).total_seconds() // 3600) + 1)
    set_session_cookie(request, response, token, min(hours, ctx.settings.session_hours))
    return response
