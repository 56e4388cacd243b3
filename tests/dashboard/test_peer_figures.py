"""Each region's dashboard figures travel to the other as `figures.published` messages (counts and
processing times only), are kept by the receiver (the newest), and are shown side by side with the
receiver's own and their total. Two nodes, each with its own database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eresident.audit.models import AuditEvent
from eresident.dashboard import service as dashboard
from eresident.dashboard.models import RegionFigures
from eresident.federation import service as federation
from eresident.federation.keys import iso
from eresident.federation.models import OutboxMessage
from eresident.seed import seed_demo
from tests.factories import Api, Person, bearer
from tests.federation.conftest import Network
from tests.federation.test_malformed_payloads import NOT_TEXT, TIME, F, mutations, name, table_counts

KIND = "figures.published"


def count(node, model, *where) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def unsent(node) -> list[OutboxMessage]:
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == KIND,
                                                           OutboxMessage.delivered_at.is_(None))))


def deliver(pair) -> int:
    return federation.deliver_due(pair.lj.ctx, client=Network(pair.tf).client()).delivered


def dashboard_html(node, username: str, **headers) -> str:
    api = Api(node)
    r = api.client.get("/official/dashboard", headers={**bearer(api.official(username)), **headers})
    assert r.status_code == 200, r.text
    return r.text


def section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


def cell_row(html: str, label: str) -> list[str]:
    """The cells of the side-by-side table's row `label`."""
    row = re.search(rf'<tr><th scope="row">{re.escape(label)}</th>(.*?)</tr>', section(html, "regions"))
    assert row, f"no row {label!r}"
    return re.findall(r"<td>(.*?)</td>", row.group(1))


def test_figures_reach_the_peer_and_are_shown_side_by_side_with_the_total(pair):
    seed_demo(pair.lj.ctx)
    seed_demo(pair.tf.ctx)
    lj = Api(pair.lj)
    lj.e_resident(Person(surname="HADDAD", given_names="KARIM"))
    lj.to_review()

    before = dashboard_html(pair.tf, "tf-admin")
    assert "Liangjiang New Area has not sent its figures yet." in before
    assert cell_row(before, "Active e-residents") == ["0", "—", "0"]  # TF, LJ (none yet), total

    assert dashboard.refresh(pair.lj.ctx)["sent_to"] == ["TF"]
    [message] = unsent(pair.lj)
    text = json.dumps(message.payload)
    # counts and times only: no case number, e-resident number, name, address or id
    assert not re.search(r"LJ-\d{4}-\d{6}|LJ-ER-|HADDAD|KARIM|@|[0-9a-f]{8}-[0-9a-f]{4}-", text), text
    assert message.payload["figures"]["residents"]["active"] == 1
    assert message.payload["figures"]["applications"] == {"approved": 1, "awaiting_review": 1}
    assert count(pair.lj, AuditEvent, AuditEvent.action == "dashboard.figures_published") == 1

    assert deliver(pair) == 1
    with pair.tf.ctx.database.session(write=False) as db:
        kept = db.get_one(RegionFigures, "LJ")
        assert kept.figures["residents"]["active"] == 1 and kept.as_of == pair.lj.clock.now()
    assert count(pair.tf, AuditEvent, AuditEvent.action == "dashboard.figures_received",
                 AuditEvent.actor_id == "LJ") == 1

    html = dashboard_html(pair.tf, "tf-admin")
    assert "has not sent its figures yet" not in html
    assert re.search(r"Figures of Liangjiang New Area as of <time datetime=\"2026-11-26T09:", html)
    assert cell_row(html, "Active e-residents") == ["0", "1", "1"]
    assert cell_row(html, "Applications for e-residency") == ["0", "2", "2"]
    assert cell_row(html, "E-residency: cases") == ["0", "2", "2"]
    assert cell_row(html, "E-residency: deadlines missed") == ["0", "0", "0"]
    hours = cell_row(html, "E-residency: time to decision, p50 / p90 (working hours)")
    assert hours[0] == "—" and hours[2] == "—"  # none decided at TF; no total of medians
    assert re.fullmatch(r"[\d.]+ / [\d.]+", hours[1]), hours
    # per step and per region, drawn on the server with the data as a table
    regions = section(html, "regions")
    assert "Processing time per step, by region" in regions and 'role="img"' in regions
    assert re.search(r"<th scope=\"col\">Liangjiang New Area</th>", regions)
    assert "<script" not in html

    chinese = dashboard_html(pair.tf, "tf-admin", **{"Accept-Language": "zh"})
    assert "两江新区" in section(chinese, "regions")


def test_unchanged_figures_are_not_sent_again_and_a_change_waits_for_the_interval(pair):
    seed_demo(pair.lj.ctx)
    lj = Api(pair.lj)
    lj.to_review()
    assert dashboard.refresh(pair.lj.ctx)["sent_to"] == ["TF"]
    sent_at = pair.lj.clock.now()
    assert dashboard.refresh(pair.lj.ctx)["sent_to"] == []  # nothing changed
    lj.to_review()  # figures change, but the last sending is under DASHBOARD_PUBLISH_MINUTES old
    interval = timedelta(minutes=pair.lj.settings.dashboard_publish_minutes)
    pair.advance(sent_at + interval - timedelta(minutes=1) - pair.lj.clock.now())
    assert dashboard.refresh(pair.lj.ctx)["sent_to"] == []
    pair.advance(timedelta(minutes=1))
    assert dashboard.refresh(pair.lj.ctx)["sent_to"] == ["TF"]
    [newest] = unsent(pair.lj)  # the older, undelivered figures were dropped: only the newest travel
    assert newest.payload["figures"]["applications"] == {"awaiting_review": 2}
    assert count(pair.lj, AuditEvent, AuditEvent.action == "dashboard.figures_published") == 2
    assert deliver(pair) == 1


def test_the_own_processing_times_come_from_the_workers_last_refresh(pair):
    seed_demo(pair.lj.ctx)
    lj = Api(pair.lj)
    lj.e_resident()
    dashboard.refresh(pair.lj.ctx)
    refreshed = pair.lj.clock.now()
    pair.advance(timedelta(minutes=5))
    lj.e_resident()  # counts are live; processing times wait for the next refresh
    html = dashboard_html(pair.lj, "lj-admin")
    assert re.search(r"<strong>2</strong> active e-residents", section(html, "people"))
    assert re.search(r"<th scope=\"row\">E-residency</th><td>1</td><td>1</td>", section(html, "processing"))
    assert f'Processing times as of <time datetime="{refreshed.isoformat()}"' in section(html, "processing")
    dashboard.refresh(pair.lj.ctx)
    html = dashboard_html(pair.lj, "lj-admin")
    assert re.search(r"<th scope=\"row\">E-residency</th><td>2</td><td>2</td>", section(html, "processing"))


def signed_post(pair, payload: dict):
    message_id = str(uuid.uuid4())
    body = json.dumps({"id": message_id, "kind": KIND, "from": "LJ", "to": "TF",
                       "created_at": iso(pair.lj.clock.now()), "payload": payload}).encode()
    headers = federation.signed_request(ctx=pair.lj.ctx, url="http://tf.test/api/v1/federation/messages",
                                        body=body, message_id=message_id, now=pair.lj.clock.now())
    return pair.tf.client().post("/api/v1/federation/messages", content=body, headers=headers)


def valid_payload(as_of: str = "2026-11-26T08:00:00Z") -> dict:
    """What a node with a little history sends (the shape of dashboard.service.compute)."""
    return {"as_of": as_of, "figures": {
        "version": 1,
        "residents": {"active": 12, "suspended": 1, "revoked": 0, "recognised": 2},
        "applications": {"approved": 12, "awaiting_review": 3, "refused": 1},
        "companies": {"licences": 4, "formations": {"approved": 4, "draft": 1}, "tax": {"small_scale": 4},
                      "bank": {}},
        "cross_region": {"filed_here": {"approved": 1}, "handled_here": {},
                         "decision_hours": {"filed_here": {"count": 1, "p50": 30.5, "p90": 30.5},
                                            "handled_here": None}},
        "exchange": {"out": {"accepted": 1}, "in": {}},
        "processes": {"e-residency": {
            "started": 16, "ended": 13, "decided": 13, "automatic": 9, "deadline_misses": 2,
            "decision_hours": {"p50": 20.25, "p90": 61.0},
            "steps": {"review": {"title": "Review", "entered": 7, "waiting_mean": 6.5, "deadline_misses": 2}}}},
    }}


COUNT = ["5", 1.5, True, -1, 10**13, [], {}]
HOURS = ["5", True, -1, 1e8, float("nan"), float("inf"), [], {}]
BY_STATUS = ["x", 7, [], {"Approved": 1}, {"approved": -1}, {"approved": "1"}, {f"s{i}": 1 for i in range(41)}]
SPEC = {
    "as_of": F(TIME),
    "figures": F(["x", 7, [], True]),
    "figures/version": F([2, "1", 0, True]),
    "figures/residents": F(NOT_TEXT[:-2]),
    "figures/residents/active": F(COUNT), "figures/residents/recognised": F(COUNT),
    "figures/applications": F(BY_STATUS),
    "figures/companies/licences": F(COUNT), "figures/companies/formations": F(BY_STATUS),
    "figures/companies/tax": F(BY_STATUS), "figures/companies/bank": F(BY_STATUS),
    "figures/cross_region/filed_here": F(BY_STATUS), "figures/cross_region/handled_here": F(BY_STATUS),
    "figures/cross_region/decision_hours": F(["x", 7, []]),
    "figures/cross_region/decision_hours/filed_here": F(["x", 7, [], {"count": 1}], optional=True),
    "figures/cross_region/decision_hours/filed_here/count": F(COUNT),
    "figures/cross_region/decision_hours/filed_here/p50": F(HOURS),
    "figures/exchange/out": F(BY_STATUS), "figures/exchange/in": F(BY_STATUS),
    "figures/processes": F(["x", [], {"E-Residency": {}}, {"x" * 65: {}}, {f"p{i}": {} for i in range(41)}]),
    "figures/processes/e-residency": F(["x", 7, [], {}], optional=True),  # a node may report no process
    "figures/processes/e-residency/started": F(COUNT),
    "figures/processes/e-residency/automatic": F(COUNT),
    "figures/processes/e-residency/deadline_misses": F(COUNT),
    "figures/processes/e-residency/decision_hours": F(["x", 7, [], {"p50": 1}], optional=True),
    "figures/processes/e-residency/decision_hours/p90": F(HOURS),
    "figures/processes/e-residency/steps": F(["x", [], {"Review": {}}, {f"s{i}": {} for i in range(41)}]),
    "figures/processes/e-residency/steps/review": F(["x", 7, []], optional=True),
    "figures/processes/e-residency/steps/review/title": F(name(200)),
    "figures/processes/e-residency/steps/review/entered": F(COUNT),
    "figures/processes/e-residency/steps/review/waiting_mean": F(HOURS, optional=True),
    "figures/processes/e-residency/steps/review/deadline_misses": F(COUNT),
}


def test_malformed_figures_get_a_422_naming_the_field_and_change_nothing(pair):
    before = table_counts(pair.tf)
    tried, wrong = 0, []
    for label, payload in mutations(valid_payload(), SPEC):
        r = signed_post(pair, payload)
        tried += 1
        path = label.split(" ")[0].split("=")[0]
        field = r.json()["errors"][0]["field"] if r.status_code == 422 else None
        expected = "payload" if path == "{}" else f"payload/{path}"
        if field is None or not (field == expected or field.startswith(expected + "/")):
            wrong.append(f"{label}: {r.status_code} {r.text[:200]}")
    assert not wrong, f"{len(wrong)} of {tried} were not refused naming the field:\n" + "\n".join(wrong)
    assert tried > 200
    assert table_counts(pair.tf) == before  # not even an inbox row

    r = signed_post(pair, valid_payload())
    assert r.status_code == 200 and r.json()["result"] == {"kept": True, "as_of": "2026-11-26T08:00:00+00:00"}


def test_an_older_set_never_replaces_a_newer_one(pair):
    assert signed_post(pair, valid_payload("2026-11-26T08:00:00Z")).json()["result"]["kept"] is True
    older = valid_payload("2026-11-26T07:00:00Z")
    older["figures"]["residents"]["active"] = 99
    assert signed_post(pair, older).json()["result"] == {"kept": False, "reason": "older",
                                                          "as_of": "2026-11-26T08:00:00+00:00"}
    with pair.tf.ctx.database.session(write=False) as db:
        assert db.get_one(RegionFigures, "LJ").figures["residents"]["active"] == 12


@pytest.mark.parametrize("title", ["100% <script>alert(1)</script> %(x)s {{ 7*7 }}"])
def test_a_peers_texts_are_shown_as_text(pair, title):
    """A step title is the peer's text: escaped, never a template or a format string."""
    seed_demo(pair.tf.ctx)
    payload = valid_payload()  # a step only the peer's process has, so its title is the peer's
    payload["figures"]["processes"]["e-residency"]["steps"]["vetting"] = {
        "title": title, "entered": 3, "waiting_mean": 2.0, "deadline_misses": 0}
    assert signed_post(pair, payload).status_code == 200
    html = dashboard_html(pair.tf, "tf-admin")
    assert "100% &lt;script&gt;alert(1)&lt;/script&gt; %(x)s {{ 7*7 }}" in section(html, "regions")
    assert "<script" not in html
