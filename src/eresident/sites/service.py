"""Overseas service sites: opening hours, free slots, bookings, and the agent's identity check."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.i18n import N_
from eresident.identity import service as identity
from eresident.identity.models import Applicant
from eresident.kit.context import NodeContext
from eresident.kit.errors import Message, conflict, forbidden, invalid, not_found
from eresident.officials.models import Official
from eresident.sites.models import Appointment, IdentityCheck, ServiceSite, SiteAgent

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BOOKING_DAYS_AHEAD = 28
MIN_NOTICE = timedelta(hours=2)


def site_by_code(db: Session, code: str) -> ServiceSite:
    site = db.scalar(select(ServiceSite).where(ServiceSite.code == code))
    if site is None:
        raise not_found(N_("Service site"))
    return site


def sites_of_region(db: Session, region: str) -> list[ServiceSite]:
    return list(db.scalars(select(ServiceSite).where(ServiceSite.region == region,
                                                     ServiceSite.active.is_(True))
                           .order_by(ServiceSite.name)))


def slot_starts(site: ServiceSite, day: date) -> list[datetime]:
    """Every slot start on a local calendar day, as aware UTC datetimes."""
    tz = ZoneInfo(site.timezone)
    starts = []
    for opens, closes in site.opening_hours.get(WEEKDAYS[day.weekday()], []):
        start = datetime.combine(day, time.fromisoformat(opens), tz)
        end = datetime.combine(day, time.fromisoformat(closes), tz)
        step = timedelta(minutes=site.slot_minutes)
        while start + step <= end:
            starts.append(start.astimezone(ZoneInfo("UTC")))
            start += step
    return starts


def free_slots(*, ctx: NodeContext, db: Session, site: ServiceSite, days: int = 14) -> list[dict]:
    now = ctx.clock.now()
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    until = now + timedelta(days=days + 1)
    taken: dict[datetime, int] = dict(db.execute(
        select(Appointment.starts_at, func.count()).where(
            Appointment.site_id == site.id, Appointment.seat.is_not(None),
            Appointment.starts_at >= now, Appointment.starts_at <= until)
        .group_by(Appointment.starts_at)).all())
    slots = []
    for offset in range(days):
        for start in slot_starts(site, today + timedelta(days=offset)):
            if start < now + MIN_NOTICE:
                continue
            free = site.capacity - taken.get(start, 0)
            if free > 0:
                slots.append({"starts_at": start, "free": free,
                              "local": start.astimezone(ZoneInfo(site.timezone))})
    return slots


def book(*, ctx: NodeContext, db: Session, applicant: Applicant, application_id: uuid.UUID,
         starts_at: datetime, mode: str, actor: Actor) -> Appointment:
    app = identity.get_for_applicant(db=db, applicant=applicant, application_id=application_id)
    if app.status != "awaiting_identity_check":
        raise conflict(N_("This application does not need an identity check appointment now."),
                       code="wrong-status")
    site = db.get_one(ServiceSite, app.site_id)
    if mode not in site.modes:
        raise invalid("mode", Message(N_("%(site)s offers: %(modes)s."), site=site.name, modes=", ".join(site.modes)))
    now = ctx.clock.now()
    if starts_at.tzinfo is None:
        raise invalid("starts_at", N_("Give the time with its UTC offset, e.g. 2026-12-01T09:00:00Z."))
    if not (now - timedelta(days=1) <= starts_at <= now + timedelta(days=BOOKING_DAYS_AHEAD + 1)):
        raise invalid("starts_at", N_("Choose a slot at least two hours and at most four weeks ahead."))
    starts_at = starts_at.astimezone(ZoneInfo("UTC"))
    local_day = starts_at.astimezone(ZoneInfo(site.timezone)).date()
    if starts_at not in slot_starts(site, local_day):
        raise invalid("starts_at", N_("This is not one of the site's appointment times. Choose a listed slot."))
    if starts_at < now + MIN_NOTICE or starts_at > now + timedelta(days=BOOKING_DAYS_AHEAD):
        raise invalid("starts_at", N_("Choose a slot at least two hours and at most four weeks ahead."))
    for existing in db.scalars(select(Appointment).where(Appointment.application_id == app.id,
                                                         Appointment.status == "booked")):
        existing.status = "cancelled"
        existing.seat = None  # give the seat back
    db.flush()
    taken = set(db.scalars(select(Appointment.seat).where(
        Appointment.site_id == site.id, Appointment.starts_at == starts_at,
        Appointment.seat.is_not(None))))
    seat = next((s for s in range(site.capacity) if s not in taken), None)
    if seat is None:
        raise conflict(N_("This slot has just been taken. Choose another one."), code="slot-taken")
    appointment = Appointment(site_id=site.id, application_id=app.id, starts_at=starts_at, seat=seat,
                              mode=mode, status="booked", created_at=now)
    try:
        with db.begin_nested():
            db.add(appointment)
    except IntegrityError:  # a concurrent booking took the same seat
        raise conflict(N_("This slot has just been taken. Choose another one."), code="slot-taken") from None
    record(db=db, actor=actor, region=ctx.region, action="appointment.booked", entity_type="application",
           entity_id=app.id, at=now, after={"appointment_id": str(appointment.id),
                                            "starts_at": starts_at.isoformat(), "mode": mode})
    return appointment


def current_appointment(db: Session, application_id: uuid.UUID) -> Appointment | None:
    return db.scalars(select(Appointment).where(Appointment.application_id == application_id,
                                                Appointment.status.in_(("booked", "attended")))
                      .order_by(Appointment.created_at.desc())).first()


def agent_sites(db: Session, official: Official) -> list[ServiceSite]:
    return list(db.scalars(select(ServiceSite).join(SiteAgent, SiteAgent.site_id == ServiceSite.id)
                           .where(SiteAgent.official_id == official.id)))


def assign_agent(*, ctx: NodeContext, db: Session, site: ServiceSite, official: Official, actor: Actor) -> None:
    db.add(SiteAgent(site_id=site.id, official_id=official.id))
    record(db=db, actor=actor, region=ctx.region, action="site.agent_assigned", entity_type="site",
           entity_id=site.id, at=ctx.clock.now(), after={"official": official.username})


def appointments_for(*, db: Session, official: Official, day_start: datetime, day_end: datetime) -> list[Appointment]:
    site_ids = [s.id for s in agent_sites(db, official)]
    if not site_ids:
        return []
    return list(db.scalars(select(Appointment).where(
        Appointment.site_id.in_(site_ids), Appointment.status.in_(("booked", "attended")),
        Appointment.starts_at >= day_start, Appointment.starts_at < day_end)
        .order_by(Appointment.starts_at)))


def application_for_agent(db: Session, official: Official, application_id: uuid.UUID):
    """An application a site agent may see: one with an appointment at one of their sites."""
    app = identity.get_application(db=db, application_id=application_id)
    appointment = current_appointment(db, app.id)
    if appointment is None or appointment.site_id not in {s.id for s in agent_sites(db, official)}:
        raise not_found(N_("Application"))  # not "forbidden": its existence is not revealed
    return app


def record_identity_check(*, ctx: NodeContext, db: Session, application_id: uuid.UUID, official: Official,
                          passport_seen: bool, passport_matches_mrz: bool, face_matches_photo: bool,
                          notes: str, actor: Actor) -> IdentityCheck:
    app = identity.get_application(db=db, application_id=application_id)
    appointment = current_appointment(db, app.id)
    if appointment is None or appointment.status != "booked":
        raise conflict(N_("This applicant has no booked appointment to check."), code="no-appointment")
    if appointment.site_id not in {s.id for s in agent_sites(db, official)}:
        raise forbidden(N_("You are not an agent of the site where this appointment is booked."))
    verified = passport_seen and passport_matches_mrz and face_matches_photo
    if not verified and not notes.strip():
        raise invalid("notes", N_("Say what did not match, so the reviewer can decide."))
    now = ctx.clock.now()
    check = IdentityCheck(application_id=app.id, appointment_id=appointment.id, agent_id=official.id,
                          site_id=appointment.site_id, mode=appointment.mode,
                          passport_seen=passport_seen, passport_matches_mrz=passport_matches_mrz,
                          face_matches_photo=face_matches_photo,
                          outcome="verified" if verified else "not_verified", notes=notes, checked_at=now)
    db.add(check)
    appointment.status = "attended"
    identity.identity_verified(ctx=ctx, db=db, app=app, verified=verified, actor=actor)
    return check
