"""HTTP API of federation: the node's published keys, the message inbox peers post to, and the
operator's view of the queues."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from eresident.deps import Ctx, DbSession, require
from eresident.federation import service
from eresident.federation.keys import node_keys
from eresident.officials.models import Official

router = APIRouter(tags=["federation"])


@router.get("/.well-known/eresident/node-keys",
            summary="This node's region, name, base URL and federation public keys (JWKS with validity)")
def published_keys(ctx: Ctx) -> JSONResponse:
    from eresident.audit import witness
    from eresident.federation import recognition

    return JSONResponse({**node_keys(ctx.settings).document(ctx.clock.now()), **recognition.published(ctx),
                         **witness.published(ctx)},
                        headers={"Cache-Control": "public, max-age=300"})


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _verified(request: Request, body: Annotated[bytes, Depends(_raw_body)], ctx: Ctx) -> service.Verified:
    """Checked before a database connection is taken: a refused message costs no write slot.
    The target URI is this node's own base URL (what the peer signed), not the Host header."""
    query = request.url.query
    target = ctx.settings.base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    return service.verify_incoming(ctx=ctx, method=request.method, target_uri=target, headers=headers,
                                   body=body)


@router.post(service.MESSAGES_PATH, summary="Receive a signed message from a peer node (RFC 9421)",
             responses={401: {"description": "Refused: the problem's type names the reason"}})
def receive(verified: Annotated[service.Verified, Depends(_verified)], ctx: Ctx, db: DbSession) -> JSONResponse:
    answer, repeated = service.accept(ctx=ctx, db=db, verified=verified)
    return JSONResponse(answer, headers={"Federation-Repeat": "true"} if repeated else None)


@router.get("/api/v1/federation/status", summary="Queues per peer: pending, failing, oldest, last error")
def federation_status(ctx: Ctx, db: DbSession,
                      _official: Annotated[Official, Depends(require("federation.status"))]) -> dict:
    return service.status(ctx=ctx, db=db)


from eresident.federation.recognition import router as _recognition  # noqa: E402 - registers recognition.*

router.include_router(_recognition)
