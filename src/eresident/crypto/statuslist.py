"""Token Status List (draft-ietf-oauth-status-list): the compressed bit list and the signed
status list token (JWT) that revokes or suspends issued credentials."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, OKPKey

from .sdjwt import (
    CredentialError,
    _alg_for_key,
    _b64url_decode,
    _b64url_encode,
    _check_alg,
    _check_times,
    _is_number,
    _parse_jws,
    _resolve_issuer_key,
    _sign_jws,
    _verify_signature,
)

__all__ = [
    "INVALID",
    "STATUS_LIST_TYP",
    "SUSPENDED",
    "VALID",
    "StatusList",
    "StatusListReading",
    "read_saved_status_list_token",
    "sign_status_list_token",
    "status_of",
    "verify_status_list_token",
]

# Status Type values registered by the draft (0x03 and up are application specific).
VALID, INVALID, SUSPENDED = 0, 1, 2
STATUS_LIST_TYP = "statuslist+jwt"
_ALLOWED_BITS = (1, 2, 4, 8)
# A few hundred bytes of DEFLATE can expand to gigabytes; 16 MiB is 128 Mi one-bit entries,
# far beyond any list we publish, so anything larger is hostile or broken.
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024


class StatusList:
    """A fixed-size array of ``bits``-wide statuses, packed least-significant-bit first."""

    __slots__ = ("_bits", "_data", "_size")

    def __init__(self, size: int, bits: int = 2) -> None:
        # `True in (1, 2, 4, 8)` holds in Python, so bools must be excluded explicitly.
        if isinstance(bits, bool) or bits not in _ALLOWED_BITS:
            raise ValueError(f"bits must be one of {_ALLOWED_BITS}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError("size must be a positive integer")
        self._bits = bits
        self._size = size
        self._data = bytearray((size * bits + 7) // 8)

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self._bits, self._size, self._data) == (other._bits, other._size, other._data)

    def __repr__(self) -> str:
        return f"StatusList(size={self._size}, bits={self._bits})"

    def _locate(self, index: int) -> tuple[int, int]:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("index must be an int")
        # No Python-style negative indexing: -1 as a credential index is always a bug.
        if not 0 <= index < self._size:
            raise IndexError(f"status index {index} out of range 0..{self._size - 1}")
        offset = index * self._bits
        # bits divides 8, so an entry never straddles a byte boundary.
        return offset // 8, offset % 8

    def get(self, index: int) -> int:
        byte, shift = self._locate(index)
        return (self._data[byte] >> shift) & ((1 << self._bits) - 1)

    def set(self, index: int, status: int) -> None:
        mask = (1 << self._bits) - 1
        if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= mask:
            raise ValueError(f"status must be an int in 0..{mask} for bits={self._bits}")
        byte, shift = self._locate(index)
        self._data[byte] = (self._data[byte] & ~(mask << shift) & 0xFF) | (status << shift)

    def to_bytes(self) -> bytes:
        """The uncompressed byte array as the draft lays it out."""
        return bytes(self._data)

    @classmethod
    def from_bytes(cls, data: bytes, bits: int) -> StatusList:
        if not data:
            raise ValueError("status list is empty")
        # The byte array carries no length, so the list holds every entry the bytes can hold.
        out = cls(len(data) * 8 // bits, bits)
        out._data[:] = data
        return out

    def encode(self) -> dict[str, Any]:
        """The JSON ``status_list`` object: ``{"bits": n, "lst": base64url(zlib(bytes))}``."""
        # Level 9 matches the draft's examples byte for byte; DEFLATE output is not unique, so
        # decoders must never compare lst strings, only decompressed bytes.
        return {"bits": self._bits, "lst": _b64url_encode(zlib.compress(bytes(self._data), 9))}

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> StatusList:
        """Parse a ``status_list`` object; raises ValueError if it is malformed.

        The result's size is the byte array's capacity (a multiple of 8 // bits), which may
        exceed the size the list was created with; the extra entries read as 0.
        """
        if not isinstance(obj, Mapping):
            raise ValueError("status_list must be an object")
        bits = obj.get("bits")
        if isinstance(bits, bool) or bits not in _ALLOWED_BITS:
            raise ValueError(f"bits must be one of {_ALLOWED_BITS}")
        lst = obj.get("lst")
        if not isinstance(lst, str):
            raise ValueError("lst must be a string")
        compressed = _b64url_decode(lst)
        inflater = zlib.decompressobj()  # default wbits: the zlib header is required
        try:
            data = inflater.decompress(compressed, MAX_DECOMPRESSED_BYTES)
        except zlib.error as exc:
            raise ValueError(f"lst is not zlib data: {exc}") from exc
        if inflater.unconsumed_tail:
            raise ValueError("status list exceeds the size limit")
        if not inflater.eof or inflater.unused_data:
            raise ValueError("lst is truncated or has trailing data")
        return cls.from_bytes(data, bits)


def sign_status_list_token(
    *,
    signing_key: OKPKey | ECKey,
    uri: str,
    status_list: StatusList,
    issued_at: int,
    expires_at: int | None = None,
    ttl: int | None = None,
    issuer: str | None = None,
) -> str:
    """Sign a Status List Token (JWT, typ ``statuslist+jwt``) published at ``uri``.

    ``issuer`` optionally adds ``iss`` so verifiers can resolve the key the same way they do
    for credentials.
    """
    alg = _alg_for_key(signing_key)
    if not signing_key.is_private:
        raise ValueError("signing_key must be a private key")
    if not signing_key.kid:
        raise ValueError("signing_key must have a kid so verifiers can resolve it")
    if not isinstance(uri, str) or not uri:
        raise ValueError("uri must be a non-empty string")
    if expires_at is not None and expires_at <= issued_at:
        raise ValueError("expires_at must be after issued_at")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
        raise ValueError("ttl must be a positive integer")
    payload: dict[str, Any] = {"sub": uri, "iat": issued_at}
    if issuer is not None:
        payload["iss"] = issuer
    if expires_at is not None:
        payload["exp"] = expires_at
    if ttl is not None:
        payload["ttl"] = ttl
    payload["status_list"] = status_list.encode()
    header = {"typ": STATUS_LIST_TYP, "alg": alg, "kid": signing_key.kid}
    return _sign_jws(header, payload, signing_key)


def verify_status_list_token(
    token: str,
    *,
    resolve_key: Callable[[str, str], object],
    uri: str,
    now: int,
    leeway: int = 60,
    expected_issuer: str | None = None,
) -> StatusList:
    """Verify a Status List Token fetched from ``uri`` and return its list.

    The key is looked up as ``resolve_key(who, kid)`` where ``who`` is ``expected_issuer`` if
    given (so the token cannot steer the lookup), else the token's ``iss``, else ``uri``.
    Raises :class:`CredentialError`; a ``sub`` other than ``uri`` is reason ``format``.
    """
    parsed = _parse_jws(token, "format", "status list token")
    header, payload = parsed.header, parsed.payload
    if header.get("typ") != STATUS_LIST_TYP:
        raise CredentialError("typ", f"typ {header.get('typ')!r} is not {STATUS_LIST_TYP}")
    alg = _check_alg(header, "signature", "status list token")
    iss = payload.get("iss")
    if iss is not None and not isinstance(iss, str):
        raise CredentialError("issuer", "status list token iss is not a string")
    if expected_issuer is not None and iss is not None and iss != expected_issuer:
        raise CredentialError("issuer", f"status list token is from {iss!r}")
    who = expected_issuer if expected_issuer is not None else (iss or uri)
    key = _resolve_issuer_key(resolve_key, who, header.get("kid"), "status list token")
    _verify_signature(parsed, key, alg, "signature", "status list token")

    # A validly signed list for another URI must not answer for this one (list substitution).
    if payload.get("sub") != uri:
        raise CredentialError("format", "status list token sub does not match its URI")
    _check_times(payload, now=now, leeway=leeway, what="status list token", require_iat=True)
    ttl = payload.get("ttl")
    if ttl is not None and (not _is_number(ttl) or ttl <= 0):
        raise CredentialError("format", "status list token ttl is not a positive number")
    try:
        return StatusList.decode(payload.get("status_list"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise CredentialError("format", f"status_list is malformed: {exc}") from exc


def status_of(token_payload_status: Mapping[str, Any], status_list: StatusList) -> int:
    """The status value for a referenced token's ``status`` claim.

    Accepts the whole claim (``{"status_list": {"idx", "uri"}}``) or its inner object. The
    caller must have verified ``status_list`` against the reference's ``uri``.
    """
    ref: Any = token_payload_status
    if isinstance(ref, Mapping) and "status_list" in ref:
        ref = ref["status_list"]
    if not isinstance(ref, Mapping):
        raise CredentialError("format", "status reference is not an object")
    idx = ref.get("idx")
    if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
        raise CredentialError("format", "status reference idx is not a non-negative integer")
    if idx >= status_list.size:
        raise CredentialError("format", f"status index {idx} is outside the list")
    return status_list.get(idx)


@dataclass(frozen=True)
class StatusListReading:
    """A status list read from a saved copy of its token, and how old that copy is."""

    status_list: StatusList
    issued_at: int
    expires_at: int | None
    fresh: bool  # False: the token had expired at the time of reading


def read_saved_status_list_token(
    token: str,
    *,
    resolve_key: Callable[[str, str], object],
    uri: str,
    now: int,
    leeway: int = 60,
    expected_issuer: str | None = None,
) -> StatusListReading:
    """Read a status list token someone saved earlier (an offline check), as
    :func:`verify_status_list_token` does, except that an expired token is still read, marked
    ``fresh=False``: the signature, ``sub`` and every other check still apply, the list is as it
    stood at ``iat``. A caller may trust a revoked (INVALID) entry in it, since revocation is
    final, but must not call a VALID entry current. Raises :class:`CredentialError`."""
    try:
        found = verify_status_list_token(token, resolve_key=resolve_key, uri=uri, now=now, leeway=leeway,
                                         expected_issuer=expected_issuer)
        fresh = True
    except CredentialError as exc:
        if exc.reason != "expired":
            raise
        issued_at = _parse_jws(token, "format", "status list token").payload.get("iat")
        if not _is_number(issued_at):
            raise
        # Checked again as of its own issue time: the signature and the rest, only not the age.
        found = verify_status_list_token(token, resolve_key=resolve_key, uri=uri, now=int(issued_at),
                                         leeway=leeway, expected_issuer=expected_issuer)
        fresh = False
    payload = _parse_jws(token, "format", "status list token").payload
    expires = payload.get("exp")
    return StatusListReading(status_list=found, issued_at=int(payload["iat"]),
                             expires_at=int(expires) if _is_number(expires) else None, fresh=fresh)
