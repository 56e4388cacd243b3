"""Signatures on the articles made with the signer's own key (the holder key of their e-residency
credential), on each database: the signing input, the JWS a wallet makes (joserfc, as an outside
wallet would), the checks and their refusals (each writing nothing), the case moving on with a
signature made the old way, the offline check `eresident signature verify` run as a subprocess,
and the signing page."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import rfc8785
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import func, select, update

from eresident.audit.models import AuditEvent
from eresident.credentials.models import IssuedCredential
from eresident.enterprise.holder_signatures import HOLDER_SIGNATURE_TYP
from eresident.enterprise.models import Formation, FormationSignature
from eresident.federation.trust import TrustList, parse_node_keys
from tests.enterprise.helpers import Founders, formation_body, reserve
from tests.enterprise.test_pages import signed_in
from tests.factories import bearer

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- an outside wallet

def new_key(kind: str = "P-256") -> ECKey | OKPKey:
    return ECKey.generate_key("P-256", private=True) if kind == "P-256" else OKPKey.generate_key("Ed25519",
                                                                                                  private=True)


def public(key) -> dict:
    return {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}


def wallet_sign(key, payload: bytes | str, *, typ: str = HOLDER_SIGNATURE_TYP, jwk: dict | None = None,
                **header) -> str:
    """What a wallet does with the signing input: a compact JWS with its own key, its public key in
    the header."""
    alg = "ES256" if isinstance(key, ECKey) else "EdDSA"
    protected = {"typ": typ, "alg": alg, "jwk": jwk if jwk is not None else public(key), **header}
    return jws.serialize_compact(protected, payload.encode() if isinstance(payload, str) else payload, key,
                                 algorithms=[alg])


# --------------------------------------------------------------------------- helpers

def counts(node) -> tuple[int, int]:
    with node.ctx.database.session(write=False) as db:
        return (db.scalar(select(func.count()).select_from(FormationSignature)),
                db.scalar(select(func.count()).select_from(AuditEvent)))


def status_of(node, formation_id: str) -> str:
    with node.ctx.database.session(write=False) as db:
        return db.get_one(Formation, uuid.UUID(formation_id)).status


def credential(api, token: str, key=None) -> dict:
    """The e-residency credential, bound to `key` (the person's own) or to a key the node makes."""
    r = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token),
                        json={"holder_jwk": public(key)} if key is not None else {})
    assert r.status_code == 201, r.text
    return r.json()


def signing_input(api, token: str, formation_id: str) -> dict:
    r = api.client.get(f"/api/v1/formations/{formation_id}/signing-input", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def post_jws(api, token: str, formation_id: str, compact: str):
    return api.client.post(f"/api/v1/formations/{formation_id}/signatures", headers=bearer(token),
                           json={"jws": compact})


def refused(r, status: int, code: str, field: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body["type"].endswith("/" + code), body
    assert body["errors"][0]["field"] == field and body["errors"][0]["reason"], body
    return body


@pytest.fixture
def case(api):
    """A submitted formation waiting for two signatures: the founder's and the supervisor's."""
    founders = Founders(api)
    founder_token, founder = founders.new("BENALI")
    supervisor_token, supervisor = founders.new("HADDAD")
    reservation = reserve(api, founder_token).json()
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(reservation["id"], founder, supervisor))
    assert r.status_code == 201, r.text
    formation = r.json()
    r = api.client.post(f"/api/v1/formations/{formation['id']}/submit", headers=bearer(founder_token))
    assert r.status_code == 200 and r.json()["status"] == "awaiting_signatures", r.text
    return {"id": formation["id"], "founder": (founder_token, founder), "supervisor": (supervisor_token, supervisor),
            "body": formation_body(reservation["id"], founder, supervisor)}


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`eresident signature verify …` in its own process, with a node data directory of its own
    (no keys of any region: only what is passed)."""
    env = {**os.environ, "ERESIDENT_DATA_DIR": str(tmp_path / "offline")}
    env.pop("ERESIDENT_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "eresident", "signature", "verify", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- the journey

def test_own_key_and_old_way_start_the_case_and_a_third_party_verifies_offline(api, node, case, tmp_path):
    founder_token, founder = case["founder"]
    supervisor_token, supervisor = case["supervisor"]
    key = new_key("P-256")
    issued = credential(api, founder_token, key)
    assert issued["holder_private_jwk"] is None  # the person's own key: the node never had the private half

    given = signing_input(api, founder_token, case["id"])
    payload = given["payload"]
    articles = api.client.get(f"/api/v1/formations/{case['id']}/articles", headers=bearer(founder_token)).content
    assert payload["document"] == {"sha256": hashlib.sha256(articles).hexdigest(), "media_type": "application/pdf",
                                   "case_number": given["case_number"], "revision": 1}
    assert payload["signer"] == {"e_resident_number": founder, "region": "LJ",
                                 "credential_id": issued["credential_id"]}
    assert payload["purpose"] == "articles-of-association" and payload["aud"] == node.settings.base_url
    assert payload["iat"] == int(node.clock.now().timestamp()) and len(payload["nonce"]) >= 40
    # Exactly what to sign: the RFC 8785 form of the payload.
    assert given["signing_input"].encode() == rfc8785.dumps(payload)
    assert given["protected_header"]["typ"] == HOLDER_SIGNATURE_TYP

    compact = wallet_sign(key, given["signing_input"])
    r = post_jws(api, founder_token, case["id"], compact)
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["method"] == "holder" and row["jws"] == compact and row["e_resident_number"] == founder
    assert row["holder_jwk"] == public(key) and row["credential_id"] == issued["credential_id"]
    assert status_of(node, case["id"]) == "awaiting_signatures"  # the supervisor has not signed yet

    # The supervisor signs the old way (the node's JWS): the case starts and is approved at once.
    sha = payload["document"]["sha256"]
    r = api.client.post(f"/api/v1/formations/{case['id']}/signatures", headers=bearer(supervisor_token),
                        json={"document_sha256": sha})
    assert r.status_code == 201 and r.json()["method"] == "node", r.text
    done = api.client.get(f"/api/v1/formations/{case['id']}", headers=bearer(founder_token)).json()
    assert done["status"] == "approved" and done["uscc"] and done["licence_url"], done
    sigs = api.client.get(f"/api/v1/formations/{case['id']}/signatures", headers=bearer(founder_token)).json()
    assert {(s["e_resident_number"], s["method"]) for s in sigs} == {(founder, "holder"), (supervisor, "node")}
    with node.ctx.database.session(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "formation.signed")
                           .order_by(AuditEvent.seq)).first()
        assert event.after["method"] == "holder" and event.after["credential_id"] == issued["credential_id"]

    # A third party, later and offline: the articles, the JWS, the credential, the region's keys.
    (tmp_path / "articles.pdf").write_bytes(articles)
    (tmp_path / "signature.jws").write_text(compact)
    (tmp_path / "credential.sdjwt").write_text(issued["credential"])
    (tmp_path / "issuer.json").write_text(api.client.get("/.well-known/jwt-vc-issuer").text)
    (tmp_path / "jwks.json").write_text(json.dumps(api.client.get("/.well-known/jwt-vc-issuer").json()["jwks"]))
    node.clock.set(datetime.now(UTC))  # the command judges the status list's age by the real clock
    (tmp_path / "status.jwt").write_text(api.client.get("/status-lists/1").text)
    files = [str(tmp_path / n) for n in ("articles.pdf", "signature.jws", "credential.sdjwt")]
    trust = ["--trust", str(tmp_path / "issuer.json")]

    ok = cli(tmp_path, *files, *trust, "--status-list", str(tmp_path / "status.jwt"))
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["valid"] is True and report["failed"] is None and report["signer"] == founder
    assert [c["check"] for c in report["checks"]] == ["credential", "signature", "signer", "document", "status"]
    assert all(c["ok"] for c in report["checks"]) and report["credential_status"] == "valid"
    # A bare JWKS works as well; without a status list the status is plainly not checked.
    bare = cli(tmp_path, *files, "--trust", str(tmp_path / "jwks.json"))
    assert bare.returncode == 0, bare.stderr
    assert "NOT checked" in json.loads(bare.stdout)["checks"][-1]["detail"]

    # A federation trust list that lists the region (its published node-keys document, as an operator adds it).
    peer = parse_node_keys(api.client.get("/.well-known/eresident/node-keys").json(), own_region="TF")
    (tmp_path / "trust.json").write_text(json.dumps(TrustList([peer]).to_json()))
    listed = cli(tmp_path, *files, "--trust", str(tmp_path / "trust.json"))
    assert listed.returncode == 0, listed.stderr

    # No key of the region at all: the command cannot check (2).
    assert cli(tmp_path, *files).returncode == 2

    # One byte of the PDF changed: the digest check fails.
    tampered = bytearray(articles)
    tampered[len(tampered) // 2] ^= 0x01
    (tmp_path / "tampered.pdf").write_bytes(bytes(tampered))
    bad = cli(tmp_path, str(tmp_path / "tampered.pdf"), *files[1:], *trust)
    assert bad.returncode == 1 and json.loads(bad.stderr)["failed"] == "document", bad.stderr

    # The same payload signed with another key (its own jwk in the header): not the credential's key.
    (tmp_path / "other.jws").write_text(wallet_sign(new_key("P-256"), given["signing_input"]))
    bad = cli(tmp_path, files[0], str(tmp_path / "other.jws"), files[2], *trust)
    assert bad.returncode == 1 and json.loads(bad.stderr)["failed"] == "signature", bad.stderr

    # A credential checked with another region's key (same kid, other key): not the region's.
    forged = json.loads((tmp_path / "issuer.json").read_text())
    forged["jwks"]["keys"] = [{**public(new_key("Ed25519")), "kid": forged["jwks"]["keys"][0]["kid"]}]
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    bad = cli(tmp_path, *files, "--trust", str(tmp_path / "forged.json"))
    assert bad.returncode == 1 and json.loads(bad.stderr)["failed"] == "credential", bad.stderr

    # The e-residency is revoked later: with a status list saved after it, the credential is revoked.
    approver = api.official("lj-approver")  # a new session: the clock moved on to the real time
    r = api.client.post(f"/api/v1/e-residents/{founder}/status", headers=bearer(approver),
                        json={"status": "revoked", "reason": "Obtained by fraud (test)"})
    assert r.status_code == 200, r.text
    (tmp_path / "status-after.jwt").write_text(api.client.get("/status-lists/1").text)
    bad = cli(tmp_path, *files, *trust, "--status-list", str(tmp_path / "status-after.jwt"))
    report = json.loads(bad.stderr)
    assert bad.returncode == 1 and report["failed"] == "status" and report["credential_status"] == "revoked"


def test_a_key_the_node_made_signs_with_eddsa(api, node, case):
    """A person who let the node make their key pair (Ed25519, handed over once) signs with it."""
    founder_token, _founder = case["founder"]
    issued = credential(api, founder_token)
    key = OKPKey.import_key(issued["holder_private_jwk"])
    compact = wallet_sign(key, signing_input(api, founder_token, case["id"])["signing_input"])
    assert _header(compact)["alg"] == "EdDSA" and _header(compact)["jwk"]["crv"] == "Ed25519"
    r = post_jws(api, founder_token, case["id"], compact)
    assert r.status_code == 201 and r.json()["method"] == "holder", r.text


# --------------------------------------------------------------------------- refusals write nothing

def test_each_refusal_names_the_field_and_writes_nothing(api, node, case):
    founder_token, founder = case["founder"]
    supervisor_token, _supervisor = case["supervisor"]
    fid = case["id"]

    # No credential yet: nothing of yours to check a signature with.
    refused(api.client.get(f"/api/v1/formations/{fid}/signing-input", headers=bearer(founder_token)), 409,
            "no-holder-credential", "jws")
    key = new_key("P-256")
    issued = credential(api, founder_token, key)
    given = signing_input(api, founder_token, fid)
    text = given["signing_input"]
    before = counts(node)

    def check(compact: str, status: int, code: str, field: str) -> dict:
        body = refused(post_jws(api, founder_token, fid, compact), status, code, field)
        assert counts(node) == before and status_of(node, fid) == "awaiting_signatures"
        return body

    # Not a JWS at all; a body with both ways or neither.
    check("not-a-jws-but-long-enough", 422, "invalid-jws", "jws")
    both = api.client.post(f"/api/v1/formations/{fid}/signatures", headers=bearer(founder_token),
                           json={"jws": wallet_sign(key, text), "document_sha256": "0" * 64})
    assert both.status_code == 422 and counts(node) == before
    # A bad signature: the payload altered after signing.
    good = wallet_sign(key, text)
    head, _payload, sig = good.split(".")
    altered = json.loads(text) | {"iat": json.loads(text)["iat"] - 1}
    forged = ".".join([head, wallet_sign(key, rfc8785.dumps(altered)).split(".")[1], sig])
    check(forged, 422, "bad-signature", "jws")
    # Another key than the credential's.
    check(wallet_sign(new_key("P-256"), text), 422, "wrong-key", "jws/header/jwk")
    # Another typ (a KB-JWT's), an algorithm not allowed, a private key in the header, alg and key apart.
    check(wallet_sign(key, text, typ="kb+jwt"), 422, "invalid-jws", "jws/header/typ")
    check(wallet_sign(key, text, jwk=key.as_dict(private=True)), 422, "invalid-jws", "jws/header/jwk")
    hs = ".".join([_b64(json.dumps({"typ": HOLDER_SIGNATURE_TYP, "alg": "HS256", "jwk": public(key)})),
                   good.split(".")[1], sig])
    check(hs, 422, "invalid-jws", "jws/header/alg")
    # A digest of other bytes (validly signed): the existing stale-document problem, naming the digest.
    other = json.loads(text)
    other["document"]["sha256"] = hashlib.sha256(b"other bytes").hexdigest()
    body = check(wallet_sign(key, rfc8785.dumps(other)), 409, "stale-document", "jws/payload/document/sha256")
    assert body["current_sha256"] == given["articles_sha256"]
    # A payload the node did not give (a made-up nonce), or for another signer.
    made_up = json.loads(text) | {"nonce": "A" * 43}
    check(wallet_sign(key, rfc8785.dumps(made_up)), 422, "not-signing-input", "jws/payload/nonce")
    someone = json.loads(text)
    someone["signer"]["e_resident_number"] = "LJ-ER-2026-999999"
    check(wallet_sign(key, rfc8785.dumps(someone)), 422, "not-signing-input",
          "jws/payload/signer/e_resident_number")
    # Too old: the signing input is good for 30 minutes.
    node.clock.advance(timedelta(minutes=31))
    check(wallet_sign(key, text), 422, "signing-input-expired", "jws/payload/iat")

    # The credential replaced by a new one (the old one is revoked on the status list): its key is refused.
    fresh = signing_input(api, founder_token, fid)["signing_input"]
    credential(api, founder_token, new_key("P-256"))
    before = counts(node)
    check(wallet_sign(key, fresh), 409, "credential-not-valid", "jws/header/jwk")

    # An expired credential.
    key2 = new_key("Ed25519")
    credential(api, founder_token, key2)
    fresh = signing_input(api, founder_token, fid)["signing_input"]
    with node.ctx.database.session(write=True) as db:
        db.execute(update(IssuedCredential).where(IssuedCredential.subject_type == "e_resident")
                   .values(expires_at=node.clock.now() - timedelta(days=1)))
    before = counts(node)
    check(wallet_sign(key2, fresh), 409, "credential-expired", "jws/header/jwk")
    with node.ctx.database.session(write=True) as db:
        db.execute(update(IssuedCredential).where(IssuedCredential.subject_type == "e_resident")
                   .values(expires_at=node.clock.now() + timedelta(days=700)))

    # The articles change after the signing input was given: the old JWS is on other bytes.
    stale = wallet_sign(key2, fresh)
    r = api.client.put(f"/api/v1/formations/{fid}", headers=bearer(founder_token),
                       json=case["body"] | {"registered_capital": "2000000"})
    assert r.status_code == 200, r.text
    before = counts(node)
    check(stale, 409, "stale-document", "jws/payload/document/sha256")

    # Signed once, then the same JWS again: a replay.
    once = wallet_sign(key2, signing_input(api, founder_token, fid)["signing_input"])
    assert post_jws(api, founder_token, fid, once).status_code == 201
    before = counts(node)
    check(once, 409, "replayed-signature", "jws/payload/nonce")

    # Someone who is not a signatory learns nothing; a suspended signer cannot sign.
    assert api.client.get(f"/api/v1/formations/{fid}/signing-input",
                          headers=bearer(api.applicant())).status_code == 404
    approver = api.session_of("lj-approver")
    assert api.client.post(f"/api/v1/e-residents/{founder}/status", headers=bearer(approver),
                           json={"status": "suspended", "reason": "Checking a report (test)"}).status_code == 200
    before = counts(node)
    r = post_jws(api, founder_token, fid, once)
    assert r.status_code == 403 and counts(node) == before
    assert issued["credential_id"]  # the first credential stays on record as replaced
    assert supervisor_token


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _header(compact: str) -> dict:
    part = compact.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --------------------------------------------------------------------------- the page

def test_the_signing_page_offers_signing_with_your_own_key(api, node, case):
    founder_token, _founder = case["founder"]
    supervisor_token, _supervisor = case["supervisor"]
    url = f"/my/companies/{case['id']}"

    # Without a credential there is no key of one's own to sign with: only the session signing.
    s = signed_in(node, supervisor_token)
    page = s.get(f"{url}/sign")
    assert page.status_code == 200 and "Sign the articles" in page.text
    assert "Or sign with your own key" not in page.text

    key = new_key("P-256")
    credential(api, founder_token, key)
    b = signed_in(node, founder_token)
    page = b.get(f"{url}/sign")
    assert "Or sign with your own key" in page.text and 'action="' + url + '/sign-with-key"' in page.text
    assert 'name="confirm"' in page.text  # the session signing stays
    text = html.unescape(re.search(r'<textarea id="signing_input"[^>]*>([^<]*)</textarea>', page.text).group(1))
    assert json.loads(text)["document"]["case_number"]

    # An empty box, then a JWS made with another key: the message beside the box, nothing written.
    before = counts(node)
    r = b.post(f"{url}/sign-with-key", {"jws": ""})
    assert r.status_code == 422 and 'id="jws-error"' in r.text and 'aria-invalid="true"' in r.text
    assert counts(node) == before
    other = wallet_sign(new_key("P-256"), text)
    r = b.post(f"{url}/sign-with-key", {"jws": other})
    assert r.status_code == 422 and 'id="jws-error"' in r.text
    assert "not the holder key of your e-residency credential" in r.text and other in r.text
    assert counts(node) == before

    b.get(f"{url}/sign")
    r = b.post(f"{url}/sign-with-key", {"jws": wallet_sign(key, text)})
    assert r.status_code == 303 and r.headers["location"] == url, r.text
    with node.ctx.database.session(write=False) as db:
        row = db.scalars(select(FormationSignature)).one()
        assert row.method == "holder" and row.nonce == json.loads(text)["nonce"]

    # The supervisor signs on the page the old way: the company is registered.
    s.get(f"{url}/sign")
    digest = re.search(r'name="document_sha256" value="([0-9a-f]{64})"', s.page.text).group(1)
    assert s.post(f"{url}/sign", {"document_sha256": digest, "confirm": "yes"}).status_code == 303
    assert "Your company is registered" in b.get(url).text
