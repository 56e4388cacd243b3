"""Sanctions lists in the database, and the in-memory index built from them for screening."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from eresident.identity.models import ScreeningEntity
from eresident.identity.screening import (Hit, ListEntity, ScreeningIndex, ScreeningListError,
                                          load_ftm_file)
from eresident.kit.models import Counter
from eresident.kit.sequences import next_value

VERSION_COUNTER = "screening_list_version"
VERSION_CHECK_SECONDS = 1.0
SAMPLE_LIST = Path(__file__).resolve().parent.parent / "data" / "screening" / "sample.ftm.jsonl"


def _to_row(entity: ListEntity) -> dict:
    return {"entity_id": entity.entity_id, "schema": entity.schema, "caption": entity.caption,
            "names": list(entity.names), "weak_aliases": list(entity.weak_aliases),
            "birth_dates": list(entity.birth_dates), "nationalities": list(entity.nationalities),
            "datasets": list(entity.datasets)}


def _from_row(data: dict) -> ListEntity:
    return ListEntity(entity_id=data["entity_id"], schema=data["schema"], caption=data["caption"],
                      names=tuple(data["names"]), weak_aliases=tuple(data["weak_aliases"]),
                      birth_dates=tuple(data["birth_dates"]),
                      nationalities=tuple(data["nationalities"]), datasets=tuple(data["datasets"]))


def import_list(*, db: Session, list_name: str, path: Path, now: datetime) -> int:
    """Replace one named list with the entities in an FtM file. All or nothing."""
    entities = load_ftm_file(path)  # raises ScreeningListError naming the line
    db.execute(delete(ScreeningEntity).where(ScreeningEntity.list_name == list_name))
    db.add_all(ScreeningEntity(list_name=list_name, entity_id=e.entity_id, data=_to_row(e),
                               imported_at=now) for e in entities)
    next_value(db, VERSION_COUNTER)
    return len(entities)


class ScreeningProvider:
    """Holds the index and rebuilds it when any node process imported a new list."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._lock = threading.Lock()
        self._version: int | None = None
        self._checked_at = 0.0
        self._index = ScreeningIndex([])

    def _current_version(self, db: Session) -> int:
        return db.scalar(select(Counter.value).where(Counter.name == VERSION_COUNTER)) or 0

    def index(self, db: Session) -> ScreeningIndex:
        # An import in any process bumps the version; looking at most once a second is enough.
        now = time.monotonic()
        if self._version is not None and now - self._checked_at < VERSION_CHECK_SECONDS:
            return self._index
        self._checked_at = now
        version = self._current_version(db)
        if version != self._version:
            with self._lock:
                if version != self._version:
                    rows = db.scalars(select(ScreeningEntity.data))
                    self._index = ScreeningIndex(_from_row(r) for r in rows)
                    self._version = version
        return self._index

    def screen(self, db: Session, *, names: Iterable[str], birth_date, nationality: str | None) -> list[Hit]:
        return self.index(db).screen(names=[n for n in names if n], birth_date=birth_date,
                                     nationality=nationality, threshold=self.threshold)


__all__ = ["ScreeningListError", "ScreeningProvider", "import_list", "SAMPLE_LIST"]
