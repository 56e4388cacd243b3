"""HTTP API of the e-residency journey: accounts, applications, reviews and decisions."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from eresident.deps import (SESSION_COOKIE, Ctx, CurrentApplicant, DbSession, applicant_actor,
                            beside_session, official_actor, require, session_token)
from eresident.identity import accounts, presenters, service
from eresident.identity.schemas import (ApplicantCreate, ApplicationCreate, ApplicationDetail,
                                        ApplicationRead, Decision, EResidentStatusChange,
                                        InfoRequestCreate, LoginRequest, Recommendation,
                                        ResubmitRequest, TokenResponse)
from eresident.kit.errors import Problem
from eresident.officials.models import Official
from eresident.security import service as security

router = APIRouter(prefix="/api/v1", tags=["e-residency"])

Reviewer = Annotated[Official, Depends(require("residency.review"))]
Approver = Annotated[Official, Depends(require("residency.decide"))]
CaseReader = Annotated[Official, Depends(require("residency.read"))]
StatusOfficer = Annotated[Official, Depends(require("residency.status"))]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/applicants", status_code=201, summary="Create an applicant account")
def sign_up(body: ApplicantCreate, ctx: Ctx, db: DbSession) -> dict:
    applicant, link = accounts.sign_up(ctx=ctx, db=db, email=str(body.email), password=body.password,
                                       locale=body.locale)
    result = {"id": str(applicant.id), "email_confirmation": "sent"}
    if ctx.settings.demo:  # no mail server exists on a demo node; show the link instead
        result["confirmation_link"] = link
    return result


@router.post("/applicants/confirm", summary="Confirm an email address with the mailed token")
def confirm(token: str, ctx: Ctx, db: DbSession) -> dict:
    applicant = accounts.confirm_email(ctx=ctx, db=db, token=token)
    return {"id": str(applicant.id), "confirmed": True}


@router.post("/auth/login", response_model=TokenResponse, summary="Sign in as an applicant")
def login(body: LoginRequest, request: Request, ctx: Ctx, db: DbSession) -> JSONResponse:
    applicant = accounts.authenticate(ctx=ctx, db=db, email=body.email, password=body.password,
                                      client_ip=client_ip(request))
    if applicant is None:
        # The failure is recorded; commit it and answer 401 without raising.
        problem = Problem(401, "Wrong email or password", code="bad-credentials",
                          detail="Check both and try again.")
        return JSONResponse(problem.to_dict(request.url.path), status_code=401,
                            media_type="application/problem+json")
    token = security.start_session(db=db, principal_type="applicant", principal_id=applicant.id,
                                   now=ctx.clock.now(), hours=ctx.settings.applicant_session_hours)
    expires = ctx.clock.now().replace(microsecond=0)
    return JSONResponse(TokenResponse(
        token=token, expires_at=expires + timedelta(hours=ctx.settings.applicant_session_hours),
        csrf_token=ctx.csrf.header_token("s:" + token)).model_dump(mode="json"))


@router.post("/auth/logout", status_code=204, summary="End this session (applicant or official)")
def logout(request: Request, ctx: Ctx, db: DbSession) -> Response:
    token, _cookie = session_token(request)
    if not token or security.resolve_session(db=db, token=token, now=ctx.clock.now()) is None:
        raise Problem(401, "Sign in to continue", code="unauthenticated",
                      detail="There is no session to end.")
    security.end_session(db=db, token=token, now=ctx.clock.now())
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/applications", status_code=201, response_model=ApplicationRead,
             summary="Submit an e-residency application (runs the automatic checks)")
async def submit(request: Request, body: ApplicationCreate, applicant: CurrentApplicant, ctx: Ctx,
                 db: DbSession) -> ApplicationRead:
    def work() -> ApplicationRead:  # the residency benchmark's hot path: in the event loop on SQLite
        app = service.submit_application(ctx=ctx, db=db, applicant=applicant, data=body,
                                         actor=applicant_actor(applicant))
        return presenters.application_read(db, app, site_code=body.site_code)

    return await beside_session(request, work)


@router.get("/applications", response_model=list[ApplicationRead], summary="My applications")
def mine(applicant: CurrentApplicant, db: DbSession) -> list[ApplicationRead]:
    return [presenters.application_read(db, a) for a in service.applications_of(db=db, applicant=applicant)]


@router.get("/applications/{application_id}", response_model=ApplicationRead, summary="One of my applications")
def one(application_id: uuid.UUID, applicant: CurrentApplicant, db: DbSession) -> ApplicationRead:
    app = service.get_for_applicant(db=db, applicant=applicant, application_id=application_id)
    return presenters.application_read(db, app)


@router.post("/applications/{application_id}/resubmit", response_model=ApplicationRead,
             summary="Answer a request for information with corrected details")
def resubmit(application_id: uuid.UUID, body: ResubmitRequest, applicant: CurrentApplicant, ctx: Ctx,
             db: DbSession) -> ApplicationRead:
    data = ApplicationCreate.model_validate(body.model_dump(exclude={"answer"}))
    app = service.resubmit_application(ctx=ctx, db=db, applicant=applicant, application_id=application_id,
                                       data=data, answer=body.answer, actor=applicant_actor(applicant))
    return presenters.application_read(db, app)


# --- officials -------------------------------------------------------------------------------

@router.get("/cases", response_model=list[ApplicationRead], summary="Worklist of e-residency cases")
def cases(official: CaseReader, ctx: Ctx, db: DbSession, status: str | None = None) -> list[ApplicationRead]:
    statuses = (status,) if status else ("awaiting_review", "in_review", "awaiting_decision")
    if any(s not in service.STATUSES for s in statuses):
        raise Problem(422, "Unknown status", code="invalid-field", detail=f"status: use one of "
                      f"{', '.join(service.STATUSES)}")
    return [presenters.application_read(db, a)
            for a in service.worklist(db=db, statuses=statuses, region=ctx.region)]


@router.get("/cases/{application_id}", response_model=ApplicationDetail, summary="A case with its evidence")
def case(application_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession) -> ApplicationDetail:
    app = service.get_application(db=db, application_id=application_id)
    return presenters.application_detail(ctx, db, app)


@router.post("/cases/{application_id}/claim", response_model=ApplicationRead)
def claim(application_id: uuid.UUID, official: Reviewer, ctx: Ctx, db: DbSession) -> ApplicationRead:
    app = service.claim(ctx=ctx, db=db, application_id=application_id, official=official,
                        actor=official_actor(official))
    return presenters.application_read(db, app)


@router.post("/cases/{application_id}/release", response_model=ApplicationRead)
def release(application_id: uuid.UUID, official: Reviewer, ctx: Ctx, db: DbSession) -> ApplicationRead:
    app = service.release(ctx=ctx, db=db, application_id=application_id, official=official,
                          actor=official_actor(official))
    return presenters.application_read(db, app)


@router.post("/cases/{application_id}/request-info", response_model=ApplicationRead)
def request_info(application_id: uuid.UUID, body: InfoRequestCreate, official: Reviewer, ctx: Ctx,
                 db: DbSession) -> ApplicationRead:
    app = service.request_information(ctx=ctx, db=db, application_id=application_id, official=official,
                                      message=body.message, actor=official_actor(official))
    return presenters.application_read(db, app)


@router.post("/cases/{application_id}/recommend", response_model=ApplicationRead)
def recommend(application_id: uuid.UUID, body: Recommendation, official: Reviewer, ctx: Ctx,
              db: DbSession) -> ApplicationRead:
    app = service.recommend(ctx=ctx, db=db, application_id=application_id, official=official,
                            recommendation=body.recommendation, note=body.note,
                            actor=official_actor(official))
    return presenters.application_read(db, app)


@router.post("/cases/{application_id}/decide", response_model=ApplicationRead)
def decide(application_id: uuid.UUID, body: Decision, official: Approver, ctx: Ctx,
           db: DbSession) -> ApplicationRead:
    app = service.decide(ctx=ctx, db=db, application_id=application_id, official=official,
                         decision=body.decision, reasons=body.reasons, actor=official_actor(official))
    return presenters.application_read(db, app)


@router.post("/e-residents/{number}/status", summary="Suspend, reinstate or revoke an e-residency")
def change_status(number: str, body: EResidentStatusChange, official: StatusOfficer, ctx: Ctx,
                  db: DbSession) -> dict:
    resident = service.set_e_resident_status(ctx=ctx, db=db, number=number, status=body.status,
                                             reason=body.reason, actor=official_actor(official))
    return {"number": resident.number, "status": resident.status}
