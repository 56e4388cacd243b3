"""Credentials verify with only what the region publishes, and follow the e-resident's status."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.factories import Api, bearer


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture
def resident(node):
    api = Api(node)
    token, app_id = api.to_review()
    reviewer, approver = api.official("lj-reviewer"), api.official("lj-approver")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer), json={"recommendation": "approve"})
    number = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(approver),
                             json={"decision": "approve"}).json()["e_resident_number"]
    return api, token, number, approver


def independent_verify(client, credential: str) -> dict:
    """Verify an SD-JWT VC from the published metadata alone, with `cryptography`, not our code."""
    jws, *disclosures = credential.split("~")
    disclosures = [d for d in disclosures if d]
    header_b64, payload_b64, sig_b64 = jws.split(".")
    header, payload = json.loads(b64d(header_b64)), json.loads(b64d(payload_b64))
    assert header["typ"] == "dc+sd-jwt" and header["alg"] == "EdDSA"
    meta = client.get("/.well-known/jwt-vc-issuer").json()
    assert meta["issuer"] == payload["iss"]
    jwk = next(k for k in meta["jwks"]["keys"] if k["kid"] == header["kid"])
    Ed25519PublicKey.from_public_bytes(b64d(jwk["x"])).verify(b64d(sig_b64), f"{header_b64}.{payload_b64}".encode())
    claims = dict(payload)
    for disclosure in disclosures:
        digest = base64.urlsafe_b64encode(hashlib.sha256(disclosure.encode()).digest()).rstrip(b"=").decode()
        assert digest in payload["_sd"]
        _salt, name, value = json.loads(b64d(disclosure))
        claims[name] = value
    return claims


def status_of(client, claims: dict) -> int:
    ref = claims["status"]["status_list"]
    token = client.get(ref["uri"].replace("http://lj.test", "")).text
    h, p, _s = token.split(".")
    assert json.loads(b64d(h))["typ"] == "statuslist+jwt"
    lst = json.loads(b64d(p))["status_list"]
    raw = zlib.decompress(b64d(lst["lst"]))
    bits, idx = lst["bits"], ref["idx"]
    per_byte = 8 // bits
    return (raw[idx // per_byte] >> ((idx % per_byte) * bits)) & ((1 << bits) - 1)


def test_credential_verifies_from_published_keys_with_an_independent_verifier(resident):
    api, token, number, _ = resident
    credential = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).json()["credential"]
    claims = independent_verify(api.client, credential)
    assert claims["vct"].endswith("e-residency/v1") and claims["e_resident_number"] == number
    assert claims["family_name"] == "BENALI" and claims["birthdate"] == "1990-03-14"
    assert "jwk" in claims["cnf"]
    assert status_of(api.client, claims) == 0


def test_holder_supplied_key_is_bound_and_private_keys_are_refused(resident):
    from joserfc.jwk import OKPKey

    api, token, _number, _ = resident
    holder = OKPKey.generate_key("Ed25519", private=True)
    r = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token),
                        json={"holder_jwk": holder.as_dict(private=False)})
    assert r.status_code == 201 and r.json()["holder_private_jwk"] is None
    claims = independent_verify(api.client, r.json()["credential"])
    assert claims["cnf"]["jwk"]["x"] == holder.as_dict(private=False)["x"]
    r = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token),
                        json={"holder_jwk": holder.as_dict(private=True)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "holder_jwk"


def test_suspension_and_revocation_show_in_the_status_list_and_verify(resident):
    api, token, number, approver = resident
    credential = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).json()["credential"]
    claims = independent_verify(api.client, credential)
    r = api.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(approver),
                        json={"status": "suspended", "reason": "Passport reported stolen."})
    assert r.status_code == 200, r.text
    assert status_of(api.client, claims) == 2
    assert api.client.post("/api/v1/credentials/verify", json={"credential": credential}).json()["status"] == "suspended"
    assert api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).status_code == 409
    api.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(approver),
                    json={"status": "revoked", "reason": "Obtained by deception."})
    assert status_of(api.client, claims) == 1
    verdict = api.client.post("/api/v1/credentials/verify", json={"credential": credential}).json()
    assert verdict["valid"] is False and verdict["status"] == "revoked"
    r = api.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(approver),
                        json={"status": "active", "reason": "Try to undo."})
    assert r.status_code == 409


def test_a_tampered_credential_is_not_valid(resident):
    api, token, _number, _ = resident
    credential = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).json()["credential"]
    jws, rest = credential.split("~", 1)
    h, p, s = jws.split(".")
    payload = json.loads(b64d(p))
    payload["e_resident_number"] = "LJ-ER-2026-999999"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    verdict = api.client.post("/api/v1/credentials/verify", json={"credential": f"{h}.{forged}.{s}~{rest}"}).json()
    assert verdict["valid"] is False and verdict["reason"] == "signature"


def test_reviewer_cannot_change_status(resident):
    api, _token, number, _ = resident
    reviewer = api.official("lj-reviewer")
    r = api.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(reviewer),
                        json={"status": "revoked", "reason": "Not my job."})
    assert r.status_code == 403


def test_a_new_credential_replaces_the_previous_one_and_issuance_is_limited(resident):
    api, token, _number, _ = resident
    first = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).json()["credential"]
    second = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).json()["credential"]
    assert status_of(api.client, independent_verify(api.client, first)) == 1  # replaced
    assert status_of(api.client, independent_verify(api.client, second)) == 0
    for _ in range(3):
        assert api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).status_code == 201
    limited = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "86400"
