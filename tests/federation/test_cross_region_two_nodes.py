"""Cross-region cases between two real nodes (`eresident serve` + `eresident worker` per node, each
with its own SQLite database): a Liangjiang e-resident files a Tianfu company formation at the
Liangjiang process, the workers carry the filing, the articles, the signatures, the decision and the
licence, and both nodes end with the same history. The Tianfu processes are killed (SIGKILL) while
the case is under way and restarted: nothing is lost and nothing happens twice."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from tests.factories import Api, Person, bearer
from tests.federation.test_cross_region_cases import filing
from tests.federation.test_secondment_two_nodes import _login
from tests.federation.test_two_nodes import Proc, _RealNode, nodes, wait_until  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

CASES = "/api/v1/cross-region-cases"
APPROVED_WHAT = ["filed", "received", "signed", "signed", "formation.all_signed"]


class LiveApi(Api):
    """tests.factories.Api against a live process. Its clock is the real one, which cannot be
    stepped past a used TOTP code: each official signs in once per test and keeps the session."""

    def __init__(self, proc: Proc):
        self.proc = proc
        self.real = _RealNode(proc)
        super().__init__(self.real)

    def official(self, username: str) -> str:
        if username not in self._sessions:
            self._sessions[username] = _login(self.proc, username.split("-", 1)[1])
        return self._sessions[username]

    def close(self) -> None:
        self.client.close()
        self.real.ctx.database.dispose()


class Founders:
    """Two Liangjiang e-residents made through the Liangjiang process's HTTP API (sign up, confirm,
    apply, identity check, review, approval), who file and sign there."""

    def __init__(self, api: LiveApi):
        self.api = api
        self.founder_token, self.founder = api.e_resident(Person(surname="BENALI"))
        self.supervisor_token, self.supervisor = api.e_resident(Person(surname="HADDAD", given_names="KARIM"))

    def file(self) -> dict:
        r = self.api.client.post(CASES, headers=bearer(self.founder_token), json=filing(self.founder, self.supervisor))
        assert r.status_code == 201, r.text
        return r.json()

    def case(self, number: str) -> dict:
        r = self.api.client.get(f"{CASES}/{number}", headers=bearer(self.founder_token))
        assert r.status_code == 200, r.text
        return r.json()

    def sign(self, number: str, token: str) -> dict:
        pdf = self.api.client.get(f"{CASES}/{number}/articles", headers=bearer(token))
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:200]
        r = self.api.client.post(f"{CASES}/{number}/signatures", headers=bearer(token),
                                 json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()})
        assert r.status_code == 201, r.text
        return r.json()

    def wait_for(self, number: str, status: str, *procs: Proc, timeout: float = 30) -> dict:
        """Poll the founder's view at Liangjiang until the case has `status` (short intervals, a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            case = self.case(number)
            if case["status"] == status:
                return case
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.region} log:\n{p.log.read_text()[-2000:] if p.log.exists() else ''}"
                                 for p in procs)
                raise AssertionError(f"{number} is still {case['status']!r} (events "
                                     f"{[e['what'] for e in case['events']]}), not {status!r}\n{logs}")
            time.sleep(0.2)


def _cli_together(*runs: tuple[Proc, tuple[str, ...]]) -> list[str]:
    """`eresident …` commands of the nodes side by side (each is mostly start-up time): their outputs."""
    procs = [subprocess.Popen([sys.executable, "-m", "eresident", *args], env=node.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for node, args in runs]
    outputs = []
    for (node, args), proc in zip(runs, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{node.region}: eresident {' '.join(args)}:\n{out}\n{err}"
        outputs.append(out)
    return outputs


def _connect(lj: Proc, tf: Proc) -> None:
    """Demo officials on both nodes, trust both ways through the CLI, and both workers running."""
    _, _, lj_added, tf_added = _cli_together((lj, ("seed-demo",)), (tf, ("seed-demo",)),
                                             (lj, ("federation", "trust", "add", "--from-url", tf.base_url, "--yes")),
                                             (tf, ("federation", "trust", "add", "--from-url", lj.base_url, "--yes")))
    assert "new peer: TF" in lj_added and "new peer: LJ" in tf_added
    lj.worker, tf.worker = lj.spawn("worker"), tf.spawn("worker")


def _kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # no goodbye: no shutdown handler, no flush
    proc.wait()


def history(node: Proc, token: str, number: str) -> list[tuple]:
    r = httpx.get(f"{node.base_url}/api/v1/official/cross-region-cases/{number}", headers=bearer(token), timeout=10)
    assert r.status_code == 200, r.text
    return [(e["seq"], e["region"], e["status"], e["what"], e["detail"], e["at"]) for e in r.json()["events"]]


def same_history(lj_history: list[tuple], tf_history: list[tuple]) -> None:
    """Both nodes' official histories: equal, field for field. (Compared to the second first, so a
    failure of the exact comparison shows that only the sub-second part of `at` differs.)"""
    assert [(*e[:5], e[5][:19]) for e in lj_history] == [(*e[:5], e[5][:19]) for e in tf_history]
    assert lj_history == tf_history, (
        "the two nodes' histories differ in the sub-second part of `at`: each node keeps its own events' "
        "times with microseconds, and its peer the copy sent by crosscase.service._event_dict / `filed_at`, "
        "which federation.keys.iso() truncates to whole seconds")


def _seqs(node: Proc, number: str) -> list[int]:
    """The history's sequence numbers as the node's database holds them (every row, duplicates included)."""
    return [row[0] for row in node.query(
        "SELECT e.seq FROM cross_region_case_events e JOIN cross_region_cases c ON c.id = e.case_id "
        f"WHERE c.case_number = '{number}' ORDER BY e.seq")]


def _undelivered(node: Proc, kind: str) -> list[tuple]:
    return node.query(f"SELECT attempts, last_error FROM federation_outbox WHERE kind = '{kind}' "
                      "AND delivered_at IS NULL AND dead_at IS NULL")


def _licence_checks(api: LiveApi, people: Founders, tf: Proc, case: dict) -> None:
    """The licence downloaded at Liangjiang is, byte for byte, the one Tianfu says it issued."""
    result = case["result"]
    assert result["decision"] == "approved" and len(result["uscc"]) == 18, result
    pdf = api.client.get(f"{CASES}/{case['case_number']}/licence", headers=bearer(people.founder_token))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:200]
    assert hashlib.sha256(pdf.content).hexdigest() == result["licence_sha256"]
    status = httpx.get(f"{tf.base_url}/api/v1/licences/{result['uscc']}", timeout=10)
    assert status.status_code == 200, status.text
    assert status.json()["genuine"] is True and status.json()["region"] == "TF", status.json()


def test_cross_region_formation_across_two_processes(nodes):  # noqa: F811  (the fixture)
    lj, tf = nodes
    _connect(lj, tf)
    api = LiveApi(lj)
    try:
        people = Founders(api)
        case = people.file()
        number = case["case_number"]
        assert number.startswith("LJ-CF-") and case["status"] == "sent" and case["handled_here"] is False

        case = people.wait_for(number, "awaiting_signatures", lj, tf)
        assert [e["what"] for e in case["events"]] == ["filed", "received"]
        assert case["articles_url"] and case["articles_sha256"]
        assert tf.query("SELECT case_number, status FROM formations") == [(number, "awaiting_signatures")]
        # Tianfu took both people on Liangjiang's word: recognised there, with no application of their own.
        assert sorted(r[0] for r in tf.query("SELECT home_number FROM recognitions")) == sorted(
            [people.founder, people.supervisor])
        assert tf.query("SELECT count(*) FROM applications") == [(0,)]

        for token in (people.founder_token, people.supervisor_token):
            people.sign(number, token)
        case = people.wait_for(number, "approved", lj, tf)
        assert [e["what"] for e in case["events"]] == APPROVED_WHAT
        assert [s["signed"] for s in case["signatories"]] == [True, True]
        _licence_checks(api, people, tf, case)

        # One case number, one history, on both nodes.
        assert _seqs(lj, number) == _seqs(tf, number) == [1, 2, 3, 4, 5]
        for node in (lj, tf):  # nothing of the case left waiting on either side
            wait_until(lambda n=node: not [m for k in ("case.filed", "case.signature", "case.event")
                                           for m in _undelivered(n, k)], 10, f"{node.region}'s case messages")
        lj_history = history(lj, api.official("lj-admin"), number)
        assert [seq for seq, *_ in lj_history] == [1, 2, 3, 4, 5]
        same_history(lj_history, history(tf, _login(tf, "admin"), number))
    finally:
        api.close()


def test_cross_region_case_survives_the_handling_node_being_killed(nodes):  # noqa: F811  (the fixture)
    lj, tf = nodes
    _connect(lj, tf)
    api = LiveApi(lj)
    try:
        people = Founders(api)

        # Tianfu's server dies before the filing: Liangjiang takes it and keeps it in its outbox.
        _kill(tf.server)
        number = people.file()["case_number"]
        wait_until(lambda: any(attempts >= 1 and error for attempts, error in _undelivered(lj, "case.filed")), 20,
                   "failed attempts to send the filing")
        case = people.case(number)
        assert case["status"] == "sent" and [e["what"] for e in case["events"]] == ["filed"]
        status = lj.cli("federation", "status")
        pending = re.search(r"^TF: pending (\d+) \(failing (\d+)\)", status, re.MULTILINE)
        assert pending and int(pending[1]) >= 1 and int(pending[2]) >= 1, status
        assert "last error" in status, status
        assert tf.query("SELECT count(*) FROM cross_region_cases") == [(0,)]

        tf.serve()  # same port, same database
        case = people.wait_for(number, "awaiting_signatures", lj, tf)
        assert [e["what"] for e in case["events"]] == ["filed", "received"]

        # Between the signatures Tianfu dies again: its worker first, so the first signature is taken
        # there but its event stays in Tianfu's outbox; then its server, before the second signature.
        _kill(tf.worker)
        people.sign(number, people.founder_token)
        wait_until(lambda: tf.query("SELECT count(*) FROM formation_signatures") == [(1,)], 20,
                   "the first signature at Tianfu")
        _kill(tf.server)
        assert [attempts for attempts, _ in _undelivered(tf, "case.event")] == [0]  # the "signed" event, unsent
        people.sign(number, people.supervisor_token)  # Liangjiang takes it regardless
        wait_until(lambda: any(error for _, error in _undelivered(lj, "case.signature")), 20,
                   "a failed attempt to send the second signature")
        case = people.case(number)
        assert case["status"] == "awaiting_signatures" and [e["what"] for e in case["events"]] == ["filed", "received"]
        assert [s["signed"] for s in case["signatories"]] == [True, True]

        tf.worker = tf.spawn("worker")  # starting alongside the server
        tf.serve()
        case = people.wait_for(number, "approved", lj, tf)
        assert [e["what"] for e in case["events"]] == APPROVED_WHAT
        _licence_checks(api, people, tf, case)

        # Exactly once at Tianfu: one case, one formation, two signatures, one licence …
        assert tf.query("SELECT count(*) FROM cross_region_cases") == [(1,)]
        assert tf.query("SELECT case_number, status FROM formations") == [(number, "approved")]
        assert tf.query("SELECT count(*) FROM formation_signatures") == [(2,)]
        assert tf.query("SELECT count(*) FROM licences") == [(1,)]
        assert tf.query("SELECT count(*) FROM registered_names") == [(1,)]
        assert tf.query("SELECT kind, count(*) FROM federation_inbox WHERE kind LIKE 'case.%' GROUP BY kind "
                        "ORDER BY kind") == [("case.filed", 1), ("case.signature", 2)]
        # … and each event once, 1..n without a gap, on both sides, the same list.
        assert _seqs(lj, number) == _seqs(tf, number) == [1, 2, 3, 4, 5]
        assert lj.query("SELECT count(*) FROM cross_region_cases") == [(1,)]
        lj_history = history(lj, api.official("lj-admin"), number)
        assert [seq for seq, *_ in lj_history] == [1, 2, 3, 4, 5]
        same_history(lj_history, history(tf, _login(tf, "admin"), number))
    finally:
        api.close()
