"""Appending to the log inside the recording transaction, and proofs computed from the stored
nodes, checked by the independent RFC 9162 implementation, on each database."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from eresident.audit import merkle, service
from eresident.audit.models import AuditEvent, AuditTreeNode
from eresident.audit.service import record
from eresident.kit.db import Database
from eresident.kit.models import Counter
from tests.audit import rfc9162 as ref
from tests.audit.helpers import OFFICIAL, START, raw_sql, record_events, reference_entries


@pytest.fixture
def database(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


def _record(db, n: int = 0, **values):
    return record(db=db, actor=OFFICIAL, region="LJ", action=values.pop("action", "thing.done"),
                  entity_type="thing", entity_id=values.pop("entity_id", f"t-{n}"), at=START, **values)


def _size(database) -> int:
    with database.session(write=False) as db:
        return service.log_size(db)


def _count(database, model) -> int:
    with database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


def test_an_event_joins_the_log_when_its_transaction_commits(database):
    with database.session(write=True) as db:
        db.add(Counter(name="c", value=1))
        event = _record(db, entity_id="x", after={"status": "done"})
        assert event.seq is None and service.pending_count(db) == 1
        seen = service.events_for(db=db, entity_type="thing", entity_id="x")
        assert [e.id for e in seen] == [event.id]  # visible to its own transaction before commit
    assert event.seq == 1
    with database.session(write=False) as db:
        assert service.log_size(db) == 1
        stored = db.get(AuditEvent, 1)
        assert stored.id == event.id and stored.after == {"status": "done"} and len(stored.salt) == 16
        leaf = db.scalar(select(AuditTreeNode.hash).where(AuditTreeNode.level == 0, AuditTreeNode.index == 0))
        assert service.events_for(db=db, entity_type="thing", entity_id="x")[0].id == event.id
    assert leaf == ref.HASH(b"\x00" + reference_entries(database)[0])


def test_events_of_one_transaction_take_consecutive_seqs_in_recording_order(database):
    record_events(database, 2)
    with database.session(write=True) as db:
        events = [_record(db, n) for n in range(5)]
    assert [e.seq for e in events] == [3, 4, 5, 6, 7]
    with database.session(write=False) as db:
        assert [e.entity_id for e in db.scalars(select(AuditEvent).where(AuditEvent.seq > 2)
                                                .order_by(AuditEvent.seq))] == [f"t-{n}" for n in range(5)]
        assert service.root_at(db) == ref.MTH(reference_entries(database))


def test_a_rolled_back_transaction_leaves_no_event_and_no_leaf(database):
    record_events(database, 3)
    with pytest.raises(RuntimeError):
        with database.session(write=True) as db:
            _record(db)
            raise RuntimeError("the change failed")
    with database.session(write=True) as db:
        _record(db)
        db.rollback()  # an explicit rollback forgets the events too
        db.add(Counter(name="after-rollback", value=1))
    assert _size(database) == 3
    assert _count(database, AuditEvent) == 3 and _count(database, AuditTreeNode) == 4


def test_a_rolled_back_savepoint_drops_only_its_own_events(database):
    with database.session(write=True) as db:
        _record(db, 1)
        with pytest.raises(RuntimeError):
            with db.begin_nested():
                _record(db, 2)
                with db.begin_nested():
                    _record(db, 3)
                raise RuntimeError("undo the savepoint")
        with db.begin_nested():
            _record(db, 4)  # a released savepoint's events stay
        _record(db, 5)
    with database.session(write=False) as db:
        kept = list(db.scalars(select(AuditEvent.entity_id).order_by(AuditEvent.seq)))
    assert kept == ["t-1", "t-4", "t-5"]
    assert _size(database) == 3


def test_a_failed_flush_in_a_savepoint_drops_that_savepoint_s_events(database):
    from sqlalchemy.exc import IntegrityError

    with database.session(write=True) as db:
        db.add(Counter(name="taken", value=1))
        _record(db, 1)
        with pytest.raises(IntegrityError):
            with db.begin_nested():
                _record(db, 2)
                db.add(Counter(name="taken", value=2))
                db.flush()
        _record(db, 3)
    with database.session(write=False) as db:
        assert list(db.scalars(select(AuditEvent.entity_id).order_by(AuditEvent.seq))) == ["t-1", "t-3"]


def test_no_nodes_are_asked_for_nothing(database):
    from eresident.audit import repository

    with database.session(write=False) as db:
        assert repository.nodes(db, []) == {}


def test_what_is_hashed_is_what_is_stored(database):
    with database.session(write=True) as db:
        event = _record(db, before={"tags": ("a", "b"), "n": 1.5, "none": None},
                        after={"nested": {"z": 1, "a": [True, False]}, "text": "名前 é"})
    assert event.before == {"tags": ["a", "b"], "n": 1.5, "none": None}
    with database.session(write=False) as db:
        assert db.get(AuditEvent, 1).before == {"tags": ["a", "b"], "n": 1.5, "none": None}
        assert service.root_at(db) == ref.MTH(reference_entries(database))


@pytest.mark.parametrize("after", [{"x": float("nan")}, {"x": float("inf")}, {"big": 2 ** 60},
                                   {"when": START}])
def test_values_canonical_json_cannot_represent_fail_at_the_call(database, after):
    with database.session(write=True) as db:
        with pytest.raises((ValueError, TypeError)):
            _record(db, after=after)
        assert service.pending_count(db) == 0
    assert _size(database) == 0


def test_values_are_normalised_as_the_json_column_would_store_them(database):
    with database.session(write=True) as db:
        event = _record(db, after={1: "an int key becomes a string, as JSON stores it"})
    assert event.after == {"1": "an int key becomes a string, as JSON stores it"}
    with database.session(write=False) as db:
        assert service.root_at(db) == ref.MTH(reference_entries(database))


def test_naive_times_are_refused(database):
    with database.session(write=True) as db:
        with pytest.raises(ValueError, match="timezone"):
            record(db=db, actor=OFFICIAL, region="LJ", action="x", entity_type="t", entity_id=1,
                   at=datetime(2026, 1, 1))


def test_a_failed_append_rolls_back_the_domain_change_with_it(database, database_url):
    record_events(database, 3)
    raw_sql(database_url, ("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (0, 3, :h)",
                           {"h": b"\x00" * 32}))
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):  # the driver's own error class
        with database.session(write=True) as db:
            db.add(Counter(name="domain-change", value=1))
            _record(db)
    assert _count(database, Counter) == 0 and _count(database, AuditEvent) == 3 and _size(database) == 3
    raw_sql(database_url, "DELETE FROM audit_tree_nodes WHERE level = 0 AND idx = 3")
    with database.session(write=True) as db:  # the connection and the log carry on
        db.add(Counter(name="domain-change", value=1))
        _record(db)
    assert _count(database, Counter) == 1 and _size(database) == 4


def test_the_head_row_is_created_when_missing(database, database_url):
    raw_sql(database_url, "DELETE FROM audit_log_head")
    record_events(database, 2, per_transaction=2)
    assert _size(database) == 2


# -- proofs from the stored nodes --------------------------------------------------------------

LOG_SIZE = 150


@pytest.fixture
def big_log(database):
    """150 events, committed in transactions of 1 to 6 events."""
    n, k = 0, 1
    while n < LOG_SIZE:
        take = min(k, LOG_SIZE - n)
        record_events(database, take, per_transaction=take, first=n)
        n, k = n + take, k % 6 + 1
    entries = reference_entries(database)
    assert len(entries) == LOG_SIZE
    return database, entries


def test_every_proof_in_the_first_trees_equals_the_reference(big_log):
    database, entries = big_log
    with database.session(write=False) as db:
        for size in range(1, 34):
            root = ref.MTH(entries[:size])
            assert service.root_at(db, size) == root
            for seq in range(1, size + 1):
                proof = service.inclusion_proof(db=db, seq=seq, tree_size=size)
                assert proof.root_hash == root and proof.leaf_index == seq - 1
                assert proof.leaf_hash == ref.HASH(b"\x00" + entries[seq - 1])
                assert proof.path == ref.PATH(seq - 1, entries[:size])
            for first in range(1, size + 1):
                proof = service.consistency_proof(db=db, first=first, second=size)
                assert proof.path == ref.PROOF(first, entries[:size])
                assert (proof.first_root, proof.second_root) == (ref.MTH(entries[:first]), root)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_proofs_for_any_sizes_verify_with_the_reference(big_log, data):
    database, entries = big_log
    size = data.draw(st.integers(min_value=1, max_value=LOG_SIZE), label="tree_size")
    seq = data.draw(st.integers(min_value=1, max_value=size), label="seq")
    first = data.draw(st.integers(min_value=1, max_value=size), label="first")
    root = ref.MTH(entries[:size])
    with database.session(write=False) as db:
        inclusion = service.inclusion_proof(db=db, seq=seq, tree_size=size)
        consistency = service.consistency_proof(db=db, first=first, second=size)
    assert ref.verify_inclusion(seq - 1, size, ref.HASH(b"\x00" + entries[seq - 1]), inclusion.path, root)
    assert len(inclusion.path) <= math.ceil(math.log2(size)) if size > 1 else not inclusion.path
    assert ref.verify_consistency(first, size, ref.MTH(entries[:first]), root, consistency.path)
    assert merkle.verify_consistency(first, size, consistency.first_root, consistency.second_root,
                                     consistency.path)


def test_proofs_default_to_the_whole_log_and_refuse_sizes_it_does_not_have(big_log):
    database, entries = big_log
    with database.session(write=False) as db:
        proof = service.inclusion_proof(db=db, seq=7)
        assert proof.tree_size == LOG_SIZE and proof.root_hash == ref.MTH(entries)
        assert service.consistency_proof(db=db, first=LOG_SIZE).path == []
        for bad in (lambda: service.inclusion_proof(db=db, seq=LOG_SIZE + 1),
                    lambda: service.inclusion_proof(db=db, seq=5, tree_size=4),
                    lambda: service.inclusion_proof(db=db, seq=1, tree_size=LOG_SIZE + 1),
                    lambda: service.consistency_proof(db=db, first=0),
                    lambda: service.consistency_proof(db=db, first=9, second=8),
                    lambda: service.root_at(db, LOG_SIZE + 1)):
            with pytest.raises(merkle.ProofError):
                bad()
        assert service.root_at(db, 0) == ref.HASH(b"")
