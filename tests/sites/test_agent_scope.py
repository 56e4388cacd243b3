"""A site agent sees only the applicants booked at their own site."""

from __future__ import annotations

from eresident.audit.service import Actor
from eresident.officials import service as officials
from eresident.seed import DEMO_PASSWORD
from tests.factories import Api, bearer


def test_an_agent_of_no_site_cannot_open_a_case_or_its_photo(node):
    api = Api(node)
    token = api.applicant()
    r = api.submit(token)
    app_id = r.json()["id"]
    api.book_first_slot(token, app_id)
    with node.ctx.database.session(write=True) as db:
        officials.create_official(ctx=node.ctx, db=db, username="lj-stray-agent", display_name="Stray agent",
                                  password=DEMO_PASSWORD, roles=["site_agent"], actor=Actor.system())
    stray, own = api.official("lj-stray-agent"), api.official("lj-agent")
    browser = node.client()
    browser.cookies.set("er_session", stray)
    assert browser.get(f"/agent/cases/{app_id}").status_code == 404
    with node.ctx.database.session(write=False) as db:
        from sqlalchemy import select

        from eresident.identity.models import Application
        photo = str(db.scalar(select(Application.photo_document_id)))
    assert api.client.get(f"/api/v1/documents/{photo}", headers=bearer(stray)).status_code == 404
    assert api.client.get(f"/api/v1/documents/{photo}", headers=bearer(own)).status_code == 200
    own_browser = node.client()
    own_browser.cookies.set("er_session", own)
    assert own_browser.get(f"/agent/cases/{app_id}").status_code == 200
