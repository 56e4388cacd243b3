"""`eresident bench enterprise`: company formation, measured four ways in one run.

1. Name conflict check against --names registered names (default 1,000,000): p50/p99 of the
   index, beside a brute-force rapidfuzz scan in the same run (benchmarks/enterprise_names.py).
2. Complete formations per second over HTTP against a real node process (`eresident serve`,
   one worker), on SQLite and on PostgreSQL: check the name, reserve it, create the formation,
   submit it, both signatories download the articles and sign (the second signature triggers
   the automatic approval and the licence), read the formation, download the licence.
3. Licence PDFs rendered and PAdES-signed per second, one process, beside pyHanko's defaults on
   a one-page PDF (benchmarks/licence_signing.py).
4. Machine time from the last signature to the issued licence: the latency of the last
   signature request (approval, USCC, licence PDF, signature, report, commit), one formation at
   a time on an otherwise idle node, and under the load of (2).

The last line gives the ratios and the verdict. The default run takes about two minutes;
--seconds, --clients, --names, --brute, --sign-seconds make it longer.

    .venv/bin/eresident bench enterprise [--seconds 10] [--clients 32]
    .venv/bin/python benchmarks/enterprise.py --only names,http --seconds 20 --clients 8
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import enterprise_names  # noqa: E402  (benchmarks/enterprise_names.py)
import licence_signing  # noqa: E402  (benchmarks/licence_signing.py)
import residency  # noqa: E402  (benchmarks/residency.py: processes, the node, official sign-in)

TARGET_NAME_P99_MS = 20.0
TARGET_LICENCE_S = 1.0
# Trade-name characters for the formations' names: common, harmless, no word of the forbidden
# lists; three of them make a trade name (13,824 names per run).
NAME_CHARS = "星兴华泰安达德信和盛嘉鑫源丰恒佳瑞祥宏昌博远腾辉"
INDUSTRIES = (("科技", "Technology"), ("贸易", "Trading"), ("咨询", "Consulting"))
PARTS = ("check", "reserve", "create", "submit", "articles", "sign", "last_sign", "read", "licence")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def name_for(k: int, prefix: int) -> tuple[str, str]:
    n = len(NAME_CHARS)
    digits = [(k // n ** i) % n for i in range(3)]
    trade = "".join(NAME_CHARS[(d + prefix * (i + 1)) % n] for i, d in enumerate(digits))
    zh, en = INDUSTRIES[k % len(INDUSTRIES)]
    return f"重庆{trade}{zh}有限公司", f"Chongqing Bench {k} {en} Co., Ltd."


# --------------------------------------------------------------------------- e-residents

def make_e_resident(base: str, account: dict, officials: dict, n: int, run_id: str) -> str:
    """The residency journey for one applicant account; returns the e-resident number."""
    import httpx

    import loadgen

    me = {"Authorization": f"Bearer {account['token']}", "Content-Type": "application/json"}
    passport = f"E{int(run_id[:4], 16) % 100:02d}{n:06d}"
    with httpx.Client(base_url=base, timeout=60) as c:
        r = c.post("/api/v1/applications", headers=me,
                   content=loadgen.application_body(passport, account["photo_id"], n))
        if r.status_code != 201:
            raise RuntimeError(f"application refused: {r.status_code} {r.text[:300]}")
        app_id = r.json()["id"]
        slot = c.get("/api/v1/sites/MK-ALG/slots").json()[n]["starts_at"]
        steps = [(f"/api/v1/applications/{app_id}/appointment", me, {"starts_at": slot, "mode": "video"}),
                 (f"/api/v1/cases/{app_id}/identity-check", officials["agent"],
                  {"passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True}),
                 (f"/api/v1/cases/{app_id}/claim", officials["reviewer"], None),
                 (f"/api/v1/cases/{app_id}/recommend", officials["reviewer"],
                  {"recommendation": "approve", "note": "benchmark"}),
                 (f"/api/v1/cases/{app_id}/decide", officials["approver"], {"decision": "approve"})]
        for path, headers, body in steps:
            r = c.post(path, headers=headers, json=body)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
        return r.json()["e_resident_number"]


# --------------------------------------------------------------------------- one formation

def formation(c, founder: dict, supervisor: dict, k: int, prefix: int, lat: dict[str, list[float]]) -> None:
    """One complete formation over HTTP; raises on any unexpected answer."""
    def call(part: str, method: str, path: str, who: dict, expect: int, **kw):
        t0 = time.perf_counter()
        r = c.request(method, path, headers=who["headers"], **kw)
        lat[part].append(time.perf_counter() - t0)
        if r.status_code != expect:
            raise RuntimeError(f"{part}: {r.status_code} {r.text[:300]}")
        return r

    name_zh, name_en = name_for(k, prefix)
    call("check", "POST", "/api/v1/names/check", founder, 200, json={"name_zh": name_zh, "name_en": name_en})
    reservation = call("reserve", "POST", "/api/v1/names/reservations", founder, 201,
                       json={"name_zh": name_zh, "name_en": name_en}).json()["id"]
    body = {"name_reservation_id": reservation, "registered_capital": "1000000", "currency": "USD",
            "business_scope": ["BS001", "BS002", "BS007"], "address": {"kind": "service_site"},
            "investors": [{"kind": "natural", "e_resident_number": founder["number"], "share_percent": "100"}],
            "legal_representative": {"e_resident_number": founder["number"]},
            "directors": [{"e_resident_number": founder["number"]}],
            "supervisor": {"e_resident_number": supervisor["number"]},
            "beneficial_owners": [{"name": founder["name"], "country": "DZ",
                                   "e_resident_number": founder["number"], "share_percent": "100"}]}
    fid = call("create", "POST", "/api/v1/formations", founder, 201, json=body).json()["id"]
    call("submit", "POST", f"/api/v1/formations/{fid}/submit", founder, 200)
    for who, part in ((founder, "sign"), (supervisor, "last_sign")):
        pdf = call("articles", "GET", f"/api/v1/formations/{fid}/articles", who, 200).content
        call(part, "POST", f"/api/v1/formations/{fid}/signatures", who, 201,
             json={"document_sha256": hashlib.sha256(pdf).hexdigest()})
    done = call("read", "GET", f"/api/v1/formations/{fid}", founder, 200).json()
    if done["status"] != "approved" or not done["uscc"]:
        raise RuntimeError(f"not approved automatically: {done['status']}")
    pdf = call("licence", "GET", done["licence_url"], founder, 200).content
    if not pdf.startswith(b"%PDF"):
        raise RuntimeError("the licence is not a PDF")


def run_formations(base: str, pairs: list[tuple[dict, dict]], *, clients: int, seconds: float | None,
                   count: int | None, start_k: int, prefix: int) -> dict:
    """`clients` threads run formations until `seconds` pass (or `count` are done)."""
    import httpx

    lat: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    counter = iter(range(start_k, start_k + 10 ** 7))
    done: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds else float("inf")

    def worker(w: int) -> None:
        founder, supervisor = pairs[w % len(pairs)]
        mine: dict[str, list[float]] = defaultdict(list)
        with httpx.Client(base_url=base, timeout=120) as c:
            while time.perf_counter() < deadline:
                with lock:
                    k = next(counter)
                if count is not None and k - start_k >= count:
                    break
                try:
                    formation(c, founder, supervisor, k, prefix, mine)
                except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                    with lock:
                        errors.append(str(exc)[:200])
                    continue
                with lock:
                    done.append(time.perf_counter() - started)
        with lock:
            for part, values in mine.items():
                lat[part].extend(values)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # No formation starts after the deadline; those under way finish (a formation is ten
    # requests, longer than a short window under load), and the rate is over the whole time.
    elapsed = time.perf_counter() - started
    return {"formations": len(done), "elapsed": elapsed, "rate": len(done) / elapsed, "lat": lat,
            "errors": errors}


def http_backend(be, args, tmp: Path, procs, run_id: str) -> dict:
    """Start a node on the backend, make the e-residents, then the sequential and the loaded phase."""
    pairs_n = max(1, min(args.pairs, args.clients))
    node, port, accounts, officials, _setup = residency.start_node(be, tmp, procs, run_id, 2 * pairs_n)
    base = f"http://127.0.0.1:{port}"
    officials = {role: {"Authorization": f"Bearer {token}"} for role, token in officials.items()}
    t = time.monotonic()
    people = []
    for n, account in enumerate(accounts):
        number = make_e_resident(base, account, officials, n, run_id)
        surname, given = residency_names(n)
        people.append({"number": number, "name": f"{given} {surname}",
                       "headers": {"Authorization": f"Bearer {account['token']}"}})
    pairs = [(people[2 * i], people[2 * i + 1]) for i in range(pairs_n)]
    residency.log(f"{be.name}: {len(people)} e-residents in {time.monotonic() - t:.1f} s")
    prefix = int(run_id[:2], 16)

    residency.log(f"{be.name}: {args.latency_formations} formations one at a time (warm-up first)")
    run_formations(base, pairs, clients=1, seconds=None, count=1, start_k=0, prefix=prefix)  # warm-up
    cpu0 = residency.cpu_seconds(node.pid)
    alone = run_formations(base, pairs, clients=1, seconds=None, count=args.latency_formations, start_k=1,
                           prefix=prefix)
    cpu1 = residency.cpu_seconds(node.pid)
    alone["cpu_ms"] = (cpu1 - cpu0) * 1000 / max(1, alone["formations"]) if None not in (cpu0, cpu1) else None

    residency.log(f"{be.name}: {args.clients} clients for {args.seconds:g} s")
    cpu0 = residency.cpu_seconds(node.pid)
    loaded = run_formations(base, pairs, clients=args.clients, seconds=args.seconds, count=None,
                            start_k=1000, prefix=prefix)
    cpu1 = residency.cpu_seconds(node.pid)
    loaded["cpu_ms"] = (cpu1 - cpu0) * 1000 / max(1, loaded["formations"]) if None not in (cpu0, cpu1) else None
    if node.poll() is not None:
        raise RuntimeError(f"the node died:\n{procs.tail(node._bench_name)}")  # type: ignore[attr-defined]
    procs.stop(node)
    return {"backend": be.name, "alone": alone, "loaded": loaded}


def residency_names(n: int) -> tuple[str, str]:
    import loadgen

    surname, given, *_ = loadgen.PEOPLE[n % len(loadgen.PEOPLE)]
    return surname, given


# --------------------------------------------------------------------------- the report

def ms(x: float) -> str:
    return f"{x * 1000:,.0f}"


def http_lines(result: dict) -> list[str]:
    if "error" in result:
        return [f"  {result['backend']}: FAILED: {result['error']}"]
    lines = []
    for label, phase in (("one at a time", result["alone"]), ("under load", result["loaded"])):
        lat = phase["lat"]
        cpu = f"{phase['cpu_ms']:,.0f}" if phase.get("cpu_ms") is not None else "n/a"
        lines.append(f"  {result['backend']:<10} {label:<14} {phase['formations']:>5} formations in "
                     f"{phase['elapsed']:4.1f} s  "
                     f"{phase['rate']:6.2f}/s  last signature→licence p50/p99 {ms(percentile(lat['last_sign'], .5))}/"
                     f"{ms(percentile(lat['last_sign'], .99))} ms  node CPU {cpu} ms/formation  "
                     f"errors {len(phase['errors'])}")
    steps = result["loaded"]["lat"]
    lines.append("             under load, p50/p99 ms per request: " + ", ".join(
        f"{p} {ms(percentile(steps[p], .5))}/{ms(percentile(steps[p], .99))}" for p in PARTS if steps.get(p)))
    for error in sorted(set(result["loaded"]["errors"] + result["alone"]["errors"]))[:3]:
        lines.append(f"             error: {error}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="names,http,signing",
                        help="comma-separated parts: names, http, signing (default: all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the loaded formation phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent formations in the loaded phase")
    parser.add_argument("--pairs", type=int, default=2, help="founder/supervisor pairs the clients share")
    parser.add_argument("--latency-formations", type=int, default=5,
                        help="formations one at a time, for the machine time of (4)")
    parser.add_argument("--postgres", default=os.environ.get("ERESIDENT_BENCH_POSTGRES_URL") or residency.DEFAULT_PG)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1500)
    parser.add_argument("--brute", type=int, default=3, help="queries also run as a brute-force scan")
    parser.add_argument("--sign-seconds", type=float, default=2.0)
    parser.add_argument("--sign-rounds", type=int, default=1)
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    args.clients = max(1, min(args.clients, 256))
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    out: list[str] = [f"enterprise benchmark {started:%Y-%m-%d %H:%M} UTC, load average before "
                      f"{load_before[0]:.1f}/{load_before[1]:.1f} on {os.cpu_count()} cores"]
    verdict: list[str] = []
    failed = False
    last: list[str] = []

    if "names" in parts:
        residency.log(f"names: building the index over {args.names:,} names")
        names = enterprise_names.run(names=args.names, queries=args.queries, brute=args.brute)
        out += ["", "(1) name conflict check"] + ["  " + line for line in names["lines"] if line]
        ratio = names["brute_p50_ms"] / names["p50_ms"]
        last.append(f"brute/indexed p50={ratio:,.0f} ; name p99={names['p99_ms']:.2f} ms (target < 20 ms)")
        verdict.append("name p99 " + ("met" if names["p99_ms"] < TARGET_NAME_P99_MS else "MISSED"))
        failed |= bool(names["mismatches"])

    http_results: list[dict] = []
    if "http" in parts:
        def on_term(*_):
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, on_term)
        with tempfile.TemporaryDirectory(prefix="eresident-bench-enterprise-") as tmpname:
            tmp = Path(tmpname)
            procs = residency.Procs(tmp)
            try:
                for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
                    be = residency.Backend("sqlite", f"sqlite:///{tmp / 'node.db'}", "") if name == "sqlite" \
                        else residency.pg_backend(args.postgres, run_id)
                    if be is None:
                        continue
                    try:
                        http_results.append(http_backend(be, args, tmp, procs, run_id))
                    except Exception as exc:  # noqa: BLE001 - report it, go on with the next backend
                        print(f"{be.name}: FAILED: {exc}\n{procs.tail(f'node-{be.name}', 10)}", file=sys.stderr)
                        http_results.append({"backend": be.name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
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
        out += ["", f"(2) complete formations over HTTP (one `eresident serve` worker; {args.clients} clients "
                    f"starting formations for {args.seconds:g} s, {args.pairs} founder/supervisor pairs) and (4) the last signature "
                    "to the issued licence"]
        for result in http_results:
            out += http_lines(result)
        rates = " ".join(f"{r['backend']}=" + (f"{r['loaded']['rate']:.2f}" if "error" not in r else "failed")
                         for r in http_results)
        last.append(f"formations/s {rates}")
        ok = [r for r in http_results if "error" not in r]
        failed |= len(ok) < len(http_results) or any(r["loaded"]["errors"] or r["alone"]["errors"] for r in ok)
        if ok:
            machine = max(percentile(r["alone"]["lat"]["last_sign"], .99) for r in ok)
            loaded = max(percentile(r["loaded"]["lat"]["last_sign"], .99) for r in ok)
            last.append(f"last signature→licence p99 {ms(machine)} ms alone, {ms(loaded)} ms under load "
                        "(target < 1 s)")
            verdict.append("licence < 1 s " + ("met" if machine < TARGET_LICENCE_S else "MISSED")
                           + (" (alone; under load " + ("met" if loaded < TARGET_LICENCE_S else "missed") + ")"))

    if "signing" in parts:
        residency.log("signing: licence PDFs per second")
        signing = licence_signing.measure(seconds=args.sign_seconds, rounds=args.sign_rounds, quick=True)
        report = licence_signing.report(signing, args.sign_seconds, args.sign_rounds)
        out += ["", "(3) licence PDFs signed per second"] + ["  " + line for line in report]
        medians = signing["medians"]
        per_s = medians["licence: render + sign"]
        last.append(f"licences signed/s={per_s:.1f} ({per_s / medians['trivial PDF: pyHanko defaults']:.2f} of "
                    "pyHanko's trivial signature)")

    load_after = os.getloadavg()
    out += ["", f"load average after: {load_after[0]:.1f}/{load_after[1]:.1f}; "
                f"took {(datetime.now(UTC) - started).total_seconds():.0f} s"]
    out.append("ratio " + " ; ".join(last) + " ; verdict: " + (", ".join(verdict) or "n/a")
               + ("; ERRORS" if failed else ""))
    print("\n".join(out), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
