"""The leadership dashboard: figures from the region's own data, charts drawn as SVG on the server,
readable without script (each chart has its data as a table), for administrators and auditors."""

from __future__ import annotations

import re

from tests.factories import Api, bearer


def test_the_dashboard_counts_what_happened_and_draws_it(node):
    api = Api(node)
    api.e_resident()
    api.to_review()  # a second case, waiting for a reviewer
    admin = api.official("lj-admin")
    r = api.client.get("/official/dashboard", headers=bearer(admin))
    assert r.status_code == 200, r.text
    html = r.text
    people = html.split('id="people"')[1].split("</section>")[0]
    assert re.search(r"<strong>1</strong> active e-residents", people)
    assert "<svg" in people and 'role="img"' in people
    # one bar per application status, with its data in a table for screen readers
    assert re.search(r"<th scope=\"row\">Approved: you are an e-resident</th><td>1</td>", people)
    assert re.search(r"<th scope=\"row\">Waiting for a reviewer</th><td>1</td>", people)
    processing = html.split('id="processing"')[1].split("</section>")[0]
    assert re.search(r"<th scope=\"row\">E-residency</th><td>2</td><td>1</td><td>0</td>", processing)
    assert "<script" not in html


def test_only_administrators_and_auditors_see_it_and_it_speaks_chinese(node):
    api = Api(node)
    reviewer = api.official("lj-reviewer")
    assert api.client.get("/official/dashboard", headers=bearer(reviewer)).status_code == 403
    admin = api.official("lj-admin")
    r = api.client.get("/official/dashboard", headers={**bearer(admin), "Accept-Language": "zh"})
    assert r.status_code == 200 and "两江新区" in r.text and "公司" in r.text
