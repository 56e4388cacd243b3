"""The founder's pages over HTTP (the browser test drives the same in Chromium): name check and
reservation, the formation form, submission, signatures by two e-residents, the licence; and
the refusals, each shown beside its field with nothing written."""

from __future__ import annotations

import re

import pytest

from eresident.enterprise.models import Formation, FormationSignature, RegisteredName
from tests.enterprise.helpers import NAME_EN, NAME_ZH, Founders, count
from tests.factories import Api
from tests.test_pages import Browser


def signed_in(node, token: str) -> Browser:
    browser = Browser(node)
    browser.client.cookies.set("er_session", token)
    return browser


def form_data(founder: str, supervisor: str, **overrides) -> dict:
    data = {"registered_capital": "500000", "currency": "USD", "business_scope": ["BS001", "BS007"],
            "address/kind": "service_site", "investors/0/e_resident_number": founder,
            "investors/0/share_percent": "100", "legal_representative/e_resident_number": founder,
            "directors/0/e_resident_number": founder, "supervisor/e_resident_number": supervisor}
    data.update(overrides)
    return data


@pytest.fixture
def two(node):
    founders = Founders(Api(node))
    return founders.new("BENALI"), founders.new("HADDAD")


def test_founder_forms_a_company_in_the_pages(node, two):
    (founder_token, founder), (supervisor_token, supervisor) = two
    b = signed_in(node, founder_token)
    my = b.get("/my")
    assert my.status_code == 200 and 'href="/my/companies/name"' in my.text

    # A name the rules refuse: the message beside the field, the summary links to it.
    r = b.submit("/my/companies/name", "/my/companies/name",
                 {"name_zh": "重庆中国科技有限公司", "name_en": "Chongqing China Technology Co., Ltd.", "action": "check"})
    assert r.status_code == 422
    assert 'id="name_zh-error"' in r.text and 'href="#name_zh"' in r.text
    r = b.post("/my/companies/name", {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "check"})
    assert r.status_code == 200 and "This name is available" in r.text
    r = b.post("/my/companies/name", {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "reserve"})
    assert r.status_code == 303, r.text
    form_url = r.headers["location"]
    assert form_url.startswith("/my/companies/new?name=")
    reservation = form_url.split("=", 1)[1]

    # A prohibited business: refused beside that checkbox, nothing written.
    page = b.get(form_url)
    assert page.status_code == 200 and f'value="{founder}"' in page.text
    r = b.post("/my/companies/new", {**form_data(founder, supervisor, business_scope=["BS001", "BS030"]),
                                     "name_reservation_id": reservation})
    assert r.status_code == 422
    assert 'id="business_scope-BS030-error"' in r.text and 'href="#business_scope-BS030"' in r.text
    assert "prohibited" in r.text and count(node, Formation) == 0
    # The supervisor may not be a director.
    r = b.post("/my/companies/new", {**form_data(founder, founder), "name_reservation_id": reservation})
    assert r.status_code == 422 and 'id="supervisor-e_resident_number-error"' in r.text
    assert count(node, Formation) == 0

    r = b.post("/my/companies/new", {**form_data(founder, supervisor), "name_reservation_id": reservation})
    assert r.status_code == 303, r.text
    case_url = r.headers["location"]
    page = b.get(case_url)
    assert "Submit for signatures" in page.text
    assert b.post(f"{case_url}/submit", {}).status_code == 303
    page = b.get(case_url)
    assert "Read and sign the articles" in page.text and "not signed yet" in page.text

    sign_page = b.get(f"{case_url}/sign")
    digest = re.search(r'name="document_sha256" value="([0-9a-f]{64})"', sign_page.text).group(1)
    pdf = b.client.get(f"{case_url}/articles")
    assert pdf.headers["x-content-sha256"] == digest
    r = b.post(f"{case_url}/sign", {"document_sha256": digest})  # the box not ticked
    assert r.status_code == 422 and 'id="confirm-error"' in r.text
    assert count(node, FormationSignature) == 0
    assert b.post(f"{case_url}/sign", {"document_sha256": digest, "confirm": "yes"}).status_code == 303

    # The supervisor finds the request on their list and signs: the case is approved at once.
    s = signed_in(node, supervisor_token)
    listing = s.get("/my/companies")
    assert f'href="{case_url}/sign"' in listing.text
    s.get(f"{case_url}/sign")
    assert s.post(f"{case_url}/sign", {"document_sha256": digest, "confirm": "yes"}).status_code == 303

    done = b.get(case_url)
    assert "Your company is registered" in done.text
    uscc = re.search(r"<strong>(91500000E[0-9A-Z]{9})</strong>", done.text).group(1)
    assert f'href="/verify/licences/{uscc}"' in done.text
    licence = b.client.get(f"{case_url}/licence")
    assert licence.status_code == 200 and licence.content.startswith(b"%PDF")
    assert s.client.get(f"{case_url}/licence").status_code == 404  # the owner's document only

    # The same name again, by the supervisor: taken, beside the field, nothing written.
    names_before = count(node, RegisteredName)
    r = s.submit("/my/companies/name", "/my/companies/name", {"name_zh": NAME_ZH, "name_en": NAME_EN,
                                                               "action": "reserve"})
    assert r.status_code == 409 and 'id="name_zh-error"' in r.text
    assert count(node, RegisteredName) == names_before


def test_not_an_e_resident_cannot_open_the_pages(node):
    api = Api(node)
    b = signed_in(node, api.applicant())
    assert b.get("/my/companies/name").status_code == 403
    assert 'href="/my/companies/name"' not in b.get("/my").text


def test_a_company_investor_and_a_fixed_term_in_the_form(node, two):
    """The form takes what the API takes: a company as investor (with the e-resident who signs for it
    and the person behind it) and a fixed term; each refusal beside its field, nothing written."""
    from sqlalchemy import select

    (founder_token, founder), (_supervisor_token, supervisor) = two
    b = signed_in(node, founder_token)
    r = b.post("/my/companies/name", {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "reserve"},
               csrf=_token(b, "/my/companies/name"))
    reservation = r.headers["location"].split("=", 1)[1]
    page = b.get(f"/my/companies/new?name={reservation}")
    assert 'id="investors-1-kind-legal"' in page.text and 'id="term-kind-years"' in page.text
    assert '<option value="DE">Germany</option>' in page.text
    company = {"investors/0/share_percent": "60", "investors/1/kind": "legal",
               "investors/1/name": "Atlas Holdings GmbH", "investors/1/country": "DE",
               "investors/1/registration_number": "HRB 123456",
               "investors/1/signatory_e_resident_number": supervisor, "investors/1/share_percent": "40",
               "name_reservation_id": reservation}

    # The company holds 40%: the person behind it is needed, asked beside that row.
    r = b.post("/my/companies/new", {**form_data(founder, supervisor), **company})
    assert r.status_code == 422, r.text
    assert 'id="investors-1-owner_name-error"' in r.text and 'href="#investors-1-owner_name"' in r.text
    owner = {"investors/1/owner_name": "Karl MUSTER", "investors/1/owner_country": "DE"}
    # A fixed term needs a number of years from 1 to 70.
    for years in ("", "ten", "71"):
        r = b.post("/my/companies/new", {**form_data(founder, supervisor), **company, **owner, "term/kind": "years",
                                         "term_years": years})
        assert r.status_code == 422 and 'id="term_years-error"' in r.text, years
        assert "whole number from 1 to 70" in r.text
    # The owner's nationality is asked beside the name; shares must add up to 100.
    r = b.post("/my/companies/new", {**form_data(founder, supervisor), **company,
                                     "investors/1/owner_name": "Karl MUSTER"})
    assert r.status_code == 422 and 'id="investors-1-owner_country-error"' in r.text
    r = b.post("/my/companies/new", {**form_data(founder, supervisor), **company, **owner,
                                     "investors/1/share_percent": "30"})
    assert r.status_code == 422 and 'id="investors-error"' in r.text and "90%" in r.text
    # A company without the e-resident who signs for it.
    r = b.post("/my/companies/new", {**form_data(founder, supervisor), **company, **owner,
                                     "investors/1/signatory_e_resident_number": ""})
    assert r.status_code == 422 and 'id="investors-1-signatory_e_resident_number-error"' in r.text
    assert count(node, Formation) == 0

    r = b.post("/my/companies/new", {**form_data(founder, supervisor), **company, **owner, "term/kind": "years",
                                     "term_years": "20"})
    assert r.status_code == 303, r.text
    with node.ctx.database.session(write=False) as db:
        formation = db.scalar(select(Formation))
        parties = [(p.role, p.kind, p.name, p.share_percent) for p in formation.parties
                   if p.role in ("investor", "beneficial_owner")]
        assert formation.term_years == 20
    assert [(role, kind, float(share)) for role, kind, _name, share in parties] == [
        ("investor", "natural", 60.0), ("investor", "legal", 40.0),
        ("beneficial_owner", "natural", 60.0), ("beneficial_owner", "natural", 40.0)]
    assert parties[1][2] == "Atlas Holdings GmbH" and parties[3][2] == "Karl MUSTER"
    page = b.get(r.headers["location"])
    assert "20 years" in page.text and "Atlas Holdings GmbH" in page.text and "HRB 123456" in page.text

    # The change form shows all of it again.
    edit = b.get(f"{r.headers['location']}/edit")
    assert 'id="investors-1-kind-legal" type="radio" name="investors/1/kind" value="legal" checked' in edit.text
    assert 'value="Karl MUSTER"' in edit.text and 'id="term-kind-years" type="radio" name="term/kind" ' \
                                                  'value="years" checked' in edit.text
    assert 'name="term_years" type="text" value="20"' in edit.text


def _token(browser, url: str) -> str:
    from tests.test_pages import csrf_of

    return csrf_of(browser.get(url).text)
