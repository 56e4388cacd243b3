"""The partner banks' pinned public keys: the only keys a bank callback may be signed with.

Pinned out of band by an operator (`eresident bank trust add URL`, which fetches the bank's
/.well-known/bank-keys once and asks to confirm the fingerprints; `eresident up` does it for the demo
sandbox bank) into a JSON file under the data directory (DATA_DIR/bank-trust.json unless
BANK_TRUST_FILE says otherwise). The node never fetches a bank key when it checks a callback: an
unknown kid, a revoked key or an unreadable file fails closed. Rotation is adding the bank's new key
(`trust add` again once the bank publishes it); a key the bank stops publishing stays pinned until
an operator revokes it (`eresident bank trust revoke-key KID`). The file is re-read when it changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.jwk import OKPKey

from eresident.banking import protocol
from eresident.config import Settings
from eresident.federation.httpsig import SignatureError
from eresident.federation.trust import KID, fingerprint  # noqa: F401  (fingerprint: for the CLI; shown as for peers)
from eresident.kit.files import ParsedJsonFiles

BANK_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,15}$")


class BankTrustError(ValueError):
    """A bank trust file or a bank-keys document that cannot be used."""


def trust_path(settings: Settings) -> Path:
    return settings.bank_trust_file or settings.data_dir / "bank-trust.json"


@dataclass(frozen=True)
class PinnedKey:
    kid: str
    bank: str
    jwk: dict  # public members only: kty, crv, x
    pinned_at: str
    revoked: bool = False

    def to_json(self) -> dict:
        return {**self.jwk, "kid": self.kid, "pinned_at": self.pinned_at, "revoked": self.revoked}


@dataclass
class PinnedBank:
    code: str
    base_url: str
    keys: list[PinnedKey] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"code": self.code, "base_url": self.base_url, "keys": [k.to_json() for k in self.keys]}


def _public_jwk(entry: object, *, where: str) -> tuple[str, dict]:
    if not isinstance(entry, dict):
        raise BankTrustError(f"{where}: a key is not a JSON object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not KID.match(kid):
        raise BankTrustError(f"{where}: a key has no usable kid")
    if "d" in entry:
        raise BankTrustError(f"{where}: key {kid} contains a private key: refusing it")
    if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or not isinstance(entry.get("x"), str):
        raise BankTrustError(f"{where}: key {kid} is not an Ed25519 public key")
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": entry["x"]}
    try:
        OKPKey.import_key(jwk)
    except (ValueError, TypeError) as exc:
        raise BankTrustError(f"{where}: key {kid}: {exc}") from None
    return kid, jwk


class BankTrust:
    """The pinned banks and their keys, with the public keys imported once."""

    def __init__(self, banks: list[PinnedBank]):
        self.banks = {b.code: b for b in banks}
        if len(self.banks) != len(banks):
            raise BankTrustError("a bank is listed twice")
        self._by_kid: dict[str, tuple[PinnedKey, Ed25519PublicKey]] = {}
        for bank in banks:
            for key in bank.keys:
                if key.kid in self._by_kid:
                    raise BankTrustError(f"key {key.kid} is listed twice")
                # joserfc types an OKP key as any of its curves; _public_jwk admits Ed25519 keys only
                self._by_kid[key.kid] = (key, cast(Ed25519PublicKey, OKPKey.import_key(key.jwk).public_key))

    @classmethod
    def from_json(cls, data: object) -> BankTrust:
        if not isinstance(data, dict) or not isinstance(data.get("banks"), list):
            raise BankTrustError('the bank trust file is not {"banks": [...]}')
        banks = []
        for entry in data["banks"]:
            if not isinstance(entry, dict) or not BANK_CODE.match(str(entry.get("code", ""))):
                raise BankTrustError("a bank has no valid code")
            code = entry["code"]
            keys = []
            for raw in entry.get("keys") or []:
                kid, jwk = _public_jwk(raw, where=f"bank {code}")
                keys.append(PinnedKey(kid=kid, bank=code, jwk=jwk, pinned_at=str(raw.get("pinned_at", "")),
                                      revoked=raw.get("revoked", False) is True))
            banks.append(PinnedBank(code=code, base_url=str(entry.get("base_url", "")), keys=keys))
        return cls(banks)

    def to_json(self) -> dict:
        return {"version": 1, "banks": [b.to_json() for b in self.banks.values()]}

    def key(self, kid: str) -> PinnedKey | None:
        found = self._by_kid.get(kid)
        return found[0] if found else None

    def resolve(self, kid: str) -> tuple[Ed25519PublicKey, str]:
        """The public key pinned for `kid` and its bank's code, or SignatureError naming why not."""
        found = self._by_kid.get(kid)
        if found is None:
            raise SignatureError("key-unknown", "The callback is signed with a key that is not pinned for any "
                                                "partner bank.")
        key, public = found
        if key.revoked:
            raise SignatureError("key-revoked", f"Key {kid!r} of bank {key.bank} has been revoked.")
        return public, key.bank


_files = ParsedJsonFiles()


def load_bank_trust(settings: Settings) -> BankTrust:
    """The pinned keys as the file says now (none when there is no file). Never touches the network."""
    path = trust_path(settings)
    try:
        return _files.read(path, BankTrust.from_json, lambda: BankTrust([]))
    except (OSError, ValueError) as exc:
        raise BankTrustError(f"{path}: {exc}") from None


def save_bank_trust(settings: Settings, trust: BankTrust) -> None:
    _files.write(trust_path(settings), trust.to_json())


# --------------------------------------------------------------------------- pinning (operators only)

@dataclass(frozen=True)
class PinChange:
    code: str
    base_url: str
    new_keys: list[PinnedKey]
    kept_keys: list[PinnedKey]
    unpublished_keys: list[PinnedKey]  # pinned before, no longer published by the bank: still pinned
    is_new_bank: bool


def parse_bank_keys(document: object) -> tuple[str, list[tuple[str, dict]]]:
    """A bank's GET /.well-known/bank-keys document, checked: (bank code, [(kid, public jwk)])."""
    if not isinstance(document, dict):
        raise BankTrustError("the bank-keys document is not a JSON object")
    code = document.get("bank")
    if not isinstance(code, str) or not BANK_CODE.match(code):
        raise BankTrustError("the bank-keys document names no valid bank code")
    keys = document.get("keys")
    if not isinstance(keys, list) or not keys:
        raise BankTrustError(f"bank {code} publishes no keys")
    return code, [_public_jwk(k, where=f"bank {code}") for k in keys]


def fetch_bank_keys(base_url: str, *, timeout: float = 10.0) -> dict:
    """The bank's published keys document, fetched once for an operator to confirm (never by the
    callback check)."""
    response = httpx.get(base_url.rstrip("/") + protocol.BANK_KEYS_PATH, timeout=timeout, follow_redirects=False)
    response.raise_for_status()
    return response.json()


def pin(trust: BankTrust, *, code: str, base_url: str, keys: list[tuple[str, dict]],
        now: datetime) -> tuple[BankTrust, PinChange]:
    """The trust with `keys` pinned for bank `code`. A kid pinned before keeps its first public key
    (a different one under the same kid is refused); keys the bank no longer publishes stay pinned
    (revoking is a separate, explicit step)."""
    existing = trust.banks.get(code)
    old = {k.kid: k for k in existing.keys} if existing else {}
    elsewhere = {k.kid: k.bank for b in trust.banks.values() if b.code != code for k in b.keys}
    new, kept, out = [], [], list(existing.keys) if existing else []
    for kid, jwk in keys:
        if kid in elsewhere:
            raise BankTrustError(f"key {kid} is already pinned for bank {elsewhere[kid]}")
        prior = old.get(kid)
        if prior is not None:
            if prior.jwk != jwk:
                raise BankTrustError(f"bank {code} now publishes another public key under kid {kid}: refusing "
                                     "(revoke the old key first, then pin again)")
            kept.append(prior)
            continue
        key = PinnedKey(kid=kid, bank=code, jwk=jwk, pinned_at=protocol.iso(now))
        new.append(key)
        out.append(key)
    published = {kid for kid, _ in keys}
    unpublished = [k for k in old.values() if k.kid not in published]
    bank = PinnedBank(code=code, base_url=base_url.rstrip("/") or (existing.base_url if existing else ""), keys=out)
    banks = [b for b in trust.banks.values() if b.code != code] + [bank]
    return BankTrust(banks), PinChange(code, bank.base_url, new, kept, unpublished, existing is None)


def revoke(trust: BankTrust, kid: str) -> BankTrust:
    """The trust with key `kid` marked revoked: callbacks signed with it are refused from then on."""
    if trust.key(kid) is None:
        raise BankTrustError(f"no pinned bank key {kid!r}")
    banks = [PinnedBank(b.code, b.base_url, [PinnedKey(k.kid, k.bank, k.jwk, k.pinned_at, True) if k.kid == kid
                                             else k for k in b.keys]) for b in trust.banks.values()]
    return BankTrust(banks)
