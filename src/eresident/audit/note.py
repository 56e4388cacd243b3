"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, and tree-head checkpoints in them
(c2sp.org/tlog-checkpoint): origin line, tree size, base64 root hash, blank line, signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519_TYPE = b"\x01"
EM_DASH = "\u2014"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note or checkpoint that is malformed or not signed by the expected key."""


def valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """A known Ed25519 key: its name and raw public key."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def vkey(self) -> str:
        """The verifier key string witnesses are configured with: name+hex(key id)+base64(type||key)."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519_TYPE + self.public_key).decode()}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise NoteError(f"key name {self.name!r} is empty or contains a space or '+'")

    @property
    def verifier(self) -> NoteVerifier:
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return NoteVerifier(self.name, raw)

    def signature_line(self, text: str) -> str:
        signature = self.private_key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


def sign(text: str, signer: NoteSigner) -> str:
    _check_text(text)
    return text + "\n" + signer.signature_line(text)


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def parse(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text (with its final newline) and its signature lines."""
    if _CONTROL.search(note):
        raise NoteError("the note contains control characters")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("the note has no blank line before its signatures")
    text, lines = note[:cut + 1], note[cut + 2:].splitlines()
    if not lines:
        raise NoteError("the note has no signatures")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or not valid_key_name(parts[1]):
            raise NoteError("a signature line is malformed")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise NoteError("a signature is not valid base64") from None
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        signatures.append(Signature(parts[1], blob[:4], blob[4:]))
    return text, signatures


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The note's text if `verifier`'s key signed it and none of its signatures fails; else NoteError.
    Signatures by other keys are ignored, as the spec requires."""
    text, signatures = parse(note)
    known = [s for s in signatures if s.name == verifier.name and s.key_id == verifier.key_id]
    if not known:
        raise NoteError(f"the note is not signed by {verifier.name}")
    if not all(verifier.verify(text.encode(), s.signature) for s in known):
        raise NoteError(f"the signature by {verifier.name} does not verify")
    return text


# -- checkpoints ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
        raise NoteError("a checkpoint is at least three non-empty lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _DECIMAL.fullmatch(size):
        raise NoteError("the tree size is not a decimal number without leading zeroes")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not valid base64") from None
    if len(root_hash) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin, int(size), root_hash)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise NoteError("note text must end in a newline and contain no control characters")


# -- cosignatures (c2sp.org/tlog-cosignature, Ed25519 v1) ---------------------------------

COSIGNATURE_TYPE = b"\x04"
_MAX_TIMESTAMP = 2**63 - 1


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + public_key).digest()[:4]


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosigner signs: `cosignature/v1`, `time <timestamp>`, then the checkpoint's body."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(text: str, signer: NoteSigner, timestamp: int) -> str:
    """A tlog-cosignature/v1 line over checkpoint body `text`, made by `signer` at `timestamp`."""
    _check_text(text)
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError("the cosignature timestamp is out of range")
    public = signer.verifier.public_key
    signature = signer.private_key.sign(cosigned_message(text, timestamp))
    blob = cosigner_key_id(signer.name, public) + timestamp.to_bytes(8, "big") + signature
    return f"{EM_DASH} {signer.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Cosignature:
    name: str
    timestamp: int
    line: str


def verify_cosignature(line: str, text: str, cosigner: NoteVerifier) -> Cosignature:
    """The cosignature in `line` if `cosigner` made it over checkpoint body `text`; else NoteError."""
    _, signatures = parse(text + "\n" + line.rstrip("\n") + "\n")
    if len(signatures) != 1:
        raise NoteError("a cosignature is exactly one signature line")
    found = signatures[0]
    expected_id = cosigner_key_id(cosigner.name, cosigner.public_key)
    if found.name != cosigner.name or found.key_id != expected_id:
        raise NoteError(f"the cosignature is not by {cosigner.name}")
    if len(found.signature) != 8 + 64:
        raise NoteError("a cosignature is a timestamp and an Ed25519 signature")
    timestamp = int.from_bytes(found.signature[:8], "big")
    if timestamp > _MAX_TIMESTAMP or not cosigner.verify(cosigned_message(text, timestamp), found.signature[8:]):
        raise NoteError(f"the cosignature by {cosigner.name} does not verify")
    return Cosignature(found.name, timestamp, line if line.endswith("\n") else line + "\n")


def parse_vkey(vkey: str) -> NoteVerifier:
    """A signed-note verifier key `name+hex(key id)+base64(0x01 || Ed25519 public key)`."""
    parts = vkey.split("+", 2)  # the name has no '+'; the base64 key may
    if len(parts) != 3 or not valid_key_name(parts[0]):
        raise NoteError("a verifier key is name+keyid+key")
    try:
        raw = base64.b64decode(parts[2], validate=True)
        wanted_id = bytes.fromhex(parts[1])
    except (binascii.Error, ValueError):
        raise NoteError("a verifier key's id or key is malformed") from None
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise NoteError("the verifier key is not an Ed25519 key")
    verifier = NoteVerifier(parts[0], raw[1:])
    if verifier.key_id != wanted_id:
        raise NoteError("the verifier key's id does not match its name and key")
    return verifier
