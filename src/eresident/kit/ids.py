"""Identifiers: UUIDs inside, short human numbers for people."""

from __future__ import annotations

import secrets
import uuid

# Crockford base32 without I, L, O, U: easy to read aloud and type.
_HUMAN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def human_code(length: int = 8) -> str:
    return "".join(secrets.choice(_HUMAN_ALPHABET) for _ in range(length))


def case_number(region: str, year: int, serial: int) -> str:
    """A case number people can quote: region, year, serial. e.g. LJ-2026-000042."""
    return f"{region}-{year}-{serial:06d}"
