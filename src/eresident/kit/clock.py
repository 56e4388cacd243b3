"""Time as a dependency: domain code asks the injected clock, never datetime.now()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock: UTC-aware now()."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self):
        return self.now().date()


class FrozenClock(Clock):
    """A clock tests and simulations move by hand."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)
