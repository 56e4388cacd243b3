"""The e-residency application kept on the server while it is filled in a section at a time (the task
list): one draft per applicant, its answers (the form's own strings) encrypted at rest as one JSON."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from eresident.i18n import N_
from eresident.identity.consents import CONSENTS
from eresident.identity.models import Applicant, ApplicationDraft
from eresident.kit.context import NodeContext

CIPHER_CONTEXT = "application_drafts"
DONE = "_done"  # the answers' key listing the sections saved without a problem


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    fields: tuple[str, ...]  # the form's names, in page order
    body_fields: tuple[str, ...]  # the same fields as ApplicationCreate names them


SECTIONS: tuple[Section, ...] = (
    Section("about-you", N_("About you"),
            ("surname", "given_names", "native_name", "birth_date", "sex", "nationality", "residence_country"),
            ("surname", "given_names", "native_name", "birth_date", "sex", "nationality", "residence_country")),
    Section("contact", N_("Contact"), ("phone", "address"), ("phone", "address")),
    Section("passport", N_("Passport"), ("passport_number", "passport_expiry", "mrz"),
            ("passport_number", "passport_expiry", "mrz")),
    Section("documents", N_("Photo and documents"), ("photo", "supporting"),
            ("photo_document_id", "supporting_document_ids")),
    Section("purpose", N_("Why you apply"), ("purpose",), ("purpose",)),
    Section("site", N_("Identity check site"), ("site_code",), ("site_code",)),
    Section("consent", N_("Consent"), tuple(f"consent_{p}" for p in CONSENTS), ("consents",)),
)
BY_SLUG = {s.slug: s for s in SECTIONS}
# Every form name kept in the answers (the documents are columns of their own).
TEXT_FIELDS = tuple(f for s in SECTIONS if s.slug != "documents" for f in s.fields)


def section_of(field: str) -> Section | None:
    """The section that asks for a field, by its name in a page or in the body ("consents.processing")."""
    root = field.replace("/", ".").split(".", 1)[0]
    for section in SECTIONS:
        if root in section.fields or root in section.body_fields:
            return section
    return None


def draft_of(db: Session, applicant: Applicant) -> ApplicationDraft | None:
    """The applicant's own draft: the only way to one, so nobody reaches another's."""
    return db.scalar(select(ApplicationDraft).where(ApplicationDraft.applicant_id == applicant.id))


def answers(ctx: NodeContext, draft: ApplicationDraft | None) -> dict:
    if draft is None:
        return {}
    return json.loads(ctx.cipher.decrypt(draft.answers_enc, context=CIPHER_CONTEXT))


def save(ctx: NodeContext, db: Session, applicant: Applicant, values: dict, *,
         draft: ApplicationDraft | None = None) -> ApplicationDraft:
    """Store the answers (encrypted), making the draft on first use."""
    draft = draft or draft_of(db, applicant)
    if draft is None:
        draft = ApplicationDraft(applicant_id=applicant.id, supporting_document_ids=[])
        db.add(draft)
    draft.answers_enc = ctx.cipher.encrypt(json.dumps(values, ensure_ascii=False), context=CIPHER_CONTEXT)
    draft.updated_at = ctx.clock.now()
    return draft


def status(section: Section, values: dict, draft: ApplicationDraft | None) -> str:
    """"completed" (saved without a problem), "in_progress" (something answered) or "not_started"."""
    if section.slug in values.get(DONE, []):
        return "completed"
    if section.slug == "documents":
        started = draft is not None and bool(draft.photo_document_id or draft.supporting_document_ids)
    else:
        started = any(values.get(f) for f in section.fields)
    return "in_progress" if started else "not_started"


def complete(values: dict) -> bool:
    return all(s.slug in values.get(DONE, []) for s in SECTIONS)


def body(values: dict, draft: ApplicationDraft | None) -> dict:
    """The answers as the body the API takes (ApplicationCreate), as the one-page form builds it."""
    data: dict = {k: values.get(k, "") for k in TEXT_FIELDS if not k.startswith("consent_")}
    data["consents"] = {p: values.get(f"consent_{p}") == "yes" for p in CONSENTS}
    supporting = list(draft.supporting_document_ids) if draft is not None else []
    data["supporting_document_ids"] = supporting
    if draft is not None and draft.photo_document_id is not None:
        data["photo_document_id"] = str(draft.photo_document_id)
    return data


def set_documents(draft: ApplicationDraft, *, photo: uuid.UUID | None, supporting: uuid.UUID | None) -> None:
    if photo is not None:
        draft.photo_document_id = photo
    if supporting is not None:
        draft.supporting_document_ids = [str(supporting)]
