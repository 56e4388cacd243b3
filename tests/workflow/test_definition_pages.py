"""Process definitions for administrators (issue 3, issue 8): every published version with the cases
on it, one version's source, map and changes, and checking and publishing a new one in the pages and
the API. An invalid definition is refused with each problem and its line, and the published version
stays as it was; a task or wait step without a status is refused when published (it would leave a
case without a status), while a version stored before that rule still loads."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor
from eresident.officials import service as officials
from eresident.seed import DEMO_PASSWORD
from eresident.workflow import published
from eresident.workflow import service as engine
from eresident.workflow.definition import DefinitionError, load_definition, load_packaged, packaged_definitions
from eresident.workflow.models import ProcessVersion
from tests.factories import Api, bearer
from tests.test_pages import official_browser
from tests.workflow.test_engine import PROCESSES

PUBLISH = "/official/admin/processes/publish"
V1 = (PROCESSES / "e-residency.v1.yaml").read_text()
# Version 2 of the shipped version 1: the decision renamed (a change the diff names).
V2 = V1.replace("version: 1", "version: 2").replace("title: Decision", "title: Final decision")
DECISION_LINE = V1.splitlines().index("  decision:") + 1
NO_STATUS = V2.replace("    status: awaiting_decision\n", "")
TYPO = V2.replace("next: decision", "next: decison", 1)
TYPO_LINE = next(i for i, line in enumerate(TYPO.splitlines(), 1) if "decison" in line)


def latest_version(node, process: str = "e-residency") -> int | None:
    with node.ctx.database.session(write=False) as db:
        row = engine.latest(db, process)
        return row.version if row else None


def first_case(node) -> str:
    """An application, which starts a case on (and so publishes) e-residency version 1."""
    api = Api(node)
    r = api.submit(api.applicant())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_auditor(node) -> None:
    with node.ctx.database.session(write=True) as db:
        officials.create_official(ctx=node.ctx, db=db, username="lj-auditor", display_name="Auditor Sun",
                                  password=DEMO_PASSWORD, roles=["auditor"], actor=Actor.system())


# --- the rule for new versions ------------------------------------------------------------------

def test_a_step_without_status_is_refused_strictly_naming_its_line():
    with pytest.raises(DefinitionError) as caught:
        load_definition(NO_STATUS, source_name="e-residency.v2.yaml", strict=True)
    (problem,) = caught.value.problems
    assert problem.line == DECISION_LINE and "step 'decision'" in problem.message and "status" in problem.message
    assert f"line {DECISION_LINE}" in str(caught.value)
    # Without the rule (a version already stored) it loads as before.
    assert load_definition(NO_STATUS).steps["decision"].status is None


def test_every_shipped_definition_passes_the_rule_for_new_versions():
    names = packaged_definitions()
    assert len(names) >= 5
    for name in names:
        text = (PROCESSES / f"{name}.yaml").read_text()
        assert load_definition(text, source_name=name, strict=True) == load_packaged(name)


def test_a_stored_version_without_statuses_still_loads_and_shows(node):
    text = NO_STATUS.replace("version: 2", "version: 1")
    with node.ctx.database.session(write=True) as db:  # stored before the rule existed: publish refuses it now
        db.add(ProcessVersion(process="e-residency", version=1, source=text, digest=load_definition(text).digest,
                              published_at=node.clock.now(), published_by="system"))
    with node.ctx.database.session(write=False) as db:
        row = published.version(db, "e-residency", 1)
        assert published.definition(row).steps["decision"].status is None
    admin, _ = official_browser(node, "lj-admin")
    assert admin.get("/official/admin/processes/e-residency/1").status_code == 200


# --- pages -------------------------------------------------------------------------------------

def test_the_list_shows_every_version_with_its_cases(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    page = admin.get("/official/admin/processes")
    assert page.status_code == 200
    with node.ctx.database.session(write=False) as db:
        digest = engine.latest(db, "e-residency").digest
    row = re.search(r'<tr><th scope="row"><a href="/official/admin/processes/e-residency/1">.*?</tr>', page.text,
                    flags=re.S).group(0)
    assert f"<code dir=\"ltr\">{digest[:12]}</code>" in row and "system" in row and "<td>1</td>" in row
    assert f'href="{PUBLISH}"' in page.text


def test_a_version_page_shows_source_with_line_numbers_map_and_changes(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    page = admin.get("/official/admin/processes/e-residency/1").text
    assert '<span id="L7">   7  process: e-residency</span>' in page
    assert '<ol class="process">' in page and "Identity check at the overseas service site" in page
    assert "The first published version of this process." in page

    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": V2, "intent": "publish"})
    assert r.status_code == 303 and r.headers["location"] == "/official/admin/processes/e-residency/2"
    page = admin.get(r.headers["location"]).text
    assert "Changes since version 1" in page and "Final decision" in page
    assert "<li>step &#39;decision&#39;: title &#39;Decision&#39; → &#39;Final decision&#39;</li>" in page  # workflow.diff


def test_check_says_valid_with_the_changes_and_publishes_nothing(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": V2, "intent": "check"})
    assert r.status_code == 200
    steps = len(load_definition(V2).steps)
    assert f"Valid: e-residency version 2, {steps} steps" in r.text
    assert "Changes against the published version 1" in r.text and "Final decision" in r.text
    assert latest_version(node) == 1

    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": V1, "intent": "check"})  # valid, but not newer
    assert r.status_code == 200 and "is not newer than the published version 1" in r.text


@pytest.mark.parametrize("intent", ["check", "publish"])
def test_an_invalid_definition_lists_each_problem_with_its_line_and_publishes_nothing(node, intent):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": TYPO, "intent": intent})
    assert r.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', r.text, flags=re.S).group(0)
    # Each line names the box (its label), then the problem with its line.
    assert re.search(rf'<a href="#source">Definition \(YAML or JSON\): line {TYPO_LINE}, column \d+: step '
                     rf"&#39;review&#39;: next &#39;decison&#39; is not a step "
                     rf"\(did you mean &#39;decision&#39;\?\)</a>", summary), summary
    assert 'id="source-error"' in r.text and "next: decison" in r.text  # the line itself, beside the box
    assert "decison" in re.search(r"<textarea[^>]*>(.*?)</textarea>", r.text, flags=re.S).group(1)  # kept
    assert latest_version(node) == 1


def test_publishing_a_step_without_status_is_refused_naming_the_line(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": NO_STATUS, "intent": "publish"})
    assert r.status_code == 422
    assert f"line {DECISION_LINE}, column 3: step &#39;decision&#39;: a task step needs a &#39;status&#39;" in r.text
    assert latest_version(node) == 1


def test_publishing_audits_and_new_cases_take_the_new_version(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": "", "intent": "publish"},
                   files={"file": ("e-residency.v2.yaml", V2.encode(), "application/yaml")})
    assert r.status_code == 303, r.text
    assert latest_version(node) == 2
    with node.ctx.database.session(write=False) as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "workflow.published",
                                                   AuditEvent.entity_id == "e-residency@2"))
        admin_id = officials.by_username(db, "lj-admin").id
    assert event.actor_id == str(admin_id) and event.before == {"version": 1}
    app_id = first_case(node)
    with node.ctx.database.session(write=False) as db:
        assert engine.case_for(db, "application", uuid.UUID(app_id)).version == 2
    page = admin.get("/official/admin/processes").text
    assert re.search(r'e-residency/2">version 2</a> <strong class="tag">new cases</strong>', page)

    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": V2, "intent": "publish"})  # the same version again
    assert r.status_code == 409 and "number the new one 3 or higher" in r.text
    assert latest_version(node) == 2


def test_a_file_that_is_not_text_is_refused_beside_the_file_field(node):
    admin, _ = official_browser(node, "lj-admin")
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": "", "intent": "check"},
                   files={"file": ("process.yaml", b"\xff\xfe\x00bad", "application/yaml")})
    assert r.status_code == 422 and "not text in UTF-8" in r.text and 'href="#file"' in r.text
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": "  ", "intent": "check"})
    assert r.status_code == 422 and 'href="#source"' in r.text


def test_who_may_read_and_who_may_publish(node):
    first_case(node)
    make_auditor(node)
    auditor, _ = official_browser(node, "lj-auditor")
    assert auditor.get("/official/admin/processes").status_code == 200
    assert f'href="{PUBLISH}"' not in auditor.page.text
    assert auditor.get("/official/admin/processes/e-residency/1").status_code == 200
    assert auditor.get(PUBLISH).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', auditor.get("/official").text).group(1)
    assert auditor.post(PUBLISH, {"source": V2, "intent": "publish"}, csrf=token).status_code == 403
    reviewer, _ = official_browser(node, "lj-reviewer")
    for url in ("/official/admin/processes", "/official/admin/processes/e-residency/1", PUBLISH):
        assert reviewer.get(url).status_code == 403, url
    assert latest_version(node) == 1


def test_a_publish_form_without_its_token_publishes_nothing(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    admin.get(PUBLISH)
    r = admin.post(PUBLISH, {"source": V2, "intent": "publish"}, csrf="")
    assert r.status_code == 403 and latest_version(node) == 1


def test_a_new_version_can_start_from_a_published_one(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    page = admin.get(f"{PUBLISH}?process=e-residency&version=1").text
    assert "process: e-residency" in re.search(r"<textarea[^>]*>(.*?)</textarea>", page, flags=re.S).group(1)
    assert admin.get(f"{PUBLISH}?process=e-residency&version=9").status_code == 404


# --- API -------------------------------------------------------------------------------------------

def test_the_api_reads_checks_and_publishes(node):
    first_case(node)
    api = Api(node)
    admin = bearer(api.official("lj-admin"))
    r = api.client.get("/api/v1/workflow/processes", headers=admin)
    assert r.status_code == 200
    (process,) = [p for p in r.json() if p["process"] == "e-residency"]
    assert process["versions"][0] | {"published_at": None} == {
        "version": 1, "digest": process["versions"][0]["digest"], "published_at": None,
        "published_by": "system", "cases": 1}

    r = api.client.get("/api/v1/workflow/processes/e-residency/versions/1", headers=admin)
    assert r.status_code == 200 and r.json()["source"] == V1 and r.json()["title"] == "Application for e-residency"
    assert api.client.get("/api/v1/workflow/processes/e-residency/versions/7", headers=admin).status_code == 404

    r = api.client.post("/api/v1/workflow/processes/validate", headers=admin, json={"source": V2})
    assert r.status_code == 200, r.text
    check = r.json()
    assert (check["valid"], check["version"], check["published_version"], check["publishable"]) == (True, 2, 1, True)
    assert any("Final decision" in c for c in check["changes"])

    r = api.client.post("/api/v1/workflow/processes/validate", headers=admin, json={"source": NO_STATUS})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/invalid-definition")
    assert r.json()["errors"] == [{"field": f"line {DECISION_LINE}, column 3", "reason": r.json()["errors"][0]["reason"]}]
    assert "needs a 'status'" in r.json()["errors"][0]["reason"]

    r = api.client.post("/api/v1/workflow/processes", headers=admin, json={"source": TYPO})
    assert r.status_code == 422 and any(e["field"].startswith(f"line {TYPO_LINE}") for e in r.json()["errors"])
    assert latest_version(node) == 1

    r = api.client.post("/api/v1/workflow/processes", headers=admin, json={"source": V2})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["published_by"]) == (2, "lj-admin")
    r = api.client.post("/api/v1/workflow/processes", headers=admin, json={"source": V2})
    assert r.status_code == 409 and r.json()["type"].endswith("/stale-version")
    assert latest_version(node) == 2


def test_the_api_refuses_whoever_may_not(node):
    first_case(node)
    make_auditor(node)
    api = Api(node)
    auditor = bearer(api.official("lj-auditor"))
    assert api.client.get("/api/v1/workflow/processes", headers=auditor).status_code == 200
    for path in ("/api/v1/workflow/processes/validate", "/api/v1/workflow/processes"):
        r = api.client.post(path, headers=auditor, json={"source": V2})
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    reviewer = bearer(api.official("lj-reviewer"))
    assert api.client.get("/api/v1/workflow/processes", headers=reviewer).status_code == 403
    assert latest_version(node) == 1


def test_the_pages_read_in_chinese_and_arabic(node):
    first_case(node)
    admin, _ = official_browser(node, "lj-admin")
    for lang, word in (("zh", "流程"), ("ar", "الإجراء")):
        admin.client.cookies.set("er_lang", lang)
        for url in ("/official/admin/processes", "/official/admin/processes/e-residency/1", PUBLISH):
            r = admin.get(url)
            assert r.status_code == 200 and f'<html lang="{lang}"' in r.text and word in r.text, url
        assert admin.post(PUBLISH, {"source": V2, "intent": "check"}).status_code == 200
        admin.get(PUBLISH)
        assert admin.post(PUBLISH, {"source": TYPO, "intent": "check"}).status_code == 422
