"""HTTP API for officials: sign in with password and TOTP."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from eresident.deps import Ctx, CurrentOfficial, DbSession
from eresident.identity.schemas import OfficialLogin, TokenResponse
from eresident.i18n import N_
from eresident.kit.errors import Problem
from eresident.officials import service
from eresident.security import service as security

router = APIRouter(prefix="/api/v1/officials", tags=["officials"])


@router.post("/login", response_model=TokenResponse, summary="Sign in as an official (password and TOTP)")
def login(body: OfficialLogin, request: Request, ctx: Ctx, db: DbSession) -> JSONResponse:
    official = service.authenticate(ctx=ctx, db=db, username=body.username, password=body.password,
                                    code=body.totp, client_ip=request.client.host if request.client else "")
    if official is None:
        problem = Problem(401, N_("Wrong username, password or code"), code="bad-credentials",
                          detail=N_("Check all three and try again. Each code works once."))
        return JSONResponse(problem.to_dict(request.url.path), status_code=401,
                            media_type="application/problem+json")
    now = ctx.clock.now()
    token = security.start_session(db=db, principal_type="official", principal_id=official.id, now=now,
                                   hours=ctx.settings.session_hours)
    return JSONResponse(TokenResponse(token=token, expires_at=now + timedelta(hours=ctx.settings.session_hours),
                                      csrf_token=ctx.csrf.header_token("s:" + token)).model_dump(mode="json"))


@router.get("/me", summary="Who I am and what I may do here")
def me(official: CurrentOfficial, ctx: Ctx) -> dict:
    return {"username": official.username, "display_name": official.display_name,
            "home_region": official.home_region, "acting_region": ctx.region,
            "roles": sorted({g.role for g in official.roles if g.region == ctx.region})}
