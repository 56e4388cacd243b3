"""The rules of bank account requests: the founder's consent to share with one bank, the KYC package
queued in the transaction that issues the licence (or later, on request), delivery to the bank with
retries (signed, idempotent), the bank's signed callbacks applied exactly once, the founder's view of
every step, and the officers' view of stuck requests."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import httpx
import structlog
from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.banking import protocol, trust
from eresident.banking.models import BankCallback, BankConsent, BankOutboxMessage, BankRequest, BankRequestEvent
from eresident.credentials.models import IssuedCredential
from eresident.crypto import statuslist
from eresident.enterprise import service as enterprise
from eresident.federation import httpsig
from eresident.federation.keys import node_keys
from eresident.federation.service import describe_response, retry_delay
from eresident.i18n import N_
from eresident.identity.models import Applicant, EResident
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Message, Problem, conflict, invalid, not_found
from eresident.kit.mail import queue_mail

log = structlog.get_logger("eresident.banking")

BANKS: dict[str, dict[str, Any]] = {"SANDBOX": {"name": "Sandbox Partner Bank", "name_zh": "沙箱合作银行",
                     "products": ["basic_rmb", "capital_foreign_currency"],
                     # The bank takes a signed notice of a withdrawn consent (POST /v1/consent-withdrawals).
                     # A bank without it: the withdrawal is recorded and the founder told to contact the bank.
                     "withdrawal_notice": True, "contact": "the sandbox bank's service desk"}}
CONSENT_VERSION = "bank-sharing-v2"
CONSENT_TEXT = (
    "I consent to {region_name} sending the following to {bank_name}, so that it can decide on opening a "
    "basic RMB account and a foreign-currency capital account for my company: the business licence "
    "(USCC, names, capital, address, legal representative, the licence's SHA-256), my e-resident number "
    "and the id of my e-residency credential, and the names, countries and shares of the company's "
    "beneficial owners. {bank_name} handles these under its own privacy notice. I can withdraw this "
    "consent at any time: before the request is sent, nothing is sent; after, {bank_name} is told to stop and "
    "to delete what it received, except what the law requires it to keep.")
STATUS_TEXT = {
    "queued": "Waiting to be sent to the bank",
    "with_bank": "The bank is checking the KYC package",
    "video_call_required": "The bank asks for a video call: book one of the offered slots",
    "video_call_booking": "Your video-call booking is being sent to the bank",
    "video_call_booked": "Video call booked: the bank decides after the call",
    "refused": "The bank refused to open the accounts",
    "opened": "Accounts opened",
    "cancelled": "Cancelled: you withdrew your consent before the request was sent",
    "withdrawn": "Stopped: you withdrew your consent after the request was sent",
}
FINAL = ("refused", "opened", "cancelled", "withdrawn")
NEXT_STEP = {
    "queued": "Nothing to do: the request goes out automatically, also if the bank is briefly unavailable.",
    "with_bank": "Nothing to do: the bank answers here.",
    "video_call_required": "Book a slot: POST /api/v1/companies/{uscc}/bank/video-call {{\"slot\": …}}.",
    "video_call_booking": "Nothing to do: the booking goes out automatically.",
    "video_call_booked": "Join the video call at the booked time with your passport at hand.",
    "refused": "The bank gave its reason above. You may ask another partner bank; the tax registration and "
               "the licence are not affected.",
    "opened": "Use the account numbers above; the capital account receives the registered capital from abroad.",
    "cancelled": "Nothing was sent to the bank. To ask it after all, consent again: POST "
                 "/api/v1/companies/{uscc}/bank/requests.",
    "withdrawn": "See `withdrawal` for what the bank was told and what it answered. This bank cannot be asked "
                 "again for this company; you may ask another partner bank.",
}


def bank_info(code: str) -> dict:
    info = BANKS.get(code)
    if info is None:
        raise invalid("bank", Message(N_("unknown bank; partner banks: %(banks)s"), banks=", ".join(sorted(BANKS))))
    return info


def consent_text(ctx: NodeContext, code: str) -> str:
    return CONSENT_TEXT.format(region_name=ctx.settings.region_name, bank_name=bank_info(code)["name"])


def consent_sha256(ctx: NodeContext, code: str) -> str:
    return hashlib.sha256(consent_text(ctx, code).encode()).hexdigest()


def banks(ctx: NodeContext) -> list[dict]:
    return [{"code": code, **info, "consent_version": CONSENT_VERSION, "consent_text": consent_text(ctx, code),
             "consent_text_sha256": consent_sha256(ctx, code)} for code, info in BANKS.items()]


def _check_consent(ctx: NodeContext, code: str, text_sha256: str, agree: bool) -> None:
    bank_info(code)
    if not agree:
        raise invalid("agree", N_("the bank receives nothing without your explicit consent"))
    if text_sha256 != consent_sha256(ctx, code):
        raise Problem(422, N_("Consent to another text"), code="invalid-field",
                      detail=N_("The consent must be to the current text: GET /api/v1/banks and send its SHA-256."),
                      errors=[FieldError("consent_text_sha256", N_("not the SHA-256 of the current consent text"))])


# --------------------------------------------------------------------------- consent and request

def record_consent(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID, bank: str,
                   text_sha256: str, agree: bool, actor: Actor) -> BankConsent:
    """Before the licence: the founder consents now, and the request goes out when the licence is issued."""
    _check_consent(ctx, bank, text_sha256, agree)
    formation = enterprise.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    if formation.status in ("approved", "refused"):
        raise conflict(N_("The formation is decided: ask for the account on the company "
                          "(POST /api/v1/companies/{uscc}/bank/requests)."), code="wrong-status")
    return _consent(ctx, db, formation.id, applicant.id, bank, actor)


def _consent_row(db: Session, formation_id: uuid.UUID, bank: str) -> BankConsent | None:
    """The consent row, locked (PostgreSQL) so a withdrawal and the licence's issuance take turns."""
    return db.scalar(select(BankConsent).where(BankConsent.formation_id == formation_id,
                                               BankConsent.bank_code == bank).with_for_update(key_share=True))


def _consent(ctx: NodeContext, db: Session, formation_id: uuid.UUID, applicant_id: uuid.UUID, bank: str,
             actor: Actor) -> BankConsent:
    row = _consent_row(db, formation_id, bank)
    now = ctx.clock.now()
    if row is None:
        row = BankConsent(id=uuid.uuid4(), formation_id=formation_id, applicant_id=applicant_id, bank_code=bank,
                          text_version=CONSENT_VERSION, text_sha256=consent_sha256(ctx, bank), given_at=now)
        db.add(row)
        db.flush()
    elif row.withdrawn_at is not None:  # consenting again after a withdrawal: a new consent, to today's text
        row.text_version, row.text_sha256, row.given_at = CONSENT_VERSION, consent_sha256(ctx, bank), now
        row.withdrawn_at = None
    else:
        return row
    record(db=db, actor=actor, region=ctx.region, action="bank.consent_given", entity_type="formation",
           entity_id=formation_id, at=now, after={"bank": bank, "version": row.text_version,
                                                  "text_sha256": row.text_sha256})
    return row


def on_licence_issued(*, ctx: NodeContext, db: Session, licence, formation, actor: Actor) -> list[BankRequest]:
    """In the issuing transaction: queue a request to every bank the founder consented to (and has
    not withdrawn the consent from)."""
    consents = db.scalars(select(BankConsent).where(BankConsent.formation_id == formation.id,
                                                    BankConsent.withdrawn_at.is_(None))
                          .order_by(BankConsent.given_at).with_for_update(key_share=True)).all()
    return [_create_request(ctx, db, licence, formation, consent, actor) for consent in consents]


def request_after_licence(*, ctx: NodeContext, db: Session, applicant: Applicant, uscc: str, bank: str,
                          text_sha256: str, agree: bool, actor: Actor) -> BankRequest:
    _check_consent(ctx, bank, text_sha256, agree)
    licence, formation = _company_of(db, applicant, uscc)
    consent = _consent(ctx, db, formation.id, applicant.id, bank, actor)
    existing = db.scalar(select(BankRequest).where(BankRequest.licence_id == licence.id,
                                                   BankRequest.bank_code == bank).with_for_update(key_share=True))
    if existing is not None and existing.status == "cancelled":
        # Withdrawn before anything left: the bank never saw this request, so it can go out as new.
        return _requeue(ctx, db, existing, licence, formation, consent, actor)
    if existing is not None:
        raise conflict(Message(N_("The company has asked %(bank)s already; see GET /api/v1/companies/%(uscc)s/bank."),
                               bank=bank, uscc=licence.uscc), code="already-requested")
    return _create_request(ctx, db, licence, formation, consent, actor)


def _company_of(db: Session, applicant: Applicant, uscc: str):
    licence = enterprise.licence_by_uscc(db, uscc)
    formation = enterprise.get_for_owner(db=db, applicant=applicant, formation_id=licence.formation_id)
    return licence, formation


def _credential_id(db: Session, resident: EResident) -> str | None:
    row = db.scalars(select(IssuedCredential).where(IssuedCredential.subject_id == resident.id,
                                                    IssuedCredential.subject_type == "e_resident",
                                                    IssuedCredential.status == statuslist.VALID)
                     .order_by(IssuedCredential.issued_at.desc())).first()
    return str(row.id) if row else None


def _package(ctx: NodeContext, db: Session, request_id: uuid.UUID, licence, formation,
             consent: BankConsent) -> dict:
    resident = db.get(EResident, formation.owner_resident_id)
    details = licence.details or {}
    return {
        "request_id": str(request_id), "bank": consent.bank_code, "region": ctx.region,
        "products": BANKS[consent.bank_code]["products"],
        "company": {"uscc": licence.uscc, "name_zh": licence.name_zh, "name_en": licence.name_en,
                    "established_on": licence.established_on.isoformat(),
                    "registered_capital": details.get("registered_capital"), "currency": details.get("currency"),
                    "address_zh": details.get("address_zh"), "address_en": details.get("address_en"),
                    "legal_representative": licence.legal_representative,
                    "licence_pdf_sha256": licence.pdf_sha256,
                    "licence_status_url": f"{ctx.settings.base_url.rstrip('/')}/api/v1/licences/{licence.uscc}"},
        "e_residency": {"e_resident_number": resident.number if resident else None,
                        "credential_id": _credential_id(db, resident) if resident else None},
        "beneficial_owners": [{"name": p.name, "country": p.country, "share_percent": str(p.share_percent)}
                              for p in formation.parties if p.role == "beneficial_owner"],
        "consent": {"version": consent.text_version, "text_sha256": consent.text_sha256,
                    "given_at": protocol.iso(consent.given_at)},
    }


def _event(ctx: NodeContext, db: Session, req: BankRequest, status: str, text: str, detail: dict | None = None) -> None:
    db.add(BankRequestEvent(id=uuid.uuid4(), request_id=req.id, at=ctx.clock.now(), status=status, text=text,
                            detail=detail or {}))


def _create_request(ctx: NodeContext, db: Session, licence, formation, consent: BankConsent,
                    actor: Actor) -> BankRequest:
    now = ctx.clock.now()
    request_id = uuid.uuid4()
    req = BankRequest(id=request_id, licence_id=licence.id, uscc=licence.uscc,
                      owner_applicant_id=formation.owner_applicant_id, bank_code=consent.bank_code,
                      consent_id=consent.id, status="queued", bank_reference=None,
                      package=_package(ctx, db, request_id, licence, formation, consent), accounts=[],
                      video_call=None, refusal=None, last_seq=0, created_at=now, updated_at=now)
    db.add(req)
    db.flush()
    db.add(BankOutboxMessage(id=uuid.uuid4(), request_id=req.id, kind="account_request",
                             idempotency_key=str(req.id), payload=req.package, created_at=now, attempts=0,
                             next_attempt_at=now))
    _event(ctx, db, req, "queued", f"Request for a basic RMB account and a foreign-currency capital account "
                                   f"queued for {BANKS[consent.bank_code]['name']}, with your consent of "
                                   f"{protocol.iso(consent.given_at)}.")
    record(db=db, actor=actor, region=ctx.region, action="bank.request_queued", entity_type="bank_request",
           entity_id=req.id, at=now, after={"bank": req.bank_code, "uscc": req.uscc, "consent": str(consent.id)})
    return req


def _requeue(ctx: NodeContext, db: Session, req: BankRequest, licence, formation, consent: BankConsent,
             actor: Actor) -> BankRequest:
    now = ctx.clock.now()
    req.consent_id, req.status, req.updated_at, req.withdrawal = consent.id, "queued", now, None
    req.package = _package(ctx, db, req.id, licence, formation, consent)
    db.add(BankOutboxMessage(id=uuid.uuid4(), request_id=req.id, kind="account_request",
                             idempotency_key=str(req.id), payload=req.package, created_at=now, attempts=0,
                             next_attempt_at=now))
    _event(ctx, db, req, "queued", f"Asked again, with your new consent of {protocol.iso(consent.given_at)}: "
                                   f"queued for {BANKS[req.bank_code]['name']}.")
    record(db=db, actor=actor, region=ctx.region, action="bank.request_queued", entity_type="bank_request",
           entity_id=req.id, at=now, after={"bank": req.bank_code, "uscc": req.uscc, "consent": str(consent.id),
                                            "again": True})
    return req


# --------------------------------------------------------------------------- withdrawing the consent

def withdraw_consent(*, ctx: NodeContext, db: Session, formation, bank: str, actor: Actor) -> dict:
    """The founder withdraws the consent to share with `bank` (PIPL art. 15), before or after the licence.

    - No request yet (before the licence): the consent is marked withdrawn; none is queued at issuance.
    - The request has not left (its message never tried): it is cancelled and its message deleted;
      the bank never hears of it.
    - It left, or may have (a try whose answer was lost): its waiting messages are deleted and, if the
      bank takes notices, one is queued telling it to stop and delete the package; otherwise the
      withdrawal is recorded and the answer says to contact the bank.
    The consent, request and messages are locked first, so the delivery worker either sees them
    gone or has already counted its try (and then the bank is told)."""
    info = bank_info(bank)
    consent = _consent_row(db, formation.id, bank)
    if consent is None:
        raise not_found(N_("Consent to share with this bank"))
    if consent.withdrawn_at is not None:
        raise conflict(Message.with_english(  # the API keeps ISO 8601; a page writes the time for the reader
            f"The consent to share with {bank} was withdrawn at {protocol.iso(consent.withdrawn_at)}.",
            N_("The consent to share with %(bank)s was withdrawn at %(at)s."), bank=bank, at=consent.withdrawn_at),
            code="consent-withdrawn")
    now = ctx.clock.now()
    consent.withdrawn_at = now
    req = db.scalar(select(BankRequest).where(BankRequest.consent_id == consent.id).with_for_update(key_share=True))
    record(db=db, actor=actor, region=ctx.region, action="bank.consent_withdrawn", entity_type="formation",
           entity_id=formation.id, at=now, after={"bank": bank, "request": str(req.id) if req else None})
    if req is None:
        return {"bank": bank, "consent": consent_read(consent), "request": None, "sent": "no",
                "bank_notice": "not_needed",
                "what_happened": "Your consent is withdrawn: nothing will be sent to the bank when the licence is "
                                 "issued."}
    pending = db.scalars(select(BankOutboxMessage).where(BankOutboxMessage.request_id == req.id,
                                                         BankOutboxMessage.delivered_at.is_(None))
                         .with_for_update()).all()
    package_waiting = next((m for m in pending if m.kind == "account_request"), None)
    never_tried = package_waiting is not None and package_waiting.attempts == 0
    for message in pending:  # nothing more goes to the bank for this request
        db.delete(message)
    db.flush()
    before = {"status": req.status}
    if never_tried:
        req.status, sent, notice = "cancelled", "no", "not_needed"
        text = "Cancelled: you withdrew your consent before the request was sent. The bank received nothing."
    else:
        sent = "yes" if package_waiting is None else "possibly"  # a try may have reached the bank
        if req.status not in FINAL:
            req.status = "withdrawn"
        if info.get("withdrawal_notice"):
            notice = "queued"
            payload = {"request_id": str(req.id), "bank_reference": req.bank_reference,
                       "withdrawn_at": protocol.iso(now),
                       "consent": {"version": consent.text_version, "text_sha256": consent.text_sha256}}
            db.add(BankOutboxMessage(id=uuid.uuid4(), request_id=req.id, kind="consent_withdrawal",
                                     idempotency_key=str(uuid.uuid4()), payload=payload, created_at=now, attempts=0,
                                     next_attempt_at=now))
            text = ("You withdrew your consent. The request had " + ("reached" if sent == "yes" else "possibly reached")
                    + " the bank; it is being told to stop and to delete what it received.")
        else:
            notice = "unsupported"
            text = (f"You withdrew your consent. The request had {'reached' if sent == 'yes' else 'possibly reached'} "
                    f"the bank, which offers no way for us to tell it: contact {info.get('contact', info['name'])} "
                    "to have it stop and delete what it received.")
    req.withdrawal = {"withdrawn_at": protocol.iso(now), "sent": sent, "bank_notice": notice}
    req.updated_at = now
    _event(ctx, db, req, req.status, text, {"withdrawal": req.withdrawal})
    record(db=db, actor=actor, region=ctx.region, action="bank.request_withdrawn", entity_type="bank_request",
           entity_id=req.id, at=now, before=before, after={"status": req.status, **req.withdrawal})
    return {"bank": bank, "consent": consent_read(consent), "request": request_read(db, req), "sent": sent,
            "bank_notice": notice, "what_happened": text}


def withdraw_before_licence(*, ctx: NodeContext, db: Session, applicant: Applicant, formation_id: uuid.UUID,
                            bank: str, actor: Actor) -> dict:
    formation = enterprise.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    return withdraw_consent(ctx=ctx, db=db, formation=formation, bank=bank, actor=actor)


def withdraw_for_company(*, ctx: NodeContext, db: Session, applicant: Applicant, uscc: str, bank: str,
                         actor: Actor) -> dict:
    _licence, formation = _company_of(db, applicant, uscc)
    return withdraw_consent(ctx=ctx, db=db, formation=formation, bank=bank, actor=actor)


def consent_read(consent: BankConsent) -> dict:
    return {"id": str(consent.id), "bank": consent.bank_code, "version": consent.text_version,
            "text_sha256": consent.text_sha256, "given_at": protocol.iso(consent.given_at),
            "withdrawn_at": protocol.iso(consent.withdrawn_at) if consent.withdrawn_at else None}


def book_video_call(*, ctx: NodeContext, db: Session, applicant: Applicant, uscc: str, slot: str,
                    actor: Actor) -> BankRequest:
    licence, _formation = _company_of(db, applicant, uscc)
    req = db.scalars(select(BankRequest).where(BankRequest.licence_id == licence.id,
                                               BankRequest.status == "video_call_required")
                     .with_for_update(key_share=True)).first()  # not one a withdrawal is stopping
    if req is None:
        raise conflict(N_("No bank is waiting for a video-call booking from this company."), code="wrong-status")
    offered = (req.video_call or {}).get("slots", [])
    if slot not in offered:
        raise invalid("slot", Message(N_("one of the offered slots: %(slots)s"), slots=", ".join(offered)))
    now = ctx.clock.now()
    req.status, req.updated_at = "video_call_booking", now
    req.video_call = {**(req.video_call or {}), "requested_slot": slot}
    key = str(uuid.uuid4())
    db.add(BankOutboxMessage(id=uuid.uuid4(), request_id=req.id, kind="video_call_booking", idempotency_key=key,
                             payload={"request_id": str(req.id), "bank_reference": req.bank_reference, "slot": slot},
                             created_at=now, attempts=0, next_attempt_at=now))
    _event(ctx, db, req, "video_call_booking", f"Video call at {slot} requested; being sent to the bank.")
    record(db=db, actor=actor, region=ctx.region, action="bank.video_call_booked", entity_type="bank_request",
           entity_id=req.id, at=now, after={"slot": slot})
    return req


# --------------------------------------------------------------------------- reading

def requests_for_owner(*, db: Session, applicant: Applicant, uscc: str) -> list[BankRequest]:
    licence, _ = _company_of(db, applicant, uscc)
    return list(db.scalars(select(BankRequest).where(BankRequest.licence_id == licence.id)
                           .order_by(BankRequest.created_at)))


def events_of(db: Session, req: BankRequest) -> list[BankRequestEvent]:
    return list(db.scalars(select(BankRequestEvent).where(BankRequestEvent.request_id == req.id)
                           .order_by(BankRequestEvent.at, BankRequestEvent.id)))


def delivery_of(db: Session, req: BankRequest) -> dict | None:
    """The pending message of a request, if one waits: attempts, last error, next try."""
    row = db.scalars(select(BankOutboxMessage).where(BankOutboxMessage.request_id == req.id,
                                                     BankOutboxMessage.delivered_at.is_(None))
                     .order_by(BankOutboxMessage.created_at)).first()
    if row is None:
        return None
    return {"kind": row.kind, "attempts": row.attempts, "last_error": row.last_error,
            "next_attempt_at": protocol.iso(row.next_attempt_at) if row.next_attempt_at else None}


def request_read(db: Session, req: BankRequest) -> dict:
    return {"id": str(req.id), "bank": req.bank_code, "bank_name": BANKS.get(req.bank_code, {}).get("name"),
            "status": req.status, "status_text": STATUS_TEXT.get(req.status, req.status),
            "next_step": NEXT_STEP.get(req.status, "").replace("{uscc}", req.uscc),
            "bank_reference": req.bank_reference, "accounts": req.accounts, "video_call": req.video_call,
            "refusal": req.refusal, "delivery": delivery_of(db, req), "withdrawal": req.withdrawal,
            "consent": consent_read(consent) if (consent := db.get(BankConsent, req.consent_id)) else None,
            "created_at": protocol.iso(req.created_at), "updated_at": protocol.iso(req.updated_at),
            "steps": [{"at": protocol.iso(e.at), "status": e.status, "text": e.text, **({"detail": e.detail}
                                                                                       if e.detail else {})}
                      for e in events_of(db, req)]}


def stuck(*, ctx: NodeContext, db: Session, older_than_minutes: int | None = None) -> list[dict]:
    """Requests an officer should look at: a message the bank has not accepted after a failed try, or
    no progress for `older_than_minutes` (BANK_STUCK_MINUTES) while not finished."""
    minutes = older_than_minutes or ctx.settings.bank_stuck_minutes
    cutoff = ctx.clock.now() - timedelta(minutes=minutes)
    failing = select(BankOutboxMessage.request_id).where(BankOutboxMessage.delivered_at.is_(None),
                                                         BankOutboxMessage.last_error.is_not(None))
    rows = db.scalars(select(BankRequest)
                      .where(or_(BankRequest.id.in_(failing),  # also a withdrawal notice the bank does not take
                                 and_(BankRequest.status.not_in(FINAL), BankRequest.updated_at <= cutoff)))
                      .order_by(BankRequest.updated_at)).all()
    return [{"id": str(r.id), "uscc": r.uscc, "bank": r.bank_code, "status": r.status,
             "since": protocol.iso(r.updated_at),
             "minutes_without_progress": int((ctx.clock.now() - r.updated_at).total_seconds() // 60),
             "delivery": delivery_of(db, r)} for r in rows]


# --------------------------------------------------------------------------- delivery to the bank

@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    request_id: uuid.UUID
    kind: str
    key: str
    payload: dict
    attempts: int


def _claim(ctx: NodeContext, limit: int = 100) -> list[_Claimed]:
    with ctx.database.session(write=False) as db:  # the usual answer, without the write lock
        if db.scalar(select(BankOutboxMessage.id).where(BankOutboxMessage.next_attempt_at <= ctx.clock.now())
                     .limit(1)) is None:
            return []
    with ctx.database.session(write=True) as db:
        now = ctx.clock.now()
        query = (select(BankOutboxMessage).where(BankOutboxMessage.next_attempt_at <= now)
                 .order_by(BankOutboxMessage.created_at).limit(limit))
        if not ctx.database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = db.scalars(query).all()
        lease = now + timedelta(seconds=ctx.settings.bank_timeout_seconds * (len(rows) + 1) + 30)
        out = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at, row.last_attempt_at = lease, now
            out.append(_Claimed(row.id, row.request_id, row.kind, row.idempotency_key, row.payload, row.attempts))
        return out


def _url(ctx: NodeContext, item: _Claimed) -> str:
    base = ctx.settings.bank_url.rstrip("/")
    if item.kind == "video_call_booking":
        return base + protocol.BOOKING_PATH.format(ref=item.payload["bank_reference"])
    if item.kind == "consent_withdrawal":
        return base + protocol.WITHDRAWALS_PATH
    return base + protocol.REQUESTS_PATH


def _delivered(ctx: NodeContext, item: _Claimed, answer: dict) -> None:
    with ctx.database.session(write=True) as db:
        now = ctx.clock.now()
        # The request first, then its message: the order a withdrawal locks them in (no deadlock).
        req = db.get(BankRequest, item.request_id, with_for_update={"key_share": True})
        # an UPDATE gives a CursorResult (Session.execute is typed with the general Result)
        done = cast(CursorResult, db.execute(
            update(BankOutboxMessage).where(BankOutboxMessage.id == item.id, BankOutboxMessage.delivered_at.is_(None))
            .values(delivered_at=now, next_attempt_at=None, last_error=None))).rowcount
        if not done or req is None:  # delivered by another worker, or deleted by a withdrawal
            return
        if item.kind == "account_request":
            req.bank_reference = req.bank_reference or str(answer.get("bank_reference") or "")[:64] or None
            if req.status == "queued":
                req.status, req.updated_at = "with_bank", now
            _event(ctx, db, req, req.status, f"The bank received the request (its reference {req.bank_reference}).")
        elif item.kind == "consent_withdrawal":
            answer_detail = {k: answer.get(k) for k in ("status", "held", "accounts", "detail") if k in answer}
            req.withdrawal = {**(req.withdrawal or {}), "bank_notice": "confirmed", "bank_answer": answer_detail}
            req.updated_at = now
            _event(ctx, db, req, req.status, "The bank confirmed your withdrawal: "
                                             + str(answer.get("detail") or "it stops and deletes the package.")[:500],
                   {"bank_answer": answer_detail})
        else:
            _event(ctx, db, req, req.status, "The bank received your video-call booking.")
            req.updated_at = now


def _failed(ctx: NodeContext, items: list[_Claimed], error: str, rng: random.Random) -> None:
    with ctx.database.session(write=True) as db:
        now = ctx.clock.now()
        for item in items:
            delay = retry_delay(item.attempts, base=ctx.settings.bank_retry_base_seconds,
                                cap=ctx.settings.bank_retry_max_seconds, rng=rng)
            changed = cast(CursorResult, db.execute(
                update(BankOutboxMessage)
                .where(BankOutboxMessage.id == item.id, BankOutboxMessage.attempts == item.attempts,
                       BankOutboxMessage.delivered_at.is_(None))
                .values(next_attempt_at=now + timedelta(seconds=delay), last_error=error[:1000]))).rowcount
            if changed and item.attempts == 1:  # tell the founder once, not at every retry
                req = db.get_one(BankRequest, item.request_id)
                what = {"video_call_booking": "your video-call booking",
                        "consent_withdrawal": "the notice of your withdrawal"}.get(item.kind, "the request")
                _event(ctx, db, req, req.status, f"The bank is not reachable just now; {what} waits here and is "
                                                 "sent again automatically.", {"error": error[:200]})


def _answer_ok(response: httpx.Response, item: _Claimed) -> dict | None:
    if response.status_code not in (200, 201, 202):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("request_id") == str(item.request_id):
        return body
    return None


def deliver_due(ctx: NodeContext, *, client: httpx.Client | None = None,
                rng: random.Random | None = None) -> DeliveryReport:
    """Send every due message to the bank: signed, with its idempotency key; a 2xx naming the request
    counts as delivered, anything else is retried with backoff (the bank keeps the first answer for
    a key, so a retry after a lost answer opens nothing twice)."""
    rng = rng or random.Random()
    report = DeliveryReport()
    claimed = _claim(ctx)
    if not claimed:
        return report
    own = client is None
    client = client or httpx.Client(timeout=ctx.settings.bank_timeout_seconds, follow_redirects=False)
    try:
        for index, item in enumerate(claimed):
            url = _url(ctx, item)
            body = protocol.dumps(item.payload)
            try:
                key = node_keys(ctx.settings).signing_key(ctx.clock.now())
                headers = protocol.sign_post(url=url, body=body, private_key=key.key.private_key, kid=key.kid,
                                             now=ctx.clock.now(), nonce=str(uuid.uuid4()),
                                             idempotency_key=item.key)
                response = client.post(url, content=body, headers=headers)
            except (httpx.HTTPError, OSError, Problem) as exc:
                error = exc.detail if isinstance(exc, Problem) else f"{type(exc).__name__}: {exc}"[:500]
                rest = claimed[index:]  # the bank is down or slow: the rest waits for the retry
                _failed(ctx, rest, error, rng)
                report.failed += len(rest)
                report.errors.append(error)
                break
            answer = _answer_ok(response, item)
            if answer is not None:
                _delivered(ctx, item, answer)
                report.delivered += 1
                continue
            error = describe_response(response)
            report.errors.append(error)
            if response.status_code >= 500 or response.status_code == 429:
                rest = claimed[index:]
                _failed(ctx, rest, error, rng)
                report.failed += len(rest)
                break
            _failed(ctx, [item], error, rng)
            report.failed += 1
    finally:
        if own:
            client.close()
    if report.failed:
        log.warning("bank.delivery_failed", delivered=report.delivered, failed=report.failed)
    return report


# --------------------------------------------------------------------------- callbacks from the bank

def _resolve_bank_key(ctx: NodeContext, kid: str):
    """The pinned public key for `kid` and its bank (banking/trust.py). Nothing is fetched here: a key
    that is not pinned is refused, whatever the bank publishes."""
    try:
        pinned = trust.load_bank_trust(ctx.settings)
    except trust.BankTrustError as exc:  # fail closed, and say why: the operator must fix the file
        log.error("bank.trust_unreadable", error=str(exc))
        raise Problem(503, "The bank trust list cannot be read", code="bank-trust-invalid",
                      detail="This node cannot check bank callbacks until its operator fixes the bank trust "
                             "file; send the callback again later.") from None
    return pinned.resolve(kid)


@dataclass(frozen=True)
class VerifiedCallback:
    bank: str
    data: dict
    digest: str
    created: int


def verify_callback(*, ctx: NodeContext, target_uri: str, headers: list[tuple[str, str]],
                    body: bytes) -> VerifiedCallback:
    """Signature, key, times and digest first (no database), then the shape of the event."""
    try:
        checked = protocol.verify_post(target_uri=target_uri, headers=headers, body=body, now=ctx.clock.now(),
                                       resolve_key=lambda kid, created: _resolve_bank_key(ctx, kid),
                                       covered=protocol.CALLBACK_COVERED)
    except httpsig.SignatureError as exc:
        log.info("bank.callback_refused", reason=exc.code)
        raise Problem(401, "Callback refused", code=exc.code, detail=exc.detail) from None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise invalid("body", "the callback is not JSON") from None
    if not isinstance(data, dict):
        raise invalid("body", "the callback is a JSON object")
    for name, kind in (("event_id", str), ("request_id", str), ("status", str), ("seq", int), ("detail", dict)):
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise invalid(name, f"{name} is missing or not a {kind.__name__}")
    if data["status"] not in protocol.CALLBACK_STATUSES:
        raise invalid("status", f"one of {', '.join(protocol.CALLBACK_STATUSES)}")
    if checked.nonce != data["event_id"] or len(data["event_id"]) > 64:
        raise Problem(401, "Callback refused", code="envelope-mismatch",
                      detail="The signature nonce is not the event id.")
    bank = checked.key  # the bank the key is pinned for
    assert isinstance(bank, str)  # what _resolve_bank_key returns beside the key
    return VerifiedCallback(bank=bank, data=data, digest=hashlib.sha256(body).hexdigest(), created=checked.created)


def _valid_accounts(accounts: Any) -> list[dict]:
    if not isinstance(accounts, list) or not accounts:
        raise invalid("detail/accounts", "an opened request lists its accounts")
    out = []
    for i, acc in enumerate(accounts):
        if not isinstance(acc, dict) or not protocol.luhn_valid(str(acc.get("number", ""))) \
                or len(str(acc["number"])) != 19:
            raise invalid(f"detail/accounts/{i}/number", "a 19-digit account number with a valid Luhn check digit")
        out.append({"number": acc["number"], "kind": str(acc.get("kind", ""))[:32],
                    "currency": str(acc.get("currency", ""))[:3]})
    return out


def accept_callback(*, ctx: NodeContext, db: Session, verified: VerifiedCallback) -> dict:
    """Apply a bank event once. A repeat (same event id) changes nothing; an event older than one
    already applied is recorded and ignored."""
    data = verified.data
    existing = db.get(BankCallback, data["event_id"])
    if existing is not None:
        if existing.content_digest != verified.digest:
            raise conflict("A different callback with this event id was received before; nothing was applied.",
                           code="event-id-reused")
        return {"event_id": data["event_id"], "status": "duplicate"}
    try:
        request_id = uuid.UUID(data["request_id"])
    except ValueError:
        raise invalid("request_id", "a request id of this node") from None
    req = db.get(BankRequest, request_id, with_for_update={"key_share": True})  # a withdrawal may be changing it
    if req is None or req.bank_code != verified.bank:
        raise not_found(N_("Bank request"))
    row = BankCallback(event_id=data["event_id"], bank_code=verified.bank, request_id=req.id,
                       content_digest=verified.digest, signature_created=verified.created,
                       received_at=ctx.clock.now(), applied=True)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        return {"event_id": data["event_id"], "status": "duplicate"}
    if data["seq"] <= req.last_seq or req.status in FINAL:
        row.applied = False
        return {"event_id": data["event_id"], "status": "stale"}
    _apply(ctx, db, req, data)
    return {"event_id": data["event_id"], "status": "applied"}


def _apply(ctx: NodeContext, db: Session, req: BankRequest, data: dict) -> None:
    now = ctx.clock.now()
    status, detail = data["status"], data["detail"]
    before = {"status": req.status}
    req.last_seq, req.updated_at = data["seq"], now
    if data.get("bank_reference") and not req.bank_reference:
        req.bank_reference = str(data["bank_reference"])[:64]
    owner = db.get_one(Applicant, req.owner_applicant_id)
    if status == "opened":
        req.accounts = _valid_accounts(detail.get("accounts"))
        req.status = "opened"
        text = "Accounts opened: " + ", ".join(f"{a['kind']} {a['currency']} {a['number']}" for a in req.accounts)
    elif status == "refused":
        req.status = "refused"
        req.refusal = {"reason": str(detail.get("reason", ""))[:500],
                       "what_to_do": str(detail.get("what_to_do", ""))[:500]}
        text = f"The bank refused: {req.refusal['reason']}"
    elif status == "video_call_required":
        slots = detail.get("slots")
        if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots) or not slots:
            raise invalid("detail/slots", "the offered video-call slots")
        req.status = "video_call_required"
        req.video_call = {"reason": str(detail.get("reason", ""))[:500], "slots": slots[:20]}
        text = f"The bank asks for a video call ({req.video_call['reason']}); book one of {len(slots)} slots."
    elif status == "video_call_booked":
        req.status = "video_call_booked"
        req.video_call = {**(req.video_call or {}), "booked_slot": str(detail.get("slot", ""))[:40],
                          "join_url": str(detail.get("join_url", ""))[:300]}
        text = f"Video call booked for {req.video_call['booked_slot']}."
    else:  # received
        req.status = "with_bank" if req.status == "queued" else req.status
        text = "The bank confirms it has the request."
    _event(ctx, db, req, req.status, text, {"bank_event": data["event_id"]})
    record(db=db, actor=Actor("bank", req.bank_code, BANKS.get(req.bank_code, {}).get("name", "")),
           region=ctx.region, action=f"bank.{status}", entity_type="bank_request", entity_id=req.id, at=now,
           before=before, after={"status": req.status, "seq": data["seq"]})
    if status in ("opened", "refused", "video_call_required"):
        queue_mail(db=db, to=owner.email, now=now, subject=f"Your bank account request: {STATUS_TEXT[req.status]}",
                   body=f"{req.uscc}: {text}\nWhat to do next: {NEXT_STEP[req.status].replace('{uscc}', req.uscc)}\n")

