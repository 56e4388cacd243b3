"""Bad input the generator will not find, on every route it applies to: bodies over the limit
(declared and streamed), uploads over their limit or whose content contradicts their name or type,
deeply nested JSON, invalid UTF-8, path traversal in every path parameter and in file names, numbers
past what the database holds, and HTML/script in every text field of the e-residency application and
the company form (escaped on every page that shows it).

Each must get a clear 4xx answer (a problem+json for the API, the form with its message for a page),
never a 5xx, and must write nothing. The routes are read from the application, so a route added later
is covered without an entry here.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from eresident.audit.service import Actor
from eresident.documents.models import Document
from eresident.identity.models import Application
from eresident.kit.errors import PROBLEM_JSON
from eresident.kit.registry import metadata
from eresident.officials.models import ROLES
from eresident.officials.service import create_official
from eresident.security.service import start_session
from tests.factories import Api, Person, bearer, pdf_bytes, png_bytes
from tests.reliability.test_permissions import POLICY, Caller, allowed, app_routes, concrete

SCRIPT = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


# --- helpers ------------------------------------------------------------------------------------------------

def row_counts(node) -> dict[str, int]:
    """Rows in every table: a refused request must leave all of them as they were."""
    with node.ctx.database.session(write=False) as db:
        return {t.name: db.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


def written(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    # Sign-in sessions made for the callers of this test are the test's own writes, not the node's.
    return {name: (before[name], after[name]) for name in before
            if before[name] != after[name] and name not in ("auth_sessions",)}


def assert_only_the_photo_kept(before: dict[str, int], after: dict[str, int]) -> None:
    """A refused application form writes nothing but the photo it accepted, which the page keeps
    by design so the person need not choose it again (identity/pages.py)."""
    changed = written(before, after)
    assert changed in ({}, {"documents": (before["documents"], before["documents"] + 1)}), changed


def stored_files(node) -> list:
    return [p for p in node.ctx.files.root.rglob("*") if p.is_file()]


def is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/.well-known/", "/status-lists/"))


def assert_refused_clearly(r, what: str, statuses=range(400, 500)) -> None:
    """A 4xx whose body says why: problem+json for the API; for a page, HTML (a page may also send
    a signed-out person to its sign-in page)."""
    assert r.status_code < 500, f"{what}: {r.status_code} (a server error) {r.text[:300]}"
    if r.status_code in (302, 303) and "login" in r.headers.get("location", ""):
        return
    assert r.status_code in statuses, f"{what}: {r.status_code}, expected a refusal {r.text[:300]}"
    media_type = r.headers.get("content-type", "").split(";")[0]
    if media_type == "text/html":
        assert "<script" not in r.text.lower(), f"{what}: a script in the error page"
        return
    assert media_type == PROBLEM_JSON, f"{what}: refused as {media_type!r}, not {PROBLEM_JSON}"
    body = r.json()
    assert body["status"] == r.status_code and body["title"] and body["type"], f"{what}: {body}"


class People:
    """Callers for a route: a fresh bearer session for whoever the permissions table lets in."""

    def __init__(self, node):
        from eresident.identity.models import EResident

        self.node, ctx = node, node.ctx
        api = Api(node)
        _token, number = api.e_resident(Person(surname="BADINPUT"))
        with ctx.database.session(write=True) as db:
            resident = db.scalar(select(EResident).where(EResident.number == number))
            official, _ = create_official(ctx=ctx, db=db, username="bad-input-every-role", display_name="x",
                                          password="bad input password 2026", roles=list(ROLES),
                                          actor=Actor.system())
            self.principals = {"e-resident": ("applicant", resident.applicant_id),
                               "official": ("official", official.id)}
        self.callers = {"e-resident": Caller("e-resident", "e-resident"),
                        "official": Caller("official", "official", frozenset(ROLES))}

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        policy = POLICY.get((method, path))
        for name, caller in self.callers.items():
            if policy is None or allowed(policy, caller) is not False:
                principal_type, principal_id = self.principals[name]
                ctx = self.node.ctx
                with ctx.database.session(write=True) as db:
                    token = start_session(db=db, principal_type=principal_type, principal_id=principal_id,
                                          now=ctx.clock.now(), hours=8)
                return bearer(token)
        return {}


def unsafe_routes(node) -> list[tuple[str, str]]:
    return sorted((m, p) for (m, p) in app_routes(node.app) if m in UNSAFE)


def json_routes(node) -> list[tuple[str, str]]:
    """Operations whose documented body is JSON."""
    found = []
    for path, item in node.app.openapi()["paths"].items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method.upper(), path))
    return sorted(found)


# --- bodies over the limit ------------------------------------------------------------------------------------

@pytest.fixture
def small_node(make_node):
    """A node with small limits, so the oversized bodies stay small too."""
    from eresident.seed import seed_demo

    node = make_node(demo=True, max_body_bytes=64 * 1024, max_upload_bytes=16 * 1024, max_photo_bytes=8 * 1024)
    seed_demo(node.ctx)
    return node


def test_a_body_over_the_limit_is_413_on_every_route_and_writes_nothing(small_node):
    node = small_node
    people = People(node)
    client = node.client()
    too_big = b'{"a": "' + b"x" * node.settings.max_body_bytes + b'"}'
    before, files_before = row_counts(node), stored_files(node)
    routes = unsafe_routes(node)
    for method, path in routes:
        headers = {**people.headers_for(method, path), "content-type": "application/json"}
        r = client.request(method, concrete(path), content=too_big, headers=headers)
        assert_refused_clearly(r, f"{method} {path} (declared length)", statuses=(413,))
        assert r.json()["type"].endswith("/body-too-large")

        def streamed():  # no Content-Length: the limit must hold while reading
            for _ in range(len(too_big) // 8192 + 1):
                yield b"x" * 8192

        r = client.request(method, concrete(path), content=streamed(), headers=headers)
        assert_refused_clearly(r, f"{method} {path} (streamed)", statuses=(413,))
    assert not written(before, row_counts(node)) and stored_files(node) == files_before
    assert len(routes) >= 60


def test_an_upload_over_its_limit_is_refused_naming_the_file(small_node):
    node = small_node
    api = Api(node)
    token = api.applicant()
    before, files_before = row_counts(node), stored_files(node)
    big_png = png_bytes() + bytes(node.settings.max_upload_bytes)
    r = api.upload(token, kind="supporting", data=big_png)
    assert_refused_clearly(r, "supporting document over the limit", statuses=(413,))
    assert [e["field"] for e in r.json()["errors"]] == ["file"]
    r = api.upload(token, kind="photo", data=png_bytes() + bytes(node.settings.max_photo_bytes))
    assert_refused_clearly(r, "photo over the limit", statuses=(413,))
    r = node.client().post("/api/v1/licences/verify",
                           files={"file": ("licence.pdf", pdf_bytes() + bytes(node.settings.max_upload_bytes),
                                           "application/pdf")})
    assert_refused_clearly(r, "licence to verify over the limit", statuses=(413,))
    assert not written(before, row_counts(node)) and stored_files(node) == files_before


def test_an_upload_over_its_limit_on_the_application_page_is_named_beside_the_photo(small_node):
    from tests.test_pages import apply_fields, signed_up

    node = small_node
    browser = signed_up(node, "big-photo@example.dz")
    browser.get("/apply")
    before = row_counts(node)
    r = browser.post("/apply", apply_fields(Person()),
                     files={"photo": ("me.png", png_bytes() + bytes(node.settings.max_photo_bytes), "image/png")})
    assert r.status_code in (413, 422) and 'href="#photo"' in r.text, r.text[:500]
    assert not written(before, row_counts(node))


# --- content that contradicts its name or type -----------------------------------------------------------------

CONTRADICTIONS = [
    ("a PNG named .pdf", "supporting", "contract.pdf", png_bytes(), "application/octet-stream"),
    ("a PDF sent as image/png", "supporting", "scan.png", pdf_bytes(), "image/png"),
    ("a PDF as a photo", "photo", "me.pdf", pdf_bytes(), "application/pdf"),
    ("HTML named .png", "photo", "me.png", b"<!doctype html><script>alert(1)</script>", "image/png"),
    ("SVG with script named .png", "photo", "me.png",
     b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/png"),
    ("a Windows program named .pdf", "supporting", "letter.pdf", b"MZ\x90\x00" + bytes(60), "application/pdf"),
    ("a JPEG declared as PDF", "passport_scan", "passport.jpg", b"\xff\xd8\xff\xe0" + bytes(40), "application/pdf"),
]


@pytest.mark.parametrize("label, kind, filename, data, declared", CONTRADICTIONS, ids=[c[0] for c in CONTRADICTIONS])
def test_a_file_whose_content_contradicts_its_name_or_type_is_refused(node, label, kind, filename, data, declared):
    api = Api(node)
    token = api.applicant()
    before, files_before = row_counts(node), stored_files(node)
    r = api.upload(token, kind=kind, data=data, filename=filename, content_type=declared)
    assert_refused_clearly(r, label, statuses=(422,))
    assert [e["field"] for e in r.json()["errors"]] == ["file"]
    assert not written(before, row_counts(node)) and stored_files(node) == files_before


def test_a_file_whose_content_contradicts_its_name_on_the_application_page(make_node):
    from eresident.seed import seed_demo
    from tests.test_pages import apply_fields, signed_up

    node = make_node(demo=True)
    seed_demo(node.ctx)
    browser = signed_up(node, "mislabelled@example.dz")
    for files in ({"photo": ("me.png", pdf_bytes(), "image/png")},
                  {"photo": ("me.png", png_bytes(), "image/png"),
                   "supporting": ("bank-statement.pdf", png_bytes(), "application/pdf")}):
        browser.get("/apply")
        before = row_counts(node)
        r = browser.post("/apply", apply_fields(Person()), files=files)
        field = next(iter(files)) if "supporting" not in files else "supporting"
        assert r.status_code == 422 and f'href="#{field}' in r.text, r.text[:400]
        assert_only_the_photo_kept(before, row_counts(node))
        with node.ctx.database.session(write=False) as db:
            assert db.scalar(select(func.count()).select_from(Document).where(Document.kind != "photo")) == 0
            assert db.scalar(select(func.count()).select_from(Application)) == 0


# --- JSON that is not what it seems ----------------------------------------------------------------------------

BAD_JSON = {
    "deeply nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "invalid UTF-8": b'{"name_zh": "\xff\xfe\xfd", "email": "\xc3\x28@example.dz"}',
    "truncated": b'{"email": "a@example.dz", ',
    "a 5,000-digit number": b'{"registered_capital": ' + b"9" * 5000 + b"}",
    "not an object": b'"just a string"',
}


@pytest.mark.parametrize("label", list(BAD_JSON))
def test_bad_json_is_a_clear_problem_on_every_json_route(node, label):
    people = People(node)
    client = node.client()
    before, files_before = row_counts(node), stored_files(node)
    routes = json_routes(node)
    for method, path in routes:
        headers = {**people.headers_for(method, path), "content-type": "application/json"}
        r = client.request(method, concrete(path), content=BAD_JSON[label], headers=headers)
        assert_refused_clearly(r, f"{method} {path} with {label}")
    assert not written(before, row_counts(node)) and stored_files(node) == files_before
    assert len(routes) >= 30


def body_fields(node, method: str, path: str) -> dict[str, dict]:
    """The top-level properties of an operation's JSON body, $refs resolved."""
    document = node.app.openapi()
    schema = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema.get("properties", {})


def test_a_nul_character_in_any_json_text_field_is_refused(node):
    """PostgreSQL cannot store or compare text holding NUL (psycopg raises): every text field of
    every JSON body gets one, and the answer must still be a 4xx."""
    people = People(node)
    client = node.client()
    before, files_before = row_counts(node), stored_files(node)
    sent = 0
    for method, path in json_routes(node):
        fields = body_fields(node, method, path)
        body = {name: "LJ\x00../../etc/passwd" for name in fields}
        r = client.request(method, concrete(path), json=body, headers=people.headers_for(method, path))
        # a verifier's answer to any text is its verdict ("not valid"); everything else refuses
        statuses = range(200, 500) if path.endswith("/verify") else range(400, 500)
        assert_refused_clearly(r, f"{method} {path} with NUL in {sorted(fields)}", statuses=statuses)
        sent += 1
    for url in ("/api/v1/sites/MK%00ALG/slots", "/api/v1/licences/9150%0000", "/api/v1/cases?status=new%00"):
        r = client.get(url, headers=people.headers_for("GET", "/api/v1/cases"))
        assert_refused_clearly(r, url)
    assert sent >= 30 and not written(before, row_counts(node)) and stored_files(node) == files_before


def test_invalid_utf8_in_a_form_is_the_form_with_a_message(make_node):
    from eresident.seed import seed_demo
    from tests.test_pages import Browser, csrf_of

    node = make_node(demo=True)
    seed_demo(node.ctx)
    before = row_counts(node)
    for form_url, post_url, body in (("/signup", "/signup", b"email=\xff\xfe%40example.dz&password=\xc3\x28long+pass+1"),
                                     ("/login", "/login", b"email=\xff%40example.dz&password=\xfe"),
                                     ("/official/login", "/official/login", b"username=\xff&password=\xfe&totp=1")):
        browser = Browser(node)
        page = browser.get(form_url)
        r = browser.client.post(post_url, content=body + f"&csrf_token={csrf_of(page.text)}".encode(),
                                headers={"content-type": "application/x-www-form-urlencoded"},
                                follow_redirects=False)
        assert_refused_clearly(r, f"POST {post_url} with invalid UTF-8")
    assert not written(before, row_counts(node))


# --- path traversal --------------------------------------------------------------------------------------------

TRAVERSALS = ["..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5C..%5Cwindows%5Cwin.ini",
              "....%2F%2F....%2F%2Fetc%2Fpasswd", "%252e%252e%252fetc%252fpasswd", "%2E%2E", "%00", "..%00.png",
              "%C0%AE%C0%AE%2Fetc%2Fpasswd"]


def test_path_traversal_in_every_path_parameter_is_refused(node):
    people = People(node)
    client = node.client()
    routes = [(m, p) for (m, p) in app_routes(node.app) if "{" in p]
    before, files_before = row_counts(node), stored_files(node)
    tried = 0
    for method, path in sorted(routes):
        headers = people.headers_for(method, path)
        if is_page(path):
            headers["accept"] = "text/html"
        for value in TRAVERSALS:
            url = re.sub(r"\{[^}]+\}", value, path)
            kwargs = {"json": {}} if method in UNSAFE and not is_page(path) else {}
            r = client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
            tried += 1
            assert "root:x:0:0" not in r.text and "[fonts]" not in r.text, f"{method} {url} served a system file"
            assert_refused_clearly(r, f"{method} {url}")
    assert not written(before, row_counts(node)) and stored_files(node) == files_before
    print(f"path traversal: {len(routes)} routes with path parameters, {tried} requests")
    assert len(routes) >= 60


@pytest.mark.parametrize("filename", ["../../../../etc/passwd.png", "..\\..\\..\\windows\\win.ini.png",
                                      "/etc/passwd.png", "photo\x00.png", "....//....//photo.png",
                                      "%2e%2e%2fphoto.png", ".htaccess.png", "a" * 500 + ".png"])
def test_a_file_name_never_becomes_a_path(node, filename):
    api = Api(node)
    token = api.applicant()
    r = api.upload(token, filename=filename)
    assert r.status_code == 201, r.text
    stored_name = r.json()["filename"]
    assert "/" not in stored_name and "\\" not in stored_name and not stored_name.startswith(".")
    assert "\x00" not in stored_name and len(stored_name) <= 200
    root = node.ctx.files.root.resolve()
    for path in stored_files(node):
        assert path.resolve().is_relative_to(root) and re.fullmatch(r"[0-9a-f]{64}(\.\w+)?", path.name), path
    download = api.client.get(f"/api/v1/documents/{r.json()['id']}", headers=bearer(token))
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="{r.json()["id"]}"'


# --- numbers past what the database holds ----------------------------------------------------------------------

HUGE = ["2147483648", "9223372036854775808", "-9223372036854775809", "1" + "0" * 40]
NUMERIC_QUERIES = [
    "/api/v1/workflow/processes/e-residency/metrics?version={n}",
    "/api/v1/audit/checkpoints/{n}",
    "/api/v1/audit/proofs/inclusion?seq={n}",
    "/api/v1/audit/proofs/inclusion?seq=1&tree_size={n}",
    "/api/v1/audit/proofs/consistency?first={n}",
    "/api/v1/audit/proofs/consistency?first=1&second={n}",
    "/api/v1/bank-requests/stuck?older_than_minutes={n}",
]


@pytest.mark.parametrize("template", NUMERIC_QUERIES)
def test_a_number_past_what_the_database_holds_is_refused(node, template):
    from tests.factories import Api as _Api

    api = _Api(node)
    api.submit(api.applicant())  # a process version and a case exist, so the query reaches the database
    people = People(node)
    client = node.client()
    for n in HUGE:
        url = template.format(n=n)
        path = "/" + url.split("?")[0].lstrip("/")
        route = next((p for (m, p) in app_routes(node.app)
                      if m == "GET" and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path)), path)
        r = client.get(url, headers=people.headers_for("GET", route))
        assert_refused_clearly(r, url)


# --- HTML and script in every text field -----------------------------------------------------------------------

APPLICATION_TEXT_FIELDS = ["surname", "given_names", "native_name", "birth_date", "nationality",
                           "residence_country", "phone", "address", "passport_number", "passport_expiry",
                           "mrz", "purpose", "site_code", "sex"]
SELECTS = ("sex", "site_code", "nationality", "residence_country")  # a choice, not typed text: not shown back


def test_script_in_each_application_field_is_refused_or_escaped_and_a_refusal_writes_nothing(make_node):
    from eresident.seed import seed_demo
    from tests.test_pages import apply_fields, photo, signed_up

    node = make_node(demo=True)
    seed_demo(node.ctx)
    browser = signed_up(node, "script-fields@example.dz")
    for name in APPLICATION_TEXT_FIELDS:
        browser.get("/apply")
        before = row_counts(node)
        fields = apply_fields(Person(), **{name: SCRIPT})
        r = browser.post("/apply", fields, files=photo())  # the Browser fails on any "<script" in a page
        assert r.status_code in (200, 422), (name, r.status_code, r.text[:300])
        assert "<img src=x" not in r.text, name
        if r.status_code == 422:
            assert ESCAPED in r.text or name in SELECTS, f"{name}: the value typed is not shown back (escaped)"
            assert f'href="#{name}"' in r.text, f"{name}: the refusal does not name the field"
            assert_only_the_photo_kept(before, row_counts(node))
        else:  # accepted as text: withdraw nothing, but the next field needs a fresh applicant
            browser = signed_up(node, f"script-{name}@example.dz")


def test_script_typed_into_an_application_is_escaped_on_every_page_that_shows_it(make_node):
    from eresident.seed import seed_demo
    from tests.test_pages import apply_fields, official_browser, photo, signed_up

    node = make_node(demo=True)
    seed_demo(node.ctx)
    applicant = signed_up(node, "script-everywhere@example.dz")
    applicant.get("/apply")
    free_text = {"native_name": f"أمينة {SCRIPT}", "address": f"5 Rue {SCRIPT}, Algiers",
                 "purpose": f"I trade dates {SCRIPT} and want to open a company in the region."}
    r = applicant.post("/apply", apply_fields(Person(), **free_text), files=photo())
    assert r.status_code == 200 and "Application submitted" in r.text, r.text[:500]
    with node.ctx.database.session(write=False) as db:
        app_id = str(db.scalar(select(Application.id)))
    api = Api(node)
    token = applicant.client.cookies["er_session"]
    assert api.book_first_slot(token, app_id).status_code == 201
    pages = [(applicant, "/my"), (applicant, f"/my/applications/{app_id}/edit")]
    for username, urls in (("lj-reviewer", ["/official", f"/official/cases/{app_id}"]),
                           ("lj-agent", ["/agent", f"/agent/cases/{app_id}"])):
        browser, _ = official_browser(node, username)
        pages += [(browser, url) for url in urls]
    shown = 0
    for browser, url in pages:
        page = browser.get(url)  # the Browser fails on any "<script" in a page
        assert page.status_code in (200, 404), (url, page.status_code)
        assert "<img src=x" not in page.text and "onerror=alert" not in page.text.replace("onerror=alert(2)&gt;", "")
        shown += page.text.count(ESCAPED)
    assert shown >= 3, "the typed values were not shown (escaped) on the pages at all"


def test_script_in_the_company_form_is_refused_or_escaped_on_every_page(make_node):
    from eresident.seed import seed_demo
    from tests.enterprise.helpers import NAME_EN, NAME_ZH, Founders
    from tests.enterprise.test_pages import form_data, signed_in

    node = make_node(demo=True)
    seed_demo(node.ctx)
    founders = Founders(Api(node))
    (founder_token, founder), (_s, supervisor) = founders.new("BENALI"), founders.new("HADDAD")
    browser = signed_in(node, founder_token)
    # the name form: script in either name is refused beside the field, shown escaped
    for field in ("name_zh", "name_en"):
        before = row_counts(node)
        values = {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "reserve", field: SCRIPT}
        r = browser.submit("/my/companies/name", "/my/companies/name", values)
        assert r.status_code == 422 and f'id="{field}-error"' in r.text, (field, r.status_code)
        assert "&lt;script&gt;" in r.text and "<img src=x" not in r.text
        assert not written(before, row_counts(node)), field
    r = browser.post("/my/companies/name", {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "reserve"})
    assert r.status_code == 303, r.text[:300]
    form_url = r.headers["location"]
    reservation = form_url.split("=", 1)[1]
    text_fields = ["registered_capital", "investors/0/e_resident_number", "investors/0/share_percent",
                   "legal_representative/e_resident_number", "directors/0/e_resident_number",
                   "supervisor/e_resident_number", "address/zh", "address/en"]
    for field in text_fields:
        browser.get(form_url)
        before = row_counts(node)
        data = {**form_data(founder, supervisor), "name_reservation_id": reservation, field: SCRIPT}
        if field.startswith("address/"):
            data["address/kind"] = "own"
        r = browser.post("/my/companies/new", data)
        assert r.status_code == 422, (field, r.status_code, r.text[:300])
        assert "<img src=x" not in r.text and "&lt;script&gt;" in r.text, field
        assert not written(before, row_counts(node)), field
    # an own address that carries markup is accepted as text: escaped on every page that shows it
    browser.get(form_url)
    data = {**form_data(founder, supervisor), "name_reservation_id": reservation, "address/kind": "own",
            "address/zh": f"重庆市渝北区{SCRIPT}", "address/en": f"1 Road {SCRIPT}, Yubei, Chongqing"}
    r = browser.post("/my/companies/new", data)
    if r.status_code == 422:  # the rules refuse markup in an address: then it is shown back escaped
        assert "&lt;script&gt;" in r.text and "<img src=x" not in r.text
        return
    assert r.status_code == 303, r.text[:300]
    case_url = r.headers["location"]
    for url in ("/my/companies", case_url, f"{case_url}/edit"):
        page = browser.get(url)
        assert page.status_code == 200 and "<img src=x" not in page.text, url
    assert ESCAPED in browser.get(case_url).text


def test_a_made_up_id_in_a_form_is_not_found_not_a_crash(node):
    """Ids travel in forms too (a reservation, a formation): a made-up or malformed one is a 4xx."""
    people = People(node)
    client = node.client()
    for value in (str(uuid.uuid4()), "not-a-uuid", "../../etc/passwd", "1 OR 1=1", "' OR ''='"):
        for method, path in (("POST", "/api/v1/formations"), ("DELETE", "/api/v1/names/reservations/{reservation_id}")):
            url = path.replace("{reservation_id}", value.replace("/", "%2F"))
            r = client.request(method, url, headers=people.headers_for(method, path),
                               json={"name_reservation_id": value} if method == "POST" else None)
            assert_refused_clearly(r, f"{method} {url}")


# --- the checks catch what they are for ------------------------------------------------------------------------

def test_the_checks_catch_planted_defects(make_node):
    """Planted: a server error, a refusal in plain text, a problem whose status lies, and a node
    without its body limit. Each must fail the checks above."""
    import httpx

    request = httpx.Request("POST", "http://lj.test/api/v1/formations")
    planted = [httpx.Response(500, json={"type": "x", "title": "x", "status": 500}, request=request),
               httpx.Response(422, text="name refused", request=request),
               httpx.Response(422, json={"type": "x", "title": "x", "status": 400}, request=request,
                              headers={"content-type": PROBLEM_JSON}),
               httpx.Response(200, json={}, request=request)]
    for response in planted:
        with pytest.raises(AssertionError):
            assert_refused_clearly(response, "planted")
    # A node whose body limit is far above the oversized body: the 413 check notices.
    node = make_node(max_body_bytes=1024 * 1024 * 1024)
    with pytest.raises(AssertionError, match="expected a refusal|413"):
        r = node.client().post("/api/v1/applicants", content=b'{"a": "' + b"x" * 70_000 + b'"}',
                               headers={"content-type": "application/json"})
        assert_refused_clearly(r, "oversized body", statuses=(413,))
    # A form body that is not UTF-8, on a node where the check is taken out, is read as Latin-1.
    from eresident.kit import web

    original = web._is_utf8_form
    web._is_utf8_form = lambda body: True
    try:
        r = make_node(demo=True).client().post("/api/v1/auth/login", content=b"email=\xff",
                                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert not (r.status_code == 400 and r.json()["type"].endswith("/invalid-encoding"))
    finally:
        web._is_utf8_form = original
