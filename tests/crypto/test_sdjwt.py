"""Tests for SD-JWT VC issuance, presentation with key binding, and verification failure reasons."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey

from eresident.crypto.sdjwt import (
    CredentialError,
    VerifiedCredential,
    issue_sd_jwt_vc,
    jwk_thumbprint,
    present,
    verify_sd_jwt_vc,
)

ISSUER = "https://liangjiang.example/issuer"
VCT = "https://eresident.example/vct/residency"
AUD = "https://verifier.example"
NONCE = "n-0S6_WzA2Mj"
T0 = 1_700_000_000
EXP = T0 + 86_400
STATUS = {"status_list": {"idx": 5, "uri": "https://liangjiang.example/status/1"}}
CLAIMS = {"sub": "resident-42", "residency_region": "liangjiang"}
DISCLOSABLE = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "birthdate": "1815-12-10",
    "nationality": ["GB"],
    "address": {"locality": "Chongqing", "country": "CN"},
}


# --------------------------------------------------------------------------- fixtures/helpers


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jdump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def ed_issuer() -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": "issuer-ed"})


@pytest.fixture(scope="module")
def ec_issuer() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "issuer-p256"})


@pytest.fixture(scope="module")
def ed_holder() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


@pytest.fixture(scope="module")
def ec_holder() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def resolver(ed_issuer: OKPKey, ec_issuer: ECKey):
    public = {
        (ISSUER, "issuer-ed"): OKPKey.import_key(ed_issuer.as_dict(private=False)),
        (ISSUER, "issuer-p256"): ECKey.import_key(ec_issuer.as_dict(private=False)),
    }

    def resolve(iss: str, kid: str) -> object:
        return public.get((iss, kid))

    return resolve


def issue(key: OKPKey | ECKey, holder: OKPKey | ECKey, **overrides: Any) -> str:
    args: dict[str, Any] = dict(
        signing_key=key,
        issuer=ISSUER,
        vct=VCT,
        claims=CLAIMS,
        disclosable=DISCLOSABLE,
        holder_jwk=holder.as_dict(private=False),
        issued_at=T0,
        expires_at=EXP,
        status=STATUS,
    )
    args.update(overrides)
    return issue_sd_jwt_vc(**args)


def verify(presentation: str, resolver, **kwargs: Any) -> VerifiedCredential:
    kwargs.setdefault("now", T0 + 100)
    return verify_sd_jwt_vc(presentation, resolve_key=resolver, **kwargs)


def reason_of(presentation: str, resolver, **kwargs: Any) -> str:
    with pytest.raises(CredentialError) as info:
        verify(presentation, resolver, **kwargs)
    assert info.value.message  # always a human-readable explanation too
    return info.value.reason


def split(sd_jwt: str) -> tuple[str, list[str], str]:
    parts = sd_jwt.split("~")
    return parts[0], parts[1:-1], parts[-1]


def decode_part(segment: str) -> dict[str, Any]:
    return json.loads(b64d(segment))


def ed_sign(key: OKPKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Sign a JWS with `cryptography` directly, so crafted tokens do not depend on the module."""
    signing_input = f"{b64e(jdump(header))}.{b64e(jdump(payload))}"
    signature = key.get_op_key("sign").sign(signing_input.encode())
    return f"{signing_input}.{b64e(signature)}"


def make_disclosure(name: str, value: Any, salt: str = "c2FsdHNhbHRzYWx0c2FsdA") -> str:
    return b64e(jdump([salt, name, value]))


def digest(disclosure: str) -> str:
    return b64e(hashlib.sha256(disclosure.encode("ascii")).digest())


def crafted_payload(holder: OKPKey | ECKey, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "iat": T0,
        "exp": EXP,
        "vct": VCT,
        "cnf": {"jwk": holder.as_dict(private=False)},
        "_sd_alg": "sha-256",
    }
    payload.update(extra)
    return payload


ED_HEADER = {"typ": "dc+sd-jwt", "alg": "EdDSA", "kid": "issuer-ed"}


# --------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("issuer_name", ["ed_issuer", "ec_issuer"])
@pytest.mark.parametrize("holder_name", ["ed_holder", "ec_holder"])
def test_issue_then_verify_round_trip(request, resolver, issuer_name, holder_name):
    key = request.getfixturevalue(issuer_name)
    holder = request.getfixturevalue(holder_name)
    sd_jwt = issue(key, holder)
    assert sd_jwt.endswith("~")
    jwt, disclosures, kb = split(sd_jwt)
    assert kb == "" and len(disclosures) == len(DISCLOSABLE)

    result = verify(sd_jwt, resolver)
    expected_alg = "EdDSA" if issuer_name == "ed_issuer" else "ES256"
    assert result.header == {"typ": "dc+sd-jwt", "alg": expected_alg, "kid": key.kid}
    assert result.issuer == ISSUER and result.vct == VCT
    assert result.status == STATUS
    assert result.holder_jwk == holder.as_dict(private=False)
    assert result.key_bound is False
    assert result.disclosed == DISCLOSABLE
    for name, value in {**CLAIMS, **DISCLOSABLE}.items():
        assert result.payload[name] == value
    assert "_sd" not in result.payload and "_sd_alg" not in result.payload
    assert result.payload["iat"] == T0 and result.payload["exp"] == EXP


@pytest.mark.parametrize("issuer_name", ["ed_issuer", "ec_issuer"])
def test_presentation_with_key_binding(request, resolver, issuer_name, ec_holder):
    sd_jwt = issue(request.getfixturevalue(issuer_name), ec_holder)
    presentation = present(
        sd_jwt,
        disclose=["given_name", "address"],
        holder_key=ec_holder,
        audience=AUD,
        nonce=NONCE,
        issued_at=T0 + 50,
    )
    result = verify(
        presentation,
        resolver,
        expected_audience=AUD,
        expected_nonce=NONCE,
        require_key_binding=True,
    )
    assert result.key_bound is True
    assert result.disclosed == {"given_name": "Ada", "address": DISCLOSABLE["address"]}


def test_selective_disclosure_hides_the_rest(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    presentation = present(sd_jwt, disclose=["birthdate"])
    result = verify(presentation, resolver)
    assert result.disclosed == {"birthdate": "1815-12-10"}
    hidden = set(DISCLOSABLE) - {"birthdate"}
    assert not hidden & set(result.payload)
    assert not hidden & set(result.disclosed)
    # The hidden values must not travel at all, not merely be dropped by the verifier.
    _, disclosures, _ = split(presentation)
    sent_names = {json.loads(b64d(d))[1] for d in disclosures}
    assert sent_names == {"birthdate"}
    assert "Lovelace" not in json.dumps([json.loads(b64d(d)) for d in disclosures])
    # Always-visible claims stay visible even when nothing is disclosed.
    nothing = verify(present(sd_jwt, disclose=[]), resolver)
    assert nothing.disclosed == {}
    assert nothing.payload["sub"] == "resident-42"


def test_present_ignores_unknown_and_clear_claim_names(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    result = verify(present(sd_jwt, disclose=["sub", "no_such", "given_name"]), resolver)
    assert result.disclosed == {"given_name": "Ada"}


def test_decoy_digests_are_present_and_ignored(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    jwt, disclosures, _ = split(sd_jwt)
    sd = decode_part(jwt.split(".")[1])["_sd"]
    assert sd == sorted(sd)
    real = {digest(d) for d in disclosures}
    decoys = set(sd) - real
    assert real <= set(sd)
    assert 2 <= len(decoys) <= 4
    assert len(set(sd)) == len(sd)
    # With only decoys and unpresented digests left, verification still succeeds.
    assert verify(present(sd_jwt, disclose=[]), resolver).disclosed == {}


def test_legacy_vc_sd_jwt_typ_is_accepted(resolver, ed_issuer, ed_holder):
    d = make_disclosure("given_name", "Ada")
    payload = crafted_payload(ed_holder, _sd=[digest(d)])
    token = ed_sign(ed_issuer, {**ED_HEADER, "typ": "vc+sd-jwt"}, payload)
    assert verify(f"{token}~{d}~", resolver).disclosed == {"given_name": "Ada"}


def test_array_element_and_nested_disclosures_are_processed(resolver, ed_issuer, ed_holder):
    # Our issuer only makes top-level disclosures, but credentials from other issuers may nest.
    element = b64e(jdump(["c2FsdA", "FR"]))
    locality = make_disclosure("locality", "Chengdu")
    address = make_disclosure("address", {"_sd": [digest(locality)], "country": "CN"})
    payload = crafted_payload(
        ed_holder,
        nationalities=["CN", {"...": digest(element)}, {"...": b64e(b"x" * 32)}],
        _sd=[digest(address)],
    )
    token = ed_sign(ed_issuer, ED_HEADER, payload)
    result = verify(f"{token}~{element}~{address}~{locality}~", resolver)
    assert result.payload["nationalities"] == ["CN", "FR"]
    assert result.payload["address"] == {"country": "CN", "locality": "Chengdu"}
    assert result.disclosed == {"address": {"country": "CN", "locality": "Chengdu"}}


def test_leeway_tolerates_small_clock_skew(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    assert verify(sd_jwt, resolver, now=EXP + 59).issuer == ISSUER
    assert verify(sd_jwt, resolver, now=T0 - 59).issuer == ISSUER


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chosen=st.sets(st.sampled_from(sorted(DISCLOSABLE))))
def test_any_subset_discloses_exactly_that_subset(resolver, ed_issuer, ed_holder, chosen):
    presentation = present(
        issue(ed_issuer, ed_holder),
        disclose=chosen,
        holder_key=ed_holder,
        audience=AUD,
        nonce=NONCE,
        issued_at=T0 + 50,
    )
    result = verify(presentation, resolver, expected_audience=AUD, expected_nonce=NONCE)
    assert result.disclosed == {k: DISCLOSABLE[k] for k in chosen}
    assert set(result.payload) & set(DISCLOSABLE) == chosen


# --------------------------------------------------------------------------- independent checks


def test_outside_tools_can_verify_ed25519_signature_and_digests(ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    jwt, disclosures, _ = split(sd_jwt)
    header_b64, payload_b64, sig_b64 = jwt.split(".")
    x = ed_issuer.as_dict(private=False)["x"]
    # Raises InvalidSignature if the module's JWS were not a standard Ed25519 JWS.
    Ed25519PublicKey.from_public_bytes(b64d(x)).verify(
        b64d(sig_b64), f"{header_b64}.{payload_b64}".encode()
    )
    payload = decode_part(payload_b64)
    assert payload["_sd_alg"] == "sha-256"
    assert payload["cnf"] == {"jwk": ed_holder.as_dict(private=False)}
    by_name = {}
    for d in disclosures:
        salt, name, value = json.loads(b64d(d).decode("utf-8"))
        assert len(b64d(salt)) == 16  # 128-bit salt
        by_name[name] = (value, d)
    assert {k: v[0] for k, v in by_name.items()} == DISCLOSABLE
    value, disclosure = by_name["family_name"]
    hand_digest = base64.urlsafe_b64encode(
        hashlib.sha256(disclosure.encode("ascii")).digest()
    ).decode().rstrip("=")
    assert hand_digest in payload["_sd"]


def test_outside_tools_can_verify_es256_signature_and_sd_hash(ec_issuer, ec_holder):
    presentation = present(
        issue(ec_issuer, ec_holder),
        disclose=["given_name"],
        holder_key=ec_holder,
        audience=AUD,
        nonce=NONCE,
        issued_at=T0,
    )
    jwt, _, kb = split(presentation)

    def es256_verify(token: str, jwk: dict[str, str]) -> None:
        h, p, s = token.split(".")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64d(jwk["x"]), "big"),
            int.from_bytes(b64d(jwk["y"]), "big"),
            ec.SECP256R1(),
        )
        raw = b64d(s)
        assert len(raw) == 64  # JWS ES256 is raw r||s, not DER
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        numbers.public_key().verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))

    es256_verify(jwt, ec_issuer.as_dict(private=False))
    es256_verify(kb, ec_holder.as_dict(private=False))
    kb_header, kb_payload = decode_part(kb.split(".")[0]), decode_part(kb.split(".")[1])
    assert kb_header == {"typ": "kb+jwt", "alg": "ES256"}
    bound_part = presentation[: presentation.rindex("~") + 1]
    assert kb_payload == {
        "iat": T0,
        "aud": AUD,
        "nonce": NONCE,
        "sd_hash": b64e(hashlib.sha256(bound_part.encode("ascii")).digest()),
    }


def test_jwk_thumbprint_matches_rfc8037_vector_and_ignores_extra_members():
    # RFC 8037 Appendix A.3.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert jwk_thumbprint({**jwk, "kid": "x", "use": "sig"}) == jwk_thumbprint(jwk)


def test_jwk_thumbprint_ec_matches_hand_computation(ec_holder):
    jwk = ec_holder.as_dict(private=False)
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    assert jwk_thumbprint({**jwk, "kid": "k"}) == b64e(hashlib.sha256(canonical.encode()).digest())
    with pytest.raises(ValueError):
        jwk_thumbprint({"kty": "nope"})


# --------------------------------------------------------------------------- issuer-side failures


def test_tampered_payload_is_a_signature_failure(resolver, ed_issuer, ed_holder):
    jwt, disclosures, _ = split(issue(ed_issuer, ed_holder))
    h, p, s = jwt.split(".")
    payload = decode_part(p)
    payload["residency_region"] = "tianfu"
    forged = f"{h}.{b64e(jdump(payload))}.{s}"
    assert reason_of(forged + "~" + "".join(d + "~" for d in disclosures), resolver) == "signature"


def test_tampered_signature_is_a_signature_failure(resolver, ec_issuer, ed_holder):
    sd_jwt = issue(ec_issuer, ed_holder)
    jwt, rest = sd_jwt.split("~", 1)
    h, p, s = jwt.split(".")
    raw = bytearray(b64d(s))
    raw[10] ^= 0x01
    assert reason_of(f"{h}.{p}.{b64e(bytes(raw))}~{rest}", resolver) == "signature"


def test_signature_by_another_key_is_rejected(resolver, ed_holder):
    impostor = OKPKey.generate_key("Ed25519", parameters={"kid": "issuer-ed"})
    assert reason_of(issue(impostor, ed_holder), resolver) == "signature"


def test_key_of_wrong_type_for_alg_is_rejected(ed_issuer, ec_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    ec_public = ECKey.import_key(ec_issuer.as_dict(private=False))
    with pytest.raises(CredentialError) as info:
        verify_sd_jwt_vc(sd_jwt, resolve_key=lambda iss, kid: ec_public, now=T0)
    assert info.value.reason == "signature"


def test_tampered_disclosure_is_rejected(resolver, ed_issuer, ed_holder):
    jwt, disclosures, _ = split(issue(ed_issuer, ed_holder))
    salt, name, _ = json.loads(b64d(disclosures[0]))
    forged = make_disclosure(name, "Mallory", salt=salt)
    assert reason_of(f"{jwt}~{forged}~", resolver) == "disclosure"


def test_extra_unreferenced_disclosure_is_rejected(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    assert reason_of(sd_jwt + make_disclosure("is_admin", True) + "~", resolver) == "disclosure"


def test_disclosure_from_another_credential_is_rejected(resolver, ed_issuer, ed_holder):
    _, other_disclosures, _ = split(issue(ed_issuer, ed_holder))
    jwt, _, _ = split(issue(ed_issuer, ed_holder))
    assert reason_of(f"{jwt}~{other_disclosures[0]}~", resolver) == "disclosure"


def test_duplicate_disclosure_is_rejected(resolver, ed_issuer, ed_holder):
    jwt, disclosures, _ = split(issue(ed_issuer, ed_holder))
    assert reason_of(f"{jwt}~{disclosures[0]}~{disclosures[0]}~", resolver) == "disclosure"


def test_disclosed_name_colliding_with_clear_claim_is_rejected(resolver, ed_issuer, ed_holder):
    d = make_disclosure("sub", "someone-else")
    payload = crafted_payload(ed_holder, sub="resident-42", _sd=[digest(d)])
    token = ed_sign(ed_issuer, ED_HEADER, payload)
    assert verify(f"{token}~", resolver).payload["sub"] == "resident-42"
    assert reason_of(f"{token}~{d}~", resolver) == "disclosure"


def test_digest_listed_twice_is_rejected(resolver, ed_issuer, ed_holder):
    d = make_disclosure("given_name", "Ada")
    token = ed_sign(ed_issuer, ED_HEADER, crafted_payload(ed_holder, _sd=[digest(d), digest(d)]))
    assert reason_of(f"{token}~{d}~", resolver) == "disclosure"


def test_digest_reused_in_two_places_is_rejected(resolver, ed_issuer, ed_holder):
    # No name collision here: the second use is in a nested object, so only the
    # "each digest at most once" rule (RFC 9901 §7.1) catches it.
    d = make_disclosure("given_name", "Ada")
    payload = crafted_payload(ed_holder, _sd=[digest(d)], nested={"_sd": [digest(d)]})
    token = ed_sign(ed_issuer, ED_HEADER, payload)
    assert reason_of(f"{token}~{d}~", resolver) == "disclosure"
    # Even an unpresented (decoy-like) digest may not appear twice.
    assert reason_of(f"{token}~", resolver) == "disclosure"


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_disclosure_with_reserved_name_is_rejected(resolver, ed_issuer, ed_holder, name):
    d = make_disclosure(name, ["x"])
    token = ed_sign(ed_issuer, ED_HEADER, crafted_payload(ed_holder, _sd=[digest(d)]))
    assert reason_of(f"{token}~{d}~", resolver) == "disclosure"


@pytest.mark.parametrize(
    "bad",
    ["not*base64", b64e(b"not json"), b64e(jdump(["only-salt"])), b64e(jdump({"a": 1}))],
)
def test_malformed_disclosure_is_rejected(resolver, ed_issuer, ed_holder, bad):
    assert reason_of(issue(ed_issuer, ed_holder) + bad + "~", resolver) == "disclosure"


def test_unsupported_sd_alg_is_rejected(resolver, ed_issuer, ed_holder):
    token = ed_sign(ed_issuer, ED_HEADER, crafted_payload(ed_holder, _sd_alg="sha-512"))
    assert reason_of(f"{token}~", resolver) == "format"


@pytest.mark.parametrize("typ", ["JWT", "kb+jwt", None])
def test_wrong_typ_is_rejected(resolver, ed_issuer, ed_holder, typ):
    header = {k: v for k, v in {**ED_HEADER, "typ": typ}.items() if v is not None}
    token = ed_sign(ed_issuer, header, crafted_payload(ed_holder))
    assert reason_of(f"{token}~", resolver) == "typ"


def test_alg_none_is_rejected(resolver, ed_holder):
    header = {"typ": "dc+sd-jwt", "alg": "none", "kid": "issuer-ed"}
    token = f"{b64e(jdump(header))}.{b64e(jdump(crafted_payload(ed_holder)))}."
    assert reason_of(f"{token}~", resolver) == "format"  # empty signature segment
    token_with_sig = token + b64e(b"\x00" * 64)
    assert reason_of(f"{token_with_sig}~", resolver) == "signature"


def test_hmac_alg_is_rejected(resolver, ed_issuer, ed_holder):
    # Classic confusion attack: HS256 keyed with the issuer's public key bytes.
    import hmac as _hmac

    header = {"typ": "dc+sd-jwt", "alg": "HS256", "kid": "issuer-ed"}
    signing_input = f"{b64e(jdump(header))}.{b64e(jdump(crafted_payload(ed_holder)))}"
    secret = b64d(ed_issuer.as_dict(private=False)["x"])
    sig = _hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert reason_of(f"{signing_input}.{b64e(sig)}~", resolver) == "signature"


def test_unknown_kid_is_rejected(resolver, ed_holder):
    stranger = OKPKey.generate_key("Ed25519", parameters={"kid": "who-am-i"})
    assert reason_of(issue(stranger, ed_holder), resolver) == "unknown_key"


def test_resolver_exception_is_unknown_key(ed_issuer, ed_holder):
    def boom(iss: str, kid: str) -> object:
        raise LookupError("untrusted issuer")

    with pytest.raises(CredentialError) as info:
        verify_sd_jwt_vc(issue(ed_issuer, ed_holder), resolve_key=boom, now=T0)
    assert info.value.reason == "unknown_key"


def test_resolver_receives_issuer_and_kid(ed_issuer, ed_holder):
    seen = []
    public = OKPKey.import_key(ed_issuer.as_dict(private=False))

    def resolve(iss: str, kid: str) -> object:
        seen.append((iss, kid))
        return public.as_dict()  # a JWK dict is accepted too

    verify_sd_jwt_vc(issue(ed_issuer, ed_holder), resolve_key=resolve, now=T0)
    assert seen == [(ISSUER, "issuer-ed")]


def test_missing_kid_is_unknown_key(resolver, ed_issuer, ed_holder):
    header = {"typ": "dc+sd-jwt", "alg": "EdDSA"}
    token = ed_sign(ed_issuer, header, crafted_payload(ed_holder))
    assert reason_of(f"{token}~", resolver) == "unknown_key"


def test_missing_iss_is_issuer_failure(resolver, ed_issuer, ed_holder):
    payload = crafted_payload(ed_holder)
    del payload["iss"]
    assert reason_of(ed_sign(ed_issuer, ED_HEADER, payload) + "~", resolver) == "issuer"


def test_expired_credential(resolver, ed_issuer, ed_holder):
    assert reason_of(issue(ed_issuer, ed_holder), resolver, now=EXP + 60) == "expired"


def test_credential_not_yet_valid(resolver, ed_issuer, ed_holder):
    assert reason_of(issue(ed_issuer, ed_holder), resolver, now=T0 - 61) == "not_yet_valid"
    token = ed_sign(ed_issuer, ED_HEADER, crafted_payload(ed_holder, nbf=T0 + 1000))
    assert reason_of(f"{token}~", resolver, now=T0 + 100) == "not_yet_valid"


def test_non_numeric_time_claim_is_format(resolver, ed_issuer, ed_holder):
    token = ed_sign(ed_issuer, ED_HEADER, crafted_payload(ed_holder, exp="tomorrow"))
    assert reason_of(f"{token}~", resolver) == "format"


def test_unexpected_vct_is_typ_failure(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    assert verify(sd_jwt, resolver, expected_vct=VCT).vct == VCT
    assert reason_of(sd_jwt, resolver, expected_vct="https://other/vct") == "typ"


def test_missing_cnf_is_format(resolver, ed_issuer, ed_holder):
    payload = crafted_payload(ed_holder)
    del payload["cnf"]
    assert reason_of(ed_sign(ed_issuer, ED_HEADER, payload) + "~", resolver) == "format"


@pytest.mark.parametrize(
    "garbage",
    ["", "no-tilde-here", "a.b.c~", "~~", "eyJhbGciOiJFZERTQSJ9.e30.AAAA~x~~", 42],
)
def test_garbage_is_format(resolver, garbage):
    assert reason_of(garbage, resolver) == "format"


def test_empty_disclosure_slot_is_format(resolver, ed_issuer, ed_holder):
    jwt, disclosures, _ = split(issue(ed_issuer, ed_holder))
    assert reason_of(f"{jwt}~{disclosures[0]}~~", resolver) == "format"


def test_duplicate_json_member_in_payload_is_format(resolver, ed_issuer, ed_holder):
    header_b64 = b64e(jdump(ED_HEADER))
    body = jdump(crafted_payload(ed_holder))[:-1] + b',"iss":"https://evil"}'
    signing_input = f"{header_b64}.{b64e(body)}"
    sig = ed_issuer.get_op_key("sign").sign(signing_input.encode())
    assert reason_of(f"{signing_input}.{b64e(sig)}~", resolver) == "format"


def test_crit_header_is_format(resolver, ed_issuer, ed_holder):
    header = {**ED_HEADER, "crit": ["exp_ext"], "exp_ext": 1}
    token = ed_sign(ed_issuer, header, crafted_payload(ed_holder))
    assert reason_of(f"{token}~", resolver) == "format"


# --------------------------------------------------------------------------- key binding failures


@pytest.fixture(scope="module")
def bound(ed_issuer, ed_holder) -> tuple[str, str]:
    """(issued SD-JWT, presentation bound with aud=AUD nonce=NONCE iat=T0+50)."""
    sd_jwt = issue(ed_issuer, ed_holder)
    return sd_jwt, bind(sd_jwt, ed_holder)


def bind(sd_jwt: str, holder: OKPKey | ECKey) -> str:
    """Disclose given_name, bound with aud=AUD, nonce=NONCE, iat=T0+50."""
    return present(
        sd_jwt,
        disclose=["given_name"],
        holder_key=holder,
        audience=AUD,
        nonce=NONCE,
        issued_at=T0 + 50,
    )


def kb_check(presentation: str, resolver, **kwargs: Any) -> str:
    kwargs.setdefault("expected_audience", AUD)
    kwargs.setdefault("expected_nonce", NONCE)
    return reason_of(presentation, resolver, **kwargs)


def test_bound_presentation_verifies(resolver, bound):
    assert verify(bound[1], resolver, expected_audience=AUD, expected_nonce=NONCE).key_bound


def test_kb_jwt_signed_with_wrong_key(resolver, bound, ec_holder):
    sd_jwt, _ = bound
    assert kb_check(bind(sd_jwt, ec_holder), resolver) == "key_binding"
    other_ed = OKPKey.generate_key("Ed25519")
    assert kb_check(bind(sd_jwt, other_ed), resolver) == "key_binding"


def test_kb_jwt_wrong_nonce(resolver, bound):
    assert kb_check(bound[1], resolver, expected_nonce="another-nonce") == "nonce"


def test_kb_jwt_wrong_audience(resolver, bound):
    assert kb_check(bound[1], resolver, expected_audience="https://evil.example") == "audience"


def test_kb_jwt_with_tampered_sd_hash(resolver, bound, ed_holder):
    sd_jwt, presentation = bound
    without_kb = presentation[: presentation.rindex("~") + 1]
    wrong_hash = b64e(hashlib.sha256(b"x").digest())
    kb_payload = {"iat": T0 + 50, "aud": AUD, "nonce": NONCE, "sd_hash": wrong_hash}
    forged = without_kb + ed_sign(ed_holder, {"typ": "kb+jwt", "alg": "EdDSA"}, kb_payload)
    assert kb_check(forged, resolver) == "key_binding"


def test_disclosure_added_after_binding_breaks_sd_hash(resolver, bound):
    sd_jwt, presentation = bound
    _, all_disclosures, _ = split(sd_jwt)
    jwt, presented, kb = split(presentation)
    extra = next(d for d in all_disclosures if d not in presented)
    forged = f"{jwt}~{presented[0]}~{extra}~{kb}"
    assert kb_check(forged, resolver) == "key_binding"
    stripped = f"{jwt}~{kb}"
    assert kb_check(stripped, resolver) == "key_binding"


def test_key_binding_required_but_absent(resolver, bound):
    sd_jwt, _ = bound
    unbound = present(sd_jwt, disclose=["given_name"])
    assert verify(unbound, resolver).key_bound is False
    assert kb_check(unbound, resolver, require_key_binding=True) == "key_binding"


def test_kb_jwt_wrong_typ(resolver, bound, ed_holder):
    presentation = bound[1]
    without_kb = presentation[: presentation.rindex("~") + 1]
    sd_hash = b64e(hashlib.sha256(without_kb.encode()).digest())
    kb_payload = {"iat": T0 + 50, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash}
    good = without_kb + ed_sign(ed_holder, {"typ": "kb+jwt", "alg": "EdDSA"}, kb_payload)
    assert verify(good, resolver, expected_audience=AUD, expected_nonce=NONCE).key_bound
    forged = without_kb + ed_sign(ed_holder, {"typ": "JWT", "alg": "EdDSA"}, kb_payload)
    assert kb_check(forged, resolver) == "key_binding"
    missing_nonce = {k: v for k, v in kb_payload.items() if k != "nonce"}
    forged = without_kb + ed_sign(ed_holder, {"typ": "kb+jwt", "alg": "EdDSA"}, missing_nonce)
    assert kb_check(forged, resolver, expected_nonce=None) == "key_binding"


def test_kb_jwt_too_old_or_from_the_future(resolver, bound):
    presentation = bound[1]  # iat = T0 + 50, default kb_max_age 300, leeway 60
    assert verify(presentation, resolver, now=T0 + 50 + 300).key_bound
    assert kb_check(presentation, resolver, now=T0 + 50 + 300 + 61) == "key_binding"
    assert kb_check(presentation, resolver, now=T0 + 50 - 61) == "key_binding"


def test_garbage_kb_jwt_is_key_binding_failure(resolver, bound):
    presentation = bound[1]
    without_kb = presentation[: presentation.rindex("~") + 1]
    assert kb_check(without_kb + "not-a-jwt", resolver) == "key_binding"


# --------------------------------------------------------------------------- API misuse


def test_issue_rejects_bad_input(ed_issuer, ed_holder):
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, claims={"iss": "https://evil"})
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, disclosable={"exp": 1})
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, claims={"given_name": "a"}, disclosable={"given_name": "b"})
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, holder_jwk=ed_holder.as_dict(private=True))
    with pytest.raises(ValueError):
        issue(OKPKey.generate_key("Ed25519"), ed_holder)  # no kid
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, expires_at=T0)
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, claims={"nested": {"_sd": []}})
    with pytest.raises(ValueError):
        issue(ed_issuer, ed_holder, extra_header={"alg": "none"})
    with pytest.raises(ValueError):
        issue(ECKey.generate_key("P-384", parameters={"kid": "k"}), ed_holder)


def test_issue_extra_header_is_signed(resolver, ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder, extra_header={"x5c": ["MIIB"]})
    assert verify(sd_jwt, resolver).header["x5c"] == ["MIIB"]


def test_present_rejects_misuse(ed_issuer, ed_holder):
    sd_jwt = issue(ed_issuer, ed_holder)
    with pytest.raises(TypeError):
        present(sd_jwt, disclose="given_name")
    with pytest.raises(ValueError):
        present(sd_jwt, disclose=[], holder_key=ed_holder, audience=AUD)  # no nonce
    with pytest.raises(ValueError):
        present(sd_jwt, disclose=[], nonce=NONCE)  # nonce without a key is silently useless
    bound_once = present(sd_jwt, disclose=[], holder_key=ed_holder, audience=AUD, nonce=NONCE)
    with pytest.raises(ValueError):
        present(bound_once, disclose=[])


def test_credential_error_rejects_unknown_reason():
    with pytest.raises(ValueError):
        CredentialError("oops", "not a reason")
    err = CredentialError("nonce", "mismatch")
    assert err.reason == "nonce" and err.message == "mismatch" and str(err) == "mismatch"
