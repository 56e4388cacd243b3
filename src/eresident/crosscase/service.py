"""Cross-region cases (issue 6; docs/federation.md, "Cross-region cases").

A founder files at their home node a service that another region's authority handles (first: a
company formation in that region). The two nodes then hold the case under one case number, given
by the filing node:

- filing node: checks the founder and every person in the filing (its own e-residents, whom it
  vouches for), numbers the case and sends `case.filed` through the outbox;
- handling node: recognises the people on the filing node's word (its signed message; their status
  then follows the home region like any recognition), reserves the name, opens the formation under
  the same number and draws up the articles; a filing it cannot accept (a taken name, a prohibited
  business) is refused with the reasons, nothing else is kept;
- every change of the case at the handling node is an event, numbered there, kept there and sent
  (`case.event`) to the filing node, which keeps the same list; the articles to sign, and at the end
  the decision with the signed licence, travel with the events;
- the signatories sign at the filing node, which authenticated them: it sends the signature as its
  JWS (`case.signature`), checked at the handling node against the filing node's key in the trust list.

Nothing here assumes two regions: a case names its filing and handling regions, any pair of peers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import structlog
from joserfc import jws
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.credentials.models import IssuedCredential
from eresident.credentials.service import status_list_uri
from eresident.crosscase.models import CrossRegionCase, CrossRegionCaseEvent
from eresident.crosscase.schemas import CrossCaseIn
from eresident.crypto import sdjwt, statuslist
from eresident.documents.licence_pdf import verification_url
from eresident.documents.models import Document
from eresident.documents.service import store_generated
from eresident.enterprise import service as enterprise
from eresident.enterprise.models import Formation, FormationSignature, Licence
from eresident.enterprise.schemas import FormationIn
from eresident.federation import service as federation
from eresident.federation.handlers import Incoming, payload_text, payload_time, register
from eresident.federation.keys import iso
from eresident.i18n import N_
from eresident.identity.models import Applicant, Application, EResident
from eresident.identity.recognition import Recognition
from eresident.kit.context import NodeContext
from eresident.kit.errors import Message, Problem, conflict, forbidden, invalid, not_found
from eresident.kit.ids import new_id

log = structlog.get_logger("eresident.crosscase")

SERVICE = "company-formation"
MAX_PDF_BYTES = 4 * 1024 * 1024  # a licence or articles PDF carried in a message (the outbox limit is 1 MiB
# of JSON per message today; ours are well under 100 KB)
STATUSES = {
    "sent": "Filed here, on its way to the handling region",
    **enterprise.STATUSES,
    "refused": "Refused",
}
WHAT = {  # what an event says, for people (the handling node's audit has the detail)
    "filed": "Filed",
    "received": "Received by the handling region; the articles are drawn up for signature",
    "refused_at_intake": "Not accepted by the handling region",
    "signed": "Signed",
    "formation.all_signed": "Every signatory has signed",
    "formation.claimed": "A reviewer took the case",
    "formation.recommended": "The reviewer made a recommendation",
    "formation.approved": "Approved: the business licence is issued",
    "formation.refused": "Refused",
    "formation.decision_recorded": "A decision was recorded",
    "licence.revoked": "The business licence was revoked",
}


def _now(ctx: NodeContext) -> datetime:
    return ctx.clock.now()


def _peer_actor(region: str) -> Actor:
    return Actor("peer", region, f"node {region}", region)


def region_name(ctx: NodeContext, region: str) -> str:
    if region == ctx.region:
        return ctx.settings.region_name
    try:
        peer = federation.trust_list(ctx).peer(region)
    except Problem:
        peer = None
    return peer.name if peer is not None else region


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object, field: str) -> bytes:
    try:
        data = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, "base64 is expected") from None
    if len(data) > MAX_PDF_BYTES:
        raise invalid(field, "the document is too large")
    return data


def _stamp(at: datetime) -> str:
    """A time to the microsecond: both nodes keep the event's time exactly as it was made."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event_dict(e: CrossRegionCaseEvent) -> dict:
    return {"seq": e.seq, "at": _stamp(e.at), "region": e.region, "status": e.status, "what": e.what,
            "detail": e.detail}


def _add_event(db: Session, case: CrossRegionCase, *, seq: int, at: datetime, region: str, status: str, what: str,
               detail: str = "") -> CrossRegionCaseEvent:
    event = CrossRegionCaseEvent(id=new_id(), case_id=case.id, seq=seq, at=at, region=region, status=status,
                                 what=what[:64], detail=detail[:2000])
    db.add(event)
    if seq > case.last_seq:
        case.last_seq, case.status = seq, status
    case.updated_at = at
    return event


def events_of(db: Session, case: CrossRegionCase) -> list[CrossRegionCaseEvent]:
    return list(db.scalars(select(CrossRegionCaseEvent).where(CrossRegionCaseEvent.case_id == case.id)
                           .order_by(CrossRegionCaseEvent.seq)))


# --------------------------------------------------------------------------- filing node


def _persons_in(data: CrossCaseIn) -> list[tuple[str, str]]:
    """(e-resident number, where it is in the filing) of every person the filing names."""
    f = data.formation
    found: list[tuple[str, str]] = []
    for i, inv in enumerate(f.investors):
        if inv.e_resident_number:
            found.append((inv.e_resident_number, f"formation/investors/{i}/e_resident_number"))
        if inv.signatory_e_resident_number:
            found.append((inv.signatory_e_resident_number, f"formation/investors/{i}/signatory_e_resident_number"))
    found.append((f.legal_representative.e_resident_number, "formation/legal_representative/e_resident_number"))
    found += [(d.e_resident_number, f"formation/directors/{i}/e_resident_number") for i, d in enumerate(f.directors)]
    found.append((f.supervisor.e_resident_number, "formation/supervisor/e_resident_number"))
    found += [(o.e_resident_number, f"formation/beneficial_owners/{i}/e_resident_number")
              for i, o in enumerate(f.beneficial_owners) if o.e_resident_number]
    return found


def _vouched_person(ctx: NodeContext, db: Session, number: str, where: str) -> dict:
    """What the handling region needs of a person we vouch for: name, nationality, and where to
    check their status later (their credential's status-list entry, when they hold one)."""
    resident = db.scalar(select(EResident).where(EResident.number == number, EResident.region == ctx.region,
                                                 EResident.application_id.is_not(None)))
    if resident is None or resident.status != "active":
        raise invalid(where, Message(N_("%(number)s is not an active e-resident of this region. A filing for "
                                        "another region names e-residents of the region where it is filed."),
                                     number=number))
    app = db.get_one(Application, resident.application_id)
    credential = db.scalars(select(IssuedCredential).where(IssuedCredential.subject_type == "e_resident",
                                                           IssuedCredential.subject_id == resident.id,
                                                           IssuedCredential.status == statuslist.VALID)
                            .order_by(IssuedCredential.issued_at.desc())).first()
    return {"e_resident_number": number, "family_name": app.surname[:100], "given_name": app.given_names[:200],
            "nationality": app.nationality[:3],
            "credential_id": str(credential.id) if credential else "",
            "status_list_uri": status_list_uri(ctx) if credential else "",
            "status_index": credential.status_index if credential else -1}


def signatories_of(data: CrossCaseIn) -> list[str]:
    f = data.formation
    numbers = [i.e_resident_number or i.signatory_e_resident_number for i in f.investors]
    numbers += [f.legal_representative.e_resident_number, *(d.e_resident_number for d in f.directors),
                f.supervisor.e_resident_number]
    return list(dict.fromkeys(n for n in numbers if n))


def home_region_only(region: str) -> Message:
    """Why an e-resident recognised here from another region files with their home region instead."""
    return Message(N_("File with your home region (%(region)s): a region files for its own e-residents."),
                   region=region)


def file_case(*, ctx: NodeContext, db: Session, applicant: Applicant, data: CrossCaseIn, actor: Actor) -> CrossRegionCase:
    """File here a service of another region: checked here, numbered here, sent there."""
    resident = enterprise.active_resident(db, applicant, ctx.region)
    if resident.region != ctx.region:
        raise forbidden(home_region_only(resident.region))
    if data.handling_region == ctx.region:
        raise invalid("handling_region", N_("This region handles it itself: file it as a formation here."))
    if data.handling_region not in federation.peers(ctx):
        raise invalid("handling_region", Message(N_("%(region)s is not a region this node works with."),
                                                 region=data.handling_region))
    if not data.consent_to_transfer:
        raise invalid("consent_to_transfer", N_("The filing can only be sent to the handling region with your "
                                                "consent."))
    persons: dict[str, dict] = {}
    for number, where in _persons_in(data):
        if number not in persons:
            persons[number] = _vouched_person(ctx, db, number, where)
    now = _now(ctx)
    number = enterprise.new_case_number(ctx, db, now)
    title = f"{data.name.name_zh} · {data.name.name_en}"
    filing = json.loads(data.model_dump_json(exclude={"consent_to_transfer"}))
    case = CrossRegionCase(id=new_id(), case_number=number, service=data.service, filed_region=ctx.region,
                           handling_region=data.handling_region, applicant_id=applicant.id,
                           e_resident_number=resident.number, title=title[:500], status="sent", last_seq=0,
                           filing=filing, signatories=[{"e_resident_number": n, "signed_at": None}
                                                       for n in signatories_of(data)],
                           created_at=now, updated_at=now)
    db.add(case)
    db.flush()
    detail = (f"Filed at {ctx.settings.region_name} by e-resident {resident.number}; sent to "
              f"{region_name(ctx, data.handling_region)} for handling.")
    first = _add_event(db, case, seq=1, at=now, region=ctx.region, status="sent", what="filed", detail=detail)
    record(db=db, actor=actor, region=ctx.region, action="cross_case.filed", entity_type="cross_region_case",
           entity_id=case.id, at=now, after={"case_number": number, "handling_region": data.handling_region,
                                             "service": data.service, "persons": sorted(persons)})
    federation.enqueue(ctx=ctx, db=db, peer=data.handling_region, kind="case.filed",
                       payload={"case_number": number, "service": data.service, "filed_at": _stamp(now),
                                "e_resident_number": resident.number, "persons": list(persons.values()),
                                "filing": filing, "event": _event_dict(first)})
    return case


def cases_of(*, db: Session, applicant: Applicant, numbers: list[str]) -> list[CrossRegionCase]:
    """The founder's own cases here, and those they are asked to sign."""
    rows = db.scalars(select(CrossRegionCase).where(CrossRegionCase.applicant_id == applicant.id)
                      .order_by(CrossRegionCase.created_at.desc())).all()
    mine = {r.id for r in rows}
    others = [c for c in db.scalars(select(CrossRegionCase).where(CrossRegionCase.status == "awaiting_signatures"))
              if c.id not in mine and any(s["e_resident_number"] in numbers for s in c.signatories)] if numbers else []
    return [*rows, *others]


def get_for(*, ctx: NodeContext, db: Session, applicant: Applicant, case_number: str,
            lock: bool = False) -> CrossRegionCase:
    case = db.scalar(select(CrossRegionCase).where(CrossRegionCase.case_number == case_number)
                     .with_for_update(of=CrossRegionCase) if lock else
                     select(CrossRegionCase).where(CrossRegionCase.case_number == case_number))
    if case is None or case.filed_region != ctx.region:
        raise not_found(N_("Case"))
    if case.applicant_id == applicant.id:
        return case
    resident = db.scalar(select(EResident).where(EResident.applicant_id == applicant.id,
                                                 EResident.region == ctx.region))
    if resident is None or resident.number not in {s["e_resident_number"] for s in case.signatories}:
        raise not_found(N_("Case"))  # someone else's case is not found: its existence is not revealed
    return case


def sign(*, ctx: NodeContext, db: Session, applicant: Applicant, case_number: str, document_sha256: str,
         actor: Actor) -> CrossRegionCase:
    """A signatory signs the articles here, where they are signed in; the signature goes to the
    handling region as this node's JWS."""
    case = get_for(ctx=ctx, db=db, applicant=applicant, case_number=case_number, lock=True)
    resident = db.scalar(select(EResident).where(EResident.applicant_id == applicant.id,
                                                 EResident.region == ctx.region))
    entry = next((s for s in case.signatories if resident is not None
                  and s["e_resident_number"] == resident.number), None)
    if entry is None or resident is None:  # no resident here: no entry either
        raise forbidden(N_("You are not a signatory of this case."))
    if resident.status != "active":
        raise forbidden(Message(N_("Your e-residency is %(status)s."), status=Message(resident.status)))
    if case.status != "awaiting_signatures" or case.articles_sha256 is None:
        raise conflict(N_("This case is not waiting for signatures."), code="wrong-status")
    if document_sha256 != case.articles_sha256:
        raise enterprise.stale_articles(case.articles_sha256)
    if entry["signed_at"] is not None:
        raise conflict(N_("You have signed these articles already."), code="already-signed")
    now = _now(ctx)
    roles = sorted(_roles_of(case.filing, resident.number))
    token, payload = enterprise.signature_token(ctx, db, resident, document_sha256=document_sha256,
                                                case_number=case.case_number,
                                                revision=int((case.result or {}).get("revision", 1)), roles=roles)
    case.signatories = [{**s, "signed_at": iso(now)} if s is entry else s for s in case.signatories]
    case.updated_at = now
    record(db=db, actor=actor, region=ctx.region, action="cross_case.signed", entity_type="cross_region_case",
           entity_id=case.id, at=now, after={"signer": resident.number, "document_sha256": document_sha256,
                                             "signature_id": payload["jti"]})
    federation.enqueue(ctx=ctx, db=db, peer=case.handling_region, kind="case.signature",
                       payload={"case_number": case.case_number, "e_resident_number": resident.number,
                                "document_sha256": document_sha256, "jws": token})
    return case


def _roles_of(filing: dict, number: str) -> set[str]:
    f = filing.get("formation", {})
    roles = {"investor" for i in f.get("investors", []) if number in (i.get("e_resident_number"),
                                                                      i.get("signatory_e_resident_number"))}
    if f.get("legal_representative", {}).get("e_resident_number") == number:
        roles.add("legal_representative")
    if any(d.get("e_resident_number") == number for d in f.get("directors", [])):
        roles.add("director")
    if f.get("supervisor", {}).get("e_resident_number") == number:
        roles.add("supervisor")
    return roles


@register("case.event")
def on_event(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """The handling region's events of a case filed here: kept as sent, once each, in their order."""
    payload = message.payload
    number = payload_text(payload, "case_number", limit=32)
    case = db.scalar(select(CrossRegionCase).where(CrossRegionCase.case_number == number)
                     .with_for_update(of=CrossRegionCase))
    if case is None or case.filed_region != ctx.region or case.handling_region != message.sender:
        raise Problem(404, "Unknown case", code="unknown-case",
                      detail=f"No case {number} was filed here for {message.sender}.")
    events = payload.get("events")
    if not isinstance(events, list) or not events or len(events) > 100:
        raise invalid("payload/events", "a list of 1 to 100 events is required")
    parsed = []
    for i, e in enumerate(events):
        where = f"events/{i}"
        if not isinstance(e, dict) or not isinstance(e.get("seq"), int) or not 1 <= e["seq"] < 1_000_000:
            raise invalid(f"payload/{where}/seq", "a positive whole number is required")
        parsed.append((e["seq"], payload_time(e, "at", path=f"{where}/at"),
                       payload_text(e, "region", limit=8, path=f"{where}/region"),
                       payload_text(e, "status", limit=32, path=f"{where}/status"),
                       payload_text(e, "what", limit=64, path=f"{where}/what"), str(e.get("detail", ""))[:2000]))
    articles = payload.get("articles")
    result = payload.get("result")
    revoked = _revocation(payload.get("revocation"), case)
    pdf = licence_pdf = None
    if articles is not None:
        if not isinstance(articles, dict):
            raise invalid("payload/articles", "an object is expected")
        pdf = _unb64(articles.get("pdf"), "payload/articles/pdf")
        if hashlib.sha256(pdf).hexdigest() != articles.get("sha256"):
            raise invalid("payload/articles/sha256", "not the SHA-256 of the PDF")
        if not isinstance(articles.get("revision"), int):
            raise invalid("payload/articles/revision", "a whole number is required")
    if result is not None:
        if not isinstance(result, dict) or result.get("decision") not in ("approved", "refused"):
            raise invalid("payload/result/decision", "approved or refused")
        if result["decision"] == "approved":
            licence_pdf = _unb64(result.get("licence_pdf"), "payload/result/licence_pdf")
            if hashlib.sha256(licence_pdf).hexdigest() != result.get("licence_sha256"):
                raise invalid("payload/result/licence_sha256", "not the SHA-256 of the licence PDF")
    held = set(db.scalars(select(CrossRegionCaseEvent.seq).where(CrossRegionCaseEvent.case_id == case.id)))
    added = 0
    for seq, at, region, status, what, detail in parsed:
        if seq not in held:
            _add_event(db, case, seq=seq, at=at, region=region, status=status, what=what, detail=detail)
            held.add(seq)
            added += 1
    now = _now(ctx)
    if articles is not None and pdf is not None and articles["sha256"] != case.articles_sha256:
        doc = store_generated(ctx, db, owner_id=case.applicant_id, kind="articles", data=pdf,
                              media_type="application/pdf",
                              filename=f"articles-{case.case_number}-r{articles['revision']}.pdf")
        case.articles_document_id, case.articles_sha256 = doc.id, doc.sha256
        case.result = {**(case.result or {}), "revision": articles["revision"]}
        case.signatories = [{**s, "signed_at": None} for s in case.signatories]  # new bytes: everyone signs again
    if result is not None and (case.result or {}).get("decision") is None:
        kept: dict[str, Any] = {k: v for k, v in result.items()
                                if k in ("decision", "uscc", "reasons", "verify_url", "licence_sha256")
                                and isinstance(v, str)}
        if isinstance(result.get("errors"), list):
            kept["errors"] = [{"field": str(e.get("field", ""))[:200], "reason": str(e.get("reason", ""))[:500]}
                              for e in result["errors"][:50] if isinstance(e, dict)]
        if licence_pdf is not None:
            doc = store_generated(ctx, db, owner_id=case.applicant_id, kind="licence", data=licence_pdf,
                                  media_type="application/pdf",
                                  filename=f"licence-{kept.get('uscc', case.case_number)}.pdf")
            case.licence_document_id = doc.id
        case.result = {**(case.result or {}), **kept}
        case.decided_at = now
    if revoked is not None:
        case.result = {**(case.result or {}), **revoked}
    case.updated_at = now
    record(db=db, actor=_peer_actor(message.sender), region=ctx.region, action="cross_case.updated",
           entity_type="cross_region_case", entity_id=case.id, at=now,
           after={"case_number": case.case_number, "status": case.status, "events_added": added,
                  "articles_sha256": case.articles_sha256, "decision": (case.result or {}).get("decision")})
    return {"case_number": case.case_number, "events_added": added, "last_seq": case.last_seq}


def _revocation(value: object, case: CrossRegionCase) -> dict | None:
    """The handling region's revocation of the case's licence, as the filing region keeps it."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("payload/revocation", "an object is expected")
    code = payload_text(value, "uscc", limit=18, path="revocation/uscc")
    known = (case.result or {}).get("uscc")
    if known is not None and code != known:
        raise invalid("payload/revocation/uscc", "not the USCC of this case's licence")
    return {"licence_status": "revoked", "uscc": code,
            "revoked_at": payload_time(value, "revoked_at", path="revocation/revoked_at").isoformat(),
            "revocation_reason": payload_text(value, "reason", limit=32, path="revocation/reason"),
            "revocation_reason_en": payload_text(value, "reason_en", limit=500, path="revocation/reason_en"),
            "revocation_reason_zh": payload_text(value, "reason_zh", limit=500, path="revocation/reason_zh")}


# --------------------------------------------------------------------------- handling node


def _send_events(ctx: NodeContext, db: Session, case: CrossRegionCase, events: list[CrossRegionCaseEvent],
                 **attachments) -> None:
    payload = {"case_number": case.case_number, "events": [_event_dict(e) for e in events]}
    payload.update({k: v for k, v in attachments.items() if v is not None})
    federation.enqueue(ctx=ctx, db=db, peer=case.filed_region, kind="case.event", payload=payload)


def _articles_attachment(ctx: NodeContext, db: Session, formation: Formation) -> dict:
    doc = db.get_one(Document, formation.articles_document_id)
    return {"sha256": doc.sha256, "revision": formation.revision, "pdf": _b64(ctx.files.get(doc.sha256))}


def _stand_in_account(ctx: NodeContext, db: Session, home: str, number: str) -> Applicant:
    """The account that stands here for a person filed for by their home region. It cannot sign in:
    its address is in the reserved .invalid domain and its password is a discarded random secret."""
    now = _now(ctx)
    account = Applicant(id=new_id(), email=f"{number.lower()}@{home.lower()}.peer.invalid",
                        password_hash=ctx.passwords.hash(secrets.token_urlsafe(32)), email_confirmed_at=None,
                        locale="en", created_at=now)
    db.add(account)
    db.flush()
    return account


def _recognise_vouched(ctx: NodeContext, db: Session, home: str, person: dict, where: str) -> EResident:
    """An e-resident of `home` named in its signed filing: recognised on its word (no identity check
    here), their status following `home` from now on like any recognition."""
    number = payload_text(person, "e_resident_number", limit=32, path=f"{where}/e_resident_number")
    if not number.startswith(f"{home}-"):
        raise invalid(f"payload/{where}/e_resident_number", f"{number} is not an e-resident number of {home}")
    resident = db.scalar(select(EResident).where(EResident.number == number))
    if resident is not None:
        if resident.region != home:
            raise invalid(f"payload/{where}/e_resident_number", f"{number} is an e-resident of {resident.region} here")
        rec = db.scalar(select(Recognition).where(Recognition.resident_id == resident.id))
        if rec is not None:
            return resident
    index = person.get("status_index", -1)
    uri = person.get("status_list_uri", "")
    if not isinstance(index, int) or not isinstance(uri, str) or len(uri) > 500:
        raise invalid(f"payload/{where}/status_index", "a whole number and a status-list address are expected")
    now = _now(ctx)
    account = _stand_in_account(ctx, db, home, number)
    if resident is None:
        resident = EResident(id=new_id(), number=number, region=home, application_id=None,
                             applicant_id=account.id, status="active", issued_at=now)
        db.add(resident)
        db.flush()
    rec = Recognition(id=new_id(), applicant_id=account.id, resident_id=resident.id, home_region=home,
                      home_number=number, credential_id=str(person.get("credential_id", ""))[:64],
                      holder_thumbprint="", status_list_uri=uri, status_index=index, status="active",
                      family_name=payload_text(person, "family_name", limit=100, path=f"{where}/family_name"),
                      given_name=str(person.get("given_name", ""))[:200],
                      nationality=payload_text(person, "nationality", limit=3, path=f"{where}/nationality"),
                      recognised_at=now, last_checked_at=now, status_changed_at=now)
    db.add(rec)
    db.flush()
    record(db=db, actor=_peer_actor(home), region=ctx.region, action="recognition.vouched", entity_type="recognition",
           entity_id=rec.id, at=now, after={"home_region": home, "e_resident_number": number,
                                             "credential_id": rec.credential_id})
    federation.enqueue(ctx=ctx, db=db, peer=home, kind="recognition.recorded",
                       payload={"e_resident_number": number, "credential_id": rec.credential_id,
                                "recognised_at": iso(now)})
    return resident


def _reasons(problem: Problem) -> str:
    errors = "; ".join(f"{e.field}: {e.reason}" for e in problem.errors) if problem.errors else ""
    return (f"{problem.title}. {problem.detail or ''} {errors}").strip()[:2000]


@register("case.filed")
def on_filed(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """A case filed in the sender's region for us to handle: open it here under its number."""
    payload, home = message.payload, message.sender
    number = payload_text(payload, "case_number", limit=32)
    if not number.startswith(f"{home}-"):
        raise invalid("payload/case_number", f"a case number of {home} is expected")
    if payload.get("service") != SERVICE:
        raise invalid("payload/service", f"this node handles {SERVICE} for other regions")
    existing = db.scalar(select(CrossRegionCase).where(CrossRegionCase.case_number == number))
    if existing is not None:
        return {"case_number": number, "status": existing.status, "known": True}
    founder_number = payload_text(payload, "e_resident_number", limit=32)
    persons, filing, first = payload.get("persons"), payload.get("filing"), payload.get("event")
    if not isinstance(persons, list) or not 1 <= len(persons) <= 60 or not all(isinstance(p, dict) for p in persons):
        raise invalid("payload/persons", "a list of the people named in the filing is required")
    if not isinstance(filing, dict) or not isinstance(filing.get("formation"), dict) \
            or not isinstance(filing.get("name"), dict):
        raise invalid("payload/filing", "the filing with its name and formation is required")
    if not isinstance(first, dict) or first.get("seq") != 1:
        raise invalid("payload/event", "the filing's first event is required")
    filed_at = payload_time(payload, "filed_at")
    residents = {}
    for i, person in enumerate(persons):
        resident = _recognise_vouched(ctx, db, home, person, f"persons/{i}")
        residents[resident.number] = resident
    if founder_number not in residents:
        raise invalid("payload/e_resident_number", "the founder is one of the persons")
    founder = db.get_one(Applicant, db.scalar(select(Recognition.applicant_id)
                                              .where(Recognition.home_number == founder_number)))
    now = _now(ctx)
    name = filing["name"]
    title = f"{name.get('name_zh', '')} · {name.get('name_en', '')}"[:500]
    case = CrossRegionCase(id=new_id(), case_number=number, service=SERVICE, filed_region=home,
                           handling_region=ctx.region, applicant_id=founder.id, e_resident_number=founder_number,
                           title=title, status="sent", last_seq=0, filing=filing,
                           signatories=[], created_at=now, updated_at=now)
    db.add(case)
    db.flush()
    filed = _add_event(db, case, seq=1, at=filed_at, region=home, status="sent", what="filed",
                       detail=str(first.get("detail", ""))[:2000])
    actor = _peer_actor(home)
    formation, refusal, stage = None, None, "name"
    try:
        with db.begin_nested():
            reservation, _ = enterprise.reserve_name(ctx=ctx, db=db, applicant=founder,
                                                     name_zh=str(name.get("name_zh", "")),
                                                     name_en=str(name.get("name_en", "")), actor=actor)
            stage = "formation"
            content = {k: v for k, v in filing["formation"].items() if k != "name_reservation_id"}
            try:
                data = FormationIn.model_validate({**content, "name_reservation_id": str(reservation.id)})
            except ValueError as exc:
                raise Problem(422, "The filing is not a valid formation", code="invalid-field",
                              detail=str(exc)[:500]) from None
            formation = enterprise.create_formation(ctx=ctx, db=db, applicant=founder, data=data, actor=actor)
            formation = enterprise.submit_formation(ctx=ctx, db=db, applicant=founder, formation_id=formation.id,
                                                    actor=actor, number=number)
    except Problem as exc:
        formation, refusal = None, exc
    if refusal is not None:
        reasons = _reasons(refusal)
        refused = _add_event(db, case, seq=2, at=now, region=ctx.region, status="refused", what="refused_at_intake",
                             detail=reasons)
        case.decided_at = now
        case.result = {"decision": "refused", "reasons": reasons,
                       "errors": [{"field": f"{stage}/{e.field}", "reason": e.reason} for e in refusal.errors]}
        record(db=db, actor=actor, region=ctx.region, action="cross_case.refused_at_intake",
               entity_type="cross_region_case", entity_id=case.id, at=now,
               after={"case_number": number, "filed_region": home, "reasons": reasons})
        _send_events(ctx, db, case, [filed, refused], result=case.result)
        return {"case_number": number, "status": "refused"}
    assert formation is not None  # made when nothing was refused
    case.subject_type, case.subject_id = "formation", formation.id
    case.signatories = [{"e_resident_number": n, "signed_at": None} for n in enterprise.signatories(formation)]
    received = _add_event(db, case, seq=2, at=now, region=ctx.region, status=formation.status, what="received",
                          detail=f"Received by {ctx.settings.region_name} as case {number}; the articles are drawn up. "
                                 f"Every signatory signs them at {region_name(ctx, home)}.")
    record(db=db, actor=actor, region=ctx.region, action="cross_case.received", entity_type="cross_region_case",
           entity_id=case.id, at=now, after={"case_number": number, "filed_region": home,
                                             "formation": str(formation.id), "status": formation.status})
    _send_events(ctx, db, case, [filed, received], articles=_articles_attachment(ctx, db, formation))
    return {"case_number": number, "status": formation.status}


def _trusted_signature(ctx: NodeContext, home: str, token: str) -> dict:
    """The payload of the filing node's JWS over a signature, checked with its key from the trust list."""
    from eresident.federation.recognition import trusted_peer_key

    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        unverified = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        issuer, kid = str(unverified.get("iss", "")), str(header.get("kid", ""))
    except (ValueError, IndexError, AttributeError):
        raise invalid("payload/jws", "a compact JWS is expected") from None
    peer, key = trusted_peer_key(ctx, issuer, kid)
    if peer is None or peer.region != home:
        raise invalid("payload/jws", f"the signature is not issued by {home}'s node")
    if key is None:
        raise invalid("payload/jws", "the signing key is not in the trust list (unknown or revoked)")
    try:
        obj = jws.deserialize_compact(token, key, registry=sdjwt.jws_registry())
        claims = json.loads(obj.payload)
    except Exception:  # noqa: BLE001 - any defect in the token means "not a valid signature"
        raise invalid("payload/jws", "the signature does not verify") from None
    if obj.headers().get("typ") != enterprise.SIGNATURE_TYP or not isinstance(claims, dict):
        raise invalid("payload/jws", "not a signature record")
    return claims


@register("case.signature")
def on_signature(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """A signatory signed the articles at the filing node: keep the signature with the formation."""
    payload, home = message.payload, message.sender
    number = payload_text(payload, "case_number", limit=32)
    signer = payload_text(payload, "e_resident_number", limit=32)
    digest = payload_text(payload, "document_sha256", limit=64)
    token = payload_text(payload, "jws", limit=20_000)
    case = db.scalar(select(CrossRegionCase).where(CrossRegionCase.case_number == number))
    if case is None or case.handling_region != ctx.region or case.filed_region != home or case.subject_id is None:
        raise Problem(404, "Unknown case", code="unknown-case", detail=f"No case {number} from {home} is handled here.")
    claims = _trusted_signature(ctx, home, token)
    document = claims.get("document") or {}
    signer_claim = claims.get("signer") or {}
    if signer_claim.get("e_resident_number") != signer or document.get("sha256") != digest \
            or document.get("case_number") != number or not isinstance(claims.get("jti"), str):
        raise invalid("payload/jws", "the signature is not over this case, signer and document")
    formation = db.get_one(Formation, case.subject_id, with_for_update=True)
    resident = db.scalar(select(EResident).where(EResident.number == signer))
    now = _now(ctx)
    why = None
    if formation.status != "awaiting_signatures" or digest != formation.articles_sha256:
        why = "the articles have changed since"
    elif resident is None or signer not in enterprise.signatories(formation):
        why = "not a signatory"
    elif db.scalar(select(FormationSignature.id).where(FormationSignature.formation_id == formation.id,
                                                       FormationSignature.e_resident_number == signer,
                                                       FormationSignature.document_sha256 == digest)) is not None:
        why = "signed already"
    if why is not None:
        event = _add_event(db, case, seq=case.last_seq + 1, at=now, region=ctx.region, status=case.status,
                           what="signature_not_used", detail=f"A signature by {signer} was not used: {why}.")
        _send_events(ctx, db, case, [event])
        return {"case_number": number, "used": False, "reason": why}
    assert resident is not None  # else `why` says "not a signatory"
    signed = _add_event(db, case, seq=case.last_seq + 1, at=now, region=ctx.region, status=case.status,
                        what="signed", detail=f"Signed by e-resident {signer} at {region_name(ctx, home)}.")
    _unsent(db, case).append(signed)  # goes with the change it causes, if it causes one
    case.signatories = [{**s, "signed_at": iso(now)} if s["e_resident_number"] == signer else s
                        for s in case.signatories]
    enterprise.record_signature(ctx=ctx, db=db, formation=formation, resident=resident, token=token,
                                payload=claims, actor=_peer_actor(home))
    left = _unsent(db, case)
    if left:
        _send_events(ctx, db, case, list(left))
        left.clear()
    return {"case_number": number, "used": True, "status": formation.status}


def _unsent(db: Session, case: CrossRegionCase) -> list[CrossRegionCaseEvent]:
    """Events of this transaction not sent yet (they go in one message with the next)."""
    return db.info.setdefault("crosscase.unsent", {}).setdefault(case.id, [])


def _handled_here(ctx: NodeContext, db: Session, formation: Formation) -> CrossRegionCase | None:
    """The cross-region case of a formation this node handles for another region, if it is one."""
    return db.scalar(select(CrossRegionCase).where(CrossRegionCase.subject_type == "formation",
                                                   CrossRegionCase.subject_id == formation.id,
                                                   CrossRegionCase.handling_region == ctx.region))


def formation_changed(*, ctx: NodeContext, db: Session, formation: Formation, action: str) -> None:
    """Called by enterprise on every change of a formation's case: for a case filed in another
    region, the change is an event of the shared history, sent there with any result."""
    case = _handled_here(ctx, db, formation)
    if case is None:
        return
    now = _now(ctx)
    pending = _unsent(db, case)
    event = _add_event(db, case, seq=case.last_seq + 1, at=now, region=ctx.region, status=formation.status,
                       what=action, detail=WHAT.get(action, action))
    result = None
    if formation.decided_at is not None and formation.status in ("approved", "refused"):
        case.decided_at = now
        result = {"decision": formation.status, "reasons": formation.decision_reasons or ""}
        licence = db.scalar(select(Licence).where(Licence.formation_id == formation.id))
        if licence is not None:
            doc = db.get_one(Document, licence.document_id)
            result |= {"uscc": licence.uscc, "licence_pdf": _b64(ctx.files.get(doc.sha256)),
                       "licence_sha256": doc.sha256,
                       "verify_url": verification_url(ctx.settings.base_url, licence.uscc)}
        case.result = {k: v for k, v in result.items() if k != "licence_pdf"}
    _send_events(ctx, db, case, [*pending, event], result=result)
    pending.clear()


def licence_revoked(*, ctx: NodeContext, db: Session, formation: Formation, licence: Licence) -> None:
    """Called by enterprise when a registrar here revokes a licence: for a case filed in another
    region, the revocation is an event of the shared history, and the filing region's copy of the
    case says the licence is no longer current (when, and the reason's text; not the note)."""
    from eresident.enterprise import revocation

    case = _handled_here(ctx, db, formation)
    if case is None or licence.revoked_at is None:
        return
    reason = revocation.reason(licence.revocation_reason)
    notice = {"uscc": licence.uscc, "revoked_at": licence.revoked_at.isoformat(),
              "reason": licence.revocation_reason or "", "reason_en": reason.en if reason else "",
              "reason_zh": reason.zh if reason else ""}
    pending = _unsent(db, case)
    event = _add_event(db, case, seq=case.last_seq + 1, at=_now(ctx), region=ctx.region, status=case.status,
                       what="licence.revoked", detail=f"{WHAT['licence.revoked']}: {notice['reason_en']}")
    case.result = {**(case.result or {}), "licence_status": "revoked", "revoked_at": notice["revoked_at"],
                   "revocation_reason": notice["reason"], "revocation_reason_en": notice["reason_en"],
                   "revocation_reason_zh": notice["reason_zh"]}
    _send_events(ctx, db, case, [*pending, event], revocation=notice)
    pending.clear()


# --------------------------------------------------------------------------- views


def for_official(*, ctx: NodeContext, db: Session, case_number: str) -> CrossRegionCase:
    case = db.scalar(select(CrossRegionCase).where(CrossRegionCase.case_number == case_number))
    if case is None or ctx.region not in (case.filed_region, case.handling_region):
        raise not_found(N_("Case"))
    return case


def list_for_official(*, ctx: NodeContext, db: Session, limit: int = 200) -> list[CrossRegionCase]:
    return list(db.scalars(select(CrossRegionCase)
                           .where(or_(CrossRegionCase.filed_region == ctx.region,
                                      CrossRegionCase.handling_region == ctx.region))
                           .order_by(CrossRegionCase.updated_at.desc()).limit(limit)))
