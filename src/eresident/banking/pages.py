"""The founder's page of the company's bank accounts: ask a partner bank (with consent to the
exact text), follow each step, book the video call the bank asks for, withdraw the consent."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from eresident.banking import service
from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor
from eresident.i18n import N_
from eresident.kit.errors import FieldError, Problem
from eresident.pages import Form, problem_errors, redirect, render

router = APIRouter(include_in_schema=False)
# The service's status texts (service.STATUS_TEXT), marked for the catalogues: the page shows them in
# the reader's language. tests/test_i18n.py checks that these and the service's texts stay the same.
STATUS_MESSAGES = (
    N_("Waiting to be sent to the bank"), N_("The bank is checking the KYC package"),
    N_("The bank asks for a video call: book one of the offered slots"),
    N_("Your video-call booking is being sent to the bank"), N_("Video call booked: the bank decides after the call"),
    N_("The bank refused to open the accounts"), N_("Accounts opened"),
    N_("Cancelled: you withdrew your consent before the request was sent"),
    N_("Stopped: you withdrew your consent after the request was sent"),
)


def _page(request: Request, ctx, db, applicant, uscc: str, status: int = 200, errors: list[FieldError] | None = None):
    # Times (slots, steps) are written in Beijing time in the reader's language by the template.
    requests = [service.request_read(db, r) for r in service.requests_for_owner(db=db, applicant=applicant, uscc=uscc)]
    for r in requests:
        r["slot_choices"] = (r.get("video_call") or {}).get("slots") or []
    asked = {r["bank"] for r in requests}
    return render(request, "company_bank.html", status, errors=errors, uscc=uscc, requests=requests,
                  banks=[b for b in service.banks(ctx) if b["code"] not in asked])


def _form(form: FormData) -> dict:
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


@router.get("/my/companies/{uscc}/bank")
def bank_page(request: Request, uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    return _page(request, ctx, db, applicant, uscc)


def _act(request: Request, uscc: str, applicant, ctx, db, action, *, fields: dict[str, str] | None = None) -> object:
    """Run `action`; a refusal re-renders the page with the message beside the field, nothing written.
    `fields` renames a refused field to the one the page shows (a bank's own consent box)."""
    try:
        action()
    except Problem as exc:
        db.rollback()
        errors = [FieldError((fields or {}).get(e.field or "bank", e.field or "bank"), e.reason)
                  for e in problem_errors(exc)]
        return _page(request, ctx, db, applicant, uscc, exc.status, errors)
    return redirect(f"/my/companies/{uscc}/bank")


@router.post("/my/companies/{uscc}/bank/requests")
def ask(request: Request, uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, form: FormData = Form):
    values = _form(form)
    return _act(request, uscc, applicant, ctx, db, lambda: service.request_after_licence(
        ctx=ctx, db=db, applicant=applicant, uscc=uscc, bank=values.get("bank", ""),
        text_sha256=values.get("consent_text_sha256", ""), agree=values.get("agree") == "yes",
        actor=applicant_actor(applicant)), fields={"agree": f"agree-{values.get('bank', '')}"})


@router.post("/my/companies/{uscc}/bank/video-call")
def book(request: Request, uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, form: FormData = Form):
    values = _form(form)
    return _act(request, uscc, applicant, ctx, db, lambda: service.book_video_call(
        ctx=ctx, db=db, applicant=applicant, uscc=uscc, slot=values.get("slot", ""),
        actor=applicant_actor(applicant)))


@router.post("/my/companies/{uscc}/bank/withdrawal")
def withdraw(request: Request, uscc: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
             form: FormData = Form):
    values = _form(form)
    return _act(request, uscc, applicant, ctx, db, lambda: service.withdraw_for_company(
        ctx=ctx, db=db, applicant=applicant, uscc=uscc, bank=values.get("bank", ""),
        actor=applicant_actor(applicant)))
