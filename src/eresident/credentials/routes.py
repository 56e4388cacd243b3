"""HTTP API for credentials: issuer metadata, the status list, issuance and verification."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from eresident.credentials import service
from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor
from eresident.i18n import N_
from eresident.identity import service as identity
from eresident.kit.errors import Problem

router = APIRouter(tags=["credentials"])


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holder_jwk: dict | None = Field(default=None, description="Your public key (Ed25519 or P-256). "
                                    "If you leave it out, we make a key pair and give you the private key once.")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: str = Field(min_length=10, max_length=20000)


@router.get("/.well-known/jwt-vc-issuer", summary="SD-JWT VC issuer metadata with the region's keys")
def issuer_metadata(ctx: Ctx) -> JSONResponse:
    return JSONResponse(service.issuer_metadata(ctx), headers={"Cache-Control": "public, max-age=300"})


@router.get("/status-lists/{list_id}", summary="Token status list (statuslist+jwt)")
def status_list(list_id: str, ctx: Ctx, db: DbSession) -> Response:
    if list_id != service.STATUS_LIST:
        raise Problem(404, N_("Status list not found"), code="not-found")
    return Response(service.status_list_token(ctx=ctx, db=db), media_type="application/statuslist+jwt",
                    headers={"Cache-Control": "public, max-age=60"})


@router.post("/api/v1/credentials/e-residency", status_code=201,
             summary="Issue my e-residency credential (SD-JWT VC)")
def issue(body: IssueRequest, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> dict:
    resident = identity.e_resident_of(db, applicant)
    if resident is None:
        raise Problem(409, N_("You are not an e-resident yet"), code="not-e-resident",
                      detail=N_("A credential is issued once your application is approved."))
    return service.issue_e_residency(ctx=ctx, db=db, resident=resident, holder_jwk=body.holder_jwk,
                                     actor=applicant_actor(applicant))


@router.post("/api/v1/credentials/verify", summary="Check whether a credential is genuine and current")
def verify(body: VerifyRequest, ctx: Ctx, db: DbSession) -> dict:
    return service.verify(ctx=ctx, db=db, presentation=body.credential)
