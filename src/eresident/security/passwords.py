"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended option (64 MiB, t=3, p=4). Tests use a lighter profile.
_PROFILES = {
    "standard": PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4),
    "fast": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}


class Passwords:
    def __init__(self, profile: str = "standard"):
        self._hasher = _PROFILES[profile]
        # Verifying against this when the account does not exist keeps timing the same.
        self._dummy = self._hasher.hash("not a real password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None. Length over composition rules (NIST 800-63B)."""
    if len(password) < 12:
        return "Use at least 12 characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    if len(set(password)) < 4:
        return "Use a password that is not one character repeated."
    return None
