"""Pages for administrators of this region: the officials, a new official (password and TOTP secret
shown once), and one official's roles and account. The API (admin_routes.py) calls the same services."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from eresident.deps import Ctx, DbSession, official_actor, require
from eresident.i18n import N_
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Problem
from eresident.officials import service
from eresident.officials.admin_schemas import OfficialCreate
from eresident.officials.models import ROLES, Official
from eresident.pages import Form, problem_errors, redirect, render, validation_errors

router = APIRouter(include_in_schema=False)
Admin = Annotated[Official, Depends(require("officials.manage"))]
BASE = "/official/admin/officials"
# What the official's page says after a change (?done=…); anything else says nothing.
NOTICES = {"granted": N_("The role was granted."), "revoked": N_("The role was revoked."),
           "deactivated": N_("The account was deactivated and its sessions have ended."),
           "reactivated": N_("The account was reactivated.")}


def qr_svg(text: str) -> Markup:
    """A QR code as inline SVG (no script, no request), named by the figure caption it sits in."""
    svg = segno.make(text, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    # segno's markup holds only path data: nothing from the request reaches it unescaped
    return Markup(svg.replace("<svg ", '<svg role="img" aria-labelledby="totp-qr-label" ', 1))


@router.get(BASE)
def officials_page(request: Request, admin: Admin, db: DbSession):
    return render(request, "admin_officials.html", rows=service.list_officials(db), official=admin)


def _new_form(request: Request, status: int = 200, *, values: dict, chosen: list[str],
              errors: list[FieldError] | None = None):
    return render(request, "admin_official_new.html", status, values=values, chosen=chosen, roles=ROLES,
                  errors=errors)


@router.get(BASE + "/new")
def new_official_form(request: Request, admin: Admin):
    return _new_form(request, values={}, chosen=[])


@router.post(BASE + "/new")
def new_official(request: Request, admin: Admin, ctx: Ctx, db: DbSession, form: FormData = Form):
    values = {name: str(form.get(name, "")).strip() for name in ("username", "display_name")}
    chosen = [str(role) for role in form.getlist("roles")]
    try:
        body = OfficialCreate.model_validate({**values, "roles": chosen})
    except ValidationError as exc:
        errors = [FieldError(e.field.split("/")[0], e.reason) for e in validation_errors(exc)]
        return _new_form(request, 422, values=values, chosen=chosen, errors=errors)
    try:
        made = service.enrol_official(ctx=ctx, db=db, username=body.username, display_name=body.display_name,
                                      roles=list(body.roles), actor=official_actor(admin))
    except Problem as exc:
        db.rollback()
        errors = [FieldError(e.field or "username", e.reason) for e in problem_errors(exc)]
        return _new_form(request, exc.status, values=values, chosen=chosen, errors=errors)
    # Rendered here, not after a redirect: the password and the secret exist in this response only.
    return render(request, "admin_official_created.html", 201, made=made, qr=qr_svg(made.totp_uri))


def _official_page(request: Request, ctx: NodeContext, db: Session, admin: Official, subject: Official,
                   status: int = 200, *, notice: str | None = None, errors: list[FieldError] | None = None):
    held_here = {g.role for g in subject.roles if g.region == ctx.region}
    return render(request, "admin_official.html", status, subject=subject, marker=service.seconded(db, subject),
                  official=admin, is_self=subject.id == admin.id, notice=notice, errors=errors,
                  grantable=[role for role in ROLES if role not in held_here])


@router.get(BASE + "/{official_id}")
def official_page(request: Request, official_id: uuid.UUID, admin: Admin, ctx: Ctx, db: DbSession,
                  done: str = ""):
    return _official_page(request, ctx, db, admin, service.by_id(db, official_id), notice=NOTICES.get(done))


def _change(request: Request, ctx: NodeContext, db: Session, admin: Official, official_id: uuid.UUID,
            change: Callable[[Official], object], *, done: str, field: str):
    """Apply one change to an official; a refusal shows their page with the reason beside `field`."""
    subject = service.by_id(db, official_id)
    try:
        change(subject)
    except Problem as exc:
        db.rollback()
        errors = [FieldError(e.field or field, e.reason) for e in problem_errors(exc)]
        return _official_page(request, ctx, db, admin, service.by_id(db, official_id), exc.status, errors=errors)
    return redirect(f"{BASE}/{official_id}?done={done}")


def _role(form: FormData, field: str) -> str:
    role = str(form.get("role", ""))
    if role not in ROLES:
        raise Problem(422, N_("Choose a role"), code="invalid-field", errors=[FieldError(field, N_("Choose a role."))])
    return role


@router.post(BASE + "/{official_id}/grant")
def grant(request: Request, official_id: uuid.UUID, admin: Admin, ctx: Ctx, db: DbSession, form: FormData = Form):
    def change(subject: Official) -> None:
        service.refuse_if_seconded(db, subject)
        service.grant_role(ctx=ctx, db=db, official=subject, role=_role(form, "role"), actor=official_actor(admin))

    return _change(request, ctx, db, admin, official_id, change, done="granted", field="role")


@router.post(BASE + "/{official_id}/revoke")
def revoke(request: Request, official_id: uuid.UUID, admin: Admin, ctx: Ctx, db: DbSession,
           form: FormData = Form):
    return _change(request, ctx, db, admin, official_id, lambda subject: service.revoke_role(
        ctx=ctx, db=db, official=subject, role=_role(form, "roles"), actor=official_actor(admin)),
        done="revoked", field="roles")


def _activation(request: Request, ctx: NodeContext, db: Session, admin: Official, official_id: uuid.UUID, *,
                active: bool):
    return _change(request, ctx, db, admin, official_id, lambda subject: service.set_active(
        ctx=ctx, db=db, official=subject, active=active, actor=official_actor(admin)),
        done="reactivated" if active else "deactivated", field="account")


@router.post(BASE + "/{official_id}/deactivate")
def deactivate(request: Request, official_id: uuid.UUID, admin: Admin, ctx: Ctx, db: DbSession,
               form: FormData = Form):
    return _activation(request, ctx, db, admin, official_id, active=False)


@router.post(BASE + "/{official_id}/reactivate")
def reactivate(request: Request, official_id: uuid.UUID, admin: Admin, ctx: Ctx, db: DbSession,
               form: FormData = Form):
    return _activation(request, ctx, db, admin, official_id, active=True)
