"""HTTP API of tax: the founder's declaration before the licence, the company's registration and
obligations, and the tax officers' worklist (claim, decide)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, official_actor, require
from eresident.officials.models import Official
from eresident.tax import service
from eresident.tax.models import TaxRegistration

router = APIRouter(prefix="/api/v1", tags=["tax"])
TaxOfficer = Annotated[Official, Depends(require("tax.review"))]


class TaxPreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    projected_annual_sales: Decimal = Field(ge=0, le=Decimal("1e15"), max_digits=17, decimal_places=2,
                                            description="CNY, the company's projected annual taxable sales")
    apply_general_taxpayer: bool = False
    reason: str = Field(default="", max_length=2000)


class TaxDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve_general", "refuse_general"]
    note: str = Field(default="", max_length=2000)


def registration_read(db: Session, reg: TaxRegistration) -> dict:
    return {"id": str(reg.id), "tax_number": reg.tax_number, "uscc": reg.tax_number, "name_zh": reg.name_zh,
            "established_on": reg.established_on.isoformat(), "status": reg.status,
            "status_text": service.status_text(reg), "taxpayer_status": reg.taxpayer_status,
            "status_basis": reg.status_basis, "general_application": reg.general_application,
            "projected_annual_sales": str(reg.projected_annual_sales),
            "tax_office": {"code": reg.tax_office_code, "name_zh": reg.tax_office_name_zh,
                           "name_en": reg.tax_office_name_en},
            "officer": service.officer_name(db, reg), "fapiao": reg.fapiao,
            "registered_at": reg.registered_at.isoformat(),
            "decided_at": reg.decided_at.isoformat() if reg.decided_at else None,
            "decision_note": reg.decision_note,
            "obligations_url": f"/api/v1/companies/{reg.tax_number}/tax/obligations"}


@router.put("/formations/{formation_id}/tax-preferences",
            summary="Before the licence: declare projected sales and apply for general VAT taxpayer status")
def put_preferences(formation_id: uuid.UUID, body: TaxPreferencesIn, applicant: CurrentApplicant, ctx: Ctx,
                    db: DbSession) -> dict:
    row = service.set_preferences(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                  projected_annual_sales=body.projected_annual_sales,
                                  apply_general=body.apply_general_taxpayer, reason=body.reason,
                                  actor=applicant_actor(applicant))
    return {"formation_id": str(formation_id), "projected_annual_sales": str(row.projected_annual_sales),
            "apply_general_taxpayer": row.apply_general, "reason": row.reason}


@router.get("/companies/{uscc}/tax", summary="The company's tax registration (for its founder)")
def get_registration(uscc: str, applicant: CurrentApplicant, db: DbSession) -> dict:
    return registration_read(db, service.registration_for_owner(db=db, applicant=applicant, uscc=uscc))


@router.get("/companies/{uscc}/tax/obligations",
            summary="The company's filing obligations with their deadlines (moved by the region's calendar; "
                    "provisional where that calendar is not published yet)")
def get_obligations(uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
                    since: Annotated[date | None, Query(alias="from")] = None,
                    until: date | None = None) -> dict:
    reg = service.registration_for_owner(db=db, applicant=applicant, uscc=uscc)
    items = service.obligations(ctx=ctx, reg=reg, since=since, until=until)
    working = service.calendar_of(reg)
    return {"tax_number": reg.tax_number, "taxpayer_status": reg.taxpayer_status, "calendar": reg.region,
            "calendar_years": list(working.years), "calendar_provisional_years": list(working.provisional_years),
            "deadline_rule": DEADLINE_RULE, "obligations": [o.as_dict() for o in items]}


DEADLINE_RULE = (
    "A deadline on a weekend or public holiday moves to the first working day after it. A monthly or quarterly "
    "filing due on the 15th is extended, by as many working days, by the days off of every holiday of three or "
    "more consecutive days off between the 1st and the 15th (Rules for the Tax Collection Law, art. 109). "
    "basis 'published': the State Taxation Administration's calendar; 'rule': computed from the region's "
    "calendar. provisional: true means the region's holiday arrangement for that date is not published yet, "
    "so the date may still move (provisional_because says why).")


@router.get("/tax-registrations", summary="Tax officer: registrations that need a person")
def tax_worklist(official: TaxOfficer, ctx: Ctx, db: DbSession) -> list[dict]:
    return [{**registration_read(db, reg), "open_step": step,
             "assigned_to_me": reg.officer_id == official.id}
            for reg, step in service.worklist(db=db, official=official, region=ctx.region)]


@router.get("/tax-registrations/{registration_id}", summary="Tax officer: one registration")
def tax_case(registration_id: uuid.UUID, official: TaxOfficer, ctx: Ctx, db: DbSession) -> dict:
    reg = service.get_case(db=db, registration_id=registration_id, region=ctx.region)
    pref = service.preferences_of(db, reg.formation_id)
    return {**registration_read(db, reg), "application_reason": pref.reason if pref else None}


@router.post("/tax-registrations/{registration_id}/claim", summary="Tax officer: claim the review")
def tax_claim(registration_id: uuid.UUID, official: TaxOfficer, ctx: Ctx, db: DbSession) -> dict:
    reg = service.claim(ctx=ctx, db=db, registration_id=registration_id, official=official,
                        actor=official_actor(official))
    return registration_read(db, reg)


@router.post("/tax-registrations/{registration_id}/decide",
             summary="Tax officer: decide the application for general taxpayer status")
def tax_decide(registration_id: uuid.UUID, body: TaxDecisionIn, official: TaxOfficer, ctx: Ctx,
               db: DbSession) -> dict:
    reg = service.decide(ctx=ctx, db=db, registration_id=registration_id, official=official,
                         decision=body.decision, note=body.note, actor=official_actor(official))
    return registration_read(db, reg)
