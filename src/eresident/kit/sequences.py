"""Named counters for human numbers, safe under concurrent writers on both databases."""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.kit.db import Prepared, driver
from eresident.kit.models import Counter


_counters = Counter.__table__
_INCREMENT = Prepared(update(_counters).where(_counters.c.name == bindparam("counter"))
                      .values(value=_counters.c.value + 1).returning(_counters.c.value))


def _increment(db: Session, name: str) -> int | None:
    # UPDATE … RETURNING takes the row lock (PostgreSQL); SQLite writers are already serialised.
    return driver(db).scalar(_INCREMENT, {"counter": name})


def next_value(db: Session, name: str) -> int:
    value = _increment(db, name)
    if value is not None:
        return value
    try:
        with db.begin_nested():
            db.add(Counter(name=name, value=1))
        return 1
    except IntegrityError:  # another transaction created it first
        value = _increment(db, name)
        assert value is not None
        return value
