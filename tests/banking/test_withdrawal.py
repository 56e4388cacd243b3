"""Withdrawing the consent to share the KYC package with a bank, on each database, without the bank:
before the licence nothing is queued; a request that has not left is cancelled (and may be asked
again); one that may have left is stopped and a notice to the bank queued. With the real bank:
tests/banking/test_bank.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from eresident.banking import service as banking
from eresident.banking.models import BankConsent, BankOutboxMessage
from eresident.seed import seed_demo
from tests.banking.test_bank import bank_view, company, consent
from tests.enterprise.helpers import Founders, formation_body, reserve, submit_and_sign
from tests.factories import Api, bearer
from tests.live import free_port


@pytest.fixture
def journey(make_node):
    node = make_node(bank_url=f"http://127.0.0.1:{free_port()}", bank_timeout_seconds=1.0)  # nobody listens
    seed_demo(node.ctx)
    api = Api(node)
    founders = Founders(api)
    return node, api, founders, (founders.new("BENALI"), founders.new("HADDAD"))


def outbox(node) -> list[tuple[str, int]]:
    with node.ctx.database.session(write=False) as db:
        return [(m.kind, m.attempts) for m in db.scalars(select(BankOutboxMessage)
                                                            .where(BankOutboxMessage.delivered_at.is_(None))
                                                            .order_by(BankOutboxMessage.created_at))]


def test_withdrawn_before_the_licence_nothing_is_queued_and_consenting_again_works(journey):
    node, api, _founders, people = journey
    (founder_token, founder), (supervisor_token, supervisor) = people
    formation = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                                json=formation_body(reserve(api, founder_token).json()["id"], founder,
                                                    supervisor)).json()
    base = f"/api/v1/formations/{formation['id']}"
    nothing = api.client.post(f"{base}/bank-consent/withdrawal", headers=bearer(founder_token),
                              json={"bank": "SANDBOX"})
    assert nothing.status_code == 404 and nothing.headers["content-type"].startswith("application/problem+json")
    unknown = api.client.post(f"{base}/bank-consent/withdrawal", headers=bearer(founder_token), json={"bank": "ACME"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "bank"
    assert api.client.post(f"{base}/bank-consent", headers=bearer(founder_token),
                           json=consent(api)).status_code == 201
    assert api.client.post(f"{base}/bank-consent/withdrawal", headers=bearer(supervisor_token),
                           json={"bank": "SANDBOX"}).status_code == 404  # not the supervisor's formation

    r = api.client.post(f"{base}/bank-consent/withdrawal", headers=bearer(founder_token), json={"bank": "SANDBOX"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["request"], body["sent"], body["bank_notice"]) == (None, "no", "not_needed")
    assert body["consent"]["withdrawn_at"] and "nothing will be sent" in body["what_happened"]
    again = api.client.post(f"{base}/bank-consent/withdrawal", headers=bearer(founder_token), json={"bank": "SANDBOX"})
    assert again.status_code == 409 and again.json()["type"].endswith("/consent-withdrawn")

    done = submit_and_sign(api, formation["id"], [founder_token, supervisor_token])
    assert done["status"] == "approved"
    uscc = done["uscc"]
    assert api.client.get(f"/api/v1/companies/{uscc}/bank", headers=bearer(founder_token)).json()["requests"] == []
    assert outbox(node) == []

    # Consenting again after the licence: a new consent to today's text, and the request is queued.
    r = api.client.post(f"/api/v1/companies/{uscc}/bank/requests", headers=bearer(founder_token), json=consent(api))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "queued" and r.json()["consent"]["withdrawn_at"] is None
    assert outbox(node) == [("account_request", 0)]


def test_a_request_not_yet_sent_is_cancelled_and_can_be_asked_again(journey):
    node, api, founders, people = journey
    founder_token = people[0][0]
    uscc = company(api, founders, people, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."))
    queued = bank_view(api, founder_token, uscc)
    assert queued["status"] == "queued" and queued["consent"]["version"] == banking.CONSENT_VERSION
    assert outbox(node) == [("account_request", 0)]

    assert api.client.post(f"/api/v1/companies/{uscc}/bank/consent-withdrawal", headers=bearer(people[1][0]),
                           json={"bank": "SANDBOX"}).status_code == 404  # another e-resident's company
    r = api.client.post(f"/api/v1/companies/{uscc}/bank/consent-withdrawal", headers=bearer(founder_token),
                        json={"bank": "SANDBOX"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["sent"], body["bank_notice"]) == ("no", "not_needed")
    assert body["request"]["status"] == "cancelled" and body["request"]["withdrawal"]["sent"] == "no"
    cancelled = [step for step in body["request"]["steps"] if step["status"] == "cancelled"]
    assert len(cancelled) == 1 and "received nothing" in cancelled[0]["text"]
    assert body["request"]["delivery"] is None and outbox(node) == []
    report = banking.deliver_due(node.ctx)  # nothing left to send: the bank is not even contacted
    assert (report.delivered, report.failed) == (0, 0)

    # Asked again: the same request (the bank never saw it) goes out with the new consent.
    r = api.client.post(f"/api/v1/companies/{uscc}/bank/requests", headers=bearer(founder_token), json=consent(api))
    assert r.status_code == 201, r.text
    assert r.json()["id"] == queued["id"] and r.json()["status"] == "queued" and r.json()["withdrawal"] is None
    assert outbox(node) == [("account_request", 0)]
    with node.ctx.database.session(write=False) as db:
        row = db.scalar(select(BankConsent))
        assert row.withdrawn_at is None and row.text_version == banking.CONSENT_VERSION


def test_a_request_that_may_have_left_is_stopped_and_the_bank_is_to_be_told(journey):
    node, api, founders, people = journey
    founder_token = people[0][0]
    uscc = company(api, founders, people, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."))
    report = banking.deliver_due(node.ctx)  # the bank is down: one try, whose fate the node cannot know
    assert report.failed == 1 and outbox(node) == [("account_request", 1)]

    r = api.client.post(f"/api/v1/companies/{uscc}/bank/consent-withdrawal", headers=bearer(founder_token),
                        json={"bank": "SANDBOX"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["sent"], body["bank_notice"]) == ("possibly", "queued")
    assert body["request"]["status"] == "withdrawn" and "being told" in body["what_happened"]
    assert body["request"]["next_step"] and body["request"]["delivery"]["kind"] == "consent_withdrawal"
    assert outbox(node) == [("consent_withdrawal", 0)]  # the package itself will not be sent again
    with node.ctx.database.session(write=False) as db:
        notice = db.scalar(select(BankOutboxMessage).where(BankOutboxMessage.kind == "consent_withdrawal"))
        assert notice.payload["request_id"] == body["request"]["id"] and notice.payload["withdrawn_at"]

    # The request is finished for the founder: no second request to that bank, no booking.
    twice = api.client.post(f"/api/v1/companies/{uscc}/bank/requests", headers=bearer(founder_token),
                            json=consent(api))
    assert twice.status_code == 409 and twice.json()["type"].endswith("/already-requested")
    booking = api.client.post(f"/api/v1/companies/{uscc}/bank/video-call", headers=bearer(founder_token),
                              json={"slot": "2027-01-04T02:00:00Z"})
    assert booking.status_code == 409
    # While the bank does not take the notice, an officer sees the request as stuck.
    banking.deliver_due(node.ctx)
    admin = founders.official("lj-admin")
    stuck = api.client.get("/api/v1/bank-requests/stuck", headers=bearer(admin)).json()
    assert [(s["uscc"], s["status"], s["delivery"]["kind"]) for s in stuck] == [(uscc, "withdrawn",
                                                                                 "consent_withdrawal")]
