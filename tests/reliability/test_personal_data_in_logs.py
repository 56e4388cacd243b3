"""Personal data never in logs, over more than tests/test_logging.py covers (which stops at the
identity check): the whole e-residency journey to approval and the credential, a company formed
and licensed with that person as founder, sign-in through the pages with a wrong and a right
password, the background jobs, a refused duplicate, and a request that fails unexpectedly. Both
structlog's lines and the standard library's log records (SQLAlchemy, httpx, uvicorn …) are read,
at DEBUG, and searched for the applicant's passport number, date of birth (as typed and as in the
MRZ), email and surname.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date

import structlog

from eresident.kit.jobs import run_due
from eresident.kit.logging import configure
from tests.enterprise.helpers import NAME_EN, NAME_ZH, formation_body, submit_and_sign
from tests.factories import Api, Person, bearer

PASSPORT, EMAIL, BIRTH = "PX7654321", "leila.haddad.private@example.dz", date(1987, 6, 23)


def secrets_of(person: Person) -> list[str]:
    return [person.passport_number, EMAIL, person.birth_date.isoformat(), person.birth_date.strftime("%y%m%d"),
            person.birth_date.strftime("%d/%m/%Y"), person.surname, person.mrz()[1][:20]]


def run_journey(node, person: Person) -> None:
    """Everything a person does from sign-up to a licensed company, as the API and pages see it."""
    from tests.test_pages import Browser

    api = Api(node)
    token = api.applicant(email=EMAIL)
    r = api.submit(token, person)
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    assert api.submit(token, person).status_code in (409, 422)  # the same passport twice: refused, logged
    assert api.book_first_slot(token, app_id).status_code == 201
    agent = api.official("lj-agent")
    assert api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
        "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True}).status_code == 201
    reviewer, approver = api.session_of("lj-reviewer"), api.session_of("lj-approver")
    assert api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer)).status_code == 200
    assert api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                           json={"recommendation": "approve", "note": "ok"}).status_code == 200
    decided = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(approver),
                              json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    founder = decided.json()["e_resident_number"]
    issued = api.client.post("/api/v1/credentials/e-residency", headers=bearer(token), json={})
    assert issued.status_code == 201
    assert api.client.post("/api/v1/credentials/verify",
                           json={"credential": issued.json()["credential"]}).status_code == 200

    supervisor_token, supervisor = api.e_resident(Person(surname="OTHER"))
    reservation = api.client.post("/api/v1/names/reservations", headers=bearer(token),
                                  json={"name_zh": NAME_ZH, "name_en": NAME_EN})
    assert reservation.status_code == 201, reservation.text
    formation = api.client.post("/api/v1/formations", headers=bearer(token),
                                json=formation_body(reservation.json()["id"], founder, supervisor))
    assert formation.status_code == 201, formation.text
    done = submit_and_sign(api, formation.json()["id"], [token, supervisor_token])
    assert done["status"] == "approved", done

    browser = Browser(node)
    page = browser.get("/login")
    from tests.test_pages import csrf_of
    assert browser.client.post("/login", data={"email": EMAIL, "password": "wrong password 123",
                                               "csrf_token": csrf_of(page.text)}).status_code in (401, 422)
    page = browser.get("/login")
    assert browser.client.post("/login", data={"email": EMAIL, "password": "a long passphrase 1",
                                               "csrf_token": csrf_of(page.text)},
                               follow_redirects=False).status_code == 303
    assert browser.get("/my").status_code == 200
    run_due(node.ctx, {}, now=time.time())  # the background jobs log too


def test_a_whole_journey_logs_no_personal_data(node, capsys, caplog):
    person = Person(surname="HADDAD", given_names="LEILA", passport_number=PASSPORT, birth_date=BIRTH)
    configure("DEBUG", json=True)
    caplog.set_level(logging.DEBUG)
    try:
        run_journey(node, person)

        @node.app.post("/api/v1/test-only/boom")
        def boom(body: dict) -> None:  # a request carrying personal data fails unexpectedly
            raise RuntimeError("unexpected")

        r = node.client().post("/api/v1/test-only/boom", json={"passport_number": PASSPORT, "email": EMAIL})
        assert r.status_code == 500
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr()
    structured = [line for line in (out.out + out.err).splitlines() if line.startswith("{")]
    records = [f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    logs = "\n".join(structured + records)
    assert len(structured) >= 40, "the journey was hardly logged: the search would prove nothing"
    assert any(json.loads(line).get("event") == "unhandled" for line in structured)
    assert any('"status": 201' in line for line in structured)
    for secret in secrets_of(person):
        assert secret not in logs, f"{secret!r} appears in the logs"
    print(f"personal data in logs: {len(structured)} structured lines and {len(records)} log records "
          f"searched for {len(secrets_of(person))} values: none found")


def test_the_search_finds_personal_data_when_it_is_logged(node, capsys):
    """The planted defect: a request log that carries the query string (where a confirmation
    token or an email could travel) is caught by the same search."""
    configure("DEBUG", json=True)
    try:
        log = structlog.get_logger("eresident.web")
        log.info("request", path=f"/api/v1/applicants/confirm?email={EMAIL}", passport=PASSPORT)
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr()
    logs = out.out + out.err
    person = Person(surname="HADDAD", passport_number=PASSPORT, birth_date=BIRTH)
    leaked = [s for s in secrets_of(person) if s in logs]
    assert leaked == [PASSPORT, EMAIL]
