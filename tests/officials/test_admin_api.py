"""The officials administration API (`/api/v1/officials`): the same services as the pages, with
RFC 9457 problems for every refusal."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from eresident.officials import service as officials
from eresident.officials.models import Official
from eresident.security.totp import current_code
from tests.factories import Api, bearer

PROBLEM = "application/problem+json"


def refused(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"]
    if code:
        assert body["type"].endswith("/" + code), body
    return body


def test_an_admin_lists_creates_grants_revokes_and_deactivates(node):
    api = Api(node)
    admin = bearer(api.official("lj-admin"))
    listed = api.client.get("/api/v1/officials", headers=admin)
    assert listed.status_code == 200
    by_name = {o["username"]: o for o in listed.json()}
    assert by_name["lj-admin"]["roles"][0].keys() == {"role", "region", "granted_at"}
    assert {r["role"] for r in by_name["lj-admin"]["roles"]} == {"admin", "auditor"}
    assert by_name["lj-reviewer"]["seconded_from"] is None and by_name["lj-reviewer"]["active"] is True

    r = api.client.post("/api/v1/officials", headers=admin, json={
        "username": "lj-tax2", "display_name": "Tax officer Wu", "roles": ["tax_officer", "tax_officer"]})
    assert r.status_code == 201, r.text
    made = r.json()
    assert [g["role"] for g in made["official"]["roles"]] == ["tax_officer"]  # asked twice, granted once
    assert made["totp_uri"].startswith("otpauth://totp/") and made["totp_secret"] in made["totp_uri"]
    # the answer's password and secret sign the new official in
    r = api.client.post("/api/v1/officials/login", json={
        "username": "lj-tax2", "password": made["password"],
        "totp": current_code(made["totp_secret"], node.clock.now())})
    assert r.status_code == 200, r.text
    newcomer = bearer(r.json()["token"])
    assert api.client.get("/api/v1/officials/me", headers=newcomer).status_code == 200

    new_id = made["official"]["id"]
    r = api.client.post(f"/api/v1/officials/{new_id}/roles", headers=admin, json={"role": "registrar"})
    assert r.status_code == 201 and {g["role"] for g in r.json()["roles"]} == {"tax_officer", "registrar"}
    refused(api.client.post(f"/api/v1/officials/{new_id}/roles", headers=admin, json={"role": "registrar"}),
            409, "role-exists")
    r = api.client.delete(f"/api/v1/officials/{new_id}/roles/tax_officer", headers=admin)
    assert r.status_code == 200 and [g["role"] for g in r.json()["roles"]] == ["registrar"]
    refused(api.client.delete(f"/api/v1/officials/{new_id}/roles/tax_officer", headers=admin), 409, "role-missing")

    r = api.client.post(f"/api/v1/officials/{new_id}/deactivate", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    refused(api.client.get("/api/v1/officials/me", headers=newcomer), 401)  # the session ended with it
    assert api.client.post(f"/api/v1/officials/{new_id}/deactivate", headers=admin).json()["active"] is False
    r = api.client.post(f"/api/v1/officials/{new_id}/activate", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is True


def test_refusals_are_problems(node):
    api = Api(node)
    admin = bearer(api.official("lj-admin"))
    with node.ctx.database.session(write=False) as db:
        admin_id = officials.by_username(db, "lj-admin").id

    body = refused(api.client.post("/api/v1/officials", headers=admin, json={
        "username": "lj-reviewer", "display_name": "Again", "roles": []}), 409, "official-exists")
    assert "lj-reviewer" in body["detail"]
    body = refused(api.client.post("/api/v1/officials", headers=admin, json={
        "username": "LJ Reviewer", "display_name": "x", "roles": ["boss"]}), 422, "invalid-field")
    assert {e["field"] for e in body["errors"]} == {"username", "roles/0"}
    refused(api.client.post("/api/v1/officials", headers=admin, json={
        "username": "lj-x", "display_name": "x", "password": "chosen by me"}), 422)  # no password is accepted

    refused(api.client.delete(f"/api/v1/officials/{admin_id}/roles/admin", headers=admin), 409, "own-admin-role")
    refused(api.client.post(f"/api/v1/officials/{admin_id}/deactivate", headers=admin), 409, "own-account")
    assert "admin" in api.client.get("/api/v1/officials/me", headers=admin).json()["roles"]
    refused(api.client.post(f"/api/v1/officials/{uuid.uuid4()}/activate", headers=admin), 404, "not-found")
    refused(api.client.delete(f"/api/v1/officials/{admin_id}/roles/boss", headers=admin), 422)

    reviewer = bearer(api.official("lj-reviewer"))
    refused(api.client.get("/api/v1/officials", headers=reviewer), 403, "forbidden")
    refused(api.client.post("/api/v1/officials", headers=reviewer, json={
        "username": "lj-sneaky", "display_name": "Sneaky", "roles": ["admin"]}), 403, "forbidden")
    refused(api.client.get("/api/v1/officials"), 401)


def test_a_cookie_session_needs_the_csrf_header(node):
    api = Api(node)
    token = api.official("lj-admin")
    client = node.client()
    client.cookies.set("er_session", token)
    r = client.post("/api/v1/officials", json={"username": "lj-csrf", "display_name": "No header", "roles": []})
    refused(r, 403, "csrf")
    with node.ctx.database.session(write=False) as db:
        assert db.scalar(select(Official.id).where(Official.username == "lj-csrf")) is None
