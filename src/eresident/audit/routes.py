"""Public API of the audit log: the latest signed checkpoint, its key, inclusion and consistency
proofs. Proofs show only hashes (leaves are salted), so none of this needs a sign-in."""

from __future__ import annotations

import uuid
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from eresident.audit import merkle, service
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.schemas import ConsistencyProofRead, InclusionProofRead
from eresident.deps import Ctx, DbSession
from eresident.kit.errors import Problem, invalid, not_found

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
TEXT = "text/plain; charset=utf-8"


def _no_checkpoint() -> Problem:
    return Problem(404, "No checkpoint yet", code="no-checkpoint",
                   detail="This node has not signed a checkpoint of its audit log yet.")


def _tree_size(db, tree_size: int | None, first_needed: int) -> int:
    """The size to prove against: as asked, or else the latest checkpoint's, if it is big enough."""
    if tree_size is not None:
        return tree_size
    latest = service.latest_checkpoint(db)
    if latest is None or latest.tree_size < first_needed:
        raise Problem(409, "Not in a checkpoint yet", code="not-checkpointed",
                      detail="The entry is newer than the latest signed checkpoint. Ask again after the "
                             "next checkpoint, or give tree_size.")
    return latest.tree_size


def _checkpoint_note(db, size: int) -> str | None:
    checkpoint = service.checkpoint_of_size(db, size)
    return checkpoint.note if checkpoint else None


@router.get("/checkpoint", summary="The latest signed checkpoint (C2SP tlog-checkpoint signed note), with the "
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


@router.get("/key", summary="The checkpoint verifier key (signed-note vkey: name+id+base64 key)",
            response_class=Response, responses={200: {"content": {TEXT: {}}}})
def checkpoint_key(ctx: Ctx) -> Response:
    return Response(load_checkpoint_key(ctx.settings).verifier.vkey() + "\n", media_type=TEXT,
                    headers={"Cache-Control": "public, max-age=300"})


@router.get("/events/{event_id}/inclusion", response_model=InclusionProofRead,
            summary="Inclusion proof of an event, by its id")
def inclusion_by_event(event_id: uuid.UUID, db: DbSession,
                       tree_size: Annotated[int | None, Query(ge=1)] = None) -> InclusionProofRead:
    seq = service.event_seq(db, event_id)
    if seq is None:
        raise not_found("Audit event")
    return _inclusion(db, seq, tree_size, event_id)


@router.get("/proofs/inclusion", response_model=InclusionProofRead,
            summary="Inclusion proof of the event at a position (seq)")
def inclusion_by_seq(db: DbSession, seq: Annotated[int, Query(ge=1)],
                     tree_size: Annotated[int | None, Query(ge=1)] = None) -> InclusionProofRead:
    return _inclusion(db, seq, tree_size, None)


def _inclusion(db, seq: int, tree_size: int | None, event_id: uuid.UUID | None) -> InclusionProofRead:
    size = _tree_size(db, tree_size, seq)
    if seq > size:
        raise invalid("seq", f"seq {seq} is not in a tree of {size} entries")
    try:
        proof = service.inclusion_proof(db=db, seq=seq, tree_size=size, event_id=event_id)
    except merkle.ProofError as exc:
        raise invalid("tree_size", str(exc)) from None
    return InclusionProofRead.of(proof, _checkpoint_note(db, size))


@router.get("/proofs/consistency", response_model=ConsistencyProofRead,
            summary="Consistency proof between two tree sizes (second defaults to the latest checkpoint)")
def consistency(db: DbSession, first: Annotated[int, Query(ge=1)],
                second: Annotated[int | None, Query(ge=1)] = None) -> ConsistencyProofRead:
    size = _tree_size(db, second, first)
    if first > size:
        raise invalid("first", f"first ({first}) is larger than second ({size})")
    try:
        proof = service.consistency_proof(db=db, first=first, second=size)
    except merkle.ProofError as exc:
        raise invalid("second", str(exc)) from None
    return ConsistencyProofRead.of(proof, _checkpoint_note(db, size))
