"""Shapes of the audit log's public API. Hashes are standard base64, as in checkpoints."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, Field

from eresident.audit.publication import PublishedInclusion, public_event
from eresident.audit.service import ConsistencyProof, InclusionProof
from eresident.config import REGIONS


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class InclusionProofRead(BaseModel):
    """RFC 9162 inclusion proof of one event's leaf in the tree of `tree_size` leaves."""

    event_id: str | None = Field(description="The event's UUID, when it was asked for by id")
    seq: int = Field(description="The event's position in the log, from 1")
    leaf_index: int = Field(description="seq - 1: the leaf's index in the tree")
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || SHA-256(salt || JCS(event)))")
    inclusion_path: list[str] = Field(description="Sibling hashes, leaf to root (RFC 9162 §2.1.3)")
    root_hash: str = Field(description="The tree's root at tree_size; compare it with a signed checkpoint")
    checkpoint: str | None = Field(description="This node's signed checkpoint of tree_size, if it made one")

    @classmethod
    def of(cls, proof: InclusionProof, checkpoint: str | None) -> InclusionProofRead:
        return cls(event_id=str(proof.event_id) if proof.event_id else None, seq=proof.seq,
                   leaf_index=proof.leaf_index, tree_size=proof.tree_size, leaf_hash=b64(proof.leaf_hash),
                   inclusion_path=[b64(h) for h in proof.path], root_hash=b64(proof.root_hash),
                   checkpoint=checkpoint)


class ConsistencyProofRead(BaseModel):
    """RFC 9162 consistency proof that the tree of `second` leaves extends the tree of `first`."""

    first: int
    second: int
    first_root: str
    second_root: str
    consistency_path: list[str] = Field(description="RFC 9162 §2.1.4 SUBPROOF hashes")
    checkpoint: str | None = Field(description="This node's signed checkpoint of `second`, if it made one")

    @classmethod
    def of(cls, proof: ConsistencyProof, checkpoint: str | None) -> ConsistencyProofRead:
        return cls(first=proof.first, second=proof.second, first_root=b64(proof.first_root),
                   second_root=b64(proof.second_root), consistency_path=[b64(h) for h in proof.path],
                   checkpoint=checkpoint)


class LoggedEventRead(BaseModel):
    """The public fields of a logged event. Not enough to recompute its leaf: that needs the whole
    event (who acted, the documents' hashes) and its salt, which are not public."""

    id: str
    action: str
    entity_type: str
    region: str
    occurred_at: datetime


class CosignatureRead(BaseModel):
    region: str = Field(description="The witness region (a peer node)")
    region_name: str
    key_name: str = Field(description="The witness's cosigner key name: its own log's origin")
    time: datetime = Field(description="When the witness cosigned, as it signed it (UTC)")
    line: str = Field(description="The C2SP tlog-cosignature/v1 line, as appended to the note")
    verified: bool | None = Field(description="Checked again by this node with the witness's key from its trust "
                                              "list (null: that key is not in the trust list)")


class CheckpointRead(BaseModel):
    tree_size: int
    root_hash: str
    origin: str = Field(description="The log's name, which is also its checkpoint key's name")
    signed_at: datetime
    cosigned: bool = Field(description="Whether a peer region has cosigned this checkpoint")
    cosignatures: list[CosignatureRead]
    note: str = Field(description="The C2SP signed note: the checkpoint, this node's signature, then the "
                                  "peers' cosignature lines")
    url: str = Field(description="Where the same note is served as text/plain")


class ServerChecksRead(BaseModel):
    """What this node checked before answering. Check the proof yourself: see docs/audit.md."""

    leaf: bool = Field(description="The leaf is SHA-256(0x00 || SHA-256(salt || JCS(event))) of the stored event")
    path: bool = Field(description="The inclusion path leads from the leaf to the checkpoint's root")
    signature: bool = Field(description="The checkpoint is signed by this node's checkpoint key")


class LicenceInclusionRead(BaseModel):
    """RFC 9162 inclusion proof of a licence's issuance (its `licence.issued` audit event) against
    the newest checkpoint a peer region cosigned, or the newest this node signed if none covers it."""

    uscc: str
    state: str = Field(description="`included`. An issuance newer than every checkpoint is a 409 problem with "
                                   "`state: pending` instead")
    against: str = Field(description="`cosigned`: a checkpoint a peer region cosigned; `signed`: only this "
                                     "region's signature so far (no cosigned checkpoint covers the entry yet)")
    event: LoggedEventRead
    leaf_recomputable: bool = Field(description="Always false: the event names who acted, so neither it nor its "
                                                "salt is public")
    seq: int = Field(description="The event's position in the log, from 1")
    leaf_index: int = Field(description="seq - 1: the leaf's index in the tree")
    tree_size: int
    leaf_hash: str
    inclusion_path: list[str] = Field(description="Sibling hashes, leaf to root (RFC 9162 §2.1.3)")
    root_hash: str
    checkpoint: CheckpointRead
    checked_by_server: ServerChecksRead
    key_url: str = Field(description="This node's checkpoint verifier key; prefer the copy in your trust list")

    @classmethod
    def of(cls, uscc: str, shown: PublishedInclusion) -> LicenceInclusionRead:
        proof, checkpoint, checks = shown.proof, shown.checkpoint, shown.checks
        assert proof is not None and checkpoint is not None and checks is not None, "pending: no proof yet"
        return cls(
            uscc=uscc, state="included", against="cosigned" if shown.cosigned else "signed",
            event=LoggedEventRead(**public_event(shown.event)), leaf_recomputable=False, seq=proof.seq,
            leaf_index=proof.leaf_index, tree_size=proof.tree_size, leaf_hash=b64(proof.leaf_hash),
            inclusion_path=[b64(h) for h in proof.path], root_hash=b64(proof.root_hash),
            checkpoint=CheckpointRead(
                tree_size=checkpoint.tree_size, root_hash=b64(checkpoint.root_hash), origin=shown.origin,
                signed_at=checkpoint.created_at, cosigned=shown.cosigned,
                cosignatures=[CosignatureRead(region=c.region, region_name=REGIONS.get(c.region, (c.region,))[0],
                                              key_name=c.key_name, time=c.time, line=c.line, verified=c.verified)
                              for c in shown.cosignatures],
                note=shown.note or checkpoint.note, url=checkpoint_url(checkpoint.tree_size)),
            checked_by_server=ServerChecksRead(leaf=checks.leaf, path=checks.path, signature=checks.signature),
            key_url=KEY_URL)


KEY_URL = "/api/v1/audit/key"


def checkpoint_url(tree_size: int) -> str:
    return f"/api/v1/audit/checkpoints/{tree_size}"


def licence_inclusion_url(uscc: str) -> str:
    return f"/api/v1/licences/{uscc}/inclusion"
