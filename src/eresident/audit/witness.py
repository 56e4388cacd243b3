"""Witnessing: a node sends each new checkpoint to its peers; a peer checks it against the last
one it witnessed from that node (signature, then an RFC 9162 consistency proof), cosigns it
(C2SP tlog-cosignature/v1) and sends the cosignature back. A checkpoint that is not consistent
(a fork, a rollback) is refused and kept as evidence in an alarm on both nodes.

Messages (federation outbox/inbox, docs/audit.md "Witnessing"):
  audit.checkpoint    origin -> witness  {note, proof: {first, second, path} | null}
  audit.cosignature   witness -> origin  {origin, tree_size, root_hash, cosignature}
  audit.witness_head  witness -> origin  {origin, tree_size, root_hash, note}: prove from here
  audit.alarm         witness -> origin  {origin, reason, detail, tree_size, note, witnessed_note, proof}

The cosigner key is the witness's own checkpoint-signing key (audit/keys.py), under the name of
its own log: see docs/audit.md for why that key and not the federation key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.orm import Session

from eresident.audit import merkle, note, repository, service
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.models import AuditAlarm, AuditCheckpoint, AuditCosignature, WitnessedCheckpoint
from eresident.audit.service import Actor, record
from eresident.federation import service as federation
from eresident.federation.handlers import Incoming, register
from eresident.federation.trust import Peer, TrustError
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem, invalid

log = structlog.get_logger("eresident.audit.witness")

CHECKPOINT = "audit.checkpoint"
COSIGNATURE = "audit.cosignature"
WITNESS_HEAD = "audit.witness_head"
ALARM = "audit.alarm"
MAX_NOTE_CHARS = 8192
MAX_PROOF_HASHES = 128
MAX_TREE_SIZE = 2**63 - 1  # a BIGINT column: a larger size is malformed, not a database error


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _peer_actor(region: str) -> Actor:
    return Actor("peer", region, f"node {region}", region)


# -- keys: what node-keys publishes, what the trust list keeps ------------------------------

def published(ctx: NodeContext) -> dict:
    """What witnessing adds to GET /.well-known/eresident/node-keys: the log's origin and its
    checkpoint key (signed-note vkey), which is also this node's cosigner key."""
    signer = load_checkpoint_key(ctx.settings)
    return {"audit_log": {"origin": signer.name, "key": signer.verifier.vkey()}}


def parse_audit_log(entry: object, region: str) -> dict | None:
    """A peer's `audit_log` member (optional: without it the peer's checkpoints are refused and its
    cosignatures cannot be checked, which fails closed)."""
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise TrustError(f"peer {region}: audit_log is not {{origin, key}}")
    try:
        verifier = note.parse_vkey(entry["key"])
    except note.NoteError as exc:
        raise TrustError(f"peer {region}: audit_log key: {exc}") from None
    if entry.get("origin", verifier.name) != verifier.name:
        raise TrustError(f"peer {region}: audit_log origin is not its key's name")
    return {"origin": verifier.name, "key": entry["key"]}


def _peer_log(ctx: NodeContext, region: str) -> tuple[Peer, note.NoteVerifier]:
    peer = federation.trust_list(ctx).peer(region)
    if peer is None or not peer.audit_log:
        raise Problem(409, "Audit key unknown", code="audit-key-unknown",
                      detail=f"This node's trust list has no audit log key for {region}: refresh it "
                             "(`eresident federation trust add`) and the message is accepted on retry.")
    return peer, note.parse_vkey(peer.audit_log["key"])


# -- the origin: announce checkpoints, take cosignatures and alarms -----------------------------

def _checkpoint_payload(db: Session, checkpoint: AuditCheckpoint, first: int) -> dict:
    proof = None
    if 0 < first < checkpoint.tree_size:
        made = service.consistency_proof(db=db, first=first, second=checkpoint.tree_size)
        proof = {"first": made.first, "second": made.second, "path": [_b64(h) for h in made.path]}
    return {"note": checkpoint.note, "proof": proof}


def _send_checkpoint(ctx: NodeContext, db: Session, region: str, checkpoint: AuditCheckpoint, first: int) -> None:
    # The newest checkpoint supersedes any still unsent: only it travels, so a witness never gets
    # an older one after a newer one.
    federation.discard_unsent(db=db, peer=region, kind=CHECKPOINT)
    federation.enqueue(ctx=ctx, db=db, peer=region, kind=CHECKPOINT,
                       payload=_checkpoint_payload(db, checkpoint, first))


def announce(*, ctx: NodeContext, db: Session, checkpoint: AuditCheckpoint) -> list[str]:
    """Queue `checkpoint` to every trusted peer, in the caller's transaction, with the consistency
    proof from the largest checkpoint that peer has cosigned (none for the first)."""
    try:
        regions = federation.peers(ctx)
    except Problem as exc:  # an unreadable trust list must not stop the node from checkpointing
        log.warning("audit.witness.no_trust_list", detail=exc.detail)
        return []
    for region in regions:
        cosigned = repository.last_cosigned(db, region)
        _send_checkpoint(ctx, db, region, checkpoint, cosigned.tree_size if cosigned else 0)
    return regions


def _string(payload: dict, name: str, limit: int = MAX_NOTE_CHARS) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise invalid(f"payload/{name}", f"{name} is a text of 1 to {limit} characters")
    return value


def _size(payload: dict, name: str = "tree_size", path: str | None = None) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TREE_SIZE:
        raise invalid(f"payload/{path or name}", f"{name} is a whole number")
    return value


def _hash(payload: dict, name: str) -> bytes:
    try:
        value = base64.b64decode(_string(payload, name, 64), validate=True)
    except ValueError:  # binascii.Error, or a text that is not ASCII at all
        value = b""
    if len(value) != 32:
        raise invalid(f"payload/{name}", f"{name} is a base64 SHA-256 hash")
    return value


def _note_text(signed: str) -> str:
    return note.parse(signed)[0]


@register(COSIGNATURE)
def on_cosignature(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """A witness cosigned one of our checkpoints: check the line against its key, keep it."""
    _, cosigner = _peer_log(ctx, message.sender)
    size, root = _size(message.payload), _hash(message.payload, "root_hash")
    line = _string(message.payload, "cosignature", 1000)
    own = repository.checkpoint_with_root(db, size, root)
    if own is None:
        raise Problem(422, "Cosignature refused", code="cosignature-unknown-checkpoint",
                      detail=f"This node signed no checkpoint of size {size} with that root.")
    try:
        cosigned = note.verify_cosignature(line, _note_text(own.note), cosigner)
    except ValueError as exc:  # NoteError, or base64 of a text that is not ASCII
        raise Problem(422, "Cosignature refused", code="cosignature-invalid", detail=str(exc)) from None
    if repository.cosignature(db, own.id, message.sender) is None:
        db.add(AuditCosignature(checkpoint_id=own.id, witness_region=message.sender, timestamp=cosigned.timestamp,
                                line=cosigned.line, received_at=ctx.clock.now()))
    return {"stored": True, "tree_size": size}


@register(ALARM)
def on_alarm(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """A witness found one of our checkpoints inconsistent with one it witnessed: keep its evidence."""
    payload = message.payload
    origin, reason = _string(payload, "origin", 255), _string(payload, "reason", 32)
    detail, tree_size, offending = _string(payload, "detail", 2000), _size(payload), _string(payload, "note")
    witnessed = payload.get("witnessed_note")
    if witnessed is not None:
        witnessed = _string(payload, "witnessed_note")
    proof = _proof(payload.get("proof"))
    alarm = _raise_alarm(ctx, db, role="origin", region=message.sender, origin=origin, reason=reason, detail=detail,
                         tree_size=tree_size, offending=offending, witnessed=witnessed,
                         proof=proof.to_json() if proof else None)
    return {"stored": True, "alarm": str(alarm.id)}


@register(WITNESS_HEAD)
def on_witness_head(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """The witness could not check our checkpoint from the proof we sent (its latest is another
    size): send the latest again with a proof from its size. If our log no longer contains what
    it witnessed, that is an alarm here (the log was rewritten or rolled back)."""
    size, root = _size(message.payload), _hash(message.payload, "root_hash")
    held = _string(message.payload, "note")
    try:  # only our own signature on that head is evidence: a peer cannot make up an alarm here
        own = note.parse_checkpoint(note.open_note(held, load_checkpoint_key(ctx.settings).verifier))
    except ValueError as exc:  # NoteError, or base64 of a text that is not ASCII
        raise Problem(422, "Witness head refused", code="checkpoint-signature", detail=str(exc)) from None
    if (own.size, own.root_hash) != (size, root):
        raise invalid("payload/note", "the note is not the checkpoint of tree_size and root_hash")
    logged = service.log_size(db)
    latest = service.latest_checkpoint(db)
    answer: dict[str, Any] = {"resent": False}
    if size > logged or (size and service.root_at(db, size) != root):
        reason = "rollback" if size > logged else "fork"
        detail = (f"{message.sender} witnessed a checkpoint of size {size} that this log ({logged} entries) "
                  + ("no longer reaches: entries were deleted" if size > logged
                     else "no longer has the root of: entries were changed after signing"))
        alarm = _raise_alarm(ctx, db, role="origin", region=message.sender, origin=_origin(ctx), reason=reason,
                             detail=detail, tree_size=size, offending=held,
                             witnessed=latest.note if latest else None, proof=None)
        answer["alarm"] = str(alarm.id)
        if size > logged:
            return answer
    if latest is None or latest.tree_size <= size:
        return answer
    # Sent even when this log no longer matches: the witness then checks the proof itself, fails
    # it and keeps the evidence (and tells us).
    _send_checkpoint(ctx, db, message.sender, latest, size)
    return {**answer, "resent": True, "tree_size": latest.tree_size}


def _origin(ctx: NodeContext) -> str:
    return load_checkpoint_key(ctx.settings).name


# -- the witness ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Proof:
    first: int
    second: int
    path: list[bytes]

    def to_json(self) -> dict:
        return {"first": self.first, "second": self.second, "path": [_b64(h) for h in self.path]}


def _proof(value: object) -> _Proof | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("path"), list) \
            or len(value["path"]) > MAX_PROOF_HASHES:
        raise invalid("payload/proof", "the proof is {first, second, path: [base64 hashes]}")
    path = [_hash({"h": h}, "h") if isinstance(h, str) else b"" for h in value["path"]]
    if any(len(h) != 32 for h in path):
        raise invalid("payload/proof/path", "every hash of the path is a base64 SHA-256 hash")
    return _Proof(_size(value, "first", "proof/first"), _size(value, "second", "proof/second"), path)


@register(CHECKPOINT)
def on_checkpoint(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """Witness a peer's checkpoint: its signature by the peer's audit key, then consistency with
    the largest one witnessed from that peer. Cosign it, or refuse it; an inconsistent one is an
    alarm here and at the peer."""
    region = message.sender
    _, verifier = _peer_log(ctx, region)
    signed = _string(message.payload, "note")
    try:
        text = note.open_note(signed, verifier)
        checkpoint = note.parse_checkpoint(text)
        if checkpoint.size > MAX_TREE_SIZE:
            raise note.NoteError(f"the tree size is more than {MAX_TREE_SIZE}")
    except ValueError as exc:  # NoteError, a number too long to read, or base64 of a text that is not ASCII
        raise Problem(422, "Checkpoint refused", code="checkpoint-signature",
                      detail=f"Not a checkpoint signed by {region}'s audit key: {exc}") from None
    if checkpoint.origin != verifier.name:
        raise Problem(422, "Checkpoint refused", code="checkpoint-origin",
                      detail=f"The checkpoint is of log {checkpoint.origin!r}, not {verifier.name!r}.")
    proof = _proof(message.payload.get("proof"))
    repository.lock_witnessing(db, region)
    last = repository.latest_witnessed(db, region)
    size = checkpoint.size

    def alarm(reason: str, detail: str) -> dict[str, Any]:
        raised = _raise_alarm(ctx, db, role="witness", region=region, origin=checkpoint.origin, reason=reason,
                              detail=detail, tree_size=size, offending=signed,
                              witnessed=last.note if last else None, proof=proof.to_json() if proof else None)
        federation.enqueue(ctx=ctx, db=db, peer=region, kind=ALARM, payload={
            "origin": checkpoint.origin, "reason": reason, "detail": detail, "tree_size": size, "note": signed,
            "witnessed_note": last.note if last else None, "proof": proof.to_json() if proof else None})
        return {"cosigned": False, "alarm": str(raised.id), "reason": reason}

    if last is not None:
        if size <= last.tree_size:
            same = repository.witnessed_of_size(db, region, size)
            if same is not None and same.root_hash == checkpoint.root_hash:
                return {"cosigned": False, "reason": "replayed", "witnessed_size": last.tree_size}
            if same is not None or size == last.tree_size:
                return alarm("fork", f"a checkpoint of size {size} with another root than the one "
                                     f"witnessed (the log forked)")
            return alarm("rollback", f"a checkpoint of size {size}, smaller than the {last.tree_size} "
                                     "entries witnessed (the log was rolled back)")
        if last.tree_size > 0:
            if proof is None or proof.first != last.tree_size or proof.second != size:
                federation.enqueue(ctx=ctx, db=db, peer=region, kind=WITNESS_HEAD, payload={
                    "origin": checkpoint.origin, "tree_size": last.tree_size,
                    "root_hash": _b64(last.root_hash), "note": last.note})
                return {"cosigned": False, "reason": "proof-needed", "witnessed_size": last.tree_size}
            if not merkle.verify_consistency(last.tree_size, size, last.root_hash, checkpoint.root_hash,
                                             proof.path):
                return alarm("inconsistent", f"the consistency proof from the witnessed size {last.tree_size} "
                                             f"to {size} does not verify (the log forked or was rewritten)")
    return _cosign(ctx, db, region, signed, text, checkpoint)


def _cosign(ctx: NodeContext, db: Session, region: str, signed: str, text: str,
            checkpoint: note.Checkpoint) -> dict[str, Any]:
    now = ctx.clock.now()
    line = note.cosign(text, load_checkpoint_key(ctx.settings), int(now.timestamp()))
    db.add(WitnessedCheckpoint(peer_region=region, origin=checkpoint.origin, tree_size=checkpoint.size,
                               root_hash=checkpoint.root_hash, note=signed, cosignature=line, witnessed_at=now))
    federation.enqueue(ctx=ctx, db=db, peer=region, kind=COSIGNATURE, payload={
        "origin": checkpoint.origin, "tree_size": checkpoint.size, "root_hash": _b64(checkpoint.root_hash),
        "cosignature": line})
    return {"cosigned": True, "tree_size": checkpoint.size, "cosignature": line}


def _raise_alarm(ctx: NodeContext, db: Session, *, role: str, region: str, origin: str, reason: str, detail: str,
                 tree_size: int, offending: str, witnessed: str | None, proof: dict | None) -> AuditAlarm:
    now = ctx.clock.now()
    alarm = AuditAlarm(role=role, peer_region=region, origin=origin, reason=reason, detail=detail,
                       tree_size=tree_size, note=offending, witnessed_note=witnessed, proof=proof, detected_at=now)
    db.add(alarm)
    db.flush()
    record(db=db, actor=_peer_actor(region), region=ctx.region,
           action="audit.alarm_raised" if role == "witness" else "audit.alarm_received",
           entity_type="audit_alarm", entity_id=alarm.id, at=now,
           after={"peer": region, "origin": origin, "reason": reason, "tree_size": tree_size})
    log.error("audit.witness.alarm", role=role, peer=region, origin=origin, reason=reason, tree_size=tree_size)
    return alarm


# -- what the node shows ------------------------------------------------------------------------

def cosigned_note(db: Session, checkpoint: AuditCheckpoint) -> str:
    """The checkpoint's signed note with the peers' cosignature lines appended (signed-note
    verifiers ignore lines by keys they do not know)."""
    lines = repository.cosignatures_for(db, checkpoint.tree_size, checkpoint.root_hash)
    return checkpoint.note + "".join(c.line for c in lines)


def status(db: Session) -> dict[str, Any]:
    latest = service.latest_checkpoint(db)
    checkpoint = None
    if latest is not None:
        checkpoint = {"tree_size": latest.tree_size, "root_hash": _b64(latest.root_hash),
                      "created_at": latest.created_at.isoformat(), "note": cosigned_note(db, latest),
                      "cosigned_by": [c.witness_region for c in
                                      repository.cosignatures_for(db, latest.tree_size, latest.root_hash)]}
    witnessed = [{"peer": w.peer_region, "origin": w.origin, "tree_size": w.tree_size,
                  "root_hash": _b64(w.root_hash), "witnessed_at": w.witnessed_at.isoformat()}
                 for w in repository.witnessed_heads(db)]
    alarms = [{"id": str(a.id), "role": a.role, "peer": a.peer_region, "origin": a.origin, "reason": a.reason,
               "detail": a.detail, "tree_size": a.tree_size, "detected_at": a.detected_at.isoformat(),
               "note": a.note, "witnessed_note": a.witnessed_note}
              for a in repository.alarms(db)]
    return {"checkpoint": checkpoint, "witnessed": witnessed, "alarms": alarms}
