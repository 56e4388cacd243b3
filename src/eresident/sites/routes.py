"""HTTP API of service sites: public opening slots, bookings, and the agent's identity check."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends

from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, official_actor, require
from eresident.i18n import N_
from eresident.identity.schemas import AppointmentCreate, IdentityCheckCreate
from eresident.kit.errors import invalid
from eresident.officials.models import Official
from eresident.sites import service

router = APIRouter(prefix="/api/v1", tags=["service sites"])
Agent = Annotated[Official, Depends(require("identity_check.record"))]


def _site_dict(site) -> dict:
    return {"code": site.code, "name": site.name, "city": site.city, "country": site.country,
            "address": site.address, "timezone": site.timezone, "modes": site.modes,
            "opening_hours": site.opening_hours, "slot_minutes": site.slot_minutes,
            "capacity": site.capacity}


@router.get("/sites", summary="This region's overseas service sites")
def sites(ctx: Ctx, db: DbSession) -> list[dict]:
    return [_site_dict(s) for s in service.sites_of_region(db, ctx.region)]


@router.get("/sites/{code}/slots", summary="Free appointment slots of a site (next 14 days)")
def slots(code: str, ctx: Ctx, db: DbSession) -> list[dict]:
    site = service.site_by_code(db, code)
    return [{"starts_at": s["starts_at"].isoformat(), "local_time": s["local"].isoformat(),
             "free": s["free"]} for s in service.free_slots(ctx=ctx, db=db, site=site)]


@router.post("/applications/{application_id}/appointment", status_code=201,
             summary="Book the identity-check appointment")
def book(application_id: uuid.UUID, body: AppointmentCreate, applicant: CurrentApplicant, ctx: Ctx,
         db: DbSession) -> dict:
    appointment = service.book(ctx=ctx, db=db, applicant=applicant, application_id=application_id,
                               starts_at=body.starts_at, mode=body.mode, actor=applicant_actor(applicant))
    return {"id": str(appointment.id), "starts_at": appointment.starts_at.isoformat(),
            "mode": appointment.mode, "status": appointment.status}


@router.get("/agent/appointments", summary="A site agent's appointments on a day (UTC)")
def agent_appointments(official: Agent, ctx: Ctx, db: DbSession, day: date | None = None) -> list[dict]:
    day = day or ctx.clock.now().date()
    if not date(2000, 1, 1) <= day <= date(2999, 12, 30):
        raise invalid("day", N_("Give a date between 2000 and 2999."))
    start = datetime.combine(day, time(0), ZoneInfo("UTC"))
    rows = service.appointments_for(db=db, official=official, day_start=start,
                                    day_end=start + timedelta(days=1))
    return [{"id": str(a.id), "application_id": str(a.application_id), "starts_at": a.starts_at.isoformat(),
             "mode": a.mode, "status": a.status} for a in rows]


@router.post("/cases/{application_id}/identity-check", status_code=201,
             summary="Record the identity check a site agent made")
def identity_check(application_id: uuid.UUID, body: IdentityCheckCreate, official: Agent, ctx: Ctx,
                   db: DbSession) -> dict:
    check = service.record_identity_check(ctx=ctx, db=db, application_id=application_id, official=official,
                                          passport_seen=body.passport_seen,
                                          passport_matches_mrz=body.passport_matches_mrz,
                                          face_matches_photo=body.face_matches_photo, notes=body.notes,
                                          actor=official_actor(official))
    return {"id": str(check.id), "outcome": check.outcome, "checked_at": check.checked_at.isoformat()}
