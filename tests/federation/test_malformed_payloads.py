"""A peer's malformed payload never causes a 500: for every registered message kind, a correctly
signed message whose payload misses a field, has a wrong type, a bad date, a bad id or a value out
of range gets a 4xx problem+json answer (a 422 names the payload field) and changes nothing.

Each kind has a valid payload (accepted, to show the handler would otherwise apply it) and, per field,
values it must refuse; every field is also left out. A kind added without an entry here fails
`test_every_registered_kind_has_malformed_cases`."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, inspect, select

from eresident.audit import note
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.service import Actor, create_checkpoint
from eresident.federation import handlers, secondment, service
from eresident.federation.keys import iso
from eresident.federation.models import InboxMessage
from eresident.kit.registry import metadata
from eresident.seed import seed_demo

# Kinds whose handlers another engineer owns and checks (cross-region cases, being written now;
# the dashboard's figures.published: tests/dashboard/test_peer_figures.py).
OWNED_ELSEWHERE = ("eresident.crosscase", "eresident.federation.cases", "eresident.dashboard")


@dataclass
class F:
    """A payload field (a path such as official/id) and the values it must refuse. An optional
    field may be absent or null; a required one is also tried absent and null."""

    bad: list
    optional: bool = False


NOT_TEXT = [7, 1.5, True, [], {}, ["a"]]


def text(limit: int) -> list:
    """What a text field of at most `limit` characters refuses (it may be empty)."""
    return NOT_TEXT + ["x" * (limit + 1)]


def name(limit: int) -> list:
    """…and one that must not be blank."""
    return text(limit) + ["", "   "]


UUID = NOT_TEXT + ["", "not-a-uuid", "1234", "x" * 100_000]
TIME = NOT_TEXT + ["", "yesterday", "2026-11-26T09:00:00", "2026-11-26", "2026-02-30T00:00:00Z",
                   "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "x" * 100_000]
SIZE = ["5", 1.5, True, -1, 2**70, [], {}]
FLAG = ["true", 1, 0, [], {}]
HASH = NOT_TEXT + ["", "not base64!", "\u00e9" * 44, base64.b64encode(b"\x01" * 31).decode()]


def _get_parent(payload: dict, path: str) -> tuple[dict, str]:
    *parents, last = path.split("/")
    for name in parents:
        payload = payload[name]
    return payload, last


def mutations(valid: dict, spec: dict[str, F]):
    """(label, payload) for each way the valid payload is made malformed."""
    yield "{}", {}
    for path, field in spec.items():
        if not field.optional:
            removed = copy.deepcopy(valid)
            parent, last = _get_parent(removed, path)
            del parent[last]
            yield f"{path} absent", removed
        for value in ([] if field.optional else [None]) + field.bad:
            changed = copy.deepcopy(valid)
            parent, last = _get_parent(changed, path)
            parent[last] = value
            yield f"{path}={str(value)[:40]!r}", changed


def signed_post(pair, kind: str, payload: dict):
    message_id = str(uuid.uuid4())
    body = json.dumps({"id": message_id, "kind": kind, "from": "LJ", "to": "TF",
                       "created_at": iso(pair.lj.clock.now()), "payload": payload}).encode()
    headers = service.signed_request(ctx=pair.lj.ctx, url="http://tf.test/api/v1/federation/messages", body=body,
                                     message_id=message_id, now=pair.lj.clock.now())
    return pair.tf.client().post("/api/v1/federation/messages", content=body, headers=headers)


def table_counts(node) -> dict[str, int]:
    with node.ctx.database.session(write=False) as db:
        present = set(inspect(db.connection()).get_table_names())
        return {t.name: db.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables
                if t.name in present}


class Setup:
    """TF's state that makes each kind's valid payload apply: a TF secondment out to LJ (for LJ's
    answer), a TF checkpoint (for LJ's cosignature and witness head), LJ's signed checkpoint."""

    def __init__(self, pair):
        self.pair = pair
        now = pair.tf.clock.now()
        seed_demo(pair.tf.ctx)
        with pair.tf.ctx.database.session(write=True) as db:
            out = secondment.propose(ctx=pair.tf.ctx, db=db, official_username="tf-reviewer", host_region="LJ",
                                     term_start=now, term_end=now + timedelta(days=90), host_roles=["reviewer"],
                                     department="Tax", purpose="Exchange", actor=Actor.system())
            self.out_id = str(out.id)
        with pair.tf.ctx.database.session(write=True) as db:
            tf_signer = load_checkpoint_key(pair.tf.settings)
            checkpoint = create_checkpoint(db=db, signer=tf_signer, now=now)
            self.tf_checkpoint = (checkpoint.tree_size, checkpoint.root_hash, checkpoint.note)
        self.tf_origin = tf_signer.name
        self.lj_signer = load_checkpoint_key(pair.lj.settings)
        self.lj_note = note.sign(note.Checkpoint(self.lj_signer.name, 3, b"\x01" * 32).text(), self.lj_signer)

    def lj_signed(self, body: str) -> str:
        return note.sign(body, self.lj_signer)


def description(now) -> dict:
    return {"secondment_id": str(uuid.uuid4()), "home_region": "LJ", "host_region": "TF",
            "official": {"id": str(uuid.uuid4()), "username": "lj-reviewer", "display_name": "Reviewer Wang Fang"},
            "term_start": iso(now), "term_end": iso(now + timedelta(days=90)), "host_roles": ["reviewer"],
            "department": "Enterprise services", "purpose": "Exchange"}


DESCRIPTION = {
    "secondment_id": F(UUID), "home_region": F(["TF", "XA", 7]), "host_region": F(["LJ", 7]),
    "official": F(["x", 7, [], {}]), "official/id": F(name(64)),
    "official/username": F(name(54)), "official/display_name": F(name(200)),
    "term_start": F(TIME + ["2027-03-01T00:00:00Z"]),  # after the end
    "term_end": F(TIME + ["2026-11-01T00:00:00Z", "2031-01-01T00:00:00Z"]),  # before the start; over 3 years
    "host_roles": F(["reviewer", [], [7], [[]], ["no-such-role"], ["reviewer", "reviewer"], ["admin"], {}]),
    "department": F(name(200)), "purpose": F(name(2000)),
}


def cases(setup: Setup) -> dict[str, tuple[dict, dict[str, F]]]:
    """kind -> (a valid payload, its fields and the values each must refuse)."""
    now = setup.pair.lj.clock.now()
    size, root, tf_note = setup.tf_checkpoint
    tf_text = note.parse(tf_note)[0]
    cosignature = note.cosign(tf_text, setup.lj_signer, int(now.timestamp()))
    dash, signer, blob = cosignature.rstrip("\n").split(" ")
    tampered = f"{dash} {signer} {blob[:20]}{'B' if blob[20] == 'A' else 'A'}{blob[21:]}\n"  # a signature byte
    root_b64 = base64.b64encode(root).decode()
    huge = setup.lj_signed(f"{setup.lj_signer.name}\n{10**30}\n{base64.b64encode(b'1' * 32).decode()}\n")
    bad_notes = name(8192) + ["garbage", "text\n\n\u2014 LJ \u00e9\u00e9\u00e9\n"]
    proofs = ["x", 7, [], {"path": "x"}, {"path": [7], "first": 1, "second": 2},
              {"path": ["\u00e9" * 44], "first": 1, "second": 2}, {"path": [], "first": -1, "second": 2},
              {"path": [], "first": 1, "second": 2**70}, {"path": [root_b64] * 129, "first": 1, "second": 2},
              {"path": [], "first": "1", "second": 2}]
    answer = {"secondment_id": F(UUID + [str(uuid.uuid4())]),  # a UUID, but of no secondment to LJ
              "note": F(text(2000), optional=True), "answered_at": F(TIME, optional=True)}
    return {
        "ping": ({"echo": "hello"}, {"echo": F(text(1000))}),
        "secondment.proposed": (description(now), DESCRIPTION),
        "secondment.withdrawn": (description(now) | {"reason": "Needed at home", "withdrawn_at": iso(now)},
                                 DESCRIPTION | {"reason": F(text(2000)),
                                                "withdrawn_at": F(TIME, optional=True)}),
        "secondment.accepted": ({"secondment_id": setup.out_id, "answered_at": iso(now), "note": ""}, answer),
        "secondment.declined": ({"secondment_id": setup.out_id, "answered_at": iso(now), "note": "No"}, answer),
        "recognition.recorded": ({"e_resident_number": "LJ-2026-000001", "credential_id": "c-1",
                                  "recognised_at": iso(now)},
                                 {"e_resident_number": F(name(32)), "credential_id": F(text(64)),
                                  "recognised_at": F(TIME, optional=True)}),
        "recognition.status_changed": ({"e_resident_number": "LJ-2026-000001", "status": "suspended",
                                        "changed_at": iso(now)},
                                       {"e_resident_number": F(name(32)),
                                        "status": F(NOT_TEXT + ["", "deleted", "ACTIVE"]), "changed_at": F(TIME)}),
        "recognition.duplicate_query": ({"query_id": str(uuid.uuid4()), "passport_digest": "A" * 43},
                                        {"query_id": F(UUID), "passport_digest": F(
                                            NOT_TEXT + ["", "short", "!" * 43, "A" * 44, "\u00e9" * 43])}),
        "recognition.duplicate_answer": ({"query_id": str(uuid.uuid4()), "answered": True, "known": False,
                                          "statuses": [], "e_resident_status": None},
                                         {"query_id": F(UUID), "answered": F(FLAG), "known": F(FLAG),
                                          "statuses": F(["open", 7, {}, [7], [[]], [{}], ["x" * 65], ["open"] * 21]),
                                          "e_resident_status": F(NOT_TEXT + ["x" * 33], optional=True),
                                          "reason": F(text(200), optional=True)}),
        "audit.cosignature": ({"origin": setup.tf_origin, "tree_size": size, "root_hash": root_b64,
                               "cosignature": cosignature},
                              {"tree_size": F(SIZE + [size + 1]), "root_hash": F(HASH),
                               "cosignature": F(name(1000) + ["garbage", tampered])}),
        "audit.alarm": ({"origin": setup.tf_origin, "reason": "fork", "detail": "a fork", "tree_size": 1,
                         "note": "a note", "witnessed_note": None, "proof": None},
                        {"origin": F(name(255)), "reason": F(name(32)), "detail": F(name(2000)),
                         "tree_size": F(SIZE), "note": F(name(8192)),  # the peer's evidence: any text
                         "witnessed_note": F(name(8192), optional=True),
                         "proof": F(proofs, optional=True)}),
        "audit.witness_head": ({"origin": setup.tf_origin, "tree_size": size, "root_hash": root_b64,
                                "note": tf_note},
                               {"tree_size": F(SIZE + [size + 1]), "root_hash": F(HASH),
                                "note": F(bad_notes + [setup.lj_note])}),  # a note TF did not sign
        "audit.checkpoint": ({"note": setup.lj_note, "proof": None},
                             {"note": F(bad_notes + [tf_note, huge]), "proof": F(proofs, optional=True)}),
    }


def registered_kinds() -> list[str]:
    return [kind for kind in handlers.kinds() if not kind.startswith("test.")
            and not handlers.handler_for(kind).__module__.startswith(OWNED_ELSEWHERE)]


def test_every_registered_kind_has_malformed_cases(pair):
    assert sorted(cases(Setup(pair))) == registered_kinds()


def test_malformed_payloads_get_a_4xx_problem_and_change_nothing(pair):
    setup = Setup(pair)
    table = cases(setup)
    before = table_counts(pair.tf)
    tried, wrong = 0, []
    for kind in registered_kinds():
        valid, spec = table[kind]
        for label, payload in mutations(valid, spec):
            r = signed_post(pair, kind, payload)
            tried += 1
            body = r.json() if r.headers.get("content-type") == "application/problem+json" else None
            named = body and (r.status_code != 422 or not body["type"].endswith("/invalid-field")
                              or body["errors"][0]["field"].startswith("payload/"))
            if not 400 <= r.status_code < 500 or not named:
                wrong.append(f"{kind} {label}: {r.status_code} {r.text[:200]}")
    assert not wrong, f"{len(wrong)} of {tried} malformed payloads were not refused:\n" + "\n".join(wrong)
    assert tried > 400
    assert table_counts(pair.tf) == before  # nothing half-written, not even an inbox row

    for kind in registered_kinds():  # and the same handlers take the valid payloads
        r = signed_post(pair, kind, table[kind][0])
        assert r.status_code == 200, f"{kind}: {r.text}"
    with pair.tf.ctx.database.session(write=False) as db:
        assert db.scalar(select(func.count()).select_from(InboxMessage)) == len(registered_kinds())


def test_an_envelope_time_out_of_range_is_a_422(pair):
    r = signed_post_with_created_at(pair, "9999-12-31T23:59:59-14:00")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "created_at"


def signed_post_with_created_at(pair, created_at: str):
    message_id = str(uuid.uuid4())
    body = json.dumps({"id": message_id, "kind": "ping", "from": "LJ", "to": "TF", "created_at": created_at,
                       "payload": {"echo": "x"}}).encode()
    headers = service.signed_request(ctx=pair.lj.ctx, url="http://tf.test/api/v1/federation/messages", body=body,
                                     message_id=message_id, now=pair.lj.clock.now())
    return pair.tf.client().post("/api/v1/federation/messages", content=body, headers=headers)

