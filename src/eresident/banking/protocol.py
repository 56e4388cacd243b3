"""The partner-bank wire protocol, shared by the node and the sandbox bank: paths, what a signature
covers, signing and checking a POST (RFC 9421 ed25519 + RFC 9530 Content-Digest, reusing
federation.httpsig), bank keys, and the account-number check digit (Luhn).

Node → bank: POST {bank}/v1/account-requests (and …/{ref}/video-call, /v1/consent-withdrawals), JSON, an
`Idempotency-Key` header, signed with the node's federation key (the bank knows the node's published
node-keys).
Bank → node: POST {node}/api/v1/bank-callbacks, JSON, signed with the bank's own Ed25519 key
(published at {bank}/.well-known/bank-keys and pinned by the node's operator: banking/trust.py),
nonce = the event id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.jwk import OKPKey

from eresident.federation import httpsig
from eresident.kit.files import create_once

REQUESTS_PATH = "/v1/account-requests"
BOOKING_PATH = "/v1/account-requests/{ref}/video-call"
WITHDRAWALS_PATH = "/v1/consent-withdrawals"
BANK_KEYS_PATH = "/.well-known/bank-keys"
CALLBACK_PATH = "/api/v1/bank-callbacks"
NODE_KEYS_PATH = "/.well-known/eresident/node-keys"
REQUEST_COVERED = ("@method", "@target-uri", "content-digest", "content-type", "idempotency-key")
CALLBACK_COVERED = ("@method", "@target-uri", "content-digest", "content-type")
REQUIRED_PARAMS = ("created", "expires", "keyid", "alg", "nonce")
TTL_SECONDS = 300
MAX_SKEW_SECONDS = 60
CALLBACK_STATUSES = ("received", "refused", "video_call_required", "video_call_booked", "opened")


def dumps(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign_post(*, url: str, body: bytes, private_key, kid: str, now: datetime, nonce: str,
              idempotency_key: str | None = None) -> dict[str, str]:
    """Headers for a signed JSON POST of `body` to `url`."""
    headers = {"Content-Type": "application/json", "Content-Digest": httpsig.content_digest(body)}
    covered: tuple[str, ...] = CALLBACK_COVERED
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
        covered = REQUEST_COVERED
    created = int(now.timestamp())
    headers |= httpsig.sign(httpsig.HttpRequest.of("POST", url, headers.items()), key=private_key, keyid=kid,
                            components=covered, created=created, expires=created + TTL_SECONDS, nonce=nonce)
    return headers


def verify_post(*, target_uri: str, headers: Iterable[tuple[str, str]], body: bytes, now: datetime,
                resolve_key: Callable[[str, int], tuple[Ed25519PublicKey, object]],
                covered: tuple[str, ...]) -> httpsig.VerifiedSignature:
    """Check a signed POST; raises httpsig.SignatureError naming the reason."""
    request = httpsig.HttpRequest.of("POST", target_uri, headers)
    return httpsig.verify(request, resolve_key=resolve_key, now=int(now.timestamp()), max_skew=MAX_SKEW_SECONDS,
                          required_components=covered, required_params=REQUIRED_PARAMS, body=body,
                          max_age=TTL_SECONDS)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- keys ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BankKey:
    key: OKPKey

    @property
    def kid(self) -> str:
        kid = self.key.kid
        assert kid is not None  # the key file is written with a kid (load_or_create_bank_key)
        return kid

    @property
    def private_key(self):
        return self.key.private_key

    def public_jwk(self) -> dict:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "EdDSA"}


def load_or_create_bank_key(path: Path, code: str) -> BankKey:
    """The bank's Ed25519 key, generated once into `path` (mode 0600)."""
    if not path.exists():
        key = OKPKey.generate_key("Ed25519", private=True)
        data = {**key.as_dict(private=True), "kid": f"{code}-bank-{key.thumbprint()[:16]}"}
        create_once(path, json.dumps({"keys": [data]}, indent=2).encode())
    entry = json.loads(path.read_text())["keys"][0]
    return BankKey(OKPKey.import_key(entry))


def public_key_of(jwk: dict) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
        raise ValueError("a bank or node key is a public Ed25519 JWK")
    # joserfc types an OKP key as any of its curves; this one was checked to be Ed25519 just above
    return cast(Ed25519PublicKey, OKPKey.import_key({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "kid")})
                .public_key)


def key_window_ok(jwk: dict, created: int) -> bool:
    """A node key's not_before/not_after (when given) cover the signature's creation time."""
    at = datetime.fromtimestamp(created, UTC)
    try:
        lo = datetime.fromisoformat(jwk["not_before"].replace("Z", "+00:00")) if "not_before" in jwk else None
        hi = datetime.fromisoformat(jwk["not_after"].replace("Z", "+00:00")) if "not_after" in jwk else None
    except (AttributeError, ValueError):
        return False
    return (lo is None or lo - timedelta(seconds=MAX_SKEW_SECONDS) <= at) and (hi is None or at <= hi)


# --- account numbers -----------------------------------------------------------------------------

def luhn_check_digit(digits: str) -> str:
    """The Luhn (ISO/IEC 7812-1) check digit to append to `digits`."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, starting with the one next to the check digit
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]
