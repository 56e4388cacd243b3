"""Pinned bank keys (banking/trust.py, `eresident bank trust …`): a callback is checked only against
keys an operator pinned; the node never fetches a key when it checks one; rotation adds a key,
revocation refuses it, an unreadable trust file refuses everything."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc.jwk import OKPKey
from typer.testing import CliRunner

from eresident.banking import protocol, trust
from eresident.cli import app as cli
from eresident.config import Settings
from eresident.federation.httpsig import SignatureError

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def bank_key(code: str = "SANDBOX") -> OKPKey:
    key = OKPKey.generate_key("Ed25519", private=True)
    return OKPKey.import_key({**key.as_dict(private=True), "kid": f"{code}-bank-{key.thumbprint()[:16]}"})


def keys_document(*keys: OKPKey, code: str = "SANDBOX") -> dict:
    return {"bank": code, "keys": [{**k.as_dict(private=False), "kid": k.kid, "use": "sig", "alg": "EdDSA"}
                                   for k in keys]}


def test_pinning_rotation_revocation_and_refusals(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    first, second = bank_key(), bank_key()
    assert trust.load_bank_trust(settings).banks == {}  # no file: nothing pinned, everything refused
    with pytest.raises(SignatureError) as refused:
        trust.load_bank_trust(settings).resolve(first.kid)
    assert refused.value.code == "key-unknown"

    code, keys = trust.parse_bank_keys(keys_document(first))
    pinned, change = trust.pin(trust.load_bank_trust(settings), code=code, base_url="http://bank.test/", keys=keys,
                               now=NOW)
    assert change.is_new_bank and [k.kid for k in change.new_keys] == [first.kid]
    trust.save_bank_trust(settings, pinned)
    loaded = trust.load_bank_trust(settings)
    assert loaded.banks["SANDBOX"].base_url == "http://bank.test"
    public, bank = loaded.resolve(first.kid)
    assert bank == "SANDBOX" and public.public_bytes_raw() == first.public_key.public_bytes_raw()
    stored = json.loads(trust.trust_path(settings).read_text())
    entry = stored["banks"][0]["keys"][0]
    assert "d" not in entry and entry["pinned_at"] == "2026-11-26T09:00:00Z"  # public members only

    # Rotation: the bank publishes its next key beside the current one, then only the next one.
    _, keys = trust.parse_bank_keys(keys_document(first, second))
    rotated, change = trust.pin(loaded, code="SANDBOX", base_url="http://bank.test", keys=keys, now=NOW)
    assert [k.kid for k in change.new_keys] == [second.kid] and [k.kid for k in change.kept_keys] == [first.kid]
    _, keys = trust.parse_bank_keys(keys_document(second))
    rotated, change = trust.pin(rotated, code="SANDBOX", base_url="http://bank.test", keys=keys, now=NOW)
    assert change.new_keys == [] and [k.kid for k in change.unpublished_keys] == [first.kid]
    assert rotated.resolve(first.kid)[1] == rotated.resolve(second.kid)[1] == "SANDBOX"  # both still pinned

    # A kid that comes back with another public key is refused; so is a document with a private key.
    impostor = OKPKey.import_key({**bank_key().as_dict(private=True), "kid": first.kid})
    with pytest.raises(trust.BankTrustError, match="another public key"):
        trust.pin(rotated, code="SANDBOX", base_url="", keys=trust.parse_bank_keys(keys_document(impostor))[1],
                  now=NOW)
    with pytest.raises(trust.BankTrustError, match="private key"):
        trust.parse_bank_keys({"bank": "SANDBOX", "keys": [{**first.as_dict(private=True), "kid": first.kid}]})
    with pytest.raises(trust.BankTrustError, match="already pinned for bank SANDBOX"):
        trust.pin(rotated, code="OTHER", base_url="", keys=trust.parse_bank_keys(keys_document(first))[1], now=NOW)
    for bad in ({"keys": []}, {"bank": "sandbox", "keys": [{}]}, {"bank": "SANDBOX", "keys": []}, []):
        with pytest.raises(trust.BankTrustError):
            trust.parse_bank_keys(bad)

    revoked = trust.revoke(rotated, first.kid)
    with pytest.raises(SignatureError) as refused:
        revoked.resolve(first.kid)
    assert refused.value.code == "key-revoked"
    assert revoked.resolve(second.kid)[1] == "SANDBOX"
    with pytest.raises(trust.BankTrustError):
        trust.revoke(revoked, "nobody")


class FakeBank:
    """A bank's key endpoint on a real socket that counts every request it gets."""

    def __init__(self, document: dict):
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                outer.hits.append(self.path)
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_bank():
    key = bank_key()
    bank = FakeBank(keys_document(key))
    bank.key = key
    yield bank
    bank.close()


def test_a_callback_is_checked_against_pinned_keys_only_and_no_key_is_ever_fetched(make_node, fake_bank):
    node = make_node(bank_url=fake_bank.url)
    client = node.client()
    url = node.settings.base_url + protocol.CALLBACK_PATH
    env = {"ERESIDENT_DATA_DIR": str(node.settings.data_dir), "ERESIDENT_BANK_URL": fake_bank.url,
           "ERESIDENT_REGION": "LJ"}

    def callback(key: OKPKey):
        event = {"event_id": str(uuid.uuid4()), "request_id": str(uuid.uuid4()), "bank_reference": "SBX1", "seq": 1,
                 "status": "received", "at": protocol.iso(NOW), "detail": {}}
        body = protocol.dumps(event)
        headers = protocol.sign_post(url=url, body=body, private_key=key.private_key, kid=key.kid,
                                     now=node.clock.now(), nonce=event["event_id"])
        return client.post(protocol.CALLBACK_PATH, content=body, headers=headers)

    # Signed by the bank's real, published key, but not pinned: refused, and the bank's key document
    # is not fetched to find it (not even for a kid never seen before).
    for _ in range(2):
        refused = callback(fake_bank.key)
        assert refused.status_code == 401 and refused.json()["type"].endswith("/key-unknown")
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert callback(bank_key()).status_code == 401
    assert fake_bank.hits == []

    # The operator pins it, out of band: the one fetch of the keys document.
    runner = CliRunner()
    added = runner.invoke(cli, ["bank", "trust", "add", fake_bank.url, "--yes"], env=env)
    assert added.exit_code == 0, added.output
    assert fake_bank.key.kid in added.output and trust.fingerprint(fake_bank.key.as_dict()) in added.output
    assert fake_bank.hits == ["/.well-known/bank-keys"]
    again = runner.invoke(cli, ["bank", "trust", "add", fake_bank.url, "--yes"], env=env)
    assert again.exit_code == 0 and "nothing new to pin" in again.output
    shown = runner.invoke(cli, ["bank", "trust", "show"], env=env)
    assert shown.exit_code == 0 and f"SANDBOX {fake_bank.url}" in shown.output

    # Now the signature is accepted (the made-up request is then simply not found)...
    accepted = callback(fake_bank.key)
    assert accepted.status_code == 404 and accepted.json()["title"] == "Bank request not found"
    # ...and a key the bank never published is still refused, still without asking the bank.
    stranger = callback(bank_key())
    assert stranger.status_code == 401 and stranger.json()["type"].endswith("/key-unknown")
    assert len(fake_bank.hits) == 2  # the two `trust add` runs, nothing else

    # Revoked: refused at once. An unreadable trust file refuses everything (503: try again later).
    revoked = runner.invoke(cli, ["bank", "trust", "revoke-key", fake_bank.key.kid], env=env)
    assert revoked.exit_code == 0, revoked.output
    gone = callback(fake_bank.key)
    assert gone.status_code == 401 and gone.json()["type"].endswith("/key-revoked")
    trust.trust_path(node.settings).write_text("{not json")
    broken = callback(fake_bank.key)
    assert broken.status_code == 503 and broken.json()["type"].endswith("/bank-trust-invalid")
    assert len(fake_bank.hits) == 2


def test_trust_add_refuses_a_bad_document_and_asks_before_pinning(tmp_path):
    env = {"ERESIDENT_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    bad = tmp_path / "keys.json"
    key = bank_key()
    bad.write_text(json.dumps({"bank": "SANDBOX", "keys": [{**key.as_dict(private=True), "kid": key.kid}]}))
    refused = runner.invoke(cli, ["bank", "trust", "add", "http://bank.test", "--from-file", str(bad)], env=env)
    assert refused.exit_code == 1 and "private key" in refused.output
    good = tmp_path / "good.json"
    good.write_text(json.dumps(keys_document(key)))
    declined = runner.invoke(cli, ["bank", "trust", "add", "http://bank.test", "--from-file", str(good)], env=env,
                             input="n\n")
    assert declined.exit_code == 1 and not (tmp_path / "data" / "bank-trust.json").exists()
    accepted = runner.invoke(cli, ["bank", "trust", "add", "http://bank.test", "--from-file", str(good)], env=env,
                             input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert (tmp_path / "data" / "bank-trust.json").exists()
    unreachable = runner.invoke(cli, ["bank", "trust", "add", "http://127.0.0.1:9"], env=env)
    assert unreachable.exit_code == 1 and "error:" in unreachable.output
