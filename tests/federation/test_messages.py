"""Messages between two real nodes (each with its own database): the outbox delivers, the inbox
applies each message exactly once, and the receiver refuses, with a reason, what it cannot trust."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from eresident.audit.models import AuditEvent
from eresident.federation import handlers, httpsig, service, trust
from eresident.federation.keys import node_keys
from eresident.federation.models import InboxMessage, OutboxMessage
from eresident.kit.errors import Problem
from tests.federation.conftest import Network


def enqueue(node, peer: str = "TF", *, count: int = 1, kind: str = "ping", payload=None) -> list[uuid.UUID]:
    with node.ctx.database.session(write=True) as db:
        return [service.enqueue(ctx=node.ctx, db=db, peer=peer, kind=kind,
                                payload=payload if payload is not None else {"echo": f"hello {n}"}).id
                for n in range(count)]


def outbox(node, message_id) -> OutboxMessage:
    with node.ctx.database.session(write=False) as db:
        return db.get(OutboxMessage, message_id)


def count(node, model, *where) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def pings_applied(node) -> int:
    return count(node, AuditEvent, AuditEvent.action == "federation.ping")


def make_due(node, message_id) -> None:
    """The sender forgets it was acknowledged (as after a crash between send and record)."""
    with node.ctx.database.session(write=True) as db:
        row = db.get(OutboxMessage, message_id)
        row.delivered_at, row.next_attempt_at = None, node.clock.now()


def signed_post(pair, message_id: str, body: bytes | None = None, **envelope_changes):
    """A signed POST as LJ's outbox would make it, sent straight to TF."""
    data = {"id": message_id, "kind": "ping", "from": "LJ", "to": "TF",
            "created_at": "2026-11-26T09:00:00Z", "payload": {"echo": "direct"}} | envelope_changes
    body = body if body is not None else json.dumps(data).encode()
    url = "http://tf.test/api/v1/federation/messages"
    headers = service.signed_request(ctx=pair.lj.ctx, url=url, body=body, message_id=message_id,
                                     now=pair.lj.clock.now())
    return body, headers


def post(pair, body: bytes, headers: dict) -> httpx.Response:
    return pair.tf.client().post("/api/v1/federation/messages", content=body, headers=headers)


def test_a_ping_is_delivered_and_applied_once(pair):
    network = Network(pair.tf)
    [message_id] = enqueue(pair.lj)
    report = service.deliver_due(pair.lj.ctx, client=network.client())
    assert (report.delivered, report.failed) == (1, 0)
    row = outbox(pair.lj, message_id)
    assert row.delivered_at is not None and row.next_attempt_at is None and row.attempts == 1
    assert count(pair.tf, InboxMessage) == 1 and pings_applied(pair.tf) == 1

    sent = network.sent[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["content-digest"] == httpsig.content_digest(sent.content)
    params = httpsig.parse_dictionary(sent.headers["signature-input"])["sig1"]
    assert [i.value for i in params.items] == list(service.COVERED)
    assert params.params["nonce"] == str(message_id) and params.params["alg"] == "ed25519"
    assert params.params["expires"] - params.params["created"] == pair.lj.settings.federation_message_ttl_seconds
    assert params.params["keyid"] == node_keys(pair.lj.settings).signing_key(pair.lj.clock.now()).kid
    assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 0  # nothing due


def test_a_repeat_gets_the_first_answer_and_changes_nothing(pair):
    network = Network(pair.tf)
    [message_id] = enqueue(pair.lj)
    service.deliver_due(pair.lj.ctx, client=network.client())
    first = network.sent[-1]
    pair.advance(timedelta(seconds=2))
    make_due(pair.lj, message_id)
    assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 1
    assert network.sent[-1].headers["signature"] != first.headers["signature"]  # signed again
    assert count(pair.tf, InboxMessage) == 1 and pings_applied(pair.tf) == 1
    with pair.tf.ctx.database.session(write=False) as db:
        assert db.get(InboxMessage, message_id).repeats == 1

    # The same check over HTTP, comparing bodies: identical, and marked as a repeat.
    pair.advance(timedelta(seconds=2))
    body, headers = signed_post(pair, str(message_id), body=first.content)
    again = post(pair, body, headers)
    assert again.status_code == 200 and again.headers["federation-repeat"] == "true"
    assert again.json() == {"message_id": str(message_id), "kind": "ping", "status": "applied",
                            "result": {"pong": "hello 0", "region": "TF"}}
    assert pings_applied(pair.tf) == 1


def test_a_replayed_request_is_refused(pair):
    message_id = str(uuid.uuid4())
    body, headers = signed_post(pair, message_id)
    first = post(pair, body, headers)
    assert first.status_code == 200 and "federation-repeat" not in first.headers
    replay = post(pair, body, headers)
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["type"].endswith("/replayed")
    assert pings_applied(pair.tf) == 1


def test_a_reused_message_id_with_another_body_is_refused(pair):
    message_id = str(uuid.uuid4())
    assert post(pair, *signed_post(pair, message_id)).status_code == 200
    pair.advance(timedelta(seconds=1))
    other = post(pair, *signed_post(pair, message_id, payload={"echo": "something else"}))
    assert other.status_code == 409 and other.json()["type"].endswith("/message-id-reused")
    assert pings_applied(pair.tf) == 1


def refusal(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["type"].rsplit("/", 1)[-1]


def test_the_receiver_names_why_it_refuses(pair):
    message_id = str(uuid.uuid4())
    body, headers = signed_post(pair, message_id)
    tampered = body.replace(b"direct", b"DIRECT")
    assert refusal(post(pair, tampered, headers)) == (401, "digest-mismatch")
    assert refusal(post(pair, tampered, headers | {"Content-Digest": httpsig.content_digest(tampered)})) == (
        401, "signature-invalid")
    assert refusal(post(pair, body, {k: v for k, v in headers.items() if not k.startswith("Signature")})) == (
        401, "signature-missing")
    assert refusal(post(pair, body, headers | {"Signature-Input": "sig1=("})) == (401, "signature-malformed")
    assert refusal(post(pair, *signed_post(pair, message_id, to="XA"))) == (401, "envelope-mismatch")
    assert refusal(post(pair, *signed_post(pair, message_id, **{"from": "XA"}))) == (401, "envelope-mismatch")
    body2, headers2 = signed_post(pair, message_id)
    assert refusal(post(pair, body2, headers2 | {"Signature-Input": headers2["Signature-Input"].replace(
        message_id, str(uuid.uuid4()))})) == (401, "signature-invalid")
    assert refusal(post(pair, *signed_post(pair, message_id, body=b"not json"))) == (422, "invalid-field")
    assert refusal(post(pair, *signed_post(pair, message_id, kind="no.such_kind"))) == (422, "unknown-kind")
    assert refusal(post(pair, *signed_post(pair, message_id, payload={"echo": "x" * 1001}))) == (
        422, "invalid-field")
    assert count(pair.tf, InboxMessage) == 0 and pings_applied(pair.tf) == 0  # nothing half-written


def test_clock_skew_and_expiry_are_refused(pair):
    pair.lj.clock.advance(timedelta(seconds=61))
    assert refusal(post(pair, *signed_post(pair, str(uuid.uuid4())))) == (401, "clock-skew")
    pair.lj.clock.advance(timedelta(seconds=-61))
    body, headers = signed_post(pair, str(uuid.uuid4()))
    pair.tf.clock.advance(timedelta(seconds=pair.lj.settings.federation_message_ttl_seconds + 1))
    assert refusal(post(pair, body, headers)) == (401, "message-expired")


def test_unknown_and_revoked_keys_fail_closed(pair):
    body, headers = signed_post(pair, str(uuid.uuid4()))
    kid = node_keys(pair.lj.settings).signing_key(pair.lj.clock.now()).kid
    settings = pair.tf.settings
    trust.save_trust(settings, trust.revoke(trust.load_trust(settings), kid))
    assert refusal(post(pair, body, headers)) == (401, "key-revoked")
    trust.trust_path(settings).unlink()  # no trust list at all: nobody is trusted
    assert refusal(post(pair, body, headers)) == (401, "key-unknown")
    trust.trust_path(settings).write_text("{not json")
    assert refusal(post(pair, body, headers)) == (503, "trust-list-invalid")


def test_a_down_peer_keeps_messages_queued_with_backoff(pair):
    network = Network(pair.tf)
    network.down.add("tf.test")
    ids = enqueue(pair.lj, count=3)
    report = service.deliver_due(pair.lj.ctx, client=network.client(), rng=random.Random(1))
    assert (report.delivered, report.failed) == (0, 3) and len(network.sent) == 1  # the rest not tried
    now = pair.lj.clock.now()
    for message_id in ids:
        row = outbox(pair.lj, message_id)
        assert row.attempts == 1 and "ConnectError" in row.last_error and row.delivered_at is None
        assert now + timedelta(seconds=1) <= row.next_attempt_at <= now + timedelta(seconds=2)
    assert service.deliver_due(pair.lj.ctx, client=network.client()).failed == 0  # not due yet

    with pair.lj.ctx.database.session(write=False) as db:
        [peer] = service.status(ctx=pair.lj.ctx, db=db)["peers"]
    assert (peer["region"], peer["pending"], peer["failing"], peer["delivered"]) == ("TF", 3, 3, 0)
    assert "ConnectError" in peer["last_error"] and peer["oldest_pending_age_seconds"] == 0

    network.down.clear()
    pair.advance(timedelta(seconds=3))
    assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 3
    assert pings_applied(pair.tf) == 3
    with pair.lj.ctx.database.session(write=False) as db:
        [peer] = service.status(ctx=pair.lj.ctx, db=db)["peers"]
    assert (peer["pending"], peer["failing"], peer["delivered"], peer["last_error"]) == (0, 0, 3, None)


@pytest.mark.parametrize("answer", [
    lambda r: httpx.Response(200, text="<html>proxy error</html>"),
    lambda r: httpx.Response(200, json={"message_id": str(uuid.uuid4())}),
    lambda r: httpx.Response(202, json={"ok": True}),
    lambda r: httpx.Response(502, text="bad gateway"),
])
def test_garbage_answers_are_not_acknowledgements(pair, answer):
    network = Network(pair.tf)
    network.answer = answer
    [message_id] = enqueue(pair.lj)
    assert service.deliver_due(pair.lj.ctx, client=network.client()).failed == 1
    assert outbox(pair.lj, message_id).delivered_at is None
    network.answer = None
    pair.advance(timedelta(seconds=3))
    assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 1
    assert pings_applied(pair.tf) == 1


def test_a_crashed_delivery_run_is_taken_over_after_its_lease(pair):
    network = Network(pair.tf)
    [message_id] = enqueue(pair.lj)
    claimed = service._claim(pair.lj.ctx)  # a run claims, then dies before sending
    assert [c.id for c in claimed] == [message_id]
    assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 0  # leased
    pair.advance(timedelta(seconds=pair.lj.settings.federation_timeout_seconds * 2 + 31))
    assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 1
    assert outbox(pair.lj, message_id).attempts == 2
    service._failed(pair.lj.ctx, claimed, "late report of the dead run", random.Random(0))
    assert outbox(pair.lj, message_id).delivered_at is not None  # the stale run cannot undo it


def test_a_refusing_handler_leaves_nothing_and_is_retried(pair):
    network = Network(pair.tf)
    [message_id] = enqueue(pair.lj, kind="test.later", payload={"n": 1})
    assert service.deliver_due(pair.lj.ctx, client=network.client()).failed == 1
    assert "unknown-kind" in outbox(pair.lj, message_id).last_error
    assert count(pair.tf, InboxMessage) == 0

    @handlers.register("test.later")  # the receiver is upgraded: the kind is known now
    def later(*, ctx, db, message):
        return {"n": message.payload["n"]}

    try:
        pair.advance(timedelta(seconds=3))
        assert service.deliver_due(pair.lj.ctx, client=network.client()).delivered == 1
        with pair.tf.ctx.database.session(write=False) as db:
            assert db.get(InboxMessage, message_id).response["result"] == {"n": 1}
    finally:
        handlers._HANDLERS.pop("test.later")


def test_the_outbox_row_commits_with_the_business_change_or_not_at_all(pair):
    with pytest.raises(RuntimeError):
        with pair.lj.ctx.database.session(write=True) as db:
            service.enqueue(ctx=pair.lj.ctx, db=db, peer="TF", kind="ping", payload={"echo": "x"})
            raise RuntimeError("the business change failed")
    assert count(pair.lj, OutboxMessage) == 0
    with pair.lj.ctx.database.session(write=True) as db:
        with pytest.raises(Problem) as err:
            service.enqueue(ctx=pair.lj.ctx, db=db, peer="XA", kind="ping", payload={})
        assert err.value.code == "unknown-peer"
        bad = (("LJ", "ping", {}), ("TF", "Bad Kind", {}), ("TF", "ping", {"x": float("nan")}))
        for peer, kind, payload in bad:
            with pytest.raises(Problem) as err:
                service.enqueue(ctx=pair.lj.ctx, db=db, peer=peer, kind=kind, payload=payload)
            assert err.value.status == 422


def test_node_keys_are_published_with_validity(pair):
    document = pair.lj.client().get("/.well-known/eresident/node-keys").json()
    assert (document["region"], document["name"], document["base_url"]) == (
        "LJ", "Liangjiang New Area", "http://lj.test")
    [key] = document["keys"]
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert "d" not in key and key["kid"].startswith("LJ-fed-")
    assert key["not_before"] < "2026-11-26T09:00:00Z" < key["not_after"]


def test_status_api_is_for_administrators(pair):
    from eresident.seed import seed_demo
    from tests.factories import Api, bearer

    seed_demo(pair.lj.ctx)
    enqueue(pair.lj)
    api = Api(pair.lj)
    assert api.client.get("/api/v1/federation/status").status_code == 401
    assert api.client.get("/api/v1/federation/status",
                          headers=bearer(api.official("lj-reviewer"))).status_code == 403
    r = api.client.get("/api/v1/federation/status", headers=bearer(api.official("lj-admin")))
    assert r.status_code == 200
    assert [(p["region"], p["pending"]) for p in r.json()["peers"]] == [("TF", 1)]


def test_concurrent_copies_of_a_message_apply_once(pair):
    import threading

    message_id = str(uuid.uuid4())
    copies = []
    for _ in range(4):
        copies.append(signed_post(pair, message_id))
        pair.lj.clock.advance(timedelta(seconds=1))  # each copy signed again, as a retry would be
    barrier = threading.Barrier(len(copies))
    answers: list[httpx.Response] = []

    def send(body, headers):
        client = pair.tf.client()
        barrier.wait()
        answers.append(client.post("/api/v1/federation/messages", content=body, headers=headers))

    threads = [threading.Thread(target=send, args=copy) for copy in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 401}, [a.text for a in answers]
    assert all(a.json()["type"].endswith("/replayed") for a in answers if a.status_code == 401)
    assert {json.dumps(a.json(), sort_keys=True) for a in answers if a.status_code == 200} == {
        json.dumps({"kind": "ping", "message_id": message_id, "result": {"pong": "direct", "region": "TF"},
                    "status": "applied"}, sort_keys=True)}
    assert count(pair.tf, InboxMessage) == 1 and pings_applied(pair.tf) == 1
