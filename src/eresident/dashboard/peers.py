"""`figures.published`: a peer's dashboard figures, checked field by field and kept (the newest).

The payload is `{"as_of": <ISO 8601 time>, "figures": {...}}` (docs/dashboard.md): counts by status
and processing-time summaries only. A field that is missing, of the wrong type, negative, too long
or too many is refused with 422 naming it (`payload/figures/processes/e-residency/started`), and
nothing is stored; an older set than the one kept (a retry overtaken by a newer one) is answered
but not kept.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.dashboard.models import RegionFigures
from eresident.dashboard.service import FIGURES_VERSION, KIND, digest_of
from eresident.federation.handlers import Incoming, payload_text, payload_time, register
from eresident.kit.context import NodeContext
from eresident.kit.errors import invalid

STATUS = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # a status or taxpayer status key
PROCESS = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
STEP = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_KEYS = 40  # statuses of one thing, steps of one process, processes
MAX_COUNT = 10**12
MAX_HOURS = 10**7  # over a thousand years: anything more is not a duration


def _object(value: Any, where: str, name: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(where, f"{name} is a JSON object")
    if len(value) > 200:
        raise invalid(where, f"{name} has too many fields")
    return value


def _member(parent: dict, name: str, where: str) -> Any:
    if name not in parent or parent[name] is None:
        raise invalid(f"{where}/{name}", f"{name} is missing")
    return parent[name]


def _count(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise invalid(where, f"{name} is a whole number from 0 to {MAX_COUNT}")
    return value


def _hours(value: Any, where: str, name: str) -> float | None:
    """Hours, or None (no case has that duration yet)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_HOURS:
        raise invalid(where, f"{name} is a number of hours from 0 to {MAX_HOURS}, or null")
    return float(value)


def _counts_by(parent: dict, name: str, where: str) -> dict[str, int]:
    """{status: count}, at most MAX_KEYS keys, each a lower-case word."""
    path = f"{where}/{name}"
    value = _object(_member(parent, name, where), path, name)
    if len(value) > MAX_KEYS:
        raise invalid(path, f"{name} has at most {MAX_KEYS} entries")
    out = {}
    for key, n in value.items():
        if not STATUS.match(key):
            raise invalid(path, f"{name} is keyed by lower-case status words, not {key[:40]!r}")
        out[key] = _count(n, f"{path}/{key}", key)
    return out


def _count_of(parent: dict, name: str, where: str) -> int:
    return _count(_member(parent, name, where), f"{where}/{name}", name)


def _summary(parent: dict, name: str, where: str, fields: tuple[str, ...]) -> dict | None:
    path = f"{where}/{name}"
    value = parent.get(name)
    if value is None:
        return None
    value = _object(value, path, name)
    out: dict[str, Any] = {}
    for field in fields:
        if field == "count":
            out[field] = _count_of(value, field, path)
        else:
            hours = _hours(_member(value, field, path), f"{path}/{field}", field)
            out[field] = hours
    return out


def parse_figures(payload: dict) -> tuple[datetime, dict]:
    """(as_of, figures) of a `figures.published` payload, every field checked; raises a 422 Problem
    naming the first field that is not what it should be."""
    as_of = payload_time(payload, "as_of")
    where = "payload/figures"
    raw = _object(_member(payload, "figures", "payload"), where, "figures")
    version = _member(raw, "version", where)
    if type(version) is not int or version != FIGURES_VERSION:
        raise invalid(f"{where}/version", f"figures of version {FIGURES_VERSION} are expected")
    residents_path = f"{where}/residents"
    residents = _object(_member(raw, "residents", where), residents_path, "residents")
    companies_path = f"{where}/companies"
    companies = _object(_member(raw, "companies", where), companies_path, "companies")
    cross_path = f"{where}/cross_region"
    cross = _object(_member(raw, "cross_region", where), cross_path, "cross_region")
    times_path = f"{cross_path}/decision_hours"
    times = _object(_member(cross, "decision_hours", cross_path), times_path, "decision_hours")
    exchange_path = f"{where}/exchange"
    exchange = _object(_member(raw, "exchange", where), exchange_path, "exchange")
    figures: dict[str, Any] = {
        "version": FIGURES_VERSION,
        "residents": {k: _count_of(residents, k, residents_path)
                      for k in ("active", "suspended", "revoked", "recognised")},
        "applications": _counts_by(raw, "applications", where),
        "companies": {"licences": _count_of(companies, "licences", companies_path),
                      **{k: _counts_by(companies, k, companies_path) for k in ("formations", "tax", "bank")}},
        "cross_region": {"filed_here": _counts_by(cross, "filed_here", cross_path),
                         "handled_here": _counts_by(cross, "handled_here", cross_path),
                         "decision_hours": {k: _summary(times, k, times_path, ("count", "p50", "p90"))
                                            for k in ("filed_here", "handled_here")}},
        "exchange": {k: _counts_by(exchange, k, exchange_path) for k in ("out", "in")},
        "processes": _processes(raw, where),
    }
    return as_of, figures


def _processes(raw: dict, where: str) -> dict[str, dict]:
    path = f"{where}/processes"
    value = _object(_member(raw, "processes", where), path, "processes")
    if len(value) > MAX_KEYS:
        raise invalid(path, f"processes has at most {MAX_KEYS} entries")
    out = {}
    for process, data in value.items():
        if not PROCESS.match(process):
            raise invalid(path, f"processes is keyed by process names, not {process[:40]!r}")
        here = f"{path}/{process}"
        data = _object(data, here, process)
        steps_path = f"{here}/steps"
        steps = _object(_member(data, "steps", here), steps_path, "steps")
        if len(steps) > MAX_KEYS:
            raise invalid(steps_path, f"steps has at most {MAX_KEYS} entries")
        parsed_steps = {}
        for sid, step in steps.items():
            if not STEP.match(sid):
                raise invalid(steps_path, f"steps is keyed by step names, not {sid[:40]!r}")
            step_path = f"{steps_path}/{sid}"
            step = _object(step, step_path, sid)
            parsed_steps[sid] = {
                "title": payload_text(step, "title", limit=200, path=f"{step_path[len('payload/'):]}/title"),
                "entered": _count_of(step, "entered", step_path),
                "waiting_mean": _hours(step.get("waiting_mean"), f"{step_path}/waiting_mean", "waiting_mean"),
                "deadline_misses": _count_of(step, "deadline_misses", step_path)}
        out[process] = {**{k: _count_of(data, k, here)
                           for k in ("started", "ended", "decided", "automatic", "deadline_misses")},
                        "decision_hours": _summary(data, "decision_hours", here, ("p50", "p90")),
                        "steps": parsed_steps}
    return out


@register(KIND)
def on_figures(*, ctx: NodeContext, db: Session, message: Incoming) -> dict[str, Any]:
    """Keep a peer's figures, unless newer ones from it are kept already."""
    as_of, figures = parse_figures(message.payload)
    region, now = message.sender, ctx.clock.now()
    row = db.get(RegionFigures, region, with_for_update=True)
    if row is not None and row.as_of >= as_of:
        return {"kept": False, "reason": "older", "as_of": row.as_of.isoformat()}
    digest = digest_of(figures)
    if row is None:
        try:
            with db.begin_nested():  # two messages of one peer at once: the second updates the first's row
                row = RegionFigures(region=region, figures=figures, digest=digest, as_of=as_of, stored_at=now)
                db.add(row)
        except IntegrityError:
            row = db.get_one(RegionFigures, region, with_for_update=True, populate_existing=True)
            if row.as_of >= as_of:
                return {"kept": False, "reason": "older", "as_of": row.as_of.isoformat()}
    row.figures, row.digest, row.as_of, row.stored_at = figures, digest, as_of, now
    record(db=db, actor=Actor("peer", region, f"node {region}", region), region=ctx.region,
           action="dashboard.figures_received", entity_type="dashboard_figures", entity_id=region, at=now,
           after={"as_of": as_of.isoformat(), "digest": digest, "message": message.id})
    return {"kept": True, "as_of": as_of.isoformat()}
