"""Request dependencies, declared once: the node, the unit of work, who is signed in, what they may do.

Deny by default: every unsafe request passes the CSRF check unless its route is marked public,
and every route that needs a person asks for one here.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
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
T = TypeVar("T")


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


@contextmanager
def _request_session(request: Request, ctx: NodeContext, slot_held: bool) -> Iterator[Session]:
    """The request's one transaction; a browser form's single-use token is stored with its change."""
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


async def _db(request: Request,
              slot_held: Annotated[bool, Depends(_request_slot, scope="function")]) -> AsyncIterator[Session]:
    """The request's session. A request that holds SQLite's write slot opens and ends it in the event
    loop: nothing can make it wait (it is the only writer, MEASURED.md trap 1), and each hand-off to
    a worker thread is a trip through the GIL. Any other request does both in a worker thread."""
    unit = _request_session(request, request.app.state.ctx, slot_held)
    request.state.db_inline = slot_held
    if slot_held:
        with unit as db:
            yield db
        return
    db = await run_in_threadpool(unit.__enter__)
    try:
        yield db
    except BaseException:
        await run_in_threadpool(unit.__exit__, *sys.exc_info())  # rolls back; never swallows it
        raise
    await run_in_threadpool(unit.__exit__, None, None, None)


# scope="function": the transaction commits before the response is sent, so what a client was
# told happened has happened.
DbSession = Annotated[Session, Depends(_db, scope="function")]


async def beside_session(request: Request, work: Callable[..., T], *args) -> T:
    """Run `work` where the request's session lives: in the event loop if `_db` opened it there,
    else in a worker thread."""
    if getattr(request.state, "db_inline", False):
        return work(*args)
    return await run_in_threadpool(work, *args)


def _signed_in(request: Request, ctx: NodeContext, db: Session, model, principal_type: str):
    token, _ = session_token(request)
    # One query: the live session and its principal together (this runs on every request).
    principal = security.session_principal(db=db, token=token, model=model, principal_type=principal_type,
                                           now=ctx.clock.now()) if token else None
    if principal is None or (isinstance(principal, Official) and not principal.active):
        raise Problem(401, "Sign in to continue", code="unauthenticated",
                      detail="Your session has ended or you are not signed in.")
    request.state.principal = principal
    return principal


async def current_applicant(request: Request, ctx: Ctx, db: DbSession) -> Applicant:
    return await beside_session(request, _signed_in, request, ctx, db, Applicant, "applicant")


async def current_official(request: Request, ctx: Ctx, db: DbSession) -> Official:
    return await beside_session(request, _signed_in, request, ctx, db, Official, "official")


CurrentApplicant = Annotated[Applicant, Depends(current_applicant)]
CurrentOfficial = Annotated[Official, Depends(current_official)]


def require(permission: str):
    """A dependency that yields the official if one of their roles in this region grants `permission`."""
    roles = roles_for(permission)

    def check(official: Official, region: str) -> Official:
        if not any(has_role(official, role, region) for role in roles):  # may load the roles
            raise forbidden(f"This needs the role {' or '.join(sorted(roles))} in region {region}.")
        return official

    async def dependency(request: Request, official: CurrentOfficial, ctx: Ctx) -> Official:
        return await beside_session(request, check, official, ctx.region)

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return dependency


def applicant_actor(applicant: Applicant) -> Actor:
    return Actor("applicant", str(applicant.id))


def official_actor(official: Official) -> Actor:
    return actor_for(official)
