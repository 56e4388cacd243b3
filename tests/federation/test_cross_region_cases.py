"""Cross-region cases between two nodes with their own databases: a Tianfu company formation filed
at the Liangjiang node travels to Tianfu, is handled there under the Liangjiang case number (signed
by the founders at home, reviewed by a Liangjiang official seconded to Tianfu), and the decision and
the signed licence come back; both nodes hold the same history. A filing Tianfu cannot accept comes
back refused with the reasons; bad filings are refused at Liangjiang before anything is written;
a signature Tianfu cannot trust is not used."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from tests.factories import Api, Person, bearer
from tests.federation.test_secondment import Exchange

from eresident.audit.models import AuditEvent
from eresident.crosscase.models import CrossRegionCase, CrossRegionCaseEvent
from eresident.enterprise.models import Formation, FormationSignature, RegisteredName
from eresident.federation import service as federation
from eresident.federation.models import InboxMessage, OutboxMessage
from eresident.identity.models import Application, EResident
from eresident.identity.recognition import Recognition, RecognitionPeer
from eresident.seed import seed_demo


@pytest.fixture
def ex(pair):
    seed_demo(pair.lj.ctx)
    seed_demo(pair.tf.ctx)
    # Real clocks have microseconds: both nodes must keep each event's time exactly (a copy cut to
    # the second once made the two histories differ).
    pair.advance(timedelta(microseconds=123_457))
    return Exchange(pair)


def rows(node, model, *where):
    with node.ctx.database.session(write=False) as db:
        return list(db.scalars(select(model).where(*where)))


def count(node, model, *where) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def filing(founder: str, supervisor: str, *, capital: str = "500000", name_zh: str = "成都星海科技有限公司",
           name_en: str = "Chengdu Xinghai Technology Co., Ltd.", scope=("BS001", "BS002"), **changes) -> dict:
    body = {"service": "company-formation", "handling_region": "TF", "consent_to_transfer": True,
            "name": {"name_zh": name_zh, "name_en": name_en},
            "formation": {
                "registered_capital": capital, "currency": "CNY", "business_scope": list(scope),
                "address": {"kind": "service_site"},
                "investors": [{"kind": "natural", "e_resident_number": founder, "share_percent": "100"}],
                "legal_representative": {"e_resident_number": founder},
                "directors": [{"e_resident_number": founder}], "supervisor": {"e_resident_number": supervisor},
                "beneficial_owners": [{"name": "Amina BENALI", "country": "DZ", "e_resident_number": founder,
                                       "share_percent": "100"}]}}
    body.update(changes)
    return body


class Founders:
    def __init__(self, ex: Exchange):
        self.ex = ex
        lj = Api(ex.lj)
        lj.client = ex.http("LJ")
        self.founder_token, self.founder = lj.e_resident(Person(surname="BENALI"))
        self.supervisor_token, self.supervisor = lj.e_resident(Person(surname="HADDAD", given_names="KARIM"))
        # Signing officials in stepped Liangjiang's clock past used TOTP codes: Tianfu's keeps pace.
        ahead = ex.lj.clock.now() - ex.tf.clock.now()
        if ahead.total_seconds() > 0:
            ex.tf.clock.advance(ahead)

    def file(self, **kwargs):
        return self.ex.http("LJ").post("/api/v1/cross-region-cases", headers=bearer(self.founder_token),
                                       json=filing(self.founder, self.supervisor, **kwargs))

    def case(self, number: str, token: str | None = None) -> dict:
        r = self.ex.http("LJ").get(f"/api/v1/cross-region-cases/{number}", headers=bearer(token or self.founder_token))
        assert r.status_code == 200, r.text
        return r.json()

    def sign_all(self, number: str) -> None:
        for token in (self.founder_token, self.supervisor_token):
            pdf = self.ex.http("LJ").get(f"/api/v1/cross-region-cases/{number}/articles", headers=bearer(token))
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:200]
            r = self.ex.http("LJ").post(f"/api/v1/cross-region-cases/{number}/signatures", headers=bearer(token),
                                        json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()})
            assert r.status_code == 201, r.text


def history(ex: Exchange, region: str, number: str, username: str) -> list[tuple]:
    token = ex.login(region, username)
    r = ex.http(region).get(f"/api/v1/official/cross-region-cases/{number}", headers=bearer(token))
    assert r.status_code == 200, r.text
    return [(e["seq"], e["region"], e["status"], e["what"], e["detail"], e["at"]) for e in r.json()["events"]]


def test_a_tianfu_formation_filed_in_liangjiang_is_decided_in_tianfu_and_comes_back(ex, tmp_path):
    people = Founders(ex)
    r = people.file()
    assert r.status_code == 201, r.text
    case = r.json()
    number = case["case_number"]
    assert number.startswith("LJ-CF-")
    assert (case["status"], case["handling_region"], case["handling_region_name"], case["handled_here"]) == (
        "sent", "TF", ex.tf.settings.region_name, False)
    assert [e["what"] for e in case["events"]] == ["filed"]

    ex.deliver()  # LJ → TF: the filing; TF → LJ: received, with the articles (and the recognitions)
    ex.deliver()
    case = people.case(number)
    assert case["status"] == "awaiting_signatures" and case["articles_url"], case
    assert [e["what"] for e in case["events"]] == ["filed", "received"]
    [formation] = rows(ex.tf, Formation)
    assert formation.case_number == number and formation.status == "awaiting_signatures"
    # Tianfu took the people on Liangjiang's word: no application, no identity check there…
    for n in (people.founder, people.supervisor):
        [resident] = rows(ex.tf, EResident, EResident.number == n)
        assert resident.region == "LJ" and resident.application_id is None
        [rec] = rows(ex.tf, Recognition, Recognition.home_number == n)
        assert rec.status == "active" and rec.family_name in ("BENALI", "HADDAD")
    assert count(ex.tf, Application) == 0
    # …and Liangjiang knows, so a suspension there reaches Tianfu.
    assert {r.peer_region for r in rows(ex.lj, RecognitionPeer)} == {"TF"}

    people.sign_all(number)
    assert [s["signed"] for s in people.case(number)["signatories"]] == [True, True]
    ex.deliver()  # the signatures to TF: the last one moves the case on, approved automatically
    ex.deliver()  # the events, the decision and the licence back to LJ
    case = people.case(number)
    assert case["status"] == "approved", case
    assert case["result"]["decision"] == "approved" and len(case["result"]["uscc"]) == 18
    assert [e["what"] for e in case["events"]] == ["filed", "received", "signed", "signed", "formation.all_signed"]
    sigs = rows(ex.tf, FormationSignature)
    assert {s.e_resident_number for s in sigs} == {people.founder, people.supervisor}
    assert all(s.jws.count(".") == 2 and s.document_sha256 == formation.articles_sha256 for s in sigs)

    # The licence is Tianfu's, signed by Tianfu; the founder downloads it at home, byte for byte.
    pdf = ex.http("LJ").get(f"/api/v1/cross-region-cases/{number}/licence", headers=bearer(people.founder_token))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert hashlib.sha256(pdf.content).hexdigest() == case["result"]["licence_sha256"]
    status = ex.http("TF").get(f"/api/v1/licences/{case['result']['uscc']}").json()
    assert status["genuine"] and status["region"] == "TF"
    verify_url = case["result"]["verify_url"]
    assert verify_url.startswith(ex.tf.settings.base_url)
    assert ex.http("TF").get(verify_url.removeprefix(ex.tf.settings.base_url)).status_code == 200
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf.content)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    assert "Signer Certificate Common Name" in out.stdout, out.stdout + out.stderr
    # The supervisor (not the owner) may follow the case but not take the licence.
    assert ex.http("LJ").get(f"/api/v1/cross-region-cases/{number}/licence",
                             headers=bearer(people.supervisor_token)).status_code == 404

    # One case number, one history, on both nodes.
    lj_history = history(ex, "LJ", number, "lj-admin")
    assert lj_history == history(ex, "TF", number, "tf-admin")
    assert [seq for seq, *_ in lj_history] == [1, 2, 3, 4, 5]
    # Both audit logs show it.
    lj_actions = {e.action for e in rows(ex.lj, AuditEvent, AuditEvent.action.like("cross_case.%"))}
    assert lj_actions == {"cross_case.filed", "cross_case.signed", "cross_case.updated"}
    tf_actions = [e.action for e in rows(ex.tf, AuditEvent, AuditEvent.entity_id == str(formation.id))]
    assert tf_actions[:2] == ["formation.created", "formation.submitted"] and "formation.all_signed" in tf_actions
    [issued] = rows(ex.tf, AuditEvent, AuditEvent.action == "licence.issued")
    assert issued.actor_type == "peer" and issued.actor_id == "LJ"
    # Nothing is waiting and nothing failed.
    assert count(ex.lj, OutboxMessage, OutboxMessage.delivered_at.is_(None)) == 0
    assert count(ex.tf, OutboxMessage, OutboxMessage.delivered_at.is_(None)) == 0


def test_a_revocation_in_tianfu_reaches_the_case_filed_in_liangjiang(ex):
    """The licence of a case filed in Liangjiang is revoked by Tianfu's registrar: Liangjiang's copy
    of the case says so (when, and the reason's text, never the registrar's note), one more event
    in the one history, and the founder's page at home shows it."""
    people = Founders(ex)
    number = people.file().json()["case_number"]
    ex.deliver()
    ex.deliver()
    people.sign_all(number)
    ex.deliver()
    ex.deliver()
    case = people.case(number)
    assert case["status"] == "approved" and "licence_status" not in case["result"]
    code = case["result"]["uscc"]

    registrar = ex.login("TF", "tf-registrar")
    r = ex.http("TF").post(f"/api/v1/official/licences/{code}/revoke", headers=bearer(registrar),
                           json={"reason": "court_order", "note": "Judgment of the Chengdu court, kept internal."})
    assert r.status_code == 200, r.text
    ex.deliver()
    case = people.case(number)
    assert case["result"]["licence_status"] == "revoked" and case["result"]["revocation_reason"] == "court_order"
    assert case["result"]["revocation_reason_en"] and case["result"]["revocation_reason_zh"]
    assert "kept internal" not in str(case), "the registrar's note stays in Tianfu"
    assert case["events"][-1]["what"] == "licence.revoked" and case["status"] == "approved"
    assert history(ex, "LJ", number, "lj-admin") == history(ex, "TF", number, "tf-admin")
    page = ex.http("LJ").get(f"/my/cross-region-cases/{number}", headers={"accept": "text/html"},
                             cookies={"er_session": people.founder_token})
    assert page.status_code == 200 and "revoked the business licence" in page.text, page.text[:500]
    assert count(ex.lj, OutboxMessage, OutboxMessage.delivered_at.is_(None)) == 0
    assert count(ex.tf, OutboxMessage, OutboxMessage.delivered_at.is_(None)) == 0
    # A revocation naming another licence is refused, and changes nothing.
    from eresident.crosscase import service as crosscase
    from eresident.federation.handlers import Incoming
    from eresident.kit.errors import Problem

    with ex.lj.ctx.database.session(write=True) as db:
        with pytest.raises(Problem) as refused:
            crosscase.on_event(ctx=ex.lj.ctx, db=db, message=Incoming(
                id="test-1", created_at=ex.lj.clock.now(), sender="TF", kind="case.event", payload={
                    "case_number": number, "events": [{"seq": 99, "at": "2026-11-27T00:00:00+00:00",
                                                       "region": "TF", "status": "approved",
                                                       "what": "licence.revoked", "detail": ""}],
                    "revocation": {"uscc": "91510116E00000009X", "revoked_at": "2026-11-27T00:00:00+00:00",
                                   "reason": "court_order", "reason_en": "x", "reason_zh": "x"}}))
        assert refused.value.errors[0].field == "payload/revocation/uscc"


def test_a_seconded_liangjiang_official_reviews_the_cross_region_case_in_tianfu(ex):
    secondment_id = ex.accepted(official="lj-reviewer", roles=("reviewer",))
    people = Founders(ex)
    # CNY 5,000 is under the automatic bound: a person reviews it.
    number = people.file(capital="5000").json()["case_number"]
    ex.deliver()
    ex.deliver()
    people.sign_all(number)
    ex.deliver()
    ex.deliver()
    assert people.case(number)["status"] == "awaiting_review"
    [formation] = rows(ex.tf, Formation)

    secondee = ex.signed_in(secondment_id)
    tf = ex.http("TF")
    worklist = tf.get("/api/v1/formation-cases", headers=bearer(secondee)).json()
    assert str(formation.id) in str(worklist)
    assert tf.post(f"/api/v1/formation-cases/{formation.id}/claim", headers=bearer(secondee)).status_code == 200
    r = tf.post(f"/api/v1/formation-cases/{formation.id}/recommend", headers=bearer(secondee),
                json={"recommendation": "approve", "note": "Standard WFOE; checked by the LJ secondee."})
    assert r.status_code == 200, r.text
    approver = ex.login("TF", "tf-approver")
    r = tf.post(f"/api/v1/formation-cases/{formation.id}/decide", headers=bearer(approver),
                json={"decision": "approve", "reasons": "Approved on the secondee's review."})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    ex.deliver()
    case = people.case(number)
    assert case["status"] == "approved" and case["result"]["reasons"] == "Approved on the secondee's review."
    assert [e["what"] for e in case["events"]][-3:] == ["formation.claimed", "formation.recommended",
                                                        "formation.approved"]
    # Tianfu's audit names the secondee with both regions; Liangjiang's history shows the steps.
    [claimed] = rows(ex.tf, AuditEvent, AuditEvent.action == "formation.claimed")
    assert (claimed.region, claimed.actor_home_region) == ("TF", "LJ")
    assert history(ex, "LJ", number, "lj-admin") == history(ex, "TF", number, "tf-admin")


def test_a_filing_tianfu_cannot_accept_comes_back_refused_with_the_reasons(ex):
    first, second = Founders(ex), Founders(ex)
    # Two founders file the same Tianfu name: the first to arrive holds it, the second is refused.
    taken = first.file().json()["case_number"]
    number = second.file().json()["case_number"]
    ex.deliver()
    ex.deliver()
    assert first.case(taken)["status"] == "awaiting_signatures"
    case = second.case(number)
    assert case["status"] == "refused" and case["status_text"] == "Refused"
    assert case["result"]["decision"] == "refused" and "taken" in case["result"]["reasons"]
    assert [e["field"] for e in case["result"]["errors"]] == ["name/name_zh"]
    assert [e["what"] for e in case["events"]] == ["filed", "refused_at_intake"]
    # Nothing of the refused formation was kept in Tianfu: one formation, one reservation.
    assert count(ex.tf, Formation) == 1 and count(ex.tf, RegisteredName) == 1
    assert history(ex, "LJ", number, "lj-admin") == history(ex, "TF", number, "tf-admin")


def test_bad_filings_are_refused_at_home_naming_the_field_and_nothing_is_written(ex):
    people = Founders(ex)
    stranger = "LJ-ER-2026-999999"  # no such e-resident here
    cases = [
        (dict(handling_region="XX"), "handling_region"),
        (dict(handling_region="LJ"), "handling_region"),
        (dict(consent_to_transfer=False), "consent_to_transfer"),
    ]
    for changes, field in cases:
        r = people.file(**changes)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    body = filing(people.founder, stranger)
    r = ex.http("LJ").post("/api/v1/cross-region-cases", headers=bearer(people.founder_token), json=body)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["formation/supervisor/e_resident_number"], r.text
    body = filing(people.founder, people.supervisor)
    body["formation"]["registered_capital"] = "-1"
    r = ex.http("LJ").post("/api/v1/cross-region-cases", headers=bearer(people.founder_token), json=body)
    assert r.status_code == 422 and "registered_capital" in r.text
    # Someone who is not an e-resident here cannot file.
    assert ex.http("LJ").post("/api/v1/cross-region-cases", headers=bearer(Api(ex.lj).applicant()),
                              json=filing(people.founder, people.supervisor)).status_code == 403
    assert count(ex.lj, CrossRegionCase) == 0 and count(ex.lj, CrossRegionCaseEvent) == 0
    assert count(ex.lj, OutboxMessage, OutboxMessage.kind == "case.filed") == 0


def test_only_the_people_in_the_case_see_it(ex):
    people = Founders(ex)
    number = people.file().json()["case_number"]
    other_token, _ = Api(ex.lj).e_resident(Person(surname="OTHER"))
    for path in ("", "/articles", "/licence"):
        r = ex.http("LJ").get(f"/api/v1/cross-region-cases/{number}{path}", headers=bearer(other_token))
        assert r.status_code == 404, (path, r.text)
    assert ex.http("LJ").get("/api/v1/cross-region-cases", headers=bearer(other_token)).json() == []
    # The supervisor sees the case to sign once the articles are there.
    ex.deliver()
    ex.deliver()
    listed = ex.http("LJ").get("/api/v1/cross-region-cases", headers=bearer(people.supervisor_token)).json()
    assert [c["case_number"] for c in listed] == [number]


def test_a_signature_tianfu_cannot_check_is_not_used_and_a_repeat_changes_nothing(ex):
    people = Founders(ex)
    number = people.file().json()["case_number"]
    ex.deliver()
    ex.deliver()
    pdf = ex.http("LJ").get(f"/api/v1/cross-region-cases/{number}/articles", headers=bearer(people.founder_token))
    digest = hashlib.sha256(pdf.content).hexdigest()
    # A signature message whose JWS is not made with Liangjiang's key: refused, nothing kept.
    with ex.lj.ctx.database.session(write=True) as db:
        federation.enqueue(ctx=ex.lj.ctx, db=db, peer="TF", kind="case.signature",
                           payload={"case_number": number, "e_resident_number": people.founder,
                                    "document_sha256": digest, "jws": "eyJhbGciOiJFZERTQSJ9.e30.AAAA"})
    from tests.federation.conftest import Network

    report = federation.deliver_due(ex.lj.ctx, client=Network(ex.lj, ex.tf).client())
    assert report.failed == 1 and "HTTP 422" in report.errors["TF"], report.errors
    assert count(ex.tf, FormationSignature) == 0
    with ex.lj.ctx.database.session(write=True) as db:  # the operator drops the bad message
        db.query(OutboxMessage).filter(OutboxMessage.kind == "case.signature").delete()
    # A real signature, delivered twice (the repeat of a message is answered, not applied).
    r = ex.http("LJ").post(f"/api/v1/cross-region-cases/{number}/signatures", headers=bearer(people.founder_token),
                           json={"document_sha256": digest})
    assert r.status_code == 201, r.text
    r = ex.http("LJ").post(f"/api/v1/cross-region-cases/{number}/signatures", headers=bearer(people.founder_token),
                           json={"document_sha256": digest})
    assert r.status_code == 409 and r.json()["type"].endswith("already-signed")
    ex.deliver()
    ex.deliver()
    assert count(ex.tf, FormationSignature) == 1
    assert count(ex.tf, InboxMessage, InboxMessage.kind == "case.signature") == 1
    assert people.case(number)["status"] == "awaiting_signatures"


def page_form(founder: str, supervisor: str, **overrides) -> dict:
    data = {"handling_region": "TF", "name_zh": "成都星海科技有限公司", "name_en": "Chengdu Xinghai Technology Co., Ltd.",
            "registered_capital": "500000", "currency": "CNY", "business_scope": ["BS001", "BS002"],
            "address/kind": "service_site", "investors/0/e_resident_number": founder,
            "investors/0/share_percent": "100", "legal_representative/e_resident_number": founder,
            "directors/0/e_resident_number": founder, "supervisor/e_resident_number": supervisor,
            "consent_to_transfer": "yes"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_founder_files_follows_and_signs_in_the_pages(ex):
    from tests.test_pages import Browser

    people = Founders(ex)

    def browser(token: str) -> Browser:
        b = Browser(ex.lj)
        b.client.cookies.set("er_session", token)
        return b

    founder, supervisor = browser(people.founder_token), browser(people.supervisor_token)
    assert 'href="/my/cross-region-cases"' in founder.get("/my/companies").text
    listing = founder.get("/my/cross-region-cases")
    assert listing.status_code == 200 and ex.tf.settings.region_name in listing.text
    form = founder.get("/my/cross-region-cases/new")
    assert form.status_code == 200 and 'name="handling_region"' in form.text and f'value="{people.founder}"' in form.text

    # Refusals beside their fields, nothing written.
    r = founder.post("/my/cross-region-cases/new", page_form(people.founder, people.supervisor,
                                                             consent_to_transfer=None))
    assert r.status_code == 422 and 'id="consent_to_transfer-error"' in r.text, r.text[-2000:]
    r = founder.post("/my/cross-region-cases/new", page_form(people.founder, "LJ-ER-2026-999999"))
    assert r.status_code == 422 and 'id="supervisor-e_resident_number-error"' in r.text
    r = founder.post("/my/cross-region-cases/new", page_form(people.founder, people.supervisor, name_zh=""))
    assert r.status_code == 422 and 'id="name_zh-error"' in r.text
    assert count(ex.lj, CrossRegionCase) == 0

    r = founder.post("/my/cross-region-cases/new", page_form(people.founder, people.supervisor))
    assert r.status_code == 303, r.text[-2000:]
    url = r.headers["location"]
    number = url.rsplit("/", 1)[1]
    page = founder.get(url)
    assert page.status_code == 200 and number in page.text
    assert f"<strong>{ex.tf.settings.region_name}</strong> (TF)" in page.text and "on its way" in page.text

    ex.deliver()
    ex.deliver()
    for b in (supervisor, founder):
        page = b.get(url)
        assert "Sign the articles" in page.text
        pdf = b.get(f"{url}/articles")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        digest = hashlib.sha256(pdf.content).hexdigest()
        assert digest[:8] in page.text
        r = b.post(f"{url}/sign", {"document_sha256": digest})  # not confirmed: asked again, nothing sent
        assert r.status_code == 422 and 'id="confirm-error"' in r.text
        r = b.post(f"{url}/sign", {"document_sha256": digest, "confirm": "yes"})
        assert r.status_code == 303, r.text[-2000:]
    ex.deliver()
    ex.deliver()
    page = founder.get(url)
    assert "Approved" in page.text and f"{url}/licence" in page.text
    uscc = people.case(number)["result"]["uscc"]
    assert uscc in page.text and f"{ex.tf.settings.base_url}/verify/licence/{uscc}" in page.text
    assert founder.get(f"{url}/licence").content.startswith(b"%PDF")
    assert supervisor.get(f"{url}/licence").status_code == 404
