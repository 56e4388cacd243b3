"""The foreign-investment information report filed when the licence is issued: the JSON kept as
before, and the signed bilingual PDF, downloadable by the founder and by officials, validated by
pdfsig against the region root and recognised by the public upload check."""

from __future__ import annotations

import hashlib
import subprocess

from eresident.crypto.pades import verify_pdf
from eresident.crypto.pki import load_root_certificates
from eresident.documents.licence_pdf import signed_metadata
from tests.documents.test_licence_pdf import need, pdf_text
from tests.enterprise.helpers import formation_body, nss_database, reserve, submit_and_sign
from tests.factories import Api, bearer


def test_the_report_is_filed_as_a_signed_pdf_with_the_licence(node, tmp_path):
    api = Api(node)
    founder_token, founder = api.e_resident()
    supervisor_token, supervisor = api.e_resident()
    reservation = reserve(api, founder_token).json()
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(reservation["id"], founder, supervisor, term_years=15,
                                            business_scope=["BS001", "BS002"]))
    assert r.status_code == 201, r.text
    done = submit_and_sign(api, r.json()["id"], [founder_token, supervisor_token])
    assert done["report_pdf_url"] == f"/api/v1/formations/{done['id']}/report/pdf"

    pdf = api.client.get(done["report_pdf_url"], headers=bearer(founder_token))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-content-sha256"] == hashlib.sha256(pdf.content).hexdigest()
    root_pem = (node.settings.data_dir / "keys" / "root-ca.pem").read_bytes()
    verdict = verify_pdf(pdf.content, load_root_certificates(root_pem))
    assert verdict.valid and verdict.certified and verdict.uscc == done["uscc"], verdict
    assert signed_metadata(pdf.content).kind == "fi_report"
    need("pdfsig", "poppler-utils")
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss_database(tmp_path / 'nss', root_pem)}",
                          str(tmp_path / "report.pdf")], capture_output=True, text=True).stdout
    assert "Signature is Valid" in out and "Certificate is Trusted" in out and "Total document signed" in out

    # What it says: the formation's data, in both languages, tied to the JSON filed with it.
    data = api.client.get(done["report_url"], headers=bearer(founder_token))
    assert data.json()["enterprise"]["uscc"] == done["uscc"]  # the JSON form is kept
    flat = "".join(pdf_text(pdf.content, tmp_path).split())
    for expected in ("外商投资信息报告", done["uscc"], done["case_number"], "重庆星海科技有限公司",
                     "100万美元", "至2041年11月26日", "软件开发", "投资者", "100%", "最终受益所有人", "监事",
                     "sample-2026", hashlib.sha256(data.content).hexdigest()):
        assert expected in flat, expected

    # Officials of the region read it too; another e-resident does not.
    reviewer = api.session_of("lj-reviewer")
    official = api.client.get(f"/api/v1/formation-cases/{done['id']}/report/pdf", headers=bearer(reviewer))
    assert official.status_code == 200 and official.content == pdf.content
    assert api.client.get(f"/api/v1/formation-cases/{done['id']}/licence", headers=bearer(reviewer)).status_code == 200
    assert api.client.get(done["report_pdf_url"], headers=bearer(supervisor_token)).status_code == 404
    assert api.client.get(f"/api/v1/formation-cases/{done['id']}/report/pdf",
                          headers=bearer(founder_token)).status_code == 401  # not an official

    # The founder's page links it; the public upload check recognises it for what it is.
    page = api.client.get(f"/my/companies/{done['id']}", headers=bearer(founder_token))
    assert f'href="/my/companies/{done["id"]}/report/pdf"' in page.text
    assert api.client.get(f"/my/companies/{done['id']}/report/pdf", headers=bearer(founder_token)).content == \
        pdf.content
    upload = api.client.post("/api/v1/licences/verify", files={"file": ("r.pdf", pdf.content, "application/pdf")})
    body = upload.json()
    assert body["genuine"] is True and body["document"] == "fi_report" and body["current"] is True, body
    assert "foreign-investment information report" in body["message"]
    licence = api.client.get(done["licence_url"], headers=bearer(founder_token)).content
    assert api.client.post("/api/v1/licences/verify", files={"file": ("l.pdf", licence, "application/pdf")}) \
        .json()["document"] == "business_licence"
