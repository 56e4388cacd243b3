"""The founder's page of the company's tax registration and its filing deadlines."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from eresident.deps import Ctx, CurrentApplicant, DbSession
from eresident.i18n import N_
from eresident.pages import render
from eresident.tax import service

router = APIRouter(include_in_schema=False)
# The service's status texts (service.STATUS_TEXT), marked for the catalogues: the page shows them in
# the reader's language. tests/test_i18n.py checks that these and the service's texts stay the same.
STATUS_MESSAGES = (
    N_("Registered with the tax office"),
    N_("Registered; the application for general taxpayer status waits for a tax officer"),
    N_("Registered; a tax officer is reviewing the application for general taxpayer status"),
)


@router.get("/my/companies/{uscc}/tax")
def tax_page(request: Request, uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    reg = service.registration_for_owner(db=db, applicant=applicant, uscc=uscc)
    today = service._today(ctx)
    items = service.obligations(ctx=ctx, reg=reg, since=today, until=today + timedelta(days=370))
    return render(request, "company_tax.html", reg=reg, status_text=service.status_text(reg), items=items,
                  today=today, officer=service.officer_name(db, reg))
