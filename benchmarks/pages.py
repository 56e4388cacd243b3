"""Page speed at the leadership dashboard's full data size: 10,000 e-residency cases with their
workflow history, companies and cross-region cases, and how long the server takes to render the
pages people use every day, beside a bare Jinja render of a page of the same size.

    eresident bench pages [--seconds S] [--postgres URL]
    python benchmarks/pages.py [--cases 10000] [--requests 40] [--only sqlite|postgres] [--postgres URL]

Per backend (a SQLite file in a temp dir; PostgreSQL in a fresh bench_<random> database that is
dropped afterwards):

1. Seed (untimed). `eresident migrate`'s schema, the demo officials, then --cases e-residency cases
   inserted in bulk, each driven through the published process by the engine's own semantics
   (workflow/semantics.py: start, signal, claim, act, the deadline timer) over the last 150 days:
   the older third on e-residency v1, the rest on v2 (automatic approval of clean cases, deadlines
   that escalate). Each case has its applicant, photo record, checks, consents, identity check,
   transitions and worklist rows; an approved one its e-resident. About 30 % of the e-residents form
   a company (formation process, licence, tax registration process), 3 % of those across regions
   (cross-region cases filed here for the other region, and handled here for it). --backlog of the
   cases of the last 20 days (default 1,000) went to review and nobody picked them up: a queue the
   reviewers fell behind on, late and escalated, so the worklist is measured at size. PostgreSQL
   then gets an ANALYZE, as autovacuum would have given a database that grew over months (without
   statistics its planner joined the transitions badly: the worker's dashboard job took 134 s
   instead of 4.4 s); SQLite gets none, as a node never runs one. Then, through
   the HTTP API as people do it: five applicants become e-residents (agent, reviewer, approver),
   two of them found a company (automatic approval, a signed licence), and three more cases wait
   for the reviewer. Not seeded: audit events of the bulk cases (no page measured reads them in
   bulk), bank requests.
2. Measure (in-process, the ASGI app through Starlette's TestClient, one request at a time):
   GET /official/dashboard (administrator), GET /official (reviewer's worklist, first page),
   GET /official/cases/{id} (a case in review), GET /my (the founder), GET /verify/licence/{uscc}
   (public). --requests timed requests each after 3 untimed ones; p50 and p99 of the wall time.
3. Bare: the same page's bytes as a table of rows rendered by a plain jinja2 template (autoescape,
   no database), timed the same way. ratio = page p50 / bare p50.

Target: every page p99 under 200 ms. The last line printed is the ratio line.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _harness import pg_database  # noqa: E402  (benchmarks/_harness.py)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 200.0
REGION, PEER = "LJ", "TF"
DAYS = 150  # the bulk cases arrive over this many days before now
PAGES = ("dashboard", "worklist", "case", "my", "licence")
APPLICANT_PASSWORD = "bench pages passphrase 1"


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * (len(ordered) - 1)))))]


# ================================================================ the bulk seed

@dataclass
class Seeded:
    cases: int = 0
    open_cases: int = 0
    residents: int = 0
    formations: int = 0
    licences: int = 0
    cross_filed: int = 0
    cross_handled: int = 0
    transitions: int = 0
    seconds: float = 0.0


@dataclass
class _Rows:
    """Rows per table, inserted in batches with plain Core statements."""

    tables: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, table: str, row: dict) -> None:
        self.tables.setdefault(table, []).append(row)

    def flush(self, conn, metadata) -> int:
        from sqlalchemy import insert

        written = 0
        for name in [t.name for t in metadata.sorted_tables]:  # parents before children
            rows = self.tables.pop(name, None)
            if rows:
                conn.execute(insert(metadata.tables[name]), rows)
                written += len(rows)
        return written


def _hours(rng: random.Random, mean: float, sd: float) -> float:
    """A lognormal duration with this mean and standard deviation, in hours."""
    import math

    sigma2 = math.log(1 + (sd / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


class CaseDriver:
    """Drives one case through a published definition with the engine's pure semantics, as the
    node would have: outside events after a delay, officials picking a task up after a wait in
    working hours and finishing it after a while, the deadline timer at each due time. Stops at
    `now`: whatever has not happened by then is still open."""

    def __init__(self, defn, calendar, now: datetime, rng: random.Random, people: dict[str, list]):
        self.defn, self.cal, self.now, self.rng, self.people = defn, calendar, now, rng, people

    def _timer(self, state, until: datetime, effects: list) -> None:
        from eresident.workflow import semantics as S

        while True:
            due = S.next_due(state)
            if due is None or due > until or state.outcome is not None:
                return
            state, more = S.escalate_due(self.defn, state, due, self.cal, inplace=True)
            effects += more

    def run(self, facts: dict, started: datetime, *, events=(), waits: dict, work: dict, choose,
            event_facts: dict | None = None) -> tuple:
        """(state, effects, actors by step) of one case started at `started`; `event_facts`: the
        facts an outside event brings (event -> facts), as the node's signal carries them."""
        from eresident.workflow import semantics as S

        defn, cal, rng = self.defn, self.cal, self.rng
        state, effects = S.start(defn, facts, started, cal, region=REGION)
        for event in events:
            if event in {e for row in S.open_steps(defn, state) for e in row.events}:
                state, more = S.signal(defn, state, event, started, cal, inplace=True)
                effects += more
        acted: dict[str, str] = {}
        for _ in range(12):
            if state.outcome is not None:
                break
            rows = S.open_steps(defn, state)
            if not rows:
                break
            row = rows[0]
            if row.kind == "wait":
                event = choose(row.step, state, rng)
                at = row.entered_at + timedelta(hours=waits[event](rng))
                self._timer(state, min(at, self.now), effects)
                if at > self.now:
                    break
                state, more = S.signal(defn, state, event, at, cal, inplace=True,
                                       facts=(event_facts or {}).get(event))
                effects += more
                continue
            step = defn.steps[row.step]
            pool = [p for p in self.people[row.role] if str(p.id) not in {acted.get(s) for s in
                                                                         getattr(step, "not_same_actor_as", ())}]
            actor = acted.get(row.step) if getattr(step, "sticky", False) and row.step in acted else None
            person = next((p for p in pool if str(p.id) == actor), None) or rng.choice(pool)
            picked = cal.add_working_hours(row.entered_at, waits[row.step](rng))
            self._timer(state, min(picked, self.now), effects)
            if picked > self.now:
                break
            if step.claim == "required":
                state, more = S.claim(defn, state, row.step, person, picked, inplace=True)
                effects += more
            done = cal.add_working_hours(picked, work[row.step](rng))
            self._timer(state, min(done, self.now), effects)
            if done > self.now:
                break
            action = choose(row.step, state, rng)
            note = "Checked against the documents." if defn.steps[row.step].actions[action].note_required else ""
            state, more = S.act(defn, state, row.step, action, person, done, cal, note=note, inplace=True)
            effects += more
            acted[row.step] = str(person.id)
        self._timer(state, self.now, effects)
        return state, effects, acted


def _workflow_rows(rows: _Rows, defn, state, effects, case_id: uuid.UUID, subject_type: str,
                   subject_id: uuid.UUID, started: datetime) -> None:
    """The case, its transitions and its worklist rows, as workflow/service.py writes them."""
    from eresident.workflow import semantics as S

    rows.add("workflow_cases", {
        "id": case_id, "process": defn.process, "version": defn.version, "subject_type": subject_type,
        "subject_id": subject_id, "region": REGION, "status": S.case_status(defn, state), "state": state.to_json(),
        "row_version": 1 + len(effects) // 3, "started_at": started, "next_due_at": S.next_due(state),
        "ended_at": state.ended_at, "outcome": state.outcome, "decided_by": S.decided_by(state)})
    for effect in effects:  # inserted in this order: the metrics read a case's effects by id
        data = effect.to_json()
        rows.add("workflow_transitions", {"case_id": case_id, "at": effect.at, "type": effect.type,
                                          "step": data.get("step"), "actor_id": data.get("actor"), "data": data})
    for row in S.open_steps(defn, state):
        for region in (row.regions or (None,)):
            rows.add("work_items", {
                "id": uuid.uuid4(), "case_id": case_id, "instance": row.instance, "step": row.step, "kind": row.kind,
                "title": row.title, "role": row.role, "region": region,
                "claimed_by": row.claims[0] if row.claims else None, "entered_at": row.entered_at,
                "due_at": row.due_at, "overdue": row.overdue, "escalated_to": row.escalated_to})


def _residency_choice(step: str, state, rng: random.Random) -> str:
    facts = state.facts
    suspicious = facts.get("screening_hits", 0) > 0 or facts.get("refused_before") \
        or not facts.get("identity_verified", True)
    if step == "identity_check":
        return "identity_checked"
    if step == "automatic_checks":
        return "checks_completed"
    if step == "info_requested":
        return "resubmitted"
    if step == "review":
        answered = any(h.step == "info_requested" for h in state.history)
        r = rng.random()
        if not answered and r < (0.2 if suspicious else 0.05):
            return "request_info"
        return "recommend_refuse" if (suspicious and r < 0.6) or r > 0.985 else "recommend_approve"
    recommended = next((h.result for h in reversed(state.history) if h.step == "review" and h.how == "action"), None)
    agree = rng.random() < 0.98
    return "approve" if (recommended == "recommend_approve") == agree else "refuse"


def _formation_choice(step: str, state, rng: random.Random) -> str:
    if step == "signatures":
        return "all_signed"
    if step == "review":
        return "recommend_refuse" if rng.random() < 0.2 else "recommend_approve"
    return "approve" if rng.random() < 0.85 else "refuse"


def _tax_choice(step: str, state, rng: random.Random) -> str:
    return "approve_general" if rng.random() < 0.7 else "refuse_general"


def seed_bulk(ctx, *, cases: int, now: datetime, rng: random.Random, backlog: int = 0) -> Seeded:
    """`cases` e-residency cases and what follows from them, inserted in bulk (see the module docstring).
    `backlog` of the cases of the last 20 days went to review and nobody has picked them up yet."""
    from sqlalchemy import select, text

    from eresident.audit.service import Actor as AuditActor
    from eresident.identity.consents import CONSENTS
    from eresident.identity.mrz import make_td3
    from eresident.identity.service import PASSPORT_INDEX_CONTEXT
    from eresident.kit.registry import metadata
    from eresident.officials.models import Official
    from eresident.security.passwords import Passwords
    from eresident.sites.models import ServiceSite
    from eresident.workflow import service as workflow
    from eresident.workflow.calendar import load_calendar
    from eresident.workflow.definition import load_packaged
    from eresident.workflow.semantics import Actor

    import loadgen  # benchmarks/loadgen.py: the applicants' names

    began = time.perf_counter()
    out = Seeded()
    earliest = now - timedelta(days=DAYS)
    with ctx.database.session(write=True) as db:  # the process versions, as the node publishes them
        for process in ("e-residency", "company-formation", "tax-registration"):
            workflow.active_definition(ctx, db, process)
        if workflow.latest(db, "e-residency").version < 2:
            workflow.publish(ctx=ctx, db=db, text=(workflow.PACKAGED / "e-residency.v2.yaml").read_text(),
                             actor=AuditActor.system(), source_name="e-residency.v2.yaml")
        site = db.scalars(select(ServiceSite).where(ServiceSite.code == "MK-ALG")).one()
        agent = db.scalars(select(Official).where(Official.username == f"{REGION.lower()}-agent")).one()
        template = db.scalars(select(Official).where(Official.username == f"{REGION.lower()}-reviewer")).one()
        site_id, agent_id = site.id, agent.id
        official_row = {c.name: getattr(template, c.key) for c in Official.__table__.columns}
    v1, v2 = load_packaged("e-residency.v1"), load_packaged("e-residency.v2")
    formation_defn, tax_defn = load_packaged("company-formation.v1"), load_packaged("tax-registration.v1")
    calendar = load_calendar(v1.calendar)

    rows = _Rows()
    people: dict[str, list] = {}
    for role, count in (("reviewer", 20), ("approver", 8), ("tax_officer", 4)):
        for i in range(count):
            official_id = uuid.uuid4()
            rows.add("officials", {**official_row, "id": official_id, "username": f"bench-{role}-{i}",
                                   "display_name": f"Bench {role} {i}", "created_at": earliest})
            people.setdefault(role, []).append(Actor(official_id, (role,), REGION))
    with ctx.database.session(write=True) as db:
        rows.flush(db.connection(), metadata)
    password_hash = Passwords("fast").hash(APPLICANT_PASSWORD)
    residency = {1: CaseDriver(v1, calendar, now, rng, people), 2: CaseDriver(v2, calendar, now, rng, people)}
    formations = CaseDriver(formation_defn, calendar, now, rng, people)
    taxes = CaseDriver(tax_defn, calendar, now, rng, people)
    residency_waits = {
        "identity_checked": lambda r: _hours(r, 96, 60), "checks_completed": lambda r: 0.2,
        "resubmitted": lambda r: _hours(r, 60, 36), "review": lambda r: _hours(r, 9, 8),
        "decision": lambda r: _hours(r, 4, 3), "panel_decision": lambda r: _hours(r, 4, 3)}
    residency_work = {"review": lambda r: _hours(r, 0.7, 0.35), "decision": lambda r: _hours(r, 0.25, 0.12),
                      "panel_decision": lambda r: _hours(r, 0.3, 0.15)}
    formation_waits = {"all_signed": lambda r: _hours(r, 40, 30), "review": lambda r: _hours(r, 10, 8),
                       "decision": lambda r: _hours(r, 5, 4)}
    formation_work = {"review": lambda r: _hours(r, 1.0, 0.5), "decision": lambda r: _hours(r, 0.3, 0.2)}
    tax_waits = {"review": lambda r: _hours(r, 12, 10)}
    tax_work = {"review": lambda r: _hours(r, 0.5, 0.3)}
    consents = [(purpose, text_.version, text_.sha256) for purpose, text_ in CONSENTS.items()]
    cipher, blind = ctx.cipher, ctx.blind_index
    case_serial = resident_serial = formation_serial = licence_serial = 0
    batch = 500
    starts = sorted(earliest + timedelta(seconds=rng.uniform(0, DAYS * 86400)) for _ in range(cases))
    recent = [k for k, started in enumerate(starts) if started > now - timedelta(days=20)]
    stuck = set(rng.sample(recent, min(backlog, len(recent))))
    never = {**residency_waits, "review": lambda r: 100_000.0}  # working hours: later than now
    for k, started in enumerate(starts):
        surname, given, native, born, sex = loadgen.PEOPLE[k % len(loadgen.PEOPLE)]
        passport = f"B{k:08d}"
        hits = 1 if rng.random() < 0.03 or k in stuck else 0  # a possible match: a person must look
        facts = {"identity_verified": rng.random() < 0.98, "screening_hits": hits,
                 "risk_score": round(rng.uniform(0.5, 1.0), 2) if hits else 0.0, "refused_before": rng.random() < 0.01}
        version = 1 if started < earliest + timedelta(days=DAYS / 3) else 2
        state, effects, acted = residency[version].run(facts, started, events=("checks_completed",),
                                                       waits=never if k in stuck else residency_waits,
                                                       work=residency_work,
                                                       choose=_residency_choice)
        defn = v1 if version == 1 else v2
        case_serial += 1
        applicant_id, photo_id, app_id, case_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        rows.add("applicants", {"id": applicant_id, "email": f"bench-{k}@example.dz", "password_hash": password_hash,
                                "email_confirmed_at": started - timedelta(hours=2), "confirm_token_hash": None,
                                "confirm_expires_at": None, "locale": "en", "created_at": started - timedelta(hours=3)})
        rows.add("documents", {"id": photo_id, "owner_type": "applicant", "owner_id": applicant_id, "kind": "photo",
                               "sha256": "0" * 64, "size": 70, "media_type": "image/png", "filename": "photo.png",
                               "created_at": started - timedelta(minutes=20)})
        status = state.outcome or _status(defn, state)
        checked = next((e.at for e in effects if e.type == "StepCompleted" and e.step == "identity_check"), None)
        decided = state.ended_at
        rows.add("applications", {
            "id": app_id, "case_number": f"{REGION}-{started.year}-{case_serial:06d}", "region": REGION,
            "applicant_id": applicant_id, "status": status, "version": 1 + len(acted) + (checked is not None),
            "surname": surname, "given_names": given, "native_name": native, "birth_date": born, "sex": sex,
            "nationality": "DZ", "residence_country": "DZ", "phone": "+213 21 23 45 67",
            "address": "5 Rue Larbi Ben M'hidi, Algiers",
            "passport_number_enc": cipher.encrypt(passport, context="applications.passport"),
            "passport_index": blind(passport, context=PASSPORT_INDEX_CONTEXT),
            "mrz_enc": cipher.encrypt("\n".join(make_td3(
                surname=surname, given_names=given, document_number=passport, nationality="DZA", birth_date=born,
                sex=sex, expiry_date=loadgen.PASSPORT_EXPIRY, issuing_state="DZA")), context="applications.mrz"),
            "document_format": "TD3", "passport_expiry": loadgen.PASSPORT_EXPIRY,
            "purpose": "I trade dates and olive oil and want to open a company in the region.",
            "site_id": site_id, "photo_document_id": photo_id, "screening_hits": hits,
            "risk_score": facts["risk_score"], "created_at": started, "submitted_at": started,
            "reviewer_id": _official(acted.get("review")), "recommendation": _recommendation(state),
            "recommendation_note": "Checked against the documents." if "review" in acted else None,
            "approver_id": _official(acted.get("decision")),
            "decision": {"approved": "approve", "refused": "refuse"}.get(state.outcome or ""),
            "decision_reasons": "Checked against the documents." if state.outcome == "refused" else None,
            "decided_at": decided})
        rows.add("application_documents", {"application_id": app_id, "document_id": photo_id, "kind": "photo"})
        for check, summary in (("mrz", "All MRZ check digits are valid and match the typed details."),
                               ("expiry", f"The passport is valid until {loadgen.PASSPORT_EXPIRY}."),
                               ("duplicate", "No other application in this region uses this passport."),
                               ("screening", "No match on the sanctions list.")):
            rows.add("check_results", {"id": uuid.uuid4(), "application_id": app_id, "check": check,
                                       "outcome": "refer" if check == "screening" and hits else "pass",
                                       "summary": summary, "details": {}, "created_at": started})
        for purpose, version_, sha256 in consents:
            rows.add("consents", {"id": uuid.uuid4(), "applicant_id": applicant_id, "application_id": app_id,
                                  "purpose": purpose, "text_version": version_, "text_sha256": sha256,
                                  "granted": True, "recorded_at": started, "withdrawn_at": None})
        if checked is not None:
            appointment_id = uuid.uuid4()
            rows.add("appointments", {"id": appointment_id, "site_id": site_id, "application_id": app_id,
                                      "starts_at": checked - timedelta(minutes=30), "seat": None, "mode": "video",
                                      "status": "attended", "created_at": started + timedelta(hours=1)})
            verified = bool(facts["identity_verified"])
            rows.add("identity_checks", {"id": uuid.uuid4(), "application_id": app_id, "appointment_id": appointment_id,
                                         "agent_id": agent_id, "site_id": site_id, "mode": "video",
                                         "passport_seen": True, "passport_matches_mrz": True,
                                         "face_matches_photo": verified,
                                         "outcome": "verified" if verified else "not_verified", "notes": "",
                                         "checked_at": checked})
        _workflow_rows(rows, defn, state, effects, case_id, "application", app_id, started)
        out.cases += 1
        out.transitions += len(effects)
        out.open_cases += state.outcome is None
        if state.outcome == "approved":
            resident_serial += 1
            resident_id = uuid.uuid4()
            assert decided is not None
            rows.add("e_residents", {"id": resident_id, "number": f"{REGION}-ER-{decided.year}-{resident_serial:06d}",
                                     "region": REGION, "application_id": app_id, "applicant_id": applicant_id,
                                     "status": "revoked" if rng.random() < 0.004 else "active",
                                     "issued_at": decided, "status_reason": None})
            out.residents += 1
            if rng.random() < 0.3:
                formation_serial += 1
                licence_serial += _company(rows, out, rng, formations, taxes, formation_waits, formation_work,
                                           tax_waits, tax_work, now=now, after=decided, serial=formation_serial,
                                           licence_serial=licence_serial, applicant_id=applicant_id,
                                           resident_id=resident_id, founder=f"{given} {surname}", site_id=site_id)
        if (k + 1) % batch == 0 or k + 1 == cases:
            with ctx.database.session(write=True) as db:
                rows.flush(db.connection(), metadata)
            log(f"seeded {k + 1:,} cases")
    with ctx.database.session(write=True) as db:  # the human numbers go on from the bulk ones
        for name, value in ((f"case:{REGION}:{now.year}", case_serial), (f"e-resident:{REGION}", resident_serial)):
            _set_counter(db, name, value)
        formation_counter = f"formation:{REGION}:{now.year}"
        _set_counter(db, formation_counter, formation_serial + 1000)
    if not ctx.database.is_sqlite:  # autovacuum would have analysed a database that grew over months
        with ctx.database.session(write=True) as db:
            db.execute(text("ANALYZE"))
    out.seconds = time.perf_counter() - began
    return out


def _status(defn, state) -> str:
    from eresident.workflow import semantics as S

    return S.case_status(defn, state) or "awaiting_identity_check"


def _official(actor_id: str | None) -> uuid.UUID | None:
    return uuid.UUID(actor_id) if actor_id else None


def _recommendation(state) -> str | None:
    for h in reversed(state.history):
        if h.step == "review" and h.how == "action" and h.result.startswith("recommend_"):
            return h.result.removeprefix("recommend_")
    return None


def _set_counter(db, name: str, value: int) -> None:
    from sqlalchemy import select

    from eresident.kit.models import Counter

    row = db.scalars(select(Counter).where(Counter.name == name)).first()
    if row is None:
        db.add(Counter(name=name, value=value))
    else:
        row.value = max(row.value, value)


TRADE_CHARS = "明光金海云山川林松竹梅兰菊江河湖峰岭"
INDUSTRIES = (("科技", "Technology"), ("贸易", "Trading"), ("咨询", "Consulting"))


def _company(rows: _Rows, out: Seeded, rng: random.Random, formations: CaseDriver, taxes: CaseDriver,
             waits: dict, work: dict, tax_waits: dict, tax_work: dict, *, now: datetime,
             after: datetime, serial: int, licence_serial: int, applicant_id: uuid.UUID, resident_id: uuid.UUID,
             founder: str, site_id: uuid.UUID) -> int:
    """A company an e-resident forms after `after`: its name, formation, process, and (approved)
    licence and tax registration; 3 % of them across regions. Returns licences issued (0 or 1)."""
    from decimal import Decimal

    n = len(TRADE_CHARS)
    trade = "".join(TRADE_CHARS[(serial // n ** i) % n] for i in range(3))
    zh, en = INDUSTRIES[serial % len(INDUSTRIES)]
    name_zh, name_en = f"重庆{trade}{zh}有限公司", f"Chongqing Bulk {serial} {en} Co., Ltd."
    created = after + timedelta(days=rng.uniform(1, 20))
    if created > now:
        return 0
    if rng.random() < 0.03:  # across regions: filed here for the other region, or handled here for it
        _cross_region_case(rows, out, rng, now=now, filed=created, serial=serial, applicant_id=applicant_id,
                           title=f"{name_zh} · {name_en}")
        return 0
    name_id, formation_id, case_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    submitted = created + timedelta(hours=rng.uniform(0.2, 30))
    drafted = submitted > now or rng.random() < 0.04
    capital = Decimal(200_000_000 if rng.random() < 0.03 else rng.choice((100_000, 500_000, 1_000_000, 5_000_000)))
    facts = {"all_signed": False, "restricted_items": 1 if rng.random() < 0.05 else 0,
             "capital_cny": float(capital), "beneficial_owners_listed": True,
             "name_needs_review": rng.random() < 0.05}
    state = effects = None
    status = "draft"
    if not drafted:
        state, effects, _acted = formations.run(facts, submitted, waits=waits, work=work, choose=_formation_choice,
                                                event_facts={"all_signed": {"all_signed": True}})
        status = state.outcome or _status(formations.defn, state)
    decided = state.ended_at if state is not None else None
    rows.add("registered_names", {
        "id": name_id, "region": REGION, "name_zh": name_zh, "name_en": name_en, "trade_name": trade,
        "industry_code": zh, "conflict_key": f"bulk:{serial}", "status": "registered" if status == "approved" else "reserved",
        "reserved_until": None if status == "approved" else created + timedelta(days=30), "freed_at": None,
        "owner_type": "e_resident", "owner_id": resident_id, "needs_review": facts["name_needs_review"],
        "created_at": created, "updated_at": decided or created})
    rows.add("formations", {
        "id": formation_id, "region": REGION, "case_number": f"{REGION}-CF-{created.year}-{serial:06d}",
        "owner_applicant_id": applicant_id, "owner_resident_id": resident_id, "name_id": name_id,
        "company_type": "wfoe", "status": status, "revision": 1, "registered_capital": capital, "currency": "CNY",
        "address_kind": "service_site", "address_zh": "重庆市两江新区金渝大道", "address_en": "Jinyu Avenue, Liangjiang",
        "term_years": None, "articles_sha256": None, "articles_document_id": None, "report_document_id": None,
        "created_at": created, "updated_at": decided or submitted, "submitted_at": None if drafted else submitted,
        "decided_at": decided, "decision_reasons": None})
    for position, (role, share) in enumerate((("investor", Decimal(100)), ("legal_representative", None),
                                              ("director", None), ("supervisor", None))):
        rows.add("formation_parties", {"id": uuid.uuid4(), "formation_id": formation_id, "role": role,
                                       "position": position, "kind": "natural", "name": founder, "country": "DZ",
                                       "e_resident_number": None, "registration_number": None,
                                       "share_percent": share, "contribution": capital if share else None})
    for position, code in enumerate(("BS001", "BS002")):
        rows.add("formation_scope_items", {"formation_id": formation_id, "code": code, "position": position})
    out.formations += 1
    if state is None:
        return 0
    _workflow_rows(rows, formations.defn, state, effects, case_id, "formation", formation_id, submitted)
    out.transitions += len(effects)
    if status != "approved":
        return 0
    assert decided is not None
    licence_id, document_id, tax_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    uscc = f"91500000B{serial:08d}X"  # not a valid check digit, and never one the node issues
    rows.add("documents", {"id": document_id, "owner_type": "node", "owner_id": formation_id, "kind": "licence",
                           "sha256": "1" * 64, "size": 150_000, "media_type": "application/pdf",
                           "filename": "licence.pdf", "created_at": decided})
    rows.add("licences", {
        "id": licence_id, "uscc": uscc, "serial": 10_000_000 + serial, "region": REGION, "formation_id": formation_id,
        "name_zh": name_zh, "name_en": name_en, "legal_representative": founder, "established_on": decided.date(),
        "term_until": None, "issued_at": decided, "status": "valid", "pdf_sha256": "1" * 64,
        "document_id": document_id, "details": {"registered_capital": str(capital), "currency": "CNY",
                                                "business_scope": ["BS001", "BS002"], "company_type": "wfoe"}})
    out.licences += 1
    sales = 8_000_000 if rng.random() < 0.1 else 1_200_000
    applies = sales < 5_000_000 and rng.random() < 0.06
    tax_state, tax_effects, _ = taxes.run({"projected_annual_sales": float(sales), "applies_general": applies},
                                          decided, waits=tax_waits, work=tax_work, choose=_tax_choice)
    general = tax_state.outcome == "general"
    rows.add("tax_registrations", {
        "id": tax_id, "tax_number": uscc, "licence_id": licence_id, "formation_id": formation_id,
        "owner_applicant_id": applicant_id, "region": REGION, "name_zh": name_zh, "established_on": decided.date(),
        "status": "registered" if tax_state.outcome else (_status(taxes.defn, tax_state)),
        "taxpayer_status": "general" if general else "small_scale", "status_basis": "",
        "general_application": applies, "projected_annual_sales": Decimal(sales), "tax_office_code": "15000000000",
        "tax_office_name_zh": "国家税务总局重庆两江新区税务局", "tax_office_name_en": "Liangjiang New Area Tax Bureau",
        "officer_id": None, "fapiao": {}, "registered_at": decided, "decided_at": tax_state.ended_at,
        "decision_note": None, "updated_at": tax_state.ended_at or decided})
    _workflow_rows(rows, taxes.defn, tax_state, tax_effects, uuid.uuid4(), "tax_registration", tax_id, decided)
    out.transitions += len(tax_effects)
    return 1


def _cross_region_case(rows: _Rows, out: Seeded, rng: random.Random, *, now: datetime, filed: datetime, serial: int,
                       applicant_id: uuid.UUID, title: str) -> None:
    """A cross-region formation case: filed here for the other region (two thirds) or filed there and
    handled here, with its history; decided after a few days unless it is recent."""
    here_files = rng.random() < 2 / 3
    filed_region, handling = (REGION, PEER) if here_files else (PEER, REGION)
    case_id = uuid.uuid4()
    steps = [(filed, filed_region, "sent", "filed"), (filed + timedelta(minutes=2), handling, "awaiting_signatures",
                                                      "received")]
    signed = filed + timedelta(hours=_hours(rng, 30, 20))
    if signed < now:
        steps.append((signed, handling, "awaiting_review", "formation.all_signed"))
        decided = signed + timedelta(hours=_hours(rng, 20, 15))
        if decided < now:
            outcome = "approved" if rng.random() < 0.9 else "refused"
            steps.append((decided, handling, outcome, f"formation.{outcome}"))
    last = steps[-1]
    ended = last[2] in ("approved", "refused")
    rows.add("cross_region_cases", {
        "id": case_id, "case_number": f"{filed_region}-CF-{filed.year}-{900_000 + serial:06d}",
        "service": "company-formation", "filed_region": filed_region, "handling_region": handling,
        "applicant_id": applicant_id, "e_resident_number": f"{filed_region}-ER-{filed.year}-{serial:06d}",
        "title": title[:500], "status": last[2], "last_seq": len(steps), "subject_type": None, "subject_id": None,
        "filing": {"service": "company-formation"}, "signatories": [], "articles_sha256": None,
        "articles_document_id": None, "result": {"decision": last[2]} if ended else None,
        "licence_document_id": None, "created_at": filed if here_files else steps[1][0], "updated_at": last[0],
        "decided_at": last[0] if ended else None})
    for seq, (at, region, status, what) in enumerate(steps, start=1):
        rows.add("cross_region_case_events", {"id": uuid.uuid4(), "case_id": case_id, "seq": seq, "at": at,
                                              "region": region, "status": status, "what": what, "detail": ""})
    if here_files:
        out.cross_filed += 1
    else:
        out.cross_handled += 1


# ================================================================ people, through the API

class Journeys:
    """Applicants and officials doing what they do, through the node's HTTP API (in-process)."""

    def __init__(self, client, ctx):
        self.c, self.ctx = client, ctx
        self.tokens: dict[str, str] = {}

    def _ok(self, r, *codes: int):
        if r.status_code not in (codes or (200, 201)):
            raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
        return r

    def official(self, role: str) -> dict:
        import pyotp

        from eresident.seed import DEMO_PASSWORD, demo_totp_secret

        if role not in self.tokens:
            totp = pyotp.TOTP(demo_totp_secret(REGION, role))
            for attempt in range(2):
                r = self.c.post("/api/v1/officials/login", json={"username": f"{REGION.lower()}-{role}",
                                                                  "password": DEMO_PASSWORD, "totp": totp.now()})
                if r.status_code == 200:
                    self.tokens[role] = r.json()["token"]
                    break
                if attempt == 0:
                    time.sleep(30.5 - time.time() % 30)  # a code works once: the next 30 s step
            else:
                self._ok(r)
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def applicant(self, k: int, run_id: str) -> dict:
        from urllib.parse import parse_qs, urlparse

        from residency import png_bytes

        email = f"bench-pages-{run_id}-{k}@example.dz"
        r = self._ok(self.c.post("/api/v1/applicants", json={"email": email, "password": APPLICANT_PASSWORD}), 201)
        token = parse_qs(urlparse(r.json()["confirmation_link"]).query)["token"][0]
        self._ok(self.c.post("/api/v1/applicants/confirm", params={"token": token}), 200)
        bearer = self._ok(self.c.post("/api/v1/auth/login", json={"email": email, "password": APPLICANT_PASSWORD}),
                          200).json()["token"]
        headers = {"Authorization": f"Bearer {bearer}"}
        photo = self._ok(self.c.post("/api/v1/documents", headers=headers, data={"kind": "photo"},
                                     files={"file": ("photo.png", png_bytes(), "image/png")}), 201).json()["id"]
        return {"email": email, "headers": headers, "photo": photo, "k": k}

    def submit_and_check(self, who: dict, k: int, *, face_matches: bool = True) -> str:
        """Submit, book, identity check. A clean case is approved at once (e-residency v2); one whose
        face did not match waits for a reviewer. Returns the application's id."""
        import loadgen

        body = loadgen.application_body(f"P{k:08d}", who["photo"], k)
        app_id = self._ok(self.c.post("/api/v1/applications", headers={**who["headers"],
                                                                      "Content-Type": "application/json"},
                                      content=body), 201).json()["id"]
        slot = self._ok(self.c.get("/api/v1/sites/MK-ALG/slots")).json()[k]["starts_at"]
        self._ok(self.c.post(f"/api/v1/applications/{app_id}/appointment", headers=who["headers"],
                             json={"starts_at": slot, "mode": "video"}), 201)
        self._ok(self.c.post(f"/api/v1/cases/{app_id}/identity-check", headers=self.official("agent"),
                             json={"passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": face_matches,
                                   "notes": "" if face_matches else "The face on the video call did not match."}),
                 201)
        return app_id

    def approve(self, who: dict, app_id: str) -> str:
        """The e-resident number: approved automatically, or by a reviewer and an approver."""
        read = self._ok(self.c.get(f"/api/v1/applications/{app_id}", headers=who["headers"])).json()
        if read["status"] == "approved":
            return read["e_resident_number"]
        reviewer, approver = self.official("reviewer"), self.official("approver")
        self._ok(self.c.post(f"/api/v1/cases/{app_id}/claim", headers=reviewer))
        self._ok(self.c.post(f"/api/v1/cases/{app_id}/recommend", headers=reviewer,
                             json={"recommendation": "approve", "note": "Passport and face checked by video."}))
        return self._ok(self.c.post(f"/api/v1/cases/{app_id}/decide", headers=approver,
                                    json={"decision": "approve"})).json()["e_resident_number"]

    def company(self, founder: dict, supervisor: dict, k: int) -> str:
        """A company founded and approved automatically; returns its USCC."""
        import hashlib

        name_zh, name_en = f"重庆{'星兴华泰安'[k % 5]}{'达德信和盛'[k % 5]}{'嘉鑫源丰恒'[k % 5]}科技有限公司", \
            f"Chongqing Pages {k} Technology Co., Ltd."
        reservation = self._ok(self.c.post("/api/v1/names/reservations", headers=founder["headers"],
                                           json={"name_zh": name_zh, "name_en": name_en}), 201).json()["id"]
        body = {"name_reservation_id": reservation, "registered_capital": "1000000", "currency": "USD",
                "business_scope": ["BS001", "BS002", "BS007"], "address": {"kind": "service_site"},
                "investors": [{"kind": "natural", "e_resident_number": founder["number"], "share_percent": "100"}],
                "legal_representative": {"e_resident_number": founder["number"]},
                "directors": [{"e_resident_number": founder["number"]}],
                "supervisor": {"e_resident_number": supervisor["number"]},
                "beneficial_owners": [{"name": "AMINA BENALI", "country": "DZ",
                                       "e_resident_number": founder["number"], "share_percent": "100"}]}
        fid = self._ok(self.c.post("/api/v1/formations", headers=founder["headers"], json=body), 201).json()["id"]
        self._ok(self.c.post(f"/api/v1/formations/{fid}/submit", headers=founder["headers"]), 200)
        for who in (founder, supervisor):
            pdf = self._ok(self.c.get(f"/api/v1/formations/{fid}/articles", headers=who["headers"])).content
            self._ok(self.c.post(f"/api/v1/formations/{fid}/signatures", headers=who["headers"],
                                 json={"document_sha256": hashlib.sha256(pdf).hexdigest()}), 201)
        done = self._ok(self.c.get(f"/api/v1/formations/{fid}", headers=founder["headers"])).json()
        if done["status"] != "approved" or not done.get("uscc"):
            raise RuntimeError(f"the company was not approved automatically: {done['status']}")
        return done["uscc"]


def seed_people(client, ctx, run_id: str) -> dict:
    """Through the API: five e-residents (one approved by a reviewer and an approver, the others
    automatically; two companies), three cases waiting for review (the face did not match).
    Returns what the measured pages need."""
    j = Journeys(client, ctx)
    residents = []
    for k in range(5):
        who = j.applicant(k, run_id)
        who["number"] = j.approve(who, j.submit_and_check(who, k, face_matches=k != 4))
        residents.append(who)
    uscc = j.company(residents[0], residents[1], 0)
    j.company(residents[2], residents[3], 1)
    waiting = [j.submit_and_check(j.applicant(10 + k, run_id), 10 + k, face_matches=False) for k in range(3)]
    reviewer = j.official("reviewer")
    j._ok(client.post(f"/api/v1/cases/{waiting[0]}/claim", headers=reviewer))
    return {"founder": residents[0]["headers"], "uscc": uscc, "case": waiting[0], "reviewer": reviewer,
            "admin": j.official("admin")}


# ================================================================ measuring

@dataclass
class PageResult:
    page: str
    path: str
    times: list[float]
    bare: list[float]
    size: int
    status: int

    @property
    def p50(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p99(self) -> float:
        return percentile(self.times, 0.99) * 1000

    @property
    def bare_p50(self) -> float:
        return statistics.median(self.bare) * 1000

    @property
    def bare_p99(self) -> float:
        return percentile(self.bare, 0.99) * 1000

    @property
    def ratio(self) -> float:
        return self.p50 / self.bare_p50 if self.bare_p50 else float("nan")


BARE_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/static/site.css"></head><body><main><h1>{{ title }}</h1>
<table><thead><tr><th>Case</th><th>Name</th><th>Step</th><th>Since</th><th>Due</th></tr></thead><tbody>
{% for r in rows %}<tr><td><a href="/official/cases/{{ r.id }}">{{ r.number }}</a></td><td>{{ r.name }}</td>
<td>{{ r.step }}</td><td><time datetime="{{ r.at }}">{{ r.at }}</time></td><td>{{ r.due }}</td></tr>
{% endfor %}</tbody></table></main></body></html>"""


def bare_render(size: int):
    """A plain jinja2 render (autoescape, no database, no request) producing about `size` bytes."""
    import jinja2

    template = jinja2.Environment(autoescape=True).from_string(BARE_TEMPLATE)
    row = {"id": str(uuid.uuid4()), "number": "LJ-2026-000001", "name": "BENALI, AMINA & co",
           "step": "Review", "at": "2026-11-26T09:00:00+00:00", "due": "Fri 27 Nov 2026, 17:00"}
    one = len(template.render(title="Bare", rows=[row]).encode())
    per_row = len(template.render(title="Bare", rows=[row, row]).encode()) - one
    rows = [dict(row, number=f"LJ-2026-{i:06d}") for i in range(max(1, 1 + (size - one) // max(per_row, 1)))]
    return lambda: template.render(title="Bare", rows=rows)


def measure(client, pages: dict[str, tuple[str, dict]], requests: int) -> list[PageResult]:
    results = []
    for page, (path, headers) in pages.items():
        for _ in range(3):
            r = client.get(path, headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            r = client.get(path, headers=headers)
            times.append(time.perf_counter() - began)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: {r.status_code}")
        render = bare_render(len(r.content))
        for _ in range(3):
            render()
        bare = []
        for _ in range(requests):
            began = time.perf_counter()
            render()
            bare.append(time.perf_counter() - began)
        results.append(PageResult(page, path, times, bare, len(r.content), r.status_code))
    return results


def run_backend(url: str, tmp: Path, args, run_id: str) -> dict:
    from fastapi.testclient import TestClient

    from eresident.app import create_app
    from eresident.config import Settings
    from eresident.kit.context import build_context
    from eresident.kit.db import Database
    from eresident.kit.logging import configure
    from eresident.kit.migrate import upgrade
    from eresident.seed import seed_demo

    configure("WARNING", False)
    upgrade(url)
    settings = Settings(region=REGION, database_url=url, data_dir=tmp, base_url="http://lj.bench", demo=True,
                        log_level="WARNING")
    database = Database(url)
    try:
        ctx = build_context(settings, database=database, password_profile="fast")
        seed_demo(ctx)
        now = ctx.clock.now()
        log(f"bulk seed: {args.cases:,} cases")
        seeded = seed_bulk(ctx, cases=args.cases, now=now, rng=random.Random(args.seed), backlog=args.backlog)
        app = create_app(settings, context=ctx)
        with TestClient(app, base_url=settings.base_url) as client:
            log("people through the API: e-residents, companies, cases waiting for review")
            began = time.perf_counter()
            people = seed_people(client, ctx, run_id)
            seeded.seconds += time.perf_counter() - began
            log("the worker's dashboard job (dashboard.service.refresh), as `eresident worker` runs it each minute")
            from eresident.dashboard.service import refresh

            began = time.perf_counter()
            refresh(ctx)
            refresh_seconds = time.perf_counter() - began
            pages = {"dashboard": ("/official/dashboard", people["admin"]),
                     "worklist": ("/official", people["reviewer"]),
                     "case": (f"/official/cases/{people['case']}", people["reviewer"]),
                     "my": ("/my", people["founder"]),
                     "licence": (f"/verify/licence/{people['uscc']}", {})}
            log(f"measuring {len(pages)} pages, {args.requests} requests each")
            results = measure(client, pages, args.requests)
        return {"seeded": seeded, "results": results, "refresh": refresh_seconds}
    finally:
        database.dispose()


def report(backends: dict[str, dict], failed: list[str], args, started: datetime, load: tuple) -> list[str]:
    cores = os.cpu_count() or 1
    out = ["", f"pages benchmark — {started:%Y-%m-%d %H:%M} UTC, {cores} cores, {args.cases:,} cases, "
               f"{args.requests} requests per page, in-process (TestClient)",
           f"load average before / after: {load[0]:.1f} / {load[1]:.1f}"
           + ("  (other work was running: compare within this run)" if max(load) > 0.5 * cores else ""), ""]
    for name, data in backends.items():
        s: Seeded = data["seeded"]
        out.append(f"{name}: seeded {s.cases:,} cases ({s.open_cases:,} open, {args.backlog:,} of them a review backlog), {s.residents:,} e-residents, "
                   f"{s.formations:,} formations, {s.licences:,} licences, cross-region {s.cross_filed} filed here / "
                   f"{s.cross_handled} handled here, {s.transitions:,} transitions in {s.seconds:.0f} s")
        out.append(f"  the worker's dashboard job (figures of {s.cases:,} cases, processing times from every transition): "
                   f"{data['refresh']:.2f} s, off the request path")
        head = f"{'page':<10} {'path':<44} {'KB':>6} {'p50 ms':>7} {'p99 ms':>7} {'bare p50':>9} {'bare p99':>9} {'ratio':>6}  target"
        out += [head, "-" * len(head)]
        for r in data["results"]:
            verdict = "met" if r.p99 < TARGET_MS else "MISSED"
            out.append(f"{r.page:<10} {r.path[:44]:<44} {r.size / 1024:>6.1f} {r.p50:>7.1f} {r.p99:>7.1f} "
                       f"{r.bare_p50:>9.2f} {r.bare_p99:>9.2f} {r.ratio:>6.1f}  p99 < {TARGET_MS:g} ms: {verdict}")
        out.append("")
    out.append("bare: a plain jinja2 template rendering a table of the same number of bytes (no database, no request). "
               "ratio: page p50 / bare p50.")
    out += [f"FAILED: {f}" for f in failed]
    parts = []
    for name in ("sqlite", "postgres"):
        data = backends.get(name)
        if data is None:
            parts.append(f"{name}={'failed' if any(f.startswith(name) for f in failed) else 'skipped'}")
            continue
        worst = max(data["results"], key=lambda r: r.p99)
        slowest = max(r.ratio for r in data["results"])
        verdict = "met" if worst.p99 < TARGET_MS else "MISSED"
        parts.append(f"{name}={slowest:.1f} (slowest p99 {worst.page} {worst.p99:.0f} ms: {verdict})")
    out.append(f"ratio page/bare Jinja p50 (largest; target every page p99 < {TARGET_MS:g} ms) " + " ".join(parts))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="e-residency cases to seed")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--seconds", type=float, default=None, help="ignored (the run is sized by --requests)")
    parser.add_argument("--clients", type=int, default=1, help="ignored: one request at a time")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the bulk data")
    parser.add_argument("--backlog", type=int, default=1000,
                        help="of the cases, this many (from the last 20 days) wait for review: a queue the "
                             "reviewers fell behind on (0: the steady state)")
    parser.add_argument("--postgres", default=os.environ.get("ERESIDENT_BENCH_POSTGRES_URL") or DEFAULT_PG,
                        help="SQLAlchemy URL of a PostgreSQL server (a bench_* database is created there)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="run one backend")
    args = parser.parse_args(argv)
    args.cases = max(10, args.cases)
    args.requests = max(5, args.requests)

    for key in [k for k in os.environ if k.startswith("ERESIDENT_") and k != "ERESIDENT_BENCH_POSTGRES_URL"]:
        del os.environ[key]
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    run_id = secrets.token_hex(4)
    backends: dict[str, dict] = {}
    failed: list[str] = []

    def on_term(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        with tempfile.TemporaryDirectory(prefix="eresident-bench-pages-") as tmpname:
            tmp = Path(tmpname)
            if args.only in (None, "sqlite"):
                try:
                    backends["sqlite"] = run_backend(f"sqlite:///{tmp / 'node.db'}", tmp / "data-sqlite", args, run_id)
                except Exception as exc:  # noqa: BLE001 - report it, go on
                    failed.append(f"sqlite: {type(exc).__name__}: {str(exc)[:300]}")
            if args.only in (None, "postgres"):
                pg = pg_database(args.postgres, run_id)
                if pg is not None:
                    url, _dsn, drop = pg
                    try:
                        backends["postgres"] = run_backend(url, tmp / "data-postgres", args, run_id)
                    except Exception as exc:  # noqa: BLE001
                        failed.append(f"postgres: {type(exc).__name__}: {str(exc)[:300]}")
                    finally:
                        drop()
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
    print("\n".join(report(backends, failed, args, started, (load_before, os.getloadavg()[0]))), flush=True)
    return 1 if failed or not backends else 0


if __name__ == "__main__":
    code = main()
    if code:
        raise SystemExit(code)
