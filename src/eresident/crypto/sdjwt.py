"""SD-JWT VC credentials (RFC 9901, draft-ietf-oauth-sd-jwt-vc): issuance, holder
presentation with Key Binding, and verification mapped to machine-readable failure reasons."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwk import ECKey, Key, OKPKey, import_key
from joserfc.jws import JWSRegistry

__all__ = [
    "ALLOWED_ALGS",
    "REASONS",
    "SD_JWT_VC_TYP",
    "CredentialError",
    "VerifiedCredential",
    "issue_sd_jwt_vc",
    "jwk_thumbprint",
    "present",
    "verify_sd_jwt_vc",
]

SD_JWT_VC_TYP = "dc+sd-jwt"
# Drafts before -06 of SD-JWT VC used "vc+sd-jwt"; wallets in the field still send it, and the
# draft asks verifiers to accept both for a transition period.
_ACCEPTED_TYPS = frozenset({SD_JWT_VC_TYP, "vc+sd-jwt"})
KB_JWT_TYP = "kb+jwt"
SD_ALG = "sha-256"
# Only asymmetric algorithms we issue with. An allow-list (rather than a deny-list) is what keeps
# "none" and HMAC-with-a-public-key confusion out.
ALLOWED_ALGS = frozenset({"EdDSA", "ES256"})
DEFAULT_KB_MAX_AGE = 300

REASONS = frozenset(
    {
        "format",
        "signature",
        "unknown_key",
        "typ",
        "expired",
        "not_yet_valid",
        "disclosure",
        "key_binding",
        "issuer",
        "audience",
        "nonce",
    }
)

# Claims this module sets itself; letting callers pass them in `claims` would silently override
# (or be overridden by) the values the verifier relies on.
_ISSUER_SET_CLAIMS = frozenset({"iss", "iat", "exp", "vct", "cnf", "status", "_sd", "_sd_alg"})
# SD-JWT VC forbids making these selectively disclosable: the verifier needs them in the clear.
_NEVER_DISCLOSABLE = _ISSUER_SET_CLAIMS | {"nbf", "vct#integrity", "..."}
_DECOYS_MIN, _DECOYS_EXTRA = 2, 3


class CredentialError(Exception):
    """Verification failed.

    ``reason`` is a machine code (one of :data:`REASONS`); ``message`` is plain English for logs
    and operators, never for deciding behaviour.
    """

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:  # a typo here would silently break callers' dispatch
            raise ValueError(f"unknown CredentialError reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"CredentialError(reason={self.reason!r}, message={self.message!r})"


@dataclass
class VerifiedCredential:
    """What a verifier may rely on after :func:`verify_sd_jwt_vc` succeeded."""

    header: dict[str, Any]
    payload: dict[str, Any]  # without _sd/_sd_alg, disclosed claims merged in
    disclosed: dict[str, Any]  # only the selectively disclosed top-level claims presented
    issuer: str
    vct: str
    holder_jwk: dict[str, Any]
    status: dict[str, Any] | None
    key_bound: bool


# --------------------------------------------------------------------------- encoding helpers


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_FROM_URLSAFE = str.maketrans("-_", "+/")


def _b64url_decode(text: str) -> bytes:
    # Strict: padding, '+', '/' or stray characters mean the input was not produced by a
    # conforming encoder, and the lenient stdlib decoder would otherwise skip them silently.
    # binascii's strict mode refuses anything outside the alphabet (whitespace too) once the
    # standard alphabet's own '+' and '/' are excluded here.
    if not isinstance(text, str) or "+" in text or "/" in text or "=" in text or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return binascii.a2b_base64((text + "=" * (-len(text) % 4)).translate(_FROM_URLSAFE), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        # Duplicate member names let two parsers see two different claim sets in the same bytes.
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON number {name}")


# One decoder for every call: json.loads with options builds a new decoder and scanner each time.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def _json_loads(data: bytes) -> Any:
    return _DECODER.decode(data.decode("utf-8"))


def _digest(disclosure: str) -> str:
    # RFC 9901 §4.2.3: the digest is over the ASCII of the base64url disclosure as sent, not
    # over the decoded JSON, so re-encoding can never produce a different valid digest.
    return _b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def _sd_hash(sd_jwt_with_disclosures: str) -> str:
    return _b64url_encode(hashlib.sha256(sd_jwt_with_disclosures.encode("ascii")).digest())


def _is_number(value: Any) -> TypeGuard[int | float]:
    # bool is an int subclass; `true` is not a timestamp.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- JWS plumbing


class _Registry(JWSRegistry):
    """joserfc registry restricted to ALLOWED_ALGS.

    joserfc warns that polymorphic "EdDSA" is deprecated by RFC 9864, but SD-JWT VC deployments
    (and our brief) use it, so the warning would only be noise in every verification. Size caps
    are raised because status list tokens and x5c headers exceed joserfc's defaults.
    """

    max_header_length = 16 * 1024
    max_payload_length = 4 * 1024 * 1024

    def get_alg(self, name: str) -> Any:
        if name not in ALLOWED_ALGS or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


# strict_check_header=False: issuers may add private header parameters; "crit" is still honoured
# (and we refuse it entirely in _parse_jws).
_REGISTRY = _Registry(algorithms=sorted(ALLOWED_ALGS), strict_check_header=False)


def jws_registry() -> JWSRegistry:
    """The JWS registry this module signs and verifies with (EdDSA and ES256 only, larger size
    caps): for other compact JWS the node signs with the same keys, e.g. signature records."""
    return _REGISTRY


class _ParsedJws(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes  # ASCII of "header.payload", exactly as received
    signature: bytes


def _alg_for_key(key: Any) -> str:
    """The one JWS alg we use for a key; other key types are refused rather than guessed."""
    if isinstance(key, OKPKey) and key.curve_name == "Ed25519":
        return "EdDSA"
    if isinstance(key, ECKey) and key.curve_name == "P-256":
        return "ES256"
    raise ValueError("key must be a joserfc OKPKey (Ed25519) or ECKey (P-256)")


def _sign_jws(header: dict[str, Any], payload: dict[str, Any], key: Key) -> str:
    return jws.serialize_compact(header, _json_dumps(payload), key, registry=_REGISTRY)


def _parse_jws(token: str, reason: str, what: str) -> _ParsedJws:
    """Decode a compact JWS without trusting it yet; every defect maps to ``reason``."""
    if not isinstance(token, str):
        raise CredentialError(reason, f"{what} is not a string")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise CredentialError(reason, f"{what} is not a compact JWS")
    try:
        header = _json_loads(_b64url_decode(parts[0]))
        payload = _json_loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise CredentialError(reason, f"{what} is not valid base64url JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise CredentialError(reason, f"{what} header and payload must be JSON objects")
    # We implement no JWS extensions, so any "crit" (including RFC 7797 b64) must be refused.
    if "crit" in header or "b64" in header:
        raise CredentialError(reason, f"{what} uses a JWS extension we do not support")
    # The parts were checked to be base64url (ASCII) above; this is what the signature covers.
    return _ParsedJws(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _check_alg(header: Mapping[str, Any], reason: str, what: str) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGS:
        raise CredentialError(reason, f"{what} algorithm {alg!r} is not allowed")
    return alg


def _verify_signature(parsed: _ParsedJws, key: Key, alg: str, reason: str, what: str) -> None:
    try:
        key_alg = _alg_for_key(key)
    except ValueError as exc:
        raise CredentialError(reason, f"{what} key is of an unsupported type") from exc
    if key_alg != alg:
        # e.g. an ES256 header checked against an Ed25519 key: refuse before joserfc sees it.
        raise CredentialError(reason, f"{what} alg {alg} does not match the key type")
    # Checked here, not through joserfc's compact parser: the token is parsed once (above), and the
    # one algorithm the key allows is applied to exactly the received bytes. Bench federation (c):
    # parsing twice was a fifth of an offline credential check.
    try:
        if key_alg == "EdDSA":
            # _alg_for_key gave EdDSA: an Ed25519 OKPKey (joserfc types the key as any kind's)
            cast(Ed25519PublicKey, key.public_key).verify(parsed.signature, parsed.signing_input)
            ok = True
        else:
            ok = _REGISTRY.get_alg(alg).verify(parsed.signing_input, parsed.signature, key)
    except InvalidSignature:
        ok = False
    except (JoseError, ValueError) as exc:
        raise CredentialError(reason, f"{what} signature could not be checked: {exc}") from exc
    if not ok:
        raise CredentialError(reason, f"{what} signature is invalid")


def _resolve_issuer_key(
    resolve_key: Callable[[str, str], object], issuer: str, kid: Any, what: str
) -> Key:
    if not isinstance(kid, str) or not kid:
        raise CredentialError("unknown_key", f"{what} header has no kid")
    try:
        key = resolve_key(issuer, kid)
    except Exception as exc:  # resolvers are caller code; any failure means "no trusted key"
        raise CredentialError(
            "unknown_key", f"no key for issuer {issuer!r} kid {kid!r}: {exc}"
        ) from exc
    if isinstance(key, dict):
        try:
            key = import_key(key)
        except Exception as exc:
            raise CredentialError(
                "unknown_key", f"resolved key for kid {kid!r} is invalid"
            ) from exc
    if not isinstance(key, (OKPKey, ECKey)):
        raise CredentialError("unknown_key", f"no key for issuer {issuer!r} kid {kid!r}")
    return key


def _check_times(
    claims: Mapping[str, Any], *, now: int, leeway: int, what: str, require_iat: bool = False
) -> None:
    for name in ("iat", "nbf", "exp"):
        if name in claims and not _is_number(claims[name]):
            raise CredentialError("format", f"{what} claim {name!r} is not a number")
    if require_iat and "iat" not in claims:
        raise CredentialError("format", f"{what} has no iat")
    if "exp" in claims and now >= claims["exp"] + leeway:
        raise CredentialError("expired", f"{what} expired at {claims['exp']}")
    if "nbf" in claims and now + leeway < claims["nbf"]:
        raise CredentialError("not_yet_valid", f"{what} is not valid before {claims['nbf']}")
    if "iat" in claims and now + leeway < claims["iat"]:
        raise CredentialError("not_yet_valid", f"{what} was issued in the future")


# --------------------------------------------------------------------------- public helpers


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (base64url) over the key's required members only."""
    try:
        # Key.thumbprint() keeps only the required members; joserfc.jwk.thumbprint(dict) would
        # hash every member given (kid, alg, use, ...) and so disagree with other implementations.
        return import_key(dict(jwk)).thumbprint()
    except Exception as exc:
        raise ValueError(f"not a usable JWK: {exc}") from exc


def _public_holder_jwk(holder_jwk: Any) -> dict[str, Any]:
    if not isinstance(holder_jwk, dict):
        raise ValueError("holder_jwk must be a JWK dict")
    try:
        key = import_key(dict(holder_jwk))
    except Exception as exc:
        raise ValueError(f"holder_jwk is not a valid JWK: {exc}") from exc
    if key.is_private:
        # Embedding the private part would hand the holder's key to every verifier.
        raise ValueError("holder_jwk must be a public key")
    _alg_for_key(key)  # the holder must be able to produce a KB-JWT we accept
    return dict(holder_jwk)


def _reject_sd_markers(value: Any, where: str) -> None:
    # A literal "_sd" or "..." in clear claims would be interpreted as digests by every verifier.
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("_sd", "..."):
                raise ValueError(f"{where} contains reserved member {key!r}")
            _reject_sd_markers(inner, where)
    elif isinstance(value, list):
        for inner in value:
            _reject_sd_markers(inner, where)


def _new_disclosure(name: str, value: Any) -> str:
    salt = _b64url_encode(secrets.token_bytes(16))  # 128 bits, as RFC 9901 §9.3 recommends
    return _b64url_encode(_json_dumps([salt, name, value]))


def _decoy_digest() -> str:
    return _b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


# --------------------------------------------------------------------------- issuance


def issue_sd_jwt_vc(
    *,
    signing_key: OKPKey | ECKey,
    issuer: str,
    vct: str,
    claims: dict[str, Any],
    disclosable: dict[str, Any],
    holder_jwk: dict[str, Any],
    issued_at: int,
    expires_at: int,
    status: dict[str, Any] | None = None,
    extra_header: dict[str, Any] | None = None,
) -> str:
    """Issue an SD-JWT VC: ``<jws>~<disclosure>~...~`` (trailing tilde, no KB-JWT).

    ``claims`` are always visible; each top-level key of ``disclosable`` becomes one disclosure.
    Raises ValueError for unusable input (the issuer's bug, not a verification failure).
    """
    alg = _alg_for_key(signing_key)
    if not signing_key.is_private:
        raise ValueError("signing_key must be a private key")
    kid = signing_key.kid
    if not kid:
        raise ValueError("signing_key must have a kid so verifiers can resolve it")
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("issuer must be a non-empty string")
    if not isinstance(vct, str) or not vct:
        raise ValueError("vct must be a non-empty string")
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in (issued_at, expires_at)):
        raise ValueError("issued_at and expires_at must be integer seconds")
    if expires_at <= issued_at:
        raise ValueError("expires_at must be after issued_at")
    if not isinstance(claims, dict) or not isinstance(disclosable, dict):
        raise ValueError("claims and disclosable must be dicts")
    if status is not None and not isinstance(status, dict):
        raise ValueError("status must be a dict")
    bad = set(claims) & _ISSUER_SET_CLAIMS
    if bad:
        raise ValueError(f"claims may not set {sorted(bad)}")
    bad = set(disclosable) & _NEVER_DISCLOSABLE
    if bad:
        raise ValueError(f"claims {sorted(bad)} may not be selectively disclosable")
    overlap = set(claims) & set(disclosable)
    if overlap:
        # The verifier would reject the collision anyway; fail at issuance where it is a bug.
        raise ValueError(f"claims both clear and disclosable: {sorted(overlap)}")
    if not all(isinstance(name, str) for name in disclosable):
        raise ValueError("disclosable claim names must be strings")
    _reject_sd_markers(claims, "claims")
    _reject_sd_markers(disclosable, "disclosable")
    header_extra = dict(extra_header or {})
    clash = set(header_extra) & {"typ", "alg", "kid", "crit", "b64"}
    if clash:
        raise ValueError(f"extra_header may not set {sorted(clash)}")

    payload: dict[str, Any] = {
        "iss": issuer,
        "iat": issued_at,
        "exp": expires_at,
        "vct": vct,
        "cnf": {"jwk": _public_holder_jwk(holder_jwk)},
    }
    if status is not None:
        payload["status"] = status
    payload.update(claims)

    disclosures = [_new_disclosure(name, value) for name, value in disclosable.items()]
    digests = [_digest(d) for d in disclosures]
    # Decoys hide how many claims are selectively disclosable (RFC 9901 §4.2.5).
    digests += [_decoy_digest() for _ in range(_DECOYS_MIN + secrets.randbelow(_DECOYS_EXTRA))]
    # Sorting the digests hides the original claim order (RFC 9901 §4.2.4.1 allows sorting).
    payload["_sd"] = sorted(digests)
    payload["_sd_alg"] = SD_ALG

    header = {**header_extra, "typ": SD_JWT_VC_TYP, "alg": alg, "kid": kid}
    token = _sign_jws(header, payload, signing_key)
    return token + "~" + "".join(d + "~" for d in disclosures)


# --------------------------------------------------------------------------- presentation


def _disclosure_name(disclosure: str) -> str | None:
    try:
        decoded = _json_loads(_b64url_decode(disclosure))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("credential contains a malformed disclosure") from exc
    if isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[1], str):
        return decoded[1]
    return None  # array-element disclosures have no name and are never selected here


def present(
    sd_jwt: str,
    *,
    disclose: Iterable[str],
    holder_key: OKPKey | ECKey | None = None,
    audience: str | None = None,
    nonce: str | None = None,
    issued_at: int | None = None,
) -> str:
    """Build a presentation keeping only disclosures named in ``disclose``.

    Names not present as disclosures (e.g. always-visible claims) are ignored. With
    ``holder_key`` a KB-JWT is appended; ``audience`` and ``nonce`` are then required because a
    KB-JWT without them could be replayed to any verifier.
    """
    if isinstance(disclose, str):
        # A bare string would be iterated character by character and disclose nothing.
        raise TypeError("disclose must be an iterable of claim names, not a string")
    parts = sd_jwt.split("~")
    if len(parts) < 2 or parts[-1] != "" or not parts[0]:
        raise ValueError("expected an SD-JWT ending in '~' (without a Key Binding JWT)")
    wanted = set(disclose)
    kept = [d for d in parts[1:-1] if d and _disclosure_name(d) in wanted]
    presentation = parts[0] + "~" + "".join(d + "~" for d in kept)

    if holder_key is None:
        if audience is not None or nonce is not None or issued_at is not None:
            raise ValueError("audience/nonce/issued_at only make sense with holder_key")
        return presentation
    if not isinstance(audience, str) or not audience:
        raise ValueError("audience is required for key binding")
    if not isinstance(nonce, str) or not nonce:
        raise ValueError("nonce is required for key binding")
    alg = _alg_for_key(holder_key)
    if not holder_key.is_private:
        raise ValueError("holder_key must be a private key")
    kb_payload = {
        "iat": int(time.time()) if issued_at is None else issued_at,
        "aud": audience,
        "nonce": nonce,
        "sd_hash": _sd_hash(presentation),
    }
    return presentation + _sign_jws({"typ": KB_JWT_TYP, "alg": alg}, kb_payload, holder_key)


# --------------------------------------------------------------------------- verification


def _decode_disclosures(disclosures: list[str]) -> dict[str, list[Any]]:
    by_digest: dict[str, list[Any]] = {}
    for disclosure in disclosures:
        try:
            decoded = _json_loads(_b64url_decode(disclosure))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CredentialError("disclosure", "a disclosure is not base64url JSON") from exc
        if not isinstance(decoded, list) or len(decoded) not in (2, 3):
            raise CredentialError("disclosure", "a disclosure is not a 2- or 3-element array")
        if not isinstance(decoded[0], str):
            raise CredentialError("disclosure", "a disclosure salt is not a string")
        if len(decoded) == 3:
            if not isinstance(decoded[1], str):
                raise CredentialError("disclosure", "a disclosure claim name is not a string")
            if decoded[1] in ("_sd", "..."):
                raise CredentialError("disclosure", f"disclosure uses reserved name {decoded[1]!r}")
        digest = _digest(disclosure)
        if digest in by_digest:
            raise CredentialError("disclosure", "the same disclosure is presented twice")
        by_digest[digest] = decoded
    return by_digest


class _DisclosureResolver:
    """RFC 9901 §7.1 step 3: replace digests by disclosed values, recursively."""

    def __init__(self, by_digest: dict[str, list[Any]]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.used: set[str] = set()
        self.top_level: dict[str, Any] = {}

    def _claim_digest(self, digest: Any) -> list[Any] | None:
        if not isinstance(digest, str):
            raise CredentialError("disclosure", "a digest is not a string")
        # A digest referenced twice would let one disclosure fill two places.
        if digest in self.seen:
            raise CredentialError("disclosure", "a digest appears more than once")
        self.seen.add(digest)
        found = self.by_digest.get(digest)
        if found is not None:
            self.used.add(digest)
        return found  # None: a decoy, or a claim the holder chose not to disclose

    def walk(self, node: Any, top: bool = False) -> Any:
        if isinstance(node, dict):
            out = {k: self.walk(v) for k, v in node.items() if k != "_sd"}
            digests = node.get("_sd", [])
            if not isinstance(digests, list):
                raise CredentialError("disclosure", "_sd is not an array")
            for digest in digests:
                found = self._claim_digest(digest)
                if found is None:
                    continue
                if len(found) != 3:
                    raise CredentialError(
                        "disclosure", "an array-element disclosure is used as a claim"
                    )
                _, name, value = found
                if name in out:
                    raise CredentialError("disclosure", f"disclosed claim {name!r} already exists")
                out[name] = self.walk(value)
                if top:
                    self.top_level[name] = out[name]
            return out
        if isinstance(node, list):
            items: list[Any] = []
            for element in node:
                if isinstance(element, dict) and "..." in element:
                    if len(element) != 1:
                        raise CredentialError("disclosure", "array digest object has extra members")
                    found = self._claim_digest(element["..."])
                    if found is None:
                        continue  # undisclosed elements are removed, not left as placeholders
                    if len(found) != 2:
                        raise CredentialError(
                            "disclosure", "a claim disclosure is used as an array element"
                        )
                    items.append(self.walk(found[1]))
                else:
                    items.append(self.walk(element))
            return items
        return node


def _verify_kb_jwt(
    kb_jwt: str,
    *,
    holder_jwk: dict[str, Any],
    presented_sd_jwt: str,
    now: int,
    leeway: int,
    max_age: int,
    expected_audience: str | None,
    expected_nonce: str | None,
) -> None:
    parsed = _parse_jws(kb_jwt, "key_binding", "KB-JWT")
    if parsed.header.get("typ") != KB_JWT_TYP:
        raise CredentialError("key_binding", "KB-JWT typ is not kb+jwt")
    alg = _check_alg(parsed.header, "key_binding", "KB-JWT")
    try:
        holder_key = import_key(dict(holder_jwk))
    except Exception as exc:
        raise CredentialError("key_binding", "cnf.jwk is not a usable key") from exc
    _verify_signature(parsed, holder_key, alg, "key_binding", "KB-JWT")
    claims = parsed.payload
    sd_hash = claims.get("sd_hash")
    expected_hash = _sd_hash(presented_sd_jwt)
    # The sd_hash ties the KB-JWT to exactly this set of disclosures; without it a bound
    # presentation could have disclosures swapped after signing.
    if not isinstance(sd_hash, str) or not hmac.compare_digest(sd_hash, expected_hash):
        raise CredentialError("key_binding", "KB-JWT sd_hash does not match the presentation")
    aud = claims.get("aud")
    if not isinstance(aud, str) or not aud:
        raise CredentialError("key_binding", "KB-JWT has no aud")
    if expected_audience is not None and aud != expected_audience:
        raise CredentialError("audience", "KB-JWT is for a different audience")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise CredentialError("key_binding", "KB-JWT has no nonce")
    if expected_nonce is not None and not hmac.compare_digest(
        nonce.encode("utf-8"), expected_nonce.encode("utf-8")
    ):
        raise CredentialError("nonce", "KB-JWT nonce does not match")
    iat = claims.get("iat")
    if not _is_number(iat):
        raise CredentialError("key_binding", "KB-JWT has no numeric iat")
    if iat > now + leeway:
        raise CredentialError("key_binding", "KB-JWT was issued in the future")
    # A fresh nonce is the main replay defence; the age limit bounds it when callers reuse one.
    if now - iat > max_age + leeway:
        raise CredentialError("key_binding", "KB-JWT is too old")


def verify_sd_jwt_vc(
    presentation: str,
    *,
    resolve_key: Callable[[str, str], object],
    now: int,
    expected_vct: str | None = None,
    expected_audience: str | None = None,
    expected_nonce: str | None = None,
    require_key_binding: bool = False,
    leeway: int = 60,
    kb_max_age: int = DEFAULT_KB_MAX_AGE,
) -> VerifiedCredential:
    """Verify an SD-JWT VC (issued or presented) and return its disclosed view.

    ``resolve_key(iss, kid)`` must return the issuer's joserfc public key (or a JWK dict); a
    None or an exception means ``unknown_key``. Raises :class:`CredentialError` on any failure.
    Audience and nonce are only compared when the expected values are given.
    """
    if not isinstance(presentation, str):
        raise CredentialError("format", "presentation is not a string")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise CredentialError("format", "not an SD-JWT: no '~' separator")
    issuer_jwt, disclosures, kb_jwt = parts[0], parts[1:-1], parts[-1]
    if any(not d for d in disclosures):
        raise CredentialError("format", "empty disclosure between '~' separators")

    parsed = _parse_jws(issuer_jwt, "format", "issuer-signed JWT")
    header, payload = parsed.header, parsed.payload
    typ = header.get("typ")
    if typ not in _ACCEPTED_TYPS:
        raise CredentialError("typ", f"typ {typ!r} is not {SD_JWT_VC_TYP}")
    alg = _check_alg(header, "signature", "issuer-signed JWT")
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise CredentialError("issuer", "credential has no iss")
    key = _resolve_issuer_key(resolve_key, issuer, header.get("kid"), "issuer-signed JWT")
    _verify_signature(parsed, key, alg, "signature", "issuer-signed JWT")

    # Everything below is issuer-signed, so defects are issuer bugs or deliberate crafting.
    vct = payload.get("vct")
    if not isinstance(vct, str) or not vct:
        raise CredentialError("format", "credential has no vct")
    if expected_vct is not None and vct != expected_vct:
        raise CredentialError("typ", f"credential vct {vct!r} is not {expected_vct!r}")
    sd_alg = payload.get("_sd_alg", SD_ALG)  # RFC 9901: absent means sha-256
    if sd_alg != SD_ALG:
        raise CredentialError("format", f"unsupported _sd_alg {sd_alg!r}")
    _check_times(payload, now=now, leeway=leeway, what="credential")
    cnf = payload.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
        raise CredentialError("format", "credential has no cnf.jwk holder key")
    holder_jwk: dict[str, Any] = cnf["jwk"]
    status = payload.get("status")
    if status is not None and not isinstance(status, dict):
        raise CredentialError("format", "status claim is not an object")

    resolver = _DisclosureResolver(_decode_disclosures(disclosures))
    merged = resolver.walk(payload, top=True)
    unreferenced = set(resolver.by_digest) - resolver.used
    if unreferenced:
        raise CredentialError(
            "disclosure", f"{len(unreferenced)} disclosure(s) not referenced by the credential"
        )
    merged.pop("_sd_alg", None)

    key_bound = False
    if kb_jwt:
        _verify_kb_jwt(
            kb_jwt,
            holder_jwk=holder_jwk,
            presented_sd_jwt=presentation[: len(presentation) - len(kb_jwt)],
            now=now,
            leeway=leeway,
            max_age=kb_max_age,
            expected_audience=expected_audience,
            expected_nonce=expected_nonce,
        )
        key_bound = True
    elif require_key_binding:
        raise CredentialError("key_binding", "key binding is required but no KB-JWT was presented")

    return VerifiedCredential(
        header=header,
        payload=merged,
        disclosed=resolver.top_level,
        issuer=issuer,
        vct=vct,
        holder_jwk=holder_jwk,
        status=status,
        key_bound=key_bound,
    )
