"""HTTP API of company formation: names, formations, signatures, the officials' cases, and the
public licence verification."""

from __future__ import annotations

import uuid
import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from eresident.deps import (Ctx, CurrentApplicant, DbSession, applicant_actor, mark_csrf_public, official_actor,
                            require)
from eresident.documents.service import download
from eresident.enterprise import catalogue, holder_signatures, partners, service
from eresident.enterprise.models import Formation, Licence, RegisteredName
from eresident.enterprise import revocation
from eresident.enterprise.schemas import (CredentialRequest, DecisionIn, FormationIn, FormationRead, LicenceStatus,
                                          NameRequest, PartnerRead, PartyRead, RecommendationIn, RestrictedItem, RevocationIn,
                                          RevocationRead, SignatureRead, SignRequest)
from eresident.i18n import N_
from eresident.kit.context import NodeContext
from eresident.kit.errors import FieldError, Problem
from eresident.kit.openapi import PDF_RESPONSE
from eresident.officials.models import Official
from eresident.pages import Form as PageForm

router = APIRouter(prefix="/api/v1", tags=["enterprise"])
public = APIRouter(tags=["enterprise"])

Reviewer = Annotated[Official, Depends(require("enterprise.review"))]
Approver = Annotated[Official, Depends(require("enterprise.decide"))]
CaseReader = Annotated[Official, Depends(require("enterprise.read"))]
Revoker = Annotated[Official, Depends(require("licence.revoke"))]


def _reservation(row: RegisteredName) -> dict:
    return {"id": str(row.id), "name_zh": row.name_zh, "name_en": row.name_en, "trade_name": row.trade_name,
            "industry_code": row.industry_code, "status": row.status,
            "reserved_until": row.reserved_until.isoformat() if row.reserved_until else None,
            "needs_review": row.needs_review}


def _mine(ctx: NodeContext, db: Session, applicant, formation: Formation) -> FormationRead:
    """The formation as the signed-in applicant (its owner, or a signatory) may see it."""
    return formation_read(db, formation, viewer=_viewer(db, applicant, ctx.region), ctx=ctx,
                          owner=formation.owner_applicant_id == applicant.id)


def _viewer(db: Session, applicant, region: str) -> str | None:
    """The applicant's e-resident number here (their own or a recognised one), for what they may see."""
    from eresident.identity import service as identity

    resident = identity.resident_for(db, applicant, region)
    return resident.number if resident is not None else None


def formation_read(db: Session, formation: Formation, *, viewer: str | None = None,
                   official: bool = False, ctx: NodeContext | None = None, owner: bool = False) -> FormationRead:
    """The formation as `viewer` (an e-resident number) may see it; officials see every party; the
    owner (given `ctx`) also gets the links to pass on to Chinese partners."""
    name = db.get_one(RegisteredName, formation.name_id)
    licence = service.licence_of(db, formation)
    signed = sorted({s.e_resident_number for s in service.signatures_of(db, formation)
                     if s.status == "valid" and s.document_sha256 == formation.articles_sha256})
    shown = service.names_shown_to(formation, viewer, set(signed))

    def visible(p) -> bool:
        return official or not p.e_resident_number or p.e_resident_number in shown
    base = f"/api/v1/formations/{formation.id}"
    return FormationRead(
        id=formation.id, case_number=formation.case_number, status=formation.status,
        status_text=service.STATUSES.get(formation.status, formation.status), revision=formation.revision,
        name_zh=name.name_zh, name_en=name.name_en, company_type=formation.company_type,
        registered_capital=formation.registered_capital, currency=formation.currency,
        business_scope=[s.code for s in formation.scope],
        restricted_scope=[RestrictedItem(**r) for r in service.restricted_of(formation)],
        address_kind=formation.address_kind, address_zh=formation.address_zh, address_en=formation.address_en,
        term_years=formation.term_years,
        parties=[PartyRead(role=p.role, kind=p.kind, name=p.name if visible(p) else "",
                           country=p.country if visible(p) else "",
                           e_resident_number=p.e_resident_number, registration_number=p.registration_number,
                           share_percent=p.share_percent, contribution=p.contribution) for p in formation.parties],
        signatories=service.signatories(formation), signed_by=signed, articles_sha256=formation.articles_sha256,
        partners=[PartnerRead(**p) for p in partners.partners_of(ctx if owner else None, db, formation)],
        uscc=licence.uscc if licence else None, licence_url=f"{base}/licence" if licence else None,
        licence_status=licence.status if licence else None,
        report_url=f"{base}/report" if formation.report_document_id else None,
        report_pdf_url=f"{base}/report/pdf" if formation.report_pdf_document_id else None,
        decision_reasons=formation.decision_reasons, created_at=formation.created_at,
        submitted_at=formation.submitted_at, decided_at=formation.decided_at)


# --- names ----------------------------------------------------------------------------------

@router.post("/names/check", summary="Check a proposed enterprise name (rules and conflicts)")
def check_name(body: NameRequest, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> dict:
    service.active_resident(db, applicant, ctx.region)
    return service.check_name(ctx=ctx, db=db, name_zh=body.name_zh, name_en=body.name_en)


@router.post("/names/reservations", status_code=201, summary="Reserve a name for the set time")
def reserve(body: NameRequest, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> dict:
    row, verdict = service.reserve_name(ctx=ctx, db=db, applicant=applicant, name_zh=body.name_zh,
                                        name_en=body.name_en, actor=applicant_actor(applicant))
    return {**_reservation(row), "warnings": verdict["warnings"], "similar_names": verdict["similar_names"]}


@router.get("/names/reservations", summary="My name reservations")
def my_reservations(applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> list[dict]:
    resident = service.active_resident(db, applicant, ctx.region)
    return [_reservation(r) for r in service.reservations_of(db=db, resident=resident)]


@router.delete("/names/reservations/{reservation_id}", status_code=204, summary="Give a reserved name up")
def release(reservation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    service.release_reservation(ctx=ctx, db=db, applicant=applicant, reservation_id=reservation_id,
                                actor=applicant_actor(applicant))
    return Response(status_code=204)


@router.get("/business-scope", summary="The business-scope catalogue, with the negative-list measures")
def business_scope() -> dict:
    version, measures = catalogue.negative_list()
    return {"negative_list_version": version, "sample_data": True,
            "items": [{"code": i.code, "section": i.section, "kind": i.kind, "zh": i.zh, "en": i.en,
                       "negative_list": None if i.code not in measures else {
                           "level": measures[i.code].level, "measure": measures[i.code].id,
                           "zh": measures[i.code].zh, "en": measures[i.code].en}}
                      for i in catalogue.catalogue().values()]}


# --- formations -----------------------------------------------------------------------------

@router.post("/formations", status_code=201, response_model=FormationRead, summary="Start a company formation")
def create(body: FormationIn, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> FormationRead:
    formation = service.create_formation(ctx=ctx, db=db, applicant=applicant, data=body,
                                         actor=applicant_actor(applicant))
    return _mine(ctx, db, applicant, formation)


@router.get("/formations", response_model=list[FormationRead], summary="My formations")
def mine(applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> list[FormationRead]:
    viewer = _viewer(db, applicant, ctx.region)
    return [formation_read(db, f, viewer=viewer, ctx=ctx, owner=True)
            for f in service.formations_of(db=db, applicant=applicant)]


@router.get("/formations/{formation_id}", response_model=FormationRead, summary="One of my formations")
def one(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> FormationRead:
    formation, _ = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                             region=ctx.region)
    return _mine(ctx, db, applicant, formation)


@router.put("/formations/{formation_id}", response_model=FormationRead,
            summary="Change a formation (after submission: new articles, signatures start over)")
def change(formation_id: uuid.UUID, body: FormationIn, applicant: CurrentApplicant, ctx: Ctx,
           db: DbSession) -> FormationRead:
    formation = service.update_formation(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                         data=body, actor=applicant_actor(applicant))
    return _mine(ctx, db, applicant, formation)


@router.post("/formations/{formation_id}/submit", response_model=FormationRead,
             summary="Draw up the articles and open the case for signatures")
def submit(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> FormationRead:
    formation = service.submit_formation(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                         actor=applicant_actor(applicant))
    return _mine(ctx, db, applicant, formation)


@router.get("/formations/{formation_id}/articles", summary="The articles of association (PDF) to read and sign",
            response_class=Response, responses=PDF_RESPONSE)
def articles(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    formation, _ = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                             region=ctx.region)
    return download(ctx, db, formation.articles_document_id, "Articles")


@router.post("/formations/{formation_id}/signatures", status_code=201, response_model=SignatureRead,
             summary="Sign the articles: confirm the SHA-256 of the exact PDF you read")
def sign(formation_id: uuid.UUID, body: SignRequest, applicant: CurrentApplicant, ctx: Ctx,
         db: DbSession) -> SignatureRead:
    if body.jws is not None:
        row = holder_signatures.sign_with_holder_key(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                                     token=body.jws, actor=applicant_actor(applicant))
        return SignatureRead.model_validate(row, from_attributes=True)
    assert body.document_sha256 is not None  # SignRequest takes one of the two
    row = service.sign_articles(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id,
                                document_sha256=body.document_sha256, actor=applicant_actor(applicant))
    return SignatureRead.model_validate(row, from_attributes=True)


@router.get("/formations/{formation_id}/signing-input",
            summary="What to sign with your own key: the canonical payload (RFC 8785) for a holder-key JWS")
def signing_input(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> dict:
    return holder_signatures.signing_input(ctx=ctx, db=db, applicant=applicant, formation_id=formation_id)


@router.get("/formations/{formation_id}/signatures", response_model=list[SignatureRead],
            summary="The signature records (JWS, verifiable with the region's published keys)")
def signatures(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> list[SignatureRead]:
    formation, _ = service.get_for_signatory(db=db, applicant=applicant, formation_id=formation_id,
                                             region=ctx.region)
    return [SignatureRead.model_validate(s, from_attributes=True) for s in service.signatures_of(db, formation)]


# --- a Chinese partner's signature (joint ventures): the invitation link is the authority --------

@router.get("/partner-signing/{party_id}/{token}", summary="A Chinese partner's invitation to sign the articles")
def partner_invitation(party_id: uuid.UUID, token: str, ctx: Ctx, db: DbSession) -> dict:
    formation, party = partners.by_invitation(ctx=ctx, db=db, party_id=party_id, token=token)
    base = f"/api/v1/partner-signing/{party_id}/{token}"
    return {**partners.invitation(ctx, db, formation, party), "articles_url": f"{base}/articles", "post_to": base}


@router.get("/partner-signing/{party_id}/{token}/articles", summary="The articles a Chinese partner signs (PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def partner_articles(party_id: uuid.UUID, token: str, ctx: Ctx, db: DbSession) -> Response:
    formation, _party = partners.by_invitation(ctx=ctx, db=db, party_id=party_id, token=token)
    return download(ctx, db, formation.articles_document_id, "Articles")


@router.post("/partner-signing/{party_id}/{token}", status_code=201,
             summary="Upload the articles signed with the partner's organisation certificate (PAdES)")
def partner_sign(party_id: uuid.UUID, token: str, ctx: Ctx, db: DbSession, file: UploadFile = File(...)) -> dict:
    data = file.file.read(partners.MAX_SIGNED_BYTES + 1)
    row = partners.sign(ctx=ctx, db=db, party_id=party_id, token=token, data=data)
    return {"partner": row.identifier, "name": row.name, "revision": row.revision,
            "document_sha256": row.document_sha256,
            "signed_sha256": row.signed_sha256, "signer_subject": row.signer_subject,
            "issuer_subject": row.issuer_subject, "signed_at": row.signed_at.isoformat()}


# The capability is the unguessable link, not a cookie: a forged cross-site post would need it.
mark_csrf_public(router.routes[-1])


def _partner_copy(ctx: NodeContext, db: Session, formation: Formation, party_id: uuid.UUID) -> Response:
    data = partners.signed_copy(ctx, db, formation, party_id)
    if data is None:
        raise Problem(404, N_("No signed copy"), code="not-found",
                      detail=N_("This partner has not signed the current articles."))
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="articles-signed-{formation.case_number}.pdf"',
                             "Cache-Control": "private, no-store"})


@router.get("/formations/{formation_id}/partner-signatures/{party_id}",
            summary="A Chinese partner's signed copy of the articles (PDF, checkable with pdfsig and the CA root)",
            response_class=Response, responses=PDF_RESPONSE)
def partner_copy(formation_id: uuid.UUID, party_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx,
                 db: DbSession) -> Response:
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    return _partner_copy(ctx, db, formation, party_id)


@router.get("/formations/{formation_id}/licence", summary="The signed business licence (PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def licence_pdf(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    licence = service.licence_of(db, formation)
    return download(ctx, db, licence.document_id if licence else None, "Licence")


@router.get("/formations/{formation_id}/report", summary="The foreign-investment information report (JSON)")
def report(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    return download(ctx, db, formation.report_document_id, "Report")


@router.get("/formations/{formation_id}/report/pdf", summary="The foreign-investment information report (signed PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def report_pdf(formation_id: uuid.UUID, applicant: CurrentApplicant, ctx: Ctx, db: DbSession) -> Response:
    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    return download(ctx, db, formation.report_pdf_document_id, "Report")


@router.post("/formations/{formation_id}/licence/credential", status_code=201,
             summary="Issue the licence as an SD-JWT VC")
def licence_credential(formation_id: uuid.UUID, body: CredentialRequest, applicant: CurrentApplicant, ctx: Ctx,
                       db: DbSession) -> dict:
    from eresident.credentials.service import issue_licence

    formation = service.get_for_owner(db=db, applicant=applicant, formation_id=formation_id)
    licence = service.licence_of(db, formation)
    if licence is None:
        raise Problem(409, N_("No licence yet"), code="not-issued",
                      detail=N_("The licence is issued when the case is approved."))
    return issue_licence(ctx=ctx, db=db, licence=licence, holder_jwk=body.holder_jwk, actor=applicant_actor(applicant))


# --- officials ------------------------------------------------------------------------------

def _case_row(db: Session, formation: Formation, step: str | None = None) -> dict:
    read = formation_read(db, formation, official=True).model_dump(mode="json")
    return {**read, "open_step": step}


@router.get("/formation-cases", summary="Worklist of formation cases for my roles")
def cases(official: CaseReader, ctx: Ctx, db: DbSession) -> list[dict]:
    return [_case_row(db, f, step) for f, step in service.worklist(db=db, official=official, region=ctx.region)]


@router.get("/formation-cases/{formation_id}", summary="A formation case with its facts and signatures")
def case(formation_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession) -> dict:
    formation = service.get_case(db=db, formation_id=formation_id, region=ctx.region)
    return {**_case_row(db, formation), "facts": service.facts(db, formation) if formation.status != "draft" else {},
            "signatures": [SignatureRead.model_validate(s, from_attributes=True).model_dump(mode="json")
                           for s in service.signatures_of(db, formation)]}


@router.get("/formation-cases/{formation_id}/partner-signatures/{party_id}",
            summary="A Chinese partner's signed copy of the articles in a case (PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def case_partner_copy(formation_id: uuid.UUID, party_id: uuid.UUID, official: CaseReader, ctx: Ctx,
                      db: DbSession) -> Response:
    return _partner_copy(ctx, db, service.get_case(db=db, formation_id=formation_id, region=ctx.region), party_id)


@router.post("/formation-cases/{formation_id}/claim", response_model=FormationRead)
def claim(formation_id: uuid.UUID, official: Reviewer, ctx: Ctx, db: DbSession) -> FormationRead:
    return formation_read(db, official=True, formation=service.claim(ctx=ctx, db=db, formation_id=formation_id, official=official,
                                            actor=official_actor(official)))


@router.post("/formation-cases/{formation_id}/recommend", response_model=FormationRead)
def recommend(formation_id: uuid.UUID, body: RecommendationIn, official: Reviewer, ctx: Ctx,
              db: DbSession) -> FormationRead:
    return formation_read(db, official=True, formation=service.recommend(ctx=ctx, db=db, formation_id=formation_id, official=official,
                                                recommendation=body.recommendation, note=body.note,
                                                actor=official_actor(official)))


@router.post("/formation-cases/{formation_id}/decide", response_model=FormationRead)
def decide(formation_id: uuid.UUID, body: DecisionIn, official: Approver, ctx: Ctx, db: DbSession) -> FormationRead:
    return formation_read(db, official=True, formation=service.decide(ctx=ctx, db=db, formation_id=formation_id, official=official,
                                             decision=body.decision, reasons=body.reasons,
                                             actor=official_actor(official)))


@router.get("/formation-cases/{formation_id}/licence", summary="The case's signed business licence (PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def case_licence(formation_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession) -> Response:
    licence = service.licence_of(db, service.get_case(db=db, formation_id=formation_id, region=ctx.region))
    return download(ctx, db, licence.document_id if licence else None, "Licence")


@router.get("/formation-cases/{formation_id}/report/pdf", summary="The case's foreign-investment information report "
                                                                    "(signed PDF)",
            response_class=Response, responses=PDF_RESPONSE)
def case_report(formation_id: uuid.UUID, official: CaseReader, ctx: Ctx, db: DbSession) -> Response:
    formation = service.get_case(db=db, formation_id=formation_id, region=ctx.region)
    return download(ctx, db, formation.report_pdf_document_id, "Report")


@router.get("/official/licence-revocation-reasons", summary="The reasons a registrar may give for revoking a licence")
def revocation_reasons(official: CaseReader) -> list[dict]:
    return [{"code": r.code, "zh": r.zh, "en": r.en, "frees_name": r.frees_name}
            for r in revocation.reasons().values()]


@router.post("/official/licences/{uscc}/revoke", response_model=RevocationRead,
             summary="Revoke a business licence of this region (registrar)")
def revoke(uscc: str, body: RevocationIn, official: Revoker, ctx: Ctx, db: DbSession) -> RevocationRead:
    licence = service.revoke_licence(ctx=ctx, db=db, code=uscc, reason=body.reason, note=body.note,
                                     actor=official_actor(official))
    return RevocationRead(**service.licence_status(licence), revocation_note=licence.revocation_note or "")


# --- public verification --------------------------------------------------------------------

@router.get("/licences/{uscc}", response_model=LicenceStatus, summary="Is the licence with this USCC genuine "
                                                                      "and current? (public)")
def licence_status(uscc: str, db: DbSession) -> LicenceStatus:
    return LicenceStatus(**service.licence_status(service.licence_by_uscc(db, uscc)))


@router.post("/licences/verify", summary="Is this licence PDF genuine and current? (public upload)")
def verify_upload(ctx: Ctx, db: DbSession, file: UploadFile = File(...)) -> dict:
    data = file.file.read(ctx.settings.max_upload_bytes + 1)
    if len(data) > ctx.settings.max_upload_bytes:
        raise Problem(413, N_("The file is too large"), code="file-too-large",
                      detail=N_("A licence PDF is far smaller than this."))
    return service.verify_licence_pdf(ctx=ctx, db=db, data=data)


# Anyone may check a licence: the upload carries no ambient authority, so no CSRF token.
mark_csrf_public(router.routes[-1])


def _issuance_in_log(ctx: NodeContext, db: Session, licence) -> dict:
    """The licence's issuance in the audit log, for the page: its proof against the newest cosigned
    checkpoint (audit/publication.py), or why there is none."""
    from eresident.audit import merkle, publication
    from eresident.audit.schemas import KEY_URL, LicenceInclusionRead, licence_inclusion_url

    try:
        shown = publication.licence_issuance(ctx=ctx, db=db, licence=licence)
    except (merkle.ProofError, merkle.MissingNode) as exc:  # a damaged tree: say so, keep the page
        return {"state": "broken", "detail": str(exc)}
    if shown is None:
        return {"state": "missing"}
    links = {"proof_url": licence_inclusion_url(licence.uscc), "key_url": KEY_URL}
    if shown.pending:
        return {"state": "pending", "seq": shown.seq, "latest_size": shown.latest_checkpoint_size, **links}
    proof = LicenceInclusionRead.of(licence.uscc, shown)  # what the JSON proof says, to show it alike
    assert shown.checks is not None  # a proof (not pending) comes with its checks
    return {"state": "included" if shown.checks.ok else "failed", "proof": proof, **links}


def _verify_page(uscc: str, request: Request, ctx: NodeContext, db: Session) -> HTMLResponse:
    from eresident.pages import render

    try:
        licence = service.licence_by_uscc(db, uscc)
        status, problem = service.licence_status(licence), None
    except Problem as exc:
        licence, status, problem = None, None, exc
    issuance = _issuance_in_log(ctx, db, licence) if licence else None
    return render(request, "verify_licence.html", status=200 if problem is None else problem.status, licence=status,
                  problem=problem, uscc=uscc, issuance=issuance)


@public.get("/verify/licences", response_class=HTMLResponse, include_in_schema=False)
def verify_start(request: Request, uscc: str = "") -> Response:
    """Where to check a licence without its QR code: by its USCC, or by uploading the PDF."""
    from eresident.pages import redirect, render

    code = uscc.strip().upper().replace(" ", "")
    if code:
        if re.fullmatch(r"[0-9A-Z]{18}", code):
            return redirect(f"/verify/licences/{code}")
        return render(request, "verify_licence.html", 422, start=True, values={"uscc": uscc},
                      errors=[FieldError("uscc", N_("A Unified Social Credit Code has 18 characters: digits "
                                                    "and capital letters, as printed on the licence."))])
    return render(request, "verify_licence.html", start=True, values={})


@public.post("/verify/licences", response_class=HTMLResponse, include_in_schema=False)
def verify_start_upload(request: Request, ctx: Ctx, db: DbSession, form: FormData = PageForm) -> HTMLResponse:
    """The PDF a person uploads: its signature, then the register (as POST /api/v1/licences/verify)."""
    from eresident.pages import render

    upload = form.get("file")
    data = upload.file.read(ctx.settings.max_upload_bytes + 1) if isinstance(upload, StarletteUpload) else b""
    if not data:
        return render(request, "verify_licence.html", 422, start=True, values={},
                      errors=[FieldError("file", N_("Choose the licence's PDF file to check."))])
    if len(data) > ctx.settings.max_upload_bytes:
        return render(request, "verify_licence.html", 413, start=True, values={},
                      errors=[FieldError("file", N_("This file is far larger than a licence: choose the "
                                                    "licence's PDF file."))])
    result = service.verify_licence_pdf(ctx=ctx, db=db, data=data)
    licence = db.scalar(select(Licence).where(Licence.uscc == result["uscc"])) \
        if result["genuine"] and result.get("uscc") else None
    return render(request, "verify_licence.html", upload=result, licence=result if result["genuine"] else None,
                  uscc=result.get("uscc") or "", problem=None,
                  issuance=_issuance_in_log(ctx, db, licence) if licence is not None else None)


# The upload carries no authority (as POST /api/v1/licences/verify): anyone may check a licence.
mark_csrf_public(public.routes[-1])


@public.get("/verify/licences/{uscc}", response_class=HTMLResponse, include_in_schema=False)
def verify_page(uscc: str, request: Request, ctx: Ctx, db: DbSession) -> HTMLResponse:
    return _verify_page(uscc, request, ctx, db)


# The licence PDF's QR code (documents/licence_pdf.verification_url) points here.
@public.get("/verify/licence/{uscc}", response_class=HTMLResponse, include_in_schema=False)
def verify_page_qr(uscc: str, request: Request, ctx: Ctx, db: DbSession) -> HTMLResponse:
    return _verify_page(uscc, request, ctx, db)
