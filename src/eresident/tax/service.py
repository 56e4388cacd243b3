"""The rules of tax registration: a company is registered with its licence, in the same transaction
(the USCC is the tax number), its VAT taxpayer status decided by the `tax-registration` process
(by rule, or by a tax officer for an application for general status), a tax officer assigned round
robin, its obligations computed from data, and reminders queued before each deadline."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.enterprise import service as enterprise
from eresident.i18n import N_
from eresident.identity.models import Applicant
from eresident.kit.context import NodeContext
from eresident.kit.errors import Message, conflict, invalid, not_found
from eresident.kit.mail import queue_mail
from eresident.kit.sequences import next_value
from eresident.officials.models import Official, RoleGrant
from eresident.tax import rules
from eresident.tax.models import TaxPreference, TaxRegistration, TaxReminder
from eresident.workflow import load_calendar
from eresident.workflow import service as workflow

PROCESS = "tax-registration"
SUBJECT = "tax_registration"
OFFICER_ROLE = "tax_officer"
CHINA = ZoneInfo("Asia/Shanghai")
STATUS_TEXT = {
    "registered": "Registered with the tax office",
    "awaiting_officer": "Registered; the application for general taxpayer status waits for a tax officer",
    "in_review": "Registered; a tax officer is reviewing the application for general taxpayer status",
}
BASIS = {
    "above_threshold": "General taxpayer by rule: projected annual taxable sales above CNY 5,000,000 "
                       "(tax-registration process, rule 1).",
    "small_scale": "Small-scale taxpayer by rule: projected annual taxable sales of at most CNY 5,000,000 and "
                   "no application for general status (tax-registration process, otherwise).",
    "application": "Small-scale until a tax officer decides the application for general taxpayer status.",
}


def _today(ctx: NodeContext) -> date:
    return ctx.clock.now().astimezone(CHINA).date()


# --------------------------------------------------------------------------- before the licence

def set_preferences(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                    projected_annual_sales: Decimal, apply_general: bool, reason: str,
                    actor: Actor) -> TaxPreference:
    """The founder's declaration for the tax registration, before the licence is issued."""
    formation = enterprise.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    if formation.status in ("approved", "refused"):
        raise conflict(N_("The formation is decided: the tax registration is made (or not) already."),
                       code="wrong-status")
    if apply_general and not reason.strip():
        raise invalid("reason", N_("say why the company applies for general taxpayer status "
                                   "(for example: its customers need special VAT fapiao to deduct input tax)"))
    now = ctx.clock.now()
    row = db.get(TaxPreference, formation.id)
    before = None if row is None else {"projected_annual_sales": str(row.projected_annual_sales),
                                       "apply_general": row.apply_general}
    if row is None:
        row = TaxPreference(formation_id=formation.id)
        db.add(row)
    row.projected_annual_sales, row.apply_general = projected_annual_sales, apply_general
    row.reason, row.updated_at = reason.strip(), now
    record(db=db, actor=actor, region=ctx.region, action="tax.preferences_declared", entity_type="formation",
           entity_id=formation.id, at=now, before=before,
           after={"projected_annual_sales": str(projected_annual_sales), "apply_general": apply_general})
    return row


def preferences_of(db: Session, formation_id: uuid.UUID) -> TaxPreference | None:
    return db.get(TaxPreference, formation_id)


# --------------------------------------------------------------------------- registration

def _officers(db: Session, region: str) -> list[Official]:
    return list(db.scalars(select(Official).join(RoleGrant, RoleGrant.official_id == Official.id)
                           .where(RoleGrant.role == OFFICER_ROLE, RoleGrant.region == region,
                                  Official.active.is_(True)).order_by(Official.username)))


def _assign_officer(ctx: NodeContext, db: Session) -> Official | None:
    """Round robin over the region's active tax officers, by a counter every worker shares."""
    officers = _officers(db, ctx.region)
    if not officers:
        return None  # the registration waits in the unassigned queue; any tax officer may claim it
    turn = next_value(db, f"tax-officer-rr:{ctx.region}")
    return officers[(turn - 1) % len(officers)]


def register_for_licence(*, ctx: NodeContext, db: Session, licence, formation, actor: Actor) -> TaxRegistration:
    """Register the company with the tax office, in the transaction that issues its licence: any
    failure here refuses the issuance too. Then start the bank account request the founder
    consented to, if any (banking.service), in the same transaction."""
    now = ctx.clock.now()
    pref = db.get(TaxPreference, formation.id)
    sales = pref.projected_annual_sales if pref else Decimal(0)
    applies = bool(pref and pref.apply_general)
    tax_office = rules.office(ctx.region)
    officer = _assign_officer(ctx, db)
    reg = TaxRegistration(id=uuid.uuid4(), tax_number=licence.uscc, licence_id=licence.id, formation_id=formation.id,
                          owner_applicant_id=formation.owner_applicant_id, region=ctx.region, name_zh=licence.name_zh,
                          established_on=licence.established_on, status="registered", taxpayer_status="small_scale",
                          status_basis="", general_application=applies, projected_annual_sales=sales,
                          tax_office_code=tax_office["code"], tax_office_name_zh=tax_office["name_zh"],
                          tax_office_name_en=tax_office["name_en"], officer_id=officer.id if officer else None,
                          fapiao=rules.fapiao("small_scale"), registered_at=now, decided_at=None,
                          decision_note=None, updated_at=now)
    db.add(reg)
    db.flush()
    outcome = workflow.start_case(ctx=ctx, db=db, process=PROCESS, subject_type=SUBJECT, subject_id=reg.id,
                                  facts={"projected_annual_sales": float(sales), "applies_general": applies})
    _apply_outcome(reg, outcome, now=now)
    record(db=db, actor=actor, region=ctx.region, action="tax.registered", entity_type="tax_registration",
           entity_id=reg.id, at=now,
           after={"tax_number": reg.tax_number, "taxpayer_status": reg.taxpayer_status, "status": reg.status,
                  "tax_office": reg.tax_office_code, "officer": str(reg.officer_id) if reg.officer_id else None})
    from eresident.banking import service as banking  # the next step of the founder's journey

    banking.on_licence_issued(ctx=ctx, db=db, licence=licence, formation=formation, actor=actor)
    return reg


def _apply_outcome(reg: TaxRegistration, outcome: workflow.Outcome, *, now: datetime, note: str | None = None) -> None:
    reg.status = outcome.status or reg.status
    reg.updated_at = now
    if outcome.ended is None:
        reg.status_basis = BASIS["application"]
        return
    reg.taxpayer_status = outcome.ended
    reg.fapiao = rules.fapiao(outcome.ended)
    reg.decided_at = now
    if outcome.case.decided_by == "automatic":
        reg.status_basis = BASIS["above_threshold" if outcome.ended == "general" else "small_scale"]
    else:
        reg.decision_note = note
        reg.status_basis = ("General taxpayer: the application was approved by a tax officer."
                            if outcome.ended == "general" else
                            "Small-scale taxpayer: a tax officer refused the application for general status.")


def registration_by_number(db: Session, tax_number: str) -> TaxRegistration | None:
    return db.scalar(select(TaxRegistration).where(TaxRegistration.tax_number == tax_number))


def registration_for_owner(*, db: Session, applicant: Applicant, uscc: str) -> TaxRegistration:
    """The company's registration for its founder: 422 for a malformed USCC, 404 for anyone else's."""
    licence = enterprise.licence_by_uscc(db, uscc)
    reg = registration_by_number(db, licence.uscc)
    if reg is None or reg.owner_applicant_id != applicant.id:
        raise not_found(N_("Tax registration"))
    return reg


def obligations(*, ctx: NodeContext, reg: TaxRegistration, since: date | None = None,
                until: date | None = None) -> list[rules.Obligation]:
    until = until or _today(ctx) + timedelta(days=400)
    if since is not None and until < since:
        raise invalid("until", N_("until is before from"))
    if (until - (since or reg.established_on)).days > 366 * 10:
        # a bound on the window asked for, not on the company's age: the reminder job asks about
        # the next days of companies of any age (found in review: it failed at about ten years)
        raise invalid("until", N_("at most ten years of obligations at a time"))
    return rules.obligations_for(established_on=reg.established_on, taxpayer_status=reg.taxpayer_status,
                                 working=calendar_of(reg), until=until, since=since)


def calendar_of(reg: TaxRegistration):
    """The working calendar whose holidays move the company's deadlines (its region's)."""
    return load_calendar(reg.region if reg.region in ("LJ", "TF") else "LJ")


# --------------------------------------------------------------------------- the officers' worklist

def worklist(*, db: Session, official: Official, region: str) -> list[tuple[TaxRegistration, str]]:
    roles = {g.role for g in official.roles if g.region == region}
    out = []
    for item in workflow.worklist(db=db, roles=roles, region=region, process=PROCESS):
        case = db.get_one(workflow.WorkflowCase, item.case_id)
        reg = db.get(TaxRegistration, case.subject_id)
        if reg is not None:
            out.append((reg, item.step))
    return out


def get_case(*, db: Session, registration_id: uuid.UUID, region: str) -> TaxRegistration:
    reg = db.get(TaxRegistration, registration_id)
    if reg is None or reg.region != region:
        raise not_found(N_("Tax registration"))
    return reg


def claim(*, ctx: NodeContext, db: Session, registration_id: uuid.UUID, official: Official,
          actor: Actor) -> TaxRegistration:
    reg = get_case(db=db, registration_id=registration_id, region=ctx.region)
    outcome = workflow.claim(ctx=ctx, db=db, case=workflow.case_for(db, SUBJECT, reg.id), step="review",
                             actor=workflow.engine_actor(official, ctx.region))
    _apply_outcome(reg, outcome, now=ctx.clock.now())
    record(db=db, actor=actor, region=ctx.region, action="tax.claimed", entity_type="tax_registration",
           entity_id=reg.id, at=ctx.clock.now(), after={"status": reg.status})
    return reg


DECISIONS = ("approve_general", "refuse_general")


def decide(*, ctx: NodeContext, db: Session, registration_id: uuid.UUID, official: Official, decision: str,
           note: str, actor: Actor) -> TaxRegistration:
    if decision not in DECISIONS:
        raise invalid("decision", Message(N_("one of %(choices)s"), choices=", ".join(DECISIONS)))
    reg = get_case(db=db, registration_id=registration_id, region=ctx.region)
    before = {"taxpayer_status": reg.taxpayer_status, "status": reg.status}
    outcome = workflow.act(ctx=ctx, db=db, case=workflow.case_for(db, SUBJECT, reg.id), step="review",
                           action=decision, actor=workflow.engine_actor(official, ctx.region), note=note)
    _apply_outcome(reg, outcome, now=ctx.clock.now(), note=note or None)
    record(db=db, actor=actor, region=ctx.region, action="tax.status_decided", entity_type="tax_registration",
           entity_id=reg.id, at=ctx.clock.now(), before=before,
           after={"taxpayer_status": reg.taxpayer_status, "status": reg.status, "decision": decision})
    owner = db.get_one(Applicant, reg.owner_applicant_id)
    queue_mail(db=db, to=owner.email, now=ctx.clock.now(),
               subject=f"Your VAT taxpayer status: {reg.taxpayer_status.replace('_', '-')}",
               body=f"{reg.name_zh} ({reg.tax_number}): {reg.status_basis}\n"
                    + (f"The tax officer's note: {note}\n" if note else ""))
    return reg


# --------------------------------------------------------------------------- reminders

def queue_reminders(*, ctx: NodeContext, db: Session, days_before: int | None = None) -> int:
    """Queue a mail to the founder for every obligation due within `days_before` days that has
    no reminder yet. Idempotent: the (registration, obligation) key is unique."""
    days = rules.reminder_days_before() if days_before is None else days_before
    today = _today(ctx)
    queued = 0
    for reg in db.scalars(select(TaxRegistration).order_by(TaxRegistration.registered_at)):
        due_soon = obligations(ctx=ctx, reg=reg, since=today, until=today + timedelta(days=days))
        if not due_soon:
            continue
        done = set(db.scalars(select(TaxReminder.obligation_key).where(TaxReminder.registration_id == reg.id)))
        owner = None
        for ob in due_soon:
            if ob.key in done:
                continue
            owner = owner or db.get_one(Applicant, reg.owner_applicant_id)
            try:
                with db.begin_nested():
                    mail = queue_mail(db=db, to=owner.email, now=ctx.clock.now(),
                                      subject=f"{ob.title} due {ob.due_on.isoformat()}",
                                      body=f"{reg.name_zh} (tax number {reg.tax_number}): {ob.title} / {ob.title_zh} "
                                           f"for {ob.period_start.isoformat()} to {ob.period_end.isoformat()} is due on "
                                           f"{ob.due_on.isoformat()}"
                                           + (f" (moved from {ob.statutory_due_on.isoformat()}: {ob.moved_because})"
                                              if ob.moved_because else "")
                                           + (f".\nThis date is provisional: {ob.provisional_because}"
                                              if ob.provisional else "")
                                           + f".\nFile it with {reg.tax_office_name_en}.\n")
                    db.add(TaxReminder(registration_id=reg.id, obligation_key=ob.key, due_on=ob.due_on,
                                       queued_at=ctx.clock.now(), mail_id=mail.id))
                    db.flush()
            except IntegrityError:  # another worker queued it first: its mail stands, ours is rolled back
                continue
            queued += 1
    return queued


def status_text(reg: TaxRegistration) -> str:
    return STATUS_TEXT.get(reg.status, reg.status)


def officer_name(db: Session, reg: TaxRegistration) -> str | None:
    if reg.officer_id is None:
        return None
    official = db.get(Official, reg.officer_id)
    return official.display_name if official else None

