"""Faults between nodes and to the bank (issue 9): a real fault-injecting proxy (tests/reliability/faults.py)
sits on the wire between a Liangjiang node and the Tianfu node (its own `eresident serve` process and
worker, on its own database), and between the Liangjiang node and the sandbox bank (its own process).
For each fault — peer or bank down, slow past the client's timeout, 500/502/503, 200 with HTML, with
JSON of the wrong shape or with a truncated body, the answer cut after the request was forwarded, and
the target killed mid-request and restarted — real work goes through it (signed pings and the
duplicate question of an applicant's e-residency application; a founder's bank account request).
While the fault lasts the applicant gets no 5xx and the operator sees it with its reason (the
federation status API and CLI, the officers' stuck bank requests). Then the fault heals, the node's
own delivery jobs run until the outbox is empty, and the receiver must hold every piece of work
exactly once. The figures go to test-artifacts/reliability/faults-<backend>.json."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from eresident.app import create_app
from eresident.banking import service as banking
from eresident.banking import trust as bank_trust
from eresident.banking.models import BankOutboxMessage
from eresident.config import Settings
from eresident.federation import service as federation
from eresident.federation import trust
from eresident.federation.models import OutboxMessage
from eresident.federation.recognition import DUPLICATE_CHECK
from eresident.identity.models import CheckResult
from eresident.kit.clock import Clock, FrozenClock
from eresident.kit.context import build_context
from eresident.kit.db import Database
from eresident.kit.jobs import JOBS
from eresident.seed import seed_demo
from tests.banking.conftest import SandboxBank, real_time
from tests.conftest import START
from tests.factories import Api, Person, bearer
from tests.federation.conftest import peer_database_url, pg_peer_database  # noqa: F401  (fixtures)
from tests.live import free_port, wait_for
from tests.reliability import faults
from tests.reliability.faults import FAULTS, FaultProxy, NodeProcess, outcome

pytestmark = pytest.mark.slow

JOB = {job.name: job.run for job in JOBS}  # what `eresident worker` runs, called one turn at a time
PINGS_PER_FAULT = 3
# `make soak` repeats every fault this many times (new work each round); `make test` once.
ROUNDS = int(os.environ.get("ERESIDENT_SOAK_FAULT_ROUNDS", "1"))


class LocalNode:
    """The Liangjiang node in the test process, on a real socket (uvicorn in a thread), with its
    own database; applicants reach it over HTTP and every answer's status is kept."""

    def __init__(self, settings: Settings, clock):
        self.settings = settings
        self.database = Database(settings.database_url)
        self.ctx = build_context(settings, clock=clock, database=self.database, password_profile="fast")
        self.app = create_app(settings, context=self.ctx)
        self.statuses: list[tuple[str, str, int]] = []  # (method, path, status) of every applicant call
        seed_demo(self.ctx)
        self.server, self.thread = faults.serve_in_thread(self.app, int(settings.base_url.rsplit(":", 1)[1]))

    def _seen(self, response: httpx.Response) -> None:
        self.statuses.append((response.request.method, response.request.url.path, response.status_code))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.settings.base_url, timeout=30, event_hooks={"response": [self._seen]})

    def server_errors(self, since: int = 0) -> list[tuple[str, str, int]]:
        return [s for s in self.statuses[since:] if s[2] >= 500]

    def close(self) -> None:
        faults.stop_server(self.server, self.thread)
        self.database.dispose()


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


def introduce(settings: Settings, document_url: str, *, now) -> None:
    """`eresident federation trust add --from-url` without the process start: the peer's node-keys
    document, fetched over HTTP, into this node's trust list."""
    document = httpx.get(document_url + "/.well-known/eresident/node-keys", timeout=10).json()
    incoming = trust.parse_node_keys(document, own_region=settings.region)
    merged, _ = trust.merge_peer(trust.load_trust(settings), incoming, now=now)
    trust.save_trust(settings, merged)




def as_uuid(value) -> str:
    return str(uuid.UUID(str(value)))


# --- between nodes --------------------------------------------------------------------------------

class Federation:
    """LJ (in the test process) → proxy → TF (`eresident serve` + `eresident worker`)."""

    def __init__(self, tmp_path: Path, lj_url: str, tf_url: str, *, tf_in_process: bool = False):
        self.tf_port = free_port()
        self.proxy = FaultProxy("TF", self.tf_port).start()
        lj_port = free_port()
        self.lj = LocalNode(Settings(region="LJ", database_url=lj_url, data_dir=tmp_path / "LJ",
                                     base_url=f"http://127.0.0.1:{lj_port}", log_level="WARNING",
                                     federation_timeout_seconds=1.0, federation_retry_base_seconds=0.2,
                                     federation_retry_max_seconds=1.0),
                            Clock())
        self.tf_url = tf_url
        self.tf: NodeProcess | None = None
        self.tf_local: tuple | None = None
        if tf_in_process:  # a receiver whose code the test changes (the planted defect)
            tf_settings = Settings(region="TF", database_url=tf_url, data_dir=tmp_path / "TF", base_url=self.proxy.url,
                                   log_level="WARNING")
            database = Database(tf_url)
            tf_ctx = build_context(tf_settings, clock=Clock(), database=database, password_profile="fast")
            self.tf_local = (database, *faults.serve_in_thread(create_app(tf_settings, context=tf_ctx), self.tf_port))
        else:
            self.tf = NodeProcess("TF", tmp_path, tf_url, base_url=self.proxy.url, port=self.tf_port)
            self.proxy.kill_target = self.tf.kill
            self.tf.serve()
            tf_settings = self.tf.settings()
        introduce(self.lj.settings, self.proxy.url, now=self.lj.ctx.clock.now())  # through the proxy
        introduce(tf_settings, self.lj.settings.base_url, now=self.lj.ctx.clock.now())
        if self.tf is not None:
            self.tf.start_worker()  # carries TF's answers back to LJ
        self.api = Api(self.lj)
        self.admin = self.api.official("lj-admin")  # one sign-in for the whole test (the real clock)

    def close(self) -> None:
        self.proxy.stop()
        if self.tf is not None:
            self.tf.stop()
        if self.tf_local is not None:
            database, server, thread = self.tf_local
            faults.stop_server(server, thread)
            database.dispose()
        self.api.client.close()
        self.lj.close()

    def tf_query(self, sql: str) -> list[tuple]:
        return faults.query(self.tf_url, sql)

    def pings(self, n: int, tag: str) -> list[str]:
        """The business side queues pings (as `eresident federation ping` does)."""
        ctx = self.lj.ctx
        with ctx.database.session(write=True) as db:
            return [as_uuid(federation.enqueue(ctx=ctx, db=db, peer="TF", kind="ping",
                                               payload={"echo": f"{tag} {i}"}).id) for i in range(n)]

    def outbox(self, kinds: tuple[str, ...]) -> dict[str, tuple]:
        """LJ's outbox rows of these kinds: id -> (attempts, delivered_at, last_error, dead_at)."""
        with self.lj.ctx.database.session(write=False) as db:
            return {as_uuid(r.id): (r.attempts, r.delivered_at, r.last_error, r.dead_at)
                    for r in db.scalars(select(OutboxMessage).where(OutboxMessage.kind.in_(kinds)))}

    def peer_status(self) -> dict:
        r = self.api.client.get("/api/v1/federation/status", headers=bearer(self.admin))
        assert r.status_code == 200, r.text
        return next(p for p in r.json()["peers"] if p["region"] == "TF")

    def deliver_until_sent(self, ids: list[str], timeout: float = 30) -> int:
        """Run LJ's delivery job until every one of `ids` is delivered; returns how many turns it took."""
        turns = 0

        def done() -> bool:
            nonlocal turns
            JOB["federation.deliver"](self.lj.ctx)
            turns += 1
            rows = self.outbox(("ping", "recognition.duplicate_query"))
            return all(rows[i][1] is not None for i in ids)
        wait_for(done, timeout, f"LJ's outbox to deliver {len(ids)} messages", every=0.2)
        return turns

    def effects(self, ids: list[str]) -> faults.Outcome:
        """What TF did with them: one audit event per applied ping or duplicate question."""
        rows = self.tf_query("SELECT entity_id FROM audit_events WHERE action IN "
                             "('federation.ping', 'recognition.duplicate_query')")
        return outcome(ids, [as_uuid(r[0]) for r in rows if as_uuid(r[0]) in set(ids)])


def submit_application(api: Api) -> str:
    """An applicant signs up, uploads a photo and submits (consenting to the cross-region duplicate
    check): the node asks its peers through the outbox, the applicant waits for nothing."""
    token = api.applicant()
    r = api.submit(token, Person(surname="FAULT"))
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    r = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token))
    assert r.status_code == 200, r.text
    return app_id


def duplicate_check(fed: Federation, app_id: str) -> str | None:
    """The outcome of the application's duplicate check with TF (pending until TF's answer is back)."""
    with fed.lj.ctx.database.session(write=False) as db:
        return db.scalar(select(CheckResult.outcome).where(CheckResult.application_id == uuid.UUID(app_id),
                                                           CheckResult.check == DUPLICATE_CHECK))


def run_federation_fault(fed: Federation, fault: str, tag: str) -> dict:
    started = time.monotonic()
    proxy = fed.proxy
    seen_before, forwarded_before = proxy.seen[fault], proxy.forwarded[fault]
    errors_before = len(fed.lj.statuses)
    proxy.set(fault)

    # Work arrives while the fault lasts: pings, and an applicant's application whose duplicate
    # question the recognition job queues for TF.
    ids = fed.pings(PINGS_PER_FAULT, tag)
    app_id = submit_application(fed.api)
    before = set(fed.outbox(("recognition.duplicate_query",)))
    JOB["recognition.sweep"](fed.lj.ctx)
    question = sorted(set(fed.outbox(("recognition.duplicate_query",))) - before)
    assert len(question) == 1, question
    ids += question
    report = federation.deliver_due(fed.lj.ctx)  # one turn of the worker's federation.deliver job
    assert report.delivered == 0 and report.failed >= 1, (fault, report)
    assert report.dead == 0  # a peer that is unwell never kills a message

    # The operator sees it, with the reason; the applicant got no 5xx and their case waits.
    peer = fed.peer_status()
    visible = peer["pending"] >= len(ids) and peer["failing"] >= 1 and bool(peer["last_error"])
    reason = peer["last_error"] or ""
    applicant_5xx = fed.lj.server_errors(errors_before)

    proxy.heal()
    if fault == faults.KILL_TARGET:
        wait_for(lambda: fed.tf.server.poll() is not None, 10, "TF to die")
        fed.tf.serve()  # restarted: same port, same database
    turns = fed.deliver_until_sent(ids)
    proxy.idle()  # a request held by the slow fault has reached TF by now
    wait_for(lambda: duplicate_check(fed, app_id) not in (None, "pending"), 30,
             "TF's answer to the duplicate question")
    result = fed.effects(ids)
    rows = fed.outbox(("ping", "recognition.duplicate_query"))
    return {"fault": fault, "sent": len(ids), "attempts": sum(rows[i][0] for i in ids),
            "wire": proxy.seen[fault] - seen_before, "forwarded": proxy.forwarded[fault] - forwarded_before,
            "delivered": result.delivered, "duplicates": sum(n - 1 for n in result.duplicates.values()),
            "lost": len(result.lost), "visible": visible, "reason": reason, "applicant_5xx": len(applicant_5xx),
            "delivery_turns_after_healing": turns, "seconds": round(time.monotonic() - started, 1),
            "_outcome": result}


@pytest.fixture
def federation_pair(database_url, peer_database_url, tmp_path):  # noqa: F811  (the imported fixture)
    fed = Federation(tmp_path, database_url, peer_database_url)
    yield fed
    fed.close()


def test_faults_between_nodes_lose_nothing_apply_nothing_twice_and_show(federation_pair, database_url, capsys):
    fed = federation_pair
    rows = []
    for round_ in range(ROUNDS):
        for fault in FAULTS:
            row = run_federation_fault(fed, fault, f"{fault} {round_}")
            result = row.pop("_outcome")
            rows.append(row)
            faults.assert_exactly_once(result, f"federation, {fault}")
            assert row["applicant_5xx"] == 0, (fault, fed.lj.server_errors())
            assert row["visible"] and faults.reason_names(fault, row["reason"]), (fault, row)
            if fault in faults.FORWARDED:
                assert row["forwarded"] >= 1, row  # the fault did reach TF first: the trap was laid
    # The operator's command line shows the same as the API (checked once: a process start each).
    status = subprocess.run([sys.executable, "-m", "eresident", "federation", "status"], env={
        **os.environ, "ERESIDENT_REGION": "LJ", "ERESIDENT_DATA_DIR": str(fed.lj.settings.data_dir),
        "ERESIDENT_DATABASE_URL": fed.lj.settings.database_url, "ERESIDENT_BASE_URL": fed.lj.settings.base_url},
        capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    line = re.search(r"^TF: pending \d+ \(failing 0\), delivered (\d+), received \d+, dead 0$", status.stdout, re.M)
    # (besides the work counted here LJ answers TF's own messages, e.g. witnessing its audit checkpoints)
    assert line and int(line[1]) >= sum(r["sent"] for r in rows), status.stdout
    backend = backend_of(database_url)
    path = faults.record_figures(backend, "peer", rows)
    with capsys.disabled():
        print(f"\nfaults between nodes ({backend}), written to {path}:\n{faults.table('peer', rows)}")


# --- to the bank ----------------------------------------------------------------------------------

def company_names(count: int) -> list[tuple[str, str]]:
    """One company per fault (a company asks a bank once), each under its own trade name: no two
    alike in sound (which the name check refuses), 144 before they repeat."""
    from pypinyin import lazy_pinyin

    first, second = "云锦瑞蓝翠白嘉海福德宏鹏", "帆程鹭藤阳竹桥泰达源博凯"
    names = []
    for n in range(count):
        trade = first[n % 12] + second[(n % 12 + n // 12) % 12]
        names.append((f"重庆{trade}科技有限公司",
                      f"Chongqing {''.join(lazy_pinyin(trade)).capitalize()} Technology Co., Ltd."))
    return names


class BankSide:
    """LJ (in the test process) → proxy → the sandbox bank (`eresident sandbox-bank`); the bank's
    callbacks come straight back to LJ."""

    def __init__(self, tmp_path: Path, database_url: str):
        bank_port = free_port()
        self.proxy = FaultProxy("bank", bank_port).start()
        settings = Settings(region="LJ", database_url=database_url, data_dir=tmp_path / "LJ",
                            base_url=f"http://127.0.0.1:{free_port()}", log_level="WARNING",
                            bank_url=self.proxy.url, bank_timeout_seconds=1.0, bank_retry_base_seconds=0.2,
                            bank_retry_max_seconds=1.0)
        self.lj = LocalNode(settings, FrozenClock(START))  # the journey on a frozen clock, then the real one
        data = tmp_path / "bank"
        env = {**os.environ, "ERESIDENT_SANDBOX_BANK_DATA_DIR": str(data),
               "ERESIDENT_SANDBOX_BANK_BASE_URL": self.proxy.url,  # the bank checks what the node signed
               "ERESIDENT_SANDBOX_BANK_CLIENTS": settings.base_url, "ERESIDENT_SANDBOX_BANK_ADMIN_TOKEN": "test-admin",
               "ERESIDENT_LOG_LEVEL": "WARNING"}
        self.bank = SandboxBank(url=f"http://127.0.0.1:{bank_port}", data_dir=data, env=env,
                                log_path=tmp_path / "bank.log")
        self.proxy.kill_target = self.bank.kill
        self.bank.start()
        # What `eresident bank trust add URL` does (without the process start): pin the bank's callback key.
        document = bank_trust.fetch_bank_keys(self.bank.url)
        code, keys = bank_trust.parse_bank_keys(document)
        pinned, _ = bank_trust.pin(bank_trust.load_bank_trust(settings), code=code, base_url=self.bank.url, keys=keys,
                                   now=Clock().now())
        bank_trust.save_bank_trust(settings, pinned)
        self.api = Api(self.lj)

    def close(self) -> None:
        self.proxy.stop()
        self.bank.kill()
        self.api.client.close()
        self.lj.close()

    def bank_query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import contextlib
        import sqlite3

        with contextlib.closing(sqlite3.connect(f"file:{self.bank.data_dir / 'bank.db'}?mode=ro", uri=True,
                                                timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def message(self, request_id: str) -> BankOutboxMessage:
        with self.lj.ctx.database.session(write=False) as db:
            return db.scalars(select(BankOutboxMessage).where(
                BankOutboxMessage.request_id == uuid.UUID(request_id),
                BankOutboxMessage.kind == "account_request")).one()

    def effects(self, request_ids: list[str]) -> faults.Outcome:
        """At the bank: a request row per request, and its accounts (two per request); a third
        account or a second row would be the same request applied twice."""
        effects = []
        for request_id in request_ids:
            refs = [r[0] for r in self.bank_query("SELECT ref FROM requests WHERE node_request_id = ?", (request_id,))]
            effects += [request_id] * len(refs)
            for ref in refs:
                accounts = self.bank_query("SELECT count(*) FROM accounts WHERE ref = ?", (ref,))[0][0]
                effects += [request_id] * max(0, accounts - 2)
        return outcome(request_ids, effects)


def run_bank_fault(side: BankSide, fault: str, company: tuple[str, str], admin: str) -> dict:
    started = time.monotonic()
    token, uscc = company
    proxy, api = side.proxy, side.api
    seen_before, forwarded_before = proxy.seen[fault], proxy.forwarded[fault]
    errors_before = len(side.lj.statuses)
    proxy.set(fault)

    # The founder asks for the accounts while the fault lasts: queued, never a 5xx.
    r = api.client.post(f"/api/v1/companies/{uscc}/bank/requests", headers=bearer(token), json=bank_consent(api))
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    report = banking.deliver_due(side.lj.ctx)  # one turn of the worker's banking.deliver job
    assert report.delivered == 0 and report.failed >= 1, (fault, report)

    # The officers see it among the stuck requests, with the reason; the founder sees it waits.
    stuck = api.client.get("/api/v1/bank-requests/stuck", headers=bearer(admin))
    assert stuck.status_code == 200, stuck.text
    entry = next((s for s in stuck.json() if s["id"] == request_id), None)
    reason = ((entry or {}).get("delivery") or {}).get("last_error") or ""
    view = api.client.get(f"/api/v1/companies/{uscc}/bank", headers=bearer(token))
    assert view.status_code == 200, view.text
    founder_told = any("not reachable" in step["text"] for step in view.json()["requests"][0]["steps"])
    visible = entry is not None and bool(reason) and founder_told
    applicant_5xx = side.lj.server_errors(errors_before)

    proxy.heal()
    if fault == faults.KILL_TARGET:
        wait_for(lambda: side.bank.process.poll() is not None, 10, "the bank to die")
        side.bank.start()  # restarted: same port, same database
    turns = 0

    def sent() -> bool:
        nonlocal turns
        JOB["banking.deliver"](side.lj.ctx)
        turns += 1
        return side.message(request_id).delivered_at is not None
    wait_for(sent, 30, "the request to reach the bank", every=0.2)
    proxy.idle()
    wait_for(lambda: bank_status(api, token, uscc) == "opened", 30, "the bank's callback: accounts opened")
    result = side.effects([request_id])
    row = {"fault": fault, "sent": 1, "attempts": side.message(request_id).attempts,
           "wire": proxy.seen[fault] - seen_before, "forwarded": proxy.forwarded[fault] - forwarded_before,
           "delivered": result.delivered, "duplicates": sum(n - 1 for n in result.duplicates.values()),
           "lost": len(result.lost), "visible": visible, "reason": reason, "applicant_5xx": len(applicant_5xx),
           "delivery_turns_after_healing": turns, "seconds": round(time.monotonic() - started, 1),
           "_outcome": result}
    # On the node: the accounts once, whatever the bank was told how often.
    view = api.client.get(f"/api/v1/companies/{uscc}/bank", headers=bearer(token)).json()["requests"][0]
    row["accounts_at_node"] = len(view["accounts"])
    row["opened_steps"] = sum(1 for step in view["steps"] if step["text"].startswith("Accounts opened"))
    return row


def bank_consent(api: Api) -> dict:
    bank = api.client.get("/api/v1/banks").json()[0]
    return {"bank": bank["code"], "consent_text_sha256": bank["consent_text_sha256"], "agree": True}


def bank_status(api: Api, token: str, uscc: str) -> str:
    r = api.client.get(f"/api/v1/companies/{uscc}/bank", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["requests"][0]["status"]


@pytest.fixture
def bank_side(database_url, tmp_path):
    side = BankSide(tmp_path, database_url)
    yield side
    side.close()


def test_faults_to_the_bank_lose_nothing_open_nothing_twice_and_show(bank_side, database_url, capsys):
    from tests.banking.test_bank import company
    from tests.enterprise.helpers import Founders

    side = bank_side
    founders = Founders(side.api)
    people = (founders.new("BENALI"), founders.new("HADDAD"))
    admin = founders.official("lj-admin")
    plan = [fault for _ in range(ROUNDS) for fault in FAULTS]
    companies = [(people[0][0], company(side.api, founders, people, name, pre_consent=False))
                 for name in company_names(len(plan))]
    real_time(side.lj)  # from here the node signs and checks with the bank on the real clock
    rows = []
    for fault, one in zip(plan, companies, strict=True):
        row = run_bank_fault(side, fault, one, admin)
        result = row.pop("_outcome")
        rows.append(row)
        faults.assert_exactly_once(result, f"bank, {fault}")
        assert (row["accounts_at_node"], row["opened_steps"]) == (2, 1), row
        assert row["applicant_5xx"] == 0, (fault, side.lj.server_errors())
        assert row["visible"] and faults.reason_names(fault, row["reason"]), (fault, row)
        if fault in faults.FORWARDED:
            assert row["forwarded"] >= 1, row
    backend = backend_of(database_url)
    path = faults.record_figures(backend, "bank", rows)
    with capsys.disabled():
        print(f"\nfaults to the bank ({backend}), written to {path}:\n{faults.table('bank', rows)}")


# --- the suite catches a planted defect -----------------------------------------------------------

def test_the_suite_catches_a_receiver_that_applies_a_repeat_twice(database_url, peer_database_url,  # noqa: F811
                                                                   tmp_path, monkeypatch):
    """The receiver's idempotency check taken out (its inbox bypassed, in this test only): the answer
    cut after the message was forwarded makes the sender send it again, the receiver applies it a
    second time, and the suite's check reports it."""
    from eresident.federation.handlers import handler_for

    def accept_without_inbox(*, ctx, db, verified):  # the planted defect: every copy is applied
        message = verified.message
        result = handler_for(message.kind)(ctx=ctx, db=db, message=message)
        return {"message_id": message.id, "kind": message.kind, "status": "applied", "result": result}, False

    monkeypatch.setattr(federation, "accept", accept_without_inbox)
    fed = Federation(tmp_path, database_url, peer_database_url, tf_in_process=True)
    try:
        fed.proxy.set(faults.CUT_AFTER_FORWARD)
        ids = fed.pings(2, "planted")
        assert federation.deliver_due(fed.lj.ctx).failed == 2
        fed.proxy.heal()
        fed.deliver_until_sent(ids)
        result = fed.effects(ids)
        assert result.duplicates == {ids[0]: 2}  # the first was forwarded, then sent again; the second once
        with pytest.raises(AssertionError, match="1 applied twice or more"):
            faults.assert_exactly_once(result, "federation, cut-after-forward, inbox bypassed")
    finally:
        fed.close()
