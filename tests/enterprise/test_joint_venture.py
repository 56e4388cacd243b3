"""A joint venture with a Chinese partner company, through the HTTP API on each database: the
partner is not an e-resident and signs the articles itself, with an organisation certificate from a
Chinese certification authority on the region's trust list (a PAdES approval signature on the very
PDF); every way a signed file can be wrong is refused with nothing written; the negative list's
structural conditions (joint venture only, a foreign-share cap) are enforced."""

from __future__ import annotations

import hashlib
import json
import re
import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from eresident.crypto.demo_ca import DemoCA
from eresident.crypto.pades import sign_approval
from eresident.enterprise import uscc
from eresident.enterprise.models import Formation, FormationPartnerSignature
from eresident.enterprise.partners import trust_dir
from tests.enterprise.helpers import NAME_ZH, count, formation_body, nss_database, reserve, submit_and_sign
from tests.factories import bearer

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # the tests' frozen clock
PARTNER_NAME = "重庆山城贸易有限公司"
PARTNER_USCC = uscc.issue(division_code="500112", serial=4711)
OTHER_USCC = uscc.issue(division_code="510100", serial=815)


class ChineseCA(DemoCA):
    """A Chinese CA (crypto/demo_ca.py) at the tests' time, issuing for the test partner by default."""

    @classmethod
    def at_test_time(cls, name: str = "Demo Chinese CA") -> ChineseCA:
        made = DemoCA.create(name, now=NOW)
        return cls(key=made.key, root=made.root, now=NOW)

    def organisation(self, name: str = PARTNER_NAME, code: str = PARTNER_USCC, *,  # type: ignore[override]
                     not_after: datetime | None = None):
        return super().organisation(name, code, not_after=not_after)


@pytest.fixture
def ca(node) -> ChineseCA:
    """A Chinese CA on the node's domestic trust list."""
    authority = ChineseCA.at_test_time()
    directory = trust_dir(node.ctx.settings)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "demo-chinese-ca.pem").write_bytes(authority.root_pem())
    return authority


def jv_body(reservation_id: str, founder: str, supervisor: str, *, partner_share: str = "40",
            partner: dict | None = None, **overrides) -> dict:
    foreign = str(100 - int(partner_share))
    return formation_body(
        reservation_id, founder, supervisor, company_type="jv",
        investors=[{"kind": "natural", "e_resident_number": founder, "share_percent": foreign},
                   partner or {"kind": "domestic_company", "name": PARTNER_NAME, "registration_number": PARTNER_USCC,
                               "share_percent": partner_share}],
        beneficial_owners=[{"name": "Amina BENALI", "country": "DZ", "e_resident_number": founder,
                            "share_percent": foreign},
                           {"name": "王建国", "country": "CN", "share_percent": partner_share}],
        **overrides)


def open_case(api, people, **overrides) -> dict:
    """A joint venture submitted and signed by both e-residents: it waits for the partner only."""
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=jv_body(reservation["id"], founder, supervisor, **overrides))
    assert r.status_code == 201, r.text
    formation_id = r.json()["id"]
    formation = submit_and_sign(api, formation_id, [founder_token, supervisor_token])
    assert formation["status"] == "awaiting_signatures", "the partner has not signed yet"
    [partner] = formation["partners"]
    assert partner["name"] == PARTNER_NAME and partner["identifier"] == PARTNER_USCC and partner["signed"] is False
    assert partner["signing_url"].startswith("http")
    return {"id": formation_id, "founder_token": founder_token, "link": partner["signing_url"], "party": partner["id"],
            "api_path": api_path(partner["signing_url"])}


def api_path(link: str) -> str:
    """The API address of a signing link (the link itself is the page for a person)."""
    return "/api/v1/partner-signing" + link.split("/partner-signing", 1)[1]


def upload(api, path: str, data: bytes):
    return api.client.post(path, files={"file": ("articles-signed.pdf", data, "application/pdf")})


def refused(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"].endswith(code), body
    assert r.headers["content-type"].startswith("application/problem+json")
    return body


def test_a_joint_venture_is_signed_by_its_chinese_partner_and_licensed(api, node, people, ca, tmp_path):
    case = open_case(api, people)
    # The partner needs no account: the link shows what it is asked to sign.
    invitation = api.client.get(case["api_path"])
    assert invitation.status_code == 200, invitation.text
    info = invitation.json()
    assert info["partner_identifier"] == PARTNER_USCC and info["company_type"] == "jv" and info["open"] is True
    articles = api.client.get(info["articles_url"])
    assert articles.status_code == 200 and hashlib.sha256(articles.content).hexdigest() == info["articles_sha256"]
    text = subprocess.run(["pdftotext", "-", "-"], input=articles.content, capture_output=True, check=True).stdout
    text = text.decode()
    assert "中外合资" in text and "Sino-foreign joint venture" in text and PARTNER_USCC in text
    # Chinese names inside the English lines are drawn (in the CJK font), not left as empty boxes.
    flat = "".join(text.split())
    assert f"{PARTNER_NAME}(Chineseparty,USCC{PARTNER_USCC}" in flat and f"Thenameofthecompanyis{NAME_ZH}" in flat

    key, cert = ca.organisation()
    signed = sign_approval(articles.content, key, cert, [ca.root], signing_time=NOW)
    r = upload(api, info["post_to"], signed)
    assert r.status_code == 201, r.text
    assert r.json()["partner"] == PARTNER_USCC and PARTNER_USCC in r.json()["signer_subject"]

    # The last signature moved the case on: a standard case is approved and the licence issued.
    formation = api.client.get(f"/api/v1/formations/{case['id']}", headers=bearer(case["founder_token"])).json()
    assert formation["status"] == "approved", formation
    assert formation["company_type"] == "jv" and formation["partners"][0]["signed"] is True
    assert formation["partners"][0]["signing_url"] is None
    licence = api.client.get(formation["licence_url"], headers=bearer(case["founder_token"])).content
    licence_text = subprocess.run(["pdftotext", "-", "-"], input=licence, capture_output=True, check=True).stdout
    assert "中外合资" in licence_text.decode() and "joint venture" in licence_text.decode()
    report_pdf = api.client.get(formation["report_pdf_url"], headers=bearer(case["founder_token"])).content
    report_text = "".join(subprocess.run(["pdftotext", "-", "-"], input=report_pdf, capture_output=True,
                                         check=True).stdout.decode().split())
    assert PARTNER_NAME in report_text and "王建国" in report_text and "中方法人" in report_text
    report = api.client.get(formation["report_url"], headers=bearer(case["founder_token"])).json()
    assert report["enterprise"]["company_type"] == "Sino-foreign joint venture limited liability company"
    assert [(i["kind"], i["registration_number"]) for i in report["investors"]][1] == ("domestic_company",
                                                                                      PARTNER_USCC)
    # The link is spent once the partner signed: it shows the signature, and a second upload is refused.
    assert api.client.get(case["api_path"]).json()["signed"] is True
    refused(upload(api, info["post_to"], signed), 409, "wrong-status")

    # The signed copy kept is the partner's own file, and an outside tool (Poppler's pdfsig) checks
    # it with nothing but the CA's root.
    assert formation["partners"][0]["signed_copy_url"] == (f"/api/v1/formations/{case['id']}/partner-signatures/"
                                                           f"{case['party']}")
    copy = api.client.get(formation["partners"][0]["signed_copy_url"], headers=bearer(case["founder_token"]))
    assert copy.status_code == 200 and copy.content == signed
    (tmp_path / "signed.pdf").write_bytes(copy.content)
    nss = nss_database(tmp_path / "nss", ca.root_pem())
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(tmp_path / "signed.pdf")],
                         capture_output=True, text=True)
    assert "Signature is Valid" in out.stdout and "Certificate is Trusted" in out.stdout, out.stdout
    # The signed copy starts with the very articles the e-residents signed.
    assert copy.content.startswith(articles.content)
    # Officials see the same copy in the case.
    registrar = api.session_of("lj-reviewer")
    assert api.client.get(f"/api/v1/formation-cases/{case['id']}/partner-signatures/{case['party']}",
                          headers=bearer(registrar)).content == signed


def _content_changed(articles: bytes, key, cert, ca: ChineseCA) -> bytes:
    """The articles with a line of text added to page 1 in the same update as the signature."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from eresident.crypto.pades import _asn1_cert, _asn1_key

    writer = IncrementalPdfFileWriter(io.BytesIO(articles))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    extra = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 72 Td (Capital: 1 CNY) Tj ET"))
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), extra])
    writer.update_container(page)
    signer = signers.SimpleSigner(signing_cert=_asn1_cert(cert), signing_key=_asn1_key(key),
                                  cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(ca.root)]))
    meta = signers.PdfSignatureMetadata(field_name="Seal", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    return signers.PdfSigner(meta, signer=signer).sign_pdf(writer).getvalue()


def test_every_wrong_signed_file_is_refused_and_nothing_is_written(api, node, people, ca):
    case = open_case(api, people)
    path = case["api_path"]
    articles = api.client.get(path + "/articles").content
    key, cert = ca.organisation()
    stranger_ca = ChineseCA.at_test_time("Unlisted CA")
    before = (count(node, FormationPartnerSignature), api.client.get(path).json())

    def check(data: bytes, status: int, code: str) -> dict:
        body = refused(upload(api, path, data), status, code)
        assert body["errors"][0]["field"] == "file" and body["errors"][0]["reason"]
        assert (count(node, FormationPartnerSignature), api.client.get(path).json()) == before
        return body

    # a certificate from a CA the region does not list
    k2, c2 = stranger_ca.organisation()
    check(sign_approval(articles, k2, c2, [stranger_ca.root], signing_time=NOW), 422, "partner-signature-untrusted")
    # a listed CA, but the certificate of another company
    k3, c3 = ca.organisation("成都锦城商贸有限公司", OTHER_USCC)
    body = check(sign_approval(articles, k3, c3, [ca.root], signing_time=NOW), 422, "wrong-signer")
    assert OTHER_USCC in body["detail"] and PARTNER_NAME in body["detail"]
    # the right USCC, but the certificate names the company differently from the formation
    k4, c4 = ca.organisation("重庆山城商贸有限公司", PARTNER_USCC)
    check(sign_approval(articles, k4, c4, [ca.root], signing_time=NOW), 422, "name-differs")
    # an expired certificate
    k5, c5 = ca.organisation(not_after=NOW - timedelta(days=1))
    check(sign_approval(articles, k5, c5, [ca.root], signing_time=NOW), 422, "partner-signature-untrusted")
    # other bytes than the current articles: a re-rendered copy, or the articles unsigned
    other = api.client.get("/api/v1/formations/" + case["id"] + "/articles",
                           headers=bearer(case["founder_token"])).content.replace(b"/Producer", b"/Producxr")
    check(sign_approval(other, key, cert, [ca.root], signing_time=NOW), 422, "partner-signature-not-the-document")
    check(articles, 422, "partner-signature-not-the-document")
    check(b"%PDF-1.7 not really", 422, "partner-signature-not-the-document")
    # the page's content changed in the same update that adds the signature
    check(_content_changed(articles, key, cert, ca), 422, "partner-signature-modified")
    # something appended after the signature
    good = sign_approval(articles, key, cert, [ca.root], signing_time=NOW)
    check(good + b"\n% later\n", 422, "partner-signature-modified")
    # a byte inside the signed range flipped
    flip = len(articles) + 40
    check(good[:flip] + bytes([good[flip] ^ 1]) + good[flip + 1:], 422, "partner-signature-digest")
    # a made-up or tampered link is simply not found, the same answer whatever is wrong
    assert api.client.get(path[:-3] + "AAA").status_code == 404
    refused(upload(api, path[:-3] + "AAA", good), 404, "not-found")

    # The right file is accepted once.
    assert upload(api, path, good).status_code == 201
    assert count(node, FormationPartnerSignature) == 1


def test_a_change_to_the_formation_supersedes_the_partners_signature_and_its_link(api, node, people, ca):
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    body = jv_body(reservation["id"], founder, supervisor)
    # A second e-resident investor keeps the case open after the partner signs.
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=body)
    formation_id = r.json()["id"]
    api.client.post(f"/api/v1/formations/{formation_id}/submit", headers=bearer(founder_token))
    read = api.client.get(f"/api/v1/formations/{formation_id}", headers=bearer(founder_token)).json()
    link = read["partners"][0]["signing_url"]
    path = api_path(link)
    articles = api.client.get(path + "/articles").content
    key, cert = ca.organisation()
    assert upload(api, path, sign_approval(articles, key, cert, [ca.root], signing_time=NOW)).status_code == 201
    read = api.client.get(f"/api/v1/formations/{formation_id}", headers=bearer(founder_token)).json()
    assert read["status"] == "awaiting_signatures" and read["partners"][0]["signed"] is True

    # The founder changes the capital: new articles, every signature superseded, a new link.
    body["registered_capital"] = "2000000"
    r = api.client.put(f"/api/v1/formations/{formation_id}", headers=bearer(founder_token), json=body)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["partners"][0]["signed"] is False and after["partners"][0]["signing_url"] != link
    assert api.client.get(path).status_code == 404
    with node.ctx.database.session(write=False) as db:
        assert list(db.scalars(select(FormationPartnerSignature.status))) == ["superseded"]
    # The new link takes a signature on the new articles only.
    new_path = api_path(after["partners"][0]["signing_url"])
    refused(upload(api, new_path, sign_approval(articles, key, cert, [ca.root], signing_time=NOW)), 422,
            "partner-signature-not-the-document")
    new_articles = api.client.get(new_path + "/articles").content
    assert upload(api, new_path, sign_approval(new_articles, key, cert, [ca.root], signing_time=NOW)).status_code == 201


@pytest.mark.parametrize("case_name, mutate, field, code", [
    ("a wholly foreign-owned company with a Chinese partner",
     lambda b: b.update(company_type="wfoe"), "investors/1/kind", "invalid-field"),
    ("a joint venture without a Chinese partner",
     lambda b: b.update(investors=[b["investors"][0] | {"share_percent": "100"}]), "investors", "invalid-field"),
    ("a joint venture without a foreign investor",
     lambda b: b.update(investors=[b["investors"][1] | {"share_percent": "100"}]), "investors", "invalid-field"),
    ("a USCC with a wrong check character",
     lambda b: b["investors"][1].update(registration_number=PARTNER_USCC[:-1] + (
         "0" if PARTNER_USCC[-1] != "0" else "1")), "investors/1/registration_number", "invalid-field"),
    ("a Chinese partner with an e-resident signing for it",
     lambda b: b["investors"][1].update(signatory_e_resident_number="LJ-ER-2026-000001"),
     "investors/1/signatory_e_resident_number", "invalid-field"),
    ("a foreign-company investor registered in China",
     lambda b: b["investors"][1].update(kind="legal", country="CN", signatory_e_resident_number=None),
     "investors/1/kind", "invalid-field"),
    ("market research as a wholly foreign-owned company",
     lambda b: b.update(company_type="wfoe", investors=[b["investors"][0] | {"share_percent": "100"}],
                        beneficial_owners=[b["beneficial_owners"][0] | {"share_percent": "100"}],
                        business_scope=["BS001", "BS028"]), "business_scope/1", "restricted-scope-conditions"),
    ("value-added telecoms with 60% foreign",
     lambda b: b.update(business_scope=["BS029"]), "business_scope/0", "restricted-scope-conditions"),
])
def test_the_structure_of_a_joint_venture_is_checked(api, node, people, case_name, mutate, field, code):
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    body = jv_body(reservation["id"], founder, supervisor)
    mutate(body)
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=body)
    problem = refused(r, 422, code)
    assert field in [e["field"] for e in problem["errors"]], (case_name, problem)
    assert count(node, Formation) == 0


def test_restricted_business_as_a_joint_venture_goes_to_officials_who_approve_it(api, node, people, ca):
    """Market research is open to a joint venture and value-added telecoms with the foreign share
    at the 50% cap; a registrar checks the rest of the conditions, so a person decides, four eyes."""
    case = open_case(api, people, partner_share="50", business_scope=["BS001", "BS028", "BS029"])
    articles = api.client.get(case["api_path"] + "/articles").content
    key, cert = ca.organisation()
    assert upload(api, case["api_path"], sign_approval(articles, key, cert, [ca.root], signing_time=NOW)).status_code \
        == 201
    formation = api.client.get(f"/api/v1/formations/{case['id']}", headers=bearer(case["founder_token"])).json()
    assert formation["status"] == "awaiting_review" and formation["uscc"] is None
    restricted = formation["restricted_scope"]
    assert [x["code"] for x in restricted] == ["BS028", "BS029"] and "joint venture" in restricted[0]["conditions_en"]

    reviewer, approver = api.session_of("lj-reviewer"), api.session_of("lj-approver")
    work = api.client.get("/api/v1/formation-cases", headers=bearer(reviewer)).json()
    assert [w["id"] for w in work] == [case["id"]] and work[0]["open_step"] == "review"
    seen = api.client.get(f"/api/v1/formation-cases/{case['id']}", headers=bearer(reviewer)).json()
    assert seen["facts"]["restricted_items"] == 2 and seen["partners"][0]["signed"] is True
    assert seen["partners"][0]["signing_url"] is None, "officials never get the partner's link"
    base = f"/api/v1/formation-cases/{case['id']}"
    assert api.client.post(f"{base}/claim", headers=bearer(reviewer)).json()["status"] == "in_review"
    r = api.client.post(f"{base}/recommend", headers=bearer(reviewer),
                        json={"recommendation": "approve", "note": "Joint venture; telecom permit explained."})
    assert r.json()["status"] == "awaiting_decision"
    # Four eyes: the reviewer cannot also decide.
    assert api.client.post(f"{base}/decide", headers=bearer(reviewer), json={"decision": "approve"}).status_code == 403
    r = api.client.post(f"{base}/decide", headers=bearer(approver), json={"decision": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["uscc"]
    assert api.client.get(f"/api/v1/licences/{r.json()['uscc']}").json()["current"] is True


def test_the_trust_list_is_kept_apart_from_the_region_roots(node, ca):
    """A Chinese CA listed for partners' signatures never becomes a root that may sign a licence."""
    from eresident.enterprise.service import trust_roots

    fingerprints = {c.fingerprint(hashes.SHA256()) for c in trust_roots(node.ctx.settings)}
    assert ca.root.fingerprint(hashes.SHA256()) not in fingerprints
    assert Path(trust_dir(node.ctx.settings)).parent == Path(node.ctx.settings.data_dir) / "trust"


WRONG_USCC = PARTNER_USCC[:-1] + ("0" if PARTNER_USCC[-1] != "0" else "1")  # a wrong check character


def jv_form(api, node, people, partner_row: dict) -> tuple:
    """The founder's browser on the formation form with a name reserved, and the form's values for a
    joint venture: the founder 70%, `partner_row` as investor 2 with 30%. Returns (browser, values,
    (founder token, supervisor token))."""
    from tests.enterprise.test_pages import form_data, signed_in

    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()["id"]
    b = signed_in(node, founder_token)
    page = b.get(f"/my/companies/new?name={reservation}").text
    assert 'value="jv"' in page and f'value="{partner_row["kind"]}"' in page
    data = {**form_data(founder, supervisor), "name_reservation_id": reservation, "company_type": "jv",
            "investors/0/share_percent": "70", "investors/1/share_percent": "30",
            **{f"investors/1/{k}": v for k, v in partner_row.items()}}
    return b, data, (founder_token, supervisor_token)


def test_founder_and_partner_do_it_all_in_the_pages(api, node, people, ca):
    """The founder chooses a joint venture and a Chinese partner on the form, passes the link on;
    the partner, with no account, opens it, downloads the articles, uploads a wrong file (the
    message is beside the file field) and then its signed copy, and the case moves on."""
    from tests.test_pages import Browser

    b, data, (founder_token, supervisor_token) = jv_form(api, node, people, {
        "kind": "domestic_company", "partner_name": PARTNER_NAME, "uscc": WRONG_USCC, "owner_name": "王建国",
        "owner_country": "CN"})
    r = b.post("/my/companies/new", data)
    assert r.status_code == 422 and 'id="investors-1-uscc-error"' in r.text and count(node, Formation) == 0
    r = b.post("/my/companies/new", {**data, "investors/1/uscc": PARTNER_USCC})
    assert r.status_code == 303, r.text
    case_url = r.headers["location"]
    page = b.get(case_url)
    assert "Joint venture with a Chinese partner" in page.text and f"USCC {PARTNER_USCC}" in page.text
    assert b.post(f"{case_url}/submit", {}).status_code == 303
    page = b.get(case_url)
    link = re.search(r'id="partner-link-1" type="text" readonly value="([^"]+)"', page.text).group(1)
    path = link.split("://", 1)[1].split("/", 1)[1]
    path = "/" + path
    # Both e-residents sign as usual.
    for token in (founder_token, supervisor_token):
        pdf = api.client.get(f"/api/v1/formations/{case_url.rsplit('/', 1)[1]}/articles", headers=bearer(token))
        assert api.client.post(f"/api/v1/formations/{case_url.rsplit('/', 1)[1]}/signatures", headers=bearer(token),
                               json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()}).status_code == 201

    partner = Browser(node)  # another browser, no session
    partner.client.headers["accept-language"] = "zh"
    page = partner.get(path)
    assert page.status_code == 200 and PARTNER_NAME in page.text and PARTNER_USCC in page.text
    articles = partner.get(path + "/articles.pdf")
    assert articles.status_code == 200 and articles.content.startswith(b"%PDF")
    r = partner.post(path, {}, files={"file": ("a.pdf", articles.content, "application/pdf")})
    assert r.status_code == 422 and 'id="file-error"' in r.text and 'href="#file"' in r.text
    key, cert = ca.organisation()
    signed = sign_approval(articles.content, key, cert, [ca.root], signing_time=NOW)
    r = partner.post(path, {}, files={"file": ("signed.pdf", signed, "application/pdf")})
    assert r.status_code == 303 and r.headers["location"].endswith("?signed=1")
    done = partner.get(r.headers["location"])
    assert 'role="status"' in done.text and PARTNER_USCC in done.text
    assert b.get(case_url).text.count("partner-link-") == 0
    assert "approved" in api.client.get(f"/api/v1/formations/{case_url.rsplit('/', 1)[1]}",
                                        headers=bearer(founder_token)).json()["status"]


def test_the_cli_signs_as_a_partner_and_a_third_party_checks_it_offline(api, node, people, ca, tmp_path):
    """`eresident signature partner-sign` (what a CA's client does) and `partner-verify` (anyone,
    later, with the CA's root), each in its own process."""
    import sys

    from eresident.crypto.demo_ca import write_identity

    case = open_case(api, people)
    articles = tmp_path / "articles.pdf"
    articles.write_bytes(api.client.get(case["api_path"] + "/articles").content)
    key_path, cert_path = write_identity(tmp_path / "partner", *ca.organisation())
    (tmp_path / "root.pem").write_bytes(ca.root_pem())

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "eresident", "signature", *args], capture_output=True, text=True,
                              env={**__import__("os").environ, "ERESIDENT_DATA_DIR": str(tmp_path / "data")})

    signed = tmp_path / "signed.pdf"
    r = cli("partner-sign", str(articles), "--key", str(key_path), "--cert", str(cert_path), "--chain",
            str(tmp_path / "root.pem"), "--out", str(signed))
    assert r.returncode == 0, r.stderr
    r = cli("partner-verify", str(signed), str(articles), "--trust", str(tmp_path / "root.pem"))
    assert r.returncode == 0, r.stderr
    assert PARTNER_USCC in json.loads(r.stdout)["signer_identifiers"]
    # Another root: not trusted (exit 1, naming the check); a missing file: exit 2.
    other = ChineseCA.at_test_time("Other CA")
    (tmp_path / "other.pem").write_bytes(other.root_pem())
    r = cli("partner-verify", str(signed), str(articles), "--trust", str(tmp_path / "other.pem"))
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "untrusted"
    assert cli("partner-verify", str(tmp_path / "nope.pdf"), str(articles), "--trust",
               str(tmp_path / "root.pem")).returncode == 2
    # The node takes the CLI's signature like any other.
    assert upload(api, case["api_path"], signed.read_bytes()).status_code == 201


def test_the_demo_seeds_a_partner_that_can_sign(node, tmp_path):
    """`make run`'s demo partner: a stand-in CA on the node's domestic trust list and a company
    certificate with a valid USCC; seeding again changes nothing."""
    from eresident.crypto.pki import load_root_certificates
    from eresident.enterprise.partners import trusted_roots
    from eresident.seed import seed_demo_partner

    info = seed_demo_partner(node.ctx.settings)
    assert uscc.validate(info["uscc"]).code == info["uscc"]
    root = load_root_certificates(Path(info["ca_root"]).read_bytes())[0]
    assert root in trusted_roots(node.ctx.settings)
    assert seed_demo_partner(node.ctx.settings) == info


CITIZEN_NAME, CITIZEN_ID = "王建国", "11010519491231002X"


def test_a_chinese_citizen_partner_signs_with_a_personal_certificate_and_the_number_is_not_kept(api, node, people,
                                                                                              ca):
    """A Chinese citizen as the partner: the identity card number is checked (GB 11643) and kept only
    masked and as a blind index; the personal certificate naming that number and name signs; another
    person's certificate is refused; the number appears nowhere in the database or the documents."""
    from sqlalchemy import text

    from eresident.enterprise.models import FormationParty

    citizen = {"kind": "domestic_person", "name": CITIZEN_NAME, "id_number": CITIZEN_ID, "share_percent": "40"}
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    bad = jv_body(reservation["id"], founder, supervisor, partner=citizen | {"id_number": CITIZEN_ID[:-1] + "1"})
    problem = refused(api.client.post("/api/v1/formations", headers=bearer(founder_token), json=bad), 422,
                      "invalid-field")
    assert [e["field"] for e in problem["errors"]] == ["investors/1/id_number"]
    unlisted = jv_body(reservation["id"], founder, supervisor, partner=citizen)
    unlisted["beneficial_owners"] = unlisted["beneficial_owners"][:1]
    problem = refused(api.client.post("/api/v1/formations", headers=bearer(founder_token), json=unlisted), 422,
                      "invalid-field")
    assert CITIZEN_NAME in problem["errors"][0]["reason"] and count(node, Formation) == 0

    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=jv_body(reservation["id"], founder, supervisor, partner=citizen))
    assert r.status_code == 201, r.text
    formation = submit_and_sign(api, r.json()["id"], [founder_token, supervisor_token])
    [partner] = formation["partners"]
    assert partner["kind"] == "domestic_person" and partner["identifier"] == "110105********002X"
    path = api_path(partner["signing_url"])
    articles = api.client.get(path + "/articles").content
    assert articles.startswith(b"%PDF"), articles[:300]
    text_of = "".join(subprocess.run(["pdftotext", "-", "-"], input=articles, capture_output=True,
                                     check=True).stdout.decode().split())
    assert "110105********002X" in text_of and CITIZEN_ID not in text_of

    other_key, other_cert = ca.person("李四", "11010519900307001X")
    refused(upload(api, path, sign_approval(articles, other_key, other_cert, [ca.root], signing_time=NOW)), 422,
            "wrong-signer")
    key, cert = ca.person(CITIZEN_NAME, CITIZEN_ID)
    r = upload(api, path, sign_approval(articles, key, cert, [ca.root], signing_time=NOW))
    assert r.status_code == 201, r.text
    assert CITIZEN_ID not in r.text and "110105********002X" in r.json()["signer_subject"]
    done = api.client.get(f"/api/v1/formations/{formation['id']}", headers=bearer(founder_token)).json()
    assert done["status"] == "approved" and done["partners"][0]["signed"] is True
    report = api.client.get(done["report_url"], headers=bearer(founder_token))
    assert CITIZEN_ID not in report.text and "domestic_person" in report.text
    # Nowhere in the database: not in the parties, the signatures, the audit log.
    with node.ctx.database.session(write=False) as db:
        [party] = db.scalars(select(FormationParty).where(FormationParty.kind == "domestic_person"))
        assert party.registration_number == "110105********002X" and len(party.identifier_index or "") == 64
        for table in ("formation_parties", "formation_partner_signatures", "audit_events"):
            dump = " ".join(str(row) for row in db.execute(text(f"SELECT * FROM {table}")))
            assert CITIZEN_ID not in dump, table


def test_a_citizen_partner_in_the_pages(api, node, people, ca):
    """The form's citizen row: a wrong identity card number is refused beside its field; the owner
    of 25% or more is derived from the row; the case page and the partner's page show the number
    masked only; a change of the formation asks for the number again."""
    from tests.test_pages import Browser

    b, data, (founder_token, _supervisor_token) = jv_form(api, node, people, {
        "kind": "domestic_person", "citizen_name": CITIZEN_NAME, "id_number": "110105194912310021"})
    r = b.post("/my/companies/new", data)
    assert r.status_code == 422 and 'id="investors-1-id_number-error"' in r.text and count(node, Formation) == 0
    r = b.post("/my/companies/new", {**data, "investors/1/id_number": CITIZEN_ID.lower()})
    assert r.status_code == 303, r.text
    case_url = r.headers["location"]
    page = b.get(case_url).text
    assert "Identity card 110105********002X, signs with a personal certificate" in page and CITIZEN_ID not in page
    edit = b.get(f"{case_url}/edit").text
    assert f'value="{CITIZEN_NAME}"' in edit and CITIZEN_ID not in edit
    assert b.post(f"{case_url}/submit", {}).status_code == 303
    link = re.search(r'id="partner-link-1" type="text" readonly value="([^"]+)"', b.get(case_url).text).group(1)
    partner = Browser(node)
    shown = partner.get("/" + link.split("://", 1)[1].split("/", 1)[1]).text
    assert "identity card 110105********002X" in shown and "personal certificate" in shown
