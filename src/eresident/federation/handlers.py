"""What a message from a peer does here, by kind: `@register("kind")` on a function.

A handler runs inside the receiving transaction, with the inbox row: it changes what it needs
through its domain's services and returns a JSON-able result, which is the answer the peer gets
(now and on any repeat). It raises Problem to refuse the message (nothing is then recorded, and the
sender tries again later). Later slices add recognition.*, case.*, secondment.* here.

A payload comes from another node and is checked like any other input: a missing field, a wrong
type, a bad date or id is a 422 naming `payload/<field>`, never an exception. The `payload_*`
helpers below read one field each that way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, overload

from sqlalchemy.orm import Session

from eresident.kit.context import NodeContext
from eresident.kit.errors import invalid

KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class Incoming:
    """A message whose signature, digest and envelope have been checked."""

    id: str
    kind: str
    sender: str  # the peer region, as proven by the signing key
    created_at: datetime
    payload: dict


Handler = Callable[..., dict]
_HANDLERS: dict[str, Handler] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    if not KIND.match(kind) or len(kind) > 64:
        raise ValueError(f"bad message kind {kind!r}")

    def decorate(fn: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not fn:
            raise ValueError(f"message kind {kind!r} already has a handler")
        _HANDLERS[kind] = fn
        return fn

    return decorate


def handler_for(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def kinds() -> list[str]:
    return sorted(_HANDLERS)


# --- reading a payload: one field at a time, a 422 naming the field when it is not what it should be

_ABSENT = object()


def _field(payload: dict, name: str, path: str | None, required: bool) -> tuple[Any, str]:
    where = f"payload/{path or name}"
    value = payload.get(name, _ABSENT) if isinstance(payload, dict) else _ABSENT
    if (value is _ABSENT or value is None) and required:
        raise invalid(where, f"{name} is missing")
    return (None if value is _ABSENT else value), where


@overload
def payload_text(payload: dict, name: str, *, limit: int, required: Literal[True] = True, empty: bool = False,
                 path: str | None = None) -> str: ...
@overload
def payload_text(payload: dict, name: str, *, limit: int, required: bool, empty: bool = False,
                 path: str | None = None) -> str | None: ...
def payload_text(payload: dict, name: str, *, limit: int, required: bool = True, empty: bool = False,
                 path: str | None = None) -> str | None:
    """A text of at most `limit` characters (not blank unless `empty`); None when optional and absent."""
    value, where = _field(payload, name, path, required)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise invalid(where, f"{name} is a text of {0 if empty else 1} to {limit} characters")
    return value


def payload_uuid(payload: dict, name: str, *, path: str | None = None) -> uuid.UUID:
    value, where = _field(payload, name, path, True)
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        return uuid.UUID(value)
    except ValueError:
        raise invalid(where, f"{name} is a UUID") from None


@overload
def payload_time(payload: dict, name: str, *, required: Literal[True] = True, path: str | None = None) -> datetime: ...
@overload
def payload_time(payload: dict, name: str, *, required: bool, path: str | None = None) -> datetime | None: ...
def payload_time(payload: dict, name: str, *, required: bool = True, path: str | None = None) -> datetime | None:
    """An ISO 8601 time with a zone, as an aware UTC datetime; None when optional and absent."""
    value, where = _field(payload, name, path, required)
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError
        return at.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a zone that pushes year 9999 or 1 out of range
        raise invalid(where, f"{name} is an ISO 8601 time with a zone") from None


def payload_flag(payload: dict, name: str, *, path: str | None = None) -> bool:
    value, where = _field(payload, name, path, True)
    if not isinstance(value, bool):
        raise invalid(where, f"{name} is true or false")
    return value


@register("ping")
def ping(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """Echo: proves the path between two nodes end to end, and leaves an audit event per ping."""
    from eresident.audit.service import Actor, record

    echo = payload_text(message.payload, "echo", limit=1000, empty=True)
    record(db=db, actor=Actor("peer", message.sender, f"node {message.sender}", message.sender),
           region=ctx.region, action="federation.ping", entity_type="federation_message",
           entity_id=message.id, at=ctx.clock.now(), after={"echo": echo})
    return {"pong": echo, "region": ctx.region}


# Kinds of later slices register themselves when their module is imported (here, so that every
# process that receives messages knows them).
from eresident.federation import secondment as _secondment  # noqa: E402,F401  secondment.*
from eresident.audit import witness as _witness  # noqa: E402,F401  audit.checkpoint|cosignature|alarm
from eresident.crosscase import service as _crosscase  # noqa: E402,F401  case.filed|event|signature
from eresident.dashboard import peers as _dashboard  # noqa: E402,F401  figures.published
