"""Dead letters in the federation outbox: a message a peer keeps refusing is given up after the
configured number of attempts or age, kept with its error, shown in `status`, no longer sent, and
sent again, once, when an operator requeues it. A peer that is down or unwell never kills a message."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor
from eresident.config import Settings
from eresident.federation import handlers, service
from eresident.federation.models import InboxMessage
from eresident.kit.db import Database
from eresident.kit.errors import Problem
from tests.conftest import Node
from tests.federation.conftest import Network, Pair, introduce
from tests.federation.test_messages import count, enqueue, outbox, pings_applied

LATER_KIND = "test.dead_letter"  # a kind TF does not know (yet): TF answers 422 unknown-kind
OPERATOR = Actor("official", "op-1", "operator")


@pytest.fixture
def make_pair(database_url, peer_database_url, tmp_path):
    """Like the `pair` fixture, with settings of our own (the dead-letter limits)."""
    databases: list[Database] = []

    def build(**overrides) -> Pair:
        def node(region: str, url: str) -> Node:
            settings = Settings(region=region, database_url=url, data_dir=tmp_path / f"data-{region}",
                                base_url=f"http://{region.lower()}.test", **overrides)
            databases.append(Database(url))
            return Node(settings, databases[-1])

        lj, tf = node("LJ", database_url), node("TF", peer_database_url)
        introduce(lj, tf)
        introduce(tf, lj)
        return Pair(lj, tf)

    yield build
    for database in databases:
        database.dispose()


@pytest.fixture
def later_kind():
    """Registers a handler for LATER_KIND when called (the receiver is upgraded); counts its calls."""
    calls: list[dict] = []

    def upgrade() -> list[dict]:
        @handlers.register(LATER_KIND)
        def later(*, ctx, db, message):
            calls.append(message.payload)
            return {"n": message.payload["n"]}
        return calls

    yield upgrade
    handlers._HANDLERS.pop(LATER_KIND, None)


def deliver(pair: Pair, network: Network) -> service.DeliveryReport:
    return service.deliver_due(pair.lj.ctx, client=network.client(), rng=random.Random(7))


def retry_later(pair: Pair) -> None:
    pair.advance(timedelta(seconds=pair.lj.settings.federation_retry_max_seconds + 1))


def peer_status(node) -> dict:
    with node.ctx.database.session(write=False) as db:
        [peer] = service.status(ctx=node.ctx, db=db)["peers"]
    return peer


def events(node, action: str) -> list[AuditEvent]:
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def requeue(node, **what) -> list[uuid.UUID]:
    with node.ctx.database.session(write=True) as db:
        return [row.id for row in service.requeue(ctx=node.ctx, db=db, actor=OPERATOR, **what)]


def test_a_refused_message_dies_at_the_limit_is_shown_not_retried_and_requeue_delivers_it_once(
        make_pair, later_kind):
    pair = make_pair(federation_dead_after_attempts=3)
    network = Network(pair.tf)
    [message_id] = enqueue(pair.lj, kind=LATER_KIND, payload={"n": 1})
    [ping_id] = enqueue(pair.lj)  # a healthy message beside it is not held up

    for attempt in (1, 2):
        report = deliver(pair, network)
        assert (report.failed, report.dead) == (1, 0)
        row = outbox(pair.lj, message_id)
        assert row.attempts == attempt and row.dead_at is None and row.next_attempt_at is not None
        assert "unknown-kind" in row.last_error
        retry_later(pair)
    assert outbox(pair.lj, ping_id).delivered_at is not None
    assert (peer_status(pair.lj)["pending"], peer_status(pair.lj)["dead"]) == (1, 0)

    report = deliver(pair, network)  # the third refusal: given up
    assert (report.delivered, report.failed, report.dead) == (0, 1, 1)
    row = outbox(pair.lj, message_id)
    assert row.dead_at == pair.lj.clock.now() and row.next_attempt_at is None and row.delivered_at is None
    assert row.attempts == 3 and "HTTP 422 unknown-kind" in row.last_error and row.payload == {"n": 1}
    [dead_event] = events(pair.lj, "federation.message_dead")
    assert dead_event.entity_id == str(message_id) and dead_event.after["attempts"] == 3
    assert dead_event.actor_type == "system"

    peer = peer_status(pair.lj)
    assert (peer["pending"], peer["failing"], peer["dead"], peer["delivered"]) == (0, 0, 1, 1)
    assert peer["oldest_dead"]["id"] == str(message_id) and peer["oldest_dead"]["kind"] == LATER_KIND
    assert peer["oldest_dead"]["attempts"] == 3 and "unknown-kind" in peer["oldest_dead"]["last_error"]
    with pair.lj.ctx.database.session(write=False) as db:
        assert [d["id"] for d in service.dead_letters(db=db, peer="TF")] == [str(message_id)]
        assert service.dead_letters(db=db, peer="XA") == []

    sent = len(network.sent)
    pair.advance(timedelta(days=30))
    assert deliver(pair, network).failed == 0 and len(network.sent) == sent  # not tried again, ever
    assert count(pair.tf, InboxMessage) == 1  # only the ping

    calls = later_kind()  # TF is upgraded; the operator sends the message again
    assert requeue(pair.lj, message_ids=[message_id]) == [message_id]
    row = outbox(pair.lj, message_id)
    assert row.dead_at is None and row.next_attempt_at == pair.lj.clock.now() and row.attempts == 3
    [requeued] = events(pair.lj, "federation.message_requeued")
    assert (requeued.actor_type, requeued.actor_id, requeued.entity_id) == ("official", "op-1", str(message_id))
    assert requeued.before["attempts"] == 3 and "unknown-kind" in requeued.before["last_error"]

    assert deliver(pair, network).delivered == 1
    assert calls == [{"n": 1}] and count(pair.tf, InboxMessage, InboxMessage.id == message_id) == 1
    pair.advance(timedelta(days=1))
    assert deliver(pair, network).delivered == 0 and calls == [{"n": 1}]  # exactly once
    row = outbox(pair.lj, message_id)
    assert row.delivered_at is not None and row.last_error is None and row.attempts == 4
    peer = peer_status(pair.lj)
    assert (peer["pending"], peer["dead"], peer["oldest_dead"], peer["delivered"]) == (0, 0, None, 2)


def _problem(status: int, code: str):
    return lambda request: httpx.Response(status, json={"type": f"https://eresident.example/problems/{code}",
                                                        "title": "Refused", "detail": code},
                                          headers={"content-type": "application/problem+json"})


def test_a_refused_message_dies_of_age(make_pair):
    pair = make_pair(federation_dead_after_seconds=3600, federation_dead_after_attempts=0)
    network = Network(pair.tf)
    network.answer = _problem(401, "key-unknown")  # TF does not trust LJ's key (yet)
    [message_id] = enqueue(pair.lj)
    for _ in range(5):  # refused, but within the hour: retried
        assert deliver(pair, network).dead == 0
        retry_later(pair)
    assert outbox(pair.lj, message_id).dead_at is None
    pair.advance(timedelta(minutes=15))  # now more than an hour old
    assert deliver(pair, network).dead == 1
    row = outbox(pair.lj, message_id)
    assert row.dead_at is not None and row.attempts == 6 and "HTTP 401 key-unknown" in row.last_error


@pytest.mark.parametrize("trouble", ["down", "503", "500", "429", "408", "html"])
def test_a_peer_that_is_down_or_unwell_never_kills_a_message(make_pair, trouble):
    pair = make_pair(federation_dead_after_seconds=60, federation_dead_after_attempts=2)
    network = Network(pair.tf)
    if trouble == "down":
        network.down.add("tf.test")
    elif trouble == "html":
        network.answer = lambda request: httpx.Response(200, text="<html>proxy</html>")
    else:
        network.answer = _problem(int(trouble), f"http-{trouble}")
    [message_id] = enqueue(pair.lj)
    for _ in range(6):
        retry_later(pair)
        assert deliver(pair, network).failed == 1
    row = outbox(pair.lj, message_id)
    assert row.dead_at is None and row.attempts == 6 and row.next_attempt_at is not None
    network.down.clear()
    network.answer = None
    retry_later(pair)
    assert deliver(pair, network).delivered == 1 and pings_applied(pair.tf) == 1  # recovered by itself


def test_requeue_gives_a_fresh_allowance_and_refuses_what_is_not_dead(make_pair):
    pair = make_pair(federation_dead_after_attempts=2)
    network = Network(pair.tf)
    network.answer = _problem(422, "invalid-field")
    dead_ids = enqueue(pair.lj, count=2)
    for _ in range(2):
        deliver(pair, network)
        retry_later(pair)
    assert all(outbox(pair.lj, m).dead_at is not None for m in dead_ids)
    [pending_id] = enqueue(pair.lj)
    assert deliver(pair, network).dead == 0  # its first refusal

    for what, status, code in (({"message_ids": [pending_id]}, 409, "message-not-dead"),
                               ({"message_ids": [dead_ids[0], uuid.uuid4()]}, 404, "not-found"),
                               ({}, 422, "invalid-field"),
                               ({"message_ids": dead_ids, "peer": "TF"}, 422, "invalid-field")):
        with pytest.raises(Problem) as refused:
            requeue(pair.lj, **what)
        assert (refused.value.status, refused.value.code) == (status, code)
    assert all(outbox(pair.lj, m).dead_at is not None for m in dead_ids)  # nothing half-done
    assert events(pair.lj, "federation.message_requeued") == []

    assert sorted(requeue(pair.lj, peer="TF")) == sorted(dead_ids)  # every dead one of the peer
    assert requeue(pair.lj, peer="TF") == []
    assert deliver(pair, network).dead == 0  # one more refusal each: within the fresh allowance
    retry_later(pair)
    report = deliver(pair, network)
    assert report.dead == 3  # the requeued two after two more, the pending one after its second
    assert [outbox(pair.lj, m).attempts for m in dead_ids] == [4, 4]
    with pair.lj.ctx.database.session(write=False) as db:
        assert len(service.dead_letters(db=db)) == 3


def cli(node, *args: str):
    env = {"ERESIDENT_REGION": node.settings.region, "ERESIDENT_DATA_DIR": str(Path(node.settings.data_dir)),
           "ERESIDENT_DATABASE_URL": node.settings.database_url, "ERESIDENT_BASE_URL": node.settings.base_url}
    from eresident.cli import app

    return CliRunner().invoke(app, ["federation", *args], env=env)


def test_status_dead_and_requeue_on_the_command_line(make_pair):
    pair = make_pair(federation_dead_after_attempts=1)
    network = Network(pair.tf)
    network.answer = _problem(409, "message-id-reused")
    first, second = enqueue(pair.lj, count=2)
    assert deliver(pair, network).dead == 2

    shown = cli(pair.lj, "status")
    assert shown.exit_code == 0, shown.output
    assert "TF: pending 0 (failing 0), delivered 0, received 0, dead 2" in shown.output
    assert f"oldest dead: {first} ping" in shown.output and "message-id-reused" in shown.output
    report = json.loads(cli(pair.lj, "status", "--json").output)
    assert report["peers"][0]["dead"] == 2 and report["peers"][0]["oldest_dead"]["id"] == str(first)
    listed = json.loads(cli(pair.lj, "dead", "--json").output)
    assert [d["id"] for d in listed] == [str(first), str(second)]
    assert str(second) in cli(pair.lj, "dead", "--peer", "TF").output

    assert cli(pair.lj, "requeue").exit_code == 2
    assert cli(pair.lj, "requeue", "not-a-uuid").exit_code == 2
    missing = cli(pair.lj, "requeue", str(uuid.uuid4()))
    assert missing.exit_code == 1 and "not found" in missing.output
    done = cli(pair.lj, "requeue", str(first))
    assert done.exit_code == 0 and f"{first} ping -> TF" in done.output, done.output
    again = cli(pair.lj, "requeue", str(first))
    assert again.exit_code == 1 and "is not dead" in again.output
    assert outbox(pair.lj, first).dead_at is None and outbox(pair.lj, second).dead_at is not None
    [event] = events(pair.lj, "federation.message_requeued")
    assert (event.actor_type, event.actor_id, event.entity_id) == ("system", "cli", str(first))
    assert "requeued 1 message(s)" in cli(pair.lj, "requeue", "--peer", "TF").output
    assert "no dead messages to TF" in cli(pair.lj, "requeue", "--peer", "TF").output


def test_the_status_api_shows_dead_letters(make_pair):
    from eresident.seed import seed_demo
    from tests.factories import Api, bearer

    pair = make_pair(federation_dead_after_attempts=1)
    seed_demo(pair.lj.ctx)
    network = Network(pair.tf)
    network.answer = _problem(422, "invalid-field")
    [message_id] = enqueue(pair.lj)
    assert deliver(pair, network).dead == 1
    api = Api(pair.lj)
    r = api.client.get("/api/v1/federation/status", headers=bearer(api.official("lj-admin")))
    assert r.status_code == 200
    [peer] = r.json()["peers"]
    assert (peer["region"], peer["pending"], peer["dead"]) == ("TF", 0, 1)
    assert peer["oldest_dead"]["id"] == str(message_id)
