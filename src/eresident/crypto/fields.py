"""Personal data at rest: AES-256-GCM for values, a keyed HMAC blind index for equality lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


class FieldCipher:
    """Encrypts one field value; the associated data binds it to its column so values can't be swapped."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("data key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, blob: bytes, *, context: str) -> str:
        if not blob or blob[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        return self._aead.decrypt(blob[1:13], blob[13:], context.encode()).decode()


class BlindIndex:
    """HMAC-SHA256 of a normalised value: equal inputs give equal indexes, nothing else leaks."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, value: str, *, context: str) -> str:
        normalised = "".join(value.split()).upper()
        return hmac.new(self._key, f"{context}:{normalised}".encode(), hashlib.sha256).hexdigest()
