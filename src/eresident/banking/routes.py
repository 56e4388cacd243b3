"""HTTP API of banking: the partner banks and their consent texts, the founder's consent and requests,
every step of a request, the video-call booking, the bank's signed callbacks, and stuck requests."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from eresident.banking import protocol, service
from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, mark_csrf_public, require
from eresident.officials.models import Official

router = APIRouter(prefix="/api/v1", tags=["banking"])
Monitor = Annotated[Official, Depends(require("banking.monitor"))]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank: str = Field(max_length=16)
    consent_text_sha256: str = Field(max_length=64)
    agree: bool


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank: str = Field(max_length=16)


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slot: str = Field(max_length=40)


@router.get("/banks", summary="The partner banks, with the consent text to share a KYC package with each")
def list_banks(ctx: Ctx) -> list[dict]:
    return service.banks(ctx)


@router.post("/formations/{formation_id}/bank-consent", status_code=201,
             summary="Before the licence: consent to share the KYC package with a bank (sent at issuance)")
def give_consent(formation_id: uuid.UUID, body: ConsentIn, applicant: CurrentApplicant, ctx: Ctx,
                 db: DbSession) -> dict:
    row = service.record_consent(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id, bank=body.bank,
                                 text_sha256=body.consent_text_sha256, agree=body.agree,
                                 actor=applicant_actor(applicant))
    return {"id": str(row.id), "bank": row.bank_code, "version": row.text_version, "text_sha256": row.text_sha256,
            "given_at": protocol.iso(row.given_at)}


@router.post("/formations/{formation_id}/bank-consent/withdrawal",
             summary="Withdraw the consent to share the KYC package with a bank (before or after the licence)")
def withdraw_formation_consent(formation_id: uuid.UUID, body: WithdrawalIn, applicant: CurrentApplicant, ctx: Ctx,
                               db: DbSession) -> dict:
    return service.withdraw_before_licence(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                           bank=body.bank, actor=applicant_actor(applicant))


@router.post("/companies/{uscc}/bank/consent-withdrawal",
             summary="Withdraw the consent to share with a bank: a request not yet sent is cancelled; one sent is "
                     "stopped and the bank told")
def withdraw_company_consent(uscc: str, body: WithdrawalIn, applicant: CurrentApplicant, ctx: Ctx,
                             db: DbSession) -> dict:
    return service.withdraw_for_company(ctx=ctx, db=db, applicant=applicant, uscc=uscc, bank=body.bank,
                                        actor=applicant_actor(applicant))


@router.post("/companies/{uscc}/bank/requests", status_code=201,
             summary="After the licence: consent and ask a bank for the company's accounts")
def new_request(uscc: str, body: ConsentIn, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> dict:
    req = service.request_after_licence(ctx=ctx, db=db, applicant=applicant, uscc=uscc, bank=body.bank,
                                        text_sha256=body.consent_text_sha256, agree=body.agree,
                                        actor=applicant_actor(applicant))
    return service.request_read(db, req)


@router.get("/companies/{uscc}/bank", summary="Every bank request of the company, with each step")
def company_bank(uscc: str, applicant: CurrentApplicant, db: DbSession) -> dict:
    reqs = service.requests_for_owner(db=db, applicant=applicant, uscc=uscc)
    return {"uscc": uscc, "requests": [service.request_read(db, r) for r in reqs]}


@router.post("/companies/{uscc}/bank/video-call", summary="Book one of the video-call slots the bank offered")
def book(uscc: str, body: SlotIn, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> dict:
    req = service.book_video_call(ctx=ctx, db=db, applicant=applicant, uscc=uscc, slot=body.slot,
                                  actor=applicant_actor(applicant))
    return service.request_read(db, req)


@router.get("/bank-requests/stuck", summary="Officials: requests without progress, or the bank not accepting them")
def stuck(official: Monitor, ctx: Ctx, db: DbSession,
          older_than_minutes: Annotated[int | None, Query(ge=1, le=525_600, description="At most a year")] = None
          ) -> list[dict]:
    return service.stuck(ctx=ctx, db=db, older_than_minutes=older_than_minutes)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _verified(request: Request, body: Annotated[bytes, Depends(_raw_body)], ctx: Ctx) -> service.VerifiedCallback:
    """Checked before a database connection is taken; the target URI is this node's own base URL."""
    query = request.url.query
    target = ctx.settings.base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    return service.verify_callback(ctx=ctx, target_uri=target, headers=headers, body=body)


@router.post("/bank-callbacks", summary="A partner bank's signed notice about a request (RFC 9421)",
             responses={401: {"description": "Refused: the problem's type names the reason"}})
def callback(verified: Annotated[service.VerifiedCallback, Depends(_verified)], ctx: Ctx, db: DbSession) -> JSONResponse:
    return JSONResponse(service.accept_callback(ctx=ctx, db=db, verified=verified))


mark_csrf_public(router.routes[-1])  # signed by the bank, no cookie: nothing for CSRF to protect
