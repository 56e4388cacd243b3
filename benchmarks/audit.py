"""Audit-log benchmark: what the RFC 9162 log costs a domain transaction, how fast proofs are at
1,000,000 and 10,000,000 entries, and how fast the whole log verifies.

    eresident bench audit [--seconds S] [--clients N] [--postgres URL]
    python benchmarks/audit.py [same options] [--sizes 1000000,10000000] [--only sqlite|postgres]
                               [--rounds R] [--proofs K]

For each backend (a SQLite file in a temp dir; PostgreSQL in fresh bench_audit_<random>
databases that are dropped afterwards):

1. append throughput: N threads run domain transactions through `Database.session(write=True)`
   for S seconds: insert a row (a used form token) plus one audit event. "without log" adds the
   event row directly, as `record` did before the log existed; "with log" calls `record`, which
   also appends the event to the Merkle tree at commit. The two run in alternating rounds on
   two fresh databases of the same kind, so machine noise hits both.
2. proofs: the tree of each size in --sizes is built by bulk insert of its node rows (leaves are
   random hashes; not through `record`), then K inclusion proofs for random leaves and K
   consistency proofs for random first sizes (second = the whole tree) are made through
   `audit.service` in an open read session, and checked with `audit.merkle`'s verifiers:
   time per proof (p50, p99) and hashes per proof; and K inclusion proofs each in a read
   session of its own (what one API request adds).
3. full verification: `eresident audit verify`'s pass over the log written in step 1.

The last line printed is the ratio of throughputs, with log / without:
`ratio log/no-log sqlite=0.85 postgres=0.80`  (the log's cost is 1 - ratio; target: under 30%).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _harness import create_database, unreachable  # noqa: E402  (benchmarks/_harness.py)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_COST = 0.30


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- databases -----------------------------------------------------------------------------

class Backends:
    """Creates fresh databases and drops (PostgreSQL) or deletes (SQLite) them at the end."""

    def __init__(self, tmp: Path, pg_url: str | None, run_id: str):
        self.tmp, self.pg_url, self.run_id = tmp, pg_url, run_id
        self.drops: list = []  # one for each PostgreSQL database made
        self.counter = 0

    def pg_available(self) -> bool:
        try:
            why = unreachable(self.pg_url)
        except Exception as exc:  # noqa: BLE001 - a URL that is not one, say: report and skip
            why = str(exc).strip()[:120]
        if why is not None:
            print(f"note: PostgreSQL is not reachable ({why}); skipping it.")
            return False
        return True

    def fresh(self, kind: str) -> str:
        from eresident.kit.migrate import upgrade

        self.counter += 1
        if kind == "sqlite":
            url = f"sqlite:///{self.tmp / f'audit-{self.counter}.db'}"
        else:
            url, _dsn, drop = create_database(self.pg_url, f"bench_audit_{self.run_id}_{self.counter}")
            self.drops.append(drop)
        upgrade(url)
        return url

    def drop_all(self) -> None:
        while self.drops:
            self.drops.pop(0)()


# -- 1. append throughput ------------------------------------------------------------------

ACTION_AFTER = {"status": "in_review", "reviewer": "5f0c6f8e-1b2c-4d5e-8f9a-0b1c2d3e4f50"}
ACTION_BEFORE = {"status": "awaiting_review", "reviewer": None}


def domain_transaction(database, with_log: bool, now: datetime) -> None:
    from eresident.audit.models import AuditEvent
    from eresident.audit.service import Actor, record
    from eresident.kit.models import UsedFormToken

    actor = Actor("official", "5f0c6f8e-1b2c-4d5e-8f9a-0b1c2d3e4f50", home_region="LJ")
    entity = uuid.uuid4()
    with database.session(write=True) as db:
        db.add(UsedFormToken(nonce=secrets.token_hex(16), used_at=now))
        if with_log:
            record(db=db, actor=actor, region="LJ", action="application.claimed",
                   entity_type="application", entity_id=entity, at=now,
                   before=ACTION_BEFORE, after=ACTION_AFTER)
        else:  # the event row as it was written before the log: same columns, no tree
            db.add(AuditEvent(occurred_at=now, region="LJ", actor_type=actor.type, actor_id=actor.id,
                              actor_home_region=actor.home_region, action="application.claimed",
                              entity_type="application", entity_id=str(entity),
                              before=ACTION_BEFORE, after=ACTION_AFTER, salt=os.urandom(16)))


def run_phase(database, with_log: bool, seconds: float, clients: int) -> tuple[int, list[float], int, float]:
    """N threads run domain transactions for `seconds`: (count, latencies, errors, CPU seconds)."""
    now = datetime.now(UTC)
    cpu0 = time.process_time()
    stop = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def worker(k: int) -> None:
        mine = latencies[k]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            try:
                domain_transaction(database, with_log, now)
            except Exception:  # noqa: BLE001 - counted and reported
                errors[k] += 1
                continue
            mine.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = [x for part in latencies for x in part]
    return len(merged), merged, sum(errors), time.process_time() - cpu0


def throughput(backends: Backends, kind: str, args) -> dict:
    from eresident.kit.db import Database

    urls = {"without": backends.fresh(kind), "with": backends.fresh(kind)}
    dbs = {mode: Database(url) for mode, url in urls.items()}
    try:
        for mode, database in dbs.items():  # warm the pools and caches, untimed
            run_phase(database, mode == "with", min(1.0, args.seconds / 4), args.clients)
        totals = {mode: {"n": 0, "lat": [], "err": 0, "secs": 0.0, "cpu": 0.0} for mode in dbs}
        per_round = args.seconds / args.rounds
        for r in range(args.rounds):
            for mode in (("without", "with") if r % 2 == 0 else ("with", "without")):
                t0 = time.perf_counter()
                n, lat, err, cpu = run_phase(dbs[mode], mode == "with", per_round, args.clients)
                totals[mode]["secs"] += time.perf_counter() - t0
                totals[mode]["cpu"] += cpu
                totals[mode]["n"] += n
                totals[mode]["lat"] += lat
                totals[mode]["err"] += err
                log(f"{kind} {mode} log, round {r + 1}: {n / per_round:,.0f} tx/s")
        result = {mode: {"rate": t["n"] / t["secs"], "p50_ms": pct(t["lat"], 0.5) * 1e3,
                         "p99_ms": pct(t["lat"], 0.99) * 1e3, "errors": t["err"], "n": t["n"],
                         "cpu_us": t["cpu"] / t["n"] * 1e6 if t["n"] else float("nan")}
                  for mode, t in totals.items()}
        result["verify"] = full_verification(dbs["with"])
        return result
    finally:
        for database in dbs.values():
            database.dispose()


# -- 3. full verification -------------------------------------------------------------------

def full_verification(database) -> dict:
    from eresident.audit.verify import verify_log

    t0 = time.perf_counter()
    with database.session(write=False) as db:
        report = verify_log(db, None)  # no checkpoints were made here: the tree and head are checked
    secs = time.perf_counter() - t0
    return {"entries": report.events, "secs": secs, "rate": report.events / secs if secs else 0.0,
            "ok": report.ok, "finding": str(report.first) if report.first else ""}


# -- 2. proofs at scale ------------------------------------------------------------------------

def build_tree(url: str, size: int) -> None:
    """Store the complete tree of `size` random leaves: node rows in bulk, then the head."""
    from eresident.audit import merkle

    frontier: list[bytes] = []
    rng = random.Random(size)
    batch: list[tuple[int, int, bytes]] = []
    batch_rows = 200_000

    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")

        def flush() -> None:
            conn.executemany("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)", batch)
            batch.clear()

        def finish(head_size: int, frontier_blob: bytes) -> None:
            conn.execute("INSERT INTO audit_log_head (id, size, frontier) VALUES (1, ?, ?)",
                         (head_size, frontier_blob))
            conn.commit()
            conn.close()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        conn = psycopg.connect(make_url(url).set(drivername="postgresql")
                               .render_as_string(hide_password=False))
        copy_cm = conn.cursor().copy("COPY audit_tree_nodes (level, idx, hash) FROM STDIN")
        copy = copy_cm.__enter__()

        def flush() -> None:
            for row in batch:
                copy.write_row(row)
            batch.clear()

        def finish(head_size: int, frontier_blob: bytes) -> None:
            copy_cm.__exit__(None, None, None)
            conn.execute("INSERT INTO audit_log_head (id, size, frontier) VALUES (1, %s, %s)",
                         (head_size, frontier_blob))
            conn.commit()
            conn.execute("ANALYZE audit_tree_nodes")
            conn.commit()
            conn.close()

    sha = hashlib.sha256
    for index in range(size):
        leaf = sha(b"\x00" + rng.randbytes(32)).digest()
        batch += merkle.append(frontier, index, leaf)
        if len(batch) >= batch_rows:
            flush()
    flush()
    finish(size, b"".join(frontier))


def proofs_at(backends: Backends, kind: str, size: int, k: int) -> dict:
    from eresident.audit import merkle, service
    from eresident.kit.db import Database

    url = backends.fresh(kind)
    t0 = time.perf_counter()
    build_tree(url, size)
    build_secs = time.perf_counter() - t0
    log(f"{kind}: built a tree of {size:,} leaves ({2 * size:,} node rows) in {build_secs:.0f} s")
    database = Database(url)
    rng = random.Random(7)
    try:
        with database.session(write=False) as db:
            root = service.root_at(db)
        inc_t, inc_n, con_t, con_n, inc_s = [], [], [], [], []
        with database.session(write=False) as db:
            for _ in range(50):  # warm the statement caches
                service.inclusion_proof(db=db, seq=rng.randrange(size) + 1)
            for _ in range(k):  # in an open read session: what one proof costs
                seq = rng.randrange(size) + 1
                t1 = time.perf_counter()
                proof = service.inclusion_proof(db=db, seq=seq)
                inc_t.append(time.perf_counter() - t1)
                inc_n.append(len(proof.path))
                assert merkle.verify_inclusion(proof.leaf_hash, seq - 1, size, proof.path, root)
            for _ in range(k):
                first = rng.randrange(size) + 1
                t1 = time.perf_counter()
                proof = service.consistency_proof(db=db, first=first)
                con_t.append(time.perf_counter() - t1)
                con_n.append(len(proof.path))
                assert merkle.verify_consistency(first, size, proof.first_root, root, proof.path)
        for _ in range(k):  # each in its own read session, as one API request has
            seq = rng.randrange(size) + 1
            t1 = time.perf_counter()
            with database.session(write=False) as db:
                service.inclusion_proof(db=db, seq=seq)
            inc_s.append(time.perf_counter() - t1)
        return {"size": size, "build_secs": build_secs,
                "inclusion": {"p50_ms": pct(inc_t, .5) * 1e3, "p99_ms": pct(inc_t, .99) * 1e3,
                              "hashes_max": max(inc_n), "hashes_mean": statistics.mean(inc_n),
                              "session_p50_ms": pct(inc_s, .5) * 1e3,
                              "session_p99_ms": pct(inc_s, .99) * 1e3},
                "consistency": {"p50_ms": pct(con_t, .5) * 1e3, "p99_ms": pct(con_t, .99) * 1e3,
                                "hashes_max": max(con_n), "hashes_mean": statistics.mean(con_n)}}
    finally:
        database.dispose()
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
        else:
            backends.drop_all()


# -- report --------------------------------------------------------------------------------

def report(results: dict, args) -> list[str]:
    lines = ["", f"audit log benchmark: {args.clients} clients, {args.seconds:g} s per mode in "
                 f"{args.rounds} alternating rounds, {os.cpu_count()} cores, load before "
                 f"{args.load_before[0]:.2f}", ""]
    lines.append(f"{'backend':<9} {'mode':<12} {'tx/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
                 f"{'CPU us/tx':>10}")
    for kind, res in results.items():
        if "error" in res:
            lines.append(f"{kind:<9} FAILED: {res['error']}")
            continue
        for mode in ("without", "with"):
            r = res["throughput"][mode]
            lines.append(f"{kind:<9} {mode + ' log':<12} {r['rate']:>8,.0f} {r['p50_ms']:>8.2f} "
                         f"{r['p99_ms']:>8.2f} {r['errors']:>7} {r['cpu_us']:>10,.0f}")
    lines.append("")
    for kind, res in results.items():
        v = res.get("throughput", {}).get("verify")
        if v:
            lines.append(f"{kind:<9} full verification: {v['entries']:,} entries in {v['secs']:.2f} s = "
                         f"{v['rate']:,.0f} entries/s ({'ok' if v['ok'] else 'FAILED: ' + v['finding']})")
    lines.append("")
    lines.append(f"{'backend':<9} {'entries':>11} {'proof':<12} {'p50 ms':>8} {'p99 ms':>8} "
                 f"{'hashes':>7} {'bytes':>6}   (in an open read session; hashes: the most seen)")
    for kind, res in results.items():
        for p in res.get("proofs", []):
            for name in ("inclusion", "consistency"):
                q = p[name]
                lines.append(f"{kind:<9} {p['size']:>11,} {name:<12} {q['p50_ms']:>8.3f} {q['p99_ms']:>8.3f} "
                             f"{q['hashes_max']:>7} {q['hashes_max'] * 32:>6}")
            q = p["inclusion"]
            lines.append(f"{kind:<9} {p['size']:>11,} {'  + session':<12} {q['session_p50_ms']:>8.3f} "
                         f"{q['session_p99_ms']:>8.3f}   (inclusion, each in its own read session)")
    ratios = []
    for kind, res in results.items():
        if "throughput" in res:
            t = res["throughput"]
            ratio = t["with"]["rate"] / t["without"]["rate"] if t["without"]["rate"] else 0.0
            ratios.append(f"{kind}={ratio:.2f}")
            lines.append(f"{kind}: the log costs {100 * (1 - ratio):.0f}% of throughput "
                         f"(target under {100 * TARGET_COST:.0f}%)")
    lines.append("ratio log/no-log " + " ".join(ratios))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per mode (with / without log)")
    parser.add_argument("--clients", type=int, default=8, help="threads running transactions")
    parser.add_argument("--postgres", default=os.environ.get("ERESIDENT_BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--sizes", default="1000000,10000000", help="tree sizes for the proof benchmark")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs of each kind per size")
    parser.add_argument("--rounds", type=int, default=6,
                        help="alternating rounds per mode (the machine is shared: spread the noise)")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args(argv)
    args.seconds = max(0.5, min(args.seconds, 600.0))
    args.clients = max(1, min(args.clients, 256))
    args.rounds = max(1, min(args.rounds, 9))
    args.load_before = os.getloadavg()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="eresident-bench-audit-") as tmpname:
        backends = Backends(Path(tmpname), args.postgres, secrets.token_hex(4))
        kinds = [k for k in ("sqlite", "postgres") if args.only in (None, k)]
        if "postgres" in kinds and not backends.pg_available():
            kinds.remove("postgres")
        try:
            for kind in kinds:
                try:
                    res: dict = {"throughput": throughput(backends, kind, args), "proofs": []}
                    backends.drop_all()
                    results[kind] = res
                    for size in sizes:
                        res["proofs"].append(proofs_at(backends, kind, size, args.proofs))
                except Exception as exc:  # noqa: BLE001 - report it, go on with the next backend
                    print(f"{kind}: FAILED: {type(exc).__name__}: {str(exc)[:1000]}", file=sys.stderr)
                    results.setdefault(kind, {})["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
                finally:
                    backends.drop_all()
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            backends.drop_all()
            return 130
    print("\n".join(report(results, args)), flush=True)
    return 1 if not results or any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    code = main()
    if code:
        raise SystemExit(code)
