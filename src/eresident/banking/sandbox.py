"""The sandbox partner bank: a separate process (`eresident sandbox-bank`, port 8009) with its own SQLite
database and Ed25519 key. It takes signed account requests from region nodes (idempotent by key),
applies its own KYC rules (data/banking/sandbox_kyc.yaml: refuse, ask for a video call, or open a
basic RMB account and a foreign-currency capital account with 19-digit Luhn-checked numbers), and
answers later by signed callbacks it retries until the node accepts them. A founder's withdrawn consent
(POST /v1/consent-withdrawals) stops a request and deletes its package, unless the accounts are open
already; a request that arrives after its withdrawal is refused. For tests it can be made
slow, erroring or unavailable (ERESIDENT_SANDBOX_BANK_MODE or POST /admin/mode)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import sqlite3
import threading
import time
import uuid
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import httpx
import structlog
import yaml
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from eresident.banking import protocol
from eresident.config import Settings
from eresident.federation import httpsig
from eresident.federation.service import retry_delay
from eresident.kit.errors import FieldError, Problem, invalid
from eresident.kit.web import problem_response, validation_problem

log = structlog.get_logger("eresident.sandbox_bank")
CODE = "SANDBOX"
BRANCH = {"LJ": "50", "TF": "51"}
PRODUCT_PREFIX = {"basic_rmb": "62170", "capital_foreign_currency": "62171"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests(ref TEXT PRIMARY KEY, node_request_id TEXT NOT NULL, region TEXT NOT NULL,
  callback_url TEXT NOT NULL, package TEXT NOT NULL, status TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0,
  slots TEXT, booked_slot TEXT, reason TEXT, received_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  UNIQUE(region, node_request_id));
CREATE TABLE IF NOT EXISTS idempotency(region TEXT NOT NULL, key TEXT NOT NULL, body_sha256 TEXT NOT NULL,
  status_code INTEGER NOT NULL, response TEXT NOT NULL, PRIMARY KEY(region, key));
CREATE TABLE IF NOT EXISTS accounts(number TEXT PRIMARY KEY, ref TEXT NOT NULL, kind TEXT NOT NULL,
  currency TEXT NOT NULL, opened_at TEXT NOT NULL, UNIQUE(ref, kind));
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox(event_id TEXT PRIMARY KEY, ref TEXT NOT NULL, seq INTEGER NOT NULL,
  url TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL,
  delivered_at TEXT, last_error TEXT);
CREATE TABLE IF NOT EXISTS withdrawals(region TEXT NOT NULL, node_request_id TEXT NOT NULL, withdrawn_at TEXT NOT NULL,
  received_at TEXT NOT NULL, PRIMARY KEY(region, node_request_id));
CREATE INDEX IF NOT EXISTS ix_outbox_due ON outbox(next_attempt_at);
CREATE INDEX IF NOT EXISTS ix_requests_status ON requests(status);
"""


def kyc_rules() -> dict:
    return yaml.safe_load((resources.files("eresident") / "data" / "banking" / "sandbox_kyc.yaml")
                          .read_text(encoding="utf-8"))


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().upper()


def decide(package: dict, now: datetime, rules: dict | None = None) -> tuple[str, dict]:
    """The bank's KYC decision on a package: ("refused" | "video_call_required" | "open", detail)."""
    rules = rules or kyc_rules()
    denied = {_norm(n) for n in rules["deny_list"]}
    for owner in package.get("beneficial_owners", []):
        if _norm(str(owner.get("name", ""))) in denied:
            return "refused", {"reason": "A beneficial owner is on the bank's restricted-persons list.",
                               "what_to_do": "The bank cannot open accounts for this company. You may ask another "
                                             "partner bank; the bank does not give further details."}
    company = package.get("company", {})
    rate = Decimal(str(rules["rates_to_cny"].get(company.get("currency"), 0)))
    try:
        capital_cny = Decimal(str(company.get("registered_capital"))) * rate
    except InvalidOperation:
        capital_cny = Decimal(0)
    threshold = Decimal(str(rules["video_call_capital_cny_over"]))
    if rate == 0 or capital_cny > threshold:
        spec = rules["video_call_slots"]
        zone = ZoneInfo(spec["timezone"])
        day = now.astimezone(zone).date()
        slots: list[str] = []
        while len(slots) < int(spec["count"]):
            day += timedelta(days=1)
            if day.weekday() < 5:
                slots.append(protocol.iso(datetime(day.year, day.month, day.day, int(spec["hour"]), tzinfo=zone)))
        return "video_call_required", {
            "reason": f"registered capital above CNY {threshold:,.0f}: the bank meets the legal representative "
                      "by video before opening the accounts", "slots": slots}
    return "open", {}


class Bank:
    """The bank's state: its database, key, mode, the nodes it serves and their keys."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.sandbox_bank_data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = protocol.load_or_create_bank_key(self.dir / "keys" / "bank-signing.jwks.json", CODE)
        self.conn = sqlite3.connect(self.dir / "bank.db", check_same_thread=False, isolation_level=None,
                                    timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.mode = settings.sandbox_bank_mode
        self.delay = settings.sandbox_bank_delay_seconds
        self.base_url = settings.sandbox_bank_base_url.rstrip("/")
        self.clients = [u.strip().rstrip("/") for u in settings.sandbox_bank_clients.split(",") if u.strip()]
        self.node_keys: dict[str, tuple] = {}
        self._keys_fetched = 0.0
        self.stop = threading.Event()
        self.rng = random.Random()
        self.rules = kyc_rules()

    @contextmanager
    def tx(self):
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    # --- node keys ------------------------------------------------------------------------------

    def resolve_node_key(self, kid: str, created: int):
        found = self.node_keys.get(kid)
        if found is None and time.monotonic() - self._keys_fetched > 2.0:
            self._keys_fetched = time.monotonic()
            for url in self.clients:
                try:
                    doc = httpx.get(url + protocol.NODE_KEYS_PATH, timeout=5).json()
                    for jwk in doc.get("keys", []):
                        self.node_keys[jwk["kid"]] = (protocol.public_key_of(jwk), doc["region"], url, jwk)
                except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
                    continue
            found = self.node_keys.get(kid)
        if found is None:
            raise httpsig.SignatureError("key-unknown", "The request is signed with a key of no node this bank serves.")
        public, region, url, jwk = found
        if not protocol.key_window_ok(jwk, created):
            raise httpsig.SignatureError("key-expired", "The node key is not valid at the signature's time.")
        return public, (region, url)

    # --- numbers --------------------------------------------------------------------------------

    def _next(self, conn, name: str) -> int:
        conn.execute("INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
                     (name,))
        return conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]

    def _account_number(self, conn, product: str, region: str) -> str:
        serial = self._next(conn, f"account:{product}")
        body = f"{PRODUCT_PREFIX[product]}{BRANCH.get(region, '00')}{serial:011d}"
        return body + protocol.luhn_check_digit(body)

    # --- events ---------------------------------------------------------------------------------

    def _emit(self, conn, ref: str, status: str, detail: dict) -> None:
        node_request_id, callback_url, seq = conn.execute(
            "SELECT node_request_id, callback_url, seq FROM requests WHERE ref = ?", (ref,)).fetchone()
        seq += 1
        now = datetime.now(UTC)
        event_id = str(uuid.uuid4())
        body = protocol.dumps({"event_id": event_id, "request_id": node_request_id, "bank_reference": ref,
                               "seq": seq, "status": status, "at": protocol.iso(now), "detail": detail})
        conn.execute("UPDATE requests SET status = ?, seq = ?, updated_at = ? WHERE ref = ?",
                     (status, seq, protocol.iso(now), ref))
        conn.execute("INSERT INTO outbox(event_id, ref, seq, url, body, attempts, next_attempt_at) "
                     "VALUES (?, ?, ?, ?, ?, 0, ?)", (event_id, ref, seq, callback_url, body.decode(), time.time()))

    def _open(self, conn, ref: str, region: str, package: dict) -> None:
        currency = package.get("company", {}).get("currency") or "USD"
        accounts = []
        for product, cur in (("basic_rmb", "CNY"), ("capital_foreign_currency", currency if currency != "CNY" else "USD")):
            number = self._account_number(conn, product, region)
            conn.execute("INSERT INTO accounts(number, ref, kind, currency, opened_at) VALUES (?, ?, ?, ?, ?)",
                         (number, ref, product, cur, protocol.iso(datetime.now(UTC))))
            accounts.append({"number": number, "kind": product, "currency": cur})
        self._emit(conn, ref, "opened", {"accounts": accounts})

    # --- the worker -----------------------------------------------------------------------------

    def process_received(self) -> int:
        rows = self.query("SELECT ref FROM requests WHERE status = 'received' ORDER BY received_at LIMIT 50")
        for (ref,) in rows:
            with self.tx() as conn:
                row = conn.execute("SELECT region, package, status FROM requests WHERE ref = ?", (ref,)).fetchone()
                if row is None or row[2] != "received":
                    continue
                region, package = row[0], json.loads(row[1])
                verdict, detail = decide(package, datetime.now(UTC), self.rules)
                if verdict == "open":
                    self._open(conn, ref, region, package)
                else:
                    if verdict == "video_call_required":
                        conn.execute("UPDATE requests SET slots = ? WHERE ref = ?", (json.dumps(detail["slots"]), ref))
                    conn.execute("UPDATE requests SET reason = ? WHERE ref = ?", (detail["reason"], ref))
                    self._emit(conn, ref, verdict, detail)
        return len(rows)

    def deliver_due(self, client: httpx.Client) -> int:
        due = self.query("SELECT event_id, url, body, attempts FROM outbox WHERE delivered_at IS NULL "
                         "AND next_attempt_at <= ? ORDER BY ref, seq LIMIT 50", (time.time(),))
        delivered = 0
        for event_id, url, body, attempts in due:
            data = body.encode()
            headers = protocol.sign_post(url=url, body=data, private_key=self.key.private_key, kid=self.key.kid,
                                         now=datetime.now(UTC), nonce=event_id)
            ok, error = False, ""
            try:
                r = client.post(url, content=data, headers=headers)
                ok = r.status_code == 200 and r.json().get("event_id") == event_id
                error = "" if ok else f"HTTP {r.status_code}: {r.text[:200]}"
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self.tx() as conn:
                if ok:
                    conn.execute("UPDATE outbox SET delivered_at = ?, next_attempt_at = NULL, attempts = ? "
                                 "WHERE event_id = ?", (protocol.iso(datetime.now(UTC)), attempts + 1, event_id))
                    delivered += 1
                else:
                    wait = retry_delay(attempts + 1, base=1.0, cap=60.0, rng=self.rng)
                    conn.execute("UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE event_id = ?",
                                 (attempts + 1, time.time() + wait, error[:500], event_id))
        return delivered

    def run_worker(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    self.process_received()
                    self.deliver_due(client)
                except Exception as exc:  # noqa: BLE001 - the worker keeps going; the rows stay
                    log.error("sandbox_bank.worker_failed", error_type=type(exc).__name__, error=str(exc))
                self.stop.wait(0.1)

    # --- requests from nodes --------------------------------------------------------------------

    def check_mode(self) -> None:
        if self.mode == "unavailable":
            raise Problem(503, "The bank is unavailable", code="unavailable", detail="Try again later.")
        if self.mode == "error":
            raise Problem(500, "The bank had an error", code="internal", detail="Sandbox error mode.")

    def verify(self, request: Request, body: bytes) -> tuple[str, str, str]:
        """(region, node base URL, idempotency key) of a signed node request, or 401."""
        target = self.base_url + request.url.path
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            checked = protocol.verify_post(target_uri=target, headers=headers, body=body, now=datetime.now(UTC),
                                           resolve_key=self.resolve_node_key, covered=protocol.REQUEST_COVERED)
        except httpsig.SignatureError as exc:
            raise Problem(401, "Request refused", code=exc.code, detail=exc.detail) from None
        key = request.headers.get("idempotency-key", "")
        if not (1 <= len(key) <= 64):
            raise invalid("Idempotency-Key", "a key of 1 to 64 characters")
        node = checked.key
        assert isinstance(node, tuple)  # what resolve_node_key returns beside the key: (region, url)
        region, url = node
        return region, url, key

    def idempotent(self, conn, region: str, key: str, digest: str) -> JSONResponse | None:
        row = conn.execute("SELECT body_sha256, status_code, response FROM idempotency WHERE region = ? AND key = ?",
                           (region, key)).fetchone()
        if row is None:
            return None
        if row[0] != digest:
            raise Problem(409, "Idempotency key reused", code="idempotency-key-reused",
                          detail="This key was used with a different body; nothing was done.")
        return JSONResponse(json.loads(row[2]), status_code=row[1], headers={"Idempotent-Replayed": "true"})

    def remember(self, conn, region: str, key: str, digest: str, status_code: int, response: dict) -> None:
        conn.execute("INSERT INTO idempotency(region, key, body_sha256, status_code, response) VALUES (?, ?, ?, ?, ?)",
                     (region, key, digest, status_code, json.dumps(response)))

    def slow(self) -> None:
        if self.mode == "slow" and self.delay:
            time.sleep(self.delay)


def _validate_package(data: object, key: str) -> dict:
    if not isinstance(data, dict):
        raise invalid("body", "the KYC package is a JSON object")
    if data.get("request_id") != key:
        raise invalid("request_id", "the request id is the Idempotency-Key")
    company = data.get("company")
    if not isinstance(company, dict) or not isinstance(company.get("uscc"), str) or len(company["uscc"]) != 18:
        raise invalid("company/uscc", "the company's 18-character USCC")
    owners = data.get("beneficial_owners")
    if not isinstance(owners, list) or not owners or not all(isinstance(o, dict) and o.get("name") for o in owners):
        raise invalid("beneficial_owners", "at least one beneficial owner with a name")
    consent = data.get("consent")
    if not isinstance(consent, dict) or not re.fullmatch(r"[0-9a-f]{64}", str(consent.get("text_sha256", ""))):
        raise invalid("consent/text_sha256", "the founder's consent to share with this bank is required")
    if not isinstance(data.get("e_residency"), dict):
        raise invalid("e_residency", "the founder's e-residency (number and credential id)")
    return data


async def raw_body(request: Request) -> bytes:
    return await request.body()


Body = Annotated[bytes, Depends(raw_body)]


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["normal", "slow", "error", "unavailable"]
    delay_seconds: float = Field(default=0.0, ge=0, le=120)


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passed: bool


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_id: str = Field(min_length=1, max_length=64)
    withdrawn_at: str = Field(max_length=40)


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_id: str
    slot: str


def create_bank_app(settings: Settings | None = None, *, start_worker: bool = True) -> FastAPI:
    settings = settings or Settings()
    bank = Bank(settings)

    @asynccontextmanager
    async def lifespan(_app):
        worker = threading.Thread(target=bank.run_worker, name="sandbox-bank-worker", daemon=True)
        if start_worker:
            worker.start()
        yield
        bank.stop.set()
        if start_worker:
            worker.join(timeout=5)

    app = FastAPI(title="Partner bank interface (sandbox bank)", version="1.0.0", lifespan=lifespan,
                  description="What a region node and a partner bank say to each other. Node → bank requests are "
                              "JSON, carry an Idempotency-Key and are signed (RFC 9421, ed25519, covering @method, "
                              "@target-uri, content-digest, content-type, idempotency-key; Content-Digest RFC 9530) "
                              "with the node's federation key (its /.well-known/eresident/node-keys). The bank "
                              "answers 202 at once and decides later; each decision is a signed callback "
                              "(POST {node}/api/v1/bank-callbacks, the bank's key from /.well-known/bank-keys, "
                              "nonce = event_id) retried until the node answers 200; the node accepts only keys "
                              "its operator pinned from that document. A founder's withdrawn consent arrives as a "
                              "signed POST /v1/consent-withdrawals {request_id, withdrawn_at}: the bank stops the "
                              "request and deletes its package (or keeps it, when the accounts are open, as the law "
                              "requires) and refuses that request id from then on. Errors are RFC 9457 problems.")
    app.state.bank = bank

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem):
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        return problem_response(validation_problem(exc), request)

    def admin(authorization: Annotated[str, Header()] = "") -> None:
        if not hmac.compare_digest(authorization.encode(), f"Bearer {settings.sandbox_bank_admin_token}".encode()):
            raise Problem(401, "Admin token required", code="unauthenticated")

    @app.get("/healthz", tags=["bank"])
    def healthz() -> dict:
        return {"status": "ok", "bank": CODE, "mode": bank.mode}

    @app.get(protocol.BANK_KEYS_PATH, tags=["bank"], summary="The bank's public keys (callbacks are signed with them)")
    def keys() -> dict:
        return {"bank": CODE, "keys": [bank.key.public_jwk()]}

    @app.post(protocol.REQUESTS_PATH, status_code=202, tags=["bank"],
              summary="Ask for a basic RMB account and a foreign-currency capital account (a signed KYC package)",
              responses={401: {"description": "signature refused"}, 409: {"description": "key reused"},
                         422: {"description": "the package lacks a field"}})
    def account_request(request: Request, body: Body) -> JSONResponse:
        bank.check_mode()
        region, url, key = bank.verify(request, body)
        digest = hashlib.sha256(body).hexdigest()
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise invalid("body", "the KYC package is JSON") from None
        with bank.tx() as conn:
            repeat = bank.idempotent(conn, region, key, digest)
            if repeat is None and conn.execute("SELECT 1 FROM withdrawals WHERE region = ? AND node_request_id = ?",
                                               (region, key)).fetchone():
                raise Problem(409, "Consent withdrawn", code="consent-withdrawn",
                              detail="The founder withdrew the consent to share this request; nothing was stored.")
            if repeat is None:
                package = _validate_package(data, key)
                ref = "SBX" + uuid.uuid4().hex[:13].upper()
                now = protocol.iso(datetime.now(UTC))
                conn.execute("INSERT INTO requests(ref, node_request_id, region, callback_url, package, status, seq, "
                             "received_at, updated_at) VALUES (?, ?, ?, ?, ?, 'received', 0, ?, ?)",
                             (ref, key, region, url + protocol.CALLBACK_PATH, json.dumps(package), now, now))
                answer = {"request_id": key, "bank_reference": ref, "status": "received"}
                bank.remember(conn, region, key, digest, 202, answer)
        bank.slow()  # after the commit: a client that gives up has still been heard, once
        return repeat or JSONResponse(answer, status_code=202)

    @app.post("/v1/account-requests/{ref}/video-call", tags=["bank"], summary="Book an offered video-call slot")
    def book(ref: str, request: Request, body: Body) -> JSONResponse:
        bank.check_mode()
        region, _url, key = bank.verify(request, body)
        digest = hashlib.sha256(body).hexdigest()
        try:
            data = BookingIn.model_validate_json(body)
        except ValueError:
            raise invalid("slot", "a request_id and one of the offered slots") from None
        with bank.tx() as conn:
            repeat = bank.idempotent(conn, region, key, digest)
            if repeat is None:
                row = conn.execute("SELECT node_request_id, status, slots FROM requests WHERE ref = ? AND region = ?",
                                   (ref, region)).fetchone()
                if row is None or row[0] != data.request_id:
                    raise Problem(404, "No such request", code="not-found")
                if row[1] != "video_call_required":
                    raise Problem(409, "No video call to book", code="wrong-status",
                                  detail=f"The request is {row[1]}.")
                if data.slot not in json.loads(row[2] or "[]"):
                    raise Problem(422, "Not an offered slot", code="invalid-field",
                                  errors=[FieldError("slot", "one of the offered slots")])
                conn.execute("UPDATE requests SET booked_slot = ? WHERE ref = ?", (data.slot, ref))
                bank._emit(conn, ref, "video_call_booked",
                           {"slot": data.slot, "join_url": f"{bank.base_url}/video/{ref}"})
                answer = {"request_id": data.request_id, "bank_reference": ref, "status": "video_call_booked"}
                bank.remember(conn, region, key, digest, 200, answer)
        bank.slow()
        return repeat or JSONResponse(answer)

    @app.post(protocol.WITHDRAWALS_PATH, tags=["bank"],
              summary="The founder withdrew the consent to share a request: stop it and delete its package")
    def withdrawal(request: Request, body: Body) -> JSONResponse:
        bank.check_mode()
        region, _url, key = bank.verify(request, body)
        digest = hashlib.sha256(body).hexdigest()
        try:
            data = WithdrawalIn.model_validate_json(body)
        except ValueError:
            raise invalid("request_id", "the request id of the node and when the consent was withdrawn") from None
        with bank.tx() as conn:
            repeat = bank.idempotent(conn, region, key, digest)
            if repeat is None:
                now = protocol.iso(datetime.now(UTC))
                conn.execute("INSERT OR IGNORE INTO withdrawals(region, node_request_id, withdrawn_at, received_at) "
                             "VALUES (?, ?, ?, ?)", (region, data.request_id, data.withdrawn_at, now))
                row = conn.execute("SELECT ref, status FROM requests WHERE region = ? AND node_request_id = ?",
                                   (region, data.request_id)).fetchone()
                answer: dict[str, Any] = {"request_id": data.request_id, "status": "withdrawn"}
                if row is None:
                    answer |= {"held": "nothing", "detail": "The bank holds nothing for this request and will "
                                                            "refuse it if it arrives."}
                elif row[1] == "opened":
                    accounts = [{"number": n, "kind": k, "currency": c} for n, k, c in conn.execute(
                        "SELECT number, kind, currency FROM accounts WHERE ref = ? ORDER BY kind", (row[0],))]
                    answer |= {"bank_reference": row[0], "held": "kept", "accounts": accounts,
                               "detail": "The accounts were opened before the withdrawal and stay open; the bank "
                                         "keeps the KYC record as the anti-money-laundering rules require and "
                                         "shares it with nobody."}
                else:
                    conn.execute("UPDATE requests SET status = 'withdrawn', package = '{}', slots = NULL, "
                                 "updated_at = ? WHERE ref = ?", (now, row[0]))
                    conn.execute("DELETE FROM outbox WHERE ref = ? AND delivered_at IS NULL", (row[0],))
                    answer |= {"bank_reference": row[0], "held": "deleted",
                               "detail": "The request was withdrawn before; its KYC package is deleted."
                               if row[1] == "withdrawn" else
                               f"The bank stopped the request (it was {row[1].replace('_', ' ')}) and deleted its "
                               "KYC package."}
                bank.remember(conn, region, key, digest, 200, answer)
        return repeat or JSONResponse(answer)

    @app.post("/admin/mode", tags=["admin"], dependencies=[Depends(admin)],
              summary="Make the bank slow, erroring or unavailable (tests)")
    def set_mode(body: ModeIn) -> dict:
        bank.mode, bank.delay = body.mode, body.delay_seconds
        return {"mode": bank.mode, "delay_seconds": bank.delay}

    @app.post("/admin/video-calls/{ref}/complete", tags=["admin"], dependencies=[Depends(admin)],
              summary="The video call took place: open the accounts or refuse")
    def complete(ref: str, body: CompleteIn) -> dict:
        with bank.tx() as conn:
            row = conn.execute("SELECT region, package, status FROM requests WHERE ref = ?", (ref,)).fetchone()
            if row is None:
                raise Problem(404, "No such request", code="not-found")
            if row[2] != "video_call_booked":
                raise Problem(409, "No booked video call", code="wrong-status", detail=f"The request is {row[2]}.")
            if body.passed:
                bank._open(conn, ref, row[0], json.loads(row[1]))
            else:
                bank._emit(conn, ref, "refused", {"reason": "The video call did not confirm the legal "
                                                            "representative's identity.",
                                                  "what_to_do": "Contact the bank to arrange another call."})
        return {"ref": ref, "passed": body.passed}

    @app.get("/admin/requests", tags=["admin"], dependencies=[Depends(admin)], summary="Every request and account")
    def all_requests() -> list[dict]:
        out = []
        for ref, node_request_id, region, status, seq in bank.query(
                "SELECT ref, node_request_id, region, status, seq FROM requests ORDER BY received_at"):
            accounts = [{"number": n, "kind": k, "currency": c} for n, k, c in bank.query(
                "SELECT number, kind, currency FROM accounts WHERE ref = ? ORDER BY kind", (ref,))]
            pending = bank.query("SELECT count(*) FROM outbox WHERE ref = ? AND delivered_at IS NULL", (ref,))[0][0]
            out.append({"ref": ref, "request_id": node_request_id, "region": region, "status": status, "seq": seq,
                        "accounts": accounts, "callbacks_pending": pending})
        return out

    return app


def app_from_env() -> FastAPI:
    from eresident.kit.logging import configure

    settings = Settings()
    configure(settings.log_level, settings.log_json)
    return create_bank_app(settings)
