"""Turn applications into what applicants and officials are shown."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from eresident.audit.service import events_for
from eresident.identity import service
from eresident.identity.models import Application
from eresident.identity.schemas import ApplicationDetail, ApplicationRead, CheckRead
from eresident.kit.context import NodeContext
from eresident.officials.models import Official
from eresident.sites.models import ServiceSite


def application_read(db: Session, app: Application, *, site_code: str | None = None) -> ApplicationRead:
    """The applicant's view of a case (`site_code` when the caller has it, saving a read)."""
    text, waiting_on = service.STATUSES[app.status]
    request = service.open_info_request(db, app.id) if app.status == "info_requested" else None
    resident = service.e_resident_for_application(db, app.id) if app.status == "approved" else None
    site_code = site_code or db.get_one(ServiceSite, app.site_id).code
    return ApplicationRead(
        id=app.id, case_number=app.case_number, region=app.region, status=app.status,
        status_text=text, surname=app.surname, given_names=app.given_names,
        submitted_at=app.submitted_at, decided_at=app.decided_at, decision=app.decision,
        decision_reasons=app.decision_reasons if app.status == "refused" else None,
        site_code=site_code, waiting_on=waiting_on,
        info_request=request.message if request else None,
        e_resident_number=resident.number if resident else None)


def _actor_label(db: Session, event) -> str:
    if event.actor_type == "official":
        official = db.get(Official, uuid.UUID(event.actor_id))
        return f"{official.display_name} ({official.username})" if official else "an official"
    return {"applicant": "the applicant", "system": "the system", "peer": "the peer region"}.get(
        event.actor_type, event.actor_type)


def application_detail(ctx: NodeContext, db: Session, app: Application) -> ApplicationDetail:
    base = application_read(db, app)
    check = service.latest_identity_check(db, app.id)
    history = [{"at": e.occurred_at.isoformat(), "action": e.action, "actor_type": e.actor_type,
                "actor_id": e.actor_id, "actor_label": _actor_label(db, e), "after": e.after}
               for e in events_for(db=db, entity_type="application", entity_id=app.id)]
    fields = base.model_dump()
    fields["status_text"] = service.OFFICIAL_STATUS_TEXT[app.status]
    return ApplicationDetail(
        **fields, native_name=app.native_name, birth_date=app.birth_date, sex=app.sex,
        nationality=app.nationality, residence_country=app.residence_country,
        passport_number=ctx.cipher.decrypt(app.passport_number_enc, context="applications.passport"),
        passport_expiry=app.passport_expiry, purpose=app.purpose,
        checks=[CheckRead.model_validate(c) for c in app.checks], screening_hits=app.screening_hits,
        reviewer_id=app.reviewer_id, recommendation=app.recommendation,
        recommendation_note=app.recommendation_note,
        identity_check=None if check is None else {
            "outcome": check.outcome, "mode": check.mode, "passport_seen": check.passport_seen,
            "passport_matches_mrz": check.passport_matches_mrz,
            "face_matches_photo": check.face_matches_photo, "notes": check.notes,
            "checked_at": check.checked_at.isoformat(), "agent_id": str(check.agent_id)},
        documents=[{"id": str(d.document_id), "kind": d.kind} for d in app.documents],
        mrz_lines=ctx.cipher.decrypt(app.mrz_enc, context="applications.mrz").split("\n"),
        history=history)
