"""The founder's pages over HTTP (the browser test drives the same in Chromium): name check and
reservation, the formation form, submission, signatures by two e-residents, the licence; and
the refusals, each shown beside its field with nothing written."""

from __future__ import annotations

import re

import pytest

from eresident.enterprise.models import Formation, FormationSignature, RegisteredName
from tests.enterprise.test_formation import NAME_EN, NAME_ZH, Founders, count
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
