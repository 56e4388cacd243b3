"""Tests for the Token Status List: bit packing, draft vectors, compression and the signed token."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey

from eresident.crypto.sdjwt import CredentialError
from eresident.crypto.statuslist import (
    INVALID,
    MAX_DECOMPRESSED_BYTES,
    SUSPENDED,
    VALID,
    StatusList,
    sign_status_list_token,
    status_of,
    verify_status_list_token,
)

URI = "https://liangjiang.example/statuslists/1"
ISSUER = "https://liangjiang.example/issuer"
T0 = 1_700_000_000

# draft-ietf-oauth-status-list §4.1 examples: statuses by index and the resulting lst.
DRAFT_1BIT = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
DRAFT_1BIT_BYTES = bytes([0xB9, 0xA3])
DRAFT_1BIT_LST = "eNrbuRgAAhcBXQ"
DRAFT_2BIT = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
DRAFT_2BIT_BYTES = bytes([0xC9, 0x44, 0xF9])
DRAFT_2BIT_LST = "eNo76fITAAPfAgc"


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def from_values(values: list[int], bits: int) -> StatusList:
    sl = StatusList(len(values), bits)
    for i, v in enumerate(values):
        sl.set(i, v)
    return sl


# --------------------------------------------------------------------------- the bit list


def test_status_type_values_match_the_draft():
    assert (VALID, INVALID, SUSPENDED) == (0, 1, 2)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_get_each_bit_width(bits):
    top = (1 << bits) - 1
    sl = StatusList(37, bits)
    assert sl.bits == bits and sl.size == len(sl) == 37
    assert all(sl.get(i) == VALID for i in range(37))
    sl.set(0, top)
    sl.set(36, top)
    sl.set(17, 1)
    assert sl.get(0) == top and sl.get(36) == top and sl.get(17) == 1
    # Neighbours of every written entry are untouched.
    assert sl.get(1) == 0 and sl.get(35) == 0 and sl.get(16) == 0 and sl.get(18) == 0
    sl.set(0, 0)  # overwriting clears the old bits instead of OR-ing into them
    assert sl.get(0) == 0
    sl.set(17, top)
    sl.set(17, 1)
    assert sl.get(17) == 1
    with pytest.raises(ValueError):
        sl.set(1, top + 1)
    with pytest.raises(ValueError):
        sl.set(1, -1)
    with pytest.raises(ValueError):
        sl.set(1, True)


@pytest.mark.parametrize("index", [-1, 37, 10_000])
def test_index_out_of_range(index):
    sl = StatusList(37, 2)
    with pytest.raises(IndexError):
        sl.get(index)
    with pytest.raises(IndexError):
        sl.set(index, 1)


@pytest.mark.parametrize("bits", [0, 3, 5, 16, True])
def test_invalid_bit_width(bits):
    with pytest.raises(ValueError):
        StatusList(8, bits)


@pytest.mark.parametrize("size", [0, -1, 1.5])
def test_invalid_size(size):
    with pytest.raises(ValueError):
        StatusList(size, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_lsb_first_packing(bits):
    # Index 0 lives in the least significant bits of byte 0.
    sl = StatusList(8 // bits * 2, bits)
    sl.set(0, 1)
    assert sl.to_bytes()[0] == 0x01
    sl.set(8 // bits, 1)  # first entry of the second byte
    assert sl.to_bytes()[1] == 0x01
    if bits < 8:
        sl.set(1, 1)
        assert sl.to_bytes()[0] == 0x01 | (1 << bits)


def test_draft_example_one_bit():
    sl = from_values(DRAFT_1BIT, 1)
    assert sl.to_bytes() == DRAFT_1BIT_BYTES
    assert sl.encode() == {"bits": 1, "lst": DRAFT_1BIT_LST}
    decoded = StatusList.decode({"bits": 1, "lst": DRAFT_1BIT_LST})
    assert [decoded.get(i) for i in range(16)] == DRAFT_1BIT
    assert decoded == sl


def test_draft_example_two_bits():
    sl = from_values(DRAFT_2BIT, 2)
    assert sl.to_bytes() == DRAFT_2BIT_BYTES
    assert sl.encode() == {"bits": 2, "lst": DRAFT_2BIT_LST}
    decoded = StatusList.decode({"bits": 2, "lst": DRAFT_2BIT_LST})
    assert [decoded.get(i) for i in range(12)] == DRAFT_2BIT


def test_lst_is_standard_zlib_any_tool_can_read():
    encoded = from_values(DRAFT_2BIT, 2).encode()
    raw = b64d(encoded["lst"])
    assert raw[:2] == b"\x78\xda"  # zlib header, best compression
    assert zlib.decompress(raw) == DRAFT_2BIT_BYTES
    # And a list compressed by another encoder (different level) decodes all the same.
    other = {"bits": 2, "lst": b64e(zlib.compress(DRAFT_2BIT_BYTES, 1))}
    assert [StatusList.decode(other).get(i) for i in range(12)] == DRAFT_2BIT


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    bits=st.sampled_from([1, 2, 4, 8]),
    size=st.integers(min_value=1, max_value=600),
)
def test_encode_decode_round_trip(data, bits, size):
    values = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=size, max_size=size))
    sl = from_values(values, bits)
    decoded = StatusList.decode(json.loads(json.dumps(sl.encode())))
    assert decoded.bits == bits
    # Sizes round up to whole bytes; the padding entries read as VALID.
    assert decoded.size == (size * bits + 7) // 8 * 8 // bits
    assert [decoded.get(i) for i in range(size)] == values
    assert all(decoded.get(i) == 0 for i in range(size, decoded.size))
    assert decoded.to_bytes() == sl.to_bytes()


@pytest.mark.parametrize(
    "obj",
    [
        {"bits": 3, "lst": DRAFT_1BIT_LST},
        {"bits": "1", "lst": DRAFT_1BIT_LST},
        {"bits": True, "lst": DRAFT_1BIT_LST},
        {"bits": 1},
        {"bits": 1, "lst": 5},
        {"bits": 1, "lst": DRAFT_1BIT_LST + "=="},
        {"bits": 1, "lst": "eNrb+RgAAhcBXQ"},
        {"bits": 1, "lst": b64e(b"not zlib at all")},
        {"bits": 1, "lst": b64e(zlib.compress(b"\x01")[:-2])},
        {"bits": 1, "lst": b64e(zlib.compress(b"\x01") + b"trailing")},
        {"bits": 1, "lst": b64e(zlib.compress(b""))},
        {"bits": 1, "lst": b64e(zlib.compress(b"\x01", wbits=-15))},  # raw DEFLATE, no header
        [1, 2],
    ],
)
def test_decode_rejects_malformed(obj: Any):
    with pytest.raises(ValueError):
        StatusList.decode(obj)


def test_decode_refuses_decompression_bombs():
    bomb = {"bits": 1, "lst": b64e(zlib.compress(bytes(MAX_DECOMPRESSED_BYTES + 1), 9))}
    assert len(bomb["lst"]) < 50_000
    with pytest.raises(ValueError, match="size limit"):
        StatusList.decode(bomb)
    at_limit = {"bits": 8, "lst": b64e(zlib.compress(bytes(MAX_DECOMPRESSED_BYTES), 9))}
    assert StatusList.decode(at_limit).size == MAX_DECOMPRESSED_BYTES


# --------------------------------------------------------------------------- status_of


def test_status_of_reads_the_referenced_index():
    sl = from_values(DRAFT_2BIT, 2)
    assert status_of({"status_list": {"idx": 0, "uri": URI}}, sl) == INVALID
    assert status_of({"status_list": {"idx": 1, "uri": URI}}, sl) == SUSPENDED
    assert status_of({"idx": 2, "uri": URI}, sl) == VALID


@pytest.mark.parametrize(
    "ref",
    [
        {"status_list": {"idx": 12, "uri": URI}},
        {"status_list": {"idx": -1, "uri": URI}},
        {"status_list": {"idx": "1", "uri": URI}},
        {"status_list": {"idx": True, "uri": URI}},
        {"status_list": {"uri": URI}},
        {"status_list": "nope"},
    ],
)
def test_status_of_rejects_bad_references(ref):
    sl = StatusList(12, 2)  # 12 entries * 2 bits = 3 bytes, capacity exactly 12
    with pytest.raises(CredentialError) as info:
        status_of(ref, sl)
    assert info.value.reason == "format"


# --------------------------------------------------------------------------- the signed token


@pytest.fixture(scope="module")
def ed_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": "status-ed"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "status-p256"})


@pytest.fixture(scope="module")
def resolver(ed_key, ec_key):
    calls: list[tuple[str, str]] = []
    keys = {
        "status-ed": OKPKey.import_key(ed_key.as_dict(private=False)),
        "status-p256": ECKey.import_key(ec_key.as_dict(private=False)),
    }

    def resolve(who: str, kid: str) -> object:
        calls.append((who, kid))
        return keys.get(kid)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def sign(key, **overrides: Any) -> str:
    args: dict[str, Any] = dict(
        signing_key=key,
        uri=URI,
        status_list=from_values(DRAFT_2BIT, 2),
        issued_at=T0,
        expires_at=T0 + 3600,
        ttl=600,
    )
    args.update(overrides)
    return sign_status_list_token(**args)


def reason_of(token: str, resolver, **kwargs: Any) -> str:
    kwargs.setdefault("uri", URI)
    kwargs.setdefault("now", T0 + 10)
    with pytest.raises(CredentialError) as info:
        verify_status_list_token(token, resolve_key=resolver, **kwargs)
    return info.value.reason


def ed_sign(key: OKPKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64e(json.dumps(header).encode())}.{b64e(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64e(key.get_op_key('sign').sign(signing_input.encode()))}"


@pytest.mark.parametrize("key_name,alg", [("ed_key", "EdDSA"), ("ec_key", "ES256")])
def test_token_round_trip(request, resolver, key_name, alg):
    key = request.getfixturevalue(key_name)
    token = sign(key)
    header = json.loads(b64d(token.split(".")[0]))
    payload = json.loads(b64d(token.split(".")[1]))
    assert header == {"typ": "statuslist+jwt", "alg": alg, "kid": key.kid}
    assert payload == {
        "sub": URI,
        "iat": T0,
        "exp": T0 + 3600,
        "ttl": 600,
        "status_list": {"bits": 2, "lst": DRAFT_2BIT_LST},
    }
    sl = verify_status_list_token(token, resolve_key=resolver, uri=URI, now=T0 + 10)
    assert [sl.get(i) for i in range(12)] == DRAFT_2BIT
    assert status_of({"status_list": {"idx": 3, "uri": URI}}, sl) == 3


def test_key_lookup_uses_expected_issuer_then_iss_then_uri(resolver, ed_key):
    resolver.calls.clear()
    verify_status_list_token(sign(ed_key), resolve_key=resolver, uri=URI, now=T0)
    with_iss = sign(ed_key, issuer=ISSUER)
    assert json.loads(b64d(with_iss.split(".")[1]))["iss"] == ISSUER
    verify_status_list_token(with_iss, resolve_key=resolver, uri=URI, now=T0)
    for token in (with_iss, sign(ed_key)):
        verify_status_list_token(
            token, resolve_key=resolver, uri=URI, now=T0, expected_issuer=ISSUER
        )
    assert resolver.calls == [
        (URI, "status-ed"),
        (ISSUER, "status-ed"),
        (ISSUER, "status-ed"),
        (ISSUER, "status-ed"),
    ]


def test_token_without_exp_or_ttl(resolver, ed_key):
    token = sign(ed_key, expires_at=None, ttl=None)
    payload = json.loads(b64d(token.split(".")[1]))
    assert "exp" not in payload and "ttl" not in payload
    assert verify_status_list_token(token, resolve_key=resolver, uri=URI, now=T0 + 10**8).bits == 2


def test_wrong_sub(resolver, ed_key):
    other_uri = "https://liangjiang.example/statuslists/2"
    assert reason_of(sign(ed_key), resolver, uri=other_uri) == "format"


def test_expired(resolver, ed_key):
    token = sign(ed_key)
    assert verify_status_list_token(token, resolve_key=resolver, uri=URI, now=T0 + 3600 + 59)
    assert reason_of(token, resolver, now=T0 + 3600 + 60) == "expired"


def test_issued_in_the_future(resolver, ed_key):
    assert reason_of(sign(ed_key), resolver, now=T0 - 61) == "not_yet_valid"


def test_bad_signature(resolver, ec_key):
    h, p, s = sign(ec_key).split(".")
    raw = bytearray(b64d(s))
    raw[0] ^= 0x80
    assert reason_of(f"{h}.{p}.{b64e(bytes(raw))}", resolver) == "signature"


def test_tampered_list(resolver, ed_key):
    h, p, s = sign(ed_key).split(".")
    payload = json.loads(b64d(p))
    payload["status_list"] = StatusList(12, 2).encode()  # "everything is valid again"
    assert reason_of(f"{h}.{b64e(json.dumps(payload).encode())}.{s}", resolver) == "signature"


def test_signed_by_another_key(resolver):
    impostor = OKPKey.generate_key("Ed25519", parameters={"kid": "status-ed"})
    assert reason_of(sign(impostor), resolver) == "signature"


def test_unknown_kid(resolver):
    stranger = OKPKey.generate_key("Ed25519", parameters={"kid": "nobody"})
    assert reason_of(sign(stranger), resolver) == "unknown_key"


def test_wrong_typ(resolver, ed_key):
    payload = {"sub": URI, "iat": T0, "status_list": {"bits": 1, "lst": DRAFT_1BIT_LST}}
    good = ed_sign(ed_key, {"typ": "statuslist+jwt", "alg": "EdDSA", "kid": "status-ed"}, payload)
    verified = verify_status_list_token(good, resolve_key=resolver, uri=URI, now=T0)
    assert verified == from_values(DRAFT_1BIT, 1)
    bad = ed_sign(ed_key, {"typ": "JWT", "alg": "EdDSA", "kid": "status-ed"}, payload)
    assert reason_of(bad, resolver) == "typ"


def test_alg_none(resolver):
    header = {"typ": "statuslist+jwt", "alg": "none", "kid": "status-ed"}
    payload = {"sub": URI, "iat": T0, "status_list": {"bits": 1, "lst": DRAFT_1BIT_LST}}
    h, p = b64e(json.dumps(header).encode()), b64e(json.dumps(payload).encode())
    token = f"{h}.{p}.{b64e(b'x' * 64)}"
    assert reason_of(token, resolver) == "signature"


def test_issuer_mismatch(resolver, ed_key):
    token = sign(ed_key, issuer="https://tianfu.example/issuer")
    assert reason_of(token, resolver, expected_issuer=ISSUER) == "issuer"


@pytest.mark.parametrize(
    "payload",
    [
        {"sub": URI, "status_list": {"bits": 1, "lst": DRAFT_1BIT_LST}},  # no iat
        {"sub": URI, "iat": T0, "status_list": {"bits": 3, "lst": DRAFT_1BIT_LST}},
        {"sub": URI, "iat": T0},
        {"sub": URI, "iat": T0, "ttl": -5, "status_list": {"bits": 1, "lst": DRAFT_1BIT_LST}},
        {"sub": URI, "iat": "now", "status_list": {"bits": 1, "lst": DRAFT_1BIT_LST}},
    ],
)
def test_malformed_but_signed_payload(resolver, ed_key, payload):
    token = ed_sign(ed_key, {"typ": "statuslist+jwt", "alg": "EdDSA", "kid": "status-ed"}, payload)
    assert reason_of(token, resolver) == "format"


@pytest.mark.parametrize("garbage", ["", "a.b", "x.y.z", 7])
def test_garbage_token(resolver, garbage):
    assert reason_of(garbage, resolver) == "format"


def test_sign_rejects_bad_input(ed_key):
    with pytest.raises(ValueError):
        sign(ed_key, expires_at=T0)
    with pytest.raises(ValueError):
        sign(ed_key, ttl=0)
    with pytest.raises(ValueError):
        sign(ed_key, uri="")
    with pytest.raises(ValueError):
        sign(OKPKey.generate_key("Ed25519"))  # no kid
