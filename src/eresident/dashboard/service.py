"""The figures of the leadership dashboard: counts by status, processing times, cross-region work.

Each figure is one aggregate query (or the workflow metrics), so the page stays fast as cases grow.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eresident.banking.models import BankRequest
from eresident.enterprise.models import Formation, Licence
from eresident.i18n import N_
from eresident.identity.models import Application, EResident
from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment
from eresident.tax.models import TaxRegistration
from eresident.workflow import metrics

PROCESSES = (("e-residency", N_("E-residency")), ("company-formation", N_("Company formation")),
             ("tax-registration", N_("Tax registration")))


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed beside the bar


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart laid out for SVG: every bar's length in the chart's own units."""

    title: str
    bars: list[Bar]
    unit: str = ""

    WIDTH = 360  # the longest bar
    ROW = 28

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * self.ROW

    def rows(self) -> list[tuple[int, Bar, float]]:
        """(y, bar, length) for each bar; the longest bar fills WIDTH."""
        top = max((b.value for b in self.bars), default=0) or 1
        return [(i * self.ROW, b, round(self.WIDTH * b.value / top, 1)) for i, b in enumerate(self.bars)]


def _counts(db: Session, column) -> dict[str, int]:
    return {key: n for key, n in db.execute(select(column, func.count()).group_by(column))}


def figures(db: Session, region: str) -> dict:
    applications = _counts(db, Application.status)
    residents = dict(db.execute(select(EResident.status, func.count()).where(EResident.region == region)
                                .group_by(EResident.status)).all())
    recognised = db.scalar(select(func.count()).select_from(EResident).where(EResident.region != region)) or 0
    formations = _counts(db, Formation.status)
    licences = db.scalar(select(func.count()).select_from(Licence).where(Licence.status == "valid")) or 0
    tax = _counts(db, TaxRegistration.taxpayer_status)
    banks = _counts(db, BankRequest.status)
    out_ = _counts(db, OutgoingSecondment.status)
    in_ = _counts(db, IncomingSecondment.status)

    processes = []
    for process, title in PROCESSES:
        m = metrics.compute(db=db, process=process)
        decision = (m["time_to_decision"].get("working_hours") or {}) if m["time_to_decision"] else {}
        automatic = m["decided_by"].get("automatic", 0)
        waiting = [Bar(sid, s["waiting"]["working_hours"]["mean"], f'{s["waiting"]["working_hours"]["mean"]:.1f} h')
                   for sid, s in m["steps"].items()
                   if s.get("waiting") and (s["waiting"].get("working_hours") or None)]
        processes.append({"process": process, "title": title, "started": m["cases"]["started"],
                          "ended": m["cases"]["ended"], "automatic": automatic,
                          "decided": sum(m["decided_by"].values()), "p50": decision.get("p50"),
                          "p90": decision.get("p90"), "deadline_misses": m["deadline_misses"],
                          "waiting": Chart(N_("Mean waiting time per step, working hours"), waiting, "h")})
    return {
        "applications": Chart(N_("Applications by status"), _bars(applications)),
        "residents": {"active": residents.get("active", 0), "suspended": residents.get("suspended", 0),
                      "revoked": residents.get("revoked", 0), "recognised": recognised},
        "companies": {"licences": licences, "formations": Chart(N_("Company formations by status"),
                                                                _bars(formations)),
                      "tax": tax, "bank": Chart(N_("Bank account requests by status"), _bars(banks))},
        "processes": processes,
        "exchange": {"out": sum(out_.values()), "in": sum(in_.values()),
                     "out_by_status": out_, "in_by_status": in_},
    }


def _bars(counts: dict[str, int]) -> list[Bar]:
    return [Bar(label, n, str(n)) for label, n in sorted(counts.items(), key=lambda item: -item[1])]
