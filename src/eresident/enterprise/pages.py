"""Pages of company formation for e-residents: declare a name, form the company, sign the
articles, follow the case, download the licence. The same rules as the API (service.py); a
refused form re-renders with the message beside the field and writes nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from eresident.deps import Ctx, CurrentApplicant, DbSession, applicant_actor, official_actor, require
from eresident.documents.licence_pdf import CURRENCIES_ZH
from eresident.documents.service import download
from eresident.enterprise import catalogue, holder_signatures, partners, revocation, service
from eresident.enterprise.models import Formation, RegisteredName
from eresident.enterprise.schemas import FormationIn, NameRequest
from eresident.i18n import N_
from eresident.identity import countries
from eresident.identity.models import EResident
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Problem, not_found
from eresident.officials.models import Official
from eresident.officials.service import has_role
from eresident.pages import Form, problem_errors, redirect, render, validation_errors
from eresident.security.permissions import roles_for

router = APIRouter(include_in_schema=False)

ROWS = 3  # investor and director rows on the form; the API takes more
ROLE_NAMES = {"investor": N_("Investor"), "legal_representative": N_("Legal representative"),
              "director": N_("Director"), "supervisor": N_("Supervisor"), "beneficial_owner": N_("Beneficial owner")}
# The service's status texts (service.STATUSES), marked for the catalogues: the pages show them in the
# reader's language. tests/test_i18n.py checks that these and the service's texts stay the same.
STATUS_MESSAGES = (
    N_("Draft: complete it and submit it for signature"), N_("Waiting for every signatory to sign the articles"),
    N_("Waiting for a reviewer"), N_("Being reviewed"), N_("Reviewed, waiting for the decision"),
    N_("Approved: the business licence is issued"), N_("Refused"),
)


# --------------------------------------------------------------------------- helpers

def _values(form: FormData) -> dict:
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _held_reservation(ctx: NodeContext, db: Session, resident: EResident, reservation_id: str) -> RegisteredName:
    try:
        row = db.get(RegisteredName, uuid.UUID(reservation_id))
    except ValueError:
        row = None
    if row is None or row.owner_type != "e_resident" or row.owner_id != resident.id:
        raise not_found(N_("Name reservation"))
    return row


def _scope_errors(errors: list[FieldError], codes: list[str]) -> list[FieldError]:
    """`business_scope/N` (a position in the request) becomes `business_scope/CODE`, the id of
    that item's checkbox, so the summary links to it and the message sits beside it."""
    out = []
    for e in errors:
        head, _, rest = e.field.partition("/")
        if head == "business_scope" and rest.isdigit() and int(rest) < len(codes):
            out.append(FieldError(f"business_scope/{codes[int(rest)]}", e.reason))
        else:
            out.append(e)
    return out


INVESTOR_FIELDS = ("e_resident_number", "name", "country", "registration_number", "signatory_e_resident_number",
                   "partner_name", "uscc", "citizen_name", "id_number", "owner_name", "owner_country",
                   "share_percent")  # a row with none of these is left out
TERM_HINT = N_("Enter the number of years, a whole number from 1 to 70, or choose no fixed term.")


def _share(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _investors(db: Session, ctx: NodeContext, values: dict) -> tuple[list[dict], list[dict], list[int]]:
    """The investors of the form's rows, the beneficial owners derived from them, and for each owner
    the row it came from. A person with 25% or more is an owner, named as in their e-residency; a
    company names the person who ultimately owns or controls it, counted with the company's share."""
    investors: list[dict] = []
    owners: list[dict] = []
    rows: list[int] = []
    for i in range(ROWS):
        at = f"investors/{i}/"
        if i > 0 and not any(values.get(at + f) for f in INVESTOR_FIELDS):
            continue
        share = values.get(at + "share_percent", "")
        amount = _share(share)
        holds = amount is not None and amount >= service.BENEFICIAL_OWNER_THRESHOLD
        kind = values.get(at + "kind")
        if kind == "domestic_company":
            investors.append({"kind": "domestic_company", "name": values.get(at + "partner_name") or None,
                              "registration_number": values.get(at + "uscc", "").upper() or None,
                              "share_percent": share})
        elif kind == "domestic_person":
            name = values.get(at + "citizen_name", "")
            investors.append({"kind": "domestic_person", "name": name or None,
                              "id_number": values.get(at + "id_number", "").upper() or None, "share_percent": share})
            if name and holds:  # a citizen of 25% or more is a beneficial owner, as on the identity card
                owners.append({"name": name, "country": "CN", "share_percent": share})
                rows.append(i)
            continue
        elif kind == "legal":
            investors.append({"kind": "legal", "name": values.get(at + "name") or None,
                              "country": values.get(at + "country", "").upper() or None,
                              "registration_number": values.get(at + "registration_number") or None,
                              "signatory_e_resident_number":
                                  values.get(at + "signatory_e_resident_number", "").upper() or None,
                              "share_percent": share})
        if kind in ("domestic_company", "legal"):  # the person behind the company, counted with its share
            if values.get(at + "owner_name") or values.get(at + "owner_country"):
                owners.append({"name": values.get(at + "owner_name", ""),
                               "country": values.get(at + "owner_country", "").upper(), "share_percent": share})
                rows.append(i)
            continue
        number = values.get(at + "e_resident_number", "").upper()
        investors.append({"kind": "natural", "e_resident_number": number or None, "share_percent": share})
        who = service.describe_resident(db, number, ctx.region) if number and holds else None
        if who is not None:
            owners.append({"name": who[0], "country": who[1], "e_resident_number": number, "share_percent": share})
            rows.append(i)
    return investors, owners, rows


def _term_years(values: dict) -> str | None:
    """The business term as the API takes it: None for no fixed term, else the years as typed (the
    schema checks them: a whole number from 1 to 70)."""
    return values.get("term_years", "") if values.get("term/kind") == "years" else None


def _formation_body(db: Session, ctx: NodeContext, values: dict, scope: list[str]) -> dict:
    """The API body from the form: investors (people or companies), the business term, and the
    beneficial owners derived from the investors (see _investors)."""
    investors, owners, _rows = _investors(db, ctx, values)
    directors = [{"e_resident_number": values.get(f"directors/{i}/e_resident_number", "").upper()}
                 for i in range(ROWS) if i == 0 or values.get(f"directors/{i}/e_resident_number")]
    kind = values.get("address/kind", "")
    address = {"kind": kind} if kind == "service_site" else \
        {"kind": kind, "zh": values.get("address/zh") or None, "en": values.get("address/en") or None}
    return {"name_reservation_id": values.get("name_reservation_id", ""),
            "company_type": values.get("company_type") or "wfoe",
            "registered_capital": values.get("registered_capital", "").replace(",", ""),
            "currency": values.get("currency", ""), "business_scope": scope, "address": address,
            "term_years": _term_years(values), "investors": investors,
            "legal_representative": {"e_resident_number": values.get("legal_representative/e_resident_number",
                                                                     "").upper()},
            "directors": directors,
            "supervisor": {"e_resident_number": values.get("supervisor/e_resident_number", "").upper()},
            "beneficial_owners": owners}


def _form_values(formation: Formation) -> tuple[dict, list[str]]:
    """A formation as the form shows it (for a change). The owners behind company investors are given
    to the company rows in order (the form asks one per company)."""
    values: dict = {"name_reservation_id": str(formation.name_id),
                    "registered_capital": f"{formation.registered_capital.normalize():f}",
                    "currency": formation.currency, "address/kind": formation.address_kind,
                    "term/kind": "years" if formation.term_years else "indefinite",
                    "term_years": str(formation.term_years or ""), "company_type": formation.company_type}
    if formation.address_kind == "own":
        values["address/zh"], values["address/en"] = formation.address_zh, formation.address_en
    by_role: dict[str, list] = {}
    for party in formation.parties:
        by_role.setdefault(party.role, []).append(party)
    people = {p.e_resident_number for p in by_role.get("investor", []) if p.kind == "natural"}
    behind = [o for o in by_role.get("beneficial_owner", []) if o.e_resident_number not in people]
    for i, p in enumerate(by_role.get("investor", [])[:ROWS]):
        at = f"investors/{i}/"
        values[at + "share_percent"] = f"{p.share_percent.normalize():f}"
        values[at + "kind"] = p.kind
        if p.kind == "domestic_person":  # the number is not kept: the founder types it again
            values[at + "citizen_name"] = p.name
        elif p.kind == "domestic_company":
            values.update({at + "partner_name": p.name, at + "uscc": p.registration_number or ""})
            if behind:
                owner = behind.pop(0)
                values[at + "owner_name"], values[at + "owner_country"] = owner.name, owner.country
        elif p.kind == "legal":
            values.update({at + "name": p.name, at + "country": p.country,
                           at + "registration_number": p.registration_number or "",
                           at + "signatory_e_resident_number": p.e_resident_number or ""})
            if behind:
                owner = behind.pop(0)
                values[at + "owner_name"], values[at + "owner_country"] = owner.name, owner.country
        else:
            values[at + "e_resident_number"] = p.e_resident_number or ""
    for i, p in enumerate(by_role.get("director", [])[:ROWS]):
        values[f"directors/{i}/e_resident_number"] = p.e_resident_number or ""
    for role in ("legal_representative", "supervisor"):
        if by_role.get(role):
            values[f"{role}/e_resident_number"] = by_role[role][0].e_resident_number or ""
    return values, [s.code for s in formation.scope]


def _form_page(request: Request, ctx: NodeContext, db: Session, resident: EResident, name: RegisteredName,
               values: dict, scope: list[str], *, formation: Formation | None = None, status: int = 200,
               errors: list[FieldError] | None = None):
    version, measures = catalogue.negative_list()
    return render(request, "company_form.html", status, errors=errors, values=values, chosen=set(scope),
                  resident=resident, name=name, formation=formation, rows=ROWS, countries=countries.all_countries(),
                  currencies=sorted(CURRENCIES_ZH), items=list(catalogue.catalogue().values()),
                  measures=measures, negative_list_version=version,
                  service_address=service.SERVICE_ADDRESS.get(ctx.region, service.SERVICE_ADDRESS["LJ"]))


def confirmed(values: dict) -> None:
    """The signing form's box must be ticked: a signature is a deliberate act."""
    if values.get("confirm") != "yes":
        raise Problem(422, N_("Confirm before you sign"), code="invalid-field",
                      errors=[FieldError("confirm", N_("Tick the box to confirm that you have read these "
                                                       "articles and sign them."))])


def sign_errors(exc: Problem) -> list[FieldError]:
    """A refused signature as messages beside the signing form's box."""
    if exc.code == "stale-document":
        return [FieldError("confirm", N_("The articles changed after you opened this page. Read the new "
                                         "version below and sign it if you agree."))]
    return [FieldError("confirm" if e.field in ("", "document_sha256") else e.field, e.reason)
            for e in problem_errors(exc)]


def _refused(exc: ValidationError | Problem, codes: list[str], *, values: dict | None = None,
             owner_rows: list[int] | None = None) -> tuple[int, list[FieldError]]:
    """A refusal as messages beside the form's fields. `values` and `owner_rows` (from _investors)
    place the beneficial owners' problems beside the investor rows they are derived from."""
    if isinstance(exc, ValidationError):
        errors = validation_errors(exc)
        status = 422
    else:
        errors, status = problem_errors(exc), exc.status
    errors = _scope_errors(errors, codes)
    errors = [FieldError("term_years", TERM_HINT) if e.field == "term_years" else e for e in errors]
    if values is not None:
        errors = _owner_errors(errors, values, owner_rows or [])
        errors = [_partner_field(e, values) for e in errors]
    if len(errors) > 1:  # owners are derived from the investors: fix those first
        errors = [e for e in errors if not e.field.startswith("beneficial_owners")] or errors
    return status, errors


_OWNER_FIELDS = {"name": "owner_name", "country": "owner_country", "share_percent": "share_percent"}
_PARTNER_FIELDS = {"domestic_company": {"name": "partner_name", "registration_number": "uscc"},
                   "domestic_person": {"name": "citizen_name"}}


def _partner_field(error: FieldError, values: dict) -> FieldError:
    """A Chinese partner's name and USCC have inputs of their own on the form (the API calls them
    name and registration_number, as for a foreign company)."""
    parts = error.field.split("/")
    fields = _PARTNER_FIELDS.get(values.get(f"investors/{parts[1]}/kind", "")) if len(parts) == 3 else None
    if parts[0] == "investors" and fields and parts[2] in fields:
        return FieldError(f"investors/{parts[1]}/{fields[parts[2]]}", error.reason)
    return error


def _owner_errors(errors: list[FieldError], values: dict, owner_rows: list[int]) -> list[FieldError]:
    out: list[FieldError] = []
    for e in errors:
        parts = e.field.split("/")
        if parts[0] != "beneficial_owners":
            out.append(e)
        elif len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(owner_rows):
            row = owner_rows[int(parts[1])]
            field = _OWNER_FIELDS.get(parts[2], "owner_name")
            reason = (N_("Choose the country of this person's nationality.") if field == "owner_country"
                      else N_("Give this person's full name, as in their passport.") if field == "owner_name"
                      else e.reason)
            out.append(FieldError(f"investors/{row}/{field}", reason))
        else:
            unnamed = [i for i in range(ROWS) if values.get(f"investors/{i}/kind") in ("legal", "domestic_company")
                       and not values.get(f"investors/{i}/owner_name")
                       and (_share(values.get(f"investors/{i}/share_percent", "")) or 0)
                       >= service.BENEFICIAL_OWNER_THRESHOLD]
            out += [FieldError(f"investors/{i}/owner_name", N_("This company holds 25% or more: name the person "
                                                                "who ultimately owns or controls it."))
                    for i in unnamed] or [e]
    return out


# --------------------------------------------------------------------------- my companies

@router.get("/my/companies")
def companies(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    resident = service.active_resident(db, applicant, ctx.region)
    formations = service.formations_of(db=db, applicant=applicant)
    used = {f.name_id for f in formations if f.status != "refused"}
    now = ctx.clock.now()
    names = [r for r in service.reservations_of(db=db, resident=resident)
             if r.id not in used and service.reservation_held(r, now)]
    rows = [{"formation": f, "name": db.get(RegisteredName, f.name_id), "licence": service.licence_of(db, f)}
            for f in formations]
    to_sign = [{"formation": f, "name": db.get(RegisteredName, f.name_id)}
               for f in service.formations_to_sign(db=db, resident=resident)
               if f.owner_applicant_id != applicant.id]
    return render(request, "companies.html", resident=resident, rows=rows, names=names, to_sign=to_sign,
                  statuses=service.STATUSES)


# --------------------------------------------------------------------------- the name

@router.get("/my/companies/name")
def name_form(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    service.active_resident(db, applicant, ctx.region)
    return render(request, "company_name.html", values={}, verdict=None,
                  days=ctx.settings.name_reservation_days)


@router.post("/my/companies/name")
def name_post(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, form: FormData = Form):
    service.active_resident(db, applicant, ctx.region)
    values = _values(form)
    days = ctx.settings.name_reservation_days
    missing = [FieldError(f, m) for f, m in (("name_zh", N_("Enter the company's name in Chinese.")),
                                             ("name_en", N_("Enter the company's name in English.")))
               if not values.get(f)]
    if missing:
        db.rollback()
        return render(request, "company_name.html", 422, values=values, verdict=None, errors=missing, days=days)
    try:
        body = NameRequest(name_zh=values["name_zh"], name_en=values["name_en"])
    except ValidationError as exc:
        db.rollback()
        return render(request, "company_name.html", 422, values=values, verdict=None,
                      errors=validation_errors(exc), days=days)
    if values.get("action") == "reserve":
        try:
            row, _verdict = service.reserve_name(ctx=ctx, db=db, applicant=applicant, name_zh=body.name_zh,
                                                 name_en=body.name_en, actor=applicant_actor(applicant))
        except Problem as exc:
            db.rollback()
            verdict = service.check_name(ctx=ctx, db=db, name_zh=body.name_zh, name_en=body.name_en)
            return render(request, "company_name.html", exc.status, values=values, verdict=verdict,
                          errors=problem_errors(exc), days=days)
        return redirect(f"/my/companies/new?name={row.id}")
    verdict = service.check_name(ctx=ctx, db=db, name_zh=body.name_zh, name_en=body.name_en)
    errors = [FieldError(e["field"], e["reason"]) for e in verdict["errors"]]
    if errors:
        db.rollback()  # a refused check leaves no trace, not even the used form token
    return render(request, "company_name.html", 422 if errors else 200, values=values, verdict=verdict,
                  errors=errors, days=days)


# --------------------------------------------------------------------------- the formation

@router.get("/my/companies/new")
def formation_form(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, name: str = ""):
    resident = service.active_resident(db, applicant, ctx.region)
    if not name:
        return redirect("/my/companies/name")
    reservation = _held_reservation(ctx, db, resident, name)
    values = {"name_reservation_id": str(reservation.id), "currency": "USD", "address/kind": "service_site",
              "term/kind": "indefinite", "investors/0/kind": "natural",
              "investors/0/e_resident_number": resident.number, "investors/0/share_percent": "100",
              "legal_representative/e_resident_number": resident.number,
              "directors/0/e_resident_number": resident.number}
    return _form_page(request, ctx, db, resident, reservation, values, [])


@router.post("/my/companies/new")
def formation_create(request: Request, applicant: CurrentApplicant, ctx: Ctx, db: DbSession, form: FormData = Form):
    resident = service.active_resident(db, applicant, ctx.region)
    values = _values(form)
    scope = [c for c in form.getlist("business_scope") if isinstance(c, str)]
    reservation = _held_reservation(ctx, db, resident, values.get("name_reservation_id", ""))
    owner_rows = _investors(db, ctx, values)[2]
    try:
        data = FormationIn.model_validate(_formation_body(db, ctx, values, scope))
        formation = service.create_formation(ctx=ctx, db=db, applicant=applicant, data=data,
                                             actor=applicant_actor(applicant))
    except (ValidationError, Problem) as exc:
        db.rollback()
        status, errors = _refused(exc, scope, values=values, owner_rows=owner_rows)
        return _form_page(request, ctx, db, resident, db.get_one(RegisteredName, reservation.id), values, scope,
                          status=status, errors=errors)
    return redirect(f"/my/companies/{formation.id}")


@router.get("/my/companies/{formation_id}/edit")
def formation_edit(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    resident = service.active_resident(db, applicant, ctx.region)
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    values, scope = _form_values(formation)
    return _form_page(request, ctx, db, resident, db.get_one(RegisteredName, formation.name_id), values, scope,
                      formation=formation)


@router.post("/my/companies/{formation_id}/edit")
def formation_change(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx,
                     db: DbSession, form: FormData = Form):
    resident = service.active_resident(db, applicant, ctx.region)
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    values = {**_values(form), "name_reservation_id": str(formation.name_id)}
    scope = [c for c in form.getlist("business_scope") if isinstance(c, str)]
    owner_rows = _investors(db, ctx, values)[2]
    try:
        data = FormationIn.model_validate(_formation_body(db, ctx, values, scope))
        service.update_formation(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id, data=data,
                                 actor=applicant_actor(applicant))
    except (ValidationError, Problem) as exc:
        db.rollback()
        status, errors = _refused(exc, scope, values=values, owner_rows=owner_rows)
        formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
        return _form_page(request, ctx, db, resident, db.get_one(RegisteredName, formation.name_id), values, scope,
                          formation=formation, status=status, errors=errors)
    return redirect(f"/my/companies/{formation_id}")


# --------------------------------------------------------------------------- the case

def _case_page(request: Request, ctx: NodeContext, db: Session, applicant, formation: Formation,
               resident: EResident | None, status: int = 200, errors: list[FieldError] | None = None):
    sigs = service.signatures_of(db, formation)
    signed = {s.e_resident_number for s in sigs if s.status == "valid" and s.document_sha256 == formation.articles_sha256}
    shown = service.names_shown_to(formation, resident.number if resident else None, signed)
    people: dict[str, dict] = {}
    for p in formation.parties:
        if p.role != "beneficial_owner" and p.e_resident_number:
            person = people.setdefault(p.e_resident_number, {
                "name": p.name if p.e_resident_number in shown else None, "number": p.e_resident_number,
                "roles": []})
            person["roles"].append(ROLE_NAMES[p.role])
    scope = catalogue.check_scope([s.code for s in formation.scope])
    licence = service.licence_of(db, formation)
    return render(request, "company.html", status, errors=errors, formation=formation, shown=shown,
                  partners=partners.partners_of(ctx if formation.owner_applicant_id == applicant.id else None, db,
                                                formation),
                  name=db.get(RegisteredName, formation.name_id), licence=licence,
                  reason=revocation.reason(licence.revocation_reason) if licence else None,
                  owner=formation.owner_applicant_id == applicant.id, resident=resident,
                  signatories=[people[n] | {"signed": n in signed} for n in service.signatories(formation)],
                  me_to_sign=resident is not None and resident.number in people and resident.number not in signed
                  and formation.status == "awaiting_signatures",
                  parties=formation.parties, role_names=ROLE_NAMES, scope=scope.items,
                  restricted=service.restricted_of(formation), status_text=service.STATUSES.get(formation.status,
                                                                                               formation.status))


@router.get("/my/companies/{formation_id}")
def formation_page(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    formation, resident = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                                    region=ctx.region)
    return _case_page(request, ctx, db, applicant, formation, resident)


@router.post("/my/companies/{formation_id}/submit")
def formation_submit(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx,
                     db: DbSession):
    try:
        service.submit_formation(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                 actor=applicant_actor(applicant))
    except Problem as exc:
        db.rollback()
        formation, resident = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                                        region=ctx.region)
        return _case_page(request, ctx, db, applicant, formation, resident, exc.status, problem_errors(exc))
    return redirect(f"/my/companies/{formation_id}")


@router.get("/my/companies/{formation_id}/articles")
def articles(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    formation, _ = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                             region=ctx.region)
    return download(ctx, db, formation.articles_document_id, "Articles")


def _sign_page(request: Request, db: Session, formation: Formation, resident: EResident, status: int = 200,
               errors: list[FieldError] | None = None, jws: str = ""):
    roles = sorted({ROLE_NAMES[p.role] for p in formation.parties  # translated and lower-cased by the page
                    if p.e_resident_number == resident.number and p.role != "beneficial_owner"})
    digest = formation.articles_sha256 or ""
    return render(request, "company_sign.html", status, errors=errors, formation=formation, resident=resident,
                  name=db.get(RegisteredName, formation.name_id), roles=roles, digest=digest,
                  digest_groups=[digest[i:i + 8] for i in range(0, len(digest), 8)],
                  holder=holder_signatures.for_page(request.app.state.ctx, db, formation, resident), jws=jws)


@router.get("/my/companies/{formation_id}/sign")
def sign_form(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    formation, resident = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                                    region=ctx.region)
    if resident is None or resident.number not in service.signatories(formation) \
            or formation.status != "awaiting_signatures":
        return redirect(f"/my/companies/{formation_id}")
    return _sign_page(request, db, formation, resident)


@router.post("/my/companies/{formation_id}/sign")
def sign(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
         form: FormData = Form):
    values = _values(form)
    try:
        confirmed(values)
        service.sign_articles(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                              document_sha256=values.get("document_sha256", ""), actor=applicant_actor(applicant))
    except Problem as exc:
        db.rollback()
        formation, resident = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                                        region=ctx.region)
        errors = sign_errors(exc)
        if resident is None or formation.status != "awaiting_signatures":
            return _case_page(request, ctx, db, applicant, formation, resident, exc.status, errors)
        return _sign_page(request, db, formation, resident, exc.status, errors)
    return redirect(f"/my/companies/{formation_id}")


@router.post("/my/companies/{formation_id}/sign-with-key")
def sign_with_key(request: Request, formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession,
                  form: FormData = Form):
    """The signatory's own JWS over the signing input the page showed (holder_signatures.py)."""
    token = _values(form).get("jws", "")
    try:
        holder_signatures.page_sign(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id, token=token,
                                    actor=applicant_actor(applicant))
    except Problem as exc:
        db.rollback()
        formation, resident = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                                        region=ctx.region)
        errors = holder_signatures.page_errors(exc)
        if resident is None or formation.status != "awaiting_signatures":
            return _case_page(request, ctx, db, applicant, formation, resident, exc.status, errors)
        return _sign_page(request, db, formation, resident, exc.status, errors, jws=token)
    return redirect(f"/my/companies/{formation_id}")


@router.get("/my/companies/{formation_id}/licence")
def licence(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    issued = service.licence_of(db, formation)
    return download(ctx, db, issued.document_id if issued else None, "Licence")


@router.get("/my/companies/{formation_id}/report")
def report(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    return download(ctx, db, formation.report_document_id, "Report")


@router.get("/my/companies/{formation_id}/report/pdf")
def report_pdf(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession):
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    return download(ctx, db, formation.report_pdf_document_id, "Report")


# --------------------------------------------------------------------------- officials

CaseReader = Annotated[Official, Depends(require("enterprise.read"))]
Revoker = Annotated[Official, Depends(require("licence.revoke"))]


@router.get("/official/companies")
def official_companies(request: Request, official: CaseReader, ctx: Ctx, db: DbSession, q: str = ""):
    """Companies of this region: found by USCC or case number, else the latest licences."""
    return render(request, "company_cases.html", rows=service.find_companies(db=db, region=ctx.region, query=q),
                  q=q, statuses=service.STATUSES)


def _official_page(request: Request, ctx: NodeContext, db: Session, official: Official, formation: Formation,
                   status: int = 200, errors: list[FieldError] | None = None, values: dict | None = None):
    scope = catalogue.check_scope([s.code for s in formation.scope])
    signed = {s.e_resident_number for s in service.signatures_of(db, formation)
              if s.status == "valid" and s.document_sha256 == formation.articles_sha256}
    return render(request, "company_case.html", status, errors=errors, values=values or {}, formation=formation,
                  name=db.get(RegisteredName, formation.name_id), licence=service.licence_of(db, formation),
                  parties=formation.parties, role_names=ROLE_NAMES, scope=scope.items, signed=signed,
                  signatories=service.signatories(formation), restricted=service.restricted_of(formation),
                  status_text=service.STATUSES.get(formation.status, formation.status),
                  reasons=list(revocation.reasons().values()),
                  can_revoke=any(has_role(official, r, ctx.region) for r in roles_for("licence.revoke")))


@router.get("/official/companies/{formation_id}")
def official_company(request: Request, formation_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession):
    formation = service.get_case(db=db, formation_id=formation_id, region=ctx.region)
    return _official_page(request, ctx, db, official, formation)


@router.post("/official/companies/{formation_id}/revoke")
def official_revoke(request: Request, formation_id: uuid.UUID, official: Revoker, ctx: Ctx, db: DbSession,
                    form: FormData = Form):
    values = _values(form)
    formation = service.get_case(db=db, formation_id=formation_id, region=ctx.region)
    licence = service.licence_of(db, formation)
    try:
        if licence is None:
            raise Problem(409, N_("No licence"), code="not-issued", detail=N_("This company has no licence to revoke."))
        problems = service.revocation_problems(values.get("reason", ""), values.get("note", ""))
        if values.get("confirm") != "yes":
            problems.append(FieldError("confirm", N_("Tick the box to confirm that you revoke this licence: it "
                                                     "cannot be undone.")))
        if problems:
            raise Problem(422, N_("The revocation is incomplete"), code="invalid-field", errors=problems)
        service.revoke_licence(ctx=ctx, db=db, code=licence.uscc, reason=values.get("reason", ""),
                               note=values.get("note", ""), actor=official_actor(official))
    except Problem as exc:
        db.rollback()
        formation = service.get_case(db=db, formation_id=formation_id, region=ctx.region)
        errors = [FieldError(e.field if e.field in ("reason", "note", "confirm") else "", e.reason)
                  for e in problem_errors(exc)]
        return _official_page(request, ctx, db, official, formation, exc.status, errors, values)
    return redirect(f"/official/companies/{formation_id}")


@router.get("/official/companies/{formation_id}/licence")
def official_licence(formation_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession):
    issued = service.licence_of(db, service.get_case(db=db, formation_id=formation_id, region=ctx.region))
    return download(ctx, db, issued.document_id if issued else None, "Licence")


@router.get("/official/companies/{formation_id}/report")
def official_report(formation_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession):
    formation = service.get_case(db=db, formation_id=formation_id, region=ctx.region)
    return download(ctx, db, formation.report_pdf_document_id, "Report")


# --------------------------------------------------------------------------- a Chinese partner signs

def _partner_page(request: Request, ctx: NodeContext, db: Session, party_id: uuid.UUID, token: str, *,
                  status: int = 200, errors: list[FieldError] | None = None, done: bool = False):
    formation, party = partners.by_invitation(ctx=ctx, db=db, party_id=party_id, token=token)
    info = partners.invitation(ctx, db, formation, party)
    signed = partners.signature_of(db, formation, party)
    return render(request, "partner_sign.html", status, info=info, errors=errors, done=done and info["signed"],
                  signed_at=signed.signed_at if signed else None, base=f"/partner-signing/{party_id}/{token}")


@router.get("/partner-signing/{party_id}/{token}")
def partner_page(request: Request, party_id: uuid.UUID, token: str, ctx: Ctx, db: DbSession, signed: str = ""):
    """The page the founder's link opens for the Chinese partner: no account, the link is the key."""
    return _partner_page(request, ctx, db, party_id, token, done=signed == "1")


@router.get("/partner-signing/{party_id}/{token}/articles.pdf")
def partner_articles(party_id: uuid.UUID, token: str, ctx: Ctx, db: DbSession):
    formation, _party = partners.by_invitation(ctx=ctx, db=db, party_id=party_id, token=token)
    return download(ctx, db, formation.articles_document_id, "Articles")


@router.post("/partner-signing/{party_id}/{token}")
def partner_upload(request: Request, party_id: uuid.UUID, token: str, ctx: Ctx, db: DbSession,
                   form: FormData = Form):
    upload = form.get("file")
    data = upload.file.read(partners.MAX_SIGNED_BYTES + 1) if isinstance(upload, StarletteUpload) else b""
    if not data:
        return _partner_page(request, ctx, db, party_id, token, status=422,
                             errors=[FieldError("file", N_("Choose the signed articles (a PDF file) to upload."))])
    try:
        partners.sign(ctx=ctx, db=db, party_id=party_id, token=token, data=data)
    except Problem as exc:
        if exc.status == 404:
            raise
        db.rollback()
        return _partner_page(request, ctx, db, party_id, token, status=exc.status, errors=problem_errors(exc))
    return redirect(f"/partner-signing/{party_id}/{token}?signed=1")
