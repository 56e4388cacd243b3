"""Tampering with the database behind the application's back, in every way the issue lists: the
verifier catches each and names the first bad entry. On each database."""

from __future__ import annotations

import hashlib

import pytest

from eresident.audit import service
from eresident.audit.verify import verify_log
from eresident.kit.db import Database
from tests.audit import rfc9162 as ref
from tests.audit.helpers import START, new_signer, raw_sql, rebuild_tree, record_events, reference_entries

SIZE = 40
CHECKPOINTS = (10, 25, 40)


@pytest.fixture
def log(database_url):
    """40 events with checkpoints signed at sizes 10, 25 and 40."""
    database = Database(database_url)
    signer = new_signer()
    done = 0
    for size in CHECKPOINTS:
        record_events(database, size - done, per_transaction=3, first=done)
        done = size
        with database.session(write=True) as db:
            service.create_checkpoint(db=db, signer=signer, now=START)
    yield database, database_url, signer
    database.dispose()


def verify(database, signer):
    with database.session(write=False) as db:
        return verify_log(db, signer.verifier)


def first_bad(database, signer):
    report = verify(database, signer)
    assert not report.ok, "the verifier did not notice"
    return report.first


def test_an_untouched_log_verifies(log):
    database, _url, signer = log
    report = verify(database, signer)
    assert report.ok and report.first is None, report.findings
    assert (report.size, report.events, report.checkpoints) == (SIZE, SIZE, 3)
    assert report.nodes == sum(SIZE >> level for level in range(8))
    assert report.root_hash == ref.MTH(reference_entries(database))


@pytest.mark.parametrize(("column", "value"), [
    ("action", "'application.approved'"), ("actor_id", "'someone-else'"), ("entity_id", "'app-99'"),
    ("region", "'TF'"), ("after", "NULL"), ("before", "'{\"status\": \"refused\", \"n\": 16}'"),
])
def test_a_changed_field_is_named(log, column, value):
    database, url, signer = log
    raw_sql(url, f'UPDATE audit_events SET "{column}" = {value} WHERE seq = 17')
    bad = first_bad(database, signer)
    assert bad.seq == 17 and bad.where == "seq 17" and "does not match its leaf" in bad.message


def test_a_changed_time_or_salt_is_named(log):
    database, url, signer = log
    raw_sql(url, ("UPDATE audit_events SET salt = :s WHERE seq = 3", {"s": b"\x01" * 16}))
    assert first_bad(database, signer).seq == 3
    database2 = Database(url)
    try:
        with database2.session(write=True) as db:
            from eresident.audit.models import AuditEvent

            db.get(AuditEvent, 2).occurred_at = START.replace(year=2025)
        assert first_bad(database2, signer).seq == 2
    finally:
        database2.dispose()


@pytest.mark.parametrize("seq", [1, 20, SIZE])
def test_a_deleted_row_is_named(log, seq):
    database, url, signer = log
    raw_sql(url, f"DELETE FROM audit_events WHERE seq = {seq}")
    bad = first_bad(database, signer)
    assert bad.seq == seq and "deleted" in bad.message


def test_a_row_inserted_after_the_log_is_named(log):
    database, url, signer = log
    _copy_row(url, 5, SIZE + 1)
    bad = first_bad(database, signer)
    assert bad.seq == SIZE + 1 and "inserted outside" in bad.message


def test_a_row_inserted_in_the_middle_is_named(log):
    database, url, signer = log
    # Make room at seq 12 by moving every later event up by one (from the end, to keep keys unique).
    for seq in range(SIZE, 11, -1):
        raw_sql(url, f"UPDATE audit_events SET seq = {seq + 1} WHERE seq = {seq}")
    _copy_row(url, 3, 12)
    bad = first_bad(database, signer)
    assert bad.seq == 12 and "does not match its leaf" in bad.message


def test_two_reordered_rows_are_named(log):
    database, url, signer = log
    raw_sql(url, "UPDATE audit_events SET seq = -1 WHERE seq = 8",
            "UPDATE audit_events SET seq = 8 WHERE seq = 30",
            "UPDATE audit_events SET seq = 30 WHERE seq = -1")
    bad = first_bad(database, signer)
    assert bad.seq == 8 and "reordered" in bad.message


@pytest.mark.parametrize(("level", "index", "first_seq"), [(0, 6, 7), (2, 3, 13), (5, 0, 1)])
def test_a_changed_node_is_named(log, level, index, first_seq):
    database, url, signer = log
    raw_sql(url, (f"UPDATE audit_tree_nodes SET hash = :h WHERE level = {level} AND idx = {index}",
                  {"h": hashlib.sha256(b"forged").digest()}))
    bad = first_bad(database, signer)
    assert bad.seq == first_seq
    if level:
        assert bad.where == f"node (level {level}, index {index})" and "was changed" in bad.message


def test_a_deleted_node_is_named(log):
    database, url, signer = log
    raw_sql(url, "DELETE FROM audit_tree_nodes WHERE level = 1 AND idx = 4")
    bad = first_bad(database, signer)
    assert bad.seq == 9 and "missing" in bad.message


def test_an_extra_node_is_named(log):
    database, url, signer = log
    raw_sql(url, ("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (3, 5, :h)", {"h": b"\x02" * 32}))
    bad = first_bad(database, signer)
    assert bad.where == "tree nodes" and "(level 3, index 5)" in bad.message


def test_a_changed_head_is_caught(log):
    database, url, signer = log
    raw_sql(url, ("UPDATE audit_log_head SET frontier = :f", {"f": b"\x03" * 64}))
    assert first_bad(database, signer).where == "log head"


def test_a_forged_checkpoint_is_named(log):
    database, url, signer = log
    with database.session(write=False) as db:
        checkpoint = service.checkpoint_of_size(db, 25)
    body, signature = checkpoint.note.split("\n\n")
    forged = body.replace("\n25\n", "\n26\n") + "\n\n" + signature
    raw_sql(url, ("UPDATE audit_checkpoints SET note = :n WHERE id = :i", {"n": forged, "i": checkpoint.id}))
    bad = first_bad(database, signer)
    assert bad.where.startswith(f"checkpoint {checkpoint.id} (size 25") and "does not verify" in bad.message


def test_a_checkpoint_signed_by_another_key_is_named(log):
    database, url, signer = log
    impostor = new_signer(signer.name)
    from eresident.audit import note

    with database.session(write=False) as db:
        checkpoint = service.checkpoint_of_size(db, 10)
        root = service.root_at(db, 30)
    forged = note.sign(note.Checkpoint(signer.name, 30, root).text(), impostor)
    raw_sql(url, ("UPDATE audit_checkpoints SET note = :n, tree_size = 30, root_hash = :r WHERE id = :i",
                  {"n": forged, "r": root, "i": checkpoint.id}))
    bad = first_bad(database, signer)
    assert "not signed by" in bad.message


def test_a_checkpoint_of_another_log_is_named(log):
    database, url, signer = log
    from eresident.audit import note

    with database.session(write=False) as db:
        root = service.root_at(db, 10)
    other_log = note.sign(note.Checkpoint("elsewhere.example/log", 10, root).text(), signer)
    raw_sql(url, ("UPDATE audit_checkpoints SET note = :n WHERE tree_size = 10", {"n": other_log}))
    assert "is not this log's" in first_bad(database, signer).message


def test_checkpoint_columns_that_differ_from_the_signed_note_are_named(log):
    database, url, signer = log
    raw_sql(url, "UPDATE audit_checkpoints SET tree_size = 11 WHERE tree_size = 10")
    assert "differs from what was signed" in first_bad(database, signer).message


def test_history_rewritten_with_a_consistent_tree_still_fails_the_signed_checkpoints(log):
    """Whoever changes seq 17 and recomputes every node and the head leaves a self-consistent
    tree; the checkpoints signed before (size 25 and 40) no longer match it."""
    database, url, signer = log
    raw_sql(url, "UPDATE audit_events SET action = 'application.approved' WHERE seq = 17")
    rebuild_tree(database, url)
    report = verify(database, signer)
    assert [f.where.split(" (")[0] for f in report.findings] == ["checkpoint 2", "checkpoint 3"]
    bad = report.first
    assert bad.seq == 11 and "seq 11–25" in bad.message  # after the last checkpoint that still matches


def test_a_truncated_log_fails_the_checkpoint_that_covered_it(log):
    database, url, signer = log
    raw_sql(url, "DELETE FROM audit_events WHERE seq > 30")
    rebuild_tree(database, url)
    bad = first_bad(database, signer)
    assert bad.seq == 31 and "were deleted" in bad.message


def test_no_new_checkpoint_is_signed_over_a_rewritten_log(log):
    database, url, signer = log
    raw_sql(url, "UPDATE audit_events SET action = 'x' WHERE seq = 2")
    rebuild_tree(database, url)
    record_events(database, 1, first=SIZE)
    with database.session(write=True) as db:
        with pytest.raises(service.LogForked, match="no longer extends checkpoint 3"):
            service.create_checkpoint(db=db, signer=signer, now=START)


def test_without_the_key_checkpoints_cannot_be_trusted(log):
    database, _url, _signer = log
    with database.session(write=False) as db:
        report = verify_log(db, None)
    assert not report.ok and all("no checkpoint key" in f.message for f in report.findings)


# -- tampering tools ---------------------------------------------------------------------------

def _copy_row(url: str, from_seq: int, to_seq: int) -> None:
    """A forged event at `to_seq`, made like the one at `from_seq`, written straight into the table."""
    import uuid

    from eresident.audit.models import AuditEvent

    database = Database(url)
    try:
        with database.session(write=True) as db:
            model = db.get(AuditEvent, from_seq)
            db.add(AuditEvent(seq=to_seq, id=uuid.uuid4(), occurred_at=model.occurred_at, region="LJ",
                              actor_type="official", actor_id="forger", action=model.action,
                              entity_type=model.entity_type, entity_id=model.entity_id, before=None,
                              after={"status": "approved"}, salt=bytes(16)))
    finally:
        database.dispose()
