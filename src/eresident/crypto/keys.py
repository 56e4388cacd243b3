"""The node's secrets and signing keys: generated once under the data directory, loaded at start."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from joserfc.jwk import KeySet, OKPKey

from eresident.config import Settings
from eresident.crypto.fields import b64url_decode, b64url_encode


@dataclass(frozen=True)
class NodeSecrets:
    secret_key: bytes  # HMAC for session tokens, CSRF
    data_key: bytes  # AES-256-GCM for personal data
    blind_index_key: bytes


@dataclass(frozen=True)
class NodeKeys:
    """The region's credential-signing key (Ed25519) and the public key set it publishes."""

    signing: OKPKey

    @property
    def kid(self) -> str:
        return self.signing.kid

    def public_jwks(self) -> dict:
        return KeySet([OKPKey.import_key(self.signing.as_dict(private=False))]).as_dict(private=False)


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)


def load_secrets(settings: Settings) -> NodeSecrets:
    path = settings.data_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    needed = {"secret_key": settings.secret_key, "data_key": settings.data_key,
              "blind_index_key": settings.blind_index_key}
    generated = False
    for name, value in needed.items():
        if not value:
            if name not in stored:
                stored[name] = b64url_encode(secrets.token_bytes(32))
                generated = True
            needed[name] = stored[name]
    if generated:
        if path.exists():
            path.unlink()
        _write_private(path, json.dumps(stored, indent=2))
    return NodeSecrets(*(b64url_decode(needed[n]) for n in ("secret_key", "data_key",
                                                           "blind_index_key")))


def load_signing_key(settings: Settings) -> NodeKeys:
    path = settings.data_dir / "keys" / "credential-signing.jwk.json"
    if path.exists():
        key = OKPKey.import_key(json.loads(path.read_text()))
    else:
        key = OKPKey.generate_key("Ed25519", private=True)
        key.ensure_kid()
        data = key.as_dict(private=True)
        data["kid"] = f"{settings.region}-{key.kid[:16]}"
        key = OKPKey.import_key(data)
        _write_private(path, json.dumps(data))
    return NodeKeys(signing=key)
