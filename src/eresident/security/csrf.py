"""CSRF tokens bound to the browser's session (or pre-session cookie).

A form token is `nonce.signature`; the nonce is consumed in the same transaction as the
change the form makes, so a replayed form is refused and changes nothing. Scripts and
API clients that use the session cookie send a reusable header token (`-.signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

REUSABLE = "-"


class CsrfTokens:
    def __init__(self, key: bytes):
        self._key = key

    def _sign(self, binding: str, nonce: str) -> str:
        return hmac.new(self._key, f"csrf|{binding}|{nonce}".encode(), hashlib.sha256).hexdigest()[:40]

    def form_token(self, binding: str) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(binding, nonce)}"

    def header_token(self, binding: str) -> str:
        return f"{REUSABLE}.{self._sign(binding, REUSABLE)}"

    def check(self, token: str | None, binding: str) -> str | None:
        """Return the nonce if the token is genuine for this binding, else None."""
        if not token or "." not in token:
            return None
        nonce, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(binding, nonce)):
            return None
        return nonce
