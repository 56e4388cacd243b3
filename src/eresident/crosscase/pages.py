"""Pages of cross-region cases for e-residents: file a company formation that another region
handles, follow it (which region handles it, every step), sign the articles at home, download the
licence. The same rules as the API; a refused form shows the message beside the field."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from eresident.crosscase import service
from eresident.crosscase.models import CrossRegionCase
from eresident.crosscase.routes import _numbers
from eresident.crosscase.schemas import CrossCaseIn
from eresident.documents.service import download
from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor
from eresident.documents.licence_pdf import CURRENCIES_ZH
from eresident.enterprise import catalogue
from eresident.enterprise import pages as company_pages
from eresident.enterprise import service as enterprise
from eresident.federation import service as federation
from eresident.i18n import N_
from eresident.identity.models import EResident
from eresident.kit.context import NodeContext
from eresident.identity import countries
from eresident.kit.errors import FieldError, Problem, not_found
from eresident.pages import Form, redirect, render

router = APIRouter(include_in_schema=False)
BASE = "/my/cross-region-cases"
# The service's texts for a case's status and its events (service.STATUSES, service.WHAT; the
# formation's statuses are marked in enterprise/pages.py), marked for the catalogues: the pages show
# them in the reader's language. tests/test_i18n.py checks that these and the service's texts agree.
STATUS_MESSAGES = (N_("Filed here, on its way to the handling region"),)
EVENT_MESSAGES = (
    N_("Filed"), N_("Received by the handling region; the articles are drawn up for signature"),
    N_("Not accepted by the handling region"), N_("Signed"), N_("Every signatory has signed"),
    N_("A reviewer took the case"), N_("The reviewer made a recommendation"),
    N_("Approved: the business licence is issued"), N_("Refused"), N_("A decision was recorded"),
    N_("The business licence was revoked"),
)


def _regions(ctx: NodeContext) -> list[tuple[str, str]]:
    return [(code, service.region_name(ctx, code)) for code in federation.peers(ctx)]


def _form_errors(errors: list[FieldError], scope: list[str]) -> list[FieldError]:
    """API field paths (formation/…, name/…) as the form's field names."""
    plain = []
    for e in errors:
        field = e.field.removeprefix("formation/").removeprefix("name/")
        plain.append(FieldError(field, e.reason))
    return company_pages._scope_errors(plain, scope)


def _form(request: Request, ctx: NodeContext, db: Session, resident: EResident, values: dict, scope: list[str],
          status: int = 200, errors: list[FieldError] | None = None):
    version, measures = catalogue.negative_list()
    region = values.get("handling_region") or next(iter(federation.peers(ctx)), "")
    address = enterprise.SERVICE_ADDRESS.get(region, ("", "the handling region's registered-address service"))
    return render(request, "company_form.html", status, errors=errors, values=values, chosen=set(scope),
                  resident=resident, name=None, formation=None, rows=company_pages.ROWS,
                  currencies=sorted(CURRENCIES_ZH), items=list(catalogue.catalogue().values()),
                  measures=measures, negative_list_version=version, service_address=address,
                  cross_regions=_regions(ctx), form_action=f"{BASE}/new", countries=countries.all_countries())


def _resident(db: Session, applicant, ctx: NodeContext) -> EResident:
    resident = enterprise.active_resident(db, applicant, ctx.region)
    if resident.region != ctx.region:
        raise Problem(403, N_("Forbidden"), code="forbidden", detail=service.home_region_only(resident.region))
    return resident


@router.get(BASE)
def cases(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    resident = _resident(db, applicant, ctx)
    rows = service.cases_of(db=db, applicant=applicant, numbers=_numbers(db, applicant))
    return render(request, "cross_cases.html", resident=resident, rows=rows, statuses=service.STATUSES,
                  regions=dict(_regions(ctx)), mine=applicant.id)


@router.get(f"{BASE}/new")
def new(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    resident = _resident(db, applicant, ctx)
    values = {"investors/0/e_resident_number": resident.number, "investors/0/share_percent": "100",
              "legal_representative/e_resident_number": resident.number,
              "directors/0/e_resident_number": resident.number, "currency": "CNY", "address/kind": "service_site"}
    return _form(request, ctx, db, resident, values, [])


@router.post(f"{BASE}/new")
def file(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, form: FormData = Form):
    resident = _resident(db, applicant, ctx)
    values = company_pages._values(form)
    scope = [c for c in form.getlist("business_scope") if isinstance(c, str)]
    body = company_pages._formation_body(db, ctx, values, scope)
    body.pop("name_reservation_id", None)
    try:
        data = CrossCaseIn.model_validate({
            "handling_region": values.get("handling_region", ""),
            "name": {"name_zh": values.get("name_zh", ""), "name_en": values.get("name_en", "")},
            "formation": body, "consent_to_transfer": values.get("consent_to_transfer") == "yes"})
        case = service.file_case(ctx=ctx, db=db, applicant=applicant, data=data, actor=applicant_actor(applicant))
    except (ValidationError, Problem) as exc:
        db.rollback()
        status, errors = company_pages._refused(exc, scope)
        return _form(request, ctx, db, resident, values, scope, status, _form_errors(errors, scope))
    return redirect(f"{BASE}/{case.case_number}")


def _page(request: Request, ctx: NodeContext, db: Session, applicant, case: CrossRegionCase, status: int = 200,
          errors: list[FieldError] | None = None):
    resident = db.query(EResident).filter(EResident.applicant_id == applicant.id,
                                          EResident.region == ctx.region).first()
    mine = next((s for s in case.signatories if resident is not None
                 and s["e_resident_number"] == resident.number), None)
    can_sign = mine is not None and mine["signed_at"] is None and case.status == "awaiting_signatures" \
        and case.articles_sha256 is not None
    digest = case.articles_sha256 or ""
    return render(request, "cross_case.html", status, errors=errors, case=case, events=service.events_of(db, case),
                  statuses=service.STATUSES, what=service.WHAT, owner=case.applicant_id == applicant.id,
                  handling_name=service.region_name(ctx, case.handling_region),
                  filed_name=service.region_name(ctx, case.filed_region), can_sign=can_sign, resident=resident,
                  digest=digest, digest_groups=[digest[i:i + 8] for i in range(0, len(digest), 8)])


@router.get(BASE + "/{case_number}")
def one(request: Request, case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    case = service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number)
    return _page(request, ctx, db, applicant, case)


@router.post(BASE + "/{case_number}/sign")
def sign(request: Request, case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
         form: FormData = Form):
    values = company_pages._values(form)
    try:
        company_pages.confirmed(values)
        service.sign(ctx=ctx, db=db, applicant=applicant, case_number=case_number,
                     document_sha256=values.get("document_sha256", ""), actor=applicant_actor(applicant))
    except Problem as exc:
        db.rollback()
        case = service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number)
        return _page(request, ctx, db, applicant, case, exc.status, company_pages.sign_errors(exc))
    return redirect(f"{BASE}/{case_number}")


@router.get(BASE + "/{case_number}/articles")
def articles(case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    case = service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number)
    return download(ctx, db, case.articles_document_id, "Articles")


@router.get(BASE + "/{case_number}/licence")
def licence(case_number: str, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    case = service.get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number)
    if case.applicant_id != applicant.id:
        raise not_found(N_("Licence"))
    return download(ctx, db, case.licence_document_id, "Licence")
