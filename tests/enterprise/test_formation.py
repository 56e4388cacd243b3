"""Company formation through the HTTP API, end to end, on each database: name check and
reservation, formation, signatures, automatic approval or an official's decision, the signed
licence (pyHanko and pdfsig), public verification, and the refusals that write nothing."""

from __future__ import annotations

import re

import hashlib
import json
import subprocess
import threading

from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import select

from eresident.crypto.pades import verify_pdf
from eresident.crypto.pki import load_root_certificates
from eresident.crypto.sdjwt import jws_registry
from eresident.enterprise import uscc
from eresident.enterprise.models import Formation, FormationSignature, RegisteredName
from tests.enterprise.helpers import NAME_EN, NAME_ZH, count, formation_body, nss_database, reserve, submit_and_sign
from tests.factories import bearer


def test_standard_formation_is_approved_automatically_and_the_licence_verifies(api, node, people, tmp_path):
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people

    checked = api.client.post("/api/v1/names/check", headers=bearer(founder_token),
                              json={"name_zh": NAME_ZH, "name_en": NAME_EN})
    assert checked.status_code == 200 and checked.json()["available"] is True
    r = reserve(api, founder_token)
    assert r.status_code == 201, r.text
    reservation = r.json()
    assert reservation["status"] == "reserved" and reservation["reserved_until"].startswith("2026-12-2")

    # A homophone (兴海 / 星海) is a warning listing the similar name, not a block.
    similar = api.client.post("/api/v1/names/check", headers=bearer(supervisor_token),
                              json={"name_zh": "重庆兴海科技有限公司", "name_en": NAME_EN}).json()
    assert similar["available"] is True
    assert [s["name"] for s in similar["similar_names"]] == [NAME_ZH]
    assert similar["similar_names"][0]["kind"] == "homophone"

    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(reservation["id"], founder, supervisor))
    assert r.status_code == 201, r.text
    formation = r.json()
    assert formation["status"] == "draft" and formation["signatories"] == [founder, supervisor]
    # Only the owner sees a draft: anyone else gets 404, as for documents.
    assert api.client.get(f"/api/v1/formations/{formation['id']}",
                          headers=bearer(supervisor_token)).status_code == 404

    done = submit_and_sign(api, formation["id"], [founder_token, supervisor_token])
    assert done["status"] == "approved", done
    assert done["decision_reasons"].startswith("Decided automatically")
    code = done["uscc"]
    info = uscc.validate(code)
    assert info.division_code == "500000" and code.startswith("91500000E")

    # The licence PDF: PAdES, valid against the region root with pyHanko and with pdfsig.
    pdf = api.client.get(done["licence_url"], headers=bearer(founder_token))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    root_pem = (node.settings.data_dir / "keys" / "root-ca.pem").read_bytes()
    verdict = verify_pdf(pdf.content, load_root_certificates(root_pem))
    assert verdict.valid and verdict.uscc == code and verdict.certified, verdict
    nss = nss_database(tmp_path / "nss", root_pem)
    (tmp_path / "licence.pdf").write_bytes(pdf.content)
    report = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(tmp_path / "licence.pdf")],
                            capture_output=True, text=True).stdout
    assert "Signature is Valid" in report and "Certificate is Trusted" in report
    assert "Total document signed" in report

    # Offline: `eresident verify FILE` with the region root as the trust anchor.
    from typer.testing import CliRunner

    from eresident.cli import app as cli

    (tmp_path / "root.pem").write_bytes(root_pem)
    env = {"ERESIDENT_DATA_DIR": str(tmp_path / "offline")}
    ok = CliRunner().invoke(cli, ["verify", str(tmp_path / "licence.pdf"), "--trust", str(tmp_path / "root.pem")],
                            env=env)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["uscc"] == code, ok.output
    untrusted = CliRunner().invoke(cli, ["verify", str(tmp_path / "licence.pdf")], env=env)
    assert untrusted.exit_code == 2  # no root to trust at all

    # Public verification: by USCC, by page, by upload; a tampered copy is not genuine.
    status = api.client.get(f"/api/v1/licences/{code}").json()
    assert status["genuine"] and status["current"] and status["name_zh"] == NAME_ZH
    page = api.client.get(f"/verify/licences/{code}", headers={"accept": "text/html"})
    assert page.status_code == 200 and "Genuine and current" in page.text and NAME_ZH in page.text
    assert api.client.get(f"/verify/licence/{code}").status_code == 200  # the QR code's address
    upload = api.client.post("/api/v1/licences/verify", files={"file": ("licence.pdf", pdf.content,
                                                                        "application/pdf")})
    assert upload.status_code == 200 and upload.json()["genuine"] is True, upload.text
    tampered = bytearray(pdf.content)
    at = tampered.find(code.encode())
    tampered[at + 10] = ord("X") if tampered[at + 10] != ord("X") else ord("Y")
    bad = api.client.post("/api/v1/licences/verify", files={"file": ("l.pdf", bytes(tampered), "application/pdf")})
    assert bad.status_code == 200 and bad.json()["genuine"] is False
    assert bad.json()["message"].startswith("Not genuine")
    (tmp_path / "tampered.pdf").write_bytes(bytes(tampered))
    offline_bad = CliRunner().invoke(cli, ["verify", str(tmp_path / "tampered.pdf"), "--trust",
                                           str(tmp_path / "root.pem")], env=env)
    assert offline_bad.exit_code == 1 and '"genuine": false' in offline_bad.output

    # The name is now registered to the company; the same trade name in the same industry is refused.
    with node.ctx.database.session(write=False) as db:
        name = db.get(RegisteredName, __import__("uuid").UUID(reservation["id"]))
        assert name.status == "registered" and name.owner_type == "enterprise"
    taken = reserve(api, supervisor_token)
    assert taken.status_code == 409 and taken.json()["type"].endswith("name-taken")

    # Signatures are JWS any third party can check with the region's published keys.
    sigs = api.client.get(f"/api/v1/formations/{formation['id']}/signatures", headers=bearer(supervisor_token)).json()
    keys = KeySet.import_key_set(api.client.get("/.well-known/jwt-vc-issuer").json()["jwks"])
    articles_sha = done["articles_sha256"]
    for sig in sigs:
        obj = jws.deserialize_compact(sig["jws"], keys, registry=jws_registry())
        payload = json.loads(obj.payload)
        assert payload["document"]["sha256"] == articles_sha
        assert payload["signer"]["e_resident_number"] == sig["e_resident_number"]
    assert {s["e_resident_number"] for s in sigs} == {founder, supervisor}

    # The foreign-investment report is filed; the licence is also a verifiable SD-JWT VC.
    fi = api.client.get(done["report_url"], headers=bearer(founder_token))
    assert fi.status_code == 200 and fi.json()["enterprise"]["uscc"] == code
    assert fi.json()["investors"][0]["share_percent"] == "100.0000"
    vc = api.client.post(f"/api/v1/formations/{formation['id']}/licence/credential", headers=bearer(founder_token),
                         json={})
    assert vc.status_code == 201, vc.text
    checked_vc = api.client.post("/api/v1/credentials/verify", json={"credential": vc.json()["credential"]}).json()
    assert checked_vc["valid"] is True and checked_vc["claims"]["uscc"] == code


def test_a_forged_or_malformed_uscc_is_refused(api):
    forged = uscc.issue(division_code="500000", serial=987654)  # well-formed, never issued here
    r = api.client.get(f"/api/v1/licences/{forged}")
    assert r.status_code == 404 and r.json()["genuine"] is False
    r = api.client.get(f"/api/v1/licences/{forged[:-1]}0" if forged[-1] != "0" else f"/api/v1/licences/{forged[:-1]}1")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "uscc"
    page = api.client.get(f"/verify/licences/{forged}", headers={"accept": "text/html"})
    assert page.status_code == 404 and "Not genuine" in page.text
    junk = api.client.post("/api/v1/licences/verify", files={"file": ("x.pdf", b"%PDF-1.4 nothing", "application/pdf")})
    assert junk.status_code == 200 and junk.json()["genuine"] is False


def test_bad_names_and_prohibited_scope_write_nothing(api, node, people):
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    r = reserve(api, founder_token, "重庆中国科技有限公司", "Chongqing China Technology Co., Ltd.")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name_zh"
    assert count(node, RegisteredName) == 0

    reservation = reserve(api, founder_token).json()
    body = formation_body(reservation["id"], founder, supervisor, business_scope=["BS001", "BS030"])
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=body)
    assert r.status_code == 422 and r.json()["type"].endswith("prohibited-scope")
    assert r.json()["errors"][0]["field"] == "business_scope/1"
    assert "news" in r.json()["errors"][0]["reason"]
    for bad, field in [({"business_scope": ["BS999"]}, "business_scope/0"),
                       ({"investors": [{"e_resident_number": founder, "share_percent": "60"}]}, "investors"),
                       ({"directors": [{"e_resident_number": supervisor}]}, "supervisor/e_resident_number"),
                       ({"legal_representative": {"e_resident_number": "LJ-ER-2026-999999"}},
                        "legal_representative/e_resident_number"),
                       ({"beneficial_owners": [{"name": "Someone Else", "country": "FR", "share_percent": "10"}]},
                        "beneficial_owners"),
                       ({"currency": "XYZ"}, "currency")]:
        r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                            json=formation_body(reservation["id"], founder, supervisor, **bad))
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == field, (bad, r.json())
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json={**formation_body(reservation["id"], founder, supervisor), "registered_capital": "-5"})
    assert r.status_code == 422
    assert count(node, Formation) == 0 and count(node, FormationSignature) == 0
    # Not an e-resident yet: no name check.
    newcomer = api.applicant()
    r = api.client.post("/api/v1/names/check", headers=bearer(newcomer), json={"name_zh": NAME_ZH, "name_en": NAME_EN})
    assert r.status_code == 403


def test_every_broken_rule_of_a_formation_is_named_at_once(api, node, people):
    """A founder corrects the form in one pass: each independent rule's refusal is in the answer,
    the first one giving its title and detail, and nothing is written."""
    _founders, (founder_token, founder), (_supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    body = formation_body(reservation["id"], founder, supervisor, currency="XYZ", business_scope=["BS999"],
                          investors=[{"kind": "natural", "e_resident_number": founder, "share_percent": "60"}],
                          directors=[{"e_resident_number": supervisor}],
                          legal_representative={"e_resident_number": "LJ-ER-2026-999999"})
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=body)
    assert r.status_code == 422
    problem = r.json()
    assert [e["field"] for e in problem["errors"]] == [
        "currency", "business_scope/0", "investors", "legal_representative/e_resident_number",
        "supervisor/e_resident_number"]
    assert problem["detail"] == problem["errors"][0]["reason"]
    assert count(node, Formation) == 0

    # The page shows them all, beside their fields and in the summary.
    page = api.client.post("/my/companies/new", headers={**bearer(founder_token), "accept": "text/html"}, data={
        "name_reservation_id": reservation["id"], "registered_capital": "1000000", "currency": "XYZ",
        "business_scope": ["BS001"], "address/kind": "service_site", "term/kind": "indefinite",
        "investors/0/kind": "natural", "investors/0/e_resident_number": founder, "investors/0/share_percent": "60",
        "legal_representative/e_resident_number": founder, "directors/0/e_resident_number": supervisor,
        "supervisor/e_resident_number": supervisor})
    assert page.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', page.text, re.S)
    assert summary, page.text[:500]
    linked = re.findall(r'<a href="#([^"]+)">', summary.group(0))
    assert {"currency", "investors", "supervisor-e_resident_number"} <= set(linked), linked
    assert count(node, Formation) == 0


def test_concurrent_reservations_of_one_name_have_one_winner(api, node, people):
    _founders, (founder_token, _), (supervisor_token, _) = people
    barrier = threading.Barrier(2)
    results = []

    def go(token):
        client = node.client()
        barrier.wait()
        results.append(client.post("/api/v1/names/reservations", headers=bearer(token),
                                   json={"name_zh": NAME_ZH, "name_en": NAME_EN}).status_code)

    threads = [threading.Thread(target=go, args=(t,)) for t in (founder_token, supervisor_token)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    assert count(node, RegisteredName) == 1


def test_a_change_after_signing_invalidates_the_signatures(api, node, people):
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    body = formation_body(reservation["id"], founder, supervisor)
    formation = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=body).json()
    api.client.post(f"/api/v1/formations/{formation['id']}/submit", headers=bearer(founder_token))
    first = api.client.get(f"/api/v1/formations/{formation['id']}/articles", headers=bearer(founder_token)).content
    digest = hashlib.sha256(first).hexdigest()
    assert api.client.post(f"/api/v1/formations/{formation['id']}/signatures", headers=bearer(founder_token),
                           json={"document_sha256": digest}).status_code == 201
    again = api.client.post(f"/api/v1/formations/{formation['id']}/signatures", headers=bearer(founder_token),
                            json={"document_sha256": digest})
    assert again.status_code == 409

    r = api.client.put(f"/api/v1/formations/{formation['id']}", headers=bearer(founder_token),
                       json={**body, "registered_capital": "2000000"})
    assert r.status_code == 200 and r.json()["revision"] == 2 and r.json()["signed_by"] == []
    assert r.json()["articles_sha256"] != digest
    # The supervisor signs what they read earlier: refused, the bytes changed.
    stale = api.client.post(f"/api/v1/formations/{formation['id']}/signatures", headers=bearer(supervisor_token),
                            json={"document_sha256": digest})
    assert stale.status_code == 409 and stale.json()["type"].endswith("stale-document")
    for token in (founder_token, supervisor_token):
        pdf = api.client.get(f"/api/v1/formations/{formation['id']}/articles", headers=bearer(token)).content
        r = api.client.post(f"/api/v1/formations/{formation['id']}/signatures", headers=bearer(token),
                            json={"document_sha256": hashlib.sha256(pdf).hexdigest()})
        assert r.status_code == 201, r.text
    final = api.client.get(f"/api/v1/formations/{formation['id']}", headers=bearer(founder_token)).json()
    assert final["status"] == "approved" and final["registered_capital"] == "2000000.00"
    with node.ctx.database.session(write=False) as db:
        statuses = sorted(db.scalars(select(FormationSignature.status)))
    assert statuses == ["superseded", "valid", "valid"]


def test_a_founder_cannot_learn_who_an_e_resident_number_belongs_to(api, node, people):
    """Found in review: listing any number as director or supervisor used to answer with that
    person's legal name and nationality, so anyone could look up every e-resident in turn. Now a
    founder sees another person's name only once that person has signed, and the answer for a
    number that is not an active e-resident is the same whatever the reason."""
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    r = reserve(api, founder_token)
    assert r.status_code == 201, r.text
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(r.json()["id"], founder, supervisor))
    assert r.status_code == 201, r.text
    parties = {p["e_resident_number"]: p for p in r.json()["parties"] if p["role"] == "supervisor"}
    assert parties[supervisor]["name"] == "" and parties[supervisor]["country"] == ""
    own = next(p for p in r.json()["parties"] if p["e_resident_number"] == founder)
    assert own["name"]  # the founder sees their own name
    formation_id = r.json()["id"]
    page = api.client.get(f"/my/companies/{formation_id}", headers=bearer(founder_token))
    assert "HADDAD" not in page.text and f"E-resident {supervisor} (name shown once they sign)" in page.text
    # the supervisor, a party, sees the founder's name only after the founder has signed
    r = api.client.post(f"/api/v1/formations/{formation_id}/submit", headers=bearer(founder_token))
    assert r.status_code == 200, r.text
    seen = api.client.get(f"/api/v1/formations/{formation_id}", headers=bearer(supervisor_token)).json()
    assert next(p for p in seen["parties"] if p["e_resident_number"] == founder)["name"] == ""
    unknown = formation_body(reserve(api, founder_token, "重庆青橄榄贸易有限公司", "Chongqing Green Olive Trading Co., Ltd.")
                             .json()["id"], founder, "LJ-ER-2026-999999")
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=unknown)
    assert r.status_code == 422 and "is not an active e-resident of this region" in r.text
