"""Revoking a business licence (a registrar of the region): the licence's status, time and reason;
its entries on the status list; the audit event; the refusals that write nothing; and what every
verifier then says: the public page and API (by USCC, QR address and upload), the credential
check, the founder's page, and `eresident verify` offline with a saved status list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import func, select
from typer.testing import CliRunner

from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor
from eresident.cli import app as cli
from eresident.credentials.models import IssuedCredential
from eresident.crypto import statuslist
from eresident.documents.licence_pdf import signed_metadata
from eresident.enterprise.models import Licence, RegisteredName
from eresident.officials.models import Official
from eresident.officials.service import create_official
from eresident.seed import DEMO_PASSWORD
from tests.enterprise.helpers import count, formation_body, reserve, submit_and_sign
from tests.factories import Api, bearer
from tests.test_pages import Browser, csrf_of


def registrar(api: Api, username: str = "lj-registrar", roles: tuple[str, ...] = ("registrar",)) -> str:
    """A signed-in official of this region holding `roles` (the demo seed's lj-registrar, or one made here)."""
    ctx = api.node.ctx
    with ctx.database.session(write=True) as db:
        if db.scalar(select(Official.id).where(Official.username == username)) is None:
            create_official(ctx=ctx, db=db, username=username, display_name="Registrar Chen Jing",
                            password=DEMO_PASSWORD, roles=list(roles), actor=Actor.system())
    return api.official(username)


@pytest.fixture
def company(api):
    """A company formed through the API: (founder token, formation JSON, supervisor token)."""
    founder_token, founder = api.e_resident()
    supervisor_token, supervisor = api.e_resident()
    reservation = reserve(api, founder_token).json()
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(reservation["id"], founder, supervisor))
    assert r.status_code == 201, r.text
    done = submit_and_sign(api, r.json()["id"], [founder_token, supervisor_token])
    assert done["status"] == "approved" and done["licence_status"] == "valid", done
    return founder_token, done, supervisor_token


def revoke(api, token, code, **body):
    return api.client.post(f"/api/v1/official/licences/{code}/revoke", headers=bearer(token),
                           json={"reason": "court_order", "note": "Judgment (2026) Yu 01 Min Chu 123 of the "
                                                                  "Chongqing court.", **body})


def licence_row(node, code) -> Licence:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(Licence).where(Licence.uscc == code))


def status_token(api) -> str:
    r = api.client.get("/status-lists/1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/statuslist+jwt")
    return r.text


def offline(tmp_path: Path, node, *args: str):
    """`eresident verify` as someone with the region root and nothing of the node but what they pass."""
    root = tmp_path / "root.pem"
    root.write_bytes((node.settings.data_dir / "keys" / "root-ca.pem").read_bytes())
    env = {"ERESIDENT_DATA_DIR": str(tmp_path / "elsewhere"), "ERESIDENT_BASE_URL": "http://elsewhere.test"}
    return CliRunner().invoke(cli, ["verify", *args, "--trust", str(root)], env=env)


def test_a_registrar_revokes_a_licence_and_every_verifier_says_so(api, node, company, tmp_path):
    founder_token, done, _supervisor = company
    code = done["uscc"]
    pdf = api.client.get(done["licence_url"], headers=bearer(founder_token)).content
    vc = api.client.post(f"/api/v1/formations/{done['id']}/licence/credential", headers=bearer(founder_token), json={})
    assert vc.status_code == 201, vc.text
    reference = signed_metadata(pdf).status
    assert reference is not None and reference.uri == "http://lj.test/status-lists/1"
    token = registrar(api)

    r = revoke(api, token, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "revoked" and body["current"] is False and body["genuine"] is True
    assert body["revocation_reason"] == "court_order" and body["revoked_on"] == "2026-11-26"
    assert body["revocation_note"].startswith("Judgment")
    row = licence_row(node, code)
    assert row.status == "revoked" and row.revoked_at == node.clock.now() and row.revocation_reason == "court_order"

    # The status list: the licence PDF's entry and the credential's are invalid, nothing else changed.
    with node.ctx.database.session(write=False) as db:
        entries = {e.subject_type: e.status for e in db.scalars(select(IssuedCredential).where(
            IssuedCredential.subject_type.in_(("licence", "licence_pdf"))))}
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "licence.revoked"))
    assert entries == {"licence": statuslist.INVALID, "licence_pdf": statuslist.INVALID}
    published = statuslist.verify_status_list_token(
        status_token(api), uri=reference.uri, now=int(node.clock.now().timestamp()),
        resolve_key=lambda _who, _kid: node.ctx.keys.signing.as_dict(private=False))
    assert published.get(reference.index) == statuslist.INVALID
    assert event is not None and event.entity_type == "licence" and event.actor_type == "official"

    # Public verification: the API, the page (both addresses), the upload, the credential.
    status = api.client.get(f"/api/v1/licences/{code}").json()
    assert status["genuine"] is True and status["current"] is False and status["status"] == "revoked"
    assert "revoked on 2026-11-26" in status["message"] and "court" in status["message"]
    assert "Judgment" not in json.dumps(status)  # the registrar's note is not public
    for url in (f"/verify/licences/{code}", f"/verify/licence/{code}"):
        page = api.client.get(url, headers={"accept": "text/html"})
        assert page.status_code == 200 and "NOT current" in page.text and "Genuine and current" not in page.text
        assert "people&#39;s court" in page.text and "Judgment" not in page.text
    upload = api.client.post("/api/v1/licences/verify", files={"file": ("l.pdf", pdf, "application/pdf")}).json()
    assert upload["genuine"] is True and upload["current"] is False and upload["outcome"] == "genuine"
    assert upload["signature"]["valid"] is True and "revoked on 2026-11-26" in upload["message"]
    checked = api.client.post("/api/v1/credentials/verify", json={"credential": vc.json()["credential"]}).json()
    assert checked["valid"] is False and checked["status"] == "revoked"
    again = api.client.post(f"/api/v1/formations/{done['id']}/licence/credential", headers=bearer(founder_token),
                            json={})
    assert again.status_code == 409

    # The founder sees it on their company page and in their list, with the registrar's note.
    page = api.client.get(f"/my/companies/{done['id']}", headers=bearer(founder_token))
    assert "was revoked on" in page.text and "Judgment (2026) Yu 01" in page.text
    assert "Your company is registered" not in page.text
    assert "Licence revoked" in api.client.get("/my/companies", headers=bearer(founder_token)).text

    # A repeat is refused with a clear problem and changes nothing.
    events = count(node, AuditEvent)
    r = revoke(api, token, code, reason="deregistered")
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/already-revoked") and "already revoked" in r.json()["title"]
    assert r.json()["revocation_reason"] == "court_order"
    assert count(node, AuditEvent) == events and licence_row(node, code).revocation_reason == "court_order"


def test_refusals_name_the_field_and_write_nothing(api, node, company):
    _founder, done, _supervisor = company
    code = done["uscc"]
    token = registrar(api)
    events = count(node, AuditEvent)
    for body, fields in [({"reason": "bored"}, ["reason"]), ({"note": "no"}, ["note"]),
                         ({"note": "     x    "}, ["note"]), ({"reason": "", "note": "   . "}, ["reason", "note"])]:
        r = revoke(api, token, code, **body)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == fields, r.json()
    assert revoke(api, token, code[:-1] + ("0" if code[-1] != "0" else "1")).status_code == 422  # not a USCC
    other = revoke(api, token, "91500000MA5U000000")  # well-formed, never issued here
    assert other.status_code in (404, 422)
    assert count(node, AuditEvent) == events and licence_row(node, code).status == "valid"
    # Officials without the registrar role, and the founder, may not revoke.
    for who in (api.session_of("lj-approver"), api.session_of("lj-reviewer"), _founder):
        assert revoke(api, who, code).status_code in (401, 403)
    assert licence_row(node, code).status == "valid"


def test_deregistration_frees_the_name(api, node, company):
    _founder, done, _supervisor = company
    r = revoke(api, registrar(api), done["uscc"], reason="deregistered", note="Deregistered after liquidation.")
    assert r.status_code == 200, r.text
    with node.ctx.database.session(write=False) as db:
        name = db.scalar(select(RegisteredName).where(RegisteredName.owner_type == "enterprise"))
    assert name.status == "freed" and name.freed_at == node.clock.now()


def test_revocation_on_the_official_page(api, node, company):
    founder_token, done, _supervisor = company
    registrar(api)  # created; signs in through the page below
    from tests.test_pages import official_browser

    b, _ = official_browser(node, "lj-registrar")
    listing = b.get(f"/official/companies?q={done['case_number']}")
    assert listing.status_code == 200 and f'href="/official/companies/{done["id"]}"' in listing.text
    page = b.get(f"/official/companies/{done['id']}")
    assert page.status_code == 200 and "Revoke the licence" in page.text
    assert 'name="reason"' in page.text and 'id="reason-court_order"' in page.text
    report = b.client.get(f"/official/companies/{done['id']}/report")
    assert report.status_code == 200 and report.content.startswith(b"%PDF")

    # Not confirmed, no reason: beside the fields, nothing written.
    url = f"/official/companies/{done['id']}/revoke"
    r = b.post(url, {"note": "Obtained with a forged bank statement."})
    assert r.status_code == 422 and 'id="confirm-error"' in r.text and 'href="#confirm"' in r.text
    assert 'id="reason-error"' in r.text and 'href="#reason"' in r.text  # every problem at once
    assert "Obtained with a forged bank statement." in r.text  # what they typed is kept
    r = b.post(url, {"reason": "obtained_by_fraud", "note": "no", "confirm": "yes"})
    assert r.status_code == 422 and 'id="note-error"' in r.text and 'id="reason-error"' not in r.text
    assert licence_row(node, done["uscc"]).status == "valid"
    r = b.post(url, {"reason": "obtained_by_fraud", "note": "Obtained with a forged bank statement.",
                     "confirm": "yes"})
    assert r.status_code == 303, r.text
    page = b.get(f"/official/companies/{done['id']}")
    assert "Revoked on" in page.text and 'id="reason-court_order"' not in page.text
    assert licence_row(node, done["uscc"]).revocation_reason == "obtained_by_fraud"

    # A reviewer reads the case but gets no form, and may not post one.
    reviewer, _ = official_browser(node, "lj-reviewer")
    page = reviewer.get(f"/official/companies/{done['id']}")
    assert page.status_code == 200 and 'action="/official/companies/' not in page.text
    r = reviewer.client.post(url, data={"reason": "court_order", "note": "x" * 10, "confirm": "yes",
                                        "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 403


def test_the_public_page_checks_by_code_and_by_upload(api, node, company):
    founder_token, done, _supervisor = company
    code = done["uscc"]
    b = Browser(node)
    start = b.get("/verify/licences")
    assert start.status_code == 200 and 'action="/verify/licences"' in start.text
    assert b.get(f"/verify/licences?uscc={code.lower()}").headers["location"] == f"/verify/licences/{code}"
    bad = b.get("/verify/licences?uscc=123")
    assert bad.status_code == 422 and 'id="uscc-error"' in bad.text
    pdf = api.client.get(done["licence_url"], headers=bearer(founder_token)).content
    # The upload form needs no token (it carries no authority), like the API.
    r = b.client.post("/verify/licences", files={"file": ("licence.pdf", pdf, "application/pdf")})
    assert r.status_code == 200 and "This is the licence the region issued" in r.text
    assert "Genuine and current" in r.text
    none = b.client.post("/verify/licences", data={"x": "1"}, files={"file": ("", b"", "application/pdf")})
    assert none.status_code == 422 and 'id="file-error"' in none.text
    revoke(api, registrar(api), code)
    r = b.client.post("/verify/licences", files={"file": ("licence.pdf", pdf, "application/pdf")})
    assert r.status_code == 200 and "NOT current" in r.text and "revoked on" in r.text
    tampered = pdf.replace(code.encode(), code[:-1].encode() + b"Z", 1)
    r = b.client.post("/verify/licences", files={"file": ("licence.pdf", tampered, "application/pdf")})
    assert r.status_code == 200 and "Not genuine." in r.text


def test_offline_verification_with_a_saved_status_list(api, node, company, tmp_path):
    founder_token, done, _supervisor = company
    code = done["uscc"]
    (tmp_path / "licence.pdf").write_bytes(api.client.get(done["licence_url"], headers=bearer(founder_token)).content)
    (tmp_path / "issuer.json").write_text(api.client.get("/.well-known/jwt-vc-issuer").text)
    # The command judges a copy's age by the real clock: the node's status lists are made at real times.
    real_now = datetime.now(UTC)
    node.clock.set(real_now - timedelta(hours=3))
    (tmp_path / "old.jwt").write_text(status_token(api))  # expired an hour later
    node.clock.set(real_now)
    (tmp_path / "before.jwt").write_text(status_token(api))
    pdf = str(tmp_path / "licence.pdf")

    # Without a status list: genuine, and plainly not checked.
    r = offline(tmp_path, node, pdf)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["genuine"] is True and out["current_status"]["checked"] is False
    assert "NOT checked" in out["note"] and "--status-list" in out["note"]

    # A status list but no key of its region: not checked, and says what to pass.
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "before.jwt"))
    assert r.exit_code == 0 and json.loads(r.stdout)["current_status"]["reason"] == "no-issuer-key"

    # With the region's published keys: valid before the revocation; an expired copy is not current.
    keys = ("--issuer-keys", str(tmp_path / "issuer.json"))
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "before.jwt"), *keys)
    status = json.loads(r.stdout)["current_status"]
    assert r.exit_code == 0 and status["checked"] is True and status["status"] == "valid", status
    assert status["current"] is True
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "old.jwt"), *keys)
    stale = json.loads(r.stdout)["current_status"]
    assert r.exit_code == 0 and stale["checked"] is False and stale["reason"] == "status-list-expired"
    assert "NOT checked" in stale["message"]

    # Revoked after it (exit 1); a revocation in an expired copy is final, so it still counts.
    assert revoke(api, registrar(api), code).status_code == 200
    (tmp_path / "after.jwt").write_text(status_token(api))
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "after.jwt"), *keys)
    report = json.loads(r.output)
    assert r.exit_code == 1 and report["genuine"] is True and report["current_status"]["status"] == "revoked"
    assert report["note"].startswith("REVOKED")
    node.clock.set(real_now - timedelta(hours=2))
    (tmp_path / "after-old.jwt").write_text(status_token(api))
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "after-old.jwt"), *keys)
    assert r.exit_code == 1 and json.loads(r.output)["current_status"]["checked"] is True

    # Not a status list, or one checked with someone else's key: refused, not checked.
    (tmp_path / "junk.jwt").write_text("not.a.token")
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "junk.jwt"), *keys)
    assert r.exit_code == 0 and json.loads(r.stdout)["current_status"]["checked"] is False
    forged = json.loads((tmp_path / "issuer.json").read_text())
    other = OKPKey.generate_key("Ed25519", private=True)
    forged["jwks"]["keys"] = [{**other.as_dict(private=False), "kid": forged["jwks"]["keys"][0]["kid"]}]
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    r = offline(tmp_path, node, pdf, "--status-list", str(tmp_path / "after.jwt"), "--issuer-keys",
                str(tmp_path / "forged.json"))
    assert json.loads(r.stdout)["current_status"]["reason"] == "status-list-signature"
    bad_keys = tmp_path / "bad.json"
    bad_keys.write_text("[]")
    assert offline(tmp_path, node, pdf, "--issuer-keys", str(bad_keys)).exit_code == 2


def test_a_licence_of_another_region_cannot_be_revoked_here(api, node, company):
    token = registrar(api)
    with node.ctx.database.session(write=True) as db:
        licence = db.scalar(select(Licence))
        licence.region = "TF"
        code = licence.uscc
    r = revoke(api, token, code)
    assert r.status_code == 404
    assert licence_row(node, code).status == "valid"


def test_two_registrars_revoking_at_once_revoke_once(api, node, company):
    """The second of two concurrent revocations reads the licence, then waits for the first's row
    lock; once the first commits it must see that revocation (409), not its own earlier read."""
    import threading
    import time

    from eresident.enterprise import service
    from eresident.kit.errors import Problem

    code = company[1]["uscc"]
    ctx = node.ctx
    second: list[object] = []

    def revoke_too() -> None:
        try:
            with ctx.database.session(write=True) as db:
                service.revoke_licence(ctx=ctx, db=db, code=code, reason="deregistered", note="Second registrar.",
                                       actor=Actor.system())
            second.append("revoked")
        except Problem as exc:
            second.append(exc.status)

    with ctx.database.session(write=True) as db:
        service.revoke_licence(ctx=ctx, db=db, code=code, reason="court_order", note="First registrar.",
                               actor=Actor.system())
        thread = threading.Thread(target=revoke_too)
        thread.start()
        time.sleep(0.5)  # the other has read the licence and waits for the lock (or for the write slot)
    thread.join(timeout=30)
    assert second == [409]
    row = licence_row(node, code)
    assert row.revocation_reason == "court_order" and row.revocation_note == "First registrar."
    with ctx.database.session(write=False) as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "licence.revoked")) == 1
