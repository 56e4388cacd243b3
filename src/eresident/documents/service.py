"""Accept uploads: check size and real type, store by SHA-256, record who owns them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from eresident.documents import filetypes
from eresident.documents.models import Document
from eresident.documents.store import FileStore
from eresident.i18n import N_
from eresident.kit.errors import FieldError, Message, Problem, either, invalid
from eresident.kit.units import human_size

# What each kind of upload may be.
ALLOWED: dict[str, tuple[filetypes.FileType, ...]] = {
    "photo": (filetypes.JPEG, filetypes.PNG),
    "passport_scan": (filetypes.PDF, filetypes.JPEG, filetypes.PNG),
    "supporting": (filetypes.PDF, filetypes.JPEG, filetypes.PNG),
}


# The kinds as refusals name them ("a photo may be at most …"), marked for the catalogues.
KIND_NAMES = {"photo": N_("photo"), "passport_scan": N_("passport scan"), "supporting": N_("supporting")}

# What browsers and clients send for the same types.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
            "application/x-pdf": "application/pdf"}


def accept_upload(*, db: Session, store: FileStore, owner_type: str, owner_id: uuid.UUID,
                  kind: str, filename: str | None, declared_type: str | None, data: bytes,
                  max_bytes: int, now: datetime, field: str = "file") -> Document:
    if kind not in ALLOWED:
        raise invalid("kind", Message(N_("Choose one of: %(kinds)s."), kinds=", ".join(ALLOWED)))
    what = Message(KIND_NAMES[kind])
    if len(data) > max_bytes:
        limit = human_size(max_bytes)
        raise Problem(413, N_("The file is too large"),
                      detail=Message(N_("A %(kind)s may be at most %(limit)s; this file is larger."),
                                     kind=what, limit=limit),
                      code="file-too-large",
                      errors=[FieldError(field, Message.with_english(
                          "too large", N_("This file is larger than %(limit)s. Choose a smaller file."),
                          limit=limit))])
    name = filetypes.safe_filename(filename)
    detected = filetypes.detect(data)
    allowed = ALLOWED[kind]
    labels = either([t.label for t in allowed])
    if detected is None:
        raise invalid(field, Message(N_("This file is %(found)s; upload %(allowed)s."),
                                     found=Message(filetypes.describe_unknown(data)), allowed=labels),
                      title=N_("The file type is not accepted"))
    if detected not in allowed:
        raise invalid(field, Message(N_("This file is %(found)s; a %(kind)s must be %(allowed)s."),
                                     found=Message(detected.label), kind=what, allowed=labels),
                      title=N_("The file type is not accepted"))
    ext = filetypes.extension_of(name)
    named_as = next((t for t in filetypes.KNOWN if ext in t.extensions), None)
    if ext and named_as is not None and named_as is not detected:
        raise invalid(field, Message(N_("The file is named '%(name)s' but its content is %(found)s. "
                                        "Rename it or upload the right file."),
                                     name=name, found=Message(detected.label)),
                      title=N_("The file is mislabelled"))
    declared = _ALIASES.get((declared_type or "").lower(), (declared_type or "").lower())
    if declared and declared not in ("application/octet-stream", detected.media_type):
        raise invalid(field, Message(N_("The file was sent as %(declared)s but its content is %(found)s."),
                                     declared=declared_type, found=Message(detected.label)),
                      title=N_("The file is mislabelled"))
    digest = store.put(data)
    doc = Document(owner_type=owner_type, owner_id=owner_id, kind=kind, sha256=digest,
                   size=len(data), media_type=detected.media_type, filename=name, created_at=now)
    db.add(doc)
    db.flush()
    return doc


def get_owned(db: Session, document_id, applicant_id: uuid.UUID) -> Document | None:
    """The applicant's own document, or None (a wrong or foreign id is simply not theirs)."""
    try:
        doc = db.get(Document, uuid.UUID(str(document_id)))
    except ValueError:
        return None
    if doc is None or doc.owner_type != "applicant" or doc.owner_id != applicant_id:
        return None
    return doc


def download(ctx, db: Session, document_id: uuid.UUID | None, what: str):
    """A stored document as a private attachment (its SHA-256 in a header); 404 naming `what`."""
    from fastapi.responses import Response

    from eresident.kit.errors import not_found

    doc = db.get(Document, document_id) if document_id else None
    if doc is None:
        raise not_found(what)
    return Response(ctx.files.get(doc.sha256), media_type=doc.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{doc.filename}"',
                             "Cache-Control": "private, no-store", "X-Content-SHA256": doc.sha256})


def store_generated(ctx, db: Session, *, owner_id: uuid.UUID, kind: str, data: bytes, media_type: str,
                    filename: str) -> Document:
    """Keep a document the node made or received (articles, licence, report) for an applicant."""
    digest = ctx.files.put(data)  # content-addressed: a rolled-back request leaves only an unused file
    doc = Document(owner_type="applicant", owner_id=owner_id, kind=kind, sha256=digest, size=len(data),
                   media_type=media_type, filename=filename, created_at=ctx.clock.now())
    db.add(doc)
    db.flush()
    return doc
