"""What a message from a peer does here, by kind: `@register("kind")` on a function.

A handler runs inside the receiving transaction, with the inbox row: it changes what it needs
through its domain's services and returns a JSON-able result, which is the answer the peer gets
(now and on any repeat). It raises Problem to refuse the message (nothing is then recorded, and the
sender tries again later). Later slices add recognition.*, case.*, secondment.* here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


@register("ping")
def ping(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """Echo: proves the path between two nodes end to end, and leaves an audit event per ping."""
    from eresident.audit.service import Actor, record

    echo = message.payload.get("echo", "")
    if not isinstance(echo, str) or len(echo) > 1000:
        raise invalid("payload/echo", "echo is a text of at most 1000 characters")
    record(db=db, actor=Actor("peer", message.sender, f"node {message.sender}", message.sender),
           region=ctx.region, action="federation.ping", entity_type="federation_message",
           entity_id=message.id, at=ctx.clock.now(), after={"echo": echo})
    return {"pong": echo, "region": ctx.region}


# Kinds of later slices register themselves when their module is imported (here, so that every
# process that receives messages knows them).
from eresident.federation import secondment as _secondment  # noqa: E402,F401  secondment.*
from eresident.audit import witness as _witness  # noqa: E402,F401  audit.checkpoint|cosignature|alarm
from eresident.crosscase import service as _crosscase  # noqa: E402,F401  case.filed|event|signature
