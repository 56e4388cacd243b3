"""The leadership dashboard: figures from the region's own data, charts drawn as SVG on the server,
readable without script (each chart has its data as a table), for administrators and auditors."""

from __future__ import annotations

import re
from datetime import timedelta

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


def _cross_region_case(db, *, number: str, filed: str, handling: str, status: str, applicant_id, filed_at,
                       decided_at=None) -> None:
    from eresident.crosscase.models import CrossRegionCase, CrossRegionCaseEvent

    case = CrossRegionCase(case_number=number, service="company-formation", filed_region=filed,
                           handling_region=handling, applicant_id=applicant_id, e_resident_number=f"{filed}-ER-1",
                           title="A company", status=status, last_seq=2, filing={}, signatories=[],
                           created_at=filed_at + timedelta(minutes=3), updated_at=decided_at or filed_at,
                           decided_at=decided_at)
    db.add(case)
    db.flush()
    db.add(CrossRegionCaseEvent(case_id=case.id, seq=1, at=filed_at, region=filed, status="sent", what="filed"))
    db.add(CrossRegionCaseEvent(case_id=case.id, seq=2, at=decided_at or filed_at, region=handling, status=status,
                                what="received"))


def test_cross_region_cases_by_direction_and_status_with_time_to_decision(node):
    """Filed here for another region and handled here for another region, each by status, and the
    hours from filing (the shared history's first event) to the decision."""
    from sqlalchemy import select

    from eresident.identity.models import Applicant

    api = Api(node)
    api.applicant()
    start = node.clock.now()
    with node.ctx.database.session(write=True) as db:
        someone = db.scalars(select(Applicant.id)).first()
        for i, hours in enumerate((10, 20, 30)):  # filed here, decided at TF
            _cross_region_case(db, number=f"LJ-CF-2026-00000{i}", filed="LJ", handling="TF", status="approved",
                               applicant_id=someone, filed_at=start, decided_at=start + timedelta(hours=hours))
        _cross_region_case(db, number="LJ-CF-2026-000009", filed="LJ", handling="TF", status="awaiting_signatures",
                           applicant_id=someone, filed_at=start)
        _cross_region_case(db, number="TF-CF-2026-000001", filed="TF", handling="LJ", status="refused",
                           applicant_id=someone, filed_at=start, decided_at=start + timedelta(hours=50))
    html = api.client.get("/official/dashboard", headers=bearer(api.official("lj-admin"))).text
    cross = html.split('id="cross-region"')[1].split("</section>")[0]
    assert re.search(r"<strong>4</strong> filed here for another region", cross)
    assert re.search(r"<strong>1</strong> filed in another region and handled here", cross)
    assert '<th scope="row">Approved: the business licence is issued</th><td>3</td>' in cross
    assert '<th scope="row">Waiting for every signatory to sign the articles</th><td>1</td>' in cross
    assert '<th scope="row">Refused</th><td>1</td>' in cross
    # nearest-rank percentiles of 10, 20 and 30 hours; 50 hours (not 49.95: from the filing, not the receipt)
    assert re.search(r"<th scope=\"row\">Filed here for another region</th><td>3</td><td>20.0</td><td>30.0</td>", cross)
    assert re.search(r"<th scope=\"row\">Handled here for another region</th><td>1</td><td>50.0</td><td>50.0</td>",
                     cross)
    regions = html.split('id="regions"')[1].split("</section>")[0]
    assert re.search(r"<th scope=\"row\">Cross-region cases filed here for another region</th><td>4</td><td>4</td>",
                     regions)


def test_without_peers_the_page_shows_this_region_alone(node):
    api = Api(node)
    html = api.client.get("/official/dashboard", headers=bearer(api.official("lj-admin"))).text
    regions = html.split('id="regions"')[1].split("</section>")[0]
    assert "Figures of Liangjiang New Area as of" in regions
    assert "Processing time per step, by region" not in regions  # nothing to compare with
