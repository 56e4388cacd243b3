"""Residency benchmark: how many e-residency applications a real node takes per second,
against the bare stack (FastAPI + one-row insert with the driver) on the same machine.

    eresident bench residency [--seconds S] [--clients N] [--postgres URL]
    python benchmarks/residency.py [same options] [--procs P] [--accounts A] [--only sqlite|postgres]

For each backend (SQLite file in a temp dir, then PostgreSQL in a fresh bench_<random>
database that is dropped afterwards):

1. bare stack: benchmarks/bare_app.py in its own uvicorn process (one worker, like the node);
   N clients POST an application-shaped body for S seconds; it validates and inserts one row.
2. node: migrate, seed the demo data, start `python -m eresident serve` as a separate process;
   untimed setup (applicant accounts through the API, email confirmed, signed in, one photo
   each; the three officials signed in with password + TOTP once);
   submission throughput: N clients POST /api/v1/applications with fresh bodies for S seconds;
   complete journeys: submit -> slots -> book -> identity check (agent) -> claim + recommend
   (reviewer) -> decide (approver), N at a time, until S seconds pass or the site's free
   appointment seats (14 days x capacity 2 per slot) run out.

The load generator is benchmarks/loadgen.py: a few worker processes, each an asyncio
(uvloop) loop with hand-written HTTP/1.1 on keep-alive connections. Its own ceiling is measured
first against a raw asyncio responder and printed. Only 127.0.0.1 is contacted; every phase is
bounded in time; processes and databases are cleaned up on errors and Ctrl-C.

The last line printed is the ratio: `ratio submission/bare sqlite=0.41 postgres=0.37`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402  (benchmarks/loadgen.py)
from _harness import pg_database  # noqa: E402  (benchmarks/_harness.py)

PY = sys.executable
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
APPLICANT_PASSWORD = "a long passphrase 1"
TARGET_RATIO = 1 / 3
TARGET_P99_MS = 100.0


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


# -- processes -----------------------------------------------------------------------------

class Procs:
    """Every process this benchmark starts; all are ended (by pid) in `stop_all`."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, cmd: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
        with open(self.logdir / f"{name}.log", "ab") as logfile:  # the child keeps its own copy
            proc = subprocess.Popen(cmd, env=env, stdout=kw.pop("stdout", logfile), stderr=logfile,
                                    start_new_session=True, **kw)
        proc._bench_name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            try:
                self.stop(proc, timeout=5)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, procs: Procs, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc._bench_name} exited with {proc.returncode}:\n"  # type: ignore[attr-defined]
                               f"{procs.tail(proc._bench_name)}")  # type: ignore[attr-defined]
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc._bench_name} did not answer {path} within {timeout:.0f} s")  # type: ignore[attr-defined]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# -- load ------------------------------------------------------------------------------------

def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


class LoadResult:
    def __init__(self, seconds: float, workers: list[dict], latencies: dict[str, list[float]]):
        self.seconds = seconds
        self.workers = workers
        self.lat = {k: sorted(v) for k, v in latencies.items()}
        self.status: dict[str, dict[int, int]] = {}
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []
        self.cpu_s: float | None = None  # server CPU seconds in the timed window
        for w in workers:
            for step, counts in w["status"].items():
                into = self.status.setdefault(step, {})
                for s, n in counts.items():
                    into[int(s)] = into.get(int(s), 0) + n
            for step, n in w["errors"].items():
                self.errors[step] = self.errors.get(step, 0) + n
            self.samples += w["samples"] + [f"client crashed: {c}" for c in w["crashes"]]

    def ok(self, step: str) -> int:
        return len(self.lat.get(step, []))

    def bad(self, step: str, expected: int) -> int:
        return sum(n for s, n in self.status.get(step, {}).items() if s != expected)

    def rate(self, step: str) -> float:
        return self.ok(step) / self.seconds

    def p(self, step: str, q: float) -> float:
        return percentile(self.lat.get(step, []), q) * 1000

    def cpu_ms(self, step: str) -> float:
        """Server CPU milliseconds per successful request (nan when not measured)."""
        if self.cpu_s is None or not self.ok(step):
            return float("nan")
        return self.cpu_s / self.ok(step) * 1000

    def cores(self) -> float:
        return float("nan") if self.cpu_s is None else self.cpu_s / self.seconds


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process used so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_load(job: dict, *, procs_n: int, clients: int, workdir: Path, procs: Procs,
             seats: list[str] | None = None, server_pid: int | None = None) -> LoadResult:
    """Start `procs_n` loadgen workers sharing `clients` connections, run the job, merge results.
    With server_pid, also measure the server's CPU time during the timed window."""
    procs_n = max(1, min(procs_n, clients))
    workers = []
    seats = seats or []
    base_prefix = job.get("prefix", "X")
    offset = 0
    for w in range(procs_n):
        n = clients // procs_n + (1 if w < clients % procs_n else 0)
        wjob = dict(job, worker=w, clients=n, client_offset=offset, prefix=base_prefix,
                    seats=seats[w::procs_n], out=str(workdir / f"lat-{uuid.uuid4().hex[:8]}.bin"))
        offset += n
        proc = procs.start(f"loadgen-{w}", [PY, str(HERE / "loadgen.py")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
        proc.stdin.write(json.dumps(wjob) + "\n")
        proc.stdin.flush()
        workers.append((proc, wjob))
    for proc, _ in workers:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"load generator did not start: {line!r}\n{procs.tail('loadgen-0')}")
    start = time.monotonic() + 0.2
    for proc, _ in workers:
        proc.stdin.write(f"go {start}\n")
        proc.stdin.flush()
    cpu: list[float | None] = []
    sampler = None
    if server_pid is not None:
        import threading

        def sample() -> None:
            for at in (start + job.get("warmup", 0), start + job.get("warmup", 0) + job["seconds"]):
                time.sleep(max(0.0, at - time.monotonic()))
                cpu.append(cpu_seconds(server_pid))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    limit = job.get("warmup", 0) + job["seconds"] + loadgen.TIMEOUT_S + 30
    results, latencies = [], {}
    for proc, wjob in workers:
        remaining = max(1.0, start + limit - time.monotonic())
        try:
            out, _ = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            procs.stop(proc)
            raise RuntimeError("a load generator worker did not finish in time") from None
        procs.procs.remove(proc) if proc in procs.procs else None
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"load generator failed ({proc.returncode}):\n{procs.tail('loadgen-0')}")
        res = json.loads(lines[-1])
        results.append(res)
        for step, arr in loadgen.read_latencies(wjob["out"], res["lat_index"]).items():
            latencies.setdefault(step, []).extend(arr)
        os.unlink(wjob["out"])
    result = LoadResult(job["seconds"], results, latencies)
    if sampler is not None:
        sampler.join(timeout=5)
        if len(cpu) == 2 and None not in cpu:
            result.cpu_s = cpu[1] - cpu[0]  # type: ignore[operator]
    return result


# -- the node --------------------------------------------------------------------------------

def node_env(url: str, data_dir: Path, port: int) -> dict[str, str]:
    return {**os.environ, "ERESIDENT_REGION": "LJ", "ERESIDENT_DATABASE_URL": url,
            "ERESIDENT_DATA_DIR": str(data_dir), "ERESIDENT_BASE_URL": f"http://127.0.0.1:{port}",
            "ERESIDENT_LOG_LEVEL": "WARNING", "ERESIDENT_DEMO": "true"}


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG image."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def mail_token(url: str, email: str) -> str:
    """The confirmation token from the node's mail outbox (when the node is not in demo mode)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            body = conn.execute(text("SELECT body FROM mail_outbox WHERE to_address = :a "
                                     "ORDER BY created_at DESC"), {"a": email}).scalar()
    finally:
        engine.dispose()
    return body.split("token=")[1].split()[0]


def make_account(base: str, url: str, k: int, run_id: str) -> dict:
    import httpx

    email = f"bench-{run_id}-{k}@example.dz"
    with httpx.Client(base_url=base, timeout=60) as c:
        r = c.post("/api/v1/applicants", json={"email": email, "password": APPLICANT_PASSWORD})
        if r.status_code != 201:
            raise RuntimeError(f"sign-up failed: {r.status_code} {r.text}")
        link = r.json().get("confirmation_link")
        token = parse_qs(urlparse(link).query)["token"][0] if link else mail_token(url, email)
        r = c.post("/api/v1/applicants/confirm", params={"token": token})
        if r.status_code != 200:
            raise RuntimeError(f"confirmation failed: {r.status_code} {r.text}")
        r = c.post("/api/v1/auth/login", json={"email": email, "password": APPLICANT_PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"login failed: {r.status_code} {r.text}")
        bearer = r.json()["token"]
        r = c.post("/api/v1/documents", headers={"Authorization": f"Bearer {bearer}"},
                   data={"kind": "photo"}, files={"file": ("photo.png", png_bytes(), "image/png")})
        if r.status_code != 201:
            raise RuntimeError(f"photo upload failed: {r.status_code} {r.text}")
        return {"email": email, "token": bearer, "photo_id": r.json()["id"]}


def official_token(base: str, role: str) -> str:
    """Sign an official in once (password + TOTP). A code works once: on refusal wait for the next step."""
    import httpx
    import pyotp

    from eresident.seed import DEMO_PASSWORD, demo_totp_secret

    totp = pyotp.TOTP(demo_totp_secret("LJ", role))
    for attempt in range(2):
        r = httpx.post(f"{base}/api/v1/officials/login", timeout=60,
                       json={"username": f"lj-{role}", "password": DEMO_PASSWORD, "totp": totp.now()})
        if r.status_code == 200:
            return r.json()["token"]
        if attempt == 0:
            time.sleep(30.5 - time.time() % 30)  # bounded: the next 30 s step
    raise RuntimeError(f"official lj-{role} could not sign in: {r.status_code} {r.text}")


class Backend:
    def __init__(self, name: str, node_url: str, bare_url: str, drop=None):
        self.name, self.node_url, self.bare_url, self.drop = name, node_url, bare_url, drop


def start_node(be: Backend, tmp: Path, procs: Procs, run_id: str, n_accounts: int,
               node_cmd: list[str] | None = None):
    """Migrate, seed, start the node; create the applicant accounts and sign the officials in.
    Returns (process, port, accounts, officials, setup seconds)."""
    from eresident.kit.migrate import upgrade

    data_dir = tmp / f"node-{be.name}"
    data_dir.mkdir()
    port = free_port()
    env = node_env(be.node_url, data_dir, port)
    log(f"{be.name}: migrate + seed")
    upgrade(be.node_url)
    seeded = subprocess.run([PY, "-m", "eresident", "seed-demo"], env=env, capture_output=True, text=True,
                            timeout=300)
    if seeded.returncode != 0:
        tail = "\n".join((seeded.stderr or seeded.stdout).strip().splitlines()[-8:])
        raise RuntimeError(f"seed-demo failed ({seeded.returncode}):\n{tail}")
    cmd = (node_cmd or [PY, "-m", "eresident"]) + ["serve", "--port", str(port)]
    node = procs.start(f"node-{be.name}", cmd, env=env)
    wait_http(port, "/healthz", node, procs)
    base = f"http://127.0.0.1:{port}"
    log(f"{be.name}: setup: {n_accounts} applicant accounts, 3 officials")
    t = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        accounts = list(pool.map(lambda k: make_account(base, be.node_url, k, run_id), range(n_accounts)))
    officials = {role: official_token(base, role) for role in ("agent", "reviewer", "approver")}
    return node, port, accounts, officials, time.monotonic() - t


def merge(results: list[LoadResult]) -> LoadResult:
    lat: dict[str, list[float]] = {}
    for r in results:
        for step, values in r.lat.items():
            lat.setdefault(step, []).extend(values)
    merged = LoadResult(sum(r.seconds for r in results), [w for r in results for w in r.workers], lat)
    if all(r.cpu_s is not None for r in results):
        merged.cpu_s = sum(r.cpu_s for r in results)  # type: ignore[misc]
    merged.rounds = [r.rate("submit") for r in results]  # type: ignore[attr-defined]
    return merged


def run_backend(be: Backend, args, tmp: Path, procs: Procs, run_id: str, first: bool) -> dict:
    """Both servers run side by side (an idle one costs nothing); their submission phases
    alternate for --rounds rounds, so a burst of other work on the machine hits both alike."""
    out: dict = {"backend": be.name}
    sub_job = {"mode": "submit", "seconds": args.seconds, "warmup": args.warmup}

    bare_port = free_port()
    bare = procs.start(f"bare-{be.name}", [PY, str(HERE / "bare_app.py"), "--port", str(bare_port),
                                           "--db", be.bare_url])
    wait_http(bare_port, "/healthz", bare, procs)
    node, port, accounts, officials, out["setup_s"] = start_node(be, tmp, procs, run_id, args.accounts)
    base = f"http://127.0.0.1:{port}"

    if first:
        short = min(args.seconds, 3.0)
        raw_port = free_port()
        raw = procs.start("raw-responder", [PY, str(HERE / "bare_app.py"), "--port", str(raw_port), "--raw"])
        wait_port(raw_port)
        log("load generator ceiling (raw responder, GET)")
        out["ceiling"] = run_load({"mode": "get", "path": "/", "port": raw_port, "seconds": short, "warmup": 0.5},
                                  procs_n=args.procs, clients=args.clients, workdir=tmp, procs=procs)
        procs.stop(raw)
        log("FastAPI GET /ping (bare app)")
        out["ping"] = run_load({"mode": "get", "path": "/ping", "port": bare_port, "seconds": short,
                                "warmup": 0.5}, procs_n=args.procs, clients=args.clients, workdir=tmp, procs=procs)

    bare_runs, node_runs = [], []
    for r in range(args.rounds):
        log(f"{be.name}: round {r + 1}/{args.rounds}: bare POST for {args.seconds:g} s")
        bare_runs.append(run_load(dict(sub_job, path="/submit", port=bare_port, prefix="BCDEFGHIK"[r],
                                       accounts=[{"photo_id": str(uuid.uuid4())}]),
                                  procs_n=args.procs, clients=args.clients, workdir=tmp, procs=procs,
                                  server_pid=bare.pid))
        log(f"{be.name}: round {r + 1}/{args.rounds}: node POST /api/v1/applications for {args.seconds:g} s")
        node_runs.append(run_load(dict(sub_job, path="/api/v1/applications", port=port, prefix="STUVWXYZQ"[r],
                                       accounts=accounts),
                                  procs_n=args.procs, clients=args.clients, workdir=tmp, procs=procs,
                                  server_pid=node.pid))
        if node.poll() is not None:
            raise RuntimeError(f"node died:\n{procs.tail(node._bench_name)}")  # type: ignore[attr-defined]
    out["bare"], out["node"] = merge(bare_runs), merge(node_runs)
    procs.stop(bare)

    import httpx

    slots = httpx.get(f"{base}/api/v1/sites/MK-ALG/slots", timeout=30).json()
    seats = [s["starts_at"] for s in slots for _ in range(s["free"])]
    # spread the seats: the first seat of every slot, then the second ones
    seats = (seats[0::2] + seats[1::2])[:args.max_seats or None]
    out["seats"] = len(seats)
    log(f"{be.name}: journeys ({len(seats)} free seats in {len(slots)} slots)")
    jr = run_load({"mode": "journey", "seconds": args.seconds, "warmup": 0.0, "port": port, "prefix": "J",
                   "accounts": accounts, "officials": officials},
                  procs_n=args.procs, clients=args.clients, workdir=tmp, procs=procs, seats=seats,
                  server_pid=node.pid)
    journeys = sum(w["journeys"] for w in jr.workers)
    out_of_slots = any(w["out_of_slots"] for w in jr.workers) or sum(w["seats_left"] for w in jr.workers) == 0
    elapsed = args.seconds
    if out_of_slots:
        elapsed = max([w["last_journey_at"] for w in jr.workers] + [1e-3])
    out["journeys"] = {"n": journeys, "elapsed": elapsed, "rate": journeys / elapsed,
                       "out_of_slots": out_of_slots, "result": jr}
    procs.stop(node)
    return out


# -- PostgreSQL --------------------------------------------------------------------------------

def pg_backend(url: str, run_id: str) -> Backend | None:
    pg = pg_database(url, run_id)
    return None if pg is None else Backend("postgres", *pg)


# -- report ------------------------------------------------------------------------------------

def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def report(results: list[dict], args, started: datetime, load_before: tuple) -> list[str]:
    lines = []
    cores = os.cpu_count()
    lines.append("")
    lines.append(f"residency benchmark — {started:%Y-%m-%d %H:%M} UTC, {cores} cores, {args.clients} clients "
                 f"in {min(args.procs, args.clients)} load-generator processes, {args.seconds:g} s per phase "
                 f"(+{args.warmup:g} s warm-up for submissions)"
                 + (f", {args.rounds} alternating rounds" if args.rounds > 1 else ""))
    load_after = os.getloadavg()
    busy = load_before[0] > 0.5 * (cores or 1)
    lines.append(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}"
                 + ("  (other work was running: figures are noisy; compare within this run)" if busy else ""))
    failed = [r for r in results if "error" in r]
    results = [r for r in results if "error" not in r]
    first = results[0] if results else {}
    if "ceiling" in first:
        c, p = first["ceiling"], first["ping"]
        lines.append(f"load generator ceiling: {fmt_rate(c.rate('get'))} req/s against a raw asyncio responder "
                     f"(p99 {c.p('get', .99):.1f} ms); FastAPI GET /ping, one worker: {fmt_rate(p.rate('get'))} "
                     f"req/s (p99 {p.p('get', .99):.1f} ms)")
    lines.append("")
    head = (f"{'backend':<9} {'what':<32} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>7} "
            f"{'errors':>6} {'CPU ms/req':>10} {'cores':>5}")
    lines.append(head)
    lines.append("-" * len(head))

    def row(be: str, what: str, rate: float, res: LoadResult, step: str, bad: int, errors: int,
            cpu: bool = True) -> str:
        cpu_ms, used = (res.cpu_ms(step), res.cores()) if cpu else (float("nan"), float("nan"))
        return (f"{be:<9} {what:<32} {fmt_rate(rate):>8} {res.p(step, .5):>8.1f} {res.p(step, .99):>8.1f} "
                f"{bad:>7} {errors:>6} {cpu_ms:>10.2f} {used:>5.2f}").replace(" nan", "   -")

    for r in results:
        be = r["backend"]
        b, n = r["bare"], r["node"]
        lines.append(row(be, "bare POST (driver insert)", b.rate("submit"), b, "submit", b.bad("submit", 201),
                         sum(b.errors.values())))
        lines.append(row(be, "node POST /api/v1/applications", n.rate("submit"), n, "submit",
                         n.bad("submit", 201), sum(n.errors.values())))
        if args.rounds > 1:
            lines.append(f"{'':<9}   per round, bare: {', '.join(fmt_rate(x) for x in b.rounds)}; "
                         f"node: {', '.join(fmt_rate(x) for x in n.rounds)}")
        j = r["journeys"]
        jr = j["result"]
        expected = {"submit": 201, "slots": 200, "book": 201, "identity_check": 201, "claim": 200,
                    "recommend": 200, "decide": 200}
        bad = sum(jr.bad(s, e) for s, e in expected.items())
        lines.append(row(be, "complete journeys (7 requests)", j["rate"], jr, "journey", bad,
                         sum(jr.errors.values()), cpu=not j["out_of_slots"]))
        steps = ", ".join(f"{s} {jr.p(s, .5):.0f}/{jr.p(s, .99):.0f}" for s in expected if jr.lat.get(s))
        lines.append(f"{'':<9}   journey steps p50/p99 ms: {steps}")
        if j["out_of_slots"]:
            note = (f"{j['n']} journeys, then stopped early: the {r['seats']} free appointment seats "
                    f"ran out after {j['elapsed']:.1f} s")
        else:
            note = f"{j['n']} journeys in {j['elapsed']:.1f} s, {r['seats']} seats offered"
        lines.append(f"{'':<9}   {note}")
        for res, label in ((b, "bare"), (n, "node"), (jr, "journeys")):
            for s in res.samples[:3]:
                lines.append(f"{'':<9}   {label} sample failure: {s[:200]}")
    lines.append("")
    lines.append("CPU ms/req: the server process's CPU time in the timed window per successful request "
                 "(the database server's own CPU not included); cores: that CPU time / window length.")
    lines.append("")
    verdicts = []
    for r in results:
        ratio = r["node"].rate("submit") / max(r["bare"].rate("submit"), 1e-9)
        p99 = r["node"].p("submit", .99)
        ok = ratio >= TARGET_RATIO and p99 < TARGET_P99_MS
        verdicts.append(f"{r['backend']}: {ratio:.2f} of bare, p99 {p99:.0f} ms -> "
                        f"{'meets' if ok else 'MISSES'} the target (>= 1/3 of bare, p99 < {TARGET_P99_MS:.0f} ms)")
    lines += verdicts
    lines += [f"{r['backend']}: FAILED: {r['error']}" for r in failed]
    ratios = {r["backend"]: f"{r['node'].rate('submit') / max(r['bare'].rate('submit'), 1e-9):.2f}"
              for r in results}
    ratios.update({r["backend"]: "failed" for r in failed})
    parts = [f"{be}={ratios.get(be, 'skipped')}" for be in ("sqlite", "postgres")]
    lines.append("ratio submission/bare " + " ".join(parts))
    return lines


# -- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--postgres", default=os.environ.get("ERESIDENT_BENCH_POSTGRES_URL") or DEFAULT_PG,
                        help="SQLAlchemy URL of a PostgreSQL server (a bench_* database is created there)")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--accounts", type=int, default=8, help="applicant accounts the clients share")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="untimed seconds before each submission phase")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate bare and node submission phases this many times (noisy machines)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="run one backend")
    parser.add_argument("--max-seats", type=int, default=0,
                        help="offer at most this many appointment seats to the journeys (0: all listed)")
    args = parser.parse_args(argv)
    args.seconds = max(0.5, min(args.seconds, 600.0))
    args.clients = max(1, min(args.clients, 1000))
    args.accounts = max(1, min(args.accounts, args.clients))
    args.rounds = max(1, min(args.rounds, 9))
    load_before = os.getloadavg()

    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)

    def on_term(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="eresident-bench-") as tmpname:
        tmp = Path(tmpname)
        procs = Procs(tmp)
        try:
            backends: list[Backend] = []
            if args.only in (None, "sqlite"):
                backends.append(Backend("sqlite", f"sqlite:///{tmp / 'node.db'}",
                                        f"sqlite:///{tmp / 'bare.db'}"))
            for be_name in ("sqlite", "postgres"):
                if args.only not in (None, be_name):
                    continue
                be = backends[0] if be_name == "sqlite" else pg_backend(args.postgres, run_id)
                if be is None:
                    continue
                try:
                    results.append(run_backend(be, args, tmp, procs, run_id,
                                               first=not any("ceiling" in r for r in results)))
                except Exception as exc:  # noqa: BLE001 - report it, go on with the next backend
                    tail = procs.tail(f"node-{be.name}", 10)
                    print(f"{be.name}: FAILED: {type(exc).__name__}: {str(exc)[:1500]}"
                          + (f"\n--- last lines of node-{be.name}.log ---\n{tail}" if tail else ""),
                          file=sys.stderr, flush=True)
                    results.append({"backend": be.name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                finally:
                    procs.stop_all()
                    if be.drop is not None:
                        be.drop()
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            return 130
        finally:
            procs.stop_all()
            signal.signal(signal.SIGTERM, old)
    print("\n".join(report(results, args, started, load_before)), flush=True)
    return 1 if any("error" in r for r in results) or not results else 0


if __name__ == "__main__":
    code = main()
    if code:
        raise SystemExit(code)
