"""The rules of company formation: names (check, reservation), formations, signatures on the
articles, the case on the workflow engine, and issuance (USCC, signed licence, credential,
foreign-investment report) when the case is approved."""

from __future__ import annotations

import hashlib
import json
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from joserfc import jws
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.credentials import service as credentials
from eresident.credentials.models import IssuedCredential
from eresident.crypto import sdjwt, statuslist
from eresident.crypto.pades import PdfVerdict, sign_pdf, verify_pdf
from eresident.crypto.pki import RegionPKI, load_or_create_pki, load_root_certificates
from eresident.documents.licence_pdf import (COMPANY_TYPES, CURRENCIES_ZH, LicenceData, StatusReference,
                                             render_licence, signed_metadata)
from eresident.documents.models import Document
from eresident.documents.report_pdf import ReportData, ReportInvestor, ReportOwner, render_report
from eresident.documents.service import store_generated
from eresident.enterprise import catalogue, names, revocation, uscc
from eresident.enterprise.articles import ArticlesData, Investor, render_articles
from eresident.enterprise.models import (Formation, FormationParty, FormationPartnerSignature, FormationScopeItem,
                                         FormationSignature, Licence, RegisteredName)
from eresident.enterprise.name_index import (FREED, REGISTERED, RESERVED, NameEntry, NameIndex,
                                             normalise_trade_name)
from eresident.enterprise.schemas import FormationIn
from eresident.i18n import N_
from eresident.identity import service as identity
from eresident.identity.models import Applicant, EResident
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Message, Problem, Refusals, conflict, forbidden, invalid, not_found
from eresident.kit.ids import case_number
from eresident.kit.sequences import next_value
from eresident.officials.models import Official
from eresident.workflow import service as workflow

PROCESS = "company-formation"
CHINA = ZoneInfo("Asia/Shanghai")
BENEFICIAL_OWNER_THRESHOLD = Decimal(25)
DOMESTIC = ("domestic_company", "domestic_person")  # the Chinese partners of a joint venture
# Indicative rates to CNY for the automatic-approval bounds of the process (capital_cny). They
# only decide whether a person looks at the case; nothing is converted or charged with them.
INDICATIVE_CNY_RATES = {"CNY": Decimal("1"), "USD": Decimal("7.1"), "EUR": Decimal("7.7"),
                        "GBP": Decimal("9.0"), "HKD": Decimal("0.91"), "JPY": Decimal("0.047"),
                        "SGD": Decimal("5.3"), "AUD": Decimal("4.7"), "CAD": Decimal("5.2"),
                        "CHF": Decimal("8.1"), "KRW": Decimal("0.0052"), "MOP": Decimal("0.88"),
                        "NZD": Decimal("4.3"), "SEK": Decimal("0.68"), "TWD": Decimal("0.22"),
                        "RUB": Decimal("0.078")}
# The registered-address service of each region's e-resident service centre (sample addresses).
SERVICE_ADDRESS = {
    "LJ": ("重庆市两江新区金渝大道99号e居民登记地址服务中心",
           "e-Resident Registered Address Service, 99 Jinyu Avenue, Liangjiang New Area, Chongqing"),
    "TF": ("四川天府新区天府大道南段2039号e居民登记地址服务中心",
           "e-Resident Registered Address Service, 2039 Tianfu Avenue South, Sichuan Tianfu New Area, Chengdu"),
}
STATUSES = {
    "draft": "Draft: complete it and submit it for signature",
    "awaiting_signatures": "Waiting for every signatory to sign the articles",
    "awaiting_review": "Waiting for a reviewer",
    "in_review": "Being reviewed",
    "awaiting_decision": "Reviewed, waiting for the decision",
    "approved": "Approved: the business licence is issued",
    "refused": "Refused",
}
SIGNATURE_TYP = "eresident-signature+jwt"
VCT_LICENCE = "https://eresident.example/vct/business-licence/v1"
# The licence PDF's own entry on the node's token status list (its index is in the PDF's signed
# metadata). Kept as a row of issued_credentials, the table the status list is built from, under
# the PDF document's id, so that issuing the licence's SD-JWT VC never touches it.
LICENCE_PDF_STATUS = "https://eresident.example/status/business-licence-pdf/v1"
_NAME_FIELD = {"english": "name_en"}  # every other part of a name is in the Chinese name


def _now(ctx: NodeContext) -> datetime:
    return ctx.clock.now()


# --------------------------------------------------------------------------- e-residents

def active_resident(db: Session, applicant: Applicant, region: str) -> EResident:
    """The applicant's active e-residency in this region, or another region's recognised here;
    enterprise services need one."""
    resident = identity.resident_for(db, applicant, region)
    if resident is None:
        raise forbidden(N_("Only an active e-resident of this region can declare names and form companies."))
    if resident.status != "active":
        raise forbidden(Message(N_("Your e-residency %(number)s is %(status)s: you cannot declare names or form "
                                   "companies."), number=resident.number, status=Message(resident.status)))
    return resident


def _inactive_signatories(db: Session, formation: Formation, region: str) -> None:
    """A formation does not move on while a signatory's e-residency (local, or recognised from
    another region) is suspended or revoked."""
    for number in signatories(formation):
        person = identity.resident_for(db, number, region)
        if person is None or person.status != "active":
            status = person.status if person is not None else N_("no longer recognised here")
            raise Problem(409, N_("A signatory's e-residency is not active"), code="signatory-not-active",
                          detail=Message(N_("The e-residency %(number)s is %(status)s; this formation cannot "
                                            "proceed until the signatory is replaced."),
                                         number=number, status=Message(status)),
                          extra={"e_resident_number": number})


def _person_name(db: Session, resident: EResident) -> str:
    return identity.person_of(db, resident).name


# --------------------------------------------------------------------------- the name index

SYNC_MARGIN = timedelta(minutes=5)  # commits may land out of updated_at order; re-read that much


@dataclass
class _NameCache:
    index: NameIndex = field(default_factory=NameIndex)
    watermark: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _entry(row: RegisteredName) -> NameEntry:
    status = {"reserved": RESERVED, "registered": REGISTERED, "freed": FREED}[row.status]
    return NameEntry(id=str(row.id), trade_name=row.trade_name, full_name=row.name_zh,
                     industry_code=row.industry_code, status=status, freed_at=row.freed_at,
                     reserved_until=row.reserved_until if status == RESERVED else None)


def name_index(ctx: NodeContext, db: Session) -> NameIndex:
    """The region's names in memory, built from the database at first use and brought up to date
    from rows changed since (the database stays the authority: a block is a unique key there)."""
    cache = ctx.lazy("enterprise.names", _NameCache)
    with cache.lock:
        query = select(RegisteredName).where(RegisteredName.region == ctx.region)
        if cache.watermark is not None:
            query = query.where(RegisteredName.updated_at >= cache.watermark - SYNC_MARGIN)
        rows = list(db.scalars(query))
        cache.index.add_many(_entry(r) for r in rows)
        if rows:
            newest = max(r.updated_at for r in rows)
            cache.watermark = max(newest, cache.watermark) if cache.watermark else newest
    return cache.index


def _problem_dict(p: names.NameProblem) -> dict:
    return {"field": _NAME_FIELD.get(p.field, "name_zh"), "part": p.field, "code": p.code, "reason": p.reason,
            "reason_zh": p.reason_zh}


def _similar_dict(s) -> dict:
    return {"name": s.full_name, "trade_name": s.trade_name, "industry_code": s.industry_code,
            "status": s.status, "kind": s.kind, "score": s.score, "same_industry": s.same_industry,
            "reason": s.reason, "reason_zh": s.reason_zh}


def check_name(*, ctx: NodeContext, db: Session, name_zh: str, name_en: str,
               exclude_ids: tuple[str, ...] = ()) -> dict:
    """The verdict on a proposed name: the naming rules, then the conflict check."""
    result = names.check_name(chinese=name_zh, english=name_en, region=ctx.region)
    errors = [_problem_dict(p) for p in result.errors]
    conflicts: list[dict] = []
    similar: list[dict] = []
    if result.trade_name and result.industry_code:
        found = name_index(ctx, db).check(result.trade_name, result.industry_code, _now(ctx),
                                          exclude_ids=exclude_ids)
        conflicts = [_similar_dict(s) for s in found.blocks]
        similar = [_similar_dict(s) for s in found.warnings]
        errors += [{"field": "name_zh", "part": "trade_name", "code": "name-conflict", "reason": s.reason,
                    "reason_zh": s.reason_zh} for s in found.blocks]
    return {"name_zh": result.chinese, "name_en": result.english, "available": not errors,
            "needs_review": result.needs_review, "errors": errors,
            "reviews": [_problem_dict(p) for p in result.reviews],
            "warnings": [_problem_dict(p) for p in result.warnings]
            + [{"field": "name_zh", "part": "trade_name", "code": f"similar-{s['kind']}", "reason": s["reason"],
                "reason_zh": s["reason_zh"]} for s in similar],
            "conflicts": conflicts, "similar_names": similar,
            "parts": {"division": result.division, "trade_name": result.trade_name, "industry": result.industry,
                      "industry_code": result.industry_code, "form": result.form, "form_en": result.form_en,
                      "trade_name_pinyin": result.trade_name_pinyin}}


def _conflict_key(trade_name: str, industry_code: str) -> str:
    return f"{normalise_trade_name(trade_name)}|{industry_code}"


def _name_holds(row: RegisteredName, now: datetime) -> bool:
    if row.status == "reserved":
        return row.reserved_until is None or row.reserved_until > now
    if row.status == "freed":
        return row.freed_at is not None and row.freed_at + timedelta(days=365) > now
    return True


def reservation_held(row: RegisteredName, now: datetime) -> bool:
    """Whether a reserved name still holds (not lapsed, not given up)."""
    return row.status == "reserved" and _name_holds(row, now)


def reserve_name(*, ctx: NodeContext, db: Session, applicant: Applicant, name_zh: str, name_en: str,
                 actor: Actor) -> tuple[RegisteredName, dict]:
    """Hold a name for the e-resident for `name_reservation_days`. Refused names: 422; a name
    someone holds (the same trade name in the same industry): 409 — also for the loser of two
    concurrent reservations, through the unique key."""
    resident = active_resident(db, applicant, ctx.region)
    verdict = check_name(ctx=ctx, db=db, name_zh=name_zh, name_en=name_en)
    rule_errors = [e for e in verdict["errors"] if e["code"] != "name-conflict"]
    if rule_errors:
        raise Problem(422, N_("The name cannot be registered"), detail=rule_errors[0]["reason"], code="invalid-name",
                      errors=[FieldError(e["field"], e["reason"]) for e in rule_errors],
                      extra={"verdict": verdict})
    if verdict["conflicts"]:
        raise Problem(409, N_("The name is taken"), detail=verdict["conflicts"][0]["reason"], code="name-taken",
                      errors=[FieldError("name_zh", c["reason"]) for c in verdict["conflicts"]],
                      extra={"conflicts": verdict["conflicts"]})
    now = _now(ctx)
    parts = verdict["parts"]
    key = _conflict_key(parts["trade_name"], parts["industry_code"])
    holder = db.scalar(select(RegisteredName).where(RegisteredName.conflict_key == key))
    if holder is not None:
        if _name_holds(holder, now):  # committed after the index was read
            raise Problem(409, N_("The name is taken"), code="name-taken",
                          detail=N_("Someone reserved or registered this trade name in this industry just now."),
                          errors=[FieldError("name_zh", N_("This trade name is taken in this industry."))])
        holder.conflict_key = None  # a lapsed reservation or a name freed over a year ago
        holder.updated_at = now
    reserved_until = now + timedelta(days=ctx.settings.name_reservation_days)
    row = RegisteredName(id=uuid.uuid4(), region=ctx.region, name_zh=verdict["name_zh"], name_en=verdict["name_en"],
                         trade_name=parts["trade_name"], industry_code=parts["industry_code"], conflict_key=key,
                         status="reserved", reserved_until=reserved_until,
                         owner_type="e_resident", owner_id=resident.id, needs_review=verdict["needs_review"],
                         created_at=now, updated_at=now)
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:  # the other of two concurrent reservations won
        raise Problem(409, N_("The name is taken"), code="name-taken",
                      detail=N_("Someone reserved this trade name in this industry at the same moment."),
                      errors=[FieldError("name_zh", N_("This trade name is taken in this industry."))]) from None
    record(db=db, actor=actor, region=ctx.region, action="name.reserved", entity_type="registered_name",
           entity_id=row.id, at=now, after={"name_zh": row.name_zh, "reserved_until": reserved_until.isoformat()})
    return row, verdict


def reservations_of(*, db: Session, resident: EResident) -> list[RegisteredName]:
    return list(db.scalars(select(RegisteredName).where(RegisteredName.owner_type == "e_resident",
                                                        RegisteredName.owner_id == resident.id)
                           .order_by(RegisteredName.created_at.desc())))


def release_reservation(*, ctx: NodeContext, db: Session, applicant: Applicant, reservation_id: uuid.UUID,
                        actor: Actor) -> None:
    resident = active_resident(db, applicant, ctx.region)
    row = db.get(RegisteredName, reservation_id)
    if row is None or row.owner_type != "e_resident" or row.owner_id != resident.id:
        raise not_found(N_("Reservation"))
    if row.status != "reserved" or not _name_holds(row, _now(ctx)):
        raise conflict(N_("This reservation is no longer held."), code="wrong-status")
    if _formation_using(db, row.id) is not None:
        raise conflict(N_("A formation uses this name; withdraw it first."), code="name-in-use")
    now = _now(ctx)
    row.reserved_until, row.conflict_key, row.updated_at = now, None, now
    record(db=db, actor=actor, region=ctx.region, action="name.released", entity_type="registered_name",
           entity_id=row.id, at=now, after={"status": "released"})


def _formation_using(db: Session, name_id: uuid.UUID) -> Formation | None:
    return db.scalars(select(Formation).where(Formation.name_id == name_id,
                                              Formation.status != "refused")).first()


# --------------------------------------------------------------------------- formations

@dataclass
class _Checked:
    """A formation's input after every check: what gets written."""

    name: RegisteredName
    scope: catalogue.ScopeCheck
    address: tuple[str, str]
    parties: list[FormationParty]
    signatories: list[str]


def _resident_field(db: Session, ctx: NodeContext, number: str, field_name: str) -> EResident:
    resident = identity.resident_for(db, number, ctx.region)
    if resident is None or resident.status != "active":
        # One answer whatever the reason, so the form cannot be used to learn a stranger's status.
        raise invalid(field_name, Message(N_("%(number)s is not an active e-resident of this region. Every person "
                                             "who signs must be an active e-resident of this region."), number=number))
    return resident


def _check_input(ctx: NodeContext, db: Session, resident: EResident, data: FormationIn,
                 formation_id: uuid.UUID | None) -> _Checked:
    """Every rule on a formation's content; before anything is written, raises one problem naming
    every field that breaks one (kit.errors.Refusals: the checks below that do not depend on each
    other all run), so the founder corrects the form in one pass."""
    refusals = Refusals()
    now = _now(ctx)
    with refusals.check():
        name = db.get(RegisteredName, data.name_reservation_id)
        if name is None or name.owner_type != "e_resident" or name.owner_id != resident.id:
            raise invalid("name_reservation_id", N_("No name reservation with this id is yours."))
        if name.status != "reserved" or not _name_holds(name, now):
            raise invalid("name_reservation_id", N_("This name reservation has lapsed; reserve the name again."))
        using = _formation_using(db, name.id)
        if using is not None and using.id != formation_id:
            raise conflict(N_("Another formation of yours uses this name."), code="name-in-use")
        form = names.check_name(chinese=name.name_zh, english=name.name_en, region=ctx.region).form
        if form not in ("有限公司", "有限责任公司"):
            raise invalid("name_reservation_id", N_("A wholly foreign-owned limited company's name ends in 有限公司 or "
                                                    "有限责任公司."))
    with refusals.check():
        if data.currency not in CURRENCIES_ZH:
            raise invalid("currency", Message(N_("Use one of: %(choices)s."),
                                              choices=", ".join(sorted(CURRENCIES_ZH))))

    scope: catalogue.ScopeCheck | None = None
    with refusals.check():
        if len(set(data.business_scope)) != len(data.business_scope):
            raise invalid("business_scope", N_("Each business-scope item may be chosen once."))
        try:
            scope = catalogue.check_scope(data.business_scope)
        except KeyError as exc:
            position = exc.args[0]
            raise invalid(f"business_scope/{position}", Message(N_("%(item)s is not in the business-scope "
                                                                   "catalogue (GET /api/v1/business-scope)."),
                                                                item=repr(data.business_scope[position]))) from None
        if scope.prohibited:
            # The item and the measure are the catalogue's words (English, Chinese): only the frame is translated.
            errors = [FieldError(f"business_scope/{i}", Message(N_("%(code)s %(item)s: %(measure)s (%(measure_zh)s)"),
                                                                code=item.code, item=item.en, measure=measure.en,
                                                                measure_zh=measure.zh))
                      for i, item, measure in scope.prohibited]
            raise Problem(422, N_("Foreign investment is prohibited in this business"), detail=errors[0].reason,
                          code="prohibited-scope", errors=errors,
                          extra={"negative_list": catalogue.negative_list()[0]})

    with refusals.check():
        if data.address.kind == "service_site":
            address = SERVICE_ADDRESS.get(ctx.region, SERVICE_ADDRESS["LJ"])
        else:
            if not data.address.zh:
                raise invalid("address/zh", N_("Give your own registered address in Chinese."))
            if not data.address.en:
                raise invalid("address/en", N_("Give your own registered address in English."))
            address = (data.address.zh, data.address.en)

    parties: list[FormationParty] = []
    signatories: list[str] = []
    capital = data.registered_capital

    def add_signatory(number: str) -> None:
        if number not in signatories:
            signatories.append(number)

    total = sum((i.share_percent for i in data.investors), Decimal(0))
    with refusals.check():
        if total != Decimal(100):
            raise invalid("investors", Message(N_("The investors' shares add up to %(total)s%%, not 100%%."),
                                               total=f"{total.normalize():f}"))
    seen_investors: set[str] = set()
    for i, inv in enumerate(data.investors):
        with refusals.check():
            where = f"investors/{i}"
            contribution = (capital * inv.share_percent / Decimal(100)).quantize(Decimal("0.01"))
            if inv.kind == "natural":
                if not inv.e_resident_number:
                    raise invalid(f"{where}/e_resident_number", N_("A natural-person investor signs the articles: "
                                                                   "give their e-resident number."))
                person = identity.person_of(db, _resident_field(db, ctx, inv.e_resident_number,
                                                                f"{where}/e_resident_number"))
                key = inv.e_resident_number
                parties.append(FormationParty(role="investor", kind="natural", name=person.name,
                                              country=_alpha2(person.nationality), e_resident_number=key,
                                              share_percent=inv.share_percent, contribution=contribution))
                add_signatory(key)
            elif inv.kind in DOMESTIC and data.company_type != "jv":
                raise invalid(f"{where}/kind", N_("A wholly foreign-owned company has only foreign investors. To "
                                                  "include a Chinese partner, form a joint venture (company type "
                                                  "jv)."))
            elif inv.kind == "domestic_company":
                key = _domestic_partner(inv, where, contribution, parties)
            elif inv.kind == "domestic_person":
                key = _domestic_citizen(ctx, inv, where, contribution, parties)
            else:
                if inv.country == "CN":
                    raise invalid(f"{where}/kind", N_("A company registered in China is a Chinese partner: choose "
                                                      "a joint venture and the kind domestic_company."))
                for attr in ("name", "country", "registration_number", "signatory_e_resident_number"):
                    if not getattr(inv, attr):
                        raise invalid(f"{where}/{attr}", N_("A company investor needs its name, country, "
                                                            "registration number and the e-resident who signs for "
                                                            "it."))
                assert inv.signatory_e_resident_number is not None  # checked just above
                _resident_field(db, ctx, inv.signatory_e_resident_number, f"{where}/signatory_e_resident_number")
                key = f"{inv.country}:{inv.registration_number}"
                parties.append(FormationParty(role="investor", kind="legal", name=inv.name, country=inv.country,
                                              registration_number=inv.registration_number,
                                              e_resident_number=inv.signatory_e_resident_number,
                                              share_percent=inv.share_percent, contribution=contribution))
                add_signatory(inv.signatory_e_resident_number)
            if key in seen_investors:
                raise invalid(where, N_("This investor is listed twice."))
            seen_investors.add(key)

    with refusals.check():
        _check_structure(data, scope)

    def officer(role: str, number: str, where: str) -> None:
        with refusals.check():
            person = identity.person_of(db, _resident_field(db, ctx, number, where))
            parties.append(FormationParty(role=role, kind="natural", name=person.name,
                                          country=_alpha2(person.nationality), e_resident_number=number))
            add_signatory(number)

    officer("legal_representative", data.legal_representative.e_resident_number,
            "legal_representative/e_resident_number")
    directors = [d.e_resident_number for d in data.directors]
    with refusals.check():
        if len(set(directors)) != len(directors):
            raise invalid("directors", N_("Each director may be listed once."))
    for i, number in enumerate(directors):
        officer("director", number, f"directors/{i}/e_resident_number")
    supervisor = data.supervisor.e_resident_number
    if supervisor in directors:
        with refusals.check():
            raise invalid("supervisor/e_resident_number",
                          N_("A director may not also be the supervisor (Company Law)."))
    else:
        officer("supervisor", supervisor, "supervisor/e_resident_number")

    owners = data.beneficial_owners
    with refusals.check():
        owned = sum((o.share_percent for o in owners), Decimal(0))
        if owned > Decimal(100):
            raise invalid("beneficial_owners", Message(N_("The beneficial owners' shares add up to %(total)s%%, "
                                                          "more than 100%%."), total=f"{owned.normalize():f}"))
        listed = {o.e_resident_number for o in owners if o.e_resident_number}
        for inv in data.investors:
            if inv.kind == "natural" and inv.share_percent >= BENEFICIAL_OWNER_THRESHOLD \
                    and inv.e_resident_number not in listed:
                raise invalid("beneficial_owners", Message(N_("The investor %(number)s holds %(share)s%%: every "
                                                              "owner of 25%% or more must be listed as a beneficial "
                                                              "owner."),
                                                           number=inv.e_resident_number,
                                                           share=f"{inv.share_percent.normalize():f}"))
        for inv in data.investors:
            if inv.kind == "domestic_person" and inv.share_percent >= BENEFICIAL_OWNER_THRESHOLD and not any(
                    o.country == "CN" and inv.name and same_name(o.name, inv.name) for o in owners):
                raise invalid("beneficial_owners", Message(N_("The Chinese partner %(name)s holds %(share)s%%: "
                                                              "every owner of 25%% or more must be listed as a "
                                                              "beneficial owner."), name=inv.name or "",
                                                           share=f"{inv.share_percent.normalize():f}"))
        company_share = sum((i.share_percent for i in data.investors if i.kind in ("legal", "domestic_company")),
                            Decimal(0))
        natural_numbers = {i.e_resident_number for i in data.investors if i.kind == "natural"}
        citizens = [i.name for i in data.investors if i.kind == "domestic_person" and i.name]
        behind_companies = [o for o in owners
                            if (not o.e_resident_number or o.e_resident_number not in natural_numbers)
                            and not any(same_name(o.name, n) for n in citizens)]
        if company_share >= BENEFICIAL_OWNER_THRESHOLD and not behind_companies:
            raise invalid("beneficial_owners", N_("Company investors hold 25% or more: list the natural persons who "
                                                  "ultimately own or control them."))
    refusals.settle()
    assert scope is not None  # settle() raised otherwise
    for owner in owners:
        parties.append(FormationParty(role="beneficial_owner", kind="natural", name=owner.name, country=owner.country,
                                      e_resident_number=owner.e_resident_number, share_percent=owner.share_percent))
    for position, party in enumerate(parties):
        party.position = position
    return _Checked(name=name, scope=scope, address=address, parties=parties, signatories=signatories)


def _domestic_partner(inv, where: str, contribution: Decimal,
                      parties: list[FormationParty]) -> str:
    """A Chinese partner company of a joint venture: its name and a USCC that can exist. It signs
    the articles itself, with its organisation certificate (partners.py), so no e-resident signs for
    it. Returns its key among the investors."""
    if not inv.name:
        raise invalid(f"{where}/name", N_("Give the Chinese partner's registered name in Chinese, as on its "
                                          "business licence."))
    if not inv.registration_number:
        raise invalid(f"{where}/registration_number", N_("Give the Chinese partner's Unified Social Credit Code "
                                                         "(18 characters, on its business licence)."))
    if inv.country not in (None, "CN"):
        raise invalid(f"{where}/country", N_("A Chinese partner is a company registered in China (CN)."))
    if inv.signatory_e_resident_number:
        raise invalid(f"{where}/signatory_e_resident_number",
                      N_("A Chinese partner signs the articles itself, with its organisation certificate: leave the "
                         "e-resident who signs for it empty."))
    try:
        code = uscc.validate(inv.registration_number).code
    except uscc.UsccError as exc:  # the validator's reason says what is wrong, this says with what
        raise invalid(f"{where}/registration_number", Message(N_("The Chinese partner's USCC is not valid: "
                                                                 "%(reason)s."), reason=exc.reason)) from None
    parties.append(FormationParty(role="investor", kind="domestic_company", name=inv.name, country="CN",
                                  registration_number=code, share_percent=inv.share_percent,
                                  contribution=contribution))
    return f"CN:{code}"


RIC_CONTEXT = "cn-ric"  # the blind index's context for resident identity card numbers
_RIC_PROBLEMS = {
    "InvalidChecksum": N_("The last character (the check character) does not match the rest: check the number."),
    "InvalidComponent": N_("The birth date or the region code in this number cannot exist: check the number."),
}


def mask_id_number(number: str) -> str:
    """A resident identity card number as it may be shown: the region code and the last four."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def _domestic_citizen(ctx: NodeContext, inv, where: str, contribution: Decimal,
                      parties: list[FormationParty]) -> str:
    """A Chinese citizen partner of a joint venture: a name and a resident identity card number that
    can exist (GB 11643, python-stdnum). Only the masked number and a keyed blind index are kept:
    enough to show who it is and to match the certificate the person signs with."""
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    if not inv.name:
        raise invalid(f"{where}/name", N_("Give the Chinese partner's name as on their resident identity card."))
    if not inv.id_number:
        raise invalid(f"{where}/id_number", N_("Give the Chinese partner's resident identity card number (18 "
                                               "characters)."))
    if inv.country not in (None, "CN") or inv.signatory_e_resident_number or inv.registration_number:
        raise invalid(f"{where}/kind", N_("A Chinese citizen partner gives a name and an identity card number "
                                          "only, and signs the articles themselves with a personal certificate."))
    try:
        number = ric.validate(inv.id_number)
    except ValidationError as exc:
        raise invalid(f"{where}/id_number", _RIC_PROBLEMS.get(
            type(exc).__name__, N_("A resident identity card number has 18 characters: 17 digits, then a digit "
                                   "or X."))) from None
    index = ctx.blind_index(number, context=RIC_CONTEXT)
    parties.append(FormationParty(role="investor", kind="domestic_person", name=inv.name, country="CN",
                                  registration_number=mask_id_number(number), identifier_index=index,
                                  share_percent=inv.share_percent, contribution=contribution))
    return f"CN-ID:{index}"


def _check_structure(data: FormationIn, scope: catalogue.ScopeCheck | None) -> None:
    """A joint venture has a Chinese partner and a foreign investor; a restricted business whose
    conditions are on the structure (the negative list says "only as a joint venture", "foreign
    share at most 50%") is refused when the formation does not meet them, naming the item."""
    domestic = sum((i.share_percent for i in data.investors if i.kind in DOMESTIC), Decimal(0))
    foreign = sum((i.share_percent for i in data.investors if i.kind not in DOMESTIC), Decimal(0))
    if data.company_type == "jv":
        if not domestic:
            raise invalid("investors", N_("A joint venture needs at least one Chinese partner among its investors "
                                          "(kind domestic_company or domestic_person)."))
        if not foreign:
            raise invalid("investors", N_("A joint venture needs at least one foreign investor."))
    errors = []
    for position, item, measure in scope.restricted if scope is not None else ():
        if measure.joint_venture_only and data.company_type != "jv":
            errors.append(FieldError(f"business_scope/{position}", Message(
                N_("%(code)s %(item)s is open to foreign investment only as a joint venture with a Chinese partner: "
                   "%(measure)s"), code=item.code, item=item.en, measure=measure.en)))
        elif measure.max_foreign_share is not None and foreign > measure.max_foreign_share:
            errors.append(FieldError(f"business_scope/{position}", Message(
                N_("%(code)s %(item)s: foreign investors may hold at most %(limit)s%%, here they hold %(share)s%%. "
                   "%(measure)s"), code=item.code, item=item.en, limit=f"{measure.max_foreign_share.normalize():f}",
                share=f"{foreign.normalize():f}", measure=measure.en)))
    if errors:
        raise Problem(422, N_("The negative list's conditions for this business are not met"),
                      detail=errors[0].reason, code="restricted-scope-conditions", errors=errors)


def same_name(a: str, b: str) -> bool:
    """Names compared as a person would: full-width and half-width forms alike (NFKC), case and
    spaces ignored (a certificate's name against the formation's, an owner against a partner)."""
    def norm(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split()).casefold()
    return norm(a) == norm(b)


def _alpha2(alpha3: str) -> str:
    from eresident.identity import countries

    return countries.alpha2(alpha3) or alpha3[:2]


def _apply(formation: Formation, data: FormationIn, checked: _Checked) -> None:
    formation.name_id = checked.name.id
    formation.company_type = data.company_type
    formation.registered_capital = data.registered_capital
    formation.currency = data.currency
    formation.address_kind = data.address.kind
    formation.address_zh, formation.address_en = checked.address
    formation.term_years = data.term_years
    formation.scope = [FormationScopeItem(code=code, position=i) for i, code in enumerate(data.business_scope)]
    formation.parties = checked.parties


def _snapshot(f: Formation) -> dict:
    return {"status": f.status, "revision": f.revision, "articles_sha256": f.articles_sha256}


def create_formation(*, ctx: NodeContext, db: Session, applicant: Applicant, data: FormationIn,
                     actor: Actor) -> Formation:
    resident = active_resident(db, applicant, ctx.region)
    checked = _check_input(ctx, db, resident, data, None)
    now = _now(ctx)
    formation = Formation(id=uuid.uuid4(), region=ctx.region, owner_applicant_id=applicant.id,
                          owner_resident_id=resident.id, status="draft", revision=1, created_at=now, updated_at=now)
    _apply(formation, data, checked)
    db.add(formation)
    db.flush()
    record(db=db, actor=actor, region=ctx.region, action="formation.created", entity_type="formation",
           entity_id=formation.id, at=now, after=_snapshot(formation))
    return formation


def get_for_owner(*, db: Session, applicant: Applicant, formation_id: uuid.UUID, lock: bool = False) -> Formation:
    """`lock`: for a change, take the formation's row lock (PostgreSQL) so a change and a signature
    cannot interleave: a signature on the old articles must not survive new ones."""
    formation = db.get(Formation, formation_id, with_for_update=lock or None)
    # Someone else's formation is "not found": its existence is not revealed.
    if formation is None or formation.owner_applicant_id != applicant.id:
        raise not_found(N_("Formation"))
    return formation


def signatories(formation: Formation) -> list[str]:
    numbers: list[str] = []
    for party in formation.parties:
        if party.role != "beneficial_owner" and party.e_resident_number and party.e_resident_number not in numbers:
            numbers.append(party.e_resident_number)
    return numbers


def get_for_signatory(*, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                      region: str, lock: bool = False) -> tuple[Formation, EResident | None]:
    """The owner, or a signatory once the articles exist, may read the articles and signatures."""
    formation = db.get(Formation, formation_id, with_for_update=lock or None)
    if formation is None:
        raise not_found(N_("Formation"))
    resident = identity.resident_for(db, applicant, region)
    is_signatory = resident is not None and resident.number in signatories(formation) \
        and formation.articles_sha256 is not None
    if formation.owner_applicant_id != applicant.id and not is_signatory:
        raise not_found(N_("Formation"))
    return formation, resident


def formations_of(*, db: Session, applicant: Applicant) -> list[Formation]:
    return list(db.scalars(select(Formation).where(Formation.owner_applicant_id == applicant.id)
                           .order_by(Formation.created_at.desc())))


def formations_to_sign(*, db: Session, resident: EResident) -> list[Formation]:
    """Formations waiting for signatures on which this e-resident is a signatory (not the owner's
    own list: what others ask them to sign)."""
    rows = db.scalars(select(Formation).join(FormationParty, FormationParty.formation_id == Formation.id)
                      .where(FormationParty.e_resident_number == resident.number,
                             FormationParty.role != "beneficial_owner",
                             Formation.status == "awaiting_signatures")
                      .order_by(Formation.submitted_at.desc()))
    return list(dict.fromkeys(rows))


def names_shown_to(formation: Formation, viewer_number: str | None, signed: set[str]) -> set[str]:
    """The e-resident numbers among the parties whose names and nationalities `viewer_number` may
    see: their own, and those of people who have signed (and so agreed to be in the formation).
    Until then a founder only typed a number: showing the name it belongs to would let anyone look
    up any e-resident's identity by trying numbers."""
    return {n for n in (p.e_resident_number for p in formation.parties) if n and (n == viewer_number or n in signed)}


def describe_resident(db: Session, number: str, region: str) -> tuple[str, str] | None:
    """(name, ISO 3166-1 alpha-2 nationality) of an active e-resident of this region, else None:
    what a form needs to list a natural-person investor as a beneficial owner."""
    resident = identity.resident_for(db, number, region)
    if resident is None or resident.status != "active":
        return None
    person = identity.person_of(db, resident)
    return person.name, _alpha2(person.nationality)


EDITABLE = ("draft", "awaiting_signatures")


def update_formation(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                     data: FormationIn, actor: Actor) -> Formation:
    """Replace the content. After submission this re-draws the articles: every signature given so
    far was on other bytes, so it is superseded and everyone signs again."""
    formation = get_for_owner(db=db, applicant=applicant, formation_id=formation_id, lock=True)
    if formation.status not in EDITABLE:
        raise conflict(N_("Once every signatory has signed, the formation can no longer change."),
                       code="wrong-status")
    resident = active_resident(db, applicant, ctx.region)
    checked = _check_input(ctx, db, resident, data, formation.id)
    before = _snapshot(formation)
    now = _now(ctx)
    _apply(formation, data, checked)
    formation.revision += 1
    formation.updated_at = now
    db.flush()
    superseded = _supersede_signatures(db, formation)
    if formation.status == "awaiting_signatures":
        _draw_articles(ctx, db, formation)
    record(db=db, actor=actor, region=ctx.region, action="formation.changed", entity_type="formation",
           entity_id=formation.id, at=now, before=before,
           after={**_snapshot(formation), "signatures_superseded": superseded})
    return formation


def _supersede_signatures(db: Session, formation: Formation) -> int:
    # an UPDATE gives a CursorResult (Session.execute is typed with the general Result)
    result = cast(CursorResult, db.execute(update(FormationSignature).where(
        FormationSignature.formation_id == formation.id, FormationSignature.status == "valid")
        .values(status="superseded")))
    partners = cast(CursorResult, db.execute(update(FormationPartnerSignature).where(
        FormationPartnerSignature.formation_id == formation.id, FormationPartnerSignature.status == "valid")
        .values(status="superseded")))
    return (result.rowcount or 0) + (partners.rowcount or 0)


def _investor(party: FormationParty) -> Investor:
    assert party.share_percent is not None and party.contribution is not None  # set on every investor
    return Investor(party.name, party.country, party.share_percent, party.contribution,
                    uscc=party.registration_number if party.kind == "domestic_company" else None,
                    id_masked=party.registration_number if party.kind == "domestic_person" else None)


def _names_of(formation: Formation, role: str) -> list[str]:
    return [p.name for p in formation.parties if p.role == role]


def _draw_articles(ctx: NodeContext, db: Session, formation: Formation) -> None:
    name = db.get_one(RegisteredName, formation.name_id)
    items = catalogue.check_scope([s.code for s in formation.scope]).items
    scope_zh, scope_en = catalogue.scope_text(items)
    by_number = {p.e_resident_number: p.name for p in formation.parties if p.e_resident_number and p.kind == "natural"}
    data = ArticlesData(
        name_zh=name.name_zh, name_en=name.name_en, address_zh=formation.address_zh, address_en=formation.address_en,
        registered_capital=formation.registered_capital, currency=formation.currency, scope_zh=scope_zh,
        scope_en=scope_en,
        investors=tuple(_investor(p) for p in formation.parties if p.role == "investor"),
        legal_representative=_names_of(formation, "legal_representative")[0],
        directors=tuple(_names_of(formation, "director")), supervisor=_names_of(formation, "supervisor")[0],
        signatories=tuple(f"{by_number.get(n, n)} (e-resident {n})" for n in signatories(formation))
        + tuple(f"{p.name} (Chinese party, USCC {p.registration_number}, signs with its organisation certificate)"
                if p.kind == "domestic_company" else
                f"{p.name} (Chinese party, ID {p.registration_number}, signs with a personal certificate)"
                for p in partner_parties(formation)),
        term_years=formation.term_years, case_number=formation.case_number or "", revision=formation.revision,
        drawn_up_on=_now(ctx).astimezone(CHINA).date(), joint_venture=formation.company_type == "jv")
    pdf = render_articles(data)
    doc = store_generated(ctx, db, owner_id=formation.owner_applicant_id, kind="articles", data=pdf,
                          media_type="application/pdf", filename=f"articles-{formation.case_number}-"
                                                                 f"r{formation.revision}.pdf")
    formation.articles_document_id = doc.id
    formation.articles_sha256 = doc.sha256


def new_case_number(ctx: NodeContext, db: Session, now: datetime) -> str:
    """The next formation case number of this region (LJ-CF-2026-000042): from the same sequence
    whether the formation is handled here or filed here for another region."""
    serial = next_value(db, f"formation:{ctx.region}:{now.year}")
    return case_number(ctx.region, now.year, serial).replace(f"{ctx.region}-", f"{ctx.region}-CF-", 1)


def submit_formation(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                     actor: Actor, number: str | None = None) -> Formation:
    """Draw up the articles and open the case: it waits for every signature. `number`: the case
    number a peer gave the case when it was filed there (crosscase), else a new one of ours."""
    formation = get_for_owner(db=db, applicant=applicant, formation_id=formation_id, lock=True)
    if formation.status != "draft":
        raise conflict(N_("This formation has been submitted already."), code="wrong-status")
    _inactive_signatories(db, formation, ctx.region)
    name = db.get_one(RegisteredName, formation.name_id)
    if name.status != "reserved" or not _name_holds(name, _now(ctx)):
        raise invalid("name_reservation_id", N_("The name reservation has lapsed; reserve the name again."))
    now = _now(ctx)
    before = _snapshot(formation)
    formation.case_number = number or new_case_number(ctx, db, now)
    formation.submitted_at = formation.updated_at = now
    _draw_articles(ctx, db, formation)
    outcome = workflow.start_case(ctx=ctx, db=db, process=PROCESS, subject_type="formation",
                                  subject_id=formation.id, facts={})
    assert outcome.status is not None, "every step of the formation process names a status"
    formation.status = outcome.status
    record(db=db, actor=actor, region=ctx.region, action="formation.submitted", entity_type="formation",
           entity_id=formation.id, at=now, before=before,
           after={**_snapshot(formation), "case_number": formation.case_number,
                  "process_version": outcome.case.version})
    return formation


# --------------------------------------------------------------------------- signatures

def _credential_id(db: Session, resident: EResident) -> str | None:
    row = db.scalars(select(IssuedCredential).where(IssuedCredential.subject_id == resident.id,
                                                    IssuedCredential.subject_type == "e_resident",
                                                    IssuedCredential.status == statuslist.VALID)
                     .order_by(IssuedCredential.issued_at.desc())).first()
    return str(row.id) if row else None


def sign_articles(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                  document_sha256: str, actor: Actor) -> FormationSignature:
    """The signed-in e-resident confirms the SHA-256 of the articles they read; the node records
    it as a JWS (its credential key) over {document digest, signer, time}."""
    formation, resident = get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                            region=ctx.region, lock=True)
    if resident is None or resident.number not in signatories(formation):
        raise forbidden(N_("You are not a signatory of this formation."))
    if resident.status != "active":
        raise forbidden(Message(N_("Your e-residency is %(status)s."), status=Message(resident.status)))
    if formation.status != "awaiting_signatures":
        raise conflict(N_("This formation is not waiting for signatures."), code="wrong-status")
    _inactive_signatories(db, formation, ctx.region)
    if document_sha256 != formation.articles_sha256:
        raise stale_articles(formation.articles_sha256)
    roles = sorted({p.role for p in formation.parties if p.e_resident_number == resident.number
                    and p.role != "beneficial_owner"})
    token, payload = signature_token(ctx, db, resident, document_sha256=document_sha256,
                                     case_number=formation.case_number, revision=formation.revision, roles=roles)
    return record_signature(ctx=ctx, db=db, formation=formation, resident=resident, token=token, payload=payload,
                            actor=actor)


def stale_articles(current_sha256: str | None) -> Problem:
    """A signature on other bytes than the current articles (they changed after the signer read them)."""
    return Problem(409, N_("The articles have changed"), code="stale-document",
                   detail=N_("The digest is not that of the current articles. Download them again, read them, "
                             "and sign the digest of what you read."),
                   errors=[FieldError("document_sha256", N_("not the SHA-256 of the current articles"))],
                   extra={"current_sha256": current_sha256})


def signature_token(ctx: NodeContext, db: Session, resident: EResident, *, document_sha256: str,
                    case_number: str | None, revision: int, roles: list[str]) -> tuple[str, dict]:
    """The node's JWS recording that `resident`, signed in here, signed the articles with this digest.
    The node that authenticated the signer makes it: for a case filed here and handled by another
    region, that is this node, and the handling node checks it against our key in its trust list."""
    now = _now(ctx)
    payload = {"iss": ctx.settings.base_url, "jti": str(uuid.uuid4()), "iat": int(now.timestamp()),
               "purpose": "articles-of-association",
               "document": {"sha256": document_sha256, "media_type": "application/pdf",
                            "case_number": case_number, "revision": revision},
               "signer": {"e_resident_number": resident.number, "region": resident.region,
                          "name": _person_name(db, resident), "roles": roles,
                          "credential_id": _credential_id(db, resident)},
               "authentication": "e-resident session on the node"}
    header = {"alg": "EdDSA", "kid": ctx.keys.kid, "typ": SIGNATURE_TYP}
    token = jws.serialize_compact(header, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(),
                                  ctx.keys.signing, registry=sdjwt.jws_registry())
    return token, payload


def record_signature(*, ctx: NodeContext, db: Session, formation: Formation, resident: EResident, token: str,
                     payload: dict, actor: Actor, holder: dict | None = None) -> FormationSignature:
    """Keep a signature (a JWS, ours or a peer's) on the current articles; the last one starts the case.
    `holder`: the signer made the JWS with their own key (holder_signatures.py): {"holder_jwk", "nonce"}."""
    now = _now(ctx)
    document_sha256 = payload["document"]["sha256"]
    row = FormationSignature(id=uuid.UUID(payload["jti"]), formation_id=formation.id, resident_id=resident.id,
                             e_resident_number=resident.number, revision=formation.revision,
                             document_sha256=document_sha256, credential_id=payload["signer"].get("credential_id"),
                             signed_at=now, jws=token, status="valid",
                             **({"method": "holder", **holder} if holder else {"method": "node"}))
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        raise conflict(N_("You have signed these articles already."), code="already-signed") from None
    record(db=db, actor=actor, region=ctx.region, action="formation.signed", entity_type="formation",
           entity_id=formation.id, at=now, after={"signer": resident.number, "document_sha256": document_sha256,
                                                   "revision": formation.revision,
                                                   **({"method": "holder", "credential_id": row.credential_id}
                                                      if holder else {})})
    start_if_all_signed(ctx=ctx, db=db, formation=formation, actor=actor)
    return row


def partner_parties(formation: Formation) -> list[FormationParty]:
    """The Chinese partners of a joint venture (companies and citizens): each signs with its own certificate."""
    return [p for p in formation.parties if p.role == "investor" and p.kind in DOMESTIC]


def partner_key(party: FormationParty) -> str:
    """What identifies a Chinese partner among the signatures: a company's USCC, a citizen's blind index."""
    key = party.identifier_index if party.kind == "domestic_person" else party.registration_number
    assert key, "every Chinese partner has its USCC or its ID number's index"
    return key


def all_signed(db: Session, formation: Formation) -> bool:
    """Every e-resident signatory and every Chinese partner has signed the current articles."""
    current = (FormationSignature.formation_id == formation.id) & (FormationSignature.status == "valid") \
        & (FormationSignature.document_sha256 == formation.articles_sha256)
    if not set(signatories(formation)) <= set(db.scalars(select(FormationSignature.e_resident_number)
                                                         .where(current))):
        return False
    partners = {partner_key(p) for p in partner_parties(formation)}
    if not partners:
        return True
    signed = set(db.scalars(select(FormationPartnerSignature.partner_key).where(
        FormationPartnerSignature.formation_id == formation.id, FormationPartnerSignature.status == "valid",
        FormationPartnerSignature.document_sha256 == formation.articles_sha256)))
    return partners <= signed


def start_if_all_signed(*, ctx: NodeContext, db: Session, formation: Formation, actor: Actor) -> None:
    """The last signature, whoever gives it, moves the case on."""
    if all_signed(db, formation):
        outcome = workflow.signal(ctx=ctx, db=db, case=_case(db, formation), event="all_signed",
                                  facts=facts(db, formation))
        _follow(ctx=ctx, db=db, formation=formation, outcome=outcome, action="formation.all_signed", actor=actor)


def signatures_of(db: Session, formation: Formation) -> list[FormationSignature]:
    return list(db.scalars(select(FormationSignature).where(FormationSignature.formation_id == formation.id)
                           .order_by(FormationSignature.signed_at, FormationSignature.e_resident_number)))


def verify_signature(ctx: NodeContext, token: str) -> dict | None:
    """A signature record's payload if the JWS verifies with this node's key, else None."""
    try:
        obj = jws.deserialize_compact(token, ctx.keys.signing, registry=sdjwt.jws_registry())
    except Exception:  # noqa: BLE001 - any defect means "not a signature of ours"
        return None
    if obj.headers().get("typ") != SIGNATURE_TYP:
        return None
    return json.loads(obj.payload)


def facts(db: Session, formation: Formation) -> dict:
    """What the process decides on: no personal data, only the shape of the case."""
    name = db.get_one(RegisteredName, formation.name_id)
    scope = catalogue.check_scope([s.code for s in formation.scope])
    rate = INDICATIVE_CNY_RATES.get(formation.currency)
    return {"all_signed": True, "restricted_items": len(scope.restricted),
            # an unknown rate gives -1: outside the bounds, so a person looks at it
            "capital_cny": float(formation.registered_capital * rate) if rate is not None else -1.0,
            "beneficial_owners_listed": any(p.role == "beneficial_owner" for p in formation.parties),
            "name_needs_review": bool(name.needs_review)}


def restricted_of(formation: Formation) -> list[dict]:
    scope = catalogue.check_scope([s.code for s in formation.scope])
    return [{"code": item.code, "measure": m.id, "conditions_zh": m.zh, "conditions_en": m.en}
            for _i, item, m in scope.restricted]


# --------------------------------------------------------------------------- the case

def _case(db: Session, formation: Formation):
    return workflow.case_for(db, "formation", formation.id)


def _follow(*, ctx: NodeContext, db: Session, formation: Formation, outcome: workflow.Outcome, action: str,
            actor: Actor, extra: dict | None = None) -> None:
    before = _snapshot(formation)
    assert outcome.status is not None, "every step of the formation process names a status"
    formation.status = outcome.status
    formation.updated_at = _now(ctx)
    record(db=db, actor=actor, region=ctx.region, action=action, entity_type="formation", entity_id=formation.id,
           at=_now(ctx), before=before, after={**_snapshot(formation), **(extra or {})})
    if outcome.ended is not None:
        _decided(ctx=ctx, db=db, formation=formation, outcome=outcome, actor=actor)
    _tell_filing_region(ctx, db, formation, action)


def _decided(*, ctx: NodeContext, db: Session, formation: Formation, outcome: workflow.Outcome, actor: Actor) -> None:
    formation.decided_at = _now(ctx)
    if outcome.case.decided_by == "automatic":
        rule = workflow.last_auto_decision(outcome.case) or {}
        formation.decision_reasons = (f"Decided automatically by rule {(rule.get('rule_index') or 0) + 1} of "
                                      f"{outcome.case.process} v{outcome.case.version}: a standard case.")
    if outcome.ended == "approved":
        issue(ctx=ctx, db=db, formation=formation, actor=actor)
    else:
        name = db.get_one(RegisteredName, formation.name_id)
        name.updated_at = _now(ctx)  # the reservation stays the founder's until it lapses


def _tell_filing_region(ctx: NodeContext, db: Session, formation: Formation, action: str) -> None:
    """A formation filed in another region: its history there follows every change here."""
    from eresident.crosscase import service as crosscase

    crosscase.formation_changed(ctx=ctx, db=db, formation=formation, action=action)


def get_case(*, db: Session, formation_id: uuid.UUID, region: str) -> Formation:
    formation = db.get(Formation, formation_id)
    if formation is None or formation.region != region or formation.case_number is None:
        raise not_found(N_("Formation case"))
    return formation


def claim(*, ctx: NodeContext, db: Session, formation_id: uuid.UUID, official: Official, actor: Actor) -> Formation:
    formation = get_case(db=db, formation_id=formation_id, region=ctx.region)
    outcome = workflow.claim(ctx=ctx, db=db, case=_case(db, formation), step="review",
                             actor=workflow.engine_actor(official, ctx.region))
    _follow(ctx=ctx, db=db, formation=formation, outcome=outcome, action="formation.claimed", actor=actor)
    return formation


def recommend(*, ctx: NodeContext, db: Session, formation_id: uuid.UUID, official: Official, recommendation: str,
              note: str, actor: Actor) -> Formation:
    formation = get_case(db=db, formation_id=formation_id, region=ctx.region)
    outcome = workflow.act(ctx=ctx, db=db, case=_case(db, formation), step="review",
                           action=f"recommend_{recommendation}", actor=workflow.engine_actor(official, ctx.region),
                           note=note)
    _follow(ctx=ctx, db=db, formation=formation, outcome=outcome, action="formation.recommended", actor=actor,
            extra={"recommendation": recommendation})
    return formation


def decide(*, ctx: NodeContext, db: Session, formation_id: uuid.UUID, official: Official, decision: str,
           reasons: str, actor: Actor) -> Formation:
    formation = get_case(db=db, formation_id=formation_id, region=ctx.region)
    case = _case(db, formation)
    step = workflow.open_task(db, case, "approver") or "decision"
    outcome = workflow.act(ctx=ctx, db=db, case=case, step=step, action=decision,
                           actor=workflow.engine_actor(official, ctx.region), note=reasons)
    if reasons:
        formation.decision_reasons = reasons
    action = {"approved": "formation.approved", "refused": "formation.refused"}.get(outcome.ended or "",
                                                                                    "formation.decision_recorded")
    _follow(ctx=ctx, db=db, formation=formation, outcome=outcome, action=action, actor=actor)
    return formation


def worklist(*, db: Session, official: Official, region: str) -> list[tuple[Formation, str]]:
    roles = {g.role for g in official.roles if g.region == region}
    items = workflow.worklist(db=db, roles=roles, region=region, process=PROCESS)
    result = []
    for item in items:
        case = db.get_one(workflow.WorkflowCase, item.case_id)
        formation = db.get(Formation, case.subject_id)
        if formation is not None:
            result.append((formation, item.step))
    return result


# --------------------------------------------------------------------------- issuance

def region_pki(ctx: NodeContext) -> RegionPKI:
    """The region's document-signing PKI, loaded (or created) once per node context."""
    return ctx.lazy("enterprise.pki", lambda: load_or_create_pki(ctx.settings))


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def issue(*, ctx: NodeContext, db: Session, formation: Formation, actor: Actor) -> Licence:
    """Approval: the USCC from the node's never-reused sequence, the name registered, the signed
    bilingual licence and the foreign-investment report stored for the founder."""
    now = _now(ctx)
    today = now.astimezone(CHINA).date()
    serial = next_value(db, f"uscc:{ctx.region}")
    code = uscc.issue(division_code=ctx.settings.division_code, serial=serial)
    name = db.get_one(RegisteredName, formation.name_id)
    items = catalogue.check_scope([s.code for s in formation.scope]).items
    scope_zh, scope_en = catalogue.scope_text(items)
    legal_rep = _names_of(formation, "legal_representative")[0]
    term_until = _add_years(today, formation.term_years) if formation.term_years else None
    status = _status_entry(ctx, db)
    data = LicenceData(uscc=code, name_zh=name.name_zh, name_en=name.name_en, legal_representative=legal_rep,
                       registered_capital=formation.registered_capital, currency=formation.currency,
                       established_on=today, address_zh=formation.address_zh, address_en=formation.address_en,
                       business_scope_zh=scope_zh, business_scope_en=scope_en, issued_on=today, region=ctx.region,
                       base_url=ctx.settings.base_url, term_until=term_until, status=status,
                       company_type=COMPANY_TYPES[formation.company_type])
    pdf = sign_pdf(render_licence(data), region_pki(ctx), reason="Business licence issued / 营业执照",
                   location=ctx.settings.region_name, signing_time=now)
    doc = store_generated(ctx, db, owner_id=formation.owner_applicant_id, kind="licence", data=pdf,
                          media_type="application/pdf", filename=f"licence-{code}.pdf")
    db.add(IssuedCredential(id=uuid.uuid4(), subject_type="licence_pdf", subject_id=doc.id, vct=LICENCE_PDF_STATUS,
                            status_list=credentials.STATUS_LIST, status_index=status.index, holder_thumbprint="",
                            issued_at=now, expires_at=datetime.combine(
                                term_until or _add_years(today, 100), datetime.min.time(), tzinfo=CHINA)))
    licence = Licence(id=uuid.uuid4(), uscc=code, serial=serial, region=ctx.region, formation_id=formation.id,
                      name_zh=name.name_zh, name_en=name.name_en, legal_representative=legal_rep,
                      established_on=today, term_until=term_until, issued_at=now, status="valid",
                      pdf_sha256=doc.sha256, document_id=doc.id,
                      details={"registered_capital": str(formation.registered_capital),
                               "currency": formation.currency, "address_zh": formation.address_zh,
                               "address_en": formation.address_en, "business_scope": [i.code for i in items],
                               "company_type": formation.company_type})
    db.add(licence)
    name.status, name.reserved_until = "registered", None
    name.owner_type, name.owner_id, name.updated_at = "enterprise", licence.id, now
    db.flush()
    report = foreign_investment_report(db, formation, licence)
    report_doc = store_generated(ctx, db, owner_id=formation.owner_applicant_id, kind="fi_report",
                                 data=json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True).encode(),
                                 media_type="application/json", filename=f"fi-report-{code}.json")
    formation.report_document_id = report_doc.id
    report_pdf = sign_pdf(render_report(report_data(formation, licence, json_sha256=report_doc.sha256,
                                                    scope=(scope_zh, scope_en))),
                          region_pki(ctx), reason="Foreign-investment information report filed / 外商投资信息报告",
                          location=ctx.settings.region_name, signing_time=now)
    report_pdf_doc = store_generated(ctx, db, owner_id=formation.owner_applicant_id, kind="fi_report_pdf",
                                     data=report_pdf, media_type="application/pdf", filename=f"fi-report-{code}.pdf")
    formation.report_pdf_document_id = report_pdf_doc.id
    record(db=db, actor=actor, region=ctx.region, action="licence.issued", entity_type="licence",
           entity_id=licence.id, at=now, after={"uscc": code, "formation": str(formation.id),
                                                 "pdf_sha256": doc.sha256, "report_sha256": report_doc.sha256,
                                                 "report_pdf_sha256": report_pdf_doc.sha256,
                                                 "status_index": status.index})
    from eresident.tax import service as tax_service  # several certificates in one: the tax registration too

    tax_service.register_for_licence(ctx=ctx, db=db, licence=licence, formation=formation, actor=actor)
    return licence


def foreign_investment_report(db: Session, formation: Formation, licence: Licence) -> dict:
    """The initial foreign-investment information report (外商投资信息报告, 初始报告), from the
    formation data, filed with the case."""
    return {
        "report_type": "initial", "report_type_zh": "初始报告", "format": 1,
        "enterprise": {"uscc": licence.uscc, "name_zh": licence.name_zh, "name_en": licence.name_en,
                       "company_type": {"jv": "Sino-foreign joint venture limited liability company"}.get(
                           formation.company_type, "wholly foreign-owned limited liability company"),
                       "company_type_zh": COMPANY_TYPES[formation.company_type][0],
                       "established_on": licence.established_on.isoformat(), "region": licence.region,
                       "address_zh": formation.address_zh, "address_en": formation.address_en,
                       "registered_capital": str(formation.registered_capital), "currency": formation.currency,
                       "business_scope": [s.code for s in formation.scope],
                       "term_until": licence.term_until.isoformat() if licence.term_until else None},
        "investors": [{"kind": p.kind, "name": p.name, "country": p.country,
                       "registration_number": p.registration_number, "share_percent": str(p.share_percent),
                       "subscribed_capital": str(p.contribution)}
                      for p in formation.parties if p.role == "investor"],
        "beneficial_owners": [{"name": p.name, "country": p.country, "share_percent": str(p.share_percent)}
                              for p in formation.parties if p.role == "beneficial_owner"],
        "legal_representative": _names_of(formation, "legal_representative")[0],
        "directors": _names_of(formation, "director"), "supervisor": _names_of(formation, "supervisor")[0],
        "negative_list": {"version": catalogue.negative_list()[0], "restricted_items": restricted_of(formation)},
        "case_number": formation.case_number, "filed_at": licence.issued_at.isoformat(),
    }


def report_data(formation: Formation, licence: Licence, *, json_sha256: str,
                scope: tuple[str, str]) -> ReportData:
    """The report PDF's content: the same facts as foreign_investment_report (the JSON), in words."""
    def of(role: str) -> list[FormationParty]:
        return [p for p in formation.parties if p.role == role]

    investors = []
    for p in of("investor"):
        assert p.share_percent is not None and p.contribution is not None  # set on every investor
        investors.append(ReportInvestor(kind=p.kind, name=p.name, country=p.country,
                                        registration_number=p.registration_number,
                                        share_percent=p.share_percent, contribution=p.contribution))
    owners = tuple(ReportOwner(name=p.name, country=p.country, share_percent=p.share_percent)
                   for p in of("beneficial_owner") if p.share_percent is not None)
    return ReportData(
        uscc=licence.uscc, name_zh=licence.name_zh, name_en=licence.name_en, region=licence.region,
        company_type=COMPANY_TYPES[formation.company_type],
        case_number=formation.case_number or "", filed_on=licence.issued_at.astimezone(CHINA).date(),
        established_on=licence.established_on, registered_capital=formation.registered_capital,
        currency=formation.currency, address_zh=formation.address_zh, address_en=formation.address_en,
        term_until=licence.term_until, scope_zh=scope[0], scope_en=scope[1], investors=tuple(investors),
        beneficial_owners=owners, legal_representative=_names_of(formation, "legal_representative")[0],
        directors=tuple(_names_of(formation, "director")), supervisor=_names_of(formation, "supervisor")[0],
        negative_list_version=catalogue.negative_list()[0],
        restricted=tuple((r["code"], r["conditions_zh"], r["conditions_en"]) for r in restricted_of(formation)),
        json_sha256=json_sha256)


def _status_entry(ctx: NodeContext, db: Session) -> StatusReference:
    """The next index on the node's token status list, for a licence PDF (credentials/service.py
    allocates from the same sequence for the SD-JWT VCs)."""
    index = next_value(db, f"status-list:{credentials.STATUS_LIST}") - 1
    if index >= credentials.STATUS_LIST_SIZE:
        raise Problem(503, N_("The status list is full"), code="status-list-full")
    return StatusReference(uri=credentials.status_list_uri(ctx), index=index)


# --------------------------------------------------------------------------- revocation

def licence_for_official(db: Session, code: str, region: str) -> Licence:
    licence = licence_by_uscc(db, code)
    if licence.region != region:
        raise not_found(N_("Licence"))
    return licence


def revocation_problems(reason: str, note: str) -> list[FieldError]:
    """What is wrong with a revocation's reason and note (each beside its field), or nothing."""
    problems = []
    if revocation.reason(reason) is None:
        problems.append(FieldError("reason", Message(N_("Choose one of the reasons: %(choices)s."),
                                                     choices=", ".join(revocation.reasons()))))
    if len(note.strip()) < 5:
        problems.append(FieldError("note", N_("Say in a sentence what happened (the founder and officials read it; "
                                              "it is not published).")))
    return problems


def revoke_licence(*, ctx: NodeContext, db: Session, code: str, reason: str, note: str, actor: Actor) -> Licence:
    """A registrar revokes a licence of this region: the status, when and why; the licence PDF's and
    every licence credential's entries on the status list become invalid; a name the reason frees
    stops being registered. A second revocation is a 409 that changes nothing."""
    problems = revocation_problems(reason, note)
    if problems:
        raise Problem(422, N_("The revocation is incomplete"), detail=problems[0].reason, code="invalid-field",
                      errors=problems)
    chosen = revocation.reason(reason)
    assert chosen is not None  # checked above
    note = note.strip()
    # The row lock, and the row as it is now (not as this session read it before waiting for the
    # lock): of two registrars revoking at once, the second sees the first's revocation.
    licence = db.scalar(select(Licence).where(Licence.id == licence_for_official(db, code, ctx.region).id)
                        .with_for_update().execution_options(populate_existing=True))
    assert licence is not None  # found just above
    if licence.status == "revoked":
        assert licence.revoked_at is not None
        raise Problem(409, N_("The licence is already revoked"), code="already-revoked",
                      detail=Message(N_("Licence %(uscc)s was revoked on %(date)s (%(reason)s). A revocation "
                                        "cannot be repeated or changed."), uscc=licence.uscc,
                                     date=licence.revoked_at.astimezone(CHINA).date(),
                                     reason=licence.revocation_reason),
                      errors=[FieldError("uscc", N_("This licence is already revoked."))],
                      extra={"uscc": licence.uscc, "revoked_at": licence.revoked_at.isoformat(),
                             "revocation_reason": licence.revocation_reason})
    now = _now(ctx)
    before = {"status": licence.status}
    licence.status, licence.revoked_at = "revoked", now
    licence.revocation_reason, licence.revocation_note = chosen.code, note
    entries = list(db.scalars(select(IssuedCredential).where(
        ((IssuedCredential.subject_type == "licence") & (IssuedCredential.subject_id == licence.id))
        | ((IssuedCredential.subject_type == "licence_pdf") & (IssuedCredential.subject_id == licence.document_id)))))
    for entry in entries:
        entry.status = statuslist.INVALID
    if chosen.frees_name:
        name = db.scalar(select(RegisteredName).where(RegisteredName.owner_type == "enterprise",
                                                      RegisteredName.owner_id == licence.id))
        if name is not None and name.status == "registered":
            name.status, name.freed_at, name.updated_at = "freed", now, now
    record(db=db, actor=actor, region=ctx.region, action="licence.revoked", entity_type="licence",
           entity_id=licence.id, at=now, before=before,
           after={"status": "revoked", "uscc": licence.uscc, "reason": chosen.code, "note": note,
                  "status_entries": sorted(e.status_index for e in entries)})
    from eresident.crosscase import service as crosscase  # a case filed in another region hears of it

    crosscase.licence_revoked(ctx=ctx, db=db, formation=db.get_one(Formation, licence.formation_id), licence=licence)
    return licence


# --------------------------------------------------------------------------- verification

def find_companies(*, db: Session, region: str, query: str = "", limit: int = 50) -> list[dict]:
    """For officials: the company with this USCC or case number, else the latest licences of the region."""
    wanted = query.strip().upper().replace(" ", "")
    rows = select(Formation, Licence).join(Licence, Licence.formation_id == Formation.id) \
        .where(Formation.region == region)
    if wanted:
        rows = select(Formation, Licence).outerjoin(Licence, Licence.formation_id == Formation.id) \
            .where(Formation.region == region, (Licence.uscc == wanted) | (Formation.case_number == wanted))
    found = db.execute(rows.order_by(Formation.decided_at.desc(), Formation.created_at.desc()).limit(limit)).all()
    return [{"formation": f, "licence": licence, "name": db.get_one(RegisteredName, f.name_id)} for f, licence in found]


def licence_of(db: Session, formation: Formation) -> Licence | None:
    return db.scalar(select(Licence).where(Licence.formation_id == formation.id))


def licence_by_uscc(db: Session, code: str) -> Licence:
    """A licence of this region by USCC: 422 for a code that cannot exist, 404 for one not issued here."""
    try:
        info = uscc.validate(code)
    except uscc.UsccError as exc:
        raise Problem(422, N_("This is not a valid USCC"), detail=exc.reason, code="invalid-uscc",
                      errors=[FieldError("uscc", exc.reason)], extra={"check": exc.check}) from None
    licence = db.scalar(select(Licence).where(Licence.uscc == info.code))
    if licence is None:
        raise Problem(404, N_("No licence with this USCC"), code="licence-not-found",
                      detail=N_("This region has not issued a business licence with this Unified Social Credit "
                                "Code. It is not genuine here; a code of another region is checked on that "
                                "region's page."),
                      extra={"uscc": info.code, "genuine": False})
    return licence


def licence_status(licence: Licence) -> dict:
    """What anyone may learn about a licence: genuine (issued here), current or not, and for a
    revoked one when and why (the reason's text, not the registrar's note)."""
    current = licence.status == "valid"
    reason = revocation.reason(licence.revocation_reason)
    revoked_on = licence.revoked_at.astimezone(CHINA).date() if licence.revoked_at else None
    if current:
        message = "This licence is genuine and current."
    elif licence.status == "revoked":
        message = (f"This licence is genuine (the signature is the region's) but NOT current: it was revoked on "
                   f"{revoked_on}, reason: {reason.en if reason else licence.revocation_reason}.")
    else:
        message = f"This licence is genuine but {licence.status}."
    return {"uscc": licence.uscc, "genuine": True, "current": current, "status": licence.status,
            "name_zh": licence.name_zh, "name_en": licence.name_en,
            "legal_representative": licence.legal_representative, "established_on": licence.established_on,
            "term_until": licence.term_until, "issued_at": licence.issued_at, "region": licence.region,
            "revoked_at": licence.revoked_at, "revoked_on": revoked_on,
            "revocation_reason": licence.revocation_reason,
            "revocation_reason_zh": reason.zh if reason else None, "revocation_reason_en": reason.en if reason else None,
            "message": message}


def trust_roots(settings, pki: RegionPKI | None = None) -> list:
    """This region's root and every PEM under DATA_DIR/trust/ (other regions' roots)."""
    roots = [pki.root_cert] if pki is not None else []
    own = settings.data_dir / "keys" / "root-ca.pem"
    if pki is None and own.exists():
        roots += load_root_certificates(own.read_bytes())
    trust_dir = Path(settings.data_dir) / "trust"
    if trust_dir.is_dir():
        for path in sorted(trust_dir.glob("*.pem")):
            roots += load_root_certificates(path.read_bytes())
    return roots


def verify_licence_pdf(*, ctx: NodeContext, db: Session, data: bytes) -> dict:
    """An uploaded licence (or the foreign-investment report filed with it): PAdES signature against
    the trusted roots, then the register. `outcome` says which check decided, for the page:
    genuine | signature (signature.reason says why) | unknown-uscc | not-issued-file."""
    verdict: PdfVerdict = verify_pdf(data, trust_roots(ctx.settings, region_pki(ctx)))
    result = {"genuine": False, "current": False, "signature": verdict.as_dict(), "uscc": verdict.uscc,
              "document": None, "outcome": "signature"}
    if not verdict.valid:
        result["message"] = f"Not genuine: {verdict.detail}."
        return result
    metadata = signed_metadata(data)
    result["document"] = metadata.kind if metadata is not None else "unknown"
    licence = db.scalar(select(Licence).where(Licence.uscc == verdict.uscc)) if verdict.uscc else None
    if licence is None:
        result["outcome"] = "unknown-uscc"
        result["message"] = ("The signature is valid, but this region has no licence with this USCC: check it on "
                             "the issuing region's page.")
        return result
    digest = hashlib.sha256(data).hexdigest()
    if result["document"] == "fi_report":
        formation = db.get(Formation, licence.formation_id)
        issued = db.get(Document, formation.report_pdf_document_id) \
            if formation is not None and formation.report_pdf_document_id else None
        issued_sha256 = issued.sha256 if issued is not None else None
        what = "the foreign-investment information report this region filed for this USCC"
    else:
        issued_sha256, what = licence.pdf_sha256, "the licence this region issued for this USCC"
    if digest != issued_sha256:
        result["outcome"] = "not-issued-file"
        result["message"] = f"Not genuine: the file is not {what}."
        return result
    status = licence_status(licence)
    prefix = "This is the genuine foreign-investment information report filed with the licence. " \
        if result["document"] == "fi_report" else ""
    return {**result, **status, "outcome": "genuine", "message": prefix + status["message"]}
