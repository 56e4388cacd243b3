"""Request dependencies, declared once: the node, the unit of work, who is signed in, what they may do.

Deny by default: every unsafe request passes the CSRF check unless its route is marked public,
and every route that needs a person asks for one here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.routing import BaseRoute
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor
from eresident.identity.models import Applicant
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem, forbidden
from eresident.kit.models import UsedFormToken
from eresident.officials.models import Official
from eresident.officials.service import actor_for, has_role
from eresident.security import service as security
from eresident.security.permissions import roles_for

SESSION_COOKIE = "er_session"
PRESESSION_COOKIE = "er_pre"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_CSRF = "public_csrf"  # a route attribute: its requests need no CSRF token


def mark_csrf_public(route: BaseRoute) -> None:
    """Exempt a route from the CSRF check: say why where it is called."""
    setattr(route, PUBLIC_CSRF, True)


async def get_ctx(request: Request) -> NodeContext:
    # async: FastAPI runs a sync dependency in the thread pool, a hand-off for nothing here.
    return request.app.state.ctx


Ctx = Annotated[NodeContext, Depends(get_ctx)]


def session_token(request: Request) -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie (which needs CSRF protection)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(SESSION_COOKIE), True


def csrf_binding(request: Request) -> str:
    token, from_cookie = session_token(request)
    if token and from_cookie:
        return "s:" + token
    cookie = request.cookies.get(PRESESSION_COOKIE)
    return "p:" + (cookie if cookie else getattr(request.state, "new_presession", ""))


async def csrf_protect(request: Request) -> None:
    """Unsafe requests that carry ambient authority (a cookie, or a browser form) need a token
    bound to that browser. Form tokens are single use: their nonce is stored with the change."""
    if request.method not in UNSAFE or getattr(request.scope.get("route"), PUBLIC_CSRF, False):
        return
    token, from_cookie = session_token(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_form = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    if (token and not from_cookie) or (not is_form and not token):
        return  # a bearer-token or anonymous JSON call: no ambient authority to abuse
    ctx: NodeContext = request.app.state.ctx
    supplied = request.headers.get("x-csrf-token")
    if supplied is None and is_form:
        form = await request.form()
        field = form.get("csrf_token")
        supplied = field if isinstance(field, str) else None
    binding = csrf_binding(request)
    # An empty binding ("p:" with no pre-session cookie) would accept anyone's token.
    nonce = ctx.csrf.check(supplied, binding) if binding not in ("p:", "s:") else None
    if nonce is None:
        raise Problem(403, "This form is no longer valid", code="csrf",
                      detail="Reload the page and submit the form again.")
    if is_form:
        request.state.form_nonce = nonce


async def _request_slot(request: Request) -> AsyncIterator[bool]:
    ctx: NodeContext = request.app.state.ctx
    async with ctx.database.request_slot(write=request.method in UNSAFE) as held:
        yield held


def _db(request: Request, slot_held: Annotated[bool, Depends(_request_slot, scope="function")]) -> Iterator[Session]:
    ctx: NodeContext = request.app.state.ctx
    write = request.method in UNSAFE
    with ctx.database.session(write=write, slot_held=slot_held) as db:
        nonce = getattr(request.state, "form_nonce", None)
        if write and nonce and nonce != "-":
            db.add(UsedFormToken(nonce=nonce, used_at=ctx.clock.now()))
            try:
                db.flush()
            except IntegrityError:
                db.rollback()
                raise Problem(409, "This form was already submitted", code="form-replayed",
                              detail="Nothing was changed. Go back to your page to see where things "
                                     "stand.") from None
        yield db


# scope="function": the transaction commits before the response is sent, so what a client was
# told happened has happened.
DbSession = Annotated[Session, Depends(_db, scope="function")]


def current_applicant(request: Request, ctx: Ctx, db: DbSession) -> Applicant:
    token, _ = session_token(request)
    # One query: the live session and its applicant together (this runs on every request).
    applicant = security.session_principal(db=db, token=token, model=Applicant, principal_type="applicant",
                                           now=ctx.clock.now()) if token else None
    if applicant is None:
        raise Problem(401, "Sign in to continue", code="unauthenticated",
                      detail="Your session has ended or you are not signed in.")
    request.state.principal = applicant
    return applicant


def current_official(request: Request, ctx: Ctx, db: DbSession) -> Official:
    token, _ = session_token(request)
    official = security.session_principal(db=db, token=token, model=Official, principal_type="official",
                                          now=ctx.clock.now()) if token else None
    if official is None or not official.active:
        raise Problem(401, "Sign in to continue", code="unauthenticated",
                      detail="Your session has ended or you are not signed in.")
    request.state.principal = official
    return official


CurrentApplicant = Annotated[Applicant, Depends(current_applicant)]
CurrentOfficial = Annotated[Official, Depends(current_official)]


def require(permission: str):
    """A dependency that yields the official if one of their roles in this region grants `permission`."""
    roles = roles_for(permission)

    def dependency(official: CurrentOfficial, ctx: Ctx) -> Official:
        if not any(has_role(official, role, ctx.region) for role in roles):
            raise forbidden(f"This needs the role {' or '.join(sorted(roles))} in region {ctx.region}.")
        return official

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return dependency


def applicant_actor(applicant: Applicant) -> Actor:
    return Actor("applicant", str(applicant.id))


def official_actor(official: Official) -> Actor:
    return actor_for(official)
