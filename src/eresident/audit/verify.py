"""Full verification of the log: recompute the tree from the audit rows and their salts, compare
every stored node, the head and every signed checkpoint, and name the first bad entry.

One pass in seq order with O(log n) memory: events are read in pages, the stored nodes of each
level in pages of their own, and each node is compared as soon as the recomputed tree completes
it. On PostgreSQL the pass runs in one REPEATABLE READ snapshot, so appends made meanwhile are
neither seen nor mistaken for tampering (a SQLite read transaction is a snapshot already).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from eresident.audit import merkle, note, repository
from eresident.audit.leaf import event_leaf_hash
from eresident.audit.models import AuditCheckpoint


@dataclass(frozen=True)
class Finding:
    """One way the log is not what was signed. `seq` is the first bad entry when it is known."""

    where: str
    message: str
    seq: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    size: int = 0
    events: int = 0
    nodes: int = 0
    checkpoints: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The finding earliest in the log (those with a seq first, in order), or None."""
        if not self.findings:
            return None
        return min(self.findings, key=lambda f: (f.seq is None, f.seq or 0))


class _LevelReader:
    """The stored nodes of one level, read forward in pages."""

    def __init__(self, db: Session, level: int, page: int):
        self.db, self.level, self.page = db, level, page
        self.buffer: deque[tuple[int, bytes]] = deque()

    def take(self, index: int) -> bytes | None:
        if not self.buffer:
            self.buffer.extend(repository.node_page(self.db, self.level, index, self.page))
        if self.buffer and self.buffer[0][0] == index:
            return self.buffer.popleft()[1]
        return None


def _seq_range(level: int, index: int) -> str:
    first = (index << level) + 1
    return f"seq {first}" if level == 0 else f"seq {first}–{first + (1 << level) - 1}"


def verify_log(db: Session, verifier: note.NoteVerifier | None, *, page: int = 2000) -> Report:
    """Verify the whole log. Give it a fresh read session: on PostgreSQL it then reads one
    REPEATABLE READ snapshot (a session that has already read keeps its own isolation)."""
    if db.get_bind().dialect.name == "postgresql" and not db.in_transaction():
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head_size, head_frontier = repository.read_head(db)
    checkpoints = repository.all_checkpoints(db)
    wanted_roots = {c.tree_size for c in checkpoints}
    report = Report(size=head_size)
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    readers: dict[int, _LevelReader] = {}
    frontier: list[bytes] = []
    count, last_seq, broken = 0, 0, False

    def fail(finding: Finding) -> None:
        nonlocal broken
        report.findings.append(finding)
        broken = True

    while not broken:
        rows = repository.event_page(db, last_seq, page)
        if not rows:
            break
        for row in rows:
            expected = count + 1
            if row.seq != expected:
                fail(Finding(f"seq {expected}", f"the event is missing: it was deleted or renumbered "
                                                f"(the next event is seq {row.seq})", expected))
                break
            if count >= head_size:
                fail(Finding(f"seq {row.seq}", f"the event is not in the log, which has {head_size} "
                                               "entries: the row was inserted outside it", row.seq))
                break
            created = merkle.append(frontier, count, event_leaf_hash(row._mapping))
            count += 1
            for level, index, value in created:
                reader = readers.get(level) or readers.setdefault(level, _LevelReader(db, level, page))
                stored = reader.take(index)
                report.nodes += stored is not None
                if stored == value:
                    continue
                if level == 0:
                    fail(Finding(f"seq {row.seq}", "the event does not match its leaf in the log: the row "
                                 "(or the stored leaf) was changed, or rows were inserted, deleted or "
                                 "reordered here" if stored is not None else
                                 "the event has no stored leaf: the tree was cut", row.seq))
                else:
                    fail(Finding(f"node (level {level}, index {index})",
                                 f"the stored hash over {_seq_range(level, index)} does not match the "
                                 "events: the node was changed" if stored is not None else
                                 f"the stored node over {_seq_range(level, index)} is missing",
                                 (index << level) + 1))
                break
            if broken:
                break
            if count in wanted_roots:
                roots[count] = merkle.root_from_frontier(frontier)
        report.events = count
        last_seq = rows[-1].seq

    if not broken:
        report.root_hash = merkle.root_from_frontier(frontier)
        if count < head_size:
            fail(Finding(f"seq {count + 1}", f"the log has {head_size} entries but the events end at seq "
                                             f"{count}: events were deleted", count + 1))
        elif frontier != head_frontier:
            fail(Finding("log head", "the stored frontier does not match the events"))
        else:
            expected_nodes = sum(head_size >> level for level in range(64))
            if repository.count_nodes(db) != expected_nodes:
                extra = repository.nodes_beyond(db, head_size)
                where = ", ".join(f"(level {lv}, index {ix})" for lv, ix in extra) or "unknown"
                fail(Finding("tree nodes",
                             f"nodes beyond the log's {head_size} entries were inserted: {where}"))
    _check_checkpoints(report, checkpoints, verifier, roots)
    return report


def _check_checkpoints(report: Report, checkpoints: list[AuditCheckpoint],
                       verifier: note.NoteVerifier | None, roots: dict[int, bytes]) -> None:
    matched_sizes = [0]
    for checkpoint in sorted(checkpoints, key=lambda c: (c.tree_size, c.id)):
        report.checkpoints += 1
        where = f"checkpoint {checkpoint.id} (size {checkpoint.tree_size}, {_when(checkpoint.created_at)})"
        if verifier is None:
            report.findings.append(Finding(where, "no checkpoint key to check its signature with"))
            continue
        try:
            signed = note.parse_checkpoint(note.open_note(checkpoint.note, verifier))
        except note.NoteError as exc:
            report.findings.append(Finding(where, f"forged or damaged: {exc}"))
            continue
        if signed.origin != verifier.name:
            report.findings.append(Finding(where, f"its origin {signed.origin!r} is not this log's"))
            continue
        if (signed.size, signed.root_hash) != (checkpoint.tree_size, checkpoint.root_hash):
            report.findings.append(Finding(where, "its stored size or root differs from what was signed"))
            continue
        if signed.size > report.size:
            report.findings.append(Finding(where, f"it signed {signed.size} entries but the log now has "
                                                  f"{report.size}: entries after seq {report.size} were "
                                                  "deleted", report.size + 1))
            continue
        root = roots.get(signed.size)
        if root is None:
            continue  # beyond a break found above: nothing to compare it with
        if root != signed.root_hash:
            since = max(s for s in matched_sizes if s < signed.size) + 1
            report.findings.append(Finding(where, f"the log no longer matches what was signed: an entry in "
                                                  f"seq {since}–{signed.size} was changed after signing, "
                                                  "and the stored tree rewritten to match", since))
        else:
            matched_sizes.append(signed.size)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
