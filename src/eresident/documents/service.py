"""Accept uploads: check size and real type, store by SHA-256, record who owns them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from eresident.documents import filetypes
from eresident.documents.models import Document
from eresident.documents.store import FileStore
from eresident.kit.errors import FieldError, Problem, invalid

# What each kind of upload may be.
ALLOWED: dict[str, tuple[filetypes.FileType, ...]] = {
    "photo": (filetypes.JPEG, filetypes.PNG),
    "passport_scan": (filetypes.PDF, filetypes.JPEG, filetypes.PNG),
    "supporting": (filetypes.PDF, filetypes.JPEG, filetypes.PNG),
}


def _human_size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def accept_upload(*, db: Session, store: FileStore, owner_type: str, owner_id: uuid.UUID,
                  kind: str, filename: str | None, declared_type: str | None, data: bytes,
                  max_bytes: int, now: datetime, field: str = "file") -> Document:
    if kind not in ALLOWED:
        raise invalid("kind", f"Choose one of: {', '.join(ALLOWED)}.")
    if len(data) > max_bytes:
        raise Problem(413, "The file is too large",
                      detail=f"A {kind.replace('_', ' ')} may be at most {_human_size(max_bytes)}; "
                             f"this file is {_human_size(len(data))}.",
                      code="file-too-large", errors=[FieldError(field, "too large")])
    name = filetypes.safe_filename(filename)
    detected = filetypes.detect(data)
    allowed = ALLOWED[kind]
    labels = " or ".join(t.label for t in allowed)
    if detected is None:
        raise invalid(field, f"This file is {filetypes.describe_unknown(data)}; upload {labels}.",
                      title="The file type is not accepted")
    if detected not in allowed:
        raise invalid(field, f"This file is {detected.label}; a {kind.replace('_', ' ')} must be {labels}.",
                      title="The file type is not accepted")
    ext = filetypes.extension_of(name)
    named_as = next((t for t in filetypes.KNOWN if ext in t.extensions), None)
    if ext and named_as is not None and named_as is not detected:
        raise invalid(field, f"The file is named '{name}' but its content is {detected.label}. "
                             "Rename it or upload the right file.", title="The file is mislabelled")
    if declared_type and declared_type not in ("application/octet-stream", detected.media_type):
        declared = next((t for t in filetypes.KNOWN if t.media_type == declared_type), None)
        if declared is not None or declared_type.split("/")[0] in ("image", "application", "text"):
            raise invalid(field, f"The file was sent as {declared_type} but its content is "
                                 f"{detected.label}.", title="The file is mislabelled")
    digest = store.put(data)
    doc = Document(owner_type=owner_type, owner_id=owner_id, kind=kind, sha256=digest,
                   size=len(data), media_type=detected.media_type, filename=name, created_at=now)
    db.add(doc)
    db.flush()
    return doc
