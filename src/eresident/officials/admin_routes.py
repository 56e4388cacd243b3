"""HTTP API for administrators of this region: list and create officials, grant and revoke roles,
deactivate and reactivate accounts. The pages (admin_pages.py) and the CLI call the same services."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy.orm import Session

from eresident.deps import Ctx, DbSession, official_actor, require
from eresident.officials import service
from eresident.officials.admin_schemas import (OfficialCreate, OfficialCreated, OfficialRead, Role, RoleGrantCreate,
                                               RoleGrantRead)
from eresident.officials.models import Official
from eresident.officials.secondment_models import Secondee

router = APIRouter(prefix="/api/v1/officials", tags=["officials"])
Admin = Annotated[Official, Depends(require("officials.manage"))]


def official_read(official: Official, marker: Secondee | None) -> OfficialRead:
    return OfficialRead(id=official.id, username=official.username, display_name=official.display_name,
                        home_region=official.home_region, active=official.active,
                        seconded_from=marker.home_region if marker else None, created_at=official.created_at,
                        roles=[RoleGrantRead(role=g.role, region=g.region, granted_at=g.granted_at)
                               for g in sorted(official.roles, key=lambda g: (g.region, g.role))])


def _read(db: Session, official: Official) -> OfficialRead:
    return official_read(official, service.seconded(db, official))


@router.get("", response_model=list[OfficialRead], summary="This node's officials, their roles and who is seconded in")
def list_officials(_admin: Admin, db: DbSession) -> list[OfficialRead]:
    return [official_read(official, marker) for official, marker in service.list_officials(db)]


@router.post("", status_code=201, response_model=OfficialCreated,
             summary="Create an official; the answer holds the one-time password and TOTP secret, shown once")
def create(body: OfficialCreate, admin: Admin, ctx: Ctx, db: DbSession) -> OfficialCreated:
    made = service.enrol_official(ctx=ctx, db=db, username=body.username, display_name=body.display_name,
                                  roles=list(body.roles), actor=official_actor(admin))
    return OfficialCreated(official=_read(db, made.official), password=made.password,
                           totp_secret=made.totp_secret, totp_uri=made.totp_uri)


OfficialId = Annotated[uuid.UUID, Path(description="the official's id")]


@router.post("/{official_id}/roles", status_code=201, response_model=OfficialRead,
             summary="Grant a role in this region")
def grant(official_id: OfficialId, body: RoleGrantCreate, admin: Admin, ctx: Ctx, db: DbSession) -> OfficialRead:
    official = service.by_id(db, official_id)
    service.refuse_if_seconded(db, official)
    service.grant_role(ctx=ctx, db=db, official=official, role=body.role, actor=official_actor(admin))
    return _read(db, official)


@router.delete("/{official_id}/roles/{role}", response_model=OfficialRead,
               summary="Revoke a role in this region (not your own administrator role)")
def revoke(official_id: OfficialId, role: Role, admin: Admin, ctx: Ctx, db: DbSession) -> OfficialRead:
    official = service.by_id(db, official_id)
    service.revoke_role(ctx=ctx, db=db, official=official, role=role, actor=official_actor(admin))
    return _read(db, official)


@router.post("/{official_id}/deactivate", response_model=OfficialRead,
             summary="Deactivate an account: its sessions end at once (not your own)")
def deactivate(official_id: OfficialId, admin: Admin, ctx: Ctx, db: DbSession) -> OfficialRead:
    official = service.by_id(db, official_id)
    service.set_active(ctx=ctx, db=db, official=official, active=False, actor=official_actor(admin))
    return _read(db, official)


@router.post("/{official_id}/activate", response_model=OfficialRead, summary="Reactivate an account")
def activate(official_id: OfficialId, admin: Admin, ctx: Ctx, db: DbSession) -> OfficialRead:
    official = service.by_id(db, official_id)
    service.set_active(ctx=ctx, db=db, official=official, active=True, actor=official_actor(admin))
    return _read(db, official)
