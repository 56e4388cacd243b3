"""Logs never carry personal data: a whole journey's log lines are searched for it."""

from __future__ import annotations

import json

import structlog

from eresident.kit.logging import configure
from tests.factories import Api, Person, bearer


def test_a_full_journey_logs_no_personal_data(node, capsys):
    configure("DEBUG", json=True)
    try:
        api = Api(node)
        person = Person(passport_number="PX9876543")
        email = "amina.benali.private@example.dz"
        token = api.applicant(email=email)
        r = api.submit(token, person)
        assert r.status_code == 201
        app_id = r.json()["id"]
        api.book_first_slot(token, app_id)
        agent = api.official("lj-agent")
        api.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
            "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
        api.client.get(f"/api/v1/cases/{app_id}", headers=bearer(api.official("lj-reviewer")))
        api.submit(token, person)  # a refused duplicate logs too
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr()
    logs = out.out + out.err
    lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert len(lines) >= 8  # the journey was logged at all
    assert all(json.loads(line)["event"] for line in lines)
    for secret in (person.passport_number, email, "1990-03-14", "900314", "BENALI", token):
        assert secret not in logs, f"{secret!r} appears in the logs"
