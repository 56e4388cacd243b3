"""Where a node's time goes on POST /api/v1/applications (the residency benchmark's submission phase).

Two ways, both on a fresh node with the demo data, like benchmarks/residency.py:

* `--py-spy PATH` (default: `py-spy` on PATH): a real node process under the benchmark's load,
  sampled by py-spy (`record --format raw`, optionally `--gil` = only the thread holding the GIL).
  Prints the functions with the largest share of samples, self and inclusive.
* `--breakdown`: the same in-process run without a profiler, with timers around each step
  of the submission and every SQL statement: milliseconds per request, statements per request.
* `--cprofile`: no HTTP and no threads — the same ASGI app built in-process, requests sent
  straight into it one at a time with the thread pool replaced by inline calls, under cProfile.
  Deterministic attribution, inflated by cProfile's per-call overhead (read the shares, not
  the absolute times).

    python benchmarks/profile_node.py --backend sqlite --seconds 10 --clients 32 [--gil]
    python benchmarks/profile_node.py --cprofile --requests 300 [--backend postgres]
    python benchmarks/profile_node.py --breakdown --requests 500 [--backend postgres]

py-spy is not a project dependency; install it anywhere (`pip install py-spy` in any venv)
and point --py-spy at it. It needs ptrace rights over the node (root, or the same user with
ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import residency  # noqa: E402
from residency import Backend, Procs, pg_backend, run_load, start_node  # noqa: E402


def short(frame: str) -> str:
    """'func (path/to/mod.py:12)' -> 'func (pkg/mod.py)' without the line."""
    if " (" not in frame:
        return frame
    name, where = frame.split(" (", 1)
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def area(frame: str) -> str:
    s = short(frame)
    path = s.split(" (", 1)[1] if " (" in s else s
    for key in ("eresident/", "sqlalchemy/", "pydantic", "fastapi/", "starlette/", "anyio/", "uvicorn/",
                "psycopg", "sqlite3/", "json/", "argon2", "cryptography", "rapidfuzz", "structlog/",
                "email_validator", "pycountry", "alembic/", "asyncio/", "threading", "concurrent/"):
        if key in path:
            return key.strip("/")
    return "other"


def analyse(raw: Path, top: int) -> list[str]:
    self_c: Counter = Counter()
    incl: Counter = Counter()
    areas: Counter = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        n = int(n)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        leaf = frames[-1]
        self_c[short(leaf)] += n
        # the deepest project/library frame decides the "area" of the sample
        areas[area(leaf)] += n
        for f in {short(f) for f in frames}:
            incl[f] += n
    out = [f"{total} samples"]
    out.append("\nby area of the innermost frame (self time):")
    out += [f"  {n / total:6.1%}  {a}" for a, n in areas.most_common(16)]
    out.append(f"\ntop {top} self:")
    out += [f"  {n / total:6.1%}  {f}" for f, n in self_c.most_common(top)]
    out.append(f"\ntop {top} inclusive (eresident/ frames only):")
    out += [f"  {n / total:6.1%}  {f}" for f, n in incl.most_common() if "eresident/" in f][:top]
    out.append(f"\ntop {top} inclusive (all):")
    out += [f"  {n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return out


def with_pyspy(args, be: Backend, tmp: Path, procs: Procs) -> None:
    node, port, accounts, _officials, _ = start_node(be, tmp, procs, secrets.token_hex(4), args.accounts)
    raw = Path(args.out or tmp) / f"pyspy-{be.name}{'-gil' if args.gil else ''}.txt"
    cmd = [args.py_spy, "record", "--pid", str(node.pid), "--format", "raw", "--output", str(raw),
           "--duration", str(int(args.seconds + args.warmup)), "--rate", "200", "--nonblocking"]
    if args.gil:
        cmd.append("--gil")
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        res = run_load({"mode": "submit", "seconds": args.seconds, "warmup": args.warmup,
                        "path": "/api/v1/applications", "port": port, "prefix": "P", "accounts": accounts},
                       procs_n=args.procs, clients=args.clients, workdir=tmp, procs=procs)
        spy.wait(timeout=args.seconds + args.warmup + 60)
    finally:
        if spy.poll() is None:
            spy.terminate()
            spy.wait(timeout=10)
    print(f"node POST /api/v1/applications under py-spy: {res.rate('submit'):.1f}/s, "
          f"p50 {res.p('submit', .5):.0f} ms, p99 {res.p('submit', .99):.0f} ms, "
          f"non-201 {res.bad('submit', 201)}")
    if not raw.exists():
        print(f"py-spy wrote nothing: {spy.stderr.read().decode(errors='replace')[-500:]}")
        return
    print(f"py-spy raw stacks: {raw}")
    print("\n".join(analyse(raw, args.top)))


def with_inprocess(args, be: Backend, tmp: Path) -> None:
    """The same request path in-process: ASGI app, inline 'thread pool', then either cProfile
    (--cprofile) or timers around the steps of the submission and every SQL statement (--breakdown)."""
    import asyncio
    import cProfile
    import json
    import pstats

    import anyio.to_thread

    import loadgen
    from eresident.config import Settings
    from eresident.kit.migrate import upgrade

    data_dir = tmp / f"inproc-{be.name}"
    env = residency.node_env(be.node_url, data_dir, 8001)
    for k, v in env.items():
        if k.startswith("ERESIDENT_"):
            os.environ[k] = v
    upgrade(be.node_url)
    subprocess.run([sys.executable, "-m", "eresident", "seed-demo"], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=300)
    from eresident.app import create_app
    from eresident.kit.logging import configure

    settings = Settings()
    configure(settings.log_level, settings.log_json)
    app = create_app(settings)

    async def inline(func, *a, **_kw):
        return func(*a)

    anyio.to_thread.run_sync = inline  # sync endpoints and dependencies run in this thread

    async def call(method: str, path: str, body: bytes = b"", headers: dict | None = None,
                   query: str = "") -> tuple[int, bytes]:
        hdrs = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
        for k, v in (headers or {}).items():
            hdrs.append((k.lower().encode(), v.encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": hdrs, "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 80),
                 "state": {}}
        sent = {"status": 0, "body": b""}
        done = False

        async def receive():
            nonlocal done
            if done:
                await asyncio.sleep(3600)
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg):
            if msg["type"] == "http.response.start":
                sent["status"] = msg["status"]
            elif msg["type"] == "http.response.body":
                sent["body"] += msg.get("body", b"")

        await app(scope, receive, send)
        return sent["status"], sent["body"]

    async def main():
        # lifespan is not needed by this app; set up one account the plain way
        from urllib.parse import parse_qs, urlparse

        email = "profile@example.dz"
        st, b = await call("POST", "/api/v1/applicants", json.dumps(
            {"email": email, "password": residency.APPLICANT_PASSWORD}).encode(),
            {"content-type": "application/json"})
        assert st == 201, b
        token = parse_qs(urlparse(json.loads(b)["confirmation_link"]).query)["token"][0]
        st, b = await call("POST", "/api/v1/applicants/confirm", query=f"token={token}")
        assert st == 200, b
        st, b = await call("POST", "/api/v1/auth/login", json.dumps(
            {"email": email, "password": residency.APPLICANT_PASSWORD}).encode(), {"content-type": "application/json"})
        assert st == 200, b
        bearer = json.loads(b)["token"]
        boundary = "benchboundary"
        png = residency.png_bytes()
        form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nphoto\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
        st, b = await call("POST", "/api/v1/documents", form, {
            "authorization": f"Bearer {bearer}", "content-type": f"multipart/form-data; boundary={boundary}"})
        assert st == 201, b
        photo = json.loads(b)["id"]
        hdr = {"authorization": f"Bearer {bearer}", "content-type": "application/json"}
        bodies = [loadgen.application_body(loadgen.passport_number("C", 0, i), photo, i)
                  for i in range(args.requests + 20)]
        for body in bodies[:20]:  # warm up (screening index, caches)
            st, b = await call("POST", "/api/v1/applications", body, hdr)
            assert st == 201, b
        if args.breakdown:
            timers = install_timers(app.state.ctx)
            t = time.perf_counter()
            for body in bodies[20:]:
                timers["_statements"].clear()
                t1, c1 = time.perf_counter(), time.thread_time()
                st, b = await call("POST", "/api/v1/applications", body, hdr)
                timers["whole request (ASGI app)"].append(time.perf_counter() - t1)
                timers["_cpu"]["whole request (ASGI app)"].append(time.thread_time() - c1)
                assert st == 201, b
            return timers, time.perf_counter() - t
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        for body in bodies[20:]:
            st, b = await call("POST", "/api/v1/applications", body, hdr)
            assert st == 201, b
        prof.disable()
        wall = time.perf_counter() - t
        return prof, wall

    prof, wall = asyncio.run(main())
    n = args.requests
    if args.breakdown:
        print_breakdown(prof, wall, n)
        return
    print(f"in-process, sequential, under cProfile: {n} submissions in {wall:.2f} s = "
          f"{wall / n * 1000:.2f} ms each (cProfile inflates this)")
    stats = pstats.Stats(prof)
    if args.out:
        stats.dump_stats(str(Path(args.out) / f"cprofile-{be.name}.pstats"))
    total = stats.total_tt
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append((tt, ct, nc, f"{func} ({short(f'x ({file}:{line})').split(' (', 1)[1]}:{line})"))
    print(f"\ntop {args.top} by self time (share of {total:.2f} s profiled):")
    for tt, ct, nc, name in sorted(rows, reverse=True)[:args.top]:
        print(f"  {tt / total:6.1%}  {nc / n:8.1f} calls/request  {name}")
    print(f"\ntop {args.top} eresident functions by inclusive time:")
    own = [r for r in rows if "eresident/" in r[3]]
    for tt, ct, nc, name in sorted(own, key=lambda r: r[1], reverse=True)[:args.top]:
        print(f"  {ct / total:6.1%}  {nc / n:8.1f} calls/request  {name}")
    print(f"\ntop {args.top} by inclusive time (all):")
    for tt, ct, nc, name in sorted(rows, key=lambda r: r[1], reverse=True)[:args.top]:
        print(f"  {ct / total:6.1%}  {nc / n:8.1f} calls/request  {name}")


def install_timers(ctx) -> dict[str, list[float]]:
    """Wrap the steps of the submission path (and the database driver) with timers."""
    from collections import defaultdict

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from eresident.identity import presenters
    from eresident.identity import service as svc
    from eresident.security import service as security

    timers: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)  # the same steps in CPU time of this thread
    timers["_cpu"] = cpu  # type: ignore[assignment]

    def wrap(owner, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        def timed(*a, **kw):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                timers[label].append(time.perf_counter() - t)
                cpu[label].append(time.thread_time() - c)
        setattr(owner, attr, timed)

    from eresident.kit import db as kit_db
    from eresident.workflow import service as workflow

    wrap(security, "session_principal", "auth: session_principal (session + applicant, one SELECT)")
    for name in ("parse_and_check_mrz", "_load_site", "_load_documents", "_same_passport", "_check_results",
                 "next_value", "_apply_fields", "record"):
        wrap(svc, name, f"service: {name}")
    wrap(workflow, "start_case", "service: workflow.start_case (state + case row + worklist rows)")
    for name in ("insert_attached", "insert_rows"):  # looked up through the service module
        wrap(svc, name, f"db: {name} (plain INSERTs)")
    del kit_db
    wrap(svc, "submit_application", "service: submit_application (all of it)")
    wrap(ctx.screening, "screen", "  checks: screening (index version + name match)")
    wrap(ctx.cipher, "encrypt", "  AES-GCM encrypt (x2)")
    wrap(presenters, "application_read", "route: presenters.application_read")
    wrap(Session, "commit", "db: Session.commit (its flush + COMMIT)")
    wrap(Session, "flush", "db: Session.flush (ORM unit of work: autoflush, explicit, in commit)")
    wrap(Session, "_autoflush", "  of which autoflush before a query")

    engine = ctx.database.engine
    starts: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        starts[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        verb = statement.split(None, 1)[0].upper()
        table = ""
        words = statement.replace("\n", " ").split()
        for key in ("INTO", "FROM", "UPDATE"):
            if key in words:
                table = words[words.index(key) + 1].strip('"')
                break
        timers[f"sql: {verb} {table}"].append(time.perf_counter() - starts.pop(id(cursor), time.perf_counter()))
        caller = next((f"{Path(fr.filename).parent.name}/{Path(fr.filename).name}:{fr.lineno} {fr.name}"
                       for fr in reversed(traceback.extract_stack()) if "/eresident/" in fr.filename
                       and "kit/db.py" not in fr.filename), "?")
        statements.append(f"{' '.join(statement.split())[:90]:<90}  <- {caller}")

    statements: list[str] = []
    timers["_statements"] = statements  # type: ignore[assignment]
    return timers


def print_breakdown(timers: dict[str, list[float]], wall: float, n: int) -> None:
    cpu = timers.pop("_cpu")
    statements = timers.pop("_statements")
    whole = sum(timers["whole request (ASGI app)"]) / n
    whole_cpu = sum(cpu["whole request (ASGI app)"]) / n
    print(f"in-process, sequential, {n} submissions, no profiler: {whole * 1000:.2f} ms per request, "
          f"{whole_cpu * 1000:.2f} ms of it CPU in this thread (ASGI app, no HTTP parsing, no thread hop)")
    print(f"\n{'step (inclusive; nested rows overlap)':<66} {'calls/req':>9} {'wall ms':>8} {'share':>6} "
          f"{'CPU ms':>7} {'share':>6}")
    rows = sorted(((k, v) for k, v in timers.items() if not k.startswith("sql: ")),
                  key=lambda kv: -sum(cpu[kv[0]]))
    for k, v in rows:
        c = sum(cpu[k]) / n
        print(f"{k:<66} {len(v) / n:>9.1f} {sum(v) / n * 1000:>8.3f} {sum(v) / n / whole:>6.1%} "
              f"{c * 1000:>7.3f} {c / whole_cpu:>6.1%}")
    sql = sorted(((k, v) for k, v in timers.items() if k.startswith("sql: ")), key=lambda kv: -sum(kv[1]))
    total_n = sum(len(v) for _k, v in sql) / n
    total_t = sum(sum(v) for _k, v in sql) / n
    print(f"\nSQL statements: {total_n:.1f} per request, {total_t * 1000:.3f} ms in the driver "
          f"({total_t / whole:.1%} of the request)")
    for k, v in sql:
        print(f"  {k:<56} {len(v) / n:>9.1f} {sum(v) / n * 1000:>8.3f}")
    print("\nthe statements of the last request, in order, with the eresident line that caused them:")
    for line in statements:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default=os.environ.get("ERESIDENT_BENCH_POSTGRES_URL") or residency.DEFAULT_PG)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--gil", action="store_true", help="py-spy: sample only the thread holding the GIL")
    parser.add_argument("--cprofile", action="store_true", help="in-process cProfile instead of py-spy")
    parser.add_argument("--breakdown", action="store_true",
                        help="in-process timers around each step and SQL statement (no profiler)")
    parser.add_argument("--requests", type=int, default=300, help="--cprofile: submissions to profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", help="keep the raw profile in this directory")
    args = parser.parse_args()
    args.seconds = max(1.0, min(args.seconds, 120.0))
    args.requests = max(1, min(args.requests, 5000))
    with tempfile.TemporaryDirectory(prefix="eresident-profile-") as tmpname:
        tmp = Path(tmpname)
        procs = Procs(tmp)
        be = None
        try:
            if args.backend == "sqlite":
                be = Backend("sqlite", f"sqlite:///{tmp / 'node.db'}", "")
            else:
                be = pg_backend(args.postgres, secrets.token_hex(4))
                if be is None:
                    return
            if args.cprofile or args.breakdown:
                with_inprocess(args, be, tmp)
            else:
                with_pyspy(args, be, tmp, procs)
        finally:
            procs.stop_all()
            if be is not None and be.drop is not None:
                be.drop()


if __name__ == "__main__":
    main()
