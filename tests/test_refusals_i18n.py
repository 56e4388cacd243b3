"""Refusals beyond the applicant's journey in the reader's language (issue 8): the company, tax, bank,
cross-region, officials' and process-definition pages show each refusal in Chinese or Arabic beside the
field and in the error summary, while the API answers the same request in the same English as before.
A scan of the sources keeps every refusal text marked for the catalogues."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest

from eresident import i18n
from tests.banking.test_bank import company, consent
from tests.enterprise.helpers import NAME_EN, NAME_ZH, Founders
from tests.enterprise.test_pages import form_data
from tests.factories import Api, bearer
from tests.federation.test_cross_region_cases import page_form
from tests.identity.test_messages_i18n import beside, in_summary, named_in_summary, shown
from tests.test_pages import Browser, official_browser
from tests.workflow.test_definition_pages import PUBLISH, TYPO, TYPO_LINE

SOURCE = Path(__file__).resolve().parents[1] / "src" / "eresident"


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    i18n.activate("en")


def reading(browser: Browser, lang: str) -> Browser:
    """The browser now reads pages in `lang` (the language switcher's cookie)."""
    browser.client.cookies.set(i18n.LANGUAGE_COOKIE, lang)
    return browser


def founder_browser(node, token: str, lang: str) -> Browser:
    b = Browser(node)
    b.client.cookies.set("er_session", token)
    return reading(b, lang)


def error_page(page: str) -> tuple[str, str]:
    """The title and the detail of an error page."""
    title = re.search(r"<h1>(.*?)</h1>", page, re.S)
    detail = re.search(r"</h1>\s*<p>(.*?)</p>", page, re.S)
    assert title, "no error page"
    return html.unescape(title.group(1)).strip(), html.unescape(detail.group(1)).strip() if detail else ""


@pytest.fixture
def two(node):
    founders = Founders(Api(node))
    return founders.new("BENALI"), founders.new("HADDAD")


# --- company names and formations ---------------------------------------------------------------------------

def test_a_taken_or_malformed_name_is_refused_in_the_readers_language(node, two):
    (founder_token, _founder), (other_token, _other) = two
    api = Api(node)
    assert api.client.post("/api/v1/names/reservations", headers=bearer(founder_token),
                           json={"name_zh": NAME_ZH, "name_en": NAME_EN}).status_code == 201
    english = f"{NAME_ZH} (reserved) has the same trade name in the same industry; choose another trade name."
    for lang, taken, short in (
            ("zh", f"与已预留的企业名称“{NAME_ZH}”字号相同且行业相同，请另选字号。", "字号应当由两个以上汉字组成。"),
            ("ar", f"الاسم {NAME_ZH} (محجوز) له الاسم التجاري نفسه في المجال نفسه؛ اختر اسمًا تجاريًا آخر.",
             "يتكون الاسم التجاري من حرفين صينيين على الأقل.")):
        b = founder_browser(node, other_token, lang)
        r = b.submit("/my/companies/name", "/my/companies/name",
                     {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "reserve"})
        assert r.status_code == 409 and f'<html lang="{lang}"' in r.text
        assert shown(r.text, "name_zh") == taken
        r = b.submit("/my/companies/name", "/my/companies/name",
                     {"name_zh": "重庆星贸易有限公司", "name_en": "Chongqing Xing Trading Co., Ltd.", "action": "check"})
        assert r.status_code == 422 and shown(r.text, "name_zh") == short

    r = api.client.post("/api/v1/names/reservations", headers=bearer(other_token),
                        json={"name_zh": NAME_ZH, "name_en": NAME_EN})
    assert r.status_code == 409
    assert (r.json()["title"], r.json()["detail"]) == ("The name is taken", english)
    assert r.json()["errors"] == [{"field": "name_zh", "reason": english}]


def test_formation_refusals_follow_the_language_and_the_api_keeps_its_english(node, two):
    (founder_token, founder), (_supervisor_token, supervisor) = two
    api = Api(node)
    reservation = api.client.post("/api/v1/names/reservations", headers=bearer(founder_token),
                                  json={"name_zh": NAME_ZH, "name_en": NAME_EN}).json()["id"]
    form_url = f"/my/companies/new?name={reservation}"
    expected = {
        "zh": ("董事不得同时担任监事（《公司法》）。", "投资人的持股比例合计为 60%，而不是 100%。"),
        "ar": ("لا يجوز للمدير أن يكون هو المراقب أيضًا (قانون الشركات).", "مجموع حصص المستثمرين 60%، وليس 100%."),
    }
    for lang, (director, shares) in expected.items():
        b = founder_browser(node, founder_token, lang)
        r = b.submit("/my/companies/new", form_url, {**form_data(founder, founder), "name_reservation_id": reservation})
        assert r.status_code == 422 and shown(r.text, "supervisor-e_resident_number") == director
        r = b.submit("/my/companies/new", form_url, {**form_data(founder, supervisor, **{
            "investors/0/share_percent": "60"}), "name_reservation_id": reservation})
        assert r.status_code == 422 and shown(r.text, "investors") == shares
        # A prohibited business: the frame is translated, the catalogue's own words stay as they are.
        r = b.submit("/my/companies/new", form_url, {**form_data(founder, supervisor, business_scope=[
            "BS001", "BS030"]), "name_reservation_id": reservation})
        assert r.status_code == 422
        prohibited = shown(r.text, "business_scope-BS030")
        assert prohibited.startswith("BS030 ") and ("：" in prohibited if lang == "zh" else ": " in prohibited)

    from tests.enterprise.helpers import formation_body

    r = api.client.post("/api/v1/formations", headers=bearer(founder_token),
                        json=formation_body(reservation, founder, founder))
    assert r.status_code == 422
    assert r.json()["detail"] == "A director may not also be the supervisor (Company Law)."
    body = formation_body(reservation, founder, supervisor)
    body["investors"][0]["share_percent"] = "60"
    r = api.client.post("/api/v1/formations", headers=bearer(founder_token), json=body)
    assert r.json()["errors"] == [{"field": "investors", "reason": "The investors' shares add up to 60%, not 100%."}]


# --- after the licence: tax and bank ------------------------------------------------------------------------

def test_tax_and_bank_refusals_in_the_readers_language(node, two):
    api = Api(node)
    founders = Founders(api)
    founder_token = two[0][0]
    uscc = company(api, founders, two, ("重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."),
                   pre_consent=False)
    bank = consent(api)
    for lang, (tax_title, no_consent) in {
            "zh": ("未找到税务登记", "未经您明确同意，银行不会收到任何信息"),
            "ar": ("لم يُعثر على التسجيل الضريبي", "لا يتلقى المصرف أي شيء دون موافقتك الصريحة")}.items():
        b = founder_browser(node, founder_token, lang)
        # Tax: another founder's company is not found, in the reader's words.
        r = founder_browser(node, two[1][0], lang).get(f"/my/companies/{uscc}/tax")
        assert r.status_code == 404 and error_page(r.text)[0] == tax_title
        # The bank: no consent, nothing is asked; the reason beside the box.
        b.get(f"/my/companies/{uscc}/bank")
        r = b.post(f"/my/companies/{uscc}/bank/requests", {"bank": bank["bank"],
                                                             "consent_text_sha256": bank["consent_text_sha256"]})
        assert r.status_code == 422 and beside(r.text, f"agree-{bank['bank']}") == no_consent

    r = api.client.post(f"/api/v1/companies/{uscc}/bank/requests", headers=bearer(founder_token),
                        json={**bank, "agree": False})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "agree", "reason": "the bank receives nothing without your explicit consent"}]
    r = api.client.get(f"/api/v1/companies/{uscc}/tax", headers=bearer(two[1][0]))
    assert r.status_code == 404 and r.json()["title"] == "Tax registration not found"


# --- a case filed for another region ------------------------------------------------------------------------

def test_a_cross_region_filing_for_this_region_is_refused_in_the_readers_language(node, two):
    (founder_token, founder), (_s, supervisor) = two
    for lang, wanted in {"zh": "本地区可以自行办理：请在这里提交公司设立申请。",
                         "ar": "هذه المنطقة تتولى ذلك بنفسها: قدّمه هنا طلبَ تأسيس."}.items():
        b = founder_browser(node, founder_token, lang)
        r = b.submit("/my/cross-region-cases/new", "/my/cross-region-cases/new",
                     page_form(founder, supervisor, handling_region=node.ctx.region))
        assert r.status_code == 422 and in_summary(r.text, "handling_region") == wanted

    from tests.enterprise.helpers import formation_body

    body = formation_body("", founder, supervisor)
    body.pop("name_reservation_id")
    r = Api(node).client.post("/api/v1/cross-region-cases", headers=bearer(founder_token), json={
        "handling_region": node.ctx.region, "name": {"name_zh": NAME_ZH, "name_en": NAME_EN},
        "formation": body, "consent_to_transfer": True})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "This region handles it itself: file it as a formation here."


# --- officials' administration and process definitions ------------------------------------------------------

def test_an_officials_refusal_is_in_the_administrators_language(node):
    new = "/official/admin/officials/new"
    admin, _ = official_browser(node, "lj-admin")
    for lang, wanted in {"zh": "名为 'lj-reviewer' 的工作人员已存在。", "ar": "يوجد موظف باسم 'lj-reviewer'."}.items():
        r = reading(admin, lang).submit(new, new, {"username": "lj-reviewer", "display_name": "Someone else",
                                                   "roles": ["reviewer"]})
        assert r.status_code == 409 and shown(r.text, "username") == wanted
    token = Api(node).session_of("lj-admin")
    r = Api(node).client.post("/api/v1/officials", headers=bearer(token),
                              json={"username": "lj-reviewer", "display_name": "Someone else", "roles": ["reviewer"]})
    assert r.status_code == 409 and r.json()["detail"] == "An official named 'lj-reviewer' exists."


def test_a_definition_that_fails_check_is_explained_in_the_readers_language(node):
    token = Api(node).session_of("lj-admin")
    r = Api(node).client.post("/api/v1/workflow/processes/validate", headers=bearer(token), json={"source": TYPO})
    assert r.status_code == 422 and r.json()["title"] == "The process definition is not valid"
    english = r.json()["detail"]  # as before: "line N, column M: step 'review': next 'decison' is not a step …"
    column = re.fullmatch(rf"line {TYPO_LINE}, column (\d+): step 'review': next 'decison' is not a step "
                          r"\(did you mean 'decision'\?\)", english).group(1)
    admin, _ = official_browser(node, "lj-admin")
    for lang, frame in {"zh": "第 {line} 行第 {column} 列：step 'review': next “decison” 不是一个步骤",
                        "ar": "السطر {line}، العمود {column}: step 'review': next «decison» ليست خطوة"}.items():
        reading(admin, lang).get(PUBLISH)
        r = admin.post(PUBLISH, {"source": TYPO, "intent": "check"})
        assert r.status_code == 422
        reason = frame.format(line=TYPO_LINE, column=column) + " (did you mean 'decision'?)"
        # In the summary after the box's label, and beside the box.
        assert named_in_summary(r.text, "source", reason) == i18n.catalogue(lang)["Definition (YAML or JSON)"]
        assert reason in html.unescape(r.text.split('id="source-error"', 1)[1])
        admin.get(PUBLISH)
        r = admin.post(PUBLISH, {"source": "  ", "intent": "check"})
        assert shown(r.text, "source") == {"zh": "请粘贴流程定义，或选择一个文件（YAML 或 JSON）。",
                                           "ar": "الصق تعريفًا أو اختر ملفًا (YAML أو JSON)."}[lang]


# --- every refusal text is marked ---------------------------------------------------------------------------

PACKAGES = ("enterprise", "tax", "banking", "crosscase", "officials", "workflow", "federation", "credentials",
            "documents", "sites", "dashboard", "audit")
# The text arguments of kit.errors' refusals, by position and by keyword.
TEXT_ARGUMENTS = {"Problem": ((1, 2), ("title", "detail")), "invalid": ((1,), ("reason", "title")),
                  "forbidden": ((0,), ("detail",)), "conflict": ((0,), ("detail",)), "not_found": ((0,), ("what",)),
                  "FieldError": ((1,), ("reason",))}
# Refusals no person reads: they answer another node or a bank, whose software acts on the code.
MACHINE_FACING = "another node or the bank answers itself; no page shows it"
ALLOWED = {
    ("audit/witness.py", "*"): "the witness protocol between nodes (cosignatures, checkpoints)",
    ("banking/sandbox.py", "*"): "the sandbox bank's own API, answering this node",
    ("dashboard/peers.py", "*"): "figures another region's node sends; the refusal goes back to that node",
    ("federation/handlers.py", "*"): "payload checks of signed messages between nodes",
    **{("banking/service.py", f): "a bank's callback: " + MACHINE_FACING
       for f in ("_apply", "_resolve_bank_key", "_valid_accounts", "accept_callback", "verify_callback")},
    **{("crosscase/service.py", f): "a message of the other region's node: " + MACHINE_FACING
       for f in ("_recognise_vouched", "_revocation", "_trusted_signature", "_unb64", "on_event", "on_filed",
                 "on_signature")},
    **{("federation/recognition.py", f): "a message of a peer node: " + MACHINE_FACING
       for f in ("on_duplicate_answer", "on_duplicate_query", "on_status_changed")},
    **{("federation/secondment.py", f): "a message of a peer node: " + MACHINE_FACING
       for f in ("_on_answer", "_payload_description", "on_proposed", "on_withdrawn")},
    **{("federation/service.py", f): "the signed-message inbox: " + MACHINE_FACING
       for f in ("_refused", "_repeat", "accept", "verify_incoming")},
}


def _unmarked(node: ast.expr) -> bool:
    """A text written as a plain string or an f-string (not wrapped in N_() or Message())."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):  # "..." + "...", "..." % (...)
        return _unmarked(node.left) or _unmarked(node.right)
    if isinstance(node, ast.IfExp):
        return _unmarked(node.body) or _unmarked(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _unmarked(node.func.value)
    return False


def unmarked_refusals(source: str, filename: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, text) of each refusal of kit.errors whose text is not marked."""
    tree = ast.parse(source, filename)
    imported = {alias.asname or alias.name: alias.name for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module == "eresident.kit.errors" for alias in node.names}
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inside = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) \
                    and imported.get(child.func.id) in TEXT_ARGUMENTS:
                positions, keywords = TEXT_ARGUMENTS[imported[child.func.id]]
                texts = [a for i, a in enumerate(child.args) if i in positions]
                texts += [k.value for k in child.keywords if k.arg in keywords]
                found.extend((t.lineno, inside, ast.unparse(t)) for t in texts if _unmarked(t))
            visit(child, inside)

    visit(tree, "<module>")
    return found


def test_every_refusal_text_of_the_services_is_marked_for_translation():
    offending = []
    for package in PACKAGES:
        for path in sorted((SOURCE / package).rglob("*.py")):
            name = path.relative_to(SOURCE).as_posix()
            for line, function, text in unmarked_refusals(path.read_text(encoding="utf-8"), name):
                if (name, "*") not in ALLOWED and (name, function) not in ALLOWED:
                    offending.append(f"{name}:{line} ({function}): {text[:100]}")
    assert not offending, ("refusal texts not marked for translation: wrap a fixed text in N_(\"...\"), a text "
                           "with values in Message(N_(\"... %(name)s ...\"), name=...):\n" + "\n".join(offending))


def test_the_scan_catches_an_unmarked_refusal():
    planted = '''
from eresident.i18n import N_
from eresident.kit.errors import FieldError, Message, Problem, conflict as clash, invalid

def refuse(number):
    raise invalid("number", N_("Enter a number."))  # marked
    raise invalid("number", Message(N_("%(n)s is taken."), n=number))  # marked
    raise invalid("number", f"{number} is taken.")
    raise clash("Someone got there first.", code="taken")
    raise Problem(409, "Taken", code="taken", errors=[FieldError("number", "taken " + number)])
'''
    found = unmarked_refusals(planted, "planted.py")
    assert [(line, function) for line, function, _ in found] == [(8, "refuse"), (9, "refuse"), (10, "refuse"),
                                                                  (10, "refuse")]
    assert [text for *_, text in found][:2] == ["f'{number} is taken.'", "'Someone got there first.'"]
    # A Problem of another module (the workflow checker's own) is not a refusal of kit.errors.
    assert unmarked_refusals("from eresident.workflow.source import Problem\nProblem(1, 2, 'x')\n", "x.py") == []


# --- the workflow engine's refusals and the USCC validator ---------------------------------------------------

def test_a_refused_workflow_action_is_explained_in_the_officials_language(node):
    """Four eyes: the engine refuses the reviewer who also holds the approver role; the page says why in the
    official's language, the step labels translated too."""
    from eresident.audit.service import Actor
    from eresident.officials import service as officials

    with node.ctx.database.session(write=True) as db:
        both = officials.by_username(db, "lj-reviewer")
        officials.grant_role(ctx=node.ctx, db=db, official=both, role="approver", actor=Actor.system())
    api = Api(node)
    _token, app_id = api.to_review()
    token = api.official("lj-reviewer")
    assert api.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(token)).status_code < 300
    assert api.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(token),
                           json={"recommendation": "approve"}).status_code < 300
    r = api.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(token), json={"decision": "approve"})
    assert r.status_code == 403 and r.json()["title"] == "Four eyes: a different official must act"
    assert r.json()["detail"] == "you acted on 'Review' in this case; a different official must act on 'Decision'"

    case = f"/official/cases/{app_id}"
    official, _ = official_browser(node, "lj-reviewer")
    for lang, wanted in {"zh": "您已办理本案件的“审核”；“决定”须由另一名工作人员办理",
                         "ar": "لقد اتخذت إجراءً في «المراجعة» في هذه القضية؛ يجب أن يتولى «القرار» موظف آخر"}.items():
        reading(official, lang).get(case)
        r = official.post(f"{case}/decide", {"choice": "approve", "text": ""})
        assert r.status_code == 403 and f'<html lang="{lang}"' in r.text
        assert in_summary(r.text, "text") == wanted  # the case page again, the refusal in its error summary


def test_a_forged_uscc_is_refused_in_the_readers_language_and_the_api_keeps_its_english(node, two):
    from eresident.enterprise import uscc as codes

    genuine = codes.issue(division_code="500000", serial=12345)
    forged = genuine[:17] + next(c for c in codes.ALPHABET if c != genuine[17])
    english = f"the check character should be '{genuine[17]}' but is '{forged[17]}'"
    for lang, wanted in {"zh": f"校验码应为“{genuine[17]}”，实际为“{forged[17]}”",
                         "ar": f"يجب أن يكون حرف التحقق «{genuine[17]}» لكنه «{forged[17]}»"}.items():
        r = founder_browser(node, two[0][0], lang).get(f"/my/companies/{forged}/tax")
        assert r.status_code == 422 and f'<html lang="{lang}"' in r.text
        reasons = [html.unescape(re.sub(r"<[^>]+>", "", p)) for p in
                   re.findall(r'<p class="field-error">(.*?)</p>', r.text, re.S)]
        assert reasons and reasons[0].endswith(wanted), reasons

    r = Api(node).client.get(f"/api/v1/licences/{forged}")
    assert r.status_code == 422 and r.json()["detail"] == english
    assert r.json()["errors"] == [{"field": "uscc", "reason": english}] and r.json()["check"] == "check_character"


def test_the_uscc_reasons_translate_while_the_cli_prints_english():
    import io
    import json

    from eresident.enterprise import uscc as codes
    from eresident.kit.errors import translate

    with pytest.raises(codes.UsccError) as caught:
        codes.validate("91500000E0000ABC")
    english = "a USCC has 18 characters; this one has 16"
    assert caught.value.reason == english
    i18n.activate("zh")
    assert translate(caught.value.reason) == "统一社会信用代码应有 18 个字符；此代码有 16 个"
    with pytest.raises(codes.UsccError) as caught:
        codes.validate("91990000E000000000")
    assert translate(caught.value.reason) == "行政区划代码 990000 格式不正确：99 不是 GB/T 2260 中的省级代码"
    i18n.activate("ar")
    assert translate(caught.value.reason) == "رمز التقسيم الإداري 990000 غير صحيح الصيغة: 99 ليس رمزًا على مستوى " \
                                             "المقاطعة في GB/T 2260"
    err = io.StringIO()  # the CLI keeps its English, whatever the language of the moment
    assert codes.main("91500000E0000ABC", out=io.StringIO(), err=err) == 1
    assert json.loads(err.getvalue()) == {"valid": False, "check": "length", "reason": english}


def test_a_name_rule_built_from_the_regions_data_is_explained_in_the_readers_language(node, two):
    token = two[0][0]
    name = {"name_zh": "重庆星海（北方）科技有限公司", "name_en": "Chongqing Xinghai Technology Co., Ltd."}
    for lang, wanted in {"zh": "括号内只能是行政区划名称（例如“（重庆）”）或“（中国）”，不能是“（北方）”。",
                         "ar": "لا يجوز أن تتضمن الأقواس إلا التقسيم الإداري (مثل （重庆）) أو （中国）، وليس （北方）."}.items():
        r = founder_browser(node, token, lang).submit("/my/companies/name", "/my/companies/name",
                                                      {**name, "action": "check"})
        assert r.status_code == 422 and shown(r.text, "name_zh") == wanted

    r = Api(node).client.post("/api/v1/names/check", headers=bearer(token), json=name)
    assert [e["reason"] for e in r.json()["errors"]] == [
        "Brackets may hold only the division (e.g. （重庆）) or （中国）, not （北方）."]


@pytest.mark.parametrize("lang", ["zh", "ar"])
def test_the_public_verification_page_explains_a_forged_uscc_in_the_readers_language(node, lang):
    """Anyone, signed in or not, who checks a code on /verify/licences reads why it is not valid."""
    from eresident.enterprise import uscc as codes

    genuine = codes.issue(division_code="500000", serial=12345)
    forged = genuine[:17] + next(c for c in codes.ALPHABET if c != genuine[17])
    wanted = {"zh": f"校验码应为“{genuine[17]}”，实际为“{forged[17]}”",
              "ar": f"يجب أن يكون حرف التحقق «{genuine[17]}» لكنه «{forged[17]}»"}[lang]
    client = node.client()
    client.cookies.set(i18n.LANGUAGE_COOKIE, lang)
    r = client.get("/verify/licences", params={"uscc": forged}, headers={"accept": "text/html"})
    assert f'<html lang="{lang}"' in r.text
    assert wanted in html.unescape(r.text)
    assert "the check character should be" not in r.text
