"""Cadre exchange between two nodes, each with its own database: LJ seconds an official to TF, TF
accepts, LJ vouches, the official signs in at TF and works a TF case; access ends with the term or
a withdrawal, at once; forged, foreign or misdirected credentials are refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pyotp
import pytest
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import select
from tests.conftest import START
from tests.factories import Api, bearer
from tests.federation.conftest import Network

from eresident.audit.models import AuditEvent
from eresident.federation import service as federation
from eresident.federation.keys import iso
from eresident.federation.models import OutboxMessage
from eresident.officials import service as officials
from eresident.officials.models import Official
from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment, Secondee
from eresident.security.totp import current_code
from eresident.seed import DEMO_PASSWORD, seed_demo


@pytest.fixture
def ex(pair):
    seed_demo(pair.lj.ctx)
    seed_demo(pair.tf.ctx)
    return Exchange(pair)


class Exchange:
    """Drives both nodes through their HTTP APIs, with the wire between them."""

    def __init__(self, pair):
        self.pair, self.lj, self.tf = pair, pair.lj, pair.tf
        self.clients = {"LJ": self.lj.client(), "TF": self.tf.client()}

    def http(self, region: str):
        return self.clients[region]

    def login(self, region: str, username: str) -> str:
        """Password + TOTP at a node; both clocks move together (a code works once)."""
        node = self.lj if region == "LJ" else self.tf
        with node.ctx.database.session(write=False) as db:
            official = officials.by_username(db, username)
            secret, last = officials.totp_secret(node.ctx, official), official.totp_last_step
        while pyotp.TOTP(secret).timecode(node.clock.now()) <= last:
            self.pair.advance(timedelta(seconds=30))
        r = self.http(region).post("/api/v1/officials/login", json={
            "username": username, "password": DEMO_PASSWORD, "totp": current_code(secret, node.clock.now())})
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def deliver(self) -> None:
        """Both outboxes, once each way, over the test wire."""
        network = Network(self.lj, self.tf)
        for node in (self.lj, self.tf):
            report = federation.deliver_due(node.ctx, client=network.client())
            assert report.failed == 0, report.errors

    def propose(self, *, official: str = "lj-reviewer", roles=("reviewer",), start=START,
                end=START + timedelta(days=30), host: str = "TF") -> str:
        admin = self.login("LJ", "lj-admin")
        r = self.http("LJ").post("/api/v1/secondments", headers=bearer(admin), json={
            "official": official, "host_region": host, "term_start": iso(start), "term_end": iso(end),
            "host_roles": list(roles), "department": "Enterprise services bureau",
            "purpose": "Learn Tianfu's formation review; help with the backlog."})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def accept(self, secondment_id: str) -> None:
        admin = self.login("TF", "tf-admin")
        r = self.http("TF").post(f"/api/v1/secondments/{secondment_id}/accept", headers=bearer(admin),
                                 json={"note": "Welcome"})
        assert r.status_code == 200, r.text

    def accepted(self, **kwargs) -> str:
        secondment_id = self.propose(**kwargs)
        self.deliver()
        self.accept(secondment_id)
        self.deliver()
        return secondment_id

    def credential(self, secondment_id: str, username: str = "lj-reviewer") -> dict:
        token = self.login("LJ", username)
        r = self.http("LJ").post(f"/api/v1/officials/me/secondments/{secondment_id}/credential",
                                 headers=bearer(token))
        assert r.status_code == 200, r.text
        return r.json()

    def secondee_login(self, credential: str):
        return self.http("TF").post("/api/v1/officials/secondee-login", json={"credential": credential})

    def signed_in(self, secondment_id: str) -> str:
        r = self.secondee_login(self.credential(secondment_id)["credential"])
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def tf_case(self) -> str:
        """A TF e-residency application waiting for review (checked at TF's own site)."""
        api = Api(self.tf)
        api.client = self.http("TF")
        token = api.applicant()
        r = api.submit(token, site_code="MK-DXB")
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
        slots = self.http("TF").get("/api/v1/sites/MK-DXB/slots").json()
        r = self.http("TF").post(f"/api/v1/applications/{app_id}/appointment", headers=bearer(token),
                                 json={"starts_at": slots[0]["starts_at"], "mode": "video"})
        assert r.status_code == 201, r.text
        agent = self.login("TF", "tf-agent")
        r = self.http("TF").post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
            "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
        assert r.status_code == 201, r.text
        return app_id


def rows(node, model, *where):
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(model).where(*where)))


def test_propose_accept_vouch_sign_in_and_work_a_host_case(ex):
    secondment_id = ex.propose()
    [out] = rows(ex.lj, OutgoingSecondment)
    assert out.status == "proposed"
    ex.deliver()
    [inc] = rows(ex.tf, IncomingSecondment)
    assert (inc.status, inc.home_region, inc.home_username, inc.host_roles) == (
        "proposed", "LJ", "lj-reviewer", ["reviewer"])
    ex.accept(secondment_id)
    ex.deliver()
    assert rows(ex.lj, OutgoingSecondment)[0].status == "accepted"

    app_id = ex.tf_case()
    issued = ex.credential(secondment_id)
    header = json.loads(base64.urlsafe_b64decode(issued["credential"].split(".")[0] + "=="))
    assert header["typ"] == "secondee+jwt" and header["alg"] == "Ed25519" and header["kid"].startswith("LJ-fed-")
    assert issued["expires_at"] == iso(ex.lj.clock.now() + timedelta(minutes=5))
    r = ex.secondee_login(issued["credential"])
    assert r.status_code == 200, r.text
    token = r.json()["token"]

    me = ex.http("TF").get("/api/v1/officials/me", headers=bearer(token)).json()
    assert me == {"username": "lj-reviewer@LJ", "display_name": "Reviewer Wang Fang", "home_region": "LJ",
                  "acting_region": "TF", "roles": ["reviewer"]}
    # The host's worklist and case API, unchanged, now serve the secondee.
    assert app_id in [c["id"] for c in ex.http("TF").get("/api/v1/cases", headers=bearer(token)).json()]
    assert ex.http("TF").post(f"/api/v1/cases/{app_id}/claim", headers=bearer(token)).status_code == 200
    r = ex.http("TF").post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(token),
                           json={"recommendation": "approve", "note": "Checked by the LJ secondee."})
    assert r.status_code == 200 and r.json()["status"] == "awaiting_decision", r.text
    page = ex.http("TF").get("/official", headers={**bearer(token), "Accept": "text/html"})
    assert page.status_code == 200 and "home region" in page.text

    # The host's audit log shows home and host for the secondee's actions.
    [shadow] = rows(ex.tf, Official, Official.username == "lj-reviewer@LJ")
    events = rows(ex.tf, AuditEvent, AuditEvent.entity_id == app_id, AuditEvent.actor_id == str(shadow.id))
    assert [(e.action, e.region, e.actor_home_region) for e in events] == [
        ("application.claimed", "TF", "LJ"), ("application.recommended", "TF", "LJ")]
    [marker] = rows(ex.tf, Secondee)
    assert (marker.official_id, marker.home_region, marker.home_official_id) == (shadow.id, "LJ", str(out.official_id))
    [signed_in] = rows(ex.tf, AuditEvent, AuditEvent.action == "secondee.signed_in")
    assert signed_in.after["home_official_id"] == str(out.official_id) and signed_in.actor_home_region == "LJ"
    # …and the home's log shows it vouched.
    [vouched] = rows(ex.lj, AuditEvent, AuditEvent.action == "secondment.vouched")
    assert vouched.entity_id == secondment_id and vouched.actor_home_region == "LJ"

    # Exchange overview on both sides (API and page).
    tf_admin = ex.login("TF", "tf-admin")
    overview = ex.http("TF").get("/api/v1/secondments", headers=bearer(tf_admin)).json()
    [row] = overview["incoming"]
    assert (row["official"], row["phase"], row["department"]) == ("lj-reviewer@LJ", "active",
                                                                  "Enterprise services bureau")
    assert row["handled"] == {"actions": 2, "cases": 1, "transitions": row["handled"]["transitions"]}
    assert row["handled"]["transitions"] >= 2
    page = ex.http("TF").get("/official/exchange", headers={**bearer(tf_admin), "Accept": "text/html"})
    assert page.status_code == 200 and "lj-reviewer@LJ" in page.text and "<th scope=\"col\">Cases handled" in page.text
    lj_admin = ex.login("LJ", "lj-admin")
    [row] = ex.http("LJ").get("/api/v1/secondments", headers=bearer(lj_admin)).json()["outgoing"]
    assert (row["official"], row["host_region"], row["phase"]) == ("lj-reviewer", "TF", "active")


def test_the_secondee_cannot_act_in_home_only_roles_at_the_host(ex):
    # lj-approver is seconded as a reviewer only: at TF they may not decide.
    secondment_id = ex.accepted(official="lj-approver", roles=("reviewer",))
    app_id = ex.tf_case()
    issued = ex.credential(secondment_id, username="lj-approver")
    token = ex.secondee_login(issued["credential"]).json()["token"]
    r = ex.http("TF").post(f"/api/v1/cases/{app_id}/decide", headers=bearer(token),
                           json={"decision": "approve", "reasons": ""})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # Nor administer the host, nor read its audit log.
    assert ex.http("TF").get("/api/v1/secondments", headers=bearer(token)).status_code == 403
    assert ex.http("TF").get("/api/v1/federation/status", headers=bearer(token)).status_code == 403
    # And a home official's password does not open the host: the shadow has none.
    r = ex.http("TF").post("/api/v1/officials/login", json={"username": "lj-approver@LJ",
                                                            "password": DEMO_PASSWORD, "totp": "000000"})
    assert r.status_code == 401


def test_access_ends_when_the_term_ends_mid_session(ex):
    end = START + timedelta(hours=2)
    secondment_id = ex.accepted(end=end)
    token = ex.signed_in(secondment_id)
    assert ex.http("TF").get("/api/v1/officials/me", headers=bearer(token)).status_code == 200
    ex.pair.advance(end - ex.tf.clock.now() - timedelta(seconds=1))
    assert ex.http("TF").get("/api/v1/officials/me", headers=bearer(token)).status_code == 200
    ex.pair.advance(timedelta(seconds=1))  # the term's last second has passed; no message was sent
    r = ex.http("TF").get("/api/v1/cases", headers=bearer(token))
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthenticated")
    # The home vouches no more, and an old credential cannot open a new session either.
    lj = ex.login("LJ", "lj-reviewer")
    r = ex.http("LJ").post(f"/api/v1/officials/me/secondments/{secondment_id}/credential", headers=bearer(lj))
    assert r.status_code == 409 and r.json()["type"].endswith("/secondment-not-in-term")


def test_a_credential_made_just_before_the_end_does_not_outlive_the_term(ex):
    end = START + timedelta(hours=1)
    secondment_id = ex.accepted(end=end)
    ex.pair.advance(end - ex.lj.clock.now() - timedelta(minutes=2))
    issued = ex.credential(secondment_id)
    assert issued["expires_at"] <= iso(end)
    r = ex.secondee_login(issued["credential"])
    assert r.status_code == 200 and r.json()["expires_at"] == iso(end)


def test_a_withdrawal_ends_access_at_once(ex):
    secondment_id = ex.accepted()
    app_id = ex.tf_case()
    token = ex.signed_in(secondment_id)
    assert ex.http("TF").post(f"/api/v1/cases/{app_id}/claim", headers=bearer(token)).status_code == 200
    spare = ex.credential(secondment_id)["credential"]  # fetched before the withdrawal

    admin = ex.login("LJ", "lj-admin")
    r = ex.http("LJ").post(f"/api/v1/secondments/{secondment_id}/withdraw", headers=bearer(admin),
                           json={"reason": "Needed at home."})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    # The home stops vouching in the same transaction.
    lj = ex.login("LJ", "lj-reviewer")
    r = ex.http("LJ").post(f"/api/v1/officials/me/secondments/{secondment_id}/credential", headers=bearer(lj))
    assert r.status_code == 409
    ex.deliver()
    # The host applied it: the live session is gone, the roles too, the spare credential is refused.
    r = ex.http("TF").get("/api/v1/cases", headers=bearer(token))
    assert r.status_code == 401
    r = ex.secondee_login(spare)
    assert r.status_code == 401 and r.json()["type"].endswith("/secondment-withdrawn")
    assert r.json()["errors"][0]["field"] == "credential"
    [shadow] = rows(ex.tf, Official, Official.username == "lj-reviewer@LJ")
    assert shadow.active is False and shadow.roles == []
    [inc] = rows(ex.tf, IncomingSecondment)
    assert inc.status == "withdrawn" and inc.withdraw_reason == "Needed at home."


def test_a_withdrawal_that_overtakes_the_proposal_wins(ex):
    secondment_id = ex.propose()
    admin = ex.login("LJ", "lj-admin")
    assert ex.http("LJ").post(f"/api/v1/secondments/{secondment_id}/withdraw", headers=bearer(admin),
                              json={"reason": "Changed our minds."}).status_code == 200
    # Deliver the withdrawal first (retries reorder messages), then the proposal.
    with ex.lj.ctx.database.session(write=True) as db:
        for row in db.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "secondment.proposed")):
            row.next_attempt_at = ex.lj.clock.now() + timedelta(seconds=5)
    ex.deliver()
    ex.pair.advance(timedelta(seconds=6))
    ex.deliver()
    [inc] = rows(ex.tf, IncomingSecondment)
    assert inc.status == "withdrawn"
    tf_admin = ex.login("TF", "tf-admin")
    r = ex.http("TF").post(f"/api/v1/secondments/{secondment_id}/accept", headers=bearer(tf_admin), json={})
    assert r.status_code == 409


def test_a_declined_secondment_cannot_be_vouched_for(ex):
    secondment_id = ex.propose()
    ex.deliver()
    admin = ex.login("TF", "tf-admin")
    r = ex.http("TF").post(f"/api/v1/secondments/{secondment_id}/decline", headers=bearer(admin),
                           json={"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("reason")
    r = ex.http("TF").post(f"/api/v1/secondments/{secondment_id}/decline", headers=bearer(admin),
                           json={"reason": "No capacity to supervise this quarter."})
    assert r.status_code == 200 and r.json()["status"] == "declined"
    ex.deliver()
    [out] = rows(ex.lj, OutgoingSecondment)
    assert out.status == "declined" and out.answer_note == "No capacity to supervise this quarter."
    lj = ex.login("LJ", "lj-reviewer")
    r = ex.http("LJ").post(f"/api/v1/officials/me/secondments/{secondment_id}/credential", headers=bearer(lj))
    assert r.status_code == 409 and r.json()["type"].endswith("/secondment-not-accepted")


def _forge(claims: dict, *, key: OKPKey, kid: str) -> str:
    return jws.serialize_compact({"alg": "Ed25519", "typ": "secondee+jwt", "kid": kid},
                                 json.dumps(claims).encode(), key, algorithms=["Ed25519"])


def _claims(credential: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(credential.split(".")[1] + "=="))


def test_forged_foreign_and_replayed_credentials_are_refused(ex):
    secondment_id = ex.accepted()
    genuine = ex.credential(secondment_id)["credential"]
    kid = json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "=="))["kid"]
    claims = _claims(genuine)
    stranger = OKPKey.generate_key("Ed25519", private=True)

    def refused(credential, code):
        r = ex.secondee_login(credential)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/" + code), r.json()
        assert r.json()["errors"][0]["field"] == "credential"

    # Signed with a key that claims to be LJ's but is not.
    refused(_forge(claims, key=stranger, kid=kid), "credential-signature")
    # A tampered payload (more roles) under the genuine signature.
    head, _, sig = genuine.split(".")
    body = base64.urlsafe_b64encode(json.dumps(claims | {"roles": ["reviewer", "admin"]}).encode()).rstrip(b"=")
    refused(f"{head}.{body.decode()}.{sig}", "credential-signature")
    # An issuer this node does not trust.
    refused(_forge(claims | {"iss": "XX", "home_region": "XX"}, key=stranger, kid="XX-fed-unknown"), "key-unknown")
    # A credential for another host (signed genuinely by LJ, but the audience is not TF).
    from eresident.federation.keys import node_keys

    lj_key = node_keys(ex.lj.settings).signing_key(ex.lj.clock.now())
    refused(_forge(claims | {"aud": "GZ", "host_region": "GZ"}, key=lj_key.key, kid=lj_key.kid),
            "credential-audience")
    # LJ cannot vouch for someone it did not second (another official id).
    refused(_forge(claims | {"sub": str(uuid.uuid4()), "jti": "other"}, key=lj_key.key, kid=lj_key.kid),
            "secondment-unknown")
    # A credential whose life is longer than the host accepts.
    refused(_forge(claims | {"exp": claims["iat"] + 86400, "jti": "long"}, key=lj_key.key, kid=lj_key.kid),
            "credential-claims")
    # Malformed: the field is named.
    r = ex.secondee_login("not a credential")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "credential"
    r = ex.http("TF").post("/api/v1/officials/secondee-login", json={})
    assert r.status_code == 422 and "credential" in r.json()["errors"][0]["field"]

    # The genuine one works once; a replay is refused; an expired one is refused.
    assert ex.secondee_login(genuine).status_code == 200
    refused(genuine, "credential-replayed")
    late = ex.credential(secondment_id)["credential"]
    ex.pair.advance(timedelta(minutes=5, seconds=1))
    refused(late, "credential-expired")
    # A revoked home key fails closed.
    from eresident.federation import trust

    fresh = ex.credential(secondment_id)["credential"]
    trust.save_trust(ex.tf.settings, trust.revoke(trust.load_trust(ex.tf.settings), kid))
    refused(fresh, "key-revoked")


def test_proposals_are_checked_and_name_the_field(ex):
    admin = ex.login("LJ", "lj-admin")

    def propose(**changes):
        body = {"official": "lj-reviewer", "host_region": "TF", "term_start": iso(START),
                "term_end": iso(START + timedelta(days=10)), "host_roles": ["reviewer"],
                "department": "Bureau", "purpose": "Exchange"} | changes
        return ex.http("LJ").post("/api/v1/secondments", headers=bearer(admin), json=body)

    for changes, field in (({"term_end": iso(START - timedelta(days=1))}, "term_end"),
                           ({"term_end": "2026-12-01T00:00:00"}, "term_end"),
                           ({"host_roles": ["overlord"]}, "host_roles"),
                           ({"host_roles": ["reviewer", "admin"]}, "host_roles"),  # not on secondment
                           ({"host_region": "LJ"}, "host_region"),
                           ({"host_region": "GZ"}, "host_region"),
                           ({"official": "nobody"}, "official")):
        r = propose(**changes)
        assert r.status_code == 422, (changes, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"].endswith(field), (changes, r.json())
    assert propose().status_code == 201
    r = propose(term_start=iso(START + timedelta(days=5)), term_end=iso(START + timedelta(days=20)))
    assert r.status_code == 409 and r.json()["type"].endswith("/secondment-overlaps")
    # Only administrators propose.
    reviewer = ex.login("LJ", "lj-reviewer")
    r = ex.http("LJ").post("/api/v1/secondments", headers=bearer(reviewer), json={
        "official": "lj-reviewer", "host_region": "TF", "term_start": iso(START),
        "term_end": iso(START + timedelta(days=10)), "host_roles": ["reviewer"], "department": "B",
        "purpose": "E"})
    assert r.status_code == 403


def test_a_host_seconds_nobody_on_behalf_of_another_region(ex):
    """A peer may propose only its own officials: TF cannot tell LJ to host LJ's own official, and a
    secondee shadow at TF cannot be seconded onwards."""
    secondment_id = ex.accepted()
    ex.signed_in(secondment_id)
    admin = ex.login("TF", "tf-admin")
    r = ex.http("TF").post("/api/v1/secondments", headers=bearer(admin), json={
        "official": "lj-reviewer@LJ", "host_region": "LJ", "term_start": iso(START),
        "term_end": iso(START + timedelta(days=10)), "host_roles": ["approver"], "department": "B",
        "purpose": "E"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "official"


def _cli_env(node) -> dict[str, str]:
    s = node.settings
    return {"ERESIDENT_REGION": s.region, "ERESIDENT_DATA_DIR": str(s.data_dir),
            "ERESIDENT_DATABASE_URL": s.database_url, "ERESIDENT_BASE_URL": s.base_url}


def test_operators_cli_propose_accept_list_withdraw(ex):
    from typer.testing import CliRunner

    from eresident.cli import app
    from eresident.kit.clock import Clock

    def run(node, *args):
        result = CliRunner().invoke(app, ["federation", "secondment", *args], env=_cli_env(node))
        return result

    now = Clock().now()  # the CLI runs on the real clock
    bad = run(ex.lj, "propose", "lj-reviewer", "--host", "TF", "--start", iso(now), "--end", iso(now),
              "--role", "reviewer", "--department", "Bureau", "--purpose", "Exchange")
    assert bad.exit_code == 1 and "term_end" in bad.output
    proposed = run(ex.lj, "propose", "lj-reviewer", "--host", "TF", "--start", iso(now),
                   "--end", iso(now + timedelta(days=30)), "--role", "reviewer", "--role", "approver",
                   "--department", "Enterprise services bureau", "--purpose", "Exchange")
    assert proposed.exit_code == 0, proposed.output
    secondment_id, status = proposed.output.split()
    assert status == "proposed"
    lag = Clock().now() - ex.lj.clock.now()  # the outbox row is due from the CLI's real time
    if lag > timedelta(0):
        ex.pair.advance(lag + timedelta(seconds=1))
    ex.deliver()
    accepted = run(ex.tf, "accept", secondment_id, "--note", "Welcome")
    assert accepted.exit_code == 0 and accepted.output.split() == [secondment_id, "accepted"], accepted.output
    assert run(ex.tf, "accept", secondment_id).exit_code == 1  # answered already
    listing = run(ex.tf, "list")
    assert listing.exit_code == 0 and "lj-reviewer@LJ from LJ" in listing.output and "reviewer, approver" in listing.output
    report = json.loads(run(ex.tf, "list", "--json").output)
    assert report["incoming"][0]["status"] == "accepted"
    withdrawn = run(ex.lj, "withdraw", secondment_id, "--reason", "Needed at home")
    assert withdrawn.exit_code == 0 and withdrawn.output.split() == [secondment_id, "withdrawn"]
    assert "[withdrawn]" in run(ex.lj, "list").output
    assert run(ex.lj, "withdraw", "not-an-id", "--reason", "x").exit_code == 2


def test_pages_my_secondments_credential_and_secondee_sign_in(ex):
    """The browser path: get the credential at home, paste it on the host's sign-in page."""
    import re

    secondment_id = ex.accepted()
    lj = ex.http("LJ")
    token = ex.login("LJ", "lj-reviewer")
    lj.cookies.set("er_session", token)
    page = lj.get("/official/secondments", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Get a sign-in credential" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    issued = lj.post(f"/official/secondments/{secondment_id}/credential", data={"csrf_token": csrf},
                     headers={"Accept": "text/html"})
    assert issued.status_code == 200, issued.text
    credential = re.search(r'<textarea id="credential"[^>]*>([^<]+)</textarea>', issued.text).group(1)
    assert "http://tf.test/official/secondee-login" in issued.text

    tf = ex.http("TF")
    form = tf.get("/official/secondee-login", headers={"Accept": "text/html"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    wrong = tf.post("/official/secondee-login", data={"csrf_token": csrf, "credential": "garbage"},
                    headers={"Accept": "text/html"}, follow_redirects=False)
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text and 'href="#credential"' in wrong.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', wrong.text).group(1)
    signed = tf.post("/official/secondee-login", data={"csrf_token": csrf, "credential": credential},
                     headers={"Accept": "text/html"}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/official", signed.text
    worklist = tf.get("/official", headers={"Accept": "text/html"})
    assert worklist.status_code == 200 and "acting for" in worklist.text and "Reviewer Wang Fang" in worklist.text
