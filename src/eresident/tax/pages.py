"""The founder's page of the company's tax registration and its filing deadlines."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from eresident.deps import Ctx, CurrentApplicant, DbSession
from eresident.pages import render
from eresident.tax import service

router = APIRouter(include_in_schema=False)


@router.get("/my/companies/{uscc}/tax")
def tax_page(request: Request, uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    reg = service.registration_for_owner(db=db, applicant=applicant, uscc=uscc)
    today = service._today(ctx)
    items = service.obligations(ctx=ctx, reg=reg, since=today, until=today + timedelta(days=370))
    return render(request, "company_tax.html", reg=reg, status_text=service.status_text(reg), items=items,
                  today=today, officer=service.officer_name(db, reg))
