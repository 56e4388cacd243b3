"""A licence's issuance in the audit log, as the public sees it (SQLite and PostgreSQL, two nodes
with their own databases): the proof against the newest checkpoint the other region cosigned, or
the newest signed one before that, or "pending" before any checkpoint covers it; the verification
page's section; `eresident audit prove --licence`. Proofs are checked with the independent RFC 9162
implementation, signatures by hand with `cryptography`, following the C2SP specs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from html import unescape

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from eresident.audit.models import AuditCheckpoint, AuditEvent
from eresident.audit.tasks import make_checkpoint
from eresident.enterprise import uscc as uscc_codes
from eresident.enterprise.models import Licence
from eresident.seed import seed_demo
from tests.audit import rfc9162 as ref
from tests.audit.helpers import raw_sql, reference_entry
from tests.audit.test_witnessing import check_cosignature, deliver_all, public_key, run_cli, split_note
from tests.enterprise.helpers import Founders, formation_body, reserve, submit_and_sign
from tests.factories import Api, bearer

COMPANIES = [("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."),
             ("重庆明江贸易有限公司", "Chongqing Mingjiang Trading Co., Ltd.")]


class Region:
    """LJ, seeded, with two e-residents who can form companies there; TF its witness."""

    def __init__(self, pair):
        self.pair, self.node = pair, pair.lj
        seed_demo(self.node.ctx)
        self.api = Api(self.node)
        founders = Founders(self.api)
        self.founder = founders.new("BENALI")
        self.supervisor = founders.new("HADDAD")
        self.client = self.api.client

    def company(self, name: tuple[str, str]) -> str:
        (founder_token, founder), (supervisor_token, supervisor) = self.founder, self.supervisor
        reservation = reserve(self.api, founder_token, *name)
        assert reservation.status_code == 201, reservation.text
        formation = self.client.post("/api/v1/formations", headers=bearer(founder_token),
                                     json=formation_body(reservation.json()["id"], founder, supervisor))
        assert formation.status_code == 201, formation.text
        done = submit_and_sign(self.api, formation.json()["id"], [founder_token, supervisor_token])
        assert done["status"] == "approved", done
        return done["uscc"]

    def proof(self, code: str):
        return self.client.get(f"/api/v1/licences/{code}/inclusion")

    def page(self, code: str, path: str = "licences") -> str:
        page = self.client.get(f"/verify/{path}/{code}", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text
        return page.text

    def issuance_row(self, code: str) -> AuditEvent:
        with self.node.ctx.database.session(write=False) as db:
            licence = db.scalar(select(Licence).where(Licence.uscc == code))
            return db.scalar(select(AuditEvent).where(AuditEvent.entity_type == "licence",
                                                      AuditEvent.entity_id == str(licence.id),
                                                      AuditEvent.action == "licence.issued"))


@pytest.fixture
def region(pair) -> Region:
    return Region(pair)


def b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def check_signature(signed: str, name: str, key: bytes) -> tuple[str, int, bytes]:
    """c2sp.org/signed-note and tlog-checkpoint by hand: the note's text is signed by `name`'s
    Ed25519 key (key ID = SHA-256(name || 0x0A || 0x01 || key)[:4]). Returns (text, size, root)."""
    text, lines = split_note(signed)
    dash, key_name, blob = lines[0].split(" ")
    assert dash == "\u2014" and key_name == name
    blob = b64(blob)
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x01" + key).digest()[:4]
    Ed25519PublicKey.from_public_bytes(key).verify(blob[4:], text.encode())  # raises if it does not verify
    origin, size, root, end = text.split("\n")
    assert origin == name and end == ""
    return text, int(size), b64(root)


def verify_answer(pair, answer: dict) -> bytes:
    """Everything a client can check in a licence proof, with the test suite's own code: the
    checkpoint's signature by LJ, each cosignature by TF, and the inclusion proof against the
    signed root. Returns the proven leaf hash."""
    checkpoint = answer["checkpoint"]
    text, size, root = check_signature(checkpoint["note"], "lj.test/audit", public_key(pair.lj))
    assert size == answer["tree_size"] == checkpoint["tree_size"] and b64(answer["root_hash"]) == root
    _, lines = split_note(checkpoint["note"])
    assert len(lines) == 1 + len(checkpoint["cosignatures"])
    for cosignature, line in zip(checkpoint["cosignatures"], lines[1:], strict=True):
        assert cosignature["line"].rstrip("\n") == line and cosignature["region"] == "TF"
        timestamp = check_cosignature(line, text, "tf.test/audit", public_key(pair.tf))
        assert cosignature["time"].startswith(f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%dT%H:%M:%S}")
    leaf = b64(answer["leaf_hash"])
    path = [b64(h) for h in answer["inclusion_path"]]
    assert answer["leaf_index"] == answer["seq"] - 1
    assert ref.verify_inclusion(answer["leaf_index"], answer["tree_size"], leaf, path, root)
    return leaf


def assert_pending(region: Region, code: str, latest_size: int) -> None:
    r = region.proof(code)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/not-checkpointed") and body["status"] == 409
    assert body["uscc"] == code and body["latest_checkpoint_size"] == latest_size
    assert body["seq"] == region.issuance_row(code).seq > latest_size and body["state"] == "pending"
    page = region.page(code)
    assert "Recorded in the audit log" in page and "Pending." in page
    assert f"entry <strong>{body['seq']}</strong>" in page


def test_a_licences_issuance_is_proven_against_the_cosigned_checkpoint(pair, region, monkeypatch):
    first = region.company(COMPANIES[0])
    assert_pending(region, first, 0)  # no checkpoint at all yet

    made = make_checkpoint(pair.lj.ctx)
    deliver_all(pair)
    r = region.proof(first)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["state"] == "included" and answer["against"] == "cosigned"
    assert answer["tree_size"] == made.tree_size and answer["checkpoint"]["cosigned"] is True
    [cosignature] = answer["checkpoint"]["cosignatures"]
    assert (cosignature["region"], cosignature["region_name"], cosignature["key_name"], cosignature["verified"]) \
        == ("TF", "Sichuan Tianfu New Area", "tf.test/audit", True)
    assert answer["checked_by_server"] == {"leaf": True, "path": True, "signature": True}
    leaf = verify_answer(pair, answer)

    # The leaf is the licence's issuance event (recomputed here from the row and its salt, which
    # only the database holds: nothing personal is in the answer).
    row = region.issuance_row(first)
    assert row.seq == answer["seq"] and row.after["uscc"] == first
    assert leaf == hashlib.sha256(b"\x00" + reference_entry(row)).digest()
    assert answer["event"] == {"id": str(row.id), "action": "licence.issued", "entity_type": "licence",
                               "region": "LJ", "occurred_at": answer["event"]["occurred_at"]}
    assert answer["leaf_recomputable"] is False
    text = json.dumps(answer)
    assert row.actor_id not in text and base64.b64encode(row.salt).decode() not in text
    assert row.after["pdf_sha256"] not in text and row.after["report_sha256"] not in text

    # A tampered proof, or another entry's leaf, does not verify against the signed root.
    root, size, index = b64(answer["root_hash"]), answer["tree_size"], answer["leaf_index"]
    path = [b64(h) for h in answer["inclusion_path"]]
    assert path, "a tree of several entries has a non-empty proof"
    for k in range(len(path)):
        bent = list(path)
        bent[k] = bytes([bent[k][0] ^ 1]) + bent[k][1:]
        assert not ref.verify_inclusion(index, size, leaf, bent, root)
    assert not ref.verify_inclusion(index, size, leaf, path[:-1], root)
    assert not ref.verify_inclusion(index ^ 1, size, leaf, path, root)
    other = region.client.get("/api/v1/audit/proofs/inclusion", params={"seq": 1}).json()
    assert not ref.verify_inclusion(index, size, b64(other["leaf_hash"]), path, root)

    # The page shows it: entry, tree size, root, signer and cosigner, the proof, links that work.
    for way in ("licences", "licence"):
        page = unescape(region.page(first, way))
        assert '<h2 id="audit-log">Recorded in the audit log' in page
        assert f"entry <strong>{answer['seq']}</strong>" in page and f"a tree of <strong>{size}</strong>" in page
        assert "This server checked its inclusion proof" in page and answer["root_hash"] in page
        assert "cosigned by Sichuan Tianfu New Area on" in page and "tf.test/audit" in page
        assert "<details>" in page and all(h in page for h in answer["inclusion_path"])
        assert answer["checkpoint"]["note"].strip() in page and "RFC 9162" in page
        assert "<script" not in page
    links = re.findall(r'href="(/api/v1/[^"]+)"', region.page(first))
    assert f"/api/v1/licences/{first}/inclusion" in links
    assert "/api/v1/audit/key" in links and f"/api/v1/audit/checkpoints/{size}" in links
    served = region.client.get(f"/api/v1/audit/checkpoints/{size}")
    assert served.status_code == 200 and served.text == answer["checkpoint"]["note"]
    assert served.headers["content-type"].startswith("text/plain")
    assert region.client.get(f"/api/v1/audit/checkpoints/{size + 1000}").status_code == 404

    # A second licence, issued after the last checkpoint: pending until the next one.
    second = region.company(COMPANIES[1])
    assert_pending(region, second, size)

    # A newer checkpoint the witness has not seen yet: the second licence is proven against it, and
    # says so; the first is still proven against the cosigned one.
    newer = make_checkpoint(pair.lj.ctx)
    assert newer.tree_size > size
    answer2 = region.proof(second).json()
    assert answer2["against"] == "signed" and answer2["tree_size"] == newer.tree_size
    assert answer2["checkpoint"]["cosignatures"] == [] and answer2["checkpoint"]["cosigned"] is False
    leaf2 = verify_answer(pair, answer2)
    assert region.proof(first).json()["tree_size"] == size
    assert "No other region has cosigned a checkpoint that includes it yet" in region.page(second)
    # each licence's leaf fails in the other's proof
    path2 = [b64(h) for h in answer2["inclusion_path"]]
    assert not ref.verify_inclusion(answer2["leaf_index"], answer2["tree_size"], leaf, path2,
                                    b64(answer2["root_hash"]))
    assert not ref.verify_inclusion(index, size, leaf2, path, root)

    deliver_all(pair)
    answer2 = region.proof(second).json()
    assert answer2["against"] == "cosigned" and answer2["tree_size"] == newer.tree_size
    verify_answer(pair, answer2)
    first_now = region.proof(first).json()  # the newest cosigned checkpoint now covers both
    assert first_now["tree_size"] == newer.tree_size and verify_answer(pair, first_now) == leaf

    # The CLI says the same; --with-event adds the event and its salt (for its subject or a court).
    cli = run_cli(pair.lj, monkeypatch, "prove", "--licence", second)
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout) == answer2
    opened = run_cli(pair.lj, monkeypatch, "prove", "--licence", second, "--with-event")
    body = json.loads(opened.stdout)
    entry = hashlib.sha256(b64(body["salt"]) + rfc8785.dumps(body["event"])).digest()
    assert hashlib.sha256(b"\x00" + entry).digest() == b64(body["leaf_hash"])
    assert run_cli(pair.lj, monkeypatch, "prove", "--licence", "91500000MA5U000000").exit_code == 1
    assert run_cli(pair.lj, monkeypatch, "prove").exit_code == 2
    assert run_cli(pair.lj, monkeypatch, "prove", "1", "--licence", second).exit_code == 2

    # Someone with the database changes the issuance event: the node no longer vouches for it.
    raw_sql(pair.lj.settings.database_url,
            ("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = :seq", {"seq": answer2["seq"]}))
    tampered = region.proof(second).json()
    assert tampered["checked_by_server"] == {"leaf": False, "path": True, "signature": True}
    page = region.page(second)
    assert "This server could not confirm the proof below" in page and "This server checked" not in page
    bad = run_cli(pair.lj, monkeypatch, "prove", "--licence", second)
    assert bad.exit_code == 1 and "could not confirm" in bad.stderr


def test_before_any_cosignature_and_after_the_event_is_deleted(pair, region, monkeypatch):
    code = region.company(COMPANIES[0])
    pending = run_cli(pair.lj, monkeypatch, "prove", "--licence", code)
    assert pending.exit_code == 3 and "pending" in pending.stderr

    make_checkpoint(pair.lj.ctx)  # not delivered: no cosignature anywhere yet
    answer = region.proof(code).json()
    assert answer["against"] == "signed" and verify_answer(pair, answer)
    assert "No other region has cosigned" in region.page(code, "licence")

    # The event row is deleted behind the node's back: the licence is still genuine, its issuance
    # is no longer in the log, and both the API and the page say so rather than fail.
    raw_sql(pair.lj.settings.database_url,
            ("DELETE FROM audit_events WHERE seq = :seq", {"seq": answer["seq"]}))
    gone = region.proof(code)
    assert gone.status_code == 404 and gone.json()["type"].endswith("/not-logged")
    page = region.page(code)
    assert "Genuine and current" in page and "Not found in the audit log" in page


def test_an_unknown_or_malformed_uscc(node):
    client = node.client()
    unknown = uscc_codes.issue(division_code=node.settings.division_code, serial=987654)
    r = client.get(f"/api/v1/licences/{unknown}/inclusion")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/licence-not-found")
    bad = client.get("/api/v1/licences/91500000MA5U00000X/inclusion")
    assert bad.status_code == 422 and bad.json()["type"].endswith("/invalid-uscc")
    page = client.get(f"/verify/licences/{unknown}", headers={"accept": "text/html"})
    assert page.status_code == 404 and "Not genuine here" in page.text and "audit log" not in page.text
    assert client.get("/api/v1/audit/checkpoints/1").status_code == 404
    assert client.get(f"/api/v1/audit/checkpoints/{2**64}").status_code == 422
    with node.ctx.database.session(write=False) as db:
        assert db.scalar(select(AuditCheckpoint)) is None
