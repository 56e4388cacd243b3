"""Region working calendars: working hours per weekday, public holidays and make-up working days
(调休), read from data/calendars/<ID>.yaml; and deadline arithmetic in working hours.

Arithmetic runs on POSIX timestamps over a lazily built table of working periods per day with
cumulative working seconds, so `add_working_hours` and `working_hours_between` are a binary
search each, whatever the distance."""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eresident.workflow.source import Problem, ProblemsError, SourceError, SourceMap, load_source

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERIOD = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_ID = re.compile(r"^[A-Z][A-Z0-9_]{1,15}$")
_EXTEND_DAYS = 400


class CalendarError(ProblemsError):
    """A calendar file was refused, or a calendar cannot answer (for example it has no working time)."""


Period = tuple[int, int]  # minutes from local midnight: [start, end)
_Table = tuple[int, list[float], list[tuple[tuple[float, float], ...]], list[float]]


class WorkingCalendar:
    """A region's working time. Deadlines count only time inside working periods."""

    def __init__(self, *, id: str, name: str, timezone: str,
                 weekly: dict[int, tuple[Period, ...]], makeup_day_hours: tuple[Period, ...],
                 holidays: dict[date, str], makeup_working_days: dict[date, str],
                 years: tuple[int, ...] = (), provisional_years: tuple[int, ...] = (),
                 status: str = "", name_zh: str = ""):
        self.id = id
        self.name = name
        self.name_zh = name_zh
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.weekly = {d: tuple(weekly.get(d, ())) for d in range(7)}
        self.makeup_day_hours = tuple(makeup_day_hours)
        self.holidays = dict(holidays)
        self.makeup_working_days = dict(makeup_working_days)
        self.years = tuple(years)
        self.provisional_years = tuple(provisional_years)
        self.status = status
        # The table of working periods, replaced whole when it grows (readers on other threads
        # keep using the snapshot they took): (lo ordinal, day starts (n + 1), periods per day
        # (n), cumulative working seconds before each day (n + 1)).
        self._table: _Table | None = None
        self._lock = threading.Lock()

    # --- days ---------------------------------------------------------------------------------

    def periods_on(self, day: date) -> tuple[Period, ...]:
        """Working periods of a local date, in minutes from midnight."""
        if day in self.holidays:
            return ()
        if day in self.makeup_working_days:
            return self.makeup_day_hours
        return self.weekly[day.weekday()]

    def is_working_day(self, day: date) -> bool:
        return bool(self.periods_on(day))

    def covers(self, day: date) -> bool:
        """Whether the holiday data covers this date's year (outside, only weekdays count)."""
        return day.year in self.years

    # --- the table ----------------------------------------------------------------------------

    def _build(self, lo: int, hi: int) -> _Table:
        starts, periods, cum = [], [], [0.0]
        zone = self.zone
        total = 0.0
        for ordinal in range(lo, hi):
            day = date.fromordinal(ordinal)
            midnight = datetime.combine(day, time(0), zone)
            starts.append(midnight.timestamp())
            spans = []
            for a, b in self.periods_on(day):
                ta = datetime.combine(day, time(a // 60, a % 60), zone).timestamp()
                tb = (midnight + timedelta(minutes=b)).timestamp()
                spans.append((ta, tb))
                total += tb - ta
            periods.append(tuple(spans))
            cum.append(total)
        starts.append(datetime.combine(date.fromordinal(hi), time(0), zone).timestamp())
        return (lo, starts, periods, cum)

    def _covering(self, *stamps: float) -> _Table:
        """A table that covers every given instant, grown (under a lock) when needed."""
        table = self._table
        if table is not None:
            starts = table[1]
            first, last = starts[0], starts[-1]
            for ts in stamps:
                if not first <= ts < last:
                    break
            else:
                return table
        with self._lock:
            ordinals = [datetime.fromtimestamp(ts, self.zone).date().toordinal() for ts in stamps]
            if self._table is None:
                lo, hi = min(ordinals) - _EXTEND_DAYS, max(ordinals) + 3 * _EXTEND_DAYS
            else:
                old = self._table
                lo = min(old[0], min(ordinals) - _EXTEND_DAYS)
                hi = max(old[0] + len(old[2]), max(ordinals) + _EXTEND_DAYS)
            self._table = table = self._build(lo, hi)
        return table

    @staticmethod
    def _cum_at(table: _Table, ts: float) -> float:
        """Working seconds from the start of the table to ts."""
        i = bisect_right(table[1], ts) - 1
        total = table[3][i]
        for a, b in table[2][i]:
            if ts >= b:
                total += b - a
            else:
                if ts > a:
                    total += ts - a
                break
        return total

    # --- arithmetic on timestamps -------------------------------------------------------------

    def add_seconds_ts(self, ts: float, seconds: float) -> float:
        """The instant when `seconds` of working time have passed after ts."""
        if seconds < 0:
            raise ValueError("working time to add must not be negative")
        if seconds == 0:
            return ts
        if not any(self.weekly.values()) and not (self.makeup_day_hours and self.makeup_working_days):
            raise CalendarError([Problem(None, None, f"calendar '{self.id}' has no working time: "
                                         "a deadline can never be reached")], self.id)
        table = self._covering(ts)
        target = self._cum_at(table, ts) + seconds
        while target > table[3][-1]:  # beyond the table: grow it (weekly hours guarantee progress)
            table = self._covering(ts, table[1][-1] + 86400.0 * _EXTEND_DAYS)
            target = self._cum_at(table, ts) + seconds
        _, starts, periods, cum = table
        first = bisect_right(starts, ts) - 1
        # the first day (from ts's own day on) whose working time reaches the target
        j = max(bisect_left(cum, target, first + 1) - 1, first)
        remaining = target - cum[j]
        end = starts[j]
        for a, b in periods[j]:
            if remaining <= b - a:
                end = a + remaining
                break
            remaining -= b - a
            end = b  # rounding: the target is the end of the day's last period
        if end <= ts:  # only when `seconds` is below float resolution at this distance
            return self.next_working_ts(ts)
        return end

    def seconds_between_ts(self, a: float, b: float) -> float:
        table = self._covering(a, b)
        return self._cum_at(table, b) - self._cum_at(table, a)

    def next_working_ts(self, ts: float) -> float:
        """ts itself when it is inside working time, otherwise the start of the next working period."""
        for _ in range(3 * _EXTEND_DAYS):
            table = self._covering(ts)
            i = bisect_right(table[1], ts) - 1
            for a, b in table[2][i]:
                if ts < b:
                    return max(ts, a)
            ts = table[1][i + 1]
        raise CalendarError([Problem(None, None, f"calendar '{self.id}' has no working time")], self.id)

    # --- arithmetic on aware datetimes --------------------------------------------------------

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        _aware(start)
        return datetime.fromtimestamp(self.add_seconds_ts(start.timestamp(), hours * 3600.0),
                                      start.tzinfo)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        _aware(a)
        _aware(b)
        return self.seconds_between_ts(a.timestamp(), b.timestamp()) / 3600.0

    def next_working_time(self, t: datetime) -> datetime:
        _aware(t)
        return datetime.fromtimestamp(self.next_working_ts(t.timestamp()), t.tzinfo)

    def in_working_time(self, t: datetime) -> bool:
        _aware(t)
        return self.next_working_ts(t.timestamp()) == t.timestamp()


def _aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("working-time arithmetic needs timezone-aware datetimes")


def add_working_hours(start: datetime, hours: float, calendar: WorkingCalendar) -> datetime:
    """The instant `hours` of working time after `start` (same tzinfo as start). Work that ends
    exactly at the end of a period ends there (17:30), not at the start of the next one."""
    return calendar.add_working_hours(start, hours)


def working_hours_between(a: datetime, b: datetime, calendar: WorkingCalendar) -> float:
    """Working hours from a to b (negative when b is before a)."""
    return calendar.working_hours_between(a, b)


# --- reading calendar files -------------------------------------------------------------------

def _parse_periods(value: Any, path: tuple, where: SourceMap, problems: list[Problem]) -> tuple[Period, ...]:
    def problem(message: str, sub: tuple = ()) -> None:
        pos = where.value_at(path + sub)
        problems.append(Problem(pos.line if pos else None, pos.column if pos else None, message))

    if value is None:
        return ()
    if not isinstance(value, list):
        problem("working hours are a list of periods like [\"09:00-12:00\", \"13:30-17:30\"]")
        return ()
    periods: list[Period] = []
    for i, text in enumerate(value):
        match = _PERIOD.match(text) if isinstance(text, str) else None
        if not match:
            problem(f"'{text}' is not a period like \"09:00-12:00\"", (i,))
            continue
        a = int(match[1]) * 60 + int(match[2])
        b = int(match[3]) * 60 + int(match[4])
        if b > 24 * 60 or b <= a:
            problem(f"period '{text}' must end after it starts, by 24:00 at the latest", (i,))
            continue
        if periods and a < periods[-1][1]:
            problem(f"period '{text}' overlaps or comes before the previous one", (i,))
            continue
        periods.append((a, b))
    return tuple(periods)


def _parse_dates(value: Any, key: str, where: SourceMap, problems: list[Problem]) -> dict[date, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        pos = where.value_at((key,))
        problems.append(Problem(pos.line if pos else None, pos.column if pos else None,
                                f"'{key}' is a mapping of dates to names, like 2026-10-01: National Day"))
        return {}
    days: dict[date, str] = {}
    for raw, name in value.items():
        pos = where.key_at((key, raw))
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            problems.append(Problem(pos.line if pos else None, pos.column if pos else None,
                                    f"{key}: '{raw}' is not a date like 2026-10-01"))
            continue
        days[day] = str(name or "")
    return days


def parse_calendar(text: str, *, source_name: str = "<calendar>") -> WorkingCalendar:
    """Read a calendar document; raises CalendarError listing every problem with its line."""
    try:
        data, where = load_source(text, source_name=source_name)
    except SourceError as exc:
        pos = exc.position
        raise CalendarError([Problem(pos.line if pos else None, pos.column if pos else None,
                                     exc.message)], source_name) from None
    problems: list[Problem] = []

    def problem(path: tuple, message: str, key: bool = False) -> None:
        pos = where.key_at(path) if key else where.value_at(path)
        problems.append(Problem(pos.line if pos else None, pos.column if pos else None, message))

    if not isinstance(data, dict):
        raise CalendarError([Problem(1, 1, "a calendar is a mapping with id, timezone, working_hours, "
                                           "holidays")], source_name)
    known = {"id", "name", "name_zh", "timezone", "status", "years", "provisional_years",
             "working_hours", "makeup_day_hours", "holidays", "makeup_working_days"}
    for key in data:
        if key not in known:
            problem((key,), f"unknown field '{key}'", key=True)
    cal_id = data.get("id")
    if not isinstance(cal_id, str) or not _ID.match(cal_id):
        problem(("id",), "'id' must be a region code like LJ")
        cal_id = "?"
    timezone = data.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        problem(("timezone",), f"unknown timezone '{timezone}'")
        timezone = "UTC"
    weekly: dict[int, tuple[Period, ...]] = {}
    hours = data.get("working_hours")
    if not isinstance(hours, dict):
        problem(("working_hours",), "'working_hours' maps weekdays (mon … sun) to periods")
    else:
        for key, value in hours.items():
            if key not in WEEKDAYS:
                problem(("working_hours", key), f"'{key}' is not a weekday (use mon, tue, … sun)", key=True)
                continue
            weekly[WEEKDAYS.index(key)] = _parse_periods(value, ("working_hours", key), where, problems)
    if "makeup_day_hours" in data:
        makeup_hours = _parse_periods(data["makeup_day_hours"], ("makeup_day_hours",), where, problems)
    else:
        makeup_hours = next((p for p in weekly.values() if p), ())
    holidays = _parse_dates(data.get("holidays"), "holidays", where, problems)
    makeup = _parse_dates(data.get("makeup_working_days"), "makeup_working_days", where, problems)
    for day in makeup:
        path = ("makeup_working_days", day.isoformat())
        if day in holidays:
            problem(path, f"{day} is both a holiday and a make-up working day", key=True)
        elif weekly.get(day.weekday()):
            problem(path, f"{day} is a {WEEKDAYS[day.weekday()]}, already a working day: a make-up "
                          "working day replaces a day of rest", key=True)
    years = data.get("years", [])
    provisional = data.get("provisional_years", [])
    for key, value in (("years", years), ("provisional_years", provisional)):
        if not isinstance(value, list) or not all(isinstance(y, int) for y in value):
            problem((key,), f"'{key}' is a list of years like [2026, 2027]")
    if problems:
        raise CalendarError(problems, source_name)
    return WorkingCalendar(id=cal_id, name=str(data.get("name", cal_id)),
                           name_zh=str(data.get("name_zh", "")),
                           timezone=str(timezone), weekly=weekly, makeup_day_hours=makeup_hours,
                           holidays=holidays, makeup_working_days=makeup, years=tuple(years),
                           provisional_years=tuple(provisional), status=str(data.get("status", "")))


def _calendar_dir():
    return resources.files("eresident") / "data" / "calendars"


def available_calendars() -> tuple[str, ...]:
    """Ids of the calendars shipped in data/calendars."""
    return tuple(sorted(p.name[:-5] for p in _calendar_dir().iterdir() if p.name.endswith(".yaml")))


@cache
def load_calendar(calendar_id: str) -> WorkingCalendar:
    """A shipped calendar by id (LJ, TF). Cached: calendars are immutable data."""
    if not _ID.match(calendar_id or "") or calendar_id not in available_calendars():
        raise CalendarError([Problem(None, None, f"no calendar '{calendar_id}' (known: "
                                                 f"{', '.join(available_calendars())})")], calendar_id)
    path = _calendar_dir() / f"{calendar_id}.yaml"
    calendar = parse_calendar(path.read_text(encoding="utf-8"), source_name=f"{calendar_id}.yaml")
    if calendar.id != calendar_id:
        raise CalendarError([Problem(None, None, f"{calendar_id}.yaml declares id '{calendar.id}'")],
                            calendar_id)
    return calendar
