"""Mutual recognition between two nodes with their own databases: a Liangjiang e-resident is
recognised by Tianfu from their credential (offline against the trust list, live status from the
issuer's status list) and forms a company there; forged, unknown-issuer and revoked credentials are
refused; a revocation reaches the host by push, and by the status re-check when the push cannot;
the cross-region duplicate check asks each peer with a keyed hash, both ways, and survives a peer
that does not answer."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import select
from tests.factories import Api, Person, bearer
from tests.federation.conftest import Network

from eresident.crypto import sdjwt
from eresident.federation import recognition, service
from eresident.identity.models import CheckResult, EResident
from eresident.identity.recognition import PeerPassportDigest, Recognition, RecognitionPeer
from eresident.seed import seed_demo


@pytest.fixture
def nodes(pair):
    seed_demo(pair.lj.ctx)
    seed_demo(pair.tf.ctx)
    network = Network(pair.lj, pair.tf)
    for node in (pair.lj, pair.tf):  # the status-list reads of both nodes go over the test network
        node.ctx.cache[recognition.HTTP_CACHE_KEY] = network.client()
    pair.network = network
    return pair


def deliver(pair, *nodes) -> None:
    """Run the outboxes (both, unless told) until nothing more is delivered."""
    for _ in range(4):
        delivered = 0
        for node in nodes or (pair.lj, pair.tf):
            delivered += service.deliver_due(node.ctx, client=pair.network.client()).delivered
        if not delivered:
            return


def credential_of(api: Api, token: str) -> tuple[str, OKPKey]:
    r = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={})
    assert r.status_code == 201, r.text
    return r.json()["credential"], OKPKey.import_key(r.json()["holder_private_jwk"])


def presentation(host, token: str, credential: str, holder: OKPKey, *, nonce: str | None = None,
                 disclose=recognition.DISCLOSURES) -> str:
    if nonce is None:
        r = host.client().get("/api/v1/recognitions/challenge", headers=bearer(token))
        assert r.status_code == 200, r.text
        nonce = r.json()["nonce"]
    return sdjwt.present(credential, disclose=disclose, holder_key=holder, audience=host.settings.base_url,
                         nonce=nonce, issued_at=int(host.clock.now().timestamp()))


def recognise(pair, lj_token: str, tf_token: str | None = None):
    """An LJ e-resident's credential presented by a (new) TF applicant account: (response, tf token)."""
    lj = Api(pair.lj)
    credential, holder = credential_of(lj, lj_token)
    tf_token = tf_token or Api(pair.tf).applicant()
    r = pair.tf.client().post("/api/v1/recognitions", headers=bearer(tf_token),
                              json={"credential": presentation(pair.tf, tf_token, credential, holder)})
    return r, tf_token


def rows(node, model, *where):
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(model).where(*where)))


def set_status(pair, number: str, status: str):
    lj = Api(pair.lj)
    r = lj.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(lj.official("lj-admin")),
                       json={"status": status, "reason": "fraud found in a later check"})
    assert r.status_code == 200, r.text


def test_recognised_e_resident_forms_a_company_in_the_other_region(nodes):
    pair = nodes
    lj = Api(pair.lj)
    founder_lj, founder = lj.e_resident(Person(surname="BENALI"))
    supervisor_lj, supervisor = lj.e_resident(Person(surname="HADDAD"))

    r, founder_tf = recognise(pair, founder_lj)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["e_resident_number"] == founder and body["home_region"] == "LJ" and body["status"] == "active"
    assert body["name"] == "AMINA BENALI" and body["nationality"] == "DZA"
    r, supervisor_tf = recognise(pair, supervisor_lj)
    assert r.status_code == 201, r.text

    # The home node learns who recognised its e-residents (so it knows where to push changes).
    deliver(pair)
    [peer_row, _] = rows(pair.lj, RecognitionPeer)
    assert peer_row.peer_region == "TF"

    # Formation in Tianfu with two Liangjiang e-residents, no identity check in Tianfu.
    tf = Api(pair.tf)
    r = tf.client.post("/api/v1/names/reservations", headers=bearer(founder_tf),
                       json={"name_zh": "成都星海科技有限公司", "name_en": "Chengdu Xinghai Technology Co., Ltd."})
    assert r.status_code == 201, r.text
    formation = {
        # CNY 5,000 is below the automatic-approval bound: the case goes to a Tianfu reviewer.
        "name_reservation_id": r.json()["id"], "registered_capital": "5000", "currency": "CNY",
        "business_scope": ["BS001", "BS002"], "address": {"kind": "service_site"},
        "investors": [{"kind": "natural", "e_resident_number": founder, "share_percent": "100"}],
        "legal_representative": {"e_resident_number": founder}, "directors": [{"e_resident_number": founder}],
        "supervisor": {"e_resident_number": supervisor},
        "beneficial_owners": [{"name": "Amina BENALI", "country": "DZ", "e_resident_number": founder,
                               "share_percent": "100"}]}
    r = tf.client.post("/api/v1/formations", headers=bearer(founder_tf), json=formation)
    assert r.status_code == 201, r.text
    formation_id = r.json()["id"]
    r = tf.client.post(f"/api/v1/formations/{formation_id}/submit", headers=bearer(founder_tf))
    assert r.status_code == 200, r.text
    for token in (founder_tf, supervisor_tf):
        pdf = tf.client.get(f"/api/v1/formations/{formation_id}/articles", headers=bearer(token))
        r = tf.client.post(f"/api/v1/formations/{formation_id}/signatures", headers=bearer(token),
                           json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()})
        assert r.status_code == 201, r.text
    r = tf.client.get(f"/api/v1/formations/{formation_id}", headers=bearer(founder_tf))
    assert r.json()["status"] == "awaiting_review"  # every signature given; a reviewer takes it from here
    # No application and no identity check for them on the Tianfu node.
    assert rows(pair.tf, EResident, EResident.number == founder)[0].application_id is None


def test_revocation_is_pushed_and_stops_the_recognised_e_resident(nodes):
    pair = nodes
    lj = Api(pair.lj)
    lj_token, number = lj.e_resident()
    r, tf_token = recognise(pair, lj_token)
    assert r.status_code == 201, r.text
    deliver(pair)

    set_status(pair, number, "revoked")
    deliver(pair, pair.lj)  # the push: one delivery run, i.e. within a second of the worker's cycle
    [rec] = rows(pair.tf, Recognition)
    assert rec.status == "revoked" and "push" in rec.status_reason
    assert rows(pair.tf, EResident, EResident.number == number)[0].status == "revoked"
    r = pair.tf.client().post("/api/v1/names/reservations", headers=bearer(tf_token),
                              json={"name_zh": "成都星海科技有限公司", "name_en": "Chengdu Xinghai Technology Co., Ltd."})
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    # The host's officials cannot change a recognised e-residency: it follows its home region.
    tf = Api(pair.tf)
    r = tf.client.post(f"/api/v1/e-residents/{number}/status", headers=bearer(tf.official("tf-admin")),
                       json={"status": "active", "reason": "reinstate it here"})
    assert r.status_code == 409 and r.json()["type"].endswith("recognised-resident")


def test_the_status_recheck_catches_a_change_when_the_push_cannot_arrive(nodes):
    pair = nodes
    lj_token, number = Api(pair.lj).e_resident()
    r, _ = recognise(pair, lj_token)
    assert r.status_code == 201
    deliver(pair)
    pair.network.down.add("tf.test")  # the push cannot reach Tianfu
    set_status(pair, number, "suspended")
    deliver(pair, pair.lj)
    assert rows(pair.tf, Recognition)[0].status == "active"

    assert recognition.recheck(pair.tf.ctx).rechecked == 0  # checked a moment ago: not yet due
    pair.advance(timedelta(seconds=pair.tf.settings.recognition_recheck_seconds + 1))
    report = recognition.recheck(pair.tf.ctx)
    assert (report.rechecked, report.changed) == (1, 1)
    [rec] = rows(pair.tf, Recognition)
    assert rec.status == "suspended" and "status list" in rec.status_reason

    # The push arrives later: it agrees, and nothing is applied twice.
    pair.network.down.clear()
    pair.advance(timedelta(minutes=20))
    deliver(pair, pair.lj)
    assert rows(pair.tf, Recognition)[0].status == "suspended"


def test_a_revoked_credential_is_refused(nodes):
    pair = nodes
    lj_token, number = Api(pair.lj).e_resident()
    lj = Api(pair.lj)
    credential, holder = credential_of(lj, lj_token)
    set_status(pair, number, "revoked")
    tf_token = Api(pair.tf).applicant()
    r = pair.tf.client().post("/api/v1/recognitions", headers=bearer(tf_token),
                              json={"credential": presentation(pair.tf, tf_token, credential, holder)})
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("credential-revoked") and r.json()["errors"][0]["field"] == "credential"
    assert rows(pair.tf, Recognition) == []


def test_forged_and_unknown_issuer_credentials_are_refused(nodes):
    pair = nodes
    tf_token = Api(pair.tf).applicant()
    now = int(pair.tf.clock.now().timestamp())
    holder = OKPKey.generate_key("Ed25519", private=True)
    forger = OKPKey.import_key({**OKPKey.generate_key("Ed25519", private=True).as_dict(private=True),
                                "kid": pair.lj.ctx.keys.kid})  # LJ's kid, another key
    for issuer, key in (("http://lj.test", forger), ("http://evil.test", forger),
                        ("http://lj.test", pair.tf.ctx.keys.signing)):
        credential = sdjwt.issue_sd_jwt_vc(
            signing_key=key, issuer=issuer, vct=recognition.VCT_E_RESIDENCY,
            claims={"e_resident_number": "LJ-ER-2026-999999", "region": "LJ", "jti": "x"},
            disclosable={"family_name": "X", "given_name": "Y", "nationality": "DZA"},
            holder_jwk=holder.as_dict(private=False), issued_at=now, expires_at=now + 3600,
            status={"status_list": {"idx": 0, "uri": "http://lj.test/status-lists/1"}})
        r = pair.tf.client().post("/api/v1/recognitions", headers=bearer(tf_token),
                                  json={"credential": presentation(pair.tf, tf_token, credential, holder)})
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("credential-untrusted")
        assert r.json()["errors"][0]["field"] == "credential"
    assert not pair.network.sent  # refused offline: no status list was fetched
    assert rows(pair.tf, Recognition) == []


def test_key_binding_and_disclosures_are_required(nodes):
    pair = nodes
    lj_token, _ = Api(pair.lj).e_resident()
    credential, holder = credential_of(Api(pair.lj), lj_token)
    tf = Api(pair.tf)
    mine, other = tf.applicant(), tf.applicant()
    # A nonce given to another account: the presentation cannot be replayed into this one.
    nonce = pair.tf.client().get("/api/v1/recognitions/challenge", headers=bearer(other)).json()["nonce"]
    r = pair.tf.client().post("/api/v1/recognitions", headers=bearer(mine),
                              json={"credential": presentation(pair.tf, mine, credential, holder, nonce=nonce)})
    assert r.status_code == 422 and r.json()["type"].endswith("credential-key-binding")
    # Without key binding.
    r = pair.tf.client().post("/api/v1/recognitions", headers=bearer(mine),
                              json={"credential": sdjwt.present(credential, disclose=recognition.DISCLOSURES)})
    assert r.status_code == 422 and r.json()["type"].endswith("credential-key-binding")
    # The name not disclosed.
    r = pair.tf.client().post("/api/v1/recognitions", headers=bearer(mine), json={
        "credential": presentation(pair.tf, mine, credential, holder, disclose=["nationality"])})
    assert r.status_code == 422 and r.json()["type"].endswith("credential-disclosure")
    # An LJ credential presented to LJ itself.
    lj_nonce = pair.lj.client().get("/api/v1/recognitions/challenge", headers=bearer(lj_token)).json()["nonce"]
    r = pair.lj.client().post("/api/v1/recognitions", headers=bearer(lj_token), json={
        "credential": presentation(pair.lj, lj_token, credential, holder, nonce=lj_nonce)})
    assert r.status_code == 409 and r.json()["type"].endswith("own-region")
    assert rows(pair.tf, Recognition) == []


def duplicate_checks(node):
    return rows(node, CheckResult, CheckResult.check == recognition.DUPLICATE_CHECK)


def test_duplicate_check_asks_the_peer_both_ways_with_a_keyed_hash(nodes):
    pair = nodes
    person = Person(surname="MANSOURI")
    r = Api(pair.lj).submit(Api(pair.lj).applicant(), person)
    assert r.status_code == 201, r.text
    assert recognition.sweep(pair.lj.ctx).asked == 1
    [asked] = duplicate_checks(pair.lj)
    assert asked.outcome == "pending" and asked.details["peer"] == "TF"
    deliver(pair)  # LJ -> TF question, TF -> LJ answer
    [answered] = duplicate_checks(pair.lj)
    assert answered.outcome == "pass" and answered.details["state"] == "answered"
    # Nothing but the keyed hash travelled.
    query = next(req for req in pair.network.sent if b"duplicate_query" in req.content)
    assert person.passport_number.encode() not in query.content

    # The same passport applies in Tianfu: LJ knows it (an open case), so a person looks at it.
    r = Api(pair.tf).submit(Api(pair.tf).applicant(), person, site_code="MK-DXB")
    assert r.status_code == 201, r.text
    assert recognition.sweep(pair.tf.ctx).asked == 1
    deliver(pair)
    [tf_check] = duplicate_checks(pair.tf)
    assert tf_check.outcome == "refer" and tf_check.details["statuses"] == ["open"]
    assert "LJ knows this passport" in tf_check.summary
    # Both nodes derived the same pair key without sending it, and only hashes are kept.
    lj_peer = service.trust_list(pair.lj.ctx).peer("TF")
    tf_peer = service.trust_list(pair.tf.ctx).peer("LJ")
    assert recognition.pair_key(pair.lj.ctx, lj_peer) == recognition.pair_key(pair.tf.ctx, tf_peer)
    digests = rows(pair.lj, PeerPassportDigest)
    assert digests and all(person.passport_number not in d.digest for d in digests)


def test_a_peer_that_does_not_answer_is_recorded_and_the_case_goes_on(nodes):
    pair = nodes
    pair.network.down.add("tf.test")
    r = Api(pair.lj).submit(Api(pair.lj).applicant(), Person(surname="SAIDI"))
    assert r.status_code == 201
    status = r.json()["status"]
    recognition.sweep(pair.lj.ctx)
    deliver(pair, pair.lj)
    assert duplicate_checks(pair.lj)[0].outcome == "pending"
    pair.advance(timedelta(seconds=pair.lj.settings.recognition_answer_timeout_seconds + 1))
    assert recognition.sweep(pair.lj.ctx).timed_out == 1
    [check] = duplicate_checks(pair.lj)
    assert check.outcome == "refer" and check.details["state"] == "not_answered"
    assert "did not answer" in check.summary
    from eresident.identity.models import Application

    assert rows(pair.lj, Application)[0].status == status  # the case was not held up


def test_no_question_without_the_applicants_consent(nodes):
    pair = nodes
    api = Api(pair.lj)
    r = api.submit(api.applicant(), Person(surname="KACI"), consents={
        "processing": True, "sensitive_data": True, "cross_region_sharing": False})
    assert r.status_code == 201, r.text
    assert recognition.sweep(pair.lj.ctx).asked == 0
    assert duplicate_checks(pair.lj) == []
