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

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "title": self.title, "title_zh": self.title_zh,
                "period": self.period, "period_start": self.period_start.isoformat(),
                "period_end": self.period_end.isoformat(), "statutory_due_on": self.statutory_due_on.isoformat(),
                "due_on": self.due_on.isoformat(), "moved_because": self.moved_because}


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
    return moved, f"{day.isoformat()} is {'a public holiday: ' + reason if day in working.holidays else 'a ' + reason}"


def obligations_for(*, established_on: date, taxpayer_status: str, working: WorkingCalendar,
                    until: date, since: date | None = None) -> list[Obligation]:
    """Every filing the company owes from its first period (the one it was established in) whose
    deadline is on or before `until` (and on or after `since`), in order of deadline."""
    if taxpayer_status not in STATUSES:
        raise ValueError(f"unknown taxpayer status {taxpayer_status!r}")
    data = _data("obligations.yaml")
    if data.get("deadline_rule") != "next_working_day":
        raise ValueError("data/tax/obligations.yaml: only deadline_rule next_working_day is implemented")
    published = {str(k): date.fromisoformat(str(v)) for k, v in (data.get("published_deadlines") or {}).items()}
    out: list[Obligation] = []
    for spec in data["obligations"]:
        kind = spec["period"][taxpayer_status]
        start, end, label = _period_of(established_on, kind)
        while True:
            statutory = _statutory_due(end, int(spec["due"]["months_after"]), int(spec["due"]["day"]))
            month_key = f"{statutory.year}-{statutory.month:02d}"
            if kind != "year" and month_key in published:
                due, why = published[month_key], f"the deadline published by the tax administration for {month_key}"
            else:
                due, why = move_to_working_day(statutory, working)
            if due > until:
                break
            if since is None or due >= since:
                out.append(Obligation(key=f"{spec['id']}:{label}", kind=spec["id"], title=spec["title"],
                                      title_zh=spec["title_zh"], period=kind, period_start=max(start, established_on),
                                      period_end=end, statutory_due_on=statutory, due_on=due, moved_because=why))
            start, end, label = _period_of(end + timedelta(days=1), kind)
    out.sort(key=lambda o: (o.due_on, o.kind, o.period_start))
    return out
