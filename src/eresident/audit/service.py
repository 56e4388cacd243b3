"""Write audit events into the tamper-evident log; serve its proofs and signed checkpoints.

Every state change calls `record` inside its own transaction. `record` computes the event's
leaf at once (so bad values fail at the call) and parks the event on the session. When that
transaction commits, the events are appended to the log as its last statements, in the same
transaction: the domain's rows are flushed first, then the log head row is locked, the events
get the next seq numbers (seq = leaf index + 1), and they are stored with the tree nodes they
complete while the head moves. The head lock is held to the end of COMMIT, so seq order is
commit order on both databases, and it is always the transaction's last lock (no deadlocks).

- SQLite: the transaction already holds the file's only write lock (BEGIN IMMEDIATE); the
  append runs in Python (`merkle.append`) in the session's `before_commit`.
- PostgreSQL: the append is one statement (the `audit_log_append` function of migration 0002
  locks the head with SELECT ... FOR UPDATE and hashes in the server), sent in one pipeline
  with the COMMIT from the engine's `commit` event: while the log is locked nothing waits on a
  Python thread of this process.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from eresident.audit import merkle, note, repository
from eresident.audit.leaf import SALT_BYTES, event_leaf_hash
from eresident.audit.models import AuditCheckpoint, AuditEvent
from eresident.kit.ids import new_id

_PENDING = "eresident.audit.pending"


@dataclass(frozen=True)
class Actor:
    """Who acts: an official, an applicant, the system itself, or a peer node."""

    type: str
    id: str
    label: str = ""
    home_region: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system", "system", "system")


@dataclass
class _Pending:
    event: AuditEvent
    values: dict[str, Any]
    leaf: bytes
    savepoint: SessionTransaction | None  # innermost savepoint open when recorded


def _plain_json(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """The values exactly as the JSON columns give them back, so what is hashed is what is stored."""
    if before is None and after is None:
        return None, None
    plain = json.loads(json.dumps([before, after], allow_nan=False))
    return plain[0], plain[1]


def record(*, db: Session, actor: Actor, region: str, action: str, entity_type: str,
           entity_id: Any, at: datetime, before: dict | None = None,
           after: dict | None = None) -> AuditEvent:
    """Record an event; it is appended to the log when `db`'s transaction commits (its `seq` is
    set then) and discarded if the transaction, or the savepoint it was recorded in, rolls back."""
    before, after = _plain_json(before, after)
    values: dict[str, Any] = {
        "id": new_id(), "occurred_at": at, "region": region, "actor_type": actor.type,
        "actor_id": str(actor.id), "actor_home_region": actor.home_region, "action": action,
        "entity_type": entity_type, "entity_id": str(entity_id), "before": before,
        "after": after, "salt": secrets.token_bytes(SALT_BYTES),
    }
    leaf = event_leaf_hash(values)  # raises here, at the call, on values JCS cannot represent
    event = AuditEvent(**values)
    if not db.in_transaction():
        db.begin()  # so that a rollback before any SQL still has a transaction to forget them with
    db.info.setdefault(_PENDING, []).append(_Pending(event, values, leaf, db.get_nested_transaction()))
    return event


def events_for(*, db: Session, entity_type: str, entity_id: Any) -> list[AuditEvent]:
    """An entity's events in log order, with those recorded in this transaction last."""
    stored = list(db.scalars(select(AuditEvent)
                             .where(AuditEvent.entity_type == entity_type,
                                    AuditEvent.entity_id == str(entity_id))
                             .order_by(AuditEvent.seq)))
    pending = [p.event for p in db.info.get(_PENDING, ())
               if p.values["entity_type"] == entity_type and p.values["entity_id"] == str(entity_id)]
    return stored + pending


def pending_count(db: Session) -> int:
    return len(db.info.get(_PENDING, ()))


# -- appending at commit ---------------------------------------------------------------------

# PostgreSQL events waiting for their connection's COMMIT (see _append_at_commit).
_at_commit: WeakKeyDictionary[Connection, list[_Pending]] = WeakKeyDictionary()


def _append(db: Session, pending: list[_Pending]) -> None:
    db.flush()  # the domain's own rows (and their locks) first; the log head is the last lock
    if repository.is_postgres(db):
        _at_commit.setdefault(db.connection(), []).extend(pending)
        return
    # SQLite: this transaction holds the database's only write lock already.
    size, frontier = repository.lock_head(db)
    first, created = size + 1, []
    for item in pending:
        created += merkle.append(frontier, size, item.leaf)
        size += 1
    for offset, item in enumerate(pending):
        item.values["seq"] = first + offset
        item.event.seq = first + offset
    repository.append_sqlite(db, [p.values for p in pending], created, size, frontier)


@sa_event.listens_for(Session, "before_commit")
def _append_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint is released: its events now belong to the enclosing transaction
    pending = session.info.pop(_PENDING, None)
    if pending:
        _append(session, pending)


@sa_event.listens_for(Engine, "commit")
def _append_at_commit(conn: Connection) -> None:
    """PostgreSQL: append right before the DBAPI commit, as the transaction's last statement, sent
    with the COMMIT itself (psycopg pipeline): the head lock is held only while the server runs
    those two, never while a Python thread of ours waits for the GIL."""
    pending = _at_commit.pop(conn, None)
    if pending:
        first = repository.append_pg_and_commit(conn, [p.values for p in pending],
                                                [p.leaf for p in pending])
        for offset, item in enumerate(pending):
            item.event.seq = first + offset


@sa_event.listens_for(Engine, "rollback")
def _drop_at_rollback(conn: Connection) -> None:
    _at_commit.pop(conn, None)


def _boundary(transaction: SessionTransaction) -> SessionTransaction:
    """The transaction a rollback really undid: the nearest savepoint or the root."""
    while transaction.parent is not None and not transaction.nested:
        transaction = transaction.parent
    return transaction


def _undone(savepoint: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    """Whether an event recorded inside `savepoint` (None: outside any) went with `rolled_back`."""
    while savepoint is not None and savepoint is not rolled_back:
        savepoint = savepoint.parent
    return savepoint is rolled_back or rolled_back.parent is None


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        rolled_back = _boundary(previous_transaction)
        session.info[_PENDING] = [p for p in pending if not _undone(p.savepoint, rolled_back)]


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_on_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the root ended without committing them (closed, rolled back)
        session.info.pop(_PENDING, None)


# -- reading the tree ----------------------------------------------------------------------

@dataclass(frozen=True)
class InclusionProof:
    seq: int
    event_id: uuid.UUID | None
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    root_hash: bytes

    @property
    def leaf_index(self) -> int:
        return self.seq - 1


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    path: list[bytes] = field(default_factory=list)


def log_size(db: Session) -> int:
    return repository.read_head(db)[0]


def _size_in_range(db: Session, tree_size: int | None) -> tuple[int, list[bytes], int]:
    size, frontier = repository.read_head(db)
    wanted = size if tree_size is None else tree_size
    if not 0 <= wanted <= size:
        raise merkle.ProofError(f"the log has {size} entries, not {wanted}")
    return size, frontier, wanted


def root_at(db: Session, tree_size: int | None = None) -> bytes:
    size, frontier, wanted = _size_in_range(db, tree_size)
    if wanted == size:
        return merkle.root_from_frontier(frontier)
    plan = merkle.root_plan(wanted)
    return plan.assemble(repository.nodes(db, plan.keys()))[0] if wanted else merkle.EMPTY_ROOT


def inclusion_proof(*, db: Session, seq: int, tree_size: int | None = None,
                    event_id: uuid.UUID | None = None) -> InclusionProof:
    """The audit path of event `seq` in the tree of `tree_size` leaves (the whole log if None),
    from O(log n) stored nodes read in one query."""
    size, frontier, wanted = _size_in_range(db, tree_size)
    index = seq - 1
    plan = merkle.inclusion_plan(index, wanted)
    root_keys = set() if wanted == size else merkle.root_plan(wanted).keys()
    stored = repository.nodes(db, plan.keys() | root_keys | {(0, index)})
    root = (merkle.root_from_frontier(frontier) if wanted == size
            else merkle.root_plan(wanted).assemble(stored)[0])
    if (0, index) not in stored:
        raise merkle.MissingNode(f"stored node {(0, index)} is missing")
    return InclusionProof(seq=seq, event_id=event_id, tree_size=wanted, leaf_hash=stored[(0, index)],
                          path=plan.assemble(stored), root_hash=root)


def event_seq(db: Session, event_id: uuid.UUID) -> int | None:
    return repository.event_seq_by_id(db, event_id)


def consistency_proof(*, db: Session, first: int, second: int | None = None) -> ConsistencyProof:
    size, frontier, wanted = _size_in_range(db, second)
    if not 0 < first <= wanted:
        raise merkle.ProofError(f"no consistency proof from size {first} to size {wanted}")
    plan = merkle.consistency_plan(first, wanted)
    first_plan = merkle.root_plan(first)
    second_plan = None if wanted == size else merkle.root_plan(wanted)
    keys = plan.keys() | first_plan.keys() | (second_plan.keys() if second_plan else set())
    stored = repository.nodes(db, keys)
    second_root = (merkle.root_from_frontier(frontier) if second_plan is None
                   else second_plan.assemble(stored)[0])
    return ConsistencyProof(first=first, second=wanted, first_root=first_plan.assemble(stored)[0],
                            second_root=second_root, path=plan.assemble(stored))


# -- checkpoints ---------------------------------------------------------------------------

class LogForked(RuntimeError):
    """The stored tree no longer matches a checkpoint this node signed: refuse to sign another."""


def latest_checkpoint(db: Session) -> AuditCheckpoint | None:
    return repository.latest_checkpoint(db)


def checkpoint_of_size(db: Session, size: int) -> AuditCheckpoint | None:
    return repository.checkpoint_of_size(db, size)


def create_checkpoint(*, db: Session, signer: note.NoteSigner, now: datetime,
                      force: bool = False) -> AuditCheckpoint:
    """Sign the current tree head. Returns the latest checkpoint instead when the log has not
    grown since (unless `force`). Never signs a tree that is not an extension of the last
    signed one: C2SP forbids it, and it would mean the stored log was rewritten."""
    size, frontier = repository.lock_head(db)
    latest = repository.latest_checkpoint(db)
    if latest is not None:
        extended = latest.tree_size <= size and (
            latest.tree_size == 0 or root_at(db, latest.tree_size) == latest.root_hash)
        if not extended:
            raise LogForked(f"the log no longer extends checkpoint {latest.id} (size {latest.tree_size}); "
                            "run `eresident audit verify`")
        if latest.tree_size == size and not force:
            return latest
    root = merkle.root_from_frontier(frontier)
    text = note.Checkpoint(signer.name, size, root).text()
    checkpoint = AuditCheckpoint(tree_size=size, root_hash=root, created_at=now,
                                 note=note.sign(text, signer))
    db.add(checkpoint)
    db.flush()
    return checkpoint
