"""What a node is made of at run time, built once in create_app and handed to services."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from eresident.config import Settings
from eresident.crypto.fields import BlindIndex, FieldCipher
from eresident.crypto.keys import NodeKeys, NodeSecrets, load_secrets, load_signing_key
from eresident.documents.store import FileStore
from eresident.kit.clock import Clock
from eresident.kit.db import Database
from eresident.security.csrf import CsrfTokens
from eresident.security.passwords import Passwords

if TYPE_CHECKING:
    from eresident.identity.screening_store import ScreeningProvider

T = TypeVar("T")


@dataclass
class NodeContext:
    settings: Settings
    database: Database
    clock: Clock
    secrets: NodeSecrets
    keys: NodeKeys
    cipher: FieldCipher
    blind_index: BlindIndex
    passwords: Passwords
    csrf: CsrfTokens
    files: FileStore
    screening: ScreeningProvider = field(repr=False)
    # Objects a domain builds on first use and keeps for the node's life (the enterprise name
    # index, the region's document-signing PKI): built once per context, through `lazy`.
    cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def region(self) -> str:
        return self.settings.region

    def lazy(self, key: str, build: Callable[[], T]) -> T:
        """`cache[key]`, built by `build()` the first time (once, even when threads race)."""
        value = self.cache.get(key)
        if value is None:
            with self._cache_lock:
                value = self.cache.get(key)
                if value is None:
                    value = self.cache[key] = build()
        return value


def build_context(settings: Settings, *, clock: Clock | None = None,
                  database: Database | None = None, password_profile: str = "standard") -> NodeContext:
    from eresident.identity.screening_store import ScreeningProvider

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    node_secrets = load_secrets(settings)
    db = database or Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    return NodeContext(
        settings=settings, database=db, clock=clock or Clock(), secrets=node_secrets,
        keys=load_signing_key(settings), cipher=FieldCipher(node_secrets.data_key),
        blind_index=BlindIndex(node_secrets.blind_index_key), passwords=Passwords(password_profile),
        csrf=CsrfTokens(node_secrets.secret_key), files=FileStore(settings.data_dir / "files"),
        screening=ScreeningProvider(settings.screening_threshold),
    )
