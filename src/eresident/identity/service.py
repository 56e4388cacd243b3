"""The rules of the e-residency journey: apply, automatic checks, identity check, review, decision."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.documents.models import Document
from eresident.i18n import N_
from eresident.identity import countries, mrz
from eresident.identity.consents import CONSENTS
from eresident.identity.models import (Applicant, Application, ApplicationDocument, CheckResult,
                                       Consent, EResident, InfoRequest)
from eresident.identity.schemas import ApplicationCreate
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Message, Problem, conflict, forbidden, invalid, not_found
from eresident.kit.db import Prepared, driver, insert_attached, insert_rows
from eresident.kit.ids import case_number
from eresident.kit.sequences import next_value
from eresident.officials.models import Official
from eresident.sites.models import ServiceSite
from eresident.workflow import service as workflow

# Status -> (plain-language text, who the case waits on)
STATUSES: dict[str, tuple[str, str]] = {
    "awaiting_identity_check": (N_("Waiting for your identity check at the service site"), "applicant"),
    "awaiting_review": (N_("Waiting for a reviewer"), "region"),
    "in_review": (N_("Being reviewed"), "region"),
    "info_requested": (N_("We need more information from you"), "applicant"),
    "awaiting_decision": (N_("Reviewed, waiting for the decision"), "region"),
    "approved": (N_("Approved: you are an e-resident"), "nobody"),
    "refused": (N_("Refused"), "nobody"),
}
# E-resident statuses, as the applicant's page names them.
RESIDENT_STATUSES = (N_("active"), N_("suspended"), N_("revoked"))
# The same states, as officials read them.
OFFICIAL_STATUS_TEXT = {
    "awaiting_identity_check": "Waiting for the identity check at the service site",
    "awaiting_review": "Waiting for a reviewer",
    "in_review": "In review",
    "info_requested": "Waiting for the applicant's answer",
    "awaiting_decision": "Reviewed; waiting for the approver's decision",
    "approved": "Approved; e-resident number issued",
    "refused": "Refused",
}
OPEN_STATUSES = tuple(s for s in STATUSES if s not in ("approved", "refused"))
PASSPORT_INDEX_CONTEXT = "passport"
PROCESS = "e-residency"  # the published definition decides the steps; this code only reports events
REVIEW_STEP = "review"


def _mrz_name(value: str) -> str:
    """Names compared the way the MRZ writes them: A-Z only, words separated by one space."""
    return " ".join(re.sub(r"[^A-Z]+", " ", value.upper().replace("'", "")).split())


def _snapshot(app: Application) -> dict:
    return {"status": app.status, "version": app.version}


def parse_and_check_mrz(data: ApplicationCreate, *, today: date, min_validity_days: int) -> mrz.MRZ:
    """The passport checks that need no database: MRZ, consistency with typed fields, expiry.
    Any failure is a 422 naming the field; nothing is stored."""
    parsed, problems = _passport_problems(data, today=today, min_validity_days=min_validity_days)
    if problems:
        raise problems[0]
    assert parsed is not None
    return parsed


def _passport_problems(data: ApplicationCreate, *, today: date, min_validity_days: int,
                       skip: frozenset[str] = frozenset()) -> tuple[mrz.MRZ | None, list[Problem]]:
    """The passport checks in the order the API answers them (the first is its refusal); a page shows
    them all. Fields in `skip` were found invalid already (they are None in `data`) and are not compared."""
    problems: list[Problem] = []
    parsed = None
    if "mrz" not in skip:
        try:
            parsed = mrz.parse_mrz(data.mrz, today=today)
        except mrz.MRZError as exc:
            reason = Message(N_("Machine-readable zone: %(problem)s Copy the lines again exactly as printed at the "
                                "bottom of your passport's photo page; do not change digits to make them fit."),
                             problem=exc.message)
            problems.append(Problem(422, N_("The machine-readable zone is not valid"), detail=reason,
                                    code="invalid-mrz", errors=[FieldError("mrz", reason)],
                                    extra={"check": exc.check, "mrz_field": exc.field}))
    if parsed is not None:
        errors = _mismatches(data, parsed, skip)
        if errors:
            problems.append(Problem(422, N_("Your details differ from your passport"), code="mrz-mismatch",
                                    detail=errors[0].reason, errors=errors))
        needed = today + timedelta(days=min_validity_days)
        if parsed.expiry_date < needed:
            reason = Message(N_("Your passport expires on %(expiry)s. It must be valid until at least %(needed)s "
                                "(six months from today). Renew it, then apply."),
                             expiry=parsed.expiry_date, needed=needed)
            problems.append(Problem(422, N_("Your passport expires too soon"), detail=reason,
                                    code="passport-expiring", errors=[FieldError("passport_expiry", reason)]))
    if "birth_date" not in skip and data.birth_date >= today:
        problems.append(invalid("birth_date", N_("The date of birth must be in the past.")))
    return parsed, problems


def _mismatches(data: ApplicationCreate, parsed: mrz.MRZ, skip: frozenset[str]) -> list[FieldError]:
    """Each typed field that differs from the MRZ."""
    errors: list[FieldError] = []

    def mismatch(field: str, typed: object, in_mrz: object, label: str) -> None:
        errors.append(FieldError(field, Message(N_("The %(what)s you typed (%(typed)s) differs from the passport's "
                                                   "machine-readable zone (%(in_mrz)s)."),
                                                what=Message(label), typed=typed, in_mrz=in_mrz)))

    def compare(field: str) -> bool:
        return field not in skip

    if compare("surname") and _mrz_name(data.surname) != parsed.surname:
        mismatch("surname", data.surname, parsed.surname, N_("surname"))
    typed_given = _mrz_name(data.given_names or "")
    # The MRZ truncates long names; a truncated MRZ name must be a prefix of the typed one.
    if compare("given_names") and typed_given != parsed.given_names and not (
            parsed.given_names and typed_given.startswith(parsed.given_names)
            and len(parsed.surname) + len(parsed.given_names) >= 30):
        mismatch("given_names", data.given_names, parsed.given_names, N_("given names"))
    if compare("birth_date") and parsed.birth_date is not None and parsed.birth_date != data.birth_date:
        mismatch("birth_date", data.birth_date.isoformat(), parsed.birth_date.isoformat(), N_("date of birth"))
    if compare("sex") and parsed.sex != data.sex:
        mismatch("sex", data.sex, parsed.sex, N_("sex"))
    if compare("nationality") and countries.alpha2(parsed.nationality) != data.nationality:
        mismatch("nationality", data.nationality, parsed.nationality, N_("nationality"))
    if compare("passport_number") and parsed.document_number != data.passport_number:
        mismatch("passport_number", data.passport_number, parsed.document_number, N_("passport number"))
    if compare("passport_expiry") and parsed.expiry_date != data.passport_expiry:
        mismatch("passport_expiry", data.passport_expiry.isoformat(), parsed.expiry_date.isoformat(),
                 N_("expiry date"))
    return errors


def _consent_problems(data: ApplicationCreate) -> list[Problem]:
    return [invalid(f"consents.{purpose}", N_("We cannot process your application without this consent."),
                    title=N_("A required consent is missing"))
            for purpose, text in CONSENTS.items() if text.required and not getattr(data.consents, purpose)]


def _check_consents(data: ApplicationCreate) -> None:
    problems = _consent_problems(data)
    if problems:
        raise problems[0]


def form_problems(*, ctx: NodeContext, db: Session, applicant: Applicant, data: ApplicationCreate,
                  skip: frozenset[str] = frozenset()) -> list[FieldError]:
    """Every refusal a submission of `data` would meet on its fields, all at once, so the application
    page lists them together rather than one stage per attempt. `skip` names the fields the form found
    invalid already (None in `data`). Reads only; what remains (a duplicate passport) is the submission's."""
    problems: list[Problem] = []
    if "consents" not in skip:
        problems += _consent_problems(data)
    problems += _passport_problems(data, today=ctx.clock.now().date(),
                                   min_validity_days=ctx.settings.passport_min_validity_days, skip=skip)[1]
    checks = [(("site_code",), lambda: _load_site(db, ctx, data.site_code)),
              (("photo_document_id", "supporting_document_ids"), lambda: _load_documents(db, applicant, data))]
    for fields, check in checks:
        if skip.isdisjoint(fields):
            try:
                check()
            except Problem as problem:
                problems.append(problem)
    return [error for problem in problems for error in problem.errors]


# The submission's reads, compiled once and run on the driver (kit.db.Prepared).
_sites, _documents, _applications = ServiceSite.__table__, Document.__table__, Application.__table__
_SITE_BY_CODE = Prepared(select(_sites.c.id, _sites.c.active, _sites.c.region).where(_sites.c.code == bindparam("code")))
_SAME_PASSPORT = Prepared(select(_applications.c.id, _applications.c.applicant_id, _applications.c.status,
                                 _applications.c.case_number).where(_applications.c.passport_index == bindparam("index")))
_PASSPORT_LOCK = Prepared(sql("SELECT pg_advisory_xact_lock(:key)").bindparams(bindparam("key", type_=BigInteger)))


class Earlier(NamedTuple):
    """Another application with the same passport."""

    id: uuid.UUID
    applicant_id: uuid.UUID
    status: str
    case_number: str


@functools.cache
def _documents_by_id(count: int) -> Prepared:
    """The documents with `count` given ids (one statement per count: a submission names 1 to 11)."""
    return Prepared(select(_documents.c.id, _documents.c.kind, _documents.c.owner_type, _documents.c.owner_id)
                    .where(_documents.c.id.in_([bindparam(f"id{i}", type_=_documents.c.id.type)
                                                for i in range(count)])))


def _load_site(db: Session, ctx: NodeContext, code: str) -> uuid.UUID:
    """The id of an active site of this region with this code."""
    site = driver(db).first(_SITE_BY_CODE, {"code": code})
    if site is None or not site[1] or site[2] != ctx.region:
        raise invalid("site_code", N_("Choose one of this region's overseas service sites."))
    return site[0]


def _load_documents(db: Session, applicant: Applicant, data: ApplicationCreate) -> list[tuple[uuid.UUID, str]]:
    """(document id, kind) of the photo and the supporting documents, all read in one query."""
    wanted = [(data.photo_document_id, "photo", "photo_document_id")] + [
        (doc_id, None, f"supporting_document_ids/{i}")
        for i, doc_id in enumerate(data.supporting_document_ids)]
    ids = {w[0] for w in wanted}
    rows = {row[0]: row for row in driver(db).all(_documents_by_id(len(ids)),
                                                   {f"id{i}": doc_id for i, doc_id in enumerate(ids)})}
    found = []
    for doc_id, kind, field in wanted:
        doc = rows.get(doc_id)
        if doc is None or doc[2] != "applicant" or doc[3] != applicant.id:
            raise invalid(field, N_("No document with this id was uploaded by you."))
        if kind and doc[1] != kind:
            raise invalid(field, Message(N_("This document was uploaded as %(uploaded)s, not as a %(wanted)s."),
                                         uploaded=doc[1], wanted=kind))
        found.append((doc[0], doc[1]))
    return found


def _screen(ctx: NodeContext, db: Session, data: ApplicationCreate):
    names = [f"{data.given_names} {data.surname}".strip(), data.native_name]
    return ctx.screening.screen(db, names=names, birth_date=data.birth_date, nationality=data.nationality.lower())


@dataclass(frozen=True)
class Checks:
    """The automatic checks of a submission: rows for check_results, and what the process may see."""

    rows: list[dict]
    screening_hits: int
    risk_score: float

    @property
    def facts(self) -> dict:
        """What the process definition may decide on: no personal data, only check results."""
        duplicate = next(r for r in self.rows if r["check"] == "duplicate")
        return {"screening_hits": self.screening_hits, "risk_score": round(self.risk_score / 100.0, 4),
                "refused_before": duplicate["outcome"] == "refer"}

    @property
    def outcomes(self) -> dict[str, str]:
        return {r["check"]: r["outcome"] for r in self.rows}


def _check_results(*, application_id: uuid.UUID, passport_expiry: date, document_format: str,
                   earlier: list, hits: list, now: datetime) -> Checks:
    """The automatic checks as records. Hits send the case to a person; they never refuse (PIPL Art. 24)."""
    refused = [a.case_number for a in earlier if a.status == "refused"]
    results = [
        ("mrz", "pass", {"format": document_format},
         "All MRZ check digits are valid and match the typed details."),
        ("expiry", "pass", {}, f"The passport is valid until {passport_expiry.isoformat()}."),
        ("duplicate", "refer" if refused else "pass", {"earlier_refusals": refused},
         f"This passport was refused before in case {', '.join(refused)}." if refused
         else "No other application in this region uses this passport."),
        ("screening", "refer" if hits else "pass", {"hits": [h.to_dict() for h in hits]},
         f"{len(hits)} possible match(es) on the sanctions list: a person must look at them."
         if hits else "No match on the sanctions list."),
    ]
    rows = [{"id": uuid.uuid4(), "application_id": application_id, "check": check, "outcome": outcome,
             "details": details, "summary": summary, "created_at": now}
            for check, outcome, details, summary in results]
    return Checks(rows, len(hits), max((h.score for h in hits), default=0.0))


def _same_passport(db: Session, *, index: str, applicant: Applicant,
                   exclude: uuid.UUID | None = None) -> list[Earlier]:
    """Every other application with this passport (plain rows); refuses while one is open or approved."""
    d = driver(db)
    if not d.is_sqlite:
        # Serialise submissions per passport for the rest of the transaction (SQLite writers
        # are serialised already), so two cannot both pass this check.
        d.run(_PASSPORT_LOCK, {"key": int(index[:15], 16)})
    earlier = [row for row in map(Earlier._make, d.all(_SAME_PASSPORT, {"index": index})) if row.id != exclude]
    existing = next((a for a in earlier if a.status in OPEN_STATUSES + ("approved",)), None)
    if existing is None:
        return earlier
    if existing.applicant_id == applicant.id:
        raise conflict(Message(N_("You already have application %(case)s for this passport."),
                               case=existing.case_number), code="duplicate-application")
    # Someone else's case: do not reveal its number or status.
    raise conflict(N_("An application for this passport already exists in this region. If this is "
                      "your passport, contact the region's help desk."), code="duplicate-application")


def _apply_fields(ctx: NodeContext, app: Application, data: ApplicationCreate, parsed: mrz.MRZ) -> None:
    app.surname = data.surname
    app.given_names = data.given_names
    app.native_name = data.native_name
    app.birth_date = data.birth_date
    app.sex = data.sex
    app.nationality = countries.alpha3(data.nationality) or parsed.nationality
    app.residence_country = data.residence_country
    app.phone = data.phone
    app.address = data.address
    app.passport_number_enc = ctx.cipher.encrypt(data.passport_number, context="applications.passport")
    app.passport_index = ctx.blind_index(data.passport_number, context=PASSPORT_INDEX_CONTEXT)
    app.mrz_enc = ctx.cipher.encrypt("\n".join(parsed.lines), context="applications.mrz")
    app.document_format = parsed.format
    app.passport_expiry = parsed.expiry_date
    app.purpose = data.purpose


def submit_application(*, ctx: NodeContext, db: Session, applicant: Applicant,
                       data: ApplicationCreate, actor: Actor) -> Application:
    """Check everything first (reads only), then write the case in a few plain statements: the
    application, its documents, checks and consents, the workflow case, the audit event."""
    if applicant.email_confirmed_at is None:
        raise forbidden(N_("Confirm your email address first: open the link we sent you."))
    now = ctx.clock.now()
    _check_consents(data)
    parsed = parse_and_check_mrz(data, today=now.date(),
                                 min_validity_days=ctx.settings.passport_min_validity_days)
    site_id = _load_site(db, ctx, data.site_code)
    documents = _load_documents(db, applicant, data)
    index = ctx.blind_index(data.passport_number, context=PASSPORT_INDEX_CONTEXT)
    earlier = _same_passport(db, index=index, applicant=applicant)
    hits = _screen(ctx, db, data)

    app_id = uuid.uuid4()
    checks = _check_results(application_id=app_id, passport_expiry=parsed.expiry_date,
                            document_format=parsed.format, earlier=earlier, hits=hits, now=now)
    # Checks ran during submission; a version that waits for them in parallel hears so at its start.
    outcome = workflow.start_case(ctx=ctx, db=db, process=PROCESS, subject_type="application",
                                  subject_id=app_id, facts=checks.facts, events=("checks_completed",))
    # Taken last: on PostgreSQL the counter row stays locked until COMMIT.
    serial = next_value(db, f"case:{ctx.region}:{now.year}")
    app = Application(id=app_id, case_number=case_number(ctx.region, now.year, serial), region=ctx.region,
                      applicant_id=applicant.id, status=outcome.status, version=1, site_id=site_id,
                      photo_document_id=data.photo_document_id, screening_hits=checks.screening_hits,
                      risk_score=checks.risk_score, created_at=now, submitted_at=now, reviewer_id=None,
                      recommendation=None, recommendation_note=None, approver_id=None, decision=None,
                      decision_reasons=None, decided_at=None)
    _apply_fields(ctx, app, data, parsed)
    with driver(db).pipeline():  # PostgreSQL: the four inserts in one round trip
        insert_attached(db, app)
        insert_rows(db, ApplicationDocument, [{"application_id": app_id, "document_id": doc_id, "kind": kind}
                                              for doc_id, kind in documents])
        insert_rows(db, CheckResult, checks.rows)
        insert_rows(db, Consent, [{"id": uuid.uuid4(), "applicant_id": applicant.id, "application_id": app_id,
                                   "purpose": purpose, "text_version": text.version, "text_sha256": text.sha256,
                                   "granted": bool(getattr(data.consents, purpose)), "recorded_at": now,
                                   "withdrawn_at": None}
                                  for purpose, text in CONSENTS.items()])
    record(db=db, actor=actor, region=ctx.region, action="application.submitted",
           entity_type="application", entity_id=app.id, at=now, before=None,
           after={**_snapshot(app), "case_number": app.case_number, "process_version": outcome.case.version,
                  "checks": checks.outcomes})
    _finish_if_ended(ctx=ctx, db=db, app=app, outcome=outcome, actor=actor)
    return app


def resubmit_application(*, ctx: NodeContext, db: Session, applicant: Applicant, application_id: uuid.UUID,
                         data: ApplicationCreate, answer: str, actor: Actor) -> Application:
    app = get_for_applicant(db=db, applicant=applicant, application_id=application_id)
    if app.status != "info_requested":
        raise conflict(N_("This application is not waiting for information from you."),
                       code="wrong-status")
    now = ctx.clock.now()
    _check_consents(data)
    parsed = parse_and_check_mrz(data, today=now.date(),
                                 min_validity_days=ctx.settings.passport_min_validity_days)
    site_id = _load_site(db, ctx, data.site_code)
    documents = _load_documents(db, applicant, data)
    index = ctx.blind_index(data.passport_number, context=PASSPORT_INDEX_CONTEXT)
    earlier = _same_passport(db, index=index, applicant=applicant, exclude=app.id)
    hits = _screen(ctx, db, data)
    before = _snapshot(app)
    _apply_fields(ctx, app, data, parsed)
    app.site_id = site_id
    app.photo_document_id = data.photo_document_id
    app.documents = [ApplicationDocument(document_id=doc_id, kind=kind) for doc_id, kind in documents]
    request = open_info_request(db, app.id)
    if request is not None:
        request.answer = answer
        request.answered_at = now
    checks = _check_results(application_id=app.id, passport_expiry=parsed.expiry_date,
                            document_format=parsed.format, earlier=earlier, hits=hits, now=now)
    app.checks = [CheckResult(**row) for row in checks.rows]
    app.screening_hits, app.risk_score = checks.screening_hits, checks.risk_score
    outcome = workflow.signal(ctx=ctx, db=db, case=workflow.case_for(db, "application", app.id),
                              event="resubmitted", facts=checks.facts)
    assert outcome.status is not None, "every step of the application process names a status"
    app.status = outcome.status
    app.version += 1
    record(db=db, actor=actor, region=ctx.region, action="application.resubmitted",
           entity_type="application", entity_id=app.id, at=now, before=before,
           after={**_snapshot(app), "checks": checks.outcomes})
    _finish_if_ended(ctx=ctx, db=db, app=app, outcome=outcome, actor=actor)
    return app


def editable_values(*, ctx: NodeContext, db: Session, app: Application) -> dict:
    """The application as form values, so an applicant can correct it after a request for information."""
    site = db.get_one(ServiceSite, app.site_id)
    values = {"surname": app.surname, "given_names": app.given_names, "native_name": app.native_name,
              "birth_date": app.birth_date.isoformat(), "sex": app.sex,
              "nationality": countries.alpha2(app.nationality) or "", "residence_country": app.residence_country,
              "phone": app.phone, "address": app.address, "passport_expiry": app.passport_expiry.isoformat(),
              "passport_number": ctx.cipher.decrypt(app.passport_number_enc, context="applications.passport"),
              "mrz": ctx.cipher.decrypt(app.mrz_enc, context="applications.mrz"), "purpose": app.purpose,
              "site_code": site.code}
    granted = db.scalars(select(Consent.purpose).where(Consent.application_id == app.id, Consent.granted.is_(True)))
    values.update({f"consent_{purpose}": "yes" for purpose in granted})
    return values


def get_for_applicant(*, db: Session, applicant: Applicant, application_id: uuid.UUID) -> Application:
    app = db.get(Application, application_id)
    # Another applicant's case is "not found", not "forbidden": its existence is not revealed.
    if app is None or app.applicant_id != applicant.id:
        raise not_found(N_("Application"))
    return app


def get_application(*, db: Session, application_id: uuid.UUID) -> Application:
    app = db.get(Application, application_id)
    if app is None:
        raise not_found(N_("Application"))
    return app


def open_info_request(db: Session, application_id: uuid.UUID) -> InfoRequest | None:
    return db.scalars(select(InfoRequest).where(InfoRequest.application_id == application_id,
                                                InfoRequest.answered_at.is_(None))
                      .order_by(InfoRequest.created_at.desc())).first()


def latest_identity_check(db: Session, application_id: uuid.UUID):
    from eresident.sites.models import IdentityCheck

    return db.scalars(select(IdentityCheck).where(IdentityCheck.application_id == application_id)
                      .order_by(IdentityCheck.checked_at.desc())).first()


def _follow(*, ctx: NodeContext, db: Session, app: Application, outcome: workflow.Outcome, action: str,
            actor: Actor, extra: dict | None = None) -> None:
    """Mirror the engine's status on the application, audit it, and finish an ended case."""
    before = _snapshot(app)
    assert outcome.status is not None, "every step of the application process names a status"
    app.status = outcome.status
    app.version += 1
    record(db=db, actor=actor, region=ctx.region, action=action, entity_type="application",
           entity_id=app.id, at=ctx.clock.now(), before=before, after={**_snapshot(app), **(extra or {})})
    _finish_if_ended(ctx=ctx, db=db, app=app, outcome=outcome, actor=actor)


def _finish_if_ended(*, ctx: NodeContext, db: Session, app: Application, outcome: workflow.Outcome,
                     actor: Actor) -> None:
    """An approved case makes an e-resident, whoever or whatever rule decided it."""
    if outcome.ended is None:
        return
    now = ctx.clock.now()
    app.decided_at = now
    app.decision = "approve" if outcome.ended == "approved" else "refuse"
    if outcome.case.decided_by == "automatic":
        rule = workflow.last_auto_decision(outcome.case) or {}
        app.decision_reasons = (f"Decided automatically by rule {rule.get('rule_index', 0) + 1} of "
                                f"{outcome.case.process} v{outcome.case.version}: a clean case.")
    if outcome.ended != "approved":
        return
    serial = next_value(db, f"e-resident:{ctx.region}")
    resident = EResident(number=f"{ctx.region}-ER-{now.year}-{serial:06d}", region=ctx.region,
                         application_id=app.id, applicant_id=app.applicant_id, status="active", issued_at=now)
    db.add(resident)
    db.flush()
    record(db=db, actor=actor, region=ctx.region, action="e_resident.created", entity_type="e_resident",
           entity_id=resident.id, at=now, before=None, after={"status": "active", "number": resident.number,
                                                                "decided_by": outcome.case.decided_by})


def _case(db: Session, app: Application):
    return workflow.case_for(db, "application", app.id)


def identity_verified(*, ctx: NodeContext, db: Session, app: Application, verified: bool, actor: Actor) -> None:
    """Called by the sites domain once an agent attested the identity check."""
    outcome = workflow.signal(ctx=ctx, db=db, case=_case(db, app), event="identity_checked",
                              facts={"identity_verified": verified})
    _follow(ctx=ctx, db=db, app=app, outcome=outcome, action="application.identity_checked", actor=actor,
            extra={"identity_verified": verified})


def claim(*, ctx: NodeContext, db: Session, application_id: uuid.UUID, official: Official, actor: Actor) -> Application:
    app = get_application(db=db, application_id=application_id)
    outcome = workflow.claim(ctx=ctx, db=db, case=_case(db, app), step=REVIEW_STEP,
                             actor=workflow.engine_actor(official, ctx.region))
    app.reviewer_id = official.id
    _follow(ctx=ctx, db=db, app=app, outcome=outcome, action="application.claimed", actor=actor)
    return app


def release(*, ctx: NodeContext, db: Session, application_id: uuid.UUID, official: Official, actor: Actor) -> Application:
    app = get_application(db=db, application_id=application_id)
    outcome = workflow.release(ctx=ctx, db=db, case=_case(db, app), step=REVIEW_STEP,
                               actor=workflow.engine_actor(official, ctx.region))
    app.reviewer_id = None
    _follow(ctx=ctx, db=db, app=app, outcome=outcome, action="application.released", actor=actor)
    return app


def request_information(*, ctx: NodeContext, db: Session, application_id: uuid.UUID, official: Official,
                        message: str, actor: Actor) -> Application:
    app = get_application(db=db, application_id=application_id)
    outcome = workflow.act(ctx=ctx, db=db, case=_case(db, app), step=REVIEW_STEP, action="request_info",
                           actor=workflow.engine_actor(official, ctx.region), note=message)
    db.add(InfoRequest(application_id=app.id, official_id=official.id, message=message,
                       created_at=ctx.clock.now()))
    _follow(ctx=ctx, db=db, app=app, outcome=outcome, action="application.info_requested", actor=actor)
    return app


def recommend(*, ctx: NodeContext, db: Session, application_id: uuid.UUID, official: Official,
              recommendation: str, note: str, actor: Actor) -> Application:
    app = get_application(db=db, application_id=application_id)
    if recommendation not in ("approve", "refuse"):
        raise invalid("recommendation", N_("Choose approve or refuse."))
    if recommendation == "refuse" and not note.strip():
        raise invalid("note", N_("Say why you recommend refusal; the approver and the applicant rely on it."))
    outcome = workflow.act(ctx=ctx, db=db, case=_case(db, app), step=REVIEW_STEP,
                           action=f"recommend_{recommendation}", actor=workflow.engine_actor(official, ctx.region),
                           note=note)
    app.reviewer_id = official.id
    app.recommendation = recommendation
    app.recommendation_note = note
    _follow(ctx=ctx, db=db, app=app, outcome=outcome, action="application.recommended", actor=actor,
            extra={"recommendation": recommendation})
    return app


def decide(*, ctx: NodeContext, db: Session, application_id: uuid.UUID, official: Official,
           decision: str, reasons: str, actor: Actor) -> Application:
    """The second pair of eyes: the published process says who may decide (never the reviewer)."""
    app = get_application(db=db, application_id=application_id)
    if decision not in ("approve", "refuse"):
        raise invalid("decision", N_("Choose approve or refuse."))
    if decision == "refuse" and not reasons.strip():
        raise invalid("reasons", N_("Give the reasons for refusal; the applicant will read them."))
    case = _case(db, app)
    # One approver or a panel: whichever approver step the published version has opened.
    step = workflow.open_task(db, case, "approver") or "decision"
    outcome = workflow.act(ctx=ctx, db=db, case=case, step=step, action=decision,
                           actor=workflow.engine_actor(official, ctx.region), note=reasons)
    app.approver_id = official.id
    app.decision_reasons = reasons
    action = {"approved": "application.approved", "refused": "application.refused"}.get(
        outcome.ended or "", "application.decision_recorded")  # a quorum may need more approvers
    _follow(ctx=ctx, db=db, app=app, outcome=outcome, action=action, actor=actor)
    return app


def e_resident_for_application(db: Session, application_id: uuid.UUID) -> EResident | None:
    return db.scalar(select(EResident).where(EResident.application_id == application_id))


def e_resident_of(db: Session, applicant: Applicant) -> EResident | None:
    """The applicant's own e-residency of this node (not a recognition of another region's)."""
    return db.scalars(select(EResident).where(EResident.applicant_id == applicant.id,
                                              EResident.application_id.is_not(None))
                      .order_by(EResident.issued_at.desc())).first()


def resident_for(db: Session, who: Applicant | str, region: str) -> EResident | None:
    """A local e-resident of `region`, or an e-resident of another region recognised here, by
    applicant account or e-resident number (identity/recognition.py); None when neither."""
    from eresident.identity import recognition

    return recognition.resident_for(db, who, region)


def person_of(db: Session, resident: EResident):
    """Name and nationality (alpha-3) of a local or recognised e-resident."""
    from eresident.identity import recognition

    return recognition.person_of(db, resident)


def set_e_resident_status(*, ctx: NodeContext, db: Session, number: str, status: str, reason: str,
                          actor: Actor) -> EResident:
    if status not in ("active", "suspended", "revoked"):
        raise invalid("status", N_("Use active, suspended or revoked."))
    resident = db.scalar(select(EResident).where(EResident.number == number))
    if resident is None:
        raise not_found(N_("E-resident"))
    if resident.application_id is None:
        raise conflict(Message(N_("%(number)s is an e-resident of %(region)s recognised here; its status follows "
                                  "that region."), number=number, region=resident.region), code="recognised-resident")
    if resident.status == "revoked":
        raise conflict(N_("A revoked e-residency cannot change status."), code="wrong-status")
    before = {"status": resident.status}
    resident.status = status
    resident.status_reason = reason
    from eresident.credentials.service import sync_status  # credentials follow the residency

    sync_status(db=db, resident=resident)
    from eresident.federation.recognition import status_changed  # peers that recognised them hear of it

    status_changed(ctx=ctx, db=db, resident=resident, reason=reason)
    record(db=db, actor=actor, region=ctx.region, action=f"e_resident.{status}",
           entity_type="e_resident", entity_id=resident.id, at=ctx.clock.now(), before=before,
           after={"status": status})
    return resident


def worklist(*, db: Session, statuses: tuple[str, ...], region: str, limit: int = 200) -> list[Application]:
    return list(db.scalars(select(Application).where(Application.region == region,
                                                     Application.status.in_(statuses))
                           .order_by(Application.submitted_at).limit(limit)))


def applications_of(*, db: Session, applicant: Applicant) -> list[Application]:
    return list(db.scalars(select(Application).where(Application.applicant_id == applicant.id)
                           .order_by(Application.created_at.desc())))
