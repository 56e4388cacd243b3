"""The node's federation keys: Ed25519 pairs with validity dates, kept under the data directory.

The first key is generated once (DATA_DIR/keys/federation-signing.jwks.json, like the credential
key). Rotation without downtime: `eresident federation keys add-next` adds a key valid from a later
date; both are published, peers refresh their trust list, and from that date the node signs with the
new key while the old one stays valid until its own end date for messages still in flight.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from joserfc.jwk import OKPKey

from eresident.config import Settings
from eresident.i18n import N_
from eresident.kit.errors import Problem
from eresident.kit.files import create_once, write_atomic

KEY_FILE = Path("keys") / "federation-signing.jwks.json"
VALIDITY = ("not_before", "not_after")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 time, not {value[:40]!r}") from None
    if at.tzinfo is None:
        raise ValueError(f"{what} needs a time zone")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class FederationKey:
    key: OKPKey
    not_before: datetime
    not_after: datetime

    @property
    def kid(self) -> str:
        kid = self.key.kid
        assert kid is not None  # federation keys are written with a kid (_new_key)
        return kid

    def covers(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after

    def public_jwk(self) -> dict:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "EdDSA",
                "not_before": iso(self.not_before), "not_after": iso(self.not_after)}

    def stored(self) -> dict:
        return {**self.key.as_dict(private=True), "kid": self.kid,
                "not_before": iso(self.not_before), "not_after": iso(self.not_after)}


def _new_key(region: str, not_before: datetime, days: int) -> FederationKey:
    key = OKPKey.generate_key("Ed25519", private=True)
    data = {**key.as_dict(private=True), "kid": f"{region}-fed-{key.thumbprint()[:16]}"}
    return FederationKey(OKPKey.import_key(data), not_before, not_before + timedelta(days=days))


def _load(path: Path) -> list[FederationKey]:
    keys = []
    for entry in json.loads(path.read_text())["keys"]:
        jwk = {k: v for k, v in entry.items() if k not in VALIDITY}
        keys.append(FederationKey(OKPKey.import_key(jwk), parse_time(entry["not_before"], "not_before"),
                                  parse_time(entry["not_after"], "not_after")))
    return keys


_lock = threading.Lock()


class NodeFederationKeys:
    """This node's federation keys; re-read when the file changes (a rotation needs no restart)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.path = settings.data_dir / KEY_FILE
        self._cache: tuple[tuple[int, int, int], list[FederationKey]] | None = None

    def ensure(self, now: datetime) -> None:
        if not self.path.exists():
            first = _new_key(self.settings.region, now - timedelta(minutes=5),
                             self.settings.federation_key_validity_days)
            create_once(self.path, json.dumps({"keys": [first.stored()]}, indent=2).encode())

    def all(self, now: datetime) -> list[FederationKey]:
        self.ensure(now)
        stat = self.path.stat()
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, _load(self.path))
        return self._cache[1]

    def published(self, now: datetime) -> list[FederationKey]:
        """Keys a peer may need: every key not yet past its end (the current one and any next one)."""
        return [k for k in self.all(now) if k.not_after >= now]

    def signing_key(self, now: datetime) -> FederationKey:
        """The newest key whose window covers now."""
        valid = [k for k in self.all(now) if k.covers(now)]
        if not valid:
            raise Problem(503, N_("No valid federation key"), code="no-federation-key",
                          detail=N_("Every federation key of this node is expired or not yet valid; "
                                    "run `eresident federation keys add-next`."))
        return max(valid, key=lambda k: k.not_before)

    def add_next(self, *, now: datetime, not_before: datetime, days: int) -> FederationKey:
        with _lock:
            keys = self.all(now)
            key = _new_key(self.settings.region, not_before, days)
            write_atomic(self.path, json.dumps({"keys": [k.stored() for k in [*keys, key]]}, indent=2).encode(),
                         mode=0o600)
            self._cache = None
            return key

    def document(self, now: datetime) -> dict:
        """What GET /.well-known/eresident/node-keys serves: who this node is and its public keys."""
        return {"region": self.settings.region, "name": self.settings.region_name,
                "base_url": self.settings.base_url.rstrip("/"),
                "keys": [k.public_jwk() for k in self.published(now)]}


_instances: dict[Path, NodeFederationKeys] = {}


def node_keys(settings: Settings) -> NodeFederationKeys:
    path = settings.data_dir.resolve()
    found = _instances.get(path)
    if found is None or found.settings is not settings:
        found = _instances[path] = NodeFederationKeys(settings)
    return found
