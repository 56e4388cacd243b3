"""Tax registration through the API on each database: made with the licence in one transaction,
the taxpayer status by rule or by a tax officer, the obligations calendar with deadlines moved by
the region's holidays, and reminders queued once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select

from eresident.audit.service import Actor
from eresident.enterprise.models import Formation, FormationSignature, Licence
from eresident.kit.models import MailMessage
from eresident.tax import rules
from eresident.tax import service as tax
from eresident.tax.models import TaxRegistration, TaxReminder
from eresident.workflow import load_calendar
from eresident.workflow import service as workflow
from tests.enterprise.helpers import Founders, count, formation_body, reserve, submit_and_sign
from tests.factories import bearer

PROCESSES = workflow.PACKAGED


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
    assert items["vat:2027-07"].statutory_due_on == date(2027, 8, 15)  # a Sunday
    assert items["vat:2027-07"].due_on == date(2027, 8, 16)
    assert items["vat:2027-08"].due_on == date(2027, 9, 16)  # 15 September 2027: Mid-Autumn Festival
    assert "Mid-Autumn" in items["vat:2027-08"].moved_because
    assert items["cit-prepayment:2027-Q2"].due_on == date(2027, 7, 15)
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


LONG_HOLIDAY = {"min_days_off": 3}
# The State Taxation Administration's calendar for 2026 (税总办征科函〔2025〕64号, 10 December 2025):
# the deadline of the filings due on the 15th, month by month.
STA_2026 = [date(2026, 1, 20), date(2026, 2, 24), date(2026, 3, 16), date(2026, 4, 20), date(2026, 5, 22),
            date(2026, 6, 15), date(2026, 7, 15), date(2026, 8, 17), date(2026, 9, 15), date(2026, 10, 26),
            date(2026, 11, 16), date(2026, 12, 15)]
# Its calendar for 2024, with the State Council's 2024 holiday arrangement (国办发明电〔2023〕7号) below.
STA_2024 = [date(2024, 1, 15), date(2024, 2, 23), date(2024, 3, 15), date(2024, 4, 18), date(2024, 5, 22),
            date(2024, 6, 19), date(2024, 7, 15), date(2024, 8, 15), date(2024, 9, 18), date(2024, 10, 24),
            date(2024, 11, 15), date(2024, 12, 16)]
HOLIDAYS_2024 = {  # first day, last day, name; make-up working days
    "holidays": [("2023-12-30", "2024-01-01", "New Year's Day"), ("2024-02-10", "2024-02-17", "Spring Festival"),
                 ("2024-04-04", "2024-04-06", "Qingming Festival"), ("2024-05-01", "2024-05-05", "Labour Day"),
                 ("2024-06-10", "2024-06-10", "Dragon Boat Festival"),
                 ("2024-09-15", "2024-09-17", "Mid-Autumn Festival"), ("2024-10-01", "2024-10-07", "National Day")],
    "makeup": ["2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14", "2024-09-29",
               "2024-10-12"],
}


def calendar_from(spec: dict, *, years: list[int], provisional: list[int] = ()):
    """A working calendar (Monday to Friday) with the given holiday spans and make-up working days."""
    from datetime import timedelta

    from eresident.workflow.calendar import parse_calendar

    holidays = {}
    for first, last, name in spec["holidays"]:
        day = date.fromisoformat(first)
        while day <= date.fromisoformat(last):
            holidays[day.isoformat()] = name
            day += timedelta(days=1)
    lines = ["id: TEST", "timezone: Asia/Shanghai", f"years: {years}", f"provisional_years: {list(provisional)}",
             "working_hours:"] + [f"  {d}: ['09:00-17:00']" for d in ("mon", "tue", "wed", "thu", "fri")]
    lines += ["holidays:"] + [f"  {d}: {n}" for d, n in holidays.items()]
    lines += ["makeup_working_days:"] + [f"  {d}: make-up working day" for d in spec["makeup"]]
    return parse_calendar("\n".join(lines) + "\n", source_name="test.yaml")


def test_the_long_holiday_rule_reproduces_the_tax_administrations_published_calendars():
    """Art. 109, second half: computed from the region's 2026 calendar (data/calendars/LJ.yaml), every
    2026 deadline is the one the State Taxation Administration published; likewise for 2024."""
    lj = load_calendar("LJ")
    assert [rules.filing_deadline(date(2026, m, 15), lj, long_holiday=LONG_HOLIDAY)[0]
            for m in range(1, 13)] == STA_2026
    cal_2024 = calendar_from(HOLIDAYS_2024, years=[2024])
    assert [rules.filing_deadline(date(2024, m, 15), cal_2024, long_holiday=LONG_HOLIDAY)[0]
            for m in range(1, 13)] == STA_2024
    # The published calendar in the data is the same (and is what the company is shown for 2026).
    assert [rules._published(rules._data("obligations.yaml"))[f"2026-{m:02d}"] for m in range(1, 13)] == STA_2026

    # National Day 2026, 1–7 October: 7 days off in the window → 7 working days after the 15th.
    due, why = rules.filing_deadline(date(2026, 10, 15), lj, long_holiday=LONG_HOLIDAY)
    assert due == date(2026, 10, 26) and "National Day 1–7 October 2026 (7 days off)" in why
    assert "extended by 7 working days" in why
    # Spring Festival 2026 starts on the 15th: one day off in the window, so only the first half of
    # art. 109 applies (the day after the holiday), not an extension.
    due, why = rules.filing_deadline(date(2026, 2, 15), lj, long_holiday=LONG_HOLIDAY)
    assert due == date(2026, 2, 24) and why.startswith("2026-02-15 is a public holiday")
    # Without the rule (the annual reconciliation) a long holiday moves nothing by itself.
    assert rules.filing_deadline(date(2026, 10, 15), lj, long_holiday=None) == (date(2026, 10, 15), None)
    # National Day 2027 from the (provisional) calendar: 1–5 October, 5 days off → Friday 22 October.
    due, why = rules.filing_deadline(date(2027, 10, 15), lj, long_holiday=LONG_HOLIDAY)
    assert due == date(2027, 10, 22) and "National Day 1–5 October 2027 (5 days off)" in why
    # New Year 2027 is a Friday: with the weekend it is three days off → 20 January.
    assert rules.filing_deadline(date(2027, 1, 15), lj, long_holiday=LONG_HOLIDAY)[0] == date(2027, 1, 20)
    # A holiday that began in the previous month brings only its days in this month (1 January 2024).
    assert rules.long_holiday_runs(date(2024, 1, 1), date(2024, 1, 15), cal_2024, min_days_off=3) == []


def test_deadlines_the_published_calendars_do_not_cover_are_provisional():
    lj = load_calendar("LJ")  # 2026 published, 2027 provisional, nothing for 2028
    items = {o.key: o for o in rules.obligations_for(established_on=date(2026, 8, 3), taxpayer_status="general",
                                                     working=lj, until=date(2028, 12, 31))}
    october = items["vat:2026-09"]
    assert (october.due_on, october.basis, october.provisional) == (date(2026, 10, 26), "published", False)
    assert "National Day" in october.moved_because and "税总办征科函〔2025〕64号" in october.moved_because
    assert items["vat:2026-11"].as_dict()["provisional"] is False
    national_day_2027 = items["vat:2027-09"]
    assert (national_day_2027.due_on, national_day_2027.basis) == (date(2027, 10, 22), "rule")
    assert national_day_2027.provisional and "2027 holiday arrangement" in national_day_2027.provisional_because
    beyond = items["vat:2028-09"]
    assert beyond.provisional and "no holiday arrangement for 2028" in beyond.provisional_because
    assert beyond.as_dict()["provisional"] is True and beyond.as_dict()["provisional_because"]
    assert items["cit-annual:2026"].provisional  # 31 May 2027
    # Every deadline of a month whose calendar is published (2026) is certain; every later one is not.
    for ob in items.values():
        assert ob.provisional == (ob.due_on.year >= 2027), ob
    # The annual reconciliation is not extended by a long holiday, only moved off a day off:
    # 31 May 2026 is a Sunday → Monday 1 June, though 1–5 May were five days off.
    annual = {o.key: o for o in rules.obligations_for(established_on=date(2025, 6, 1), taxpayer_status="small_scale",
                                                      working=lj, until=date(2026, 6, 30))}["cit-annual:2025"]
    assert (annual.due_on, annual.basis, annual.provisional) == (date(2026, 6, 1), "rule", False)


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
        ("cit-prepayment:2026-Q4", "2027-01-20"), ("vat:2026-Q4", "2027-01-20"),
        ("cit-prepayment:2027-Q1", "2027-04-20"), ("vat:2027-Q1", "2027-04-20"), ("cit-annual:2026", "2027-05-31")]
    # 2027's holiday arrangement is provisional in the region's calendar: none of these is certain.
    assert all(o["provisional"] and "provisional" in o["provisional_because"] for o in quarterly)
    assert quarterly[0]["basis"] == "rule" and "New Year" in quarterly[0]["moved_because"]

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
    assert monthly["vat:2027-04"]["due_on"] == "2027-05-20"  # Labour Day, 1–4 May 2027: four days off
    assert monthly["vat:2027-09"]["due_on"] == "2027-10-22" and monthly["vat:2027-09"]["provisional"] is True
    assert monthly["vat:2026-11"] == {**monthly["vat:2026-11"], "due_on": "2026-12-15", "basis": "published",
                                      "provisional": False, "provisional_because": None}

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
        assert "This date is provisional: the 2027 holiday arrangement" in mail.body


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
    for token in (founder_token, supervisor_token):
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
