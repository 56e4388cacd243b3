"""The trust list: which peer nodes this node believes, by region code, base URL and public keys.

Bootstrapped out of band, like an X-Road configuration anchor: a JSON file under the data directory
(DATA_DIR/trust.json unless FEDERATION_TRUST_FILE says otherwise) that an operator fills with
`eresident federation trust add`, after comparing key fingerprints with the peer's operator. The
file is re-read when it changes. Everything fails closed: no file, an unknown key, a key outside its
validity window or a revoked key refuses the message. Any number of peers may be listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.jwk import OKPKey

from eresident.config import Settings
from eresident.federation.httpsig import SignatureError
from eresident.federation.keys import iso, parse_time
from eresident.kit.files import ParsedJsonFiles

REGION = re.compile(r"^[A-Z]{2,8}$")
KID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class TrustError(ValueError):
    """A trust list or peer key document that cannot be used."""


def trust_path(settings: Settings) -> Path:
    return settings.federation_trust_file or settings.data_dir / "trust.json"


def fingerprint(jwk: dict) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key, base64url: what operators compare by phone."""
    return OKPKey.import_key({k: jwk[k] for k in ("kty", "crv", "x")}).thumbprint()


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    region: str
    jwk: dict  # public members only
    not_before: datetime
    not_after: datetime
    revoked: bool = False

    @property
    def public_key(self) -> Ed25519PublicKey:
        # joserfc types an OKP key as any of its curves; _key admits Ed25519 keys only
        return cast(Ed25519PublicKey, OKPKey.import_key(self.jwk).public_key)

    def to_json(self) -> dict:
        return {**self.jwk, "kid": self.kid, "not_before": iso(self.not_before),
                "not_after": iso(self.not_after), "revoked": self.revoked}


@dataclass
class Peer:
    region: str
    name: str
    base_url: str
    keys: list[TrustedKey] = field(default_factory=list)
    added_at: str = ""
    # Recognition (federation/recognition.py): the peer's credential issuer and its public keys
    # (each may carry "revoked": true), and its X25519 key for the per-pair duplicate-check key.
    credential_issuer: str | None = None
    credential_keys: list[dict] = field(default_factory=list)
    agreement_key: dict | None = None
    # Witnessing (audit/witness.py): the peer's log origin and checkpoint key (signed-note vkey),
    # which checks its checkpoints and its cosignatures of ours.
    audit_log: dict | None = None

    def credential_key(self, issuer: str, kid: str) -> dict | None:
        """The peer's credential-signing key `kid` if `issuer` is the peer's and the key is not revoked."""
        if not self.credential_issuer or issuer != self.credential_issuer:
            return None
        found = next((k for k in self.credential_keys if k["kid"] == kid), None)
        return None if found is None or found.get("revoked") else found

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/api/v1/federation/messages"

    def to_json(self) -> dict:
        out: dict[str, Any] = {"region": self.region, "name": self.name, "base_url": self.base_url,
               "added_at": self.added_at, "keys": [k.to_json() for k in self.keys]}
        if self.credential_issuer:
            out["credential_issuer"] = {"issuer": self.credential_issuer, "keys": self.credential_keys}
        if self.agreement_key:
            out["agreement_key"] = self.agreement_key
        if self.audit_log:
            out["audit_log"] = self.audit_log
        return out


def _key(entry: object, region: str, *, from_peer: bool) -> TrustedKey:
    if not isinstance(entry, dict):
        raise TrustError("a key is not a JSON object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not KID.match(kid):
        raise TrustError("a key has no usable kid")
    if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or not isinstance(entry.get("x"), str):
        raise TrustError(f"key {kid} is not an Ed25519 public key")
    if "d" in entry:
        raise TrustError(f"key {kid} contains a private key: refusing it")
    try:
        OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": entry["x"]})
        not_before = parse_time(entry.get("not_before"), f"key {kid} not_before")
        not_after = parse_time(entry.get("not_after"), f"key {kid} not_after")
    except (ValueError, TypeError) as exc:
        raise TrustError(f"key {kid}: {exc}") from None
    if not_after <= not_before:
        raise TrustError(f"key {kid} ends before it starts")
    revoked = False if from_peer else entry.get("revoked", False) is True
    return TrustedKey(kid=kid, region=region, jwk={"kty": "OKP", "crv": "Ed25519", "x": entry["x"]},
                      not_before=not_before, not_after=not_after, revoked=revoked)


def _peer(entry: object, *, from_peer: bool) -> Peer:
    if not isinstance(entry, dict):
        raise TrustError("a peer is not a JSON object")
    region = entry.get("region")
    if not isinstance(region, str) or not REGION.match(region):
        raise TrustError("a peer has no valid region code (2-8 capital letters)")
    base_url = entry.get("base_url")
    if not isinstance(base_url, str) or not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", base_url):
        raise TrustError(f"peer {region} has no valid base_url")
    name = entry.get("name")
    if not isinstance(name, str):
        name = region
    keys = entry.get("keys")
    if not isinstance(keys, list) or not keys:
        raise TrustError(f"peer {region} lists no keys")
    from eresident.audit.witness import parse_audit_log
    from eresident.federation.recognition import parse_agreement_key, parse_credential_issuer

    issuer, credential_keys = parse_credential_issuer(entry.get("credential_issuer"), region, from_peer=from_peer)
    if issuer is not None and issuer.rstrip("/") != base_url.rstrip("/"):
        # A node vouches only for credentials issued under its own address: otherwise a peer could
        # publish another region's issuer URL with keys of its own and mint that region's e-residents.
        raise TrustError(f"{region}'s credential issuer {issuer[:200]!r} is not its own address {base_url[:200]!r}")
    return Peer(region=region, name=name[:200], base_url=base_url.rstrip("/"),
                keys=[_key(k, region, from_peer=from_peer) for k in keys],
                added_at=str(entry.get("added_at", "")), credential_issuer=issuer,
                credential_keys=credential_keys, agreement_key=parse_agreement_key(entry.get("agreement_key"), region),
                audit_log=parse_audit_log(entry.get("audit_log"), region))


class TrustList:
    def __init__(self, peers: list[Peer]):
        self.peers = {p.region: p for p in peers}
        self._by_kid: dict[str, TrustedKey] = {}
        for peer in peers:
            for key in peer.keys:
                if key.kid in self._by_kid:
                    raise TrustError(f"key {key.kid} is listed twice")
                self._by_kid[key.kid] = key
        if len(self.peers) != len(peers):
            raise TrustError("a region is listed twice")
        issuers = [p.credential_issuer for p in peers if p.credential_issuer]
        if len(set(issuers)) != len(issuers):
            raise TrustError("a credential issuer is listed for two regions")

    @classmethod
    def from_json(cls, data: object) -> TrustList:
        if not isinstance(data, dict) or not isinstance(data.get("peers"), list):
            raise TrustError('the trust list is not {"peers": [...]}')
        return cls([_peer(p, from_peer=False) for p in data["peers"]])

    def to_json(self) -> dict:
        return {"version": 1, "peers": [p.to_json() for p in self.peers.values()]}

    def peer(self, region: str) -> Peer | None:
        return self.peers.get(region)

    def key(self, kid: str) -> TrustedKey | None:
        return self._by_kid.get(kid)

    def resolve(self, kid: str, at: datetime) -> TrustedKey:
        """The key for a signature made at `at`, or SignatureError naming why it is refused."""
        key = self._by_kid.get(kid)
        if key is None:
            raise SignatureError("key-unknown", f"Key {kid!r} is not in this node's trust list.")
        if key.revoked:
            raise SignatureError("key-revoked", f"Key {kid!r} has been revoked.")
        if at < key.not_before:
            raise SignatureError("key-not-yet-valid", f"Key {kid!r} is valid from {iso(key.not_before)}.")
        if at > key.not_after:
            raise SignatureError("key-expired", f"Key {kid!r} expired at {iso(key.not_after)}.")
        return key


_files = ParsedJsonFiles()


def load_trust(settings: Settings) -> TrustList:
    """The trust list as the file says now (an empty list when there is no file)."""
    return load_trust_at(trust_path(settings))


def load_trust_at(path: Path) -> TrustList:
    """`load_trust` for a known path: one stat() per call when the file has not changed."""
    try:
        return _files.read(path, TrustList.from_json, lambda: TrustList([]))
    except (OSError, ValueError) as exc:
        raise TrustError(f"{path}: {exc}") from None


def save_trust(settings: Settings, trust: TrustList) -> None:
    _files.write(trust_path(settings), trust.to_json())


@dataclass
class PeerChange:
    peer: Peer
    new_keys: list[TrustedKey]
    kept_keys: list[TrustedKey]
    dropped_keys: list[TrustedKey]
    is_new_peer: bool


def parse_node_keys(document: object, *, own_region: str) -> Peer:
    """A peer's GET /.well-known/eresident/node-keys document, checked."""
    peer = _peer(document, from_peer=True)
    if peer.region == own_region:
        raise TrustError(f"that document is this node's own region ({own_region})")
    return peer


def merge_peer(trust: TrustList, incoming: Peer, *, now: datetime) -> tuple[TrustList, PeerChange]:
    """The trust list with `incoming` added or refreshed. A refresh keeps revocations (a key once
    revoked here stays revoked) and drops keys the peer no longer publishes only once they expire."""
    existing = trust.peer(incoming.region)
    incoming.added_at = existing.added_at if existing else iso(now)
    old = {k.kid: k for k in existing.keys} if existing else {}
    keys, new, kept = [], [], []
    for key in incoming.keys:
        prior = old.pop(key.kid, None)
        if prior is not None:
            if prior.jwk != key.jwk:
                raise TrustError(f"key {key.kid} changed its public key: refusing (revoke it first)")
            key = TrustedKey(key.kid, key.region, key.jwk, key.not_before, key.not_after, prior.revoked)
            kept.append(key)
        else:
            new.append(key)
        keys.append(key)
    dropped = []
    for prior in old.values():  # no longer published: keep while valid, so in-flight messages verify
        if prior.not_after >= now:
            keys.append(prior)
        else:
            dropped.append(prior)
    incoming.keys = keys
    if existing is not None:
        from eresident.federation.recognition import merge_credential_keys

        incoming.credential_keys = merge_credential_keys(existing.credential_keys, incoming.credential_keys)
        incoming.audit_log = incoming.audit_log or existing.audit_log
    peers = [p for p in trust.peers.values() if p.region != incoming.region] + [incoming]
    return TrustList(peers), PeerChange(incoming, new, kept, dropped, existing is None)


def revoke(trust: TrustList, kid: str) -> TrustList:
    key = trust.key(kid) or next((k for p in trust.peers.values() for k in p.credential_keys
                                  if k["kid"] == kid), None)
    if key is None:
        raise TrustError(f"no key {kid!r} in the trust list")
    peers = []
    for peer in trust.peers.values():
        keys = [TrustedKey(k.kid, k.region, k.jwk, k.not_before, k.not_after, True) if k.kid == kid else k
                for k in peer.keys]
        credential_keys = [{**k, "revoked": True} if k["kid"] == kid else k for k in peer.credential_keys]
        peers.append(Peer(peer.region, peer.name, peer.base_url, keys, peer.added_at, peer.credential_issuer,
                          credential_keys, peer.agreement_key, peer.audit_log))
    return TrustList(peers)
