"""Public API of the audit log: the signed checkpoints, their key, inclusion and consistency
proofs, and the inclusion proof of a licence's issuance. Proofs show only hashes (leaves are
salted), so none of this needs a sign-in."""

from __future__ import annotations

import uuid
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from eresident.audit import merkle, publication, service
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.schemas import ConsistencyProofRead, InclusionProofRead, LicenceInclusionRead
from eresident.deps import Ctx, DbSession
from eresident.i18n import N_
from eresident.kit.errors import Message, Problem, invalid, not_found

api = APIRouter(prefix="/api/v1/audit", tags=["audit"])
licences = APIRouter(prefix="/api/v1/licences", tags=["audit"])
TEXT = "text/plain; charset=utf-8"


def _no_checkpoint() -> Problem:
    return Problem(404, N_("No checkpoint yet"), code="no-checkpoint",
                   detail=N_("This node has not signed a checkpoint of its audit log yet."))


def _tree_size(db, tree_size: int | None, first_needed: int) -> int:
    """The size to prove against: as asked, or else the latest checkpoint's, if it is big enough."""
    if tree_size is not None:
        return tree_size
    latest = service.latest_checkpoint(db)
    if latest is None or latest.tree_size < first_needed:
        raise Problem(409, N_("Not in a checkpoint yet"), code="not-checkpointed",
                      detail=N_("The entry is newer than the latest signed checkpoint. Ask again after the "
                                "next checkpoint, or give tree_size."))
    return latest.tree_size


def _checkpoint_note(db, size: int) -> str | None:
    checkpoint = service.checkpoint_of_size(db, size)
    return checkpoint.note if checkpoint else None


@api.get("/checkpoint", summary="The latest signed checkpoint (C2SP tlog-checkpoint signed note), with the "
                                   "peers' cosignature lines (C2SP tlog-cosignature) when they have witnessed it",
            response_class=Response, responses={200: {"content": {TEXT: {}}}})
def latest_checkpoint(db: DbSession) -> Response:
    checkpoint = service.latest_checkpoint(db)
    if checkpoint is None:
        raise _no_checkpoint()
    from eresident.audit.witness import cosigned_note

    return Response(cosigned_note(db, checkpoint), media_type=TEXT,
                    headers={"Cache-Control": "no-cache",
                             "Last-Modified": format_datetime(checkpoint.created_at, usegmt=True)})


@api.get("/checkpoints/{tree_size}", summary="This node's checkpoint of that size, with the peers' cosignature "
                                             "lines (a stable address for the checkpoint a proof was made against)",
         response_class=Response, responses={200: {"content": {TEXT: {}}}})
def checkpoint_of_size(tree_size: Annotated[int, Path(ge=0, le=2**63 - 1)], db: DbSession) -> Response:
    checkpoint = service.checkpoint_of_size(db, tree_size)
    if checkpoint is None:
        raise Problem(404, N_("No such checkpoint"), code="no-checkpoint",
                      detail=Message(N_("This node has not signed a checkpoint of size %(size)s."), size=tree_size))
    from eresident.audit.witness import cosigned_note

    return Response(cosigned_note(db, checkpoint), media_type=TEXT,
                    headers={"Cache-Control": "no-cache",
                             "Last-Modified": format_datetime(checkpoint.created_at, usegmt=True)})


@api.get("/key", summary="The checkpoint verifier key (signed-note vkey: name+id+base64 key)",
            response_class=Response, responses={200: {"content": {TEXT: {}}}})
def checkpoint_key(ctx: Ctx) -> Response:
    return Response(load_checkpoint_key(ctx.settings).verifier.vkey() + "\n", media_type=TEXT,
                    headers={"Cache-Control": "public, max-age=300"})


@api.get("/events/{event_id}/inclusion", response_model=InclusionProofRead,
            summary="Inclusion proof of an event, by its id")
def inclusion_by_event(event_id: uuid.UUID, db: DbSession,
                       tree_size: Annotated[int | None, Query(ge=1)] = None) -> InclusionProofRead:
    seq = service.event_seq(db, event_id)
    if seq is None:
        raise not_found(N_("Audit event"))
    return _inclusion(db, seq, tree_size, event_id)


@api.get("/proofs/inclusion", response_model=InclusionProofRead,
            summary="Inclusion proof of the event at a position (seq)")
def inclusion_by_seq(db: DbSession, seq: Annotated[int, Query(ge=1)],
                     tree_size: Annotated[int | None, Query(ge=1)] = None) -> InclusionProofRead:
    return _inclusion(db, seq, tree_size, None)


def _inclusion(db, seq: int, tree_size: int | None, event_id: uuid.UUID | None) -> InclusionProofRead:
    size = _tree_size(db, tree_size, seq)
    if seq > size:
        raise invalid("seq", Message(N_("seq %(seq)s is not in a tree of %(size)s entries"), seq=seq, size=size))
    try:
        proof = service.inclusion_proof(db=db, seq=seq, tree_size=size, event_id=event_id)
    except merkle.ProofError as exc:
        raise invalid("tree_size", str(exc)) from None
    return InclusionProofRead.of(proof, _checkpoint_note(db, size))


@api.get("/proofs/consistency", response_model=ConsistencyProofRead,
            summary="Consistency proof between two tree sizes (second defaults to the latest checkpoint)")
def consistency(db: DbSession, first: Annotated[int, Query(ge=1)],
                second: Annotated[int | None, Query(ge=1)] = None) -> ConsistencyProofRead:
    size = _tree_size(db, second, first)
    if first > size:
        raise invalid("first", Message(N_("first (%(first)s) is larger than second (%(second)s)"), first=first,
                                       second=size))
    try:
        proof = service.consistency_proof(db=db, first=first, second=size)
    except merkle.ProofError as exc:
        raise invalid("second", str(exc)) from None
    return ConsistencyProofRead.of(proof, _checkpoint_note(db, size))


@licences.get("/{uscc}/inclusion", response_model=LicenceInclusionRead,
              summary="Inclusion proof of a licence's issuance in the audit log, against the newest checkpoint "
                      "a peer region cosigned (public)",
              responses={404: {"description": "No licence with this USCC here"},
                         409: {"description": "Pending: the issuance is newer than every checkpoint"}})
def licence_inclusion(uscc: str, ctx: Ctx, db: DbSession) -> LicenceInclusionRead:
    from eresident.enterprise.service import licence_by_uscc

    licence = licence_by_uscc(db, uscc)
    shown = publication.licence_issuance(ctx=ctx, db=db, licence=licence)
    if shown is None:
        raise Problem(404, N_("Issuance not in the audit log"), code="not-logged",
                      detail=N_("The audit log has no issuance event for this licence. The licence itself is "
                                "genuine; report this to the region, whose audit log may have been damaged."),
                      extra={"uscc": licence.uscc})
    if shown.pending:
        raise Problem(409, N_("Not in a checkpoint yet"), code="not-checkpointed",
                      detail=Message(N_("The issuance is entry %(seq)s of the audit log, newer than the latest "
                                        "signed checkpoint (size %(size)s). Checkpoints are signed every minute or "
                                        "so: ask again then."), seq=shown.seq, size=shown.latest_checkpoint_size),
                      extra={"state": "pending", "uscc": licence.uscc, "seq": shown.seq,
                             "latest_checkpoint_size": shown.latest_checkpoint_size})
    return LicenceInclusionRead.of(licence.uscc, shown)


# One router for create_app: the log's own routes, and the licence proof under /api/v1/licences.
router = APIRouter()
router.include_router(api)
router.include_router(licences)
