"""Signed checkpoints (C2SP signed note), the checkpoint key, and the public API and CLI of the
log, through a real node on each database. Signatures are checked with `cryptography` directly,
following the signed-note spec, and proofs with the independent RFC 9162 implementation."""

from __future__ import annotations

import base64
import hashlib
import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from typer.testing import CliRunner

from eresident.audit import merkle, note, service
from eresident.audit.cli import app as audit_cli
from eresident.audit.keys import load_checkpoint_key, load_checkpoint_verifier, log_origin
from eresident.audit.models import AuditEvent
from eresident.audit.tasks import make_checkpoint
from eresident.crypto.fields import b64url_decode
from tests.audit import rfc9162 as ref
from tests.audit.helpers import raw_sql, rebuild_tree, record_events, reference_entries

KEY_FILE = ("keys", "checkpoint-signing.jwk.json")


def public_key_from_file(node) -> bytes:
    jwk = json.loads(node.settings.data_dir.joinpath(*KEY_FILE).read_text())
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    return b64url_decode(jwk["x"])


def open_signed_note(signed: str, name: str, public_key: bytes) -> str:
    """c2sp.org/signed-note, by hand: text, blank line, `— <name> base64(key id || signature)`."""
    cut = signed.rindex("\n\n")
    text, signature_lines = signed[:cut + 1], signed[cut + 2:].splitlines()
    assert len(signature_lines) == 1
    dash, key_name, blob_b64 = signature_lines[0].split(" ")
    assert dash == "\u2014" and key_name == name
    blob = base64.b64decode(blob_b64, validate=True)
    key_id = hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_key).digest()[:4]
    assert blob[:4] == key_id and len(blob) == 4 + 64
    Ed25519PublicKey.from_public_bytes(public_key).verify(blob[4:], text.encode())  # raises if bad
    return text


def read_checkpoint(text: str) -> tuple[str, int, bytes]:
    origin, size, root, end = text.split("\n")
    assert end == "" and (size == "0" or not size.startswith("0"))
    return origin, int(size), base64.b64decode(root, validate=True)


def test_a_checkpoint_is_a_signed_note_anyone_can_check(node):
    record_events(node.ctx.database, 5)
    checkpoint = make_checkpoint(node.ctx)
    text = open_signed_note(checkpoint.note, "lj.test/audit", public_key_from_file(node))
    origin, size, root = read_checkpoint(text)
    entries = reference_entries(node.ctx.database)
    assert origin == "lj.test/audit" and size == len(entries) == checkpoint.tree_size
    assert root == ref.MTH(entries) == checkpoint.root_hash
    assert checkpoint.created_at == node.clock.now()
    mode = node.settings.data_dir.joinpath(*KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_checkpoints_are_made_when_the_log_grows_and_stay_consistent(node):
    first = make_checkpoint(node.ctx)
    assert make_checkpoint(node.ctx).id == first.id  # nothing new: the same checkpoint
    assert make_checkpoint(node.ctx, force=True).id != first.id
    record_events(node.ctx.database, 7)
    second = make_checkpoint(node.ctx)
    assert second.tree_size == first.tree_size + 7
    with node.ctx.database.session(write=False) as db:
        proof = service.consistency_proof(db=db, first=first.tree_size, second=second.tree_size)
        assert service.latest_checkpoint(db).id == second.id
    assert ref.verify_consistency(first.tree_size, second.tree_size, first.root_hash, second.root_hash,
                                  proof.path)


def test_an_empty_log_can_be_checkpointed(make_node):
    node = make_node()
    checkpoint = make_checkpoint(node.ctx)
    assert checkpoint.tree_size == 0 and checkpoint.root_hash == ref.HASH(b"")
    assert "\n0\n" in checkpoint.note


def test_the_checkpoint_key_is_made_once_kept_and_separate(node):
    signer = load_checkpoint_key(node.settings)
    assert signer.verifier.public_key == public_key_from_file(node)
    assert load_checkpoint_verifier(node.settings) == signer.verifier
    credential_jwk = json.loads((node.settings.data_dir / "keys" / "credential-signing.jwk.json").read_text())
    assert b64url_decode(credential_jwk["x"]) != signer.verifier.public_key
    # a node moved to another address keeps its log's name
    moved = node.settings.model_copy(update={"base_url": "https://new-address.example/"})
    assert log_origin(moved) == "new-address.example/audit"
    assert load_checkpoint_key(moved).name == "lj.test/audit"


def test_two_starters_making_the_key_at_once_agree_on_one(node, monkeypatch):
    from eresident.audit import keys
    from eresident.kit import files  # where keys are created once (link into place)

    other_dir = node.settings.data_dir / "elsewhere"
    settings = node.settings.model_copy(update={"data_dir": other_dir})
    real_link = files.os.link

    def link_after_a_rival(src, dst):  # another process links its key first
        files.os.link = real_link
        rival = keys._load_or_create(dst.with_name("rival.json"), "rival/audit")
        real_link(dst.with_name("rival.json"), dst)
        assert rival.name == "rival/audit"
        real_link(src, dst)  # ours now fails: the file exists

    monkeypatch.setattr(files.os, "link", link_after_a_rival)
    keys._cache.clear()
    assert load_checkpoint_key(settings).name == "rival/audit"
    assert not [p for p in (other_dir / "keys").iterdir() if p.name.startswith(".")]


def test_a_key_file_that_is_not_an_ed25519_private_key_is_refused(node):
    from eresident.audit import keys

    bad = node.settings.model_copy(update={"data_dir": node.settings.data_dir / "bad"})
    path = bad.data_dir.joinpath(*KEY_FILE)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "x/audit"}))
    keys._cache.clear()
    with pytest.raises(ValueError, match="not an Ed25519 private JWK"):
        load_checkpoint_key(bad)


def test_no_key_is_made_just_to_verify(make_node):
    node = make_node("TF")
    assert load_checkpoint_verifier(node.settings) is None
    assert not node.settings.data_dir.joinpath(*KEY_FILE).exists()


def test_note_parsing_refuses_malformed_notes():
    signer = _signer()
    good = note.sign(note.Checkpoint(signer.name, 3, b"\x01" * 32).text(), signer)
    assert note.parse_checkpoint(note.open_note(good, signer.verifier)).size == 3
    extra = note.sign("origin.example/log\n3\n" + base64.b64encode(b"\x01" * 32).decode() + "\nextension\n",
                      signer)
    assert note.parse_checkpoint(note.open_note(extra, signer.verifier)).origin == "origin.example/log"
    other = _signer()
    with_other = good + other.signature_line(good[:good.rindex("\n\n") + 1])
    assert note.open_note(with_other, signer.verifier)  # unknown keys' signatures are ignored
    bad_notes = {
        "no blank line": good.replace("\n\n", "\n"),
        "no signatures": good[:good.rindex("\n\n") + 2],
        "control": good.replace("3", "3\x07", 1),
        "bad base64": good[:-5] + "!!!!\n",
        "short": good[:good.rindex(" ") + 1] + base64.b64encode(b"abc").decode() + "\n",
        "bad line": good.replace("\u2014 ", "- "),
        "unknown key only": note.sign(good[:good.rindex("\n\n") + 1], other),
    }
    for label, bad in bad_notes.items():
        with pytest.raises(note.NoteError):
            note.open_note(bad, signer.verifier)
            pytest.fail(label)
    for text in ("a\n3\n", "a\n03\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",
                 "a\n3\n" + base64.b64encode(b"\x01" * 31).decode() + "\n", "a\n3\n@@@\n",
                 "a\n\n3\nxx\n"):
        with pytest.raises(note.NoteError):
            note.parse_checkpoint(text)
    with pytest.raises(note.NoteError):
        note.sign("no final newline", signer)
    with pytest.raises(note.NoteError):
        note.NoteSigner("has space", signer.private_key)
    assert signer.verifier.vkey().startswith(f"{signer.name}+{signer.verifier.key_id.hex()}+")


def _signer():
    from tests.audit.helpers import new_signer

    return new_signer("origin.example/log")


# -- the public API ------------------------------------------------------------------------------

def test_the_latest_checkpoint_and_its_key_are_public(node):
    client = node.client()
    r = client.get("/api/v1/audit/checkpoint")
    assert r.status_code == 404 and r.json()["type"].endswith("/no-checkpoint")
    checkpoint = make_checkpoint(node.ctx)
    r = client.get("/api/v1/audit/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == checkpoint.note and r.headers["last-modified"] == "Thu, 26 Nov 2026 09:00:00 GMT"
    vkey = client.get("/api/v1/audit/key").text.strip()
    name, key_id, key = vkey.split("+", 2)
    public_key = base64.b64decode(key)[1:]
    assert base64.b64decode(key)[0] == 1 and public_key == public_key_from_file(node)
    assert bytes.fromhex(key_id) == hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    open_signed_note(r.text, name, public_key)


def test_an_inclusion_proof_for_an_event_verifies_against_the_signed_checkpoint(node):
    record_events(node.ctx.database, 9)
    checkpoint = make_checkpoint(node.ctx)
    with node.ctx.database.session(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.entity_id == "app-4")).one()
    client = node.client()
    body = client.get(f"/api/v1/audit/events/{event.id}/inclusion").json()
    _origin, size, root = read_checkpoint(open_signed_note(body["checkpoint"], "lj.test/audit",
                                                           public_key_from_file(node)))
    assert body["seq"] == event.seq and body["leaf_index"] == event.seq - 1 and body["tree_size"] == size
    leaf = ref.HASH(b"\x00" + reference_entries(node.ctx.database)[event.seq - 1])
    assert base64.b64decode(body["leaf_hash"]) == leaf and body["event_id"] == str(event.id)
    path = [base64.b64decode(h) for h in body["inclusion_path"]]
    assert ref.verify_inclusion(event.seq - 1, size, leaf, path, root)
    assert base64.b64decode(body["root_hash"]) == root == checkpoint.root_hash
    by_seq = client.get("/api/v1/audit/proofs/inclusion", params={"seq": event.seq}).json()
    assert by_seq["inclusion_path"] == body["inclusion_path"] and by_seq["event_id"] is None


def test_inclusion_proofs_wait_for_a_checkpoint_unless_a_size_is_given(node):
    make_checkpoint(node.ctx)
    record_events(node.ctx.database, 3)
    with node.ctx.database.session(write=False) as db:
        size = service.log_size(db)
        newest = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    client = node.client()
    r = client.get(f"/api/v1/audit/events/{newest.id}/inclusion")
    assert r.status_code == 409 and r.json()["type"].endswith("/not-checkpointed")
    r = client.get(f"/api/v1/audit/events/{newest.id}/inclusion", params={"tree_size": size})
    assert r.status_code == 200 and r.json()["checkpoint"] is None
    unknown = "6a1f1111-2222-4333-8444-555566667777"
    assert client.get(f"/api/v1/audit/events/{unknown}/inclusion").status_code == 404
    assert client.get("/api/v1/audit/proofs/inclusion", params={"seq": size, "tree_size": size - 1}
                      ).status_code == 422
    assert client.get("/api/v1/audit/proofs/inclusion", params={"seq": 1, "tree_size": size + 1}
                      ).status_code == 422
    assert client.get("/api/v1/audit/proofs/inclusion", params={"seq": 0}).status_code == 422


def test_a_damaged_tree_is_a_server_error_not_a_bad_request(node, cli):
    record_events(node.ctx.database, 4)
    make_checkpoint(node.ctx)
    raw_sql(node.settings.database_url, "DELETE FROM audit_tree_nodes WHERE level = 0 AND idx = 2")
    r = node.client().get("/api/v1/audit/proofs/inclusion", params={"seq": 3})
    assert r.status_code == 500 and r.json()["type"].endswith("/internal")
    with node.ctx.database.session(write=False) as db:
        with pytest.raises(merkle.MissingNode, match=r"\(0, 2\) is missing"):
            service.inclusion_proof(db=db, seq=3)
        with pytest.raises(merkle.MissingNode):
            service.inclusion_proof(db=db, seq=4)
    result = cli("prove", "3")
    assert result.exit_code == 1 and "is missing" in result.output


def test_a_consistency_proof_links_two_checkpoints(node):
    old = make_checkpoint(node.ctx)
    record_events(node.ctx.database, 11)
    new = make_checkpoint(node.ctx)
    client = node.client()
    body = client.get("/api/v1/audit/proofs/consistency", params={"first": old.tree_size}).json()
    assert (body["first"], body["second"]) == (old.tree_size, new.tree_size)
    assert body["checkpoint"] == new.note
    path = [base64.b64decode(h) for h in body["consistency_path"]]
    assert ref.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, path)
    explicit = client.get("/api/v1/audit/proofs/consistency",
                          params={"first": 2, "second": old.tree_size}).json()
    assert ref.verify_consistency(2, old.tree_size, base64.b64decode(explicit["first_root"]),
                                  old.root_hash, [base64.b64decode(h) for h in explicit["consistency_path"]])
    assert client.get("/api/v1/audit/proofs/consistency",
                      params={"first": new.tree_size + 1}).status_code == 409
    assert client.get("/api/v1/audit/proofs/consistency",
                      params={"first": 5, "second": 4}).status_code == 422
    assert client.get("/api/v1/audit/proofs/consistency",
                      params={"first": 1, "second": new.tree_size + 5}).status_code == 422
    assert client.get("/api/v1/audit/proofs/consistency").status_code == 422


# -- the CLI -------------------------------------------------------------------------------------

@pytest.fixture
def cli(node, monkeypatch):
    for name, value in {"ERESIDENT_REGION": "LJ", "ERESIDENT_DATABASE_URL": node.settings.database_url,
                        "ERESIDENT_DATA_DIR": str(node.settings.data_dir),
                        "ERESIDENT_BASE_URL": node.settings.base_url}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    return lambda *args: runner.invoke(audit_cli, list(args))


def test_cli_checkpoint_prove_and_verify(cli, node):
    record_events(node.ctx.database, 6)
    made = cli("checkpoint")
    assert made.exit_code == 0, made.output
    text = open_signed_note(made.output, "lj.test/audit", public_key_from_file(node))
    _origin, size, root = read_checkpoint(text)

    proved = cli("prove", "3", "--with-event")
    assert proved.exit_code == 0, proved.output
    body = json.loads(proved.output)
    assert body["checkpoint"] == made.output and body["tree_size"] == size
    entry = hashlib.sha256(base64.b64decode(body["salt"]) +
                           __import__("rfc8785").dumps(body["event"])).digest()
    leaf = ref.HASH(b"\x00" + entry)
    assert ref.verify_inclusion(2, size, leaf, [base64.b64decode(h) for h in body["inclusion_path"]], root)
    assert cli("prove", str(size + 1)).exit_code == 1
    assert cli("prove", "1", "--tree-size", str(size + 1)).exit_code == 1

    verified = cli("verify")
    assert verified.exit_code == 0 and verified.output.startswith(f"ok: {size} entries")


def test_cli_verify_names_the_first_bad_entry(cli, node):
    record_events(node.ctx.database, 6)
    assert cli("checkpoint").exit_code == 0
    raw_sql(node.settings.database_url, "UPDATE audit_events SET entity_id = 'other' WHERE seq = 4",
            "DELETE FROM audit_events WHERE seq = 6",
            "UPDATE audit_checkpoints SET note = replace(note, '\n\n', '\n')")
    result = cli("verify")
    assert result.exit_code == 1
    assert "first bad entry: seq 4: the event does not match its leaf" in result.output
    assert "also: checkpoint 1" in result.output


def test_cli_refuses_to_checkpoint_a_rewritten_log(cli, node):
    assert cli("checkpoint").exit_code == 0
    raw_sql(node.settings.database_url, "UPDATE audit_events SET action = 'forged' WHERE seq = 1")
    rebuild_tree(node.ctx.database, node.settings.database_url)
    record_events(node.ctx.database, 1, first=100)
    result = cli("checkpoint")
    assert result.exit_code == 1 and "no longer extends checkpoint" in result.output
