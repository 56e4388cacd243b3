"""The node's secrets and signing keys: generated once under the data directory, loaded at start."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from joserfc.jwk import KeySet, KeySetSerialization, OKPKey

from eresident.config import Settings
from eresident.crypto.fields import b64url_decode, b64url_encode
from eresident.kit.files import create_once

SECRET_NAMES = ("secret_key", "data_key", "blind_index_key")


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
        kid = self.signing.kid
        assert kid is not None  # the key file is written with a kid (load_signing_key)
        return kid

    def public_jwks(self) -> KeySetSerialization:
        return KeySet([OKPKey.import_key(self.signing.as_dict(private=False))]).as_dict(private=False)


def load_secrets(settings: Settings) -> NodeSecrets:
    """Secrets from settings where given; the rest generated once into DATA_DIR/secrets.json."""
    fresh = {name: b64url_encode(secrets.token_bytes(32)) for name in SECRET_NAMES}
    stored = json.loads(create_once(settings.data_dir / "secrets.json", json.dumps(fresh, indent=2).encode()))
    return NodeSecrets(*(b64url_decode(getattr(settings, name) or stored[name]) for name in SECRET_NAMES))


def load_signing_key(settings: Settings) -> NodeKeys:
    path = settings.data_dir / "keys" / "credential-signing.jwk.json"
    if not path.exists():
        key = OKPKey.generate_key("Ed25519", private=True)
        key.ensure_kid()
        assert key.kid is not None  # ensure_kid set it
        data = {**key.as_dict(private=True), "kid": f"{settings.region}-{key.kid[:16]}"}
        create_once(path, json.dumps(data).encode())
    return NodeKeys(signing=OKPKey.import_key(json.loads(path.read_text())))
