"""Shapes of the audit log's public API. Hashes are standard base64, as in checkpoints."""

from __future__ import annotations

import base64

from pydantic import BaseModel, Field

from eresident.audit.service import ConsistencyProof, InclusionProof


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
