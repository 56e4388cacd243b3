"""The e-residency journey through the HTTP API, end to end, on each database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from eresident.audit.models import AuditEvent
from eresident.identity.models import Application
from tests.factories import Api, Person, bearer, sanctioned_person


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def api(node) -> Api:
    return Api(node)


def test_health_names_the_region(api):
    r = api.client.get("/healthz")
    assert r.json() == {"status": "ok", "region": "LJ"}


def test_full_journey_from_application_to_verified_credential(api, node):
    token, app_id = api.to_review()
    reviewer, approver = api.official("lj-reviewer"), api.official("lj-approver")

    mine = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token)).json()
    assert mine["status"] == "awaiting_review" and mine["waiting_on"] == "region"

    assert api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer)).status_code == 200
    case = api.client.get(f"/api/v1/cases/{app_id}", headers=bearer(reviewer)).json()
    assert {c["check"]: c["outcome"] for c in case["checks"]} == {
        "mrz": "pass", "expiry": "pass", "duplicate": "pass", "screening": "pass"}
    assert case["identity_check"]["outcome"] == "verified"
    r = api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                        json={"recommendation": "approve", "note": "All checks clear."})
    assert r.json()["status"] == "awaiting_decision"
    r = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(approver),
                        json={"decision": "approve", "reasons": ""})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["e_resident_number"].startswith("LJ-ER-2026-")

    issued = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={})
    assert issued.status_code == 201, issued.text
    credential = issued.json()["credential"]
    assert issued.json()["holder_private_jwk"]["d"]  # handed over once; the node keeps no copy
    verified = api.client.post("/api/v1/credentials/verify", json={"credential": credential}).json()
    assert verified["valid"] is True and verified["status"] == "valid"
    assert verified["disclosed"]["family_name"] == "BENALI"

    actions = [e.action for e in _events(node, app_id)]
    assert actions == ["application.submitted", "appointment.booked", "application.identity_checked",
                       "application.claimed", "application.recommended", "application.approved"]


def _events(node, entity_id):
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.entity_id == str(entity_id))
                               .order_by(AuditEvent.seq)))


def test_every_audit_event_records_actor_before_and_after(api, node):
    _token, app_id = api.to_review()
    reviewer = api.official("lj-reviewer")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    claimed = _events(node, app_id)[-1]
    assert claimed.actor_type == "official" and claimed.actor_home_region == "LJ"
    assert claimed.before["status"] == "awaiting_review" and claimed.after["status"] == "in_review"


def test_approver_cannot_be_the_reviewer(api, node):
    from eresident.officials import service as officials
    from eresident.audit.service import Actor

    with node.ctx.database.session(write=True) as db:
        both = officials.by_username(db, "lj-reviewer")
        officials.grant_role(ctx=node.ctx, db=db, official=both, role="approver", actor=Actor.system())
    _token, app_id = api.to_review()
    reviewer = api.official("lj-reviewer")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                    json={"recommendation": "approve"})
    r = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(reviewer),
                        json={"decision": "approve"})
    assert r.status_code == 403 and "four eyes" in r.json()["title"].lower()
    assert r.json()["type"].endswith("workflow-separation-of-duties")
    assert r.headers["content-type"].startswith("application/problem+json")
    with node.ctx.database.session(write=False) as db:
        assert db.get(Application, __import__("uuid").UUID(app_id)).status == "awaiting_decision"


def test_refusal_needs_reasons_and_reaches_the_applicant(api):
    token, app_id = api.to_review()
    reviewer, approver = api.official("lj-reviewer"), api.official("lj-approver")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    r = api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                        json={"recommendation": "refuse", "note": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                    json={"recommendation": "refuse", "note": "Purpose is not credible."})
    assert api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(approver),
                           json={"decision": "refuse"}).status_code == 422
    r = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(approver),
                        json={"decision": "refuse", "reasons": "The stated purpose could not be confirmed."})
    assert r.json()["status"] == "refused"
    mine = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token)).json()
    assert mine["decision_reasons"] == "The stated purpose could not be confirmed."
    assert api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={}).status_code == 409


def test_request_for_information_loop(api):
    person = Person()
    token, app_id = api.to_review(person)
    reviewer = api.official("lj-reviewer")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    r = api.client.post(f"/api/v1/cases/{app_id}/request-info", headers=bearer(reviewer),
                        json={"message": "Please describe your business in more detail."})
    assert r.json()["status"] == "info_requested"
    mine = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token)).json()
    assert mine["waiting_on"] == "applicant" and "more detail" in mine["info_request"]
    photo = api.upload(token).json()["id"]
    from tests.factories import application_payload

    body = application_payload(person, photo_id=photo, purpose="I import dates and olive oil from Biskra "
                               "and will sell them through a trading company in Chongqing.")
    r = api.client.post(f"/api/v1/applications/{app_id}/resubmit", headers=bearer(token),
                        json={**body, "answer": "Added detail on the business."})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_review"  # back with the same reviewer, identity already checked


def test_bad_mrz_is_refused_and_nothing_is_written(api, node):
    token = api.applicant()
    person = Person()
    lines = person.mrz()
    lines[1] = lines[1][:9] + ("0" if lines[1][9] != "0" else "1") + lines[1][10:]  # break a check digit
    before = count(node, Application), count(node, AuditEvent)
    r = api.submit(token, person, mrz=lines)
    assert r.status_code == 422
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == "mrz" and "check digit" in problem["detail"]
    assert (count(node, Application), count(node, AuditEvent)) == before


def test_typed_details_must_match_the_mrz(api):
    token = api.applicant()
    person = Person()
    r = api.submit(token, person, birth_date="1991-03-14")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "birth_date"


def test_passport_expiring_within_six_months_is_refused(api, node):
    token = api.applicant()
    person = Person(passport_expiry=date(2027, 3, 1))
    r = api.submit(token, person)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "passport_expiry"
    assert "2027-03-01" in r.json()["detail"]
    assert count(node, Application) == 0


def test_a_missing_required_consent_is_refused(api):
    token = api.applicant()
    r = api.submit(token, consents={"processing": True, "sensitive_data": False})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "consents.sensitive_data"


def test_invalid_fields_are_named(api):
    token = api.applicant()
    r = api.submit(token, nationality="XX", phone="0555")
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422 and fields == {"nationality", "phone"}


def test_same_passport_twice_is_a_conflict_without_leaking_the_other_case(api):
    person = Person()
    first = api.applicant()
    assert api.submit(first, person).status_code == 201
    again = api.submit(first, person)
    assert again.status_code == 409 and "LJ-2026-" in again.json()["detail"]
    other = api.applicant()
    r = api.submit(other, person)
    assert r.status_code == 409 and "LJ-2026-" not in r.json()["detail"]


def test_sanctions_hit_sends_the_case_to_a_person_and_never_refuses(api, node):

    person, target = sanctioned_person()
    token = api.applicant()
    r = api.submit(token, person)
    assert r.status_code == 201, r.text
    reviewer = api.official("lj-reviewer")
    case = api.client.get(f"/api/v1/cases/{r.json()['id']}", headers=bearer(reviewer)).json()
    screening = next(c for c in case["checks"] if c["check"] == "screening")
    assert screening["outcome"] == "refer" and case["screening_hits"] >= 1
    hit = screening["details"]["hits"][0]
    assert hit["entity_id"] == target.entity_id and hit["score"] >= 85 and hit["reasons"]
    assert r.json()["status"] == "awaiting_identity_check"


def test_applicant_cannot_see_another_applicants_case(api):
    token_a = api.applicant()
    app_id = api.submit(token_a).json()["id"]
    token_b = api.applicant()
    r = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token_b))
    assert r.status_code == 404
    assert api.client.get(f"/api/v1/cases/{app_id}", headers=bearer(token_a)).status_code == 401


def test_officials_need_the_right_role(api):
    _token, app_id = api.to_review()
    agent = api.official("lj-agent")
    r = api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(agent))
    assert r.status_code == 403 and "reviewer" in r.json()["detail"]


def test_unconfirmed_applicant_cannot_apply(api):
    email = "unconfirmed@example.dz"
    api.client.post("/api/v1/applicants", json={"email": email, "password": "a long passphrase 1"})
    token = api.login(email, "a long passphrase 1")
    r = api.submit(token)
    assert r.status_code == 403 and "Confirm your email" in r.json()["detail"]


def test_slot_cannot_be_double_booked(api, node):
    from eresident.sites.models import ServiceSite

    with node.ctx.database.session(write=True) as db:
        db.scalar(select(ServiceSite).where(ServiceSite.code == "MK-ALG")).capacity = 1
    slot = api.client.get("/api/v1/sites/MK-ALG/slots").json()[0]["starts_at"]
    ids = []
    for _ in range(2):
        token = api.applicant()
        ids.append((token, api.submit(token).json()["id"]))
    first = api.client.post(f"/api/v1/applications/{ids[0][1]}/appointment", headers=bearer(ids[0][0]),
                            json={"starts_at": slot, "mode": "video"})
    second = api.client.post(f"/api/v1/applications/{ids[1][1]}/appointment", headers=bearer(ids[1][0]),
                             json={"starts_at": slot, "mode": "video"})
    assert first.status_code == 201 and second.status_code == 409
    assert slot not in [s["starts_at"] for s in api.client.get("/api/v1/sites/MK-ALG/slots").json()]


def test_identity_check_needs_an_appointment_at_the_agents_site(api):
    token = api.applicant()
    app_id = api.submit(token).json()["id"]
    agent = api.official("lj-agent")
    r = api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
    assert r.status_code == 409 and r.json()["code"] if "code" in r.json() else r.status_code == 409


def test_failed_identity_check_needs_notes(api):
    token = api.applicant()
    app_id = api.submit(token).json()["id"]
    api.book_first_slot(token, app_id)
    agent = api.official("lj-agent")
    r = api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": False})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "notes"


def test_passport_number_is_encrypted_at_rest(api, node):
    person = Person()
    token = api.applicant()
    api.submit(token, person)
    with node.ctx.database.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT passport_number_enc, passport_index, mrz_enc FROM applications").one()
    assert person.passport_number.encode() not in bytes(row[0]) + bytes(row[2])
    assert person.passport_number not in row[1]


def test_an_id_card_mrz_td1_is_accepted(api):
    from eresident.identity.mrz import make_td1

    person = Person()
    lines = list(make_td1(surname=person.surname, given_names=person.given_names,
                          document_number=person.passport_number, nationality="DZA",
                          birth_date=person.birth_date, sex=person.sex, expiry_date=person.passport_expiry,
                          issuing_state="DZA"))
    token = api.applicant()
    r = api.submit(token, person, mrz=lines)
    assert r.status_code == 201, r.text


def test_resubmission_page_is_prefilled_and_sends_the_answer(api, node):

    person = Person()
    token, app_id = api.to_review(person)
    reviewer = api.official("lj-reviewer")
    api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
    api.client.post(f"/api/v1/cases/{app_id}/request-info", headers=bearer(reviewer),
                    json={"message": "Tell us which products you trade."})
    browser = node.client()
    browser.cookies.set("er_session", token)
    page = browser.get(f"/my/applications/{app_id}/edit")
    assert page.status_code == 200 and "Tell us which products you trade." in page.text
    assert person.passport_number in page.text  # prefilled for its owner only
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf, "surname": person.surname, "given_names": person.given_names,
            "native_name": "", "birth_date": person.birth_date.isoformat(), "sex": person.sex,
            "nationality": "DZ", "residence_country": "DZ", "phone": "+213 21 23 45 67",
            "address": "5 Rue Larbi Ben M'hidi, Algiers", "passport_number": person.passport_number,
            "passport_expiry": person.passport_expiry.isoformat(), "mrz": "\n".join(person.mrz()),
            "purpose": "Dates and olive oil, exported from Biskra to Chongqing.", "site_code": "MK-ALG",
            "consent_processing": "yes", "consent_sensitive_data": "yes"}
    missing = browser.post(f"/my/applications/{app_id}/edit", data=form,
                           files={"photo": ("", b"", "application/octet-stream")})
    assert missing.status_code == 422 and 'href="#answer"' in missing.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', missing.text).group(1)
    done = browser.post(f"/my/applications/{app_id}/edit", data={**form, "csrf_token": csrf,
                                                                 "answer": "Dates and olive oil."},
                        files={"photo": ("", b"", "application/octet-stream")}, follow_redirects=False)
    assert done.status_code == 303, done.text
    status = api.client.get(f"/api/v1/applications/{app_id}", headers=bearer(token)).json()["status"]
    assert status == "in_review"
    other = node.client()
    other.cookies.set("er_session", api.applicant())
    assert other.get(f"/my/applications/{app_id}/edit").status_code == 404
