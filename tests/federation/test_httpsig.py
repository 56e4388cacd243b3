"""RFC 9421 signatures and RFC 9530 digests: the published test vectors, then every way a signed
request can be wrong."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from eresident.federation import httpsig
from eresident.federation.httpsig import HttpRequest, SignatureError


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# RFC 9421 Appendix B.1.4 (test-key-ed25519, JWK d and x) and B.2.6 (the signed request; only the
# fields B.2.6 covers are given).
B14_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
B14_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
B26_REQUEST = HttpRequest.of("POST", "http://example.com/foo?param=Value&Pet=dog", [
    ("Host", "example.com"), ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"), ("Content-Type", "application/json"),
    ("Content-Length", "18")])
B26_COMPONENTS = ("date", "@method", "@path", "@authority", "content-type", "content-length")
B26_BASE = """"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519\""""
B26_INPUT = ('sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
             ';created=1618884473;keyid="test-key-ed25519"')
B26_SIGNATURE = ("sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPp"
                 "BKRCw==:")

NOW = 1_800_000_000
URL = "http://tf.test/api/v1/federation/messages"
BODY = b'{"id":"0b8e5a9e-3f1d-4a55-9a54-6f0f0d7b2c11","kind":"ping"}'
COVERED = ("@method", "@target-uri", "content-digest", "content-type")


def test_rfc9421_b26_ed25519_vector_signs_byte_for_byte():
    key = Ed25519PrivateKey.from_private_bytes(b64url(B14_D))
    covered = httpsig.parse_dictionary(B26_INPUT)["sig-b26"]
    assert httpsig.signature_base(B26_REQUEST, covered) == B26_BASE
    headers = httpsig.sign(B26_REQUEST, key=key, keyid="test-key-ed25519", components=B26_COMPONENTS,
                           created=1618884473, alg=None, label="sig-b26")
    assert headers == {"Signature-Input": B26_INPUT, "Signature": B26_SIGNATURE}


def test_rfc9421_b26_ed25519_vector_verifies_with_the_public_key():
    public = Ed25519PublicKey.from_public_bytes(b64url(B14_X))
    signed = HttpRequest.of(B26_REQUEST.method, B26_REQUEST.target_uri,
                            [*B26_REQUEST.headers.items(), ("Signature-Input", B26_INPUT),
                             ("Signature", B26_SIGNATURE)])
    checked = httpsig.verify(signed, resolve_key=lambda kid, created: (public, kid), now=1618884473,
                             max_skew=60)
    assert (checked.label, checked.keyid, checked.created, checked.components) == (
        "sig-b26", "test-key-ed25519", 1618884473, B26_COMPONENTS)


def test_rfc9530_content_digest_example():
    expected = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert httpsig.content_digest(b'{"hello": "world"}') == expected


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def signed(key, *, body: bytes = BODY, created: int = NOW, expires: int | None = NOW + 300,
           nonce: str = "m-1", components=COVERED, alg: str | None = "ed25519", url: str = URL) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Content-Digest": httpsig.content_digest(body)}
    headers |= httpsig.sign(HttpRequest.of("POST", url, headers.items()), key=key, keyid="k1",
                            components=components, created=created, expires=expires, nonce=nonce, alg=alg)
    return headers


def check(key, headers: dict[str, str], *, body: bytes = BODY, now: int = NOW, url: str = URL,
          method: str = "POST", verifier=None):
    public = verifier or key.public_key()
    return httpsig.verify(HttpRequest.of(method, url, headers.items()), resolve_key=lambda kid, c: (public, kid),
                          now=now, max_skew=60, required_components=COVERED,
                          required_params=("created", "expires", "keyid", "alg", "nonce"), body=body)


def reason(key, headers, **kw) -> str:
    with pytest.raises(SignatureError) as err:
        check(key, headers, **kw)
    return err.value.code


def test_a_good_signature_verifies_and_reports_its_parameters(key):
    checked = check(key, signed(key))
    assert (checked.keyid, checked.created, checked.expires, checked.nonce, checked.alg) == (
        "k1", NOW, NOW + 300, "m-1", "ed25519")
    assert checked.components == COVERED


def test_tampered_body_is_a_digest_mismatch(key):
    assert reason(key, signed(key), body=BODY.replace(b"ping", b"pong")) == "digest-mismatch"


@pytest.mark.parametrize("header,value", [("Content-Type", "text/plain"),
                                          ("Content-Digest", httpsig.content_digest(b"{}"))])
def test_tampered_covered_header_breaks_the_signature(key, header, value):
    headers = signed(key) | {header: value}
    body = b"{}" if header == "Content-Digest" else BODY  # a consistent forgery: digest matches body
    assert reason(key, headers, body=body) == "signature-invalid"


def test_other_target_or_method_breaks_the_signature(key):
    assert reason(key, signed(key), url="http://evil.test/api/v1/federation/messages") == "signature-invalid"
    assert reason(key, signed(key), method="PUT") == "signature-invalid"


def test_wrong_key_is_refused(key):
    assert reason(key, signed(key), verifier=Ed25519PrivateKey.generate().public_key()) == "signature-invalid"


def test_clock_skew_beyond_the_window_is_refused(key):
    assert check(key, signed(key, created=NOW + 60, expires=NOW + 360)).created == NOW + 60
    assert reason(key, signed(key, created=NOW + 61, expires=NOW + 361)) == "clock-skew"


def test_expired_signature_is_refused(key):
    assert check(key, signed(key), now=NOW + 300).expires == NOW + 300
    assert reason(key, signed(key), now=NOW + 301) == "message-expired"


@pytest.mark.parametrize("change,code", [
    (lambda h: {k: v for k, v in h.items() if k != "Signature"}, "signature-missing"),
    (lambda h: h | {"Signature": "sig1=:AAAA"}, "signature-malformed"),
    (lambda h: h | {"Signature-Input": h["Signature-Input"].replace("sig1", "other")}, "signature-malformed"),
    (lambda h: h | {"Signature-Input": h["Signature-Input"] + ', sig2=("@method");created=1'},
     "signature-malformed"),
])
def test_missing_or_malformed_signature_fields_are_refused(key, change, code):
    assert reason(key, change(signed(key))) == code


def test_required_components_and_parameters_are_enforced(key):
    assert reason(key, signed(key, components=("@method", "content-digest", "content-type"))) == \
        "signature-missing-component"
    assert reason(key, signed(key, expires=None)) == "signature-malformed"
    assert reason(key, signed(key, alg="rsa-pss-sha512")) == "signature-algorithm"


def test_missing_digest_is_refused_even_when_the_signature_is_good(key):
    headers = {"Content-Type": "application/json"}
    headers |= httpsig.sign(HttpRequest.of("POST", URL, headers.items()), key=key, keyid="k1",
                            components=("@method", "@target-uri", "content-type"), created=NOW,
                            expires=NOW + 300, nonce="n", alg="ed25519")
    with pytest.raises(SignatureError) as err:
        httpsig.verify(HttpRequest.of("POST", URL, headers.items()),
                       resolve_key=lambda k, c: (key.public_key(), k), now=NOW, max_skew=60, body=BODY)
    assert err.value.code == "signature-missing-component"
    with pytest.raises(SignatureError) as err:
        httpsig.check_content_digest(None, BODY)
    assert err.value.code == "digest-missing"
    with pytest.raises(SignatureError) as err:
        httpsig.check_content_digest("sha-512=:AAAA:", BODY)
    assert err.value.code == "digest-missing"


def test_a_key_resolver_refusal_passes_through(key):
    def refuse(kid, created):
        raise SignatureError("key-revoked", "revoked")

    with pytest.raises(SignatureError) as err:
        httpsig.verify(HttpRequest.of("POST", URL, signed(key).items()), resolve_key=refuse, now=NOW, max_skew=60)
    assert err.value.code == "key-revoked"


def test_structured_fields_round_trip_strings_with_escapes():
    parsed = httpsig.parse_dictionary('a=("x" "@y");nonce="q\\"uote\\\\";created=-3;flag, b=:AQID:, c=?0')
    assert isinstance(parsed["a"], httpsig.InnerList)
    assert parsed["a"].params == {"nonce": 'q"uote\\', "created": -3, "flag": True}
    assert httpsig.serialize_inner_list(parsed["a"]) == '("x" "@y");nonce="q\\"uote\\\\";created=-3;flag'
    assert parsed["b"].value == b"\x01\x02\x03" and parsed["c"].value is False
    for bad in ('a=("x"', "a=1,", 'a="\x01"', "A=1", "a=1.5"):
        with pytest.raises(SignatureError):
            httpsig.parse_dictionary(bad)


def test_derived_components():
    request = HttpRequest.of("post", "https://Node.Example:443/p/a?x=1&y", [])
    value = lambda name: httpsig._component_value(request, httpsig.Item(name))  # noqa: E731
    assert [value(n) for n in ("@method", "@scheme", "@authority", "@path", "@query", "@request-target")] == [
        "POST", "https", "node.example", "/p/a", "?x=1&y", "/p/a?x=1&y"]
    assert httpsig._component_value(HttpRequest.of("GET", "http://h:8001", []),
                                    httpsig.Item("@authority")) == "h:8001"


def test_a_backdated_or_long_lived_signature_is_refused_when_a_maximum_age_is_set():
    """Both times come from the signer: without a bound, a rotated-out or leaked key could sign
    with `created` inside its old validity and `expires` years ahead (found in review)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from eresident.federation import httpsig

    key = Ed25519PrivateKey.generate()
    now = 1_800_000_000

    def signed(created: int, expires: int) -> httpsig.HttpRequest:
        request = httpsig.HttpRequest.of("POST", "https://tf.example/api/v1/federation/messages",
                                         [("content-type", "application/json")])
        headers = httpsig.sign(request, key=key, keyid="k1", label="sig1", components=("@method", "@target-uri"),
                               created=created, expires=expires, nonce="m1")
        return httpsig.HttpRequest.of("POST", "https://tf.example/api/v1/federation/messages",
                                      [("content-type", "application/json"), *headers.items()])

    def check(request, max_age):
        return httpsig.verify(request, resolve_key=lambda kid, created: (key.public_key(), kid), now=now,
                              max_skew=60, max_age=max_age)

    assert check(signed(now - 10, now + 290), 300).keyid == "k1"
    backdated = signed(now - 400 * 86400, now + 3 * 365 * 86400)
    assert check(backdated, None).keyid == "k1"  # what the old check let through
    for request, reason in ((backdated, "message-expired"), (signed(now - 3600, now + 60), "message-expired"),
                            (signed(now, now + 86400), "signature-lifetime")):
        with pytest.raises(httpsig.SignatureError) as refused:
            check(request, 300)
        assert refused.value.code == reason
