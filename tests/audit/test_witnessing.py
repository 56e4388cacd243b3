"""Witnessing between two nodes with their own databases (SQLite and PostgreSQL): LJ's checkpoints
go to TF, which checks them against the last one it witnessed and cosigns them; a fork, a rollback
or a rewritten history is caught, kept as evidence on both sides and not cosigned. Cosignatures are
checked here with `cryptography` directly, following c2sp.org/tlog-cosignature, and proofs with
the independent RFC 9162 implementation."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from typer.testing import CliRunner

from eresident.audit import note
from eresident.audit.cli import app as audit_cli
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.models import AuditAlarm, AuditCheckpoint, AuditCosignature, AuditEvent, WitnessedCheckpoint
from eresident.audit.tasks import make_checkpoint
from eresident.crypto.fields import b64url_decode
from eresident.federation import service as federation
from eresident.federation import trust
from eresident.federation.models import InboxMessage, OutboxMessage
from tests.audit import rfc9162 as ref
from tests.audit.helpers import raw_sql, rebuild_tree, record_events
from tests.federation.conftest import Network


def deliver_from(pair, node) -> federation.DeliveryReport:
    return federation.deliver_due(node.ctx, client=Network(pair.lj, pair.tf).client())


def deliver_all(pair, rounds: int = 6) -> None:
    """Both outboxes, back and forth, until nothing is left to send."""
    for _ in range(rounds):
        sent = 0
        for node in (pair.lj, pair.tf):
            report = deliver_from(pair, node)
            assert report.failed == 0, report.errors
            sent += report.delivered
        if not sent:
            return


def rows(node, model, *where):
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(model).where(*where)))


def outbox(node, kind: str) -> list[OutboxMessage]:
    return rows(node, OutboxMessage, OutboxMessage.kind == kind)


def public_key(node) -> bytes:
    jwk = json.loads((node.settings.data_dir / "keys" / "checkpoint-signing.jwk.json").read_text())
    return b64url_decode(jwk["x"])


def split_note(signed: str) -> tuple[str, list[str]]:
    cut = signed.rindex("\n\n")
    return signed[:cut + 1], signed[cut + 2:].splitlines()


def check_cosignature(line: str, text: str, name: str, key: bytes) -> int:
    """c2sp.org/tlog-cosignature, Ed25519 v1, by hand; returns the cosignature's timestamp."""
    dash, key_name, blob_b64 = line.split(" ")
    assert dash == "\u2014" and key_name == name
    blob = base64.b64decode(blob_b64, validate=True)
    assert len(blob) == 4 + 8 + 64
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x04" + key).digest()[:4]
    timestamp = int.from_bytes(blob[4:12], "big")
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
    Ed25519PublicKey.from_public_bytes(key).verify(blob[12:], message)  # raises if it does not verify
    return timestamp


def sign_as_lj(pair, size: int, root: bytes, signer: note.NoteSigner | None = None) -> str:
    signer = signer or load_checkpoint_key(pair.lj.settings)
    return note.sign(note.Checkpoint(signer.name, size, root).text(), signer)


def send_checkpoint(pair, signed: str, proof: dict | None):
    """LJ sends a checkpoint message of its own making (a forger with LJ's keys and database)."""
    with pair.lj.ctx.database.session(write=True) as db:
        return federation.enqueue(ctx=pair.lj.ctx, db=db, peer="TF", kind="audit.checkpoint",
                                  payload={"note": signed, "proof": proof}).id


def answer(node, message_id) -> dict:
    """What the receiving node answered to message `message_id` (its inbox row)."""
    with node.ctx.database.session(write=False) as db:
        return db.get(InboxMessage, message_id).response["result"]


def unsent(node, kind: str) -> OutboxMessage:
    [row] = [m for m in outbox(node, kind) if m.delivered_at is None]
    return row


def witnessed(pair) -> list[int]:
    return sorted(w.tree_size for w in rows(pair.tf, WitnessedCheckpoint))


@pytest.fixture
def first(pair):
    """LJ has 5 events and a checkpoint TF witnessed and cosigned."""
    record_events(pair.lj.ctx.database, 5)
    made = make_checkpoint(pair.lj.ctx)
    deliver_all(pair)
    return made


def test_node_keys_publish_the_audit_key_and_the_trust_list_keeps_it(pair):
    document = pair.lj.client().get("/.well-known/eresident/node-keys").json()
    verifier = load_checkpoint_key(pair.lj.settings).verifier
    assert document["audit_log"] == {"origin": "lj.test/audit", "key": verifier.vkey()}
    peer = trust.load_trust(pair.tf.settings).peer("LJ")
    assert peer.audit_log == document["audit_log"]
    with pytest.raises(trust.TrustError, match="audit_log"):
        trust.parse_node_keys({**document, "audit_log": {"key": "lj.test/audit+00000000+AAAA"}}, own_region="TF")
    with pytest.raises(trust.TrustError, match="origin"):
        trust.parse_node_keys({**document, "audit_log": {**document["audit_log"], "origin": "x/audit"}},
                              own_region="TF")
    # revoking a key elsewhere in the entry keeps the audit key
    revoked = trust.revoke(trust.load_trust(pair.tf.settings), peer.keys[0].kid)
    assert revoked.peer("LJ").audit_log == document["audit_log"]


def test_a_checkpoint_is_witnessed_and_the_cosignature_verifies(pair):
    record_events(pair.lj.ctx.database, 5)
    made = make_checkpoint(pair.lj.ctx)
    [queued] = outbox(pair.lj, "audit.checkpoint")
    assert queued.peer_region == "TF" and queued.payload == {"note": made.note, "proof": None}

    deliver_all(pair)

    [seen] = rows(pair.tf, WitnessedCheckpoint)
    assert (seen.peer_region, seen.origin, seen.tree_size, seen.note) == ("LJ", "lj.test/audit", 5, made.note)
    [cosig] = rows(pair.lj, AuditCosignature)
    assert cosig.checkpoint_id == made.id and cosig.witness_region == "TF" and cosig.line == seen.cosignature

    served = pair.lj.client().get("/api/v1/audit/checkpoint")
    assert served.status_code == 200
    text, lines = split_note(served.text)
    assert served.text == made.note + cosig.line and len(lines) == 2
    timestamp = check_cosignature(lines[1], text, "tf.test/audit", public_key(pair.tf))
    assert timestamp == int(pair.tf.clock.now().timestamp()) == cosig.timestamp
    # still LJ's checkpoint to any signed-note verifier: the extra line is ignored
    assert note.open_note(served.text, load_checkpoint_key(pair.lj.settings).verifier) == text
    # routine witnessing leaves no audit event (it would grow the logs forever); no alarms
    assert not rows(pair.tf, AuditEvent) and not rows(pair.lj, AuditAlarm) and not rows(pair.tf, AuditAlarm)


def test_a_second_checkpoint_is_proven_consistent_and_cosigned(pair, first):
    record_events(pair.lj.ctx.database, 6, first=5)
    second = make_checkpoint(pair.lj.ctx)
    [queued] = [m for m in outbox(pair.lj, "audit.checkpoint") if m.delivered_at is None]
    proof = queued.payload["proof"]
    assert (proof["first"], proof["second"]) == (5, 11)
    assert ref.verify_consistency(5, 11, first.root_hash, second.root_hash,
                                  [base64.b64decode(h) for h in proof["path"]])

    deliver_all(pair)

    assert witnessed(pair) == [5, 11]
    text, lines = split_note(pair.lj.client().get("/api/v1/audit/checkpoint").text)
    assert text == split_note(second.note)[0] and len(lines) == 2
    check_cosignature(lines[1], text, "tf.test/audit", public_key(pair.tf))
    # a checkpoint of a log that has not grown is not sent again, even forced
    make_checkpoint(pair.lj.ctx)
    make_checkpoint(pair.lj.ctx, force=True)
    assert all(m.delivered_at is not None for m in outbox(pair.lj, "audit.checkpoint"))
    # the forced re-sign of the same head carries the same cosignature
    assert pair.lj.client().get("/api/v1/audit/checkpoint").text.count("\n\u2014 ") == 2


def test_a_checkpoint_made_before_the_last_cosignature_came_back_is_proven_on_request(pair, first):
    record_events(pair.lj.ctx.database, 2, first=5)
    make_checkpoint(pair.lj.ctx)                       # 7, proven from 5
    assert deliver_from(pair, pair.lj).delivered == 1  # TF cosigns 7; its cosignature waits
    record_events(pair.lj.ctx.database, 3, first=7)
    make_checkpoint(pair.lj.ctx)                       # 10, proven from 5: LJ has not seen TF's 7
    message_id = unsent(pair.lj, "audit.checkpoint").id
    assert deliver_from(pair, pair.lj).delivered == 1
    assert answer(pair.tf, message_id) == {
        "cosigned": False, "reason": "proof-needed", "witnessed_size": 7}
    deliver_all(pair)  # TF: cosignature of 7 and its head; LJ sends 10 again, proven from 7
    assert witnessed(pair) == [5, 7, 10]
    assert not rows(pair.tf, AuditAlarm) and not rows(pair.lj, AuditAlarm)


def test_superseded_checkpoints_are_not_sent(pair):
    record_events(pair.lj.ctx.database, 2)
    make_checkpoint(pair.lj.ctx)
    record_events(pair.lj.ctx.database, 2, first=2)
    latest = make_checkpoint(pair.lj.ctx)
    [queued] = outbox(pair.lj, "audit.checkpoint")
    assert queued.payload["note"] == latest.note
    deliver_all(pair)
    assert witnessed(pair) == [4]


def assert_alarm_on_both(pair, reason: str, offending: str) -> None:
    [caught] = rows(pair.tf, AuditAlarm)
    assert (caught.role, caught.peer_region, caught.origin, caught.reason) == ("witness", "LJ", "lj.test/audit", reason)
    assert caught.note == offending and caught.witnessed_note is not None
    reported = [a for a in rows(pair.lj, AuditAlarm) if a.reason == reason]
    assert len(reported) == 1 and reported[0].role == "origin" and reported[0].peer_region == "TF"
    assert reported[0].note == offending
    assert [e.action for e in rows(pair.tf, AuditEvent, AuditEvent.action.like("audit.%"))] == ["audit.alarm_raised"]
    assert "audit.alarm_received" in [e.action for e in rows(pair.lj, AuditEvent, AuditEvent.action.like("audit.%"))]


def test_a_fork_at_a_larger_size_with_a_bogus_proof_is_an_alarm_on_both_nodes(pair, first):
    forged = sign_as_lj(pair, 8, os.urandom(32))
    bogus = {"first": 5, "second": 8, "path": [base64.b64encode(os.urandom(32)).decode()] * 3}
    message_id = send_checkpoint(pair, forged, bogus)
    deliver_all(pair)
    assert answer(pair.tf, message_id)["reason"] == "inconsistent"
    assert_alarm_on_both(pair, "inconsistent", forged)
    assert witnessed(pair) == [5] and len(rows(pair.lj, AuditCosignature)) == 1
    [alarm] = rows(pair.tf, AuditAlarm)
    assert alarm.proof == bogus and alarm.witnessed_note == first.note


@pytest.mark.parametrize("size", [3, 5])
def test_a_smaller_or_same_size_with_another_root_is_an_alarm(pair, first, size):
    forged = sign_as_lj(pair, size, os.urandom(32))
    send_checkpoint(pair, forged, None)
    deliver_all(pair)
    assert_alarm_on_both(pair, "rollback" if size < 5 else "fork", forged)
    assert witnessed(pair) == [5]


def test_a_rewritten_history_is_caught_when_the_log_asks_to_be_witnessed_again(pair, first):
    """Someone with LJ's database and key changes an event, recomputes the tree, deletes the
    checkpoints that no longer match and lets the node sign the rewritten log."""
    url = pair.lj.settings.database_url
    raw_sql(url, "UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 2")
    rebuild_tree(pair.lj.ctx.database, url)
    raw_sql(url, "DELETE FROM audit_cosignatures", "DELETE FROM audit_checkpoints")
    record_events(pair.lj.ctx.database, 3, first=5)
    rewritten = make_checkpoint(pair.lj.ctx)
    deliver_all(pair)
    # TF asked for a proof from 5; LJ's own code found its log no longer has that root, and the
    # proof it sent anyway failed at TF
    assert {a.reason for a in rows(pair.lj, AuditAlarm)} == {"fork", "inconsistent"}
    [caught] = rows(pair.tf, AuditAlarm)
    assert caught.reason == "inconsistent" and caught.note == rewritten.note and caught.witnessed_note == first.note
    assert witnessed(pair) == [5] and not rows(pair.lj, AuditCosignature)
    assert pair.lj.client().get("/api/v1/audit/checkpoint").text == rewritten.note  # no cosignature


def test_a_replayed_note_is_refused_without_an_alarm(pair, first):
    message_id = send_checkpoint(pair, first.note, None)
    deliver_all(pair)
    assert answer(pair.tf, message_id) == {
        "cosigned": False, "reason": "replayed", "witnessed_size": 5}
    assert witnessed(pair) == [5] and not rows(pair.tf, AuditAlarm) and not rows(pair.lj, AuditAlarm)


def test_a_note_by_an_unknown_key_is_refused(pair, first):
    stranger = note.NoteSigner("lj.test/audit", Ed25519PrivateKey.generate())
    send_checkpoint(pair, sign_as_lj(pair, 9, os.urandom(32), stranger), None)
    report = deliver_from(pair, pair.lj)
    assert report.failed == 1 and "checkpoint-signature" in report.errors["TF"]
    assert witnessed(pair) == [5] and not rows(pair.tf, AuditAlarm)


def test_a_checkpoint_of_another_log_is_refused(pair, first):
    signer = load_checkpoint_key(pair.lj.settings)
    text = note.Checkpoint("other.test/audit", 9, os.urandom(32)).text()
    send_checkpoint(pair, note.sign(text, signer), None)
    report = deliver_from(pair, pair.lj)
    assert report.failed == 1 and "checkpoint-origin" in report.errors["TF"]


def test_without_the_peers_audit_key_checkpoints_wait(pair):
    settings = pair.tf.settings
    data = trust.load_trust(settings).to_json()
    for peer in data["peers"]:
        peer.pop("audit_log")
    trust.save_trust(settings, trust.TrustList.from_json(data))
    record_events(pair.lj.ctx.database, 1)
    make_checkpoint(pair.lj.ctx)
    report = deliver_from(pair, pair.lj)
    assert report.failed == 1 and "audit-key-unknown" in report.errors["TF"]


def test_a_forged_cosignature_is_refused(pair, first):
    [good] = rows(pair.lj, AuditCosignature)
    blob = bytearray(base64.b64decode(good.line.split(" ")[2]))
    blob[-1] ^= 1
    forged = f"\u2014 tf.test/audit {base64.b64encode(bytes(blob)).decode()}\n"
    for line, root, code in ((forged, first.root_hash, "cosignature-invalid"),
                             (good.line, os.urandom(32), "cosignature-unknown-checkpoint")):
        with pair.tf.ctx.database.session(write=True) as db:
            federation.discard_unsent(db=db, peer="LJ", kind="audit.cosignature")
            federation.enqueue(ctx=pair.tf.ctx, db=db, peer="LJ", kind="audit.cosignature", payload={
                "origin": "lj.test/audit", "tree_size": 5, "root_hash": base64.b64encode(root).decode(),
                "cosignature": line})
        report = deliver_from(pair, pair.tf)
        assert report.failed == 1 and f" {code}:" in report.errors["LJ"]
    assert len(rows(pair.lj, AuditCosignature)) == 1


def test_a_made_up_witness_head_raises_no_alarm(pair, first):
    forged = sign_as_lj(pair, 5, os.urandom(32), note.NoteSigner("lj.test/audit", Ed25519PrivateKey.generate()))
    with pair.tf.ctx.database.session(write=True) as db:
        federation.enqueue(ctx=pair.tf.ctx, db=db, peer="LJ", kind="audit.witness_head", payload={
            "origin": "lj.test/audit", "tree_size": 5, "root_hash": base64.b64encode(os.urandom(32)).decode(),
            "note": forged})
    report = deliver_from(pair, pair.tf)
    assert report.failed == 1 and "checkpoint-signature" in report.errors["LJ"]
    assert not rows(pair.lj, AuditAlarm)


def run_cli(node, monkeypatch, *args):
    for name, value in {"ERESIDENT_REGION": node.settings.region, "ERESIDENT_DATABASE_URL": node.settings.database_url,
                        "ERESIDENT_DATA_DIR": str(node.settings.data_dir),
                        "ERESIDENT_BASE_URL": node.settings.base_url}.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(audit_cli, list(args))


def test_status_shows_cosignatures_and_alarms(pair, first, monkeypatch):
    ok = run_cli(pair.lj, monkeypatch, "status")
    assert ok.exit_code == 0, ok.output
    assert "latest checkpoint: size 5" in ok.output and "cosigned by TF" in ok.output and "alarms: 0" in ok.output
    assert "\u2014 tf.test/audit " in ok.output
    seen = run_cli(pair.tf, monkeypatch, "status", "--json")
    assert json.loads(seen.output)["witnessed"][0]["tree_size"] == 5

    send_checkpoint(pair, sign_as_lj(pair, 5, os.urandom(32)), None)
    deliver_all(pair)
    for node in (pair.lj, pair.tf):
        shown = run_cli(node, monkeypatch, "status")
        assert shown.exit_code == 1 and "alarms: 1" in shown.output and "ALARM" in shown.output
        assert "fork" in shown.output
    assert json.loads(run_cli(pair.lj, monkeypatch, "status", "--json").output)["alarms"][0]["role"] == "origin"
    with pair.lj.ctx.database.session(write=False) as db:
        assert db.scalar(select(AuditCheckpoint.tree_size).order_by(AuditCheckpoint.id.desc())) == 5
