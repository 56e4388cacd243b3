"""Banking benchmark: account requests from a node to the sandbox bank and back, beside unsigned HTTP
between the same processes, and the machine time from licence issuance to the queued bank request.

    eresident bench banking [--seconds S] [--clients C]
    python benchmarks/banking.py [same options] [--formations F]

1. In-process (the node's app with a TestClient, SQLite in a temp dir, demo seed, the test factories
   in tests/): two e-residents through the e-residency journey, then F formations with the founder's
   bank consent, each signed by both signatories; the second signature approves the formation and
   calls `enterprise.service.issue`, which ends with the tax registration and queues the bank request
   (`banking.service._create_request`: the request, its outbox row, its event, the audit event).
   Timed with perf_counter around those functions: issue() start -> tax registration start -> the
   outbox row added, and the whole last-signature request. Target: < 200 ms to the outbox row.
2. Real processes: the node (`python -m eresident serve`, same database and data dir, BANK_URL set)
   and the sandbox bank (`python -m eresident sandbox-bank`, its own SQLite and key). This process
   is the node's business side and delivery worker: it queues C account requests per transaction for
   the company of step 1 (`_create_request`, what issuance calls; a new request id each, so the bank
   treats each as a new request) and calls `banking.service.deliver_due(ctx)` (what the worker's
   `banking.deliver` job calls) until the outbox is empty, for S seconds. The bank's own worker
   decides (KYC rules: opens two accounts), signs the `opened` callback and posts it to the node
   process, which checks the signature and applies it. Measured: requests answered (status `opened`
   at the node) per second, and latency queue -> callback applied (outbox created_at ->
   bank_callbacks received_at). Beside it, in the same run and between the same processes:
   unsigned POSTs of the same KYC package to the bank (401 signature-missing, before any database
   work) and of a callback-shaped body to the node (401 likewise): the bare HTTP round trips; and
   in-process the signing and checking of one request and one callback (banking/protocol.py).

Only 127.0.0.1 is contacted; processes are ended by pid and the temp dir removed, also on errors,
Ctrl-C and SIGTERM. `--postgres` is accepted (what `eresident bench` passes) and ignored: SQLite only.
`--only inprocess` skips step 2. The last line: the ratios and verdicts.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from residency import PY, Procs, cpu_seconds, free_port, log, percentile, wait_http  # noqa: E402

TARGET_ISSUE_MS = 200.0
TARGET_SHARE = 0.25
SERIAL_BASE = 5_000_000  # USCC serials of the cloned licences (far from the node's own sequence)


def ms(x: float) -> float:
    return x * 1000


class InProcessNode:
    """What tests.factories.Api needs: ctx, settings, clock and a client into the app."""

    def __init__(self, settings, database):
        from eresident.app import create_app
        from eresident.kit.clock import FrozenClock
        from eresident.kit.context import build_context

        self.clock = FrozenClock(datetime.now(UTC))
        self.ctx = build_context(settings, clock=self.clock, database=database, password_profile="fast")
        self.app = create_app(settings, context=self.ctx)
        self.settings = settings

    def client(self):
        from fastapi.testclient import TestClient

        return TestClient(self.app, base_url=self.settings.base_url, raise_server_exceptions=False)


def in_process(settings, database, formations: int) -> dict:
    """F formations with bank consent; the time from issue() to the queued bank request."""
    from eresident.banking import service as banking
    from eresident.enterprise import service as enterprise
    from eresident.seed import seed_demo
    from eresident.tax import service as tax
    from tests.enterprise.helpers import formation_body, submit_and_sign
    from tests.factories import Api, Person, bearer

    import enterprise as enterprise_bench  # benchmarks/enterprise.py: harmless trade names

    from eresident.kit.logging import configure

    node = InProcessNode(settings, database)
    seed_demo(node.ctx)
    configure("WARNING")
    api = Api(node)
    log("in-process: two e-residents through the journey")
    founder_token, founder = api.e_resident(Person(surname="BENALI"))
    supervisor_token, supervisor = api.e_resident(Person(surname="HADDAD"))
    bank = api.client.get("/api/v1/banks").json()[0]
    consent = {"bank": bank["code"], "consent_text_sha256": bank["consent_text_sha256"], "agree": True}

    marks: list[dict] = []
    real_issue, real_tax, real_create = enterprise.issue, tax.register_for_licence, banking._create_request

    def issue(**kw):
        marks.append({"issue": time.perf_counter()})
        return real_issue(**kw)

    def register(**kw):
        marks[-1]["tax"] = time.perf_counter()
        return real_tax(**kw)

    def create(*a, **kw):
        row = real_create(*a, **kw)
        marks[-1]["outbox"] = time.perf_counter()
        return row

    enterprise.issue, tax.register_for_licence, banking._create_request = issue, register, create
    last_sign, usccs = [], []
    try:
        log(f"in-process: {formations} formations with bank consent, licence issued at the second signature")
        for k in range(formations):
            zh, en = enterprise_bench.name_for(k, 7)
            r = api.client.post("/api/v1/names/reservations", headers=bearer(founder_token),
                                json={"name_zh": zh, "name_en": en})
            if r.status_code != 201:
                raise RuntimeError(f"name reservation: {r.status_code} {r.text[:300]}")
            f = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                                json=formation_body(r.json()["id"], founder, supervisor))
            if f.status_code != 201:
                raise RuntimeError(f"formation: {f.status_code} {f.text[:300]}")
            c = api.client.post(f"/api/v1/formations/{f.json()['id']}/bank-consent", headers=bearer(founder_token),
                                json=consent)
            if c.status_code != 201:
                raise RuntimeError(f"bank consent: {c.status_code} {c.text[:300]}")
            t0 = time.perf_counter()
            done = submit_and_sign(api, f.json()["id"], [founder_token, supervisor_token])
            if done["status"] != "approved" or not marks or "outbox" not in marks[-1]:
                raise RuntimeError(f"formation not approved with a bank request: {done.get('status')}")
            last_sign.append(time.perf_counter() - t0)
            usccs.append(done["uscc"])
    finally:
        enterprise.issue, tax.register_for_licence, banking._create_request = real_issue, real_tax, real_create
    to_outbox = sorted(m["outbox"] - m["issue"] for m in marks)
    licence_part = sorted(m["tax"] - m["issue"] for m in marks)
    tax_bank = sorted(m["outbox"] - m["tax"] for m in marks)
    return {"n": len(marks), "to_outbox": to_outbox, "licence": licence_part, "tax_bank": tax_bank,
            "sign_submit": sorted(last_sign), "uscc": usccs[0], "node": node}


def http_part(args, tmp: Path, procs: Procs, settings, data_dir: Path, db_url: str, uscc: str) -> dict:
    import httpx
    from sqlalchemy import func, insert, select

    from eresident.audit.service import Actor
    from eresident.enterprise import uscc as uscc_mod
    from eresident.banking import protocol
    from eresident.banking import service as banking
    from eresident.banking.models import BankCallback, BankConsent, BankOutboxMessage, BankRequest
    from eresident.enterprise.models import Formation, Licence
    from eresident.federation.keys import node_keys
    from eresident.kit.context import build_context

    node_port, bank_port = settings.base_url.rsplit(":", 1)[1], settings.bank_url.rsplit(":", 1)[1]
    env = {**os.environ, "ERESIDENT_REGION": "LJ", "ERESIDENT_DATA_DIR": str(data_dir),
           "ERESIDENT_DATABASE_URL": db_url, "ERESIDENT_BASE_URL": settings.base_url,
           "ERESIDENT_BANK_URL": settings.bank_url, "ERESIDENT_LOG_LEVEL": "WARNING", "ERESIDENT_DEMO": "true"}
    node = procs.start("node", [PY, "-m", "eresident", "serve", "--port", node_port], env=env)
    bank_env = {**os.environ, "ERESIDENT_SANDBOX_BANK_DATA_DIR": str(tmp / "bank"),
                "ERESIDENT_SANDBOX_BANK_BASE_URL": settings.bank_url,
                "ERESIDENT_SANDBOX_BANK_CLIENTS": settings.base_url, "ERESIDENT_LOG_LEVEL": "WARNING"}
    bank = procs.start("bank", [PY, "-m", "eresident", "sandbox-bank", "--port", bank_port], env=bank_env)
    wait_http(int(node_port), "/healthz", node, procs)
    wait_http(int(bank_port), "/healthz", bank, procs)
    # What the node's operator does once: pin the bank's callback key (the node never fetches it itself).
    subprocess.run([PY, "-m", "eresident", "bank", "trust", "add", settings.bank_url, "--yes"], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=60)

    ctx = build_context(settings)  # the real clock: the bank checks signature times against it
    client = httpx.Client(timeout=30, follow_redirects=False)
    actor = Actor("system", "bench", "benchmark", "LJ")
    out: dict = {}
    try:
        with ctx.database.session(write=False) as db:
            licence = db.scalar(select(Licence).where(Licence.uscc == uscc))
            licence_id, formation_id = licence.id, licence.formation_id
            consent_id = db.scalar(select(BankConsent.id).where(BankConsent.formation_id == formation_id))

        serials = iter(range(SERIAL_BASE, SERIAL_BASE + 10_000_000))

        def clone_licence(db) -> Licence:
            """A company asks a bank once (unique licence + bank): each request gets a copy of the real
            licence row (new id, USCC and serial) on a copy of its formation row (licences.formation_id is
            unique); the KYC package is built from the real formation (owners, e-residency)."""
            f_row = dict(db.execute(select(Formation.__table__).where(Formation.id == formation_id)).mappings().one())
            l_row = dict(db.execute(select(Licence.__table__).where(Licence.id == licence_id)).mappings().one())
            f_row.update(id=uuid.uuid4(), case_number=None)
            serial = next(serials)
            l_row.update(id=uuid.uuid4(), formation_id=f_row["id"], serial=serial,
                         uscc=uscc_mod.issue(division_code=settings.division_code, serial=serial))
            db.execute(insert(Formation.__table__).values(**f_row))
            db.execute(insert(Licence.__table__).values(**l_row))
            return db.get(Licence, l_row["id"])

        def queue(k: int) -> list[uuid.UUID]:
            with ctx.database.session(write=True) as db:
                formation, consent = db.get(Formation, formation_id), db.get(BankConsent, consent_id)
                return [banking._create_request(ctx, db, clone_licence(db), formation, consent, actor).id
                        for _ in range(k)]

        def drain() -> int:
            n = 0
            while True:
                report = banking.deliver_due(ctx, client=client)
                if report.failed:
                    raise RuntimeError(f"delivery to the bank failed: {report.errors[:3]}")
                if not report.delivered:
                    return n
                n += report.delivered

        def opened(ids: list[uuid.UUID]) -> int:
            with ctx.database.session(write=False) as db:
                return db.scalar(select(func.count()).select_from(BankRequest)
                                 .where(BankRequest.id.in_(ids), BankRequest.status == "opened")) or 0

        def wait_opened(ids: list[uuid.UUID], timeout: float) -> float:
            deadline = time.monotonic() + timeout
            while opened(ids) < len(ids):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {opened(ids)} of {len(ids)} requests answered in {timeout:.0f} s:\n"
                                       f"{procs.tail('bank', 10)}")
                time.sleep(0.02)
            return time.perf_counter()

        log("warm-up: 10 requests through the bank and back")
        warm = queue(10)
        drain()
        wait_opened(warm, 60)

        log(f"account requests, node outbox -> bank -> signed callback, {args.seconds:g} s, {args.clients} queued at a time")
        ids: list[uuid.UUID] = []
        cpu0 = (cpu_seconds(node.pid), cpu_seconds(bank.pid), time.process_time())
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            ids += queue(args.clients)
            drain()
        sent_s = time.perf_counter() - t0
        t_end = wait_opened(ids, 60 + args.seconds)
        cpu1 = (cpu_seconds(node.pid), cpu_seconds(bank.pid), time.process_time())
        wall = t_end - t0
        with ctx.database.session(write=False) as db:
            queued = dict(db.execute(select(BankOutboxMessage.request_id, BankOutboxMessage.created_at)
                                     .where(BankOutboxMessage.request_id.in_(ids))).all())
            applied = dict(db.execute(select(BankCallback.request_id, func.max(BankCallback.received_at))
                                      .where(BankCallback.request_id.in_(ids)).group_by(BankCallback.request_id)).all())
            callbacks = db.scalar(select(func.count()).select_from(BankCallback)
                                  .where(BankCallback.request_id.in_(ids))) or 0
        lat = sorted((applied[i] - queued[i]).total_seconds() for i in ids if i in applied and i in queued)
        n = len(ids)

        def cpu_ms(k: int) -> float:
            return float("nan") if None in (cpu0[k], cpu1[k]) else (cpu1[k] - cpu0[k]) / n * 1000

        out["signed"] = {"n": n, "wall": wall, "sent_s": sent_s, "rate": n / wall, "p50": ms(percentile(lat, .5)),
                         "p99": ms(percentile(lat, .99)), "callbacks": callbacks, "node_cpu": cpu_ms(0),
                         "bank_cpu": cpu_ms(1), "here_cpu": cpu_ms(2)}

        # unsigned HTTP between the same processes: the same package to the bank, a callback to the node
        with ctx.database.session(write=False) as db:
            package = db.get(BankRequest, ids[0]).package
        package_body = protocol.dumps(package)
        bank_url = settings.bank_url + protocol.REQUESTS_PATH
        node_url = settings.base_url + protocol.CALLBACK_PATH
        cb = {"event_id": str(uuid.uuid4()), "request_id": str(ids[0]), "bank_reference": "SBX0", "seq": 9,
              "status": "opened", "at": protocol.iso(datetime.now(UTC)),
              "detail": {"accounts": [{"number": "6217050000000000018", "kind": "basic_rmb", "currency": "CNY"}]}}
        callback_body = protocol.dumps(cb)

        def unsigned(url: str, body: bytes, seconds: float, extra: dict) -> dict:
            lats, bad = [], 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                s = time.perf_counter()
                r = client.post(url, content=body, headers={"Content-Type": "application/json", **extra})
                lats.append(time.perf_counter() - s)
                bad += r.status_code != 401
            w = time.perf_counter() - t0
            lats.sort()
            return {"rate": len(lats) / w, "p50": ms(percentile(lats, .5)), "p99": ms(percentile(lats, .99)),
                    "bad": bad}

        third = max(1.0, args.seconds / 3)
        log(f"unsigned POSTs of the same bodies, {third:g} s each way (answered 401 before any database work)")
        out["to_bank"] = unsigned(bank_url, package_body, third, {"Idempotency-Key": str(uuid.uuid4())})
        out["to_node"] = unsigned(node_url, callback_body, third, {})

        # in-process: sign + verify one request and one callback
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        import federation as fed_bench  # benchmarks/federation.py: best_rate

        now = datetime.now(UTC)
        key = node_keys(settings).signing_key(now)
        bank_key = Ed25519PrivateKey.generate()
        req_headers = list(protocol.sign_post(url=bank_url, body=package_body, private_key=key.key.private_key,
                                              kid=key.kid, now=now, nonce="n", idempotency_key=str(ids[0])).items())
        cb_headers = list(protocol.sign_post(url=node_url, body=callback_body, private_key=bank_key, kid="bank",
                                             now=now, nonce=cb["event_id"]).items())
        node_pub, bank_pub = key.key.private_key.public_key(), bank_key.public_key()
        window = min(1.0, max(0.3, args.seconds / 5))
        rates = {
            "sign_req": fed_bench.best_rate(lambda: protocol.sign_post(
                url=bank_url, body=package_body, private_key=key.key.private_key, kid=key.kid, now=now, nonce="n",
                idempotency_key=str(ids[0])), window),
            "verify_req": fed_bench.best_rate(lambda: protocol.verify_post(
                target_uri=bank_url, headers=req_headers, body=package_body, now=now,
                resolve_key=lambda kid, c: (node_pub, None), covered=protocol.REQUEST_COVERED), window),
            "sign_cb": fed_bench.best_rate(lambda: protocol.sign_post(
                url=node_url, body=callback_body, private_key=bank_key, kid="bank", now=now,
                nonce=cb["event_id"]), window),
            "verify_cb": fed_bench.best_rate(lambda: protocol.verify_post(
                target_uri=node_url, headers=cb_headers, body=callback_body, now=now,
                resolve_key=lambda kid, c: (bank_pub, None), covered=protocol.CALLBACK_COVERED), window),
        }
        out["crypto_us"] = {k: 1e6 / v for k, v in rates.items()}
    finally:
        client.close()
        ctx.database.dispose()
    return out


def report(res: dict, args, started: datetime, load_before: tuple) -> list[str]:
    ip = res["inprocess"]
    lines = ["", f"banking benchmark — {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite",
             f"load average before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}", ""]

    def dist(values: list[float]) -> str:
        return f"median {ms(percentile(values, .5)):.1f} ms, max {ms(values[-1]):.1f} ms"

    lines.append(f"in-process, {ip['n']} licences (one at a time, the node's app in this process):")
    lines.append(f"  issue() start -> bank request's outbox row added: {dist(ip['to_outbox'])}")
    lines.append(f"    of which licence (USCC, PDF + PAdES, report): {dist(ip['licence'])}; "
                 f"tax registration + bank request: {dist(ip['tax_bank'])}")
    lines.append(f"  the whole submit + two signatures (6 requests, incl. the commit): {dist(ip['sign_submit'])}")
    issue_ms = ms(percentile(ip["to_outbox"], .5))
    issue_max = ms(ip["to_outbox"][-1])
    last = (f"ratio signed/unsigned=skipped ; issue->outbox median={issue_ms:.0f} ms max={issue_max:.0f} ms "
            f"(target < 200 ms: {'met' if issue_max < TARGET_ISSUE_MS else 'MISSED'})")
    h = res.get("http")
    if h is not None:
        s, tb, tn, cu = h["signed"], h["to_bank"], h["to_node"], h["crypto_us"]
        per_cb = s["callbacks"] / max(s["n"], 1)
        crypto = cu["sign_req"] + cu["verify_req"] + per_cb * (cu["sign_cb"] + cu["verify_cb"])
        per_req_us = 1e6 / s["rate"]
        share = crypto / per_req_us
        unsigned_pair_ms = tb["p50"] + tn["p50"]
        lines.append("")
        head = f"{'real processes (node, sandbox bank)':<60} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'bad':>5}"
        lines += [head, "-" * len(head)]
        lines.append(f"{'account requests answered (outbox -> bank -> callback applied)':<60} {s['rate']:>8.1f} "
                     f"{s['p50']:>8.1f} {s['p99']:>8.1f} {0:>5}")
        lines.append(f"{'unsigned POST, same KYC package -> bank (401, no DB)':<60} {tb['rate']:>8.1f} "
                     f"{tb['p50']:>8.1f} {tb['p99']:>8.1f} {tb['bad']:>5}")
        lines.append(f"{'unsigned POST, callback body -> node (401, no DB)':<60} {tn['rate']:>8.1f} "
                     f"{tn['p50']:>8.1f} {tn['p99']:>8.1f} {tn['bad']:>5}")
        lines.append(f"  {s['n']} requests queued in {s['sent_s']:.1f} s, all answered after {s['wall']:.1f} s; "
                     f"{per_cb:.2f} callbacks per request; CPU per request: node process {s['node_cpu']:.2f} ms, "
                     f"bank process {s['bank_cpu']:.2f} ms, this process (queue + delivery) {s['here_cpu']:.2f} ms")
        lines.append(f"  in-process per message: request sign {cu['sign_req']:.0f} µs + verify {cu['verify_req']:.0f} µs; "
                     f"callback sign {cu['sign_cb']:.0f} µs + verify {cu['verify_cb']:.0f} µs; per answered request "
                     f"{crypto:.0f} µs = {share:.1%} of its {per_req_us:.0f} µs wall time")
        ratio = s["rate"] / (1000 / unsigned_pair_ms)
        last = (f"ratio signed/unsigned={ratio:.2f} (answered requests/s vs unsigned round trips both ways/s) ; "
                f"sign+verify share={share:.1%} (target < 25%: {'met' if share < TARGET_SHARE else 'MISSED'}) ; "
                + last.split(" ; ", 1)[1])
    else:
        lines.append("")
        lines.append("real processes: not run (--only inprocess)")
    lines.append("")
    lines.append(last)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the request phase")
    parser.add_argument("--clients", type=int, default=32, help="account requests queued per transaction")
    parser.add_argument("--postgres", default=None, help="accepted and ignored: this benchmark runs on SQLite")
    parser.add_argument("--formations", type=int, default=5, help="licences issued in-process (timed)")
    parser.add_argument("--only", choices=("inprocess",), help="skip the real processes")
    args = parser.parse_args(argv)
    args.seconds = max(0.5, min(args.seconds, 300.0))
    args.clients = max(1, min(args.clients, 500))
    args.formations = max(1, min(args.formations, 50))
    load_before = os.getloadavg()
    started = datetime.now(UTC)

    def on_term(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    res: dict = {}
    with tempfile.TemporaryDirectory(prefix="eresident-bench-bank-") as tmpname:
        tmp = Path(tmpname)
        procs = Procs(tmp)
        database = None
        try:
            from eresident.config import Settings
            from eresident.kit.db import Database
            from eresident.kit.migrate import upgrade

            data_dir = tmp / "LJ"
            db_url = f"sqlite:///{tmp / 'node.db'}"
            settings = Settings(region="LJ", data_dir=data_dir, database_url=db_url, log_level="WARNING",
                                base_url=f"http://127.0.0.1:{free_port()}", bank_url=f"http://127.0.0.1:{free_port()}")
            log("migrate")
            upgrade(db_url)
            database = Database(db_url)
            res["inprocess"] = in_process(settings, database, args.formations)
            if args.only != "inprocess":
                res["http"] = http_part(args, tmp, procs, settings, data_dir, db_url, res["inprocess"]["uscc"])
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - report, clean up, fail
            tails = "\n".join(f"--- {n} ---\n{procs.tail(n, 15)}" for n in ("node", "bank"))
            import traceback

            print(f"FAILED: {type(exc).__name__}: {str(exc)[:1500]}\n{traceback.format_exc()[-3000:]}\n{tails}",
                  file=sys.stderr, flush=True)
            print("ratio signed/unsigned=failed")
            return 1
        finally:
            procs.stop_all()
            if database is not None:
                database.dispose()
            signal.signal(signal.SIGTERM, old)
    if args.postgres:
        print("note: --postgres ignored; this benchmark runs on SQLite")
    print("\n".join(report(res, args, started, load_before)), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    if code:
        raise SystemExit(code)
