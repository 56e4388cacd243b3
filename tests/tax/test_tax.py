"""Tax registration through the API on each database: made with the licence in one transaction,
the taxpayer status by rule or by a tax officer, the obligations calendar with deadlines moved by
the region's holidays, and reminders queued once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from eresident.audit.service import Actor
from eresident.enterprise.models import Formation, FormationSignature, Licence
from eresident.kit.models import MailMessage
from eresident.tax import rules
from eresident.tax import service as tax
from eresident.tax.models import TaxRegistration, TaxReminder
from eresident.workflow import load_calendar
from eresident.workflow import service as workflow
from tests.enterprise.test_formation import Founders, formation_body, reserve, submit_and_sign
from tests.factories import Api, bearer

PROCESSES = workflow.PACKAGED


@pytest.fixture
def api(node) -> Api:
    return Api(node)


@pytest.fixture
def people(api):
    founders = Founders(api)
    return founders, founders.new("BENALI"), founders.new("HADDAD")


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


def start_formation(api, people, **overrides) -> tuple[str, str, str]:
    _founders, (founder_token, founder), (supervisor_token, supervisor) = people
    reservation = reserve(api, founder_token).json()
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(reservation["id"], founder, supervisor, **overrides))
    assert r.status_code == 201, r.text
    return r.json()["id"], founder_token, supervisor_token


def test_obligation_deadlines_move_to_the_next_working_day():
    lj = load_calendar("LJ")
    items = {o.key: o for o in rules.obligations_for(established_on=date(2026, 11, 26), taxpayer_status="general",
                                                     working=lj, until=date(2027, 12, 31))}
    assert items["vat:2026-11"].due_on == date(2026, 12, 15)
    assert items["vat:2027-04"].statutory_due_on == date(2027, 5, 15)  # a Saturday
    assert items["vat:2027-04"].due_on == date(2027, 5, 17)
    assert items["vat:2027-08"].due_on == date(2027, 9, 16)  # 15 September 2027: Mid-Autumn Festival
    assert "Mid-Autumn" in items["vat:2027-08"].moved_because
    assert items["cit-prepayment:2027-Q1"].due_on == date(2027, 4, 15)
    assert items["cit-annual:2026"].due_on == date(2027, 5, 31)
    assert items["vat:2026-11"].period_start == date(2026, 11, 26)  # the first period starts with the company
    small = [o.key for o in rules.obligations_for(established_on=date(2026, 11, 26), taxpayer_status="small_scale",
                                                  working=lj, until=date(2027, 7, 31))]
    assert small == ["cit-prepayment:2026-Q4", "vat:2026-Q4", "cit-prepayment:2027-Q1", "vat:2027-Q1",
                     "cit-annual:2026", "cit-prepayment:2027-Q2", "vat:2027-Q2"]
    # 2026: the National Day week; a deadline on 2026-10-01 would move to Thursday 8 October.
    assert rules.move_to_working_day(date(2026, 10, 1), lj)[0] == date(2026, 10, 8)
    # A make-up working day (Saturday 2026-02-28) is a working day.
    assert rules.move_to_working_day(date(2026, 2, 28), lj) == (date(2026, 2, 28), None)


def test_registration_with_the_licence_officer_review_obligations_and_reminders(api, node, people):
    formation_id, founder_token, supervisor_token = start_formation(api, people)
    bad = api.client.put(f"/api/v1/formations/{formation_id}/tax-preferences", headers=bearer(founder_token),
                         json={"projected_annual_sales": "-1", "apply_general_taxpayer": True})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "projected_annual_sales"
    no_reason = api.client.put(f"/api/v1/formations/{formation_id}/tax-preferences", headers=bearer(founder_token),
                               json={"projected_annual_sales": "800000", "apply_general_taxpayer": True})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    assert api.client.put(f"/api/v1/formations/{formation_id}/tax-preferences", headers=bearer(supervisor_token),
                          json={"projected_annual_sales": "1"}).status_code == 404
    r = api.client.put(f"/api/v1/formations/{formation_id}/tax-preferences", headers=bearer(founder_token),
                       json={"projected_annual_sales": "800000", "apply_general_taxpayer": True,
                             "reason": "Our customers deduct input VAT."})
    assert r.status_code == 200, r.text

    done = submit_and_sign(api, formation_id, [founder_token, supervisor_token])
    assert done["status"] == "approved"
    code = done["uscc"]
    reg = api.client.get(f"/api/v1/companies/{code}/tax", headers=bearer(founder_token)).json()
    assert reg["tax_number"] == code and reg["taxpayer_status"] == "small_scale"
    assert reg["status"] == "awaiting_officer" and reg["officer"] == "Tax officer Zhang Min"
    assert reg["tax_office"]["name_zh"] == "国家税务总局重庆两江新区税务局"
    assert reg["fapiao"]["eligible"] is True and reg["established_on"] == "2026-11-26"
    with node.ctx.database.session(write=False) as db:  # same transaction as the licence: same instant
        licence = db.scalar(select(Licence).where(Licence.uscc == code))
        row = db.scalar(select(TaxRegistration).where(TaxRegistration.tax_number == code))
        assert row.registered_at == licence.issued_at and row.licence_id == licence.id
    assert api.client.get(f"/api/v1/companies/{code}/tax", headers=bearer(supervisor_token)).status_code == 404
    bad_code = api.client.get(f"/api/v1/companies/{code[:-1]}X/tax", headers=bearer(founder_token))
    assert bad_code.status_code == 422 and bad_code.json()["errors"][0]["field"] == "uscc"

    quarterly = api.client.get(f"/api/v1/companies/{code}/tax/obligations", headers=bearer(founder_token),
                               params={"until": "2027-05-31"}).json()["obligations"]
    assert [(o["key"], o["due_on"]) for o in quarterly] == [
        ("cit-prepayment:2026-Q4", "2027-01-15"), ("vat:2026-Q4", "2027-01-15"),
        ("cit-prepayment:2027-Q1", "2027-04-15"), ("vat:2027-Q1", "2027-04-15"), ("cit-annual:2026", "2027-05-31")]

    # The tax officer's worklist: claim, then decide (a founder or another role cannot).
    officer = Founders(api).official("lj-tax")
    reviewer = Founders(api).official("lj-reviewer")
    assert api.client.get("/api/v1/tax-registrations", headers=bearer(reviewer)).status_code == 403
    work = api.client.get("/api/v1/tax-registrations", headers=bearer(officer)).json()
    assert [(w["tax_number"], w["open_step"], w["assigned_to_me"]) for w in work] == [(code, "review", True)]
    case = api.client.get(f"/api/v1/tax-registrations/{reg['id']}", headers=bearer(officer)).json()
    assert case["application_reason"] == "Our customers deduct input VAT."
    base = f"/api/v1/tax-registrations/{reg['id']}"
    wrong = api.client.post(f"{base}/decide", headers=bearer(officer), json={"decision": "maybe"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "decision"
    assert api.client.post(f"{base}/claim", headers=bearer(officer)).json()["status"] == "in_review"
    r = api.client.post(f"{base}/decide", headers=bearer(officer), json={"decision": "approve_general", "note": "ok"})
    assert r.status_code == 200, r.text
    assert r.json()["taxpayer_status"] == "general" and r.json()["status"] == "registered"
    assert api.client.get("/api/v1/tax-registrations", headers=bearer(officer)).json() == []

    monthly = {o["key"]: o for o in api.client.get(f"/api/v1/companies/{code}/tax/obligations",
                                                   headers=bearer(founder_token),
                                                   params={"until": "2027-12-31"}).json()["obligations"]}
    assert monthly["vat:2027-08"]["due_on"] == "2027-09-16"
    assert monthly["vat:2027-08"]["statutory_due_on"] == "2027-09-15"
    assert monthly["vat:2027-04"]["due_on"] == "2027-05-17"

    # Reminders: seven days ahead, queued once in the mail outbox.
    node.clock.set(datetime(2027, 9, 10, 1, 0, tzinfo=UTC))
    with node.ctx.database.session(write=True) as db:
        assert tax.queue_reminders(ctx=node.ctx, db=db) == 1
    with node.ctx.database.session(write=True) as db:
        assert tax.queue_reminders(ctx=node.ctx, db=db) == 0
    with node.ctx.database.session(write=False) as db:
        reminder = db.scalar(select(TaxReminder))
        assert (reminder.obligation_key, reminder.due_on) == ("vat:2027-08", date(2027, 9, 16))
        mail = db.get(MailMessage, reminder.mail_id)
        assert mail.subject == "VAT return due 2027-09-16" and "moved from 2027-09-15" in mail.body


def test_rules_decide_the_status_and_a_failing_registration_refuses_the_licence(api, node, people):
    # Above CNY 5,000,000 of projected sales: general taxpayer by rule, nobody needs to look.
    formation_id, founder_token, supervisor_token = start_formation(api, people)
    api.client.put(f"/api/v1/formations/{formation_id}/tax-preferences", headers=bearer(founder_token),
                   json={"projected_annual_sales": "6000000"})
    done = submit_and_sign(api, formation_id, [founder_token, supervisor_token])
    reg = api.client.get(f"/api/v1/companies/{done['uscc']}/tax", headers=bearer(founder_token)).json()
    assert (reg["taxpayer_status"], reg["status"]) == ("general", "registered")
    assert "above CNY 5,000,000" in reg["status_basis"]

    # A registration that cannot be made: the licence is not issued either (one transaction).
    broken = (PROCESSES / "tax-registration.v1.yaml").read_text().replace("version: 1", "version: 2").replace(
        "projected_annual_sales: number", "projected_annual_sales: string").replace(
        "when: projected_annual_sales > 5000000", "when: projected_annual_sales == 'large'")
    with node.ctx.database.session(write=True) as db:
        workflow.publish(ctx=node.ctx, db=db, text=broken, actor=Actor.system())
    _f, (founder_token, founder), (supervisor_token, supervisor) = people
    r = api.client.post("/api/v1/names/reservations", headers=bearer(founder_token),
                        json={"name_zh": "重庆云帆科技有限公司", "name_en": "Chongqing Yunfan Technology Co., Ltd."})
    assert r.status_code == 201, r.text
    formation = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                                json=formation_body(r.json()["id"], founder, supervisor)).json()
    api.client.post(f"/api/v1/formations/{formation['id']}/submit", headers=bearer(founder_token))
    licences, registrations, signatures = count(node, Licence), count(node, TaxRegistration), \
        count(node, FormationSignature)
    import hashlib
    for i, token in enumerate((founder_token, supervisor_token)):
        pdf = api.client.get(f"/api/v1/formations/{formation['id']}/articles", headers=bearer(token)).content
        r = api.client.post(f"/api/v1/formations/{formation['id']}/signatures", headers=bearer(token),
                            json={"document_sha256": hashlib.sha256(pdf).hexdigest()})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert count(node, Licence) == licences and count(node, TaxRegistration) == registrations
    assert count(node, FormationSignature) == signatures + 1  # the founder's; the last one was rolled back
    with node.ctx.database.session(write=False) as db:
        assert db.get(Formation, uuid.UUID(formation["id"])).status == "awaiting_signatures"


def test_reminders_still_work_for_a_company_older_than_ten_years(node):
    """Found in review: the ten-year bound was on the company's age, so the reminder job would have
    failed for every company once one was about ten years old."""
    from datetime import date, timedelta

    from eresident.tax import service as tax
    from eresident.tax.models import TaxRegistration

    today = node.clock.now().date()
    old = TaxRegistration(established_on=date(2014, 3, 1), taxpayer_status="small_scale", region="LJ")
    upcoming = tax.obligations(ctx=node.ctx, reg=old, since=today, until=today + timedelta(days=60))
    assert upcoming and all(today <= o.due_on <= today + timedelta(days=60) for o in upcoming)
