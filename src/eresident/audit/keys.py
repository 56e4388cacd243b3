"""The node's checkpoint-signing key (Ed25519), separate from its credential key: generated once
under DATA_DIR/keys/checkpoint-signing.jwk.json and loaded from there afterwards.

The key's note name is the log's origin. It is fixed when the key is made (from the node's base
URL) and kept in the key file, so moving the node to another address does not change the log.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from eresident.audit.note import NoteSigner, NoteVerifier, valid_key_name
from eresident.config import Settings
from eresident.crypto.fields import b64url_decode
from eresident.kit.files import create_once

KEY_FILE = Path("keys") / "checkpoint-signing.jwk.json"
_cache: dict[Path, NoteSigner] = {}
_lock = threading.Lock()


def log_origin(settings: Settings) -> str:
    """A schema-less URL naming this node's log, e.g. `lj.example.gov.cn/audit`."""
    parts = urlsplit(settings.base_url)
    origin = f"{parts.netloc}{parts.path.rstrip('/')}/audit"
    return origin if valid_key_name(origin) else f"eresident.{settings.region.lower()}/audit"


def load_checkpoint_key(settings: Settings) -> NoteSigner:
    path = (settings.data_dir / KEY_FILE).resolve()
    with _lock:
        signer = _cache.get(path)
        if signer is None:
            signer = _cache[path] = _load_or_create(path, log_origin(settings))
        return signer


def _load_or_create(path: Path, origin: str) -> NoteSigner:
    if not path.exists():
        key = OKPKey.generate_key("Ed25519", private=True)
        data = {**key.as_dict(private=True), "kid": origin, "use": "sig"}
        create_once(path, json.dumps(data).encode())  # a concurrent starter reads the winner's key
    data = json.loads(path.read_text())
    if data.get("kty") != "OKP" or data.get("crv") != "Ed25519" or "d" not in data:
        raise ValueError(f"{path} is not an Ed25519 private JWK")
    private = Ed25519PrivateKey.from_private_bytes(b64url_decode(data["d"]))
    return NoteSigner(data["kid"], private)


def load_checkpoint_verifier(settings: Settings) -> NoteVerifier | None:
    """The public half of the node's checkpoint key, or None if the node never made one
    (verification must not create a key as a side effect)."""
    path = (settings.data_dir / KEY_FILE).resolve()
    if path not in _cache and not path.exists():
        return None
    return load_checkpoint_key(settings).verifier
