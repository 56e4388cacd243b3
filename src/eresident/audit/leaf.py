"""What a log leaf commits to (format v1; changing it breaks every stored tree).

    leaf_input = SHA-256(salt || JCS(event))      (JCS: RFC 8785 canonical JSON)
    leaf hash  = SHA-256(0x00 || leaf_input)      (RFC 9162 §2.1.1)

`event` is the audit row without `seq` and `salt`: its UUID, time (UTC, ISO 8601), region, actor,
action, entity and before/after values. The position is the leaf index (seq - 1), bound by the
tree itself. The 16-byte random salt is stored beside the event, so whoever holds the row can
recompute the leaf while a public proof, which shows only hashes, reveals nothing guessable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

from eresident.audit.merkle import leaf_hash

SALT_BYTES = 16
FIELDS = ("id", "occurred_at", "region", "actor_type", "actor_id", "actor_home_region", "action",
          "entity_type", "entity_id", "before", "after")


def _utc_iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit event time must be timezone-aware")
    return value.astimezone(UTC).isoformat()


def canonical_event(event: Mapping[str, Any]) -> bytes:
    body = {name: event[name] for name in FIELDS}
    body["id"] = str(body["id"])
    body["occurred_at"] = _utc_iso(body["occurred_at"])
    return rfc8785.dumps(body)


def leaf_input(event: Mapping[str, Any]) -> bytes:
    """SHA-256(salt || JCS(event)); `event` carries the salt."""
    return hashlib.sha256(bytes(event["salt"]) + canonical_event(event)).digest()


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    return leaf_hash(leaf_input(event))
