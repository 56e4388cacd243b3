"""The figures of the leadership dashboard, for this region and side by side with the others.

A region's *figures* are aggregates only: counts by status and processing-time summaries, never a
person, a case number or an id. Counts are one GROUP BY each and are read live. The processing
times come from the workflow metrics, which read every transition (seconds at 10,000 cases), so
the worker computes them (`refresh`, every minute) and the page reads what it kept; without a
worker the page computes them itself. When the figures have changed, `refresh` also sends them to
every peer as a `figures.published` message, at most every DASHBOARD_PUBLISH_MINUTES, and each
peer keeps the newest it received (dashboard/peers.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.banking.models import BankRequest
from eresident.crosscase.models import CrossRegionCase, CrossRegionCaseEvent
from eresident.dashboard.charts import Bar, Chart, Group, GroupedChart, Series
from eresident.dashboard.models import RegionFigures
from eresident.enterprise.models import Formation, Licence
from eresident.i18n import N_
from eresident.identity.models import Application, EResident
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem
from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment
from eresident.tax.models import TaxRegistration
from eresident.workflow import metrics

log = structlog.get_logger("eresident.dashboard")

KIND = "figures.published"
FIGURES_VERSION = 1
PROCESSES = (("e-residency", N_("E-residency")), ("company-formation", N_("Company formation")),
             ("tax-registration", N_("Tax registration")))
PROCESS_TITLES = dict(PROCESSES)


# --------------------------------------------------------------------------- this region's figures

def _counts(db: Session, column, *where) -> dict[str, int]:
    query = select(column, func.count()).group_by(column)
    if where:
        query = query.where(*where)
    return {str(key): n for key, n in db.execute(query) if key is not None}


def counts(db: Session, region: str) -> dict[str, Any]:
    """Everything that is a count: cheap enough to read on every view."""
    residents = _counts(db, EResident.status, EResident.region == region)
    recognised = db.scalar(select(func.count()).select_from(EResident).where(EResident.region != region)) or 0
    licences = db.scalar(select(func.count()).select_from(Licence).where(Licence.status == "valid")) or 0
    crc = CrossRegionCase
    return {
        "residents": {"active": residents.get("active", 0), "suspended": residents.get("suspended", 0),
                      "revoked": residents.get("revoked", 0), "recognised": recognised},
        "applications": _counts(db, Application.status),
        "companies": {"licences": licences, "formations": _counts(db, Formation.status),
                      "tax": _counts(db, TaxRegistration.taxpayer_status), "bank": _counts(db, BankRequest.status)},
        "cross_region": {
            "filed_here": _counts(db, crc.status, crc.filed_region == region, crc.handling_region != region),
            "handled_here": _counts(db, crc.status, crc.handling_region == region, crc.filed_region != region)},
        "exchange": {"out": _counts(db, OutgoingSecondment.status), "in": _counts(db, IncomingSecondment.status)},
    }


def cross_region_times(db: Session, region: str) -> dict[str, dict | None]:
    """Calendar hours from filing (the first event of the shared history) to the decision, of the
    decided cross-region cases filed here and of those handled here."""
    crc, first = CrossRegionCase, CrossRegionCaseEvent
    rows = db.execute(select(crc.filed_region, crc.handling_region, first.at, crc.created_at, crc.decided_at)
                      .outerjoin(first, and_(first.case_id == crc.id, first.seq == 1))
                      .where(crc.decided_at.is_not(None)))
    filed: list[float] = []
    handled: list[float] = []
    for filed_region, handling_region, filed_at, created_at, decided_at in rows:
        if decided_at is None:  # not selected; for the type checker
            continue
        hours = max(0.0, (decided_at - (filed_at or created_at)).total_seconds() / 3600)
        if filed_region == region and handling_region != region:
            filed.append(hours)
        elif handling_region == region and filed_region != region:
            handled.append(hours)
    return {"filed_here": _summary(filed), "handled_here": _summary(handled)}


def _summary(hours: list[float]) -> dict | None:
    found = metrics.summarise(hours)
    return None if found is None else {"count": len(hours), "p50": found["p50"], "p90": found["p90"]}


def _step_titles(db: Session, process: str) -> dict[str, str]:
    """Step id -> title, from the published version new cases take (older versions' steps: their id)."""
    from eresident.workflow.definition import load_definition
    from eresident.workflow.service import latest

    row = latest(db, process)
    if row is None:
        return {}
    try:
        steps = load_definition(row.source, source_name=f"{process} v{row.version}").steps
    except Exception:  # noqa: BLE001 - a title is a nicety; the figures must not fail for it
        return {}
    return {sid: (getattr(step, "title", None) or sid) for sid, step in steps.items()}


def processing(db: Session) -> dict[str, dict]:
    """Per process: cases, decisions, time to decision and deadline misses; per task step the mean
    waiting time (working hours) and its deadline misses. Reads every transition: costly."""
    out = {}
    for process, _title in PROCESSES:
        m = metrics.compute(db=db, process=process)
        decision = (m["time_to_decision"] or {}).get("working_hours") or {}
        titles = _step_titles(db, process)
        steps = {}
        for sid, s in m["steps"].items():
            if s.get("kind") != "task":
                continue
            waiting = (s.get("waiting") or {}).get("working_hours") or {}
            steps[sid] = {"title": titles.get(sid, sid)[:200], "entered": s["entered"],
                          "waiting_mean": waiting.get("mean"), "deadline_misses": s["deadline_misses"]}
        out[process] = {"started": m["cases"]["started"], "ended": m["cases"]["ended"],
                        "decided": sum(m["decided_by"].values()), "automatic": m["decided_by"].get("automatic", 0),
                        "decision_hours": {"p50": decision["p50"], "p90": decision["p90"]} if decision else None,
                        "deadline_misses": m["deadline_misses"], "steps": steps}
    return out


def compute(db: Session, region: str) -> dict[str, Any]:
    """This region's figures, as they are published to the peers."""
    figures = counts(db, region)
    figures["cross_region"]["decision_hours"] = cross_region_times(db, region)
    figures["processes"] = processing(db)
    figures["version"] = FIGURES_VERSION
    return figures


def digest_of(figures: dict) -> str:
    return hashlib.sha256(json.dumps(figures, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- the worker's job

def refresh(ctx: NodeContext) -> dict[str, Any]:
    """Compute this node's figures and keep them for the page; when they have changed since they
    were last sent (or the peers have), and that was at least DASHBOARD_PUBLISH_MINUTES ago, send
    them to every peer. The computing runs in a read transaction: it takes seconds at full size and
    must not hold the write lock."""
    from eresident.federation import service as federation

    as_of = ctx.clock.now()
    with ctx.database.session(write=False) as db:
        figures = compute(db, ctx.region)
    digest = digest_of(figures)
    try:
        peers = federation.peers(ctx)
    except Problem as exc:  # the trust list cannot be read: keep the figures, send nothing this turn
        log.warning("dashboard.trust_list_unreadable", detail=exc.detail)
        peers = []
    sent_digest = hashlib.sha256(f"{digest}|{','.join(peers)}".encode()).hexdigest()  # what went to whom
    with ctx.database.session(write=True) as db:
        now = ctx.clock.now()
        row = db.get(RegionFigures, ctx.region, with_for_update=True)
        if row is None:
            row = RegionFigures(region=ctx.region, figures=figures, digest=digest, as_of=as_of, stored_at=now)
            db.add(row)
        else:
            row.figures, row.digest, row.as_of, row.stored_at = figures, digest, as_of, now
        due = row.published_at is None or now - row.published_at >= timedelta(
            minutes=ctx.settings.dashboard_publish_minutes)
        if not peers or row.published_digest == sent_digest or not due:
            return {"digest": digest, "sent_to": []}
        payload = {"as_of": _iso(as_of), "figures": figures}
        for peer in peers:
            federation.discard_unsent(db=db, peer=peer, kind=KIND)  # only the newest figures travel
            federation.enqueue(ctx=ctx, db=db, peer=peer, kind=KIND, payload=payload)
        row.published_digest, row.published_at = sent_digest, now
        record(db=db, actor=Actor.system(), region=ctx.region, action="dashboard.figures_published",
               entity_type="dashboard_figures", entity_id=ctx.region, at=now,
               after={"peers": peers, "as_of": _iso(as_of), "digest": digest})
        return {"digest": digest, "sent_to": peers}


# --------------------------------------------------------------------------- what the page shows

@dataclass(frozen=True)
class Column:
    """One region on the page: its figures (None: none received yet) and how fresh they are."""

    region: str
    name: str
    figures: dict | None
    as_of: datetime | None
    here: bool = False
    processes_as_of: datetime | None = None  # this region: when the processing times were computed


@dataclass(frozen=True)
class Row:
    label: str  # a message id (translated on the page)
    process: str | None  # a process title the label names, or None
    kind: str  # "count" | "hours"
    values: list  # per column: an int, a (p50, p90) pair, or None
    total: int | None  # counts only; None when no region has the figure


def _get(figures: dict | None, *path: str) -> Any:
    value: Any = figures
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _sum(values: Any) -> int | None:
    return sum(values.values()) if isinstance(values, dict) else None


def _rows(columns: list[Column]) -> list[Row]:
    def count(label: str, getter, process: str | None = None) -> Row:
        values = [getter(c.figures) if c.figures is not None else None for c in columns]
        present = [v for v in values if v is not None]
        return Row(label, process, "count", values, sum(present) if present else None)

    rows = [count(N_("Active e-residents"), lambda f: _get(f, "residents", "active")),
            count(N_("Applications for e-residency"), lambda f: _sum(_get(f, "applications"))),
            count(N_("Company formations"), lambda f: _sum(_get(f, "companies", "formations"))),
            count(N_("Valid business licences"), lambda f: _get(f, "companies", "licences"))]
    for process, title in PROCESSES:
        rows.append(count(N_("%(process)s: cases"), lambda f, p=process: _get(f, "processes", p, "started"), title))
        rows.append(count(N_("%(process)s: decided automatically"),
                          lambda f, p=process: _get(f, "processes", p, "automatic"), title))
        hours = []
        for c in columns:
            found = _get(c.figures, "processes", process, "decision_hours")
            hours.append((found["p50"], found["p90"]) if isinstance(found, dict) else None)
        rows.append(Row(N_("%(process)s: time to decision, p50 / p90 (working hours)"), title, "hours", hours, None))
        rows.append(count(N_("%(process)s: deadlines missed"),
                          lambda f, p=process: _get(f, "processes", p, "deadline_misses"), title))
    rows += [count(N_("Cross-region cases filed here for another region"),
                   lambda f: _sum(_get(f, "cross_region", "filed_here"))),
             count(N_("Cross-region cases handled here for another region"),
                   lambda f: _sum(_get(f, "cross_region", "handled_here"))),
             count(N_("Officials seconded to another region"), lambda f: _get(f, "exchange", "out", "accepted") or 0),
             count(N_("Officials seconded here from another region"),
                   lambda f: _get(f, "exchange", "in", "accepted") or 0)]
    return rows


def _series(columns: list[Column]) -> list[Series]:
    return [Series(c.region, c.name) for c in columns]


def _hours_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def _step_charts(columns: list[Column]) -> list[tuple[str, GroupedChart]]:
    """Per process, the mean waiting time of each task step, one bar per region."""
    charts = []
    shown = [c for c in columns if c.figures is not None]
    for process, title in PROCESSES:
        titles: dict[str, str] = {}
        for c in shown:
            for sid, step in (_get(c.figures, "processes", process, "steps") or {}).items():
                titles.setdefault(sid, step.get("title") or sid)
        groups = []
        for sid, step_title in titles.items():
            values = [_get(c.figures, "processes", process, "steps", sid, "waiting_mean") for c in shown]
            groups.append(Group(step_title, values, [_hours_text(v) for v in values]))
        chart = GroupedChart(N_("Mean waiting time per step, working hours"), _series(shown), groups, "h",
                             translate=False)
        if groups and not chart.empty:
            charts.append((title, chart))
    return charts


def _process_chart(columns: list[Column], title: str, getter, text) -> GroupedChart:
    shown = [c for c in columns if c.figures is not None]
    groups = []
    for process, process_title in PROCESSES:
        values = [getter(_get(c.figures, "processes", process)) for c in shown]
        groups.append(Group(process_title, values, [text(v) for v in values]))
    return GroupedChart(title, _series(shown), groups)


def _bars(counts_: dict[str, int], labels: dict[str, str] | None = None) -> list[Bar]:
    labels = labels or {}
    return [Bar(labels.get(k, k.replace("_", " ")), n, str(n))
            for k, n in sorted(counts_.items(), key=lambda item: (-item[1], item[0]))]


def dashboard(ctx: NodeContext, db: Session, *, names: dict[str, str]) -> dict[str, Any]:
    """Everything the page shows. `names`: region code -> its name in the page's language."""
    from eresident.crosscase.service import STATUSES as CASE_STATUSES
    from eresident.enterprise.service import STATUSES as FORMATION_STATUSES
    from eresident.federation import service as federation
    from eresident.identity.service import STATUSES as APPLICATION_STATUSES

    here, now = ctx.region, ctx.clock.now()
    mine = counts(db, here)
    mine["cross_region"]["decision_hours"] = cross_region_times(db, here)
    stored = {row.region: row for row in db.scalars(select(RegionFigures))}
    own = stored.pop(here, None)
    if own is not None and own.figures.get("version") == FIGURES_VERSION:
        mine["processes"], processes_as_of = own.figures.get("processes") or {}, own.as_of
    else:  # no worker has run yet: compute them now (slow at full size; see docs/dashboard.md)
        mine["processes"], processes_as_of = processing(db), now
    columns = [Column(here, names.get(here, here), mine, now, True, processes_as_of)]
    try:  # every peer of the trust list, and any region whose figures were received before
        peers = sorted(set(federation.peers(ctx)) | set(stored))
    except Problem:  # the trust list cannot be read: what was received
        peers = sorted(stored)
    for peer in peers:
        row = stored.get(peer)
        usable = row is not None and row.figures.get("version") == FIGURES_VERSION
        columns.append(Column(peer, names.get(peer, peer), row.figures if usable and row else None,
                              row.as_of if usable and row else None))

    processes = []
    for process, title in PROCESSES:
        p = mine["processes"].get(process) or {}
        hours = p.get("decision_hours") or {}
        processes.append({"process": process, "title": title, "started": p.get("started", 0),
                          "decided": p.get("decided", 0), "automatic": p.get("automatic", 0),
                          "p50": hours.get("p50"), "p90": hours.get("p90"),
                          "deadline_misses": p.get("deadline_misses", 0)})
    cross = mine["cross_region"]
    return {
        "columns": columns,
        "rows": _rows(columns),
        "compared": sum(1 for c in columns if c.figures is not None),
        "applications": Chart(N_("Applications by status"), _bars(
            mine["applications"], {status: text for status, (text, _who) in APPLICATION_STATUSES.items()})),
        "residents": mine["residents"],
        "companies": {"licences": mine["companies"]["licences"], "tax": mine["companies"]["tax"],
                      "formations": Chart(N_("Company formations by status"),
                                          _bars(mine["companies"]["formations"], FORMATION_STATUSES)),
                      "bank": Chart(N_("Bank account requests by status"), _bars(mine["companies"]["bank"]))},
        "processes": processes,
        "processes_as_of": processes_as_of,
        "step_charts": _step_charts(columns),
        "misses_chart": _process_chart(columns, N_("Deadlines missed, by process"),
                                       lambda p: (p or {}).get("deadline_misses"),
                                       lambda v: "—" if v is None else str(v)),
        "decision_chart": _process_chart(columns, N_("Time to decision, median working hours"),
                                         lambda p: ((p or {}).get("decision_hours") or {}).get("p50"), _hours_text),
        "cross": {"filed": Chart(N_("Filed here for another region, by status"),
                                 _bars(cross["filed_here"], CASE_STATUSES)),
                  "handled": Chart(N_("Handled here for another region, by status"),
                                   _bars(cross["handled_here"], CASE_STATUSES)),
                  "filed_total": sum(cross["filed_here"].values()),
                  "handled_total": sum(cross["handled_here"].values()),
                  "times": cross["decision_hours"]},
        "exchange": {"out": mine["exchange"]["out"].get("accepted", 0), "in": mine["exchange"]["in"].get("accepted", 0),
                     "proposed_out": mine["exchange"]["out"].get("proposed", 0),
                     "proposed_in": mine["exchange"]["in"].get("proposed", 0)},
    }
