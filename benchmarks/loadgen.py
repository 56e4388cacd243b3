"""A small, fast HTTP/1.1 load generator for the benchmarks (no wrk needed).

One worker process = one asyncio loop (uvloop when installed) driving several keep-alive
connections through a hand-written protocol: a request is one prebuilt bytes object, a
response is parsed just enough for status, length and body. The parent (residency.py)
starts a few worker processes, hands each its part of the clients, and starts them all at
the same moment; each worker writes its counts and latencies back as JSON + a binary file.

Run as `python loadgen.py` with the job as JSON on stdin; it prints `ready`, waits for a
`go <monotonic start time>` line, runs, and prints one JSON line with its results.
Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import array
import asyncio
import json
import sys
import time
from datetime import date

from eresident.identity.mrz import make_td3

HOST = "127.0.0.1"
TIMEOUT_S = 30.0


class HttpError(Exception):
    pass


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.sent_at = 0.0
        self.closed = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            parsed = self._parse()
            if parsed is not None:
                self.waiter.set_result(parsed)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc}"))

    # -- parsing ------------------------------------------------------------------------
    def _parse(self):
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17:j if j >= 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                return None
            body = bytes(buf[end + 4:total])
            del buf[:total]
        elif b"\r\ntransfer-encoding: chunked" in head:
            pos, chunks = end + 4, []
            while True:
                k = buf.find(b"\r\n", pos)
                if k < 0:
                    return None
                size = int(bytes(buf[pos:k]).split(b";")[0], 16)
                if len(buf) < k + 2 + size + 2:
                    return None
                chunks.append(bytes(buf[k + 2:k + 2 + size]))
                pos = k + 2 + size + 2
                if size == 0:
                    # no trailers expected from uvicorn
                    break
            body = b"".join(chunks)
            del buf[:pos]
        else:  # no body (e.g. 204)
            body = b""
            del buf[:end + 4]
        if b"\r\nconnection: close" in head:
            self.closed = True
        return status, body

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise HttpError("connection closed")
        self.waiter = self.loop.create_future()
        self.sent_at = time.monotonic()
        self.transport.write(raw)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(loop, port: int) -> Conn:
    _t, proto = await loop.create_connection(lambda: Conn(loop), HOST, port)
    return proto


def build_request(method: str, path: str, port: int, *, body: bytes = b"", token: str | None = None,
                  content_type: str = "application/json") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- application bodies -------------------------------------------------------------------

PEOPLE = (  # (surname, given names, native name, birth date, sex) — MRZ-safe Latin names
    ("BENALI", "AMINA", "أمينة بن علي", date(1990, 3, 14), "F"),
    ("HADDAD", "KARIM", "كريم حداد", date(1985, 7, 2), "M"),
    ("MANSOURI", "SARA", "سارة منصوري", date(1996, 11, 23), "F"),
    ("BOUAZIZ", "YACINE", "ياسين بوعزيز", date(1979, 1, 30), "M"),
    ("KHELIFI", "NADIA", "نادية خليفي", date(1988, 5, 9), "F"),
    ("SAIDI", "OMAR", "عمر سعيدي", date(1992, 9, 17), "M"),
    ("CHERIF", "LINA", "لينا شريف", date(2000, 12, 1), "F"),
    ("ZERROUKI", "MEHDI", "مهدي زروقي", date(1983, 4, 25), "M"),
)
PASSPORT_EXPIRY = date(2031, 5, 20)


def application_body(passport: str, photo_id: str, n: int, site_code: str = "MK-ALG") -> bytes:
    """A fresh, valid application body (unique passport number, matching TD3 MRZ)."""
    surname, given, native, born, sex = PEOPLE[n % len(PEOPLE)]
    mrz = make_td3(surname=surname, given_names=given, document_number=passport, nationality="DZA",
                   birth_date=born, sex=sex, expiry_date=PASSPORT_EXPIRY, issuing_state="DZA")
    return json.dumps({
        "surname": surname, "given_names": given, "native_name": native,
        "birth_date": born.isoformat(), "sex": sex, "nationality": "DZ",
        "residence_country": "DZ", "phone": "+213 21 23 45 67",
        "address": "5 Rue Larbi Ben M'hidi, Algiers", "passport_number": passport,
        "passport_expiry": PASSPORT_EXPIRY.isoformat(), "mrz": list(mrz),
        "purpose": "I trade dates and olive oil and want to open a company in the region.",
        "site_code": site_code, "photo_document_id": photo_id,
        "consents": {"processing": True, "sensitive_data": True, "cross_region_sharing": True},
    }, ensure_ascii=False).encode()


def passport_number(prefix: str, worker: int, serial: int) -> str:
    """At most 9 characters (TD3): one letter, two digits of worker, six of serial."""
    return f"{prefix}{worker % 100:02d}{serial % 1_000_000:06d}"


# -- the worker ---------------------------------------------------------------------------

class Recorder:
    def __init__(self, measure_start: float, measure_end: float):
        self.t0, self.t1 = measure_start, measure_end
        self.lat: dict[str, array.array] = {}
        self.status: dict[str, dict[int, int]] = {}
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []

    def ok_window(self, started: float, done: float) -> bool:
        return started >= self.t0 and done <= self.t1

    def add(self, step: str, started: float, done: float, status: int, body: bytes, expected: int) -> None:
        if not self.ok_window(started, done):
            return
        st = self.status.setdefault(step, {})
        st[status] = st.get(status, 0) + 1
        if status == expected:
            self.lat.setdefault(step, array.array("d")).append(done - started)
        elif len(self.samples) < 5:
            self.samples.append(f"{step}: {status} {body[:300].decode(errors='replace')}")

    def error(self, step: str, exc: BaseException, started: float) -> None:
        if started >= self.t0:
            self.errors[step] = self.errors.get(step, 0) + 1
            if len(self.samples) < 5:
                self.samples.append(f"{step}: {type(exc).__name__}: {exc}")


async def watchdog(conns: list[Conn], stop: asyncio.Event) -> None:
    while not stop.is_set():
        now = time.monotonic()
        for c in conns:
            if c.waiter is not None and now - c.sent_at > TIMEOUT_S:
                c.abort()
        await asyncio.sleep(0.5)


async def run_job(job: dict, start: float) -> dict:
    loop = asyncio.get_running_loop()
    port = job["port"]
    warm = job.get("warmup", 0.0)
    t0 = start + warm
    t1 = t0 + job["seconds"]
    rec = Recorder(t0, t1)
    conns: list[Conn] = []
    stop = asyncio.Event()
    mode = job["mode"]
    worker = job["worker"]
    counter = iter(range(10**9))

    async def new_conn() -> Conn:
        c = await connect(loop, port)
        conns.append(c)
        return c

    async def call(conn_box: list, step: str, raw: bytes, expected: int) -> tuple[int, bytes] | None:
        started = time.monotonic()
        try:
            if conn_box[0].closed:
                conn_box[0] = await new_conn()
            status, body = await conn_box[0].request(raw)
        except (HttpError, OSError) as exc:
            rec.error(step, exc, started)
            try:
                conn_box[0] = await new_conn()
            except OSError:
                await asyncio.sleep(0.05)
            return None
        rec.add(step, started, time.monotonic(), status, body, expected)
        return status, body

    # --- modes ---
    async def get_client(i: int) -> None:
        box = [await new_conn()]
        raw = build_request("GET", job["path"], port)
        while time.monotonic() < t1:
            await call(box, "get", raw, 200)

    async def submit_client(i: int) -> None:
        box = [await new_conn()]
        acct = job["accounts"][(job["client_offset"] + i) % len(job["accounts"])]
        while time.monotonic() < t1:
            n = next(counter)
            body = application_body(passport_number(job["prefix"], worker, n), acct["photo_id"], n)
            raw = build_request("POST", job["path"], port, body=body, token=acct.get("token"))
            await call(box, "submit", raw, 201)

    seats: list[str] = list(job.get("seats", []))
    journeys_done = array.array("d")  # completion times of whole journeys
    journey_lat = array.array("d")
    out_of_slots = [False]

    async def journey_client(i: int) -> None:
        box = [await new_conn()]
        acct = job["accounts"][(job["client_offset"] + i) % len(job["accounts"])]
        off = job["officials"]
        slots_req = build_request("GET", "/api/v1/sites/MK-ALG/slots", port)
        while time.monotonic() < t1:
            n = next(counter)
            j_start = time.monotonic()
            body = application_body(passport_number(job["prefix"], worker, n), acct["photo_id"], n)
            r = await call(box, "submit", build_request("POST", "/api/v1/applications", port, body=body,
                                                        token=acct["token"]), 201)
            if r is None or r[0] != 201:
                continue
            app_id = json.loads(r[1])["id"]
            r = await call(box, "slots", slots_req, 200)
            if r is None or r[0] != 200:
                continue
            booked = False
            while seats and not booked:
                starts_at = seats.pop(0)
                r = await call(box, "book", build_request(
                    "POST", f"/api/v1/applications/{app_id}/appointment", port, token=acct["token"],
                    body=json.dumps({"starts_at": starts_at, "mode": "video"}).encode()), 201)
                booked = r is not None and r[0] == 201
                if r is not None and r[0] == 409:  # seat taken: the status is counted, try the next
                    continue
                if not booked:
                    break
            if not booked:
                if not seats:
                    out_of_slots[0] = True
                    return
                continue
            steps = (
                ("identity_check", f"/api/v1/cases/{app_id}/identity-check", off["agent"],
                 {"passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True}, 201),
                ("claim", f"/api/v1/cases/{app_id}/claim", off["reviewer"], None, 200),
                ("recommend", f"/api/v1/cases/{app_id}/recommend", off["reviewer"],
                 {"recommendation": "approve", "note": "Identity verified at the site; checks pass."}, 200),
                ("decide", f"/api/v1/cases/{app_id}/decide", off["approver"],
                 {"decision": "approve", "reasons": ""}, 200),
            )
            ok = True
            for step, path, token, payload, expected in steps:
                raw = build_request("POST", path, port, token=token,
                                    body=json.dumps(payload).encode() if payload is not None else b"")
                r = await call(box, step, raw, expected)
                if r is None or r[0] != expected:
                    ok = False
                    break
            done = time.monotonic()
            if ok and j_start >= t0 and done <= t1:
                journeys_done.append(done - t0)
                journey_lat.append(done - j_start)

    client = {"get": get_client, "submit": submit_client, "journey": journey_client}[mode]
    wd = asyncio.ensure_future(watchdog(conns, stop))
    delay = start - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    results = await asyncio.gather(*(client(i) for i in range(job["clients"])), return_exceptions=True)
    stop.set()
    await wd
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    crashes = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    lat_path = job["out"]
    index = {}
    with open(lat_path, "wb") as fh:
        for step, arr in list(rec.lat.items()) + [("journey", journey_lat)]:
            index[step] = len(arr)
            arr.tofile(fh)
    return {"worker": worker, "status": {k: {str(s): n for s, n in v.items()} for k, v in rec.status.items()},
            "errors": rec.errors, "samples": rec.samples, "crashes": crashes[:3], "lat_index": index,
            "journeys": len(journeys_done), "last_journey_at": max(journeys_done, default=0.0),
            "out_of_slots": out_of_slots[0], "seats_left": len(seats)}


def read_latencies(path: str, index: dict) -> dict[str, array.array]:
    out = {}
    with open(path, "rb") as fh:
        for step, n in index.items():
            arr = array.array("d")
            if n:
                arr.fromfile(fh, n)
            out[step] = arr
    return out


def main() -> None:
    job = json.loads(sys.stdin.readline())
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print("ready", flush=True)
    line = sys.stdin.readline().split()
    if not line or line[0] != "go":
        return
    start = float(line[1])
    result = runner(run_job(job, start))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
