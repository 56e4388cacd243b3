"""Migration 0002 on a node that already has audit events: they are salted, numbered 1..n in
their old order and appended to the log, which then verifies. On each database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from eresident.audit.verify import verify_log
from eresident.kit.db import Database
from eresident.kit.migrate import upgrade
from tests.audit import rfc9162 as ref
from tests.audit.helpers import stored_events, reference_entries
from tests.conftest import PG_URL, new_pg_database

OLD_SEQS = (3, 7, 8, 20, 21)  # gaps, as rolled-back transactions leave in PostgreSQL sequences


@pytest.fixture(params=["sqlite"] + (["postgres"] if PG_URL else []))
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with new_pg_database("eresident_mig") as url:
        yield url


def test_existing_events_join_the_log_in_their_order(empty_url):
    upgrade(empty_url, "0001")
    engine = create_engine(empty_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for n, seq in enumerate(OLD_SEQS):
            event_id = uuid.uuid4()
            conn.execute(text(
                "INSERT INTO audit_events (seq, id, occurred_at, region, actor_type, actor_id, action, "
                "entity_type, entity_id, \"before\", \"after\") VALUES (:seq, :id, :at, 'LJ', 'system', "
                "'system', :action, 'application', :entity, NULL, " + ("CAST(:after AS json)" if postgres
                                                                       else ":after") + ")"),
                {"seq": seq, "id": event_id if postgres else event_id.hex,
                 "at": f"2026-11-2{n} 09:00:00.00000{n}" + ("+00" if postgres else ""),
                 "action": f"old.action{n}", "entity": f"app-{n}", "after": '{"status": "old"}'})
    engine.dispose()

    upgrade(empty_url)
    database = Database(empty_url)
    try:
        events = stored_events(database)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert [e.action for e in events] == [f"old.action{n}" for n in range(5)]
        assert all(len(e.salt) == 16 for e in events) and len({bytes(e.salt) for e in events}) == 5
        with database.session(write=False) as db:
            report = verify_log(db, None)
        assert report.ok, report.findings
        assert report.size == 5 and report.root_hash == ref.MTH(reference_entries(database))
        from tests.audit.helpers import record_events

        record_events(database, 2)  # and the log goes on from there
        assert [e.seq for e in stored_events(database)][-2:] == [6, 7]
    finally:
        database.dispose()


def test_the_migration_goes_down_and_up_again(empty_url):
    from alembic import command

    from eresident.kit.migrate import alembic_config

    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "0001")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        tables = set(engine.dialect.get_table_names(conn))
    engine.dispose()
    assert "audit_tree_nodes" not in tables and "audit_events" in tables
    upgrade(empty_url)
    database = Database(empty_url)
    try:
        from tests.audit.helpers import record_events

        record_events(database, 3)
        with database.session(write=False) as db:
            assert verify_log(db, None).ok
    finally:
        database.dispose()
