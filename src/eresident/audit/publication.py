"""What the node shows the public about one logged event, such as a licence's issuance: its
inclusion proof against the newest checkpoint a peer region has cosigned (before a cosigned one
covers the event, the newest this node signed, and it says so), checked again by the node before
it is shown. Used by `GET /api/v1/licences/{uscc}/inclusion`, the licence verification page and
`eresident audit prove --licence`.

The event itself is not published: its leaf is SHA-256(salt || JCS(event)), and the event names
who acted (an official's or a founder's account id) and the hash of the foreign-investment report.
Without all of it and the salt nobody can recompute the leaf; with them anyone could. So the
public gets the leaf hash, the proof and the node's statement that the leaf is this event's;
the event and its salt go only to those entitled to them (`eresident audit prove --with-event`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from eresident.audit import merkle, note, repository, service
from eresident.audit.keys import load_checkpoint_verifier
from eresident.audit.leaf import event_leaf_hash
from eresident.audit.models import AuditCheckpoint
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem

LICENCE_ISSUED = "licence.issued"


@dataclass(frozen=True)
class ShownCosignature:
    region: str  # the witness region
    key_name: str  # its cosigner key's name (its own log's origin)
    time: datetime  # the witness's own timestamp, as signed
    line: str
    verified: bool | None  # checked again with the region's key from our trust list; None: no key there


@dataclass(frozen=True)
class Checks:
    """What the node checked before showing a proof."""

    leaf: bool  # the stored leaf is the hash of the event row and its salt
    path: bool  # the proof leads from that leaf to the checkpoint's root (RFC 9162 §2.1.3.2)
    signature: bool  # the checkpoint note is signed by this node's key and states that size and root

    @property
    def ok(self) -> bool:
        return self.leaf and self.path and self.signature


@dataclass(frozen=True)
class PublishedInclusion:
    event: Any  # the event row, salt included: publish only `public_event(event)`
    latest_checkpoint_size: int  # 0 before the first checkpoint
    proof: service.InclusionProof | None = None  # None: no checkpoint covers the event yet
    checkpoint: AuditCheckpoint | None = None
    note: str | None = None  # the checkpoint's signed note with the peers' cosignature lines
    origin: str = ""  # the log's name, the checkpoint signer's key name
    cosignatures: list[ShownCosignature] = field(default_factory=list)
    checks: Checks | None = None

    @property
    def pending(self) -> bool:
        return self.proof is None

    @property
    def cosigned(self) -> bool:
        return bool(self.cosignatures)

    @property
    def seq(self) -> int:
        return self.event.seq


def public_event(event: Any) -> dict[str, Any]:
    """The fields of an event anyone may see. Not enough to recompute its leaf (see the module)."""
    return {"id": str(event.id), "action": event.action, "entity_type": event.entity_type,
            "region": event.region, "occurred_at": event.occurred_at}


def _cosigner(ctx: NodeContext, region: str) -> note.NoteVerifier | None:
    from eresident.federation import service as federation

    try:
        peer = federation.trust_list(ctx).peer(region)
    except Problem:  # an unreadable trust list: show the cosignature as not checked again
        return None
    if peer is None or not peer.audit_log:
        return None
    try:
        return note.parse_vkey(peer.audit_log["key"])
    except note.NoteError:
        return None


def _cosignatures(ctx: NodeContext, db: Session, checkpoint: AuditCheckpoint, text: str) -> list[ShownCosignature]:
    shown = []
    for row in repository.cosignatures_for(db, checkpoint.tree_size, checkpoint.root_hash):
        key_name = row.line.split(" ")[1] if row.line.count(" ") >= 2 else ""
        cosigner = _cosigner(ctx, row.witness_region)
        verified = None
        if cosigner is not None:
            try:
                note.verify_cosignature(row.line, text, cosigner)
                verified = True
            except ValueError:
                verified = False
        shown.append(ShownCosignature(region=row.witness_region, key_name=key_name,
                                      time=datetime.fromtimestamp(row.timestamp, UTC), line=row.line,
                                      verified=verified))
    return shown


def _signature_checks(ctx: NodeContext, checkpoint: AuditCheckpoint) -> tuple[bool, str, str]:
    """(signed by our key and stating the row's size and root, the key name, the note's text)."""
    verifier = load_checkpoint_verifier(ctx.settings)
    try:
        text, _ = note.parse(checkpoint.note)
        if verifier is None:
            return False, "", text
        head = note.parse_checkpoint(note.open_note(checkpoint.note, verifier))
    except note.NoteError:
        return False, verifier.name if verifier else "", checkpoint.note
    ok = (head.origin == verifier.name and head.size == checkpoint.tree_size
          and head.root_hash == checkpoint.root_hash)
    return ok, verifier.name, text


def checkpoint_for(db: Session, seq: int) -> AuditCheckpoint | None:
    """The checkpoint to prove entry `seq` against: the newest a peer cosigned if it covers the
    entry, else the newest signed one if that does, else None (the entry is not checkpointed yet).
    Sizes only grow, so the newest of each kind is the one most likely to cover it."""
    cosigned = repository.latest_cosigned_checkpoint(db)
    if cosigned is not None and cosigned.tree_size >= seq:
        return cosigned
    latest = repository.latest_checkpoint(db)
    return latest if latest is not None and latest.tree_size >= seq else None


def event_inclusion(*, ctx: NodeContext, db: Session, event: Any) -> PublishedInclusion:
    """`event` (a stored event row) with its proof against the checkpoint shown to the public."""
    from eresident.audit.witness import cosigned_note

    latest = repository.latest_checkpoint(db)
    latest_size = latest.tree_size if latest is not None else 0
    checkpoint = checkpoint_for(db, event.seq)
    if checkpoint is None:
        return PublishedInclusion(event=event, latest_checkpoint_size=latest_size)
    proof = service.inclusion_proof(db=db, seq=event.seq, tree_size=checkpoint.tree_size, event_id=event.id)
    signature_ok, origin, text = _signature_checks(ctx, checkpoint)
    checks = Checks(
        leaf=event_leaf_hash(event._mapping) == proof.leaf_hash,
        path=(proof.root_hash == checkpoint.root_hash
              and merkle.verify_inclusion(proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.path,
                                          checkpoint.root_hash)),
        signature=signature_ok)
    return PublishedInclusion(event=event, latest_checkpoint_size=latest_size, proof=proof, checkpoint=checkpoint,
                              note=cosigned_note(db, checkpoint), origin=origin,
                              cosignatures=_cosignatures(ctx, db, checkpoint, text), checks=checks)


def licence_issuance(*, ctx: NodeContext, db: Session, licence: Any) -> PublishedInclusion | None:
    """The issuance of `licence` (an enterprise Licence) in the log; None if the log has no
    `licence.issued` event for it (which, for a licence issued by this node, means rows are missing)."""
    event = repository.first_event_of(db, "licence", str(licence.id), LICENCE_ISSUED)
    return None if event is None else event_inclusion(ctx=ctx, db=db, event=event)
