"""The demo secondment `eresident up` seeds: LJ's demo reviewer proposed by LJ and accepted by TF
through the real federation messages, idempotently, after which the reviewer signs in at TF with a
credential from LJ; and what `up` prints about it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eresident import cli
from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor
from eresident.federation import secondment
from eresident.federation.models import OutboxMessage
from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment
from eresident.seed import DEMO_SECONDMENT, seed_demo, seed_demo_secondment
from tests.factories import Api, bearer
from tests.federation.conftest import Network


@pytest.fixture
def demo(pair):
    for node in (pair.lj, pair.tf):
        seed_demo(node.ctx)
    return pair


def rows(node, model, *where) -> list:
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(model).where(*where)))


def secondment_events(node) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("secondment.%")))


def test_the_demo_secondment_travels_as_messages_and_is_seeded_once(demo):
    network = Network(demo.lj, demo.tf)
    seeded = seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=network.client())
    assert seeded["status"] == "accepted" and seeded["username"] == "lj-reviewer"
    assert seeded["host_username"] == "lj-reviewer@LJ" and seeded["host_roles"] == ["reviewer"]

    [out] = rows(demo.lj, OutgoingSecondment)
    [came] = rows(demo.tf, IncomingSecondment)
    assert str(out.id) == str(came.id) == seeded["secondment_id"]
    assert (out.status, came.status, out.host_region, came.home_region) == ("accepted", "accepted", "TF", "LJ")
    assert out.term_end - out.term_start == timedelta(days=DEMO_SECONDMENT["days"])
    assert out.term_start <= demo.lj.clock.now() < out.term_end and came.host_roles == ["reviewer"]
    # Through the federation: a signed proposal from LJ and a signed acceptance from TF, both delivered.
    assert [(m.kind, m.delivered_at is not None) for m in rows(demo.lj, OutboxMessage)] == [
        ("secondment.proposed", True)]
    assert [(m.kind, m.delivered_at is not None) for m in rows(demo.tf, OutboxMessage)] == [
        ("secondment.accepted", True)]
    assert [str(r.url) for r in network.sent] == ["http://tf.test/api/v1/federation/messages",
                                                  "http://lj.test/api/v1/federation/messages"]

    events = (secondment_events(demo.lj), secondment_events(demo.tf))
    demo.advance(timedelta(days=1))
    again = seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=network.client())  # the next `make run`
    assert again == seeded
    assert len(rows(demo.lj, OutgoingSecondment)) == 1 and len(rows(demo.tf, IncomingSecondment)) == 1
    assert len(rows(demo.lj, OutboxMessage)) == 1 and len(rows(demo.tf, OutboxMessage)) == 1
    assert (secondment_events(demo.lj), secondment_events(demo.tf)) == events and len(network.sent) == 2


def test_the_seconded_reviewer_signs_in_at_tf_with_the_home_credential(demo):
    seeded = seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=Network(demo.lj, demo.tf).client())
    home = Api(demo.lj)
    r = home.client.post(f"/api/v1/officials/me/secondments/{seeded['secondment_id']}/credential",
                         headers=bearer(home.official("lj-reviewer")))
    assert r.status_code == 200, r.text
    host = demo.tf.client()
    r = host.post("/api/v1/officials/secondee-login", json={"credential": r.json()["credential"]})
    assert r.status_code == 200, r.text
    me = host.get("/api/v1/officials/me", headers=bearer(r.json()["token"])).json()
    assert (me["username"], me["home_region"], me["acting_region"], me["roles"]) == (
        "lj-reviewer@LJ", "LJ", "TF", ["reviewer"])


def test_an_unfinished_seeding_is_completed_by_the_next_run(demo):
    network = Network(demo.lj, demo.tf)
    network.down.add("tf.test")  # TF is not answering yet
    with pytest.raises(TimeoutError, match="TF did not get secondment"):
        seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=network.client(), timeout=0.3)
    [proposed] = rows(demo.lj, OutgoingSecondment)
    assert proposed.status == "proposed" and rows(demo.tf, IncomingSecondment) == []

    network.down.clear()
    demo.advance(timedelta(minutes=15))  # past the retry
    seeded = seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=network.client())
    assert seeded["secondment_id"] == str(proposed.id) and seeded["status"] == "accepted"
    assert len(rows(demo.lj, OutgoingSecondment)) == 1 and len(rows(demo.tf, IncomingSecondment)) == 1


def test_a_withdrawn_demo_secondment_is_seeded_afresh(demo):
    network = Network(demo.lj, demo.tf)
    first = seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=network.client())
    with demo.lj.ctx.database.session(write=True) as db:
        secondment.withdraw(ctx=demo.lj.ctx, db=db, secondment_id=uuid.UUID(first["secondment_id"]),
                            reason="Trying the withdrawal", actor=Actor.system())
    second = seed_demo_secondment(demo.lj.ctx, demo.tf.ctx, client=network.client())
    assert second["secondment_id"] != first["secondment_id"] and second["status"] == "accepted"
    assert sorted(r.status for r in rows(demo.lj, OutgoingSecondment)) == ["accepted", "withdrawn"]


def test_seeding_needs_the_demo_officials(pair):
    with pytest.raises(LookupError, match="lj-reviewer does not exist at LJ"):
        seed_demo_secondment(pair.lj.ctx, pair.tf.ctx, client=Network(pair.lj, pair.tf).client())


def test_up_prints_how_the_secondee_signs_in_at_the_host():
    lines = "\n".join(cli.secondee_lines({
        "secondment_id": "x", "username": "lj-reviewer", "host_username": "lj-reviewer@LJ", "home_region": "LJ",
        "host_region": "TF", "host_roles": ["reviewer"], "term_end": "2027-02-24T09:00:00Z", "status": "accepted"}))
    assert ("Demo secondment: lj-reviewer (Liangjiang New Area) serves in Sichuan Tianfu New Area as reviewer "
            "until 2027-02-24T09:00:00Z (accepted)") in lines
    assert "http://127.0.0.1:8001/official/login as lj-reviewer" in lines
    assert "http://127.0.0.1:8001/official/secondments" in lines
    assert "http://127.0.0.1:8002/official/secondee-login: you are lj-reviewer@LJ" in lines
    assert cli.secondee_lines(None) == []


def test_up_carries_on_with_a_warning_when_the_secondment_cannot_be_seeded(tmp_path, capsys):
    assert cli._seed_demo_secondment(tmp_path / "nothing-here") is None  # no databases there
    assert "warning: the demo secondment was not seeded" in capsys.readouterr().err
