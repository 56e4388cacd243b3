"""Workflow benchmark: transitions per second through the engine against the database, beside a
bare insert of the same rows with the driver; and simulated cases per second.

    eresident bench workflow [--seconds S] [--postgres URL]
    python benchmarks/workflow.py [--seconds S] [--postgres URL] [--only sqlite|postgres|sim]
                                  [--sim-days D] [--max-cases N]

1. engine, per backend (a SQLite file in a temp dir; PostgreSQL in a fresh bench_<random>
   database that is dropped afterwards): e-residency v1 cases, each through the database engine
   (`workflow.service`): start_case, signal identity_checked, claim review, act
   recommend_approve, act approve — five commands, each in its own transaction, as a request would
   run it, with a FrozenClock advancing a minute per command. A transition is one row of
   workflow_transitions (one effect; a v1 case makes 11). The engine's time also covers what
   comes with each command: loading the case, the state JSON, the worklist rows, the version
   check. Runs for S seconds after a short warm-up.
2. bare, same backend, same run: the very rows the engine wrote to workflow_transitions, inserted
   with the driver (sqlite3 with the node's pragmas / psycopg) into a table of the same shape
   and index, one transaction per engine command, as many rows per transaction as that command
   wrote. The engine phase runs in --rounds slices, each followed by the bare insert of its
   rows, so that both meet the same load on a busy machine.
   ratio = engine seconds per transition / bare seconds per row (target <= 2).
3. the pure engine without a database, for the same commands (CaseState to and from JSON
   included): how much of the engine's time is the semantics.
4. simulation: a year of one region's traffic (274 a day for 365 days, ~100,000 cases, seed 7,
   ERESIDENCY_SCENARIO) for e-residency v1 and v2; target < 10 s per 100,000 cases.

The last line printed is the ratio: `ratio engine/bare per transition sqlite=… postgres=…`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _harness import pg_database  # noqa: E402  (benchmarks/_harness.py)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 2.0
TARGET_SIM_SECONDS = 10.0  # per 100,000 cases
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Chongqing
CLEAN = {"identity_verified": True, "screening_hits": 0, "risk_score": 0.0, "refused_before": False}


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


# -- the engine on the database ------------------------------------------------------------------

class EngineRun:
    def __init__(self):
        self.cases = 0
        self.commands = 0
        self.transitions = 0
        self.wall = 0.0
        self.cpu = 0.0
        self.groups: list[int] = []  # transitions written per command, in order
        self.bare_wall = 0.0
        self.bare_cpu = 0.0


def run_engine(url: str, data_dir: Path, seconds: float, max_cases: int, bare, *, rounds: int = 5,
               warmup_cases: int = 20) -> EngineRun:
    """The engine for `seconds`, in `rounds` slices; after each slice the bare driver inserts the
    rows that slice wrote, so both see the same load on a busy machine."""
    from eresident.config import Settings
    from eresident.kit.clock import FrozenClock
    from eresident.kit.context import build_context
    from eresident.kit.db import Database
    from eresident.kit.migrate import upgrade
    from eresident.workflow import service
    from eresident.workflow.semantics import Actor

    upgrade(url)
    settings = Settings(region="LJ", database_url=url, data_dir=data_dir, base_url="http://lj.bench")
    database = Database(url)
    clock = FrozenClock(START)
    ctx = build_context(settings, clock=clock, database=database, password_profile="fast")
    minute = timedelta(minutes=1)

    def one_case(k: int, groups: list[int] | None) -> None:
        reviewer = Actor(f"reviewer-{k % 50}", ("reviewer",), "LJ")
        approver = Actor(f"approver-{k % 18}", ("approver",), "LJ")
        # Each command in its own driver transaction (Database.transaction), as the node's timer job
        # runs them; a request runs the same statements inside its session's transaction.
        with database.transaction(write=True) as tx:
            out = service.start_case(ctx=ctx, db=tx, process="e-residency", subject_type="bench",
                                     subject_id=uuid.uuid4(), facts=CLEAN)
            case_id = out.case.id
        sizes = [len(out.effects)]
        steps = (lambda db, case: service.signal(ctx=ctx, db=db, case=case, event="identity_checked"),
                 lambda db, case: service.claim(ctx=ctx, db=db, case=case, step="review", actor=reviewer),
                 lambda db, case: service.act(ctx=ctx, db=db, case=case, step="review",
                                              action="recommend_approve", actor=reviewer),
                 lambda db, case: service.act(ctx=ctx, db=db, case=case, step="decision", action="approve",
                                              actor=approver))
        for step in steps:
            clock.advance(minute)
            with database.transaction(write=True) as tx:
                sizes.append(len(step(tx, service.load_case(tx, case_id)).effects))
        if groups is not None:
            groups.extend(sizes)

    try:
        with database.session(write=True) as db:  # publishes v1 as a node does on first use
            service.active_definition(ctx, db, "e-residency")
        for k in range(warmup_cases):  # fills the statement and definition caches
            one_case(k, None)
        run = EngineRun()
        for _ in range(rounds):
            groups: list[int] = []
            began, began_cpu = time.perf_counter(), time.process_time()
            deadline = began + seconds / rounds
            while run.cases < max_cases and time.perf_counter() < deadline:
                one_case(run.cases, groups)
                run.cases += 1
            run.wall += time.perf_counter() - began
            run.cpu += time.process_time() - began_cpu
            run.groups += groups
            wall, cpu = bare.insert(engine_rows(database, sum(groups)), groups)
            run.bare_wall += wall
            run.bare_cpu += cpu
        run.commands = len(run.groups)
        run.transitions = sum(run.groups)
        return run
    finally:
        database.dispose()


def engine_rows(database, last: int) -> list[tuple]:
    """The last `last` transitions the engine wrote, as the database holds them (untimed)."""
    from sqlalchemy import text

    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, at, type, step, actor_id, data FROM workflow_transitions "
                                 "ORDER BY id DESC LIMIT :n"), {"n": last}).all()
    return [tuple(r) for r in reversed(rows)]


# -- the bare driver -----------------------------------------------------------------------------

INSERT = "INSERT INTO bare_transitions (case_id, at, type, step, actor_id, data) VALUES ({})"


class BareSqlite:
    """sqlite3 on its own file, with the node's pragmas (WAL, synchronous NORMAL), a table of the
    same shape and index as workflow_transitions; one transaction per engine command."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE bare_transitions (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                          "case_id CHAR(32) NOT NULL, at DATETIME NOT NULL, type VARCHAR(32) NOT NULL, "
                          "step VARCHAR(64), actor_id VARCHAR(64), data JSON NOT NULL)")
        self.conn.execute("CREATE INDEX ix_bare_case ON bare_transitions (case_id)")

    def insert(self, rows: list[tuple], groups: list[int]) -> tuple[float, float]:
        values = [(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5] if isinstance(r[5], str) else json.dumps(r[5]))
                  for r in rows]
        sql = INSERT.format(", ".join("?" * 6))
        conn = self.conn
        began, began_cpu = time.perf_counter(), time.process_time()
        i = 0
        for n in groups:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, values[i:i + n])
            conn.execute("COMMIT")
            i += n
        return time.perf_counter() - began, time.process_time() - began_cpu

    def close(self) -> None:
        self.conn.close()


class BarePostgres:
    """psycopg 3 on the bench database, the same table shape and index; one transaction per command."""

    def __init__(self, dsn: str):
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=False)
        self.conn.execute("CREATE TABLE bare_transitions (id BIGSERIAL PRIMARY KEY, case_id UUID NOT NULL, "
                          "at TIMESTAMPTZ NOT NULL, type VARCHAR(32) NOT NULL, step VARCHAR(64), "
                          "actor_id VARCHAR(64), data JSON NOT NULL)")
        self.conn.execute("CREATE INDEX ix_bare_case ON bare_transitions (case_id)")
        self.conn.commit()

    def insert(self, rows: list[tuple], groups: list[int]) -> tuple[float, float]:
        from psycopg.types.json import Json

        values = [(r[0], r[1], r[2], r[3], r[4], Json(r[5])) for r in rows]
        sql = INSERT.format(", ".join(["%s"] * 6))
        conn = self.conn
        began, began_cpu = time.perf_counter(), time.process_time()
        i = 0
        with conn.cursor() as cur:
            for n in groups:
                cur.executemany(sql, values[i:i + n])
                conn.commit()
                i += n
        return time.perf_counter() - began, time.process_time() - began_cpu

    def close(self) -> None:
        self.conn.close()


# -- the pure engine -----------------------------------------------------------------------------

def run_pure(cases: int) -> tuple[int, int, float]:
    """The same five commands per case on the pure semantics, with the state read from and written
    to JSON each time (as the database engine does). Returns (commands, transitions, CPU seconds)."""
    from eresident.workflow import semantics
    from eresident.workflow.calendar import load_calendar
    from eresident.workflow.definition import load_packaged

    defn = load_packaged("e-residency.v1")
    cal = load_calendar(defn.calendar)
    commands = transitions = 0
    began = time.process_time()
    for k in range(cases):
        now = START + timedelta(minutes=5 * k)
        reviewer = semantics.Actor(f"reviewer-{k % 50}", ("reviewer",), "LJ")
        approver = semantics.Actor(f"approver-{k % 18}", ("approver",), "LJ")
        state, effects = semantics.start(defn, CLEAN, now, cal, region="LJ")
        data = state.to_json()
        n = len(effects)
        for run in (lambda s, t: semantics.signal(defn, s, "identity_checked", t, cal),
                    lambda s, t, who=reviewer: semantics.claim(defn, s, "review", who, t),
                    lambda s, t, who=reviewer: semantics.act(defn, s, "review", "recommend_approve", who, t, cal),
                    lambda s, t, who=approver: semantics.act(defn, s, "decision", "approve", who, t, cal)):
            now += timedelta(minutes=1)
            state, effects = run(semantics.CaseState.from_json(data), now)
            data = state.to_json()
            for e in effects:
                e.to_json()
            semantics.open_steps(defn, state)
            n += len(effects)
        commands += 5
        transitions += n
    return commands, transitions, time.process_time() - began


# -- simulation ----------------------------------------------------------------------------------

def run_simulation(version: int, days: int):
    from eresident.workflow.definition import load_packaged
    from eresident.workflow.simulate import ERESIDENCY_SCENARIO, simulate

    return simulate(load_packaged(f"e-residency.v{version}"), arrivals_per_day=274, days=days, seed=7,
                    **ERESIDENCY_SCENARIO)


# -- main ----------------------------------------------------------------------------------------

def backend_result(name: str, run: EngineRun) -> dict:
    bare_wall, bare_cpu = run.bare_wall, run.bare_cpu
    engine_per = run.wall / run.transitions
    bare_per = bare_wall / run.transitions
    return {"backend": name, "run": run, "bare_wall": bare_wall, "bare_cpu": bare_cpu,
            "engine_us": engine_per * 1e6, "bare_us": bare_per * 1e6, "ratio": engine_per / bare_per}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds of the engine phase per backend")
    parser.add_argument("--clients", type=int, default=1, help="ignored: the engine phase runs one writer")
    parser.add_argument("--postgres", default=os.environ.get("ERESIDENT_BENCH_POSTGRES_URL") or DEFAULT_PG,
                        help="SQLAlchemy URL of a PostgreSQL server (a bench_* database is created there)")
    parser.add_argument("--only", choices=("sqlite", "postgres", "sim"), help="run one part")
    parser.add_argument("--rounds", type=int, default=5,
                        help="slices of the engine phase, each followed by the bare insert of its rows")
    parser.add_argument("--max-cases", type=int, default=100_000, help="at most this many engine cases per backend")
    parser.add_argument("--sim-days", type=int, default=365, help="days of arrivals to simulate (274 a day)")
    args = parser.parse_args(argv)
    args.seconds = max(0.5, min(args.seconds, 120.0))

    # A node's settings come from ERESIDENT_* variables; the benchmark sets its own.
    for key in [k for k in os.environ if k.startswith("ERESIDENT_") and k != "ERESIDENT_BENCH_POSTGRES_URL"]:
        del os.environ[key]
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    run_id = secrets.token_hex(4)
    results: list[dict] = []
    failed: list[str] = []
    skipped: list[str] = []
    pure = None
    sims = []

    def on_term(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        with tempfile.TemporaryDirectory(prefix="eresident-bench-") as tmpname:
            tmp = Path(tmpname)
            if args.only in (None, "sqlite"):
                log(f"sqlite: engine for {args.seconds:g} s, alternating with the bare insert")
                try:
                    bare = BareSqlite(tmp / "bare.db")
                    try:
                        run = run_engine(f"sqlite:///{tmp / 'node.db'}", tmp / "data-sqlite", args.seconds,
                                         args.max_cases, bare, rounds=args.rounds)
                    finally:
                        bare.close()
                    results.append(backend_result("sqlite", run))
                except Exception as exc:  # noqa: BLE001 - report it, go on
                    failed.append(f"sqlite: {type(exc).__name__}: {str(exc)[:300]}")
            if args.only in (None, "postgres"):
                pg = pg_database(args.postgres, run_id)
                if pg is None:
                    skipped.append("postgres")
                else:
                    url, dsn, drop = pg
                    try:
                        log(f"postgres: engine for {args.seconds:g} s, alternating with the bare insert")
                        bare = BarePostgres(dsn)
                        try:
                            run = run_engine(url, tmp / "data-postgres", args.seconds, args.max_cases, bare,
                                             rounds=args.rounds)
                        finally:
                            bare.close()
                        results.append(backend_result("postgres", run))
                    except Exception as exc:  # noqa: BLE001
                        failed.append(f"postgres: {type(exc).__name__}: {str(exc)[:300]}")
                    finally:
                        drop()
            if args.only is None and results:
                log("pure engine (no database), the same commands")
                pure = run_pure(min(max(r["run"].cases for r in results), 5000))
            if args.only in (None, "sim"):
                for version in (1, 2):
                    log(f"simulation: e-residency v{version}, {args.sim_days} days at 274 a day")
                    sims.append(run_simulation(version, args.sim_days))
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)

    load_after = os.getloadavg()
    cores = os.cpu_count() or 1
    out = ["", f"workflow benchmark — {started:%Y-%m-%d %H:%M} UTC, {cores} cores, engine phase {args.seconds:g} s "
               f"per backend, one writer",
           f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}"
           + ("  (other work was running: figures are noisy; compare within this run)"
              if max(load_before[0], load_after[0]) > 0.5 * cores else ""), ""]
    if results:
        head = (f"{'backend':<9} {'what':<44} {'cases':>6} {'commands':>8} {'rows':>7} {'per s':>8} "
                f"{'µs/row':>8} {'CPU µs/row':>10}")
        out += [head, "-" * len(head)]
        for r in results:
            run = r["run"]
            out.append(f"{r['backend']:<9} {'engine: transitions (5 commands per case)':<44} {run.cases:>6} "
                       f"{run.commands:>8} {run.transitions:>7} {run.transitions / run.wall:>8,.0f} "
                       f"{r['engine_us']:>8.1f} {run.cpu / run.transitions * 1e6:>10.1f}")
            out.append(f"{'':<9} {'bare driver insert, same rows and commits':<44} {'':>6} {run.commands:>8} "
                       f"{run.transitions:>7} {run.transitions / r['bare_wall']:>8,.0f} {r['bare_us']:>8.1f} "
                       f"{r['bare_cpu'] / run.transitions * 1e6:>10.1f}")
            out.append(f"{'':<9}   engine: {run.commands / run.wall:,.0f} commands/s, "
                       f"{run.wall / run.commands * 1e3:.2f} ms per command")
        if pure is not None:
            commands, transitions, cpu = pure
            out.append(f"{'pure':<9} {'the same commands without a database':<44} {commands // 5:>6} {commands:>8} "
                       f"{transitions:>7} {transitions / cpu:>8,.0f} {cpu / transitions * 1e6:>8.1f} "
                       f"{cpu / transitions * 1e6:>10.1f}")
        out.append("")
        out.append("µs/row: wall time per transition row (engine) or per inserted row (bare); CPU: this process's "
                   "CPU time (the PostgreSQL server's own CPU not included).")
    for s in sims:
        per_100k = s.elapsed_seconds / s.cases * 100_000 if s.cases else float("nan")
        cpu_100k = s.cpu_seconds / s.cases * 100_000 if s.cases else float("nan")
        verdict_wall = "meets" if per_100k < TARGET_SIM_SECONDS else "MISSES"
        verdict_cpu = "meets" if cpu_100k < TARGET_SIM_SECONDS else "MISSES"
        out.append(f"simulation e-residency v{s.version}: {s.cases:,} cases ({s.days} days, {s.transitions:,} engine "
                   f"calls) in {s.elapsed_seconds:.1f} s wall, {s.cpu_seconds:.1f} s CPU: "
                   f"{s.cases / s.elapsed_seconds:,.0f} cases/s wall, {s.cases_per_second:,.0f} per CPU second; "
                   f"per 100,000 cases {per_100k:.1f} s wall ({verdict_wall}), {cpu_100k:.1f} s CPU ({verdict_cpu}) "
                   f"the < {TARGET_SIM_SECONDS:g} s target")
    if sims:
        out.append("")
    for r in results:
        ok = r["ratio"] <= TARGET_RATIO
        out.append(f"{r['backend']}: engine {r['engine_us']:.0f} µs per transition / bare {r['bare_us']:.1f} µs per "
                   f"row = {r['ratio']:.1f}x -> {'meets' if ok else 'MISSES'} the target (<= {TARGET_RATIO:g}x)")
    out += [f"FAILED: {f}" for f in failed]
    ratios = {r["backend"]: f"{r['ratio']:.1f}" for r in results}
    ratios.update({f.split(":")[0]: "failed" for f in failed})
    out.append("ratio engine/bare per transition "
                   + " ".join(f"{be}={ratios.get(be, 'skipped')}" for be in ("sqlite", "postgres")))
    print("\n".join(out), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    if code:
        raise SystemExit(code)
