"""HTTP API of cross-region cases: the founder files, follows and signs at their home node;
officials of either region read the shared history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.crosscase import service
from eresident.crosscase.models import CrossRegionCase
from eresident.crosscase.schemas import CrossCaseIn, CrossCaseRead, CrossSignIn, EventRead, SignatoryRead
from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, require
from eresident.documents.service import download
from eresident.i18n import N_
from eresident.identity.models import EResident
from eresident.kit.context import NodeContext
from eresident.kit.errors import not_found
from eresident.kit.openapi import PDF_RESPONSE
from eresident.officials.models import Official

router = APIRouter(prefix="/api/v1", tags=["cross-region cases"])
CaseReader = Annotated[Official, Depends(require("enterprise.read"))]
BASE = "/api/v1/cross-region-cases"


def case_read(ctx: NodeContext, db: Session, case: CrossRegionCase, *, official: bool = False) -> CrossCaseRead:
    handled_here = case.handling_region == ctx.region
    own = f"{BASE}/{case.case_number}" if not official else None
    return CrossCaseRead(
        case_number=case.case_number, service=case.service, title=case.title, filed_region=case.filed_region,
        filed_region_name=service.region_name(ctx, case.filed_region), handling_region=case.handling_region,
        handling_region_name=service.region_name(ctx, case.handling_region), handled_here=handled_here,
        status=case.status, status_text=service.STATUSES.get(case.status, case.status),
        signatories=[SignatoryRead(e_resident_number=s["e_resident_number"], signed=s["signed_at"] is not None)
                     for s in case.signatories],
        articles_sha256=case.articles_sha256,
        articles_url=f"{own}/articles" if own and case.articles_document_id else None,
        licence_url=f"{own}/licence" if own and case.licence_document_id else None,
        result=case.result if case.decided_at else None,
        events=[EventRead(seq=e.seq, at=e.at, region=e.region, status=e.status, what=e.what, detail=e.detail)
                for e in service.events_of(db, case)],
        created_at=case.created_at, updated_at=case.updated_at, decided_at=case.decided_at)


def _numbers(db: Session, applicant) -> list[str]:
    return list(db.scalars(select(EResident.number).where(EResident.applicant_id == applicant.id)))


@router.post("/cross-region-cases", status_code=201, response_model=CrossCaseRead,
             summary="File here a service that another region handles (a company formation there)")
def file_case(body: CrossCaseIn, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> CrossCaseRead:
    case = service.file_case(ctx=ctx, db=db, applicant=applicant, data=body, actor=applicant_actor(applicant))
    return case_read(ctx, db, case)


@router.get("/cross-region-cases", response_model=list[CrossCaseRead],
            summary="My cases handled by another region, and those I am asked to sign")
def mine(applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> list[CrossCaseRead]:
    return [case_read(ctx, db, c) for c in service.cases_of(db=db, applicant=applicant,
                                                              numbers=_numbers(db, applicant))]


@router.get("/cross-region-cases/{case_number}", response_model=CrossCaseRead,
            summary="A case: which region handles it, its status and its history")
def one(case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> CrossCaseRead:
    return case_read(ctx, db, service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number))


@router.get("/cross-region-cases/{case_number}/articles", summary="The articles to read and sign (PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def articles(case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    case = service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number)
    return download(ctx, db, case.articles_document_id, "Articles")


@router.get("/cross-region-cases/{case_number}/licence", summary="The business licence the handling region "
                                                                 "issued (signed PDF)", response_class=Response,
            responses=PDF_RESPONSE)
def licence(case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    case = service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number)
    if case.applicant_id != applicant.id:
        raise not_found(N_("Licence"))
    return download(ctx, db, case.licence_document_id, "Licence")


@router.post("/cross-region-cases/{case_number}/signatures", status_code=201, response_model=CrossCaseRead,
             summary="Sign the articles (the SHA-256 of what you read); the signature goes to the handling region")
def sign(case_number: str, body: CrossSignIn, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> CrossCaseRead:
    case = service.sign(ctx=ctx, db=db, applicant=applicant, case_number=case_number,
                        document_sha256=body.document_sha256, actor=applicant_actor(applicant))
    return case_read(ctx, db, case)


@router.get("/official/cross-region-cases", response_model=list[CrossCaseRead],
            summary="Cases filed here for another region, or filed elsewhere and handled here")
def for_officials(official: CaseReader, ctx: Ctx, db: DbSession) -> list[CrossCaseRead]:
    return [case_read(ctx, db, c, official=True) for c in service.list_for_official(ctx=ctx, db=db)]


@router.get("/official/cross-region-cases/{case_number}", response_model=CrossCaseRead,
            summary="A cross-region case's shared history")
def for_official(case_number: str, official: CaseReader, ctx: Ctx, db: DbSession) -> CrossCaseRead:
    return case_read(ctx, db, service.for_official(ctx=ctx, db=db, case_number=case_number), official=True)
