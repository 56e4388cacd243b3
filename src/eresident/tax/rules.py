"""The tax rules as data (data/tax/*.yaml), pure: the competent tax office, fapiao eligibility, and the
obligations calendar with deadlines moved by the region's working calendar. No database, no clock."""

from __future__ import annotations

import calendar as _months
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from eresident.workflow.calendar import WorkingCalendar

PERIOD_KINDS = ("month", "quarter", "year")
STATUSES = ("small_scale", "general")
# A deadline never moves further than this; a calendar that would need more has no working days.
_MAX_SHIFT_DAYS = 120


@cache
def _data(name: str) -> dict[str, Any]:
    return yaml.safe_load((resources.files("eresident") / "data" / "tax" / name).read_text(encoding="utf-8"))


def office(region: str) -> dict[str, str]:
    offices = _data("rules.yaml")["offices"]
    found = offices.get(region)
    if found is None:
        raise LookupError(f"no tax office is configured for region {region!r} (data/tax/rules.yaml)")
    return {"code": str(found["code"]), "name_zh": found["name_zh"], "name_en": found["name_en"]}


def fapiao(taxpayer_status: str) -> dict[str, Any]:
    return dict(_data("rules.yaml")["fapiao"][taxpayer_status])


def reminder_days_before() -> int:
    return int(_data("obligations.yaml")["reminder_days_before"])


@dataclass(frozen=True)
class Obligation:
    key: str  # stable: "vat:2027-08", "vat:2027-Q3", "cit-annual:2027"
    kind: str
    title: str
    title_zh: str
    period: str  # month | quarter | year
    period_start: date
    period_end: date
    statutory_due_on: date
    due_on: date
    moved_because: str | None  # why the deadline moved, or None
    basis: str = "rule"  # "published": the tax administration's calendar; "rule": computed from the region's
    provisional_because: str | None = None  # why the date may still change, or None when it is certain

    @property
    def provisional(self) -> bool:
        return self.provisional_because is not None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "title": self.title, "title_zh": self.title_zh,
                "period": self.period, "period_start": self.period_start.isoformat(),
                "period_end": self.period_end.isoformat(), "statutory_due_on": self.statutory_due_on.isoformat(),
                "due_on": self.due_on.isoformat(), "moved_because": self.moved_because, "basis": self.basis,
                "provisional": self.provisional, "provisional_because": self.provisional_because}


def _period_of(day: date, kind: str) -> tuple[date, date, str]:
    if kind == "month":
        start = day.replace(day=1)
        label = f"{day.year}-{day.month:02d}"
    elif kind == "quarter":
        first_month = 3 * ((day.month - 1) // 3) + 1
        start = date(day.year, first_month, 1)
        label = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    else:
        start = date(day.year, 1, 1)
        label = str(day.year)
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    end = _add_months(start, months) - timedelta(days=1)
    return start, end, label


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, _months.monthrange(year, month + 1)[1]))


def _statutory_due(period_end: date, months_after: int, day: int) -> date:
    month_start = _add_months(period_end.replace(day=1), months_after)
    return month_start.replace(day=min(day, _months.monthrange(month_start.year, month_start.month)[1]))


def move_to_working_day(day: date, working: WorkingCalendar) -> tuple[date, str | None]:
    """The first working day on or after `day` (the deadline rule), and why it moved."""
    if working.is_working_day(day):
        return day, None
    reason = working.holidays.get(day) or ("weekend" if day.weekday() >= 5 else "not a working day")
    moved = day
    while not working.is_working_day(moved):
        moved += timedelta(days=1)
        if (moved - day).days > _MAX_SHIFT_DAYS:
            raise ValueError(f"calendar {working.id!r} has no working day within {_MAX_SHIFT_DAYS} days of {day}")
    return moved, f"{day.isoformat()} is {'a public holiday: ' + reason if day in working.holidays else 'a ' + reason}"


# --------------------------------------------------------------------------- long holidays

@dataclass(frozen=True)
class HolidayRun:
    """Consecutive days off inside a filing window that count for the long-holiday extension."""

    first: date
    last: date
    names: tuple[str, ...]  # the public holidays among them

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def long_holiday_runs(window_start: date, window_end: date, working: WorkingCalendar, *,
                      min_days_off: int) -> list[HolidayRun]:
    """Runs of at least `min_days_off` consecutive days off inside [window_start, window_end] that
    contain a public holiday of the region's calendar. Only the days inside the window count (a
    holiday that began in the month before brings only its days in this month); weekend days in the
    run count, as they do in the tax administration's calendars."""
    runs: list[HolidayRun] = []
    day, run_start = window_start, None
    names: list[str] = []
    while day <= window_end + timedelta(days=1):
        off = day <= window_end and not working.is_working_day(day)
        if off:
            if run_start is None:
                run_start, names = day, []
            name = working.holidays.get(day)
            if name is not None:
                base = name.split(" (")[0]  # "National Day (holiday period)" -> "National Day"
                if base not in names:
                    names.append(base)
        elif run_start is not None:
            last = day - timedelta(days=1)
            if names and (last - run_start).days + 1 >= min_days_off:
                runs.append(HolidayRun(run_start, last, tuple(names)))
            run_start = None
        day += timedelta(days=1)
    return runs


def add_working_days(day: date, count: int, working: WorkingCalendar) -> date:
    """The `count`-th working day after `day`."""
    moved, left = day, count
    while left > 0:
        moved += timedelta(days=1)
        if working.is_working_day(moved):
            left -= 1
        if (moved - day).days > _MAX_SHIFT_DAYS:
            raise ValueError(f"calendar {working.id!r} has fewer than {count} working days after {day}")
    return moved


def _span(first: date, last: date) -> str:
    if first == last:
        return f"{first.day} {first:%B %Y}"
    if first.month == last.month:
        return f"{first.day}–{last.day} {last:%B %Y}"
    return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"


def filing_deadline(statutory: date, working: WorkingCalendar, *,
                    long_holiday: dict[str, Any] | None) -> tuple[date, str | None]:
    """A deadline by the Rules for the Implementation of the Tax Collection Law, art. 109, and why it moved.

    - Long holidays (when `long_holiday` is given, for filings due within the first days of a month):
      the days off of every run of at least `min_days_off` consecutive days off with a public holiday
      inside the filing window (the 1st to the statutory day) extend the deadline by as many working
      days after the statutory day. This is how the State Taxation Administration computes the
      deadlines it publishes each year (checked against its calendars for 2024 and 2026: e.g. the
      National Day holiday 1–7 October 2026 → 26 October; 1–5 May 2026 → 22 May).
    - Otherwise, a deadline on a day that is not a working day moves to the first working day after
      it (art. 109, first half): e.g. a filing window that ends inside a holiday that began on the
      15th (16 February 2026 → 24 February).
    """
    if long_holiday:
        runs = long_holiday_runs(statutory.replace(day=1), statutory, working,
                                 min_days_off=int(long_holiday["min_days_off"]))
        days_off = sum(r.days for r in runs)
        if days_off:
            due = add_working_days(statutory, days_off, working)
            which = "; ".join(f"{' / '.join(r.names)} {_span(r.first, r.last)} ({r.days} days off)" for r in runs)
            return due, (f"the filing window to {statutory.isoformat()} contains a holiday of "
                         f"{int(long_holiday['min_days_off'])} or more days off ({which}): extended by "
                         f"{days_off} working days (art. 109 of the Rules for the Tax Collection Law)")
    return move_to_working_day(statutory, working)


def provisional_because(first: date, last: date, working: WorkingCalendar) -> str | None:
    """Why a deadline computed from the days first..last of the region's calendar may still change:
    a year the calendar does not cover, or covers only provisionally; None when every day is known."""
    years = range(first.year, last.year + 1)
    missing = [y for y in years if y not in working.years]
    if missing:
        covered = f"it covers {min(working.years)}–{max(working.years)}" if working.years else "it covers no year"
        return (f"the region's calendar has no holiday arrangement for {missing[0]} yet ({covered}): weekends "
                f"are counted but public holidays are not, so the date may still move")
    tentative = [y for y in years if y in working.provisional_years]
    if tentative:
        return (f"the {tentative[0]} holiday arrangement in the region's calendar is provisional (the official "
                f"arrangement, with its make-up working days, replaces it): the date may still move")
    return None


def _published(data: dict[str, Any]) -> dict[str, date]:
    return {str(k): date.fromisoformat(str(v)) for k, v in (data.get("published_deadlines") or {}).items()}


def obligations_for(*, established_on: date, taxpayer_status: str, working: WorkingCalendar,
                    until: date, since: date | None = None) -> list[Obligation]:
    """Every filing the company owes from its first period (the one it was established in) whose
    deadline is on or before `until` (and on or after `since`), in order of deadline."""
    if taxpayer_status not in STATUSES:
        raise ValueError(f"unknown taxpayer status {taxpayer_status!r}")
    data = _data("obligations.yaml")
    if data.get("deadline_rule") != "next_working_day":
        raise ValueError("data/tax/obligations.yaml: only deadline_rule next_working_day is implemented")
    published = _published(data)
    sources = {int(k): str(v) for k, v in (data.get("published_sources") or {}).items()}
    long_holiday = data.get("long_holiday_extension")
    out: list[Obligation] = []
    for spec in data["obligations"]:
        kind = spec["period"][taxpayer_status]
        if spec.get("long_holiday_extension") and not long_holiday:
            raise ValueError(f"data/tax/obligations.yaml: {spec['id']} asks for long_holiday_extension, "
                             "which is not configured")
        extends = long_holiday if spec.get("long_holiday_extension") else None
        start, end, label = _period_of(established_on, kind)
        while True:
            statutory = _statutory_due(end, int(spec["due"]["months_after"]), int(spec["due"]["day"]))
            month_key = f"{statutory.year}-{statutory.month:02d}"
            due, why = filing_deadline(statutory, working, long_holiday=extends)
            basis = "rule"
            unsure = provisional_because(statutory.replace(day=1) if extends else statutory, due, working)
            if extends and month_key in published:  # the administration's own calendar is the authority
                source = sources.get(statutory.year, "the State Taxation Administration's calendar")
                if published[month_key] == due:
                    why = None if due == statutory else f"{why}; as published in {source}"
                else:
                    why = f"published in {source} (the rule alone would give {due.isoformat()})"
                due, basis, unsure = published[month_key], "published", None
            if due > until:
                break
            if since is None or due >= since:
                out.append(Obligation(key=f"{spec['id']}:{label}", kind=spec["id"], title=spec["title"],
                                      title_zh=spec["title_zh"], period=kind, period_start=max(start, established_on),
                                      period_end=end, statutory_due_on=statutory, due_on=due, moved_because=why,
                                      basis=basis, provisional_because=unsure))
            start, end, label = _period_of(end + timedelta(days=1), kind)
    out.sort(key=lambda o: (o.due_on, o.kind, o.period_start))
    return out
