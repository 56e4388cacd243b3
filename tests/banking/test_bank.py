"""Bank accounts with the real sandbox bank process, on each database: the request queued with the
licence, the bank down and restarted (accounts open exactly once), refused KYC, the video call, and
forged or replayed callbacks that change nothing."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eresident.banking import protocol
from eresident.banking import service as banking
from tests.banking.conftest import real_time
from tests.enterprise.helpers import Founders, formation_body, submit_and_sign
from tests.factories import Api, bearer
from tests.live import wait_for

pytestmark = pytest.mark.slow




def consent(api) -> dict:
    bank = api.client.get("/api/v1/banks").json()[0]
    return {"bank": bank["code"], "consent_text_sha256": bank["consent_text_sha256"], "agree": True}


def company(api, founders, people, name: tuple[str, str], *, pre_consent: bool = True, **overrides) -> str:
    (founder_token, founder), (supervisor_token, supervisor) = people
    r = api.client.post("/api/v1/names/reservations", headers=bearer(founder_token),
                        json={"name_zh": name[0], "name_en": name[1]})
    assert r.status_code == 201, r.text
    f = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(r.json()["id"], founder, supervisor, **overrides))
    assert f.status_code == 201, f.text
    if pre_consent:
        c = api.client.post(f"/api/v1/formations/{f.json()['id']}/bank-consent", headers=bearer(founder_token),
                            json=consent(api))
        assert c.status_code == 201, c.text
    done = submit_and_sign(api, f.json()["id"], [founder_token, supervisor_token])
    assert done["status"] == "approved", done
    return done["uscc"]


def bank_view(api, token, uscc) -> dict:
    r = api.client.get(f"/api/v1/companies/{uscc}/bank", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["requests"][0]


def deliver_until_sent(node, timeout: float = 20.0) -> None:
    def sent():
        banking.deliver_due(node.ctx)
        with node.ctx.database.session(write=False) as db:
            from sqlalchemy import func, select

            from eresident.banking.models import BankOutboxMessage
            return db.scalar(select(func.count()).select_from(BankOutboxMessage)
                             .where(BankOutboxMessage.delivered_at.is_(None))) == 0
    wait_for(sent, timeout, every=0.3)


def signed_callback(node, event: dict, private_key, kid: str, *, raw: bytes | None = None) -> httpx.Response:
    url = node.settings.base_url + protocol.CALLBACK_PATH
    headers = protocol.sign_post(url=url, body=protocol.dumps(event), private_key=private_key, kid=kid,
                                 now=node.ctx.clock.now(), nonce=event["event_id"])
    return httpx.post(url, content=raw if raw is not None else protocol.dumps(event), headers=headers, timeout=10)


@pytest.fixture
def journey(served_node):
    api = Api(served_node)
    founders = Founders(api)
    people = (founders.new("BENALI"), founders.new("HADDAD"))
    admin = founders.official("lj-admin")
    return api, founders, people, admin


def test_bank_down_then_restarted_opens_the_accounts_exactly_once_and_callbacks_are_checked(
        served_node, bank, journey):
    api, founders, people, admin = journey
    founder_token = people[0][0]
    # The consent is to the exact text: another digest is refused, naming the field.
    bad = api.client.post("/api/v1/companies/91500000E00000000X/bank/requests", headers=bearer(founder_token),
                          json={**consent(api), "consent_text_sha256": "0" * 64})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "consent_text_sha256"

    uscc = company(api, founders, people, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."))
    view = bank_view(api, founder_token, uscc)
    assert view["status"] == "queued" and view["steps"][0]["status"] == "queued"
    real_time(served_node)

    # The bank is down: the request waits, the founder is told, an officer sees it as stuck.
    report = banking.deliver_due(served_node.ctx)
    assert report.failed == 1 and report.delivered == 0
    view = bank_view(api, founder_token, uscc)
    assert view["status"] == "queued" and "not reachable" in view["steps"][-1]["text"]
    assert view["delivery"]["attempts"] == 1 and view["delivery"]["last_error"]
    stuck = api.client.get("/api/v1/bank-requests/stuck", headers=bearer(admin)).json()
    assert [s["uscc"] for s in stuck] == [uscc]
    assert api.client.get("/api/v1/bank-requests/stuck", headers=bearer(founder_token)).status_code == 401

    # The bank comes up slow: it stores the request, the node gives up waiting, the bank dies.
    bank.start(mode="slow", delay=4.0)
    bank.pin(served_node)  # the operator pins the bank's callback key once
    time.sleep(1.1)
    report = banking.deliver_due(served_node.ctx)
    assert report.delivered == 0 and "Timeout" in report.errors[0]
    bank.kill()
    bank.start()  # restarted, same database: the retry gets the first answer, nothing twice
    deliver_until_sent(served_node)
    opened = wait_for(lambda: (v := bank_view(api, founder_token, uscc))["status"] == "opened" and v)
    assert [a["kind"] for a in opened["accounts"]] == ["basic_rmb", "capital_foreign_currency"]
    assert [a["currency"] for a in opened["accounts"]] == ["CNY", "USD"]
    for account in opened["accounts"]:
        assert len(account["number"]) == 19 and protocol.luhn_valid(account["number"])
    at_bank = bank.admin("GET", "/admin/requests").json()
    assert len(at_bank) == 1 and len(at_bank[0]["accounts"]) == 2
    assert at_bank[0]["request_id"] == opened["id"]
    wait_for(lambda: bank.admin("GET", "/admin/requests").json()[0]["callbacks_pending"] == 0)
    opened = bank_view(api, founder_token, uscc)
    assert opened["steps"][0]["status"] == "queued" and opened["steps"][-1]["status"] == "opened"
    assert any(s["text"].startswith("Accounts opened") for s in opened["steps"])
    assert api.client.get("/api/v1/bank-requests/stuck", headers=bearer(admin)).json() == []

    # Callbacks: a valid one sent twice applies once; forged ones are refused and change nothing.
    key = bank.private_key()
    url = served_node.settings.base_url + protocol.CALLBACK_PATH

    def send(body: dict, private_key, kid: str, *, raw: bytes | None = None):
        data = raw if raw is not None else protocol.dumps(body)
        headers = protocol.sign_post(url=url, body=protocol.dumps(body), private_key=private_key, kid=kid,
                                     now=served_node.ctx.clock.now(), nonce=body["event_id"])
        return httpx.post(url, content=data, headers=headers, timeout=10)

    event = {"event_id": str(uuid.uuid4()), "request_id": opened["id"], "bank_reference": opened["bank_reference"],
             "seq": 99, "status": "refused", "detail": {"reason": "forged"}}
    assert send(event, Ed25519PrivateKey.generate(), key.kid).status_code == 401  # wrong key, right kid
    unknown = send(event, Ed25519PrivateKey.generate(), "SANDBOX-bank-evil")
    assert unknown.status_code == 401 and unknown.json()["type"].endswith("key-unknown")
    tampered = send(event, key.private_key, key.kid, raw=protocol.dumps({**event, "status": "opened"}))
    assert tampered.status_code == 401 and tampered.json()["type"].endswith("digest-mismatch")
    late = {**event, "status": "received", "detail": {}}  # signed by the bank, but older than "opened"
    first = send(late, key.private_key, key.kid)
    assert first.status_code == 200 and first.json()["status"] == "stale"
    again = send(late, key.private_key, key.kid)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    after = bank_view(api, founder_token, uscc)
    assert after["status"] == "opened" and after["accounts"] == opened["accounts"]
    assert len(after["steps"]) == len(opened["steps"])


def test_refused_kyc_and_a_video_call_reach_the_founder(served_node, bank, journey):
    api, founders, people, _admin = journey
    founder_token, founder = people[0]
    bank.start()
    # Refused: a beneficial owner on the bank's deny list. Asked after the licence this time.
    refused_uscc = company(api, founders, people, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."),
                           pre_consent=False,
                           beneficial_owners=[{"name": "Zoran DENIC", "country": "RS", "e_resident_number": founder,
                                               "share_percent": "100"}])
    assert api.client.get(f"/api/v1/companies/{refused_uscc}/bank", headers=bearer(founder_token)).json() == {
        "uscc": refused_uscc, "requests": []}
    r = api.client.post(f"/api/v1/companies/{refused_uscc}/bank/requests", headers=bearer(founder_token),
                        json=consent(api))
    assert r.status_code == 201, r.text
    twice = api.client.post(f"/api/v1/companies/{refused_uscc}/bank/requests", headers=bearer(founder_token),
                            json=consent(api))
    assert twice.status_code == 409
    # Video call: capital above the bank's threshold (USD 2,000,000 ≈ CNY 14.2 million).
    video_uscc = company(api, founders, people, ("重庆云帆科技有限公司", "Chongqing Yunfan Technology Co., Ltd."),
                         registered_capital="2000000")
    real_time(served_node)
    deliver_until_sent(served_node)

    # The bank decides and calls back, but nobody has pinned its key on this node yet: every
    # callback is refused (the bank keeps retrying), even one signed with the bank's real key.
    wait_for(lambda: all(r["status"] != "received" and r["callbacks_pending"]
                         for r in bank.admin("GET", "/admin/requests").json()))
    key = bank.private_key()
    event = {"event_id": str(uuid.uuid4()), "request_id": bank_view(api, founder_token, refused_uscc)["id"],
             "seq": 1, "status": "received", "detail": {}}
    unpinned = signed_callback(served_node, event, key.private_key, key.kid)
    assert unpinned.status_code == 401 and unpinned.json()["type"].endswith("/key-unknown")
    time.sleep(1.0)
    assert bank_view(api, founder_token, refused_uscc)["status"] == "with_bank"
    assert bank_view(api, founder_token, video_uscc)["status"] == "with_bank"
    assert all(r["callbacks_pending"] for r in bank.admin("GET", "/admin/requests").json())
    bank.pin(served_node)  # pinned: the bank's next retries are accepted

    refused = wait_for(lambda: (v := bank_view(api, founder_token, refused_uscc))["status"] == "refused" and v)
    assert "restricted-persons" in refused["refusal"]["reason"] and refused["next_step"]
    assert refused["accounts"] == []
    video = wait_for(lambda: (v := bank_view(api, founder_token, video_uscc))["status"] == "video_call_required"
                     and v)
    slots = video["video_call"]["slots"]
    assert len(slots) == 3 and "video-call" in video["next_step"]
    bad = api.client.post(f"/api/v1/companies/{video_uscc}/bank/video-call", headers=bearer(founder_token),
                          json={"slot": "2030-01-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "slot"
    r = api.client.post(f"/api/v1/companies/{video_uscc}/bank/video-call", headers=bearer(founder_token),
                        json={"slot": slots[1]})
    assert r.status_code == 200 and r.json()["status"] == "video_call_booking"
    deliver_until_sent(served_node)
    booked = wait_for(lambda: (v := bank_view(api, founder_token, video_uscc))["status"] == "video_call_booked"
                      and v)
    assert booked["video_call"]["booked_slot"] == slots[1]
    assert bank.admin("POST", f"/admin/video-calls/{booked['bank_reference']}/complete",
                      json={"passed": True}).status_code == 200
    opened = wait_for(lambda: (v := bank_view(api, founder_token, video_uscc))["status"] == "opened" and v)
    assert len(opened["accounts"]) == 2


def withdraw(api, token, uscc) -> dict:
    r = api.client.post(f"/api/v1/companies/{uscc}/bank/consent-withdrawal", headers=bearer(token),
                        json={"bank": "SANDBOX"})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_withdrawn_consent_reaches_the_bank_which_stops_deletes_or_keeps_what_the_law_requires(
        served_node, bank, journey):
    api, founders, people, _admin = journey
    founder_token = people[0][0]
    # The bank is down: the package is tried once (did it arrive?), then the founder withdraws.
    lost_uscc = company(api, founders, people, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."))
    real_time(served_node)
    assert banking.deliver_due(served_node.ctx).failed == 1
    lost = withdraw(api, founder_token, lost_uscc)
    assert (lost["sent"], lost["bank_notice"], lost["request"]["status"]) == ("possibly", "queued", "withdrawn")

    bank.start()
    bank.pin(served_node)
    # A request waiting for its video call, and one whose accounts get opened.
    video_uscc = company(api, founders, people, ("重庆云帆科技有限公司", "Chongqing Yunfan Technology Co., Ltd."),
                         registered_capital="2000000")
    open_uscc = company(api, founders, people, ("重庆青川科技有限公司", "Chongqing Qingchuan Technology Co., Ltd."))
    deliver_until_sent(served_node)
    lost = wait_for(lambda: (v := bank_view(api, founder_token, lost_uscc))["withdrawal"]["bank_notice"]
                    == "confirmed" and v)
    assert lost["withdrawal"]["bank_answer"]["held"] == "nothing" and lost["status"] == "withdrawn"
    assert lost["steps"][-1]["text"].startswith("The bank confirmed your withdrawal")

    # The package the node could not confirm turns up at the bank late: refused, nothing stored.
    from eresident.banking.models import BankRequest
    from eresident.federation.keys import node_keys

    with served_node.ctx.database.session(write=False) as db:
        package = db.get(BankRequest, uuid.UUID(lost["id"])).package
    url = bank.url + protocol.REQUESTS_PATH
    key = node_keys(served_node.settings).signing_key(served_node.ctx.clock.now())
    body = protocol.dumps(package)
    late = httpx.post(url, content=body, timeout=10, headers=protocol.sign_post(
        url=url, body=body, private_key=key.key.private_key, kid=key.kid, now=served_node.ctx.clock.now(),
        nonce=str(uuid.uuid4()), idempotency_key=lost["id"]))
    assert late.status_code == 409 and late.json()["type"].endswith("/consent-withdrawn")
    assert lost["id"] not in [r["request_id"] for r in bank.admin("GET", "/admin/requests").json()]

    # Withdrawn while the bank waits for the video call: the bank stops and deletes the package.
    wait_for(lambda: bank_view(api, founder_token, video_uscc)["status"] == "video_call_required")
    video = withdraw(api, founder_token, video_uscc)
    assert (video["sent"], video["bank_notice"], video["request"]["status"]) == ("yes", "queued", "withdrawn")
    deliver_until_sent(served_node)
    video = bank_view(api, founder_token, video_uscc)
    assert video["withdrawal"]["bank_notice"] == "confirmed" and video["withdrawal"]["bank_answer"]["held"] == "deleted"
    at_bank = {r["request_id"]: r for r in bank.admin("GET", "/admin/requests").json()}
    assert at_bank[video["id"]]["status"] == "withdrawn" and at_bank[video["id"]]["accounts"] == []
    booking = api.client.post(f"/api/v1/companies/{video_uscc}/bank/video-call", headers=bearer(founder_token),
                              json={"slot": video["video_call"]["slots"][0]})
    assert booking.status_code == 409

    # Withdrawn after the accounts were opened: they stay open, the bank keeps the KYC record the law
    # requires and says so; the founder's view keeps the accounts.
    opened = wait_for(lambda: (v := bank_view(api, founder_token, open_uscc))["status"] == "opened" and v)
    after = withdraw(api, founder_token, open_uscc)
    assert (after["sent"], after["bank_notice"], after["request"]["status"]) == ("yes", "queued", "opened")
    deliver_until_sent(served_node)
    after = bank_view(api, founder_token, open_uscc)
    answer = after["withdrawal"]["bank_answer"]
    assert answer["held"] == "kept" and answer["accounts"] == opened["accounts"] == after["accounts"]
    assert "anti-money-laundering" in answer["detail"]
