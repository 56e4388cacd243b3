"""Named counters for human numbers, safe under concurrent writers on both databases."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.kit.models import Counter


def _increment(db: Session, name: str) -> int | None:
    # UPDATE … RETURNING takes the row lock (PostgreSQL); SQLite writers are already serialised.
    return db.execute(update(Counter).where(Counter.name == name)
                      .values(value=Counter.value + 1).returning(Counter.value)).scalar_one_or_none()


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
