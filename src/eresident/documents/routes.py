"""HTTP API for uploads and downloads. A document is served only to its owner or to an
official handling a case that uses it; ids are random UUIDs, never guessable paths."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select

from eresident.deps import Ctx, CurrentApplicant, DbSession, session_token
from eresident.documents import service
from eresident.documents.filetypes import KNOWN
from eresident.documents.models import Document
from eresident.i18n import N_
from eresident.identity.models import Application, ApplicationDocument
from eresident.kit.errors import Problem, not_found
from eresident.officials.service import has_role
from eresident.security import service as security
from eresident.officials.models import Official
from eresident.identity.models import Applicant
from eresident.sites.service import agent_sites, current_appointment

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """Read at most limit+1 bytes: enough to know a file is too large without holding all of it."""
    return await upload.read(limit + 1)


@router.post("", status_code=201, summary="Upload a photo, passport scan or supporting document")
async def upload(ctx: Ctx, applicant: CurrentApplicant, db: DbSession, file: UploadFile = File(...),
                 kind: str = Form(...)) -> dict:
    limit = ctx.settings.max_photo_bytes if kind == "photo" else ctx.settings.max_upload_bytes
    data = await read_limited(file, limit)
    doc = service.accept_upload(db=db, store=ctx.files, owner_type="applicant", owner_id=applicant.id,
                                kind=kind, filename=file.filename, declared_type=file.content_type,
                                data=data, max_bytes=limit, now=ctx.clock.now())
    return {"id": str(doc.id), "kind": doc.kind, "media_type": doc.media_type, "size": doc.size,
            "sha256": doc.sha256, "filename": doc.filename}


def may_read(db, ctx, doc: Document, principal) -> bool:
    if isinstance(principal, Applicant):
        return doc.owner_type == "applicant" and doc.owner_id == principal.id
    if isinstance(principal, Official):
        apps = db.scalars(select(Application).join(ApplicationDocument,
                                                   ApplicationDocument.application_id == Application.id)
                          .where(ApplicationDocument.document_id == doc.id)).all()
        if not any(a.region == ctx.region for a in apps):
            return False
        if any(has_role(principal, r, ctx.region) for r in ("reviewer", "approver", "auditor")):
            return True
        # A site agent sees only the photo, and only of applicants booked at their own site.
        if doc.kind != "photo" or not has_role(principal, "site_agent", ctx.region):
            return False
        site_ids = {s.id for s in agent_sites(db, principal)}
        return any((appt := current_appointment(db, a.id)) is not None and appt.site_id in site_ids for a in apps)
    return False


@router.get("/{document_id}", summary="Download a document you may see", response_class=Response,
            responses={200: {"description": "The document as it was uploaded",
                             "content": {t.media_type: {} for t in KNOWN}}})
def download(document_id: uuid.UUID, request: Request, ctx: Ctx, db: DbSession) -> Response:
    token, _ = session_token(request)
    session = security.resolve_session(db=db, token=token, now=ctx.clock.now()) if token else None
    if session is None:
        raise Problem(401, N_("Sign in to continue"), code="unauthenticated")
    model = Applicant if session.principal_type == "applicant" else Official
    principal = db.get(model, session.principal_id)
    if isinstance(principal, Official) and not principal.active:
        principal = None
    doc = db.get(Document, document_id)
    if doc is None or principal is None or not may_read(db, ctx, doc, principal):
        raise not_found(N_("Document"))
    return Response(ctx.files.get(doc.sha256), media_type=doc.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{doc.id}"',
                             "Cache-Control": "private, no-store"})



