"""The permissions matrix: every route of the node × every kind of caller, allowed or refused.

POLICY below is the specification: one entry per route, written by hand. The routes are read from
the application itself, so a route added without an entry (or an entry whose route is gone) fails
`test_every_route_has_a_policy`. Each cell then calls the route as one caller:

- anonymous; an applicant; an official holding exactly one role in this region (every role);
  the same role granted only in the other region; an applicant whose session has expired.
- refused means 401 or 403 (a page may instead redirect to its sign-in page);
- allowed means the request got past authorisation: any other status below 500 (a made-up
  case id then gives 404, an empty body 422 — both show the caller was let in).

Every caller uses a bearer session created for that cell, so one cell (a logout) never spoils
another. CSRF, another applicant's case and another applicant's document are covered below.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute

from eresident.audit.service import Actor
from eresident.officials.models import ROLES
from eresident.officials.service import create_official, grant_role
from eresident.security.permissions import roles_for
from eresident.security.service import start_session
from tests.factories import Api, bearer

PUBLIC, APPLICANT, OFFICIAL, PEER = "public", "applicant", "official", "peer"
E_RESIDENT = "e-resident"  # an applicant the region approved; other applicants may be refused or not found
SESSION = "session"  # anyone signed in (ending a session)
SIGN_IN = "sign-in"  # anyone may try; a 401 there is the answer to wrong credentials


def perm(name: str) -> str:
    roles_for(name)  # an unknown permission is a typo in this table
    return f"perm:{name}"


POLICY: dict[tuple[str, str], str] = {
    # node, discovery, public verification
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/.well-known/jwt-vc-issuer"): PUBLIC,
    ("GET", "/.well-known/eresident/node-keys"): PUBLIC,
    ("GET", "/status-lists/{list_id}"): PUBLIC,
    ("POST", "/api/v1/credentials/verify"): PUBLIC,
    ("GET", "/api/v1/audit/checkpoint"): PUBLIC,
    ("GET", "/api/v1/audit/key"): PUBLIC,
    ("GET", "/api/v1/audit/events/{event_id}/inclusion"): PUBLIC,
    ("GET", "/api/v1/audit/proofs/inclusion"): PUBLIC,
    ("GET", "/api/v1/audit/proofs/consistency"): PUBLIC,
    ("GET", "/api/v1/audit/checkpoints/{tree_size}"): PUBLIC,
    ("GET", "/api/v1/licences/{uscc}/inclusion"): PUBLIC,
    ("GET", "/api/v1/sites"): PUBLIC,
    ("GET", "/api/v1/sites/{code}/slots"): PUBLIC,
    ("GET", "/api/v1/business-scope"): PUBLIC,
    ("GET", "/api/v1/licences/{uscc}"): PUBLIC,
    ("POST", "/api/v1/licences/verify"): PUBLIC,
    ("GET", "/verify/licences/{uscc}"): PUBLIC,
    ("GET", "/verify/licence/{uscc}"): PUBLIC,
    # accounts and sign-in
    ("POST", "/api/v1/applicants"): PUBLIC,
    ("POST", "/api/v1/applicants/confirm"): PUBLIC,
    ("POST", "/api/v1/auth/login"): SIGN_IN,
    ("POST", "/api/v1/auth/logout"): SESSION,
    ("POST", "/api/v1/officials/login"): SIGN_IN,
    ("GET", "/api/v1/officials/me"): OFFICIAL,
    # the applicant's own things
    ("POST", "/api/v1/applications"): APPLICANT,
    ("GET", "/api/v1/applications"): APPLICANT,
    ("GET", "/api/v1/applications/{application_id}"): APPLICANT,
    ("POST", "/api/v1/applications/{application_id}/resubmit"): APPLICANT,
    ("POST", "/api/v1/applications/{application_id}/appointment"): APPLICANT,
    ("POST", "/api/v1/documents"): APPLICANT,
    # the owner (applicant) or an official who may read the case; anyone else gets 404 or 401
    ("GET", "/api/v1/documents/{document_id}"): "document",
    ("POST", "/api/v1/credentials/e-residency"): E_RESIDENT,
    ("POST", "/api/v1/names/check"): E_RESIDENT,
    ("POST", "/api/v1/names/reservations"): E_RESIDENT,
    ("GET", "/api/v1/names/reservations"): E_RESIDENT,
    ("DELETE", "/api/v1/names/reservations/{reservation_id}"): E_RESIDENT,
    ("POST", "/api/v1/formations"): E_RESIDENT,
    ("GET", "/api/v1/formations"): E_RESIDENT,
    ("GET", "/api/v1/formations/{formation_id}"): E_RESIDENT,
    ("PUT", "/api/v1/formations/{formation_id}"): E_RESIDENT,
    ("POST", "/api/v1/formations/{formation_id}/submit"): E_RESIDENT,
    ("GET", "/api/v1/formations/{formation_id}/articles"): E_RESIDENT,
    ("POST", "/api/v1/formations/{formation_id}/signatures"): E_RESIDENT,
    ("GET", "/api/v1/formations/{formation_id}/signatures"): E_RESIDENT,
    ("GET", "/api/v1/formations/{formation_id}/signing-input"): E_RESIDENT,
    ("GET", "/api/v1/formations/{formation_id}/licence"): E_RESIDENT,
    ("GET", "/api/v1/formations/{formation_id}/report"): E_RESIDENT,
    ("POST", "/api/v1/formations/{formation_id}/licence/credential"): E_RESIDENT,
    # officials' work
    ("GET", "/api/v1/cases"): perm("residency.read"),
    ("GET", "/api/v1/cases/{application_id}"): perm("residency.read"),
    ("POST", "/api/v1/cases/{application_id}/claim"): perm("residency.review"),
    ("POST", "/api/v1/cases/{application_id}/release"): perm("residency.review"),
    ("POST", "/api/v1/cases/{application_id}/request-info"): perm("residency.review"),
    ("POST", "/api/v1/cases/{application_id}/recommend"): perm("residency.review"),
    ("POST", "/api/v1/cases/{application_id}/decide"): perm("residency.decide"),
    ("POST", "/api/v1/e-residents/{number}/status"): perm("residency.status"),
    ("GET", "/api/v1/agent/appointments"): perm("identity_check.record"),
    ("POST", "/api/v1/cases/{application_id}/identity-check"): perm("identity_check.record"),
    ("GET", "/api/v1/formation-cases"): perm("enterprise.read"),
    ("GET", "/api/v1/formation-cases/{formation_id}"): perm("enterprise.read"),
    ("POST", "/api/v1/formation-cases/{formation_id}/claim"): perm("enterprise.review"),
    ("POST", "/api/v1/formation-cases/{formation_id}/recommend"): perm("enterprise.review"),
    ("POST", "/api/v1/formation-cases/{formation_id}/decide"): perm("enterprise.decide"),
    # licence revocation and the foreign-investment report PDF (docs/enterprise.md)
    ("GET", "/api/v1/formation-cases/{formation_id}/licence"): perm("enterprise.read"),
    ("GET", "/api/v1/formation-cases/{formation_id}/partner-signatures/{party_id}"): perm("enterprise.read"),
    ("GET", "/api/v1/formations/{formation_id}/partner-signatures/{party_id}"): E_RESIDENT,
    # a joint venture's Chinese partner: no account, the invitation link (an HMAC token) is the authority
    ("GET", "/api/v1/partner-signing/{party_id}/{token}"): PUBLIC,
    ("GET", "/api/v1/partner-signing/{party_id}/{token}/articles"): PUBLIC,
    ("POST", "/api/v1/partner-signing/{party_id}/{token}"): PUBLIC,
    ("GET", "/partner-signing/{party_id}/{token}"): PUBLIC,
    ("GET", "/partner-signing/{party_id}/{token}/articles.pdf"): PUBLIC,
    ("POST", "/partner-signing/{party_id}/{token}"): PUBLIC,
    ("GET", "/api/v1/formation-cases/{formation_id}/report/pdf"): perm("enterprise.read"),
    ("GET", "/api/v1/official/licence-revocation-reasons"): perm("enterprise.read"),
    ("POST", "/api/v1/official/licences/{uscc}/revoke"): perm("licence.revoke"),
    ("GET", "/api/v1/formations/{formation_id}/report/pdf"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}/report/pdf"): E_RESIDENT,
    ("GET", "/official/companies"): perm("enterprise.read"),
    ("GET", "/official/companies/{formation_id}"): perm("enterprise.read"),
    ("POST", "/official/companies/{formation_id}/revoke"): perm("licence.revoke"),
    ("GET", "/official/companies/{formation_id}/licence"): perm("enterprise.read"),
    ("GET", "/official/companies/{formation_id}/report"): perm("enterprise.read"),
    ("GET", "/verify/licences"): PUBLIC,
    ("POST", "/verify/licences"): PUBLIC,
    ("GET", "/api/v1/workflow/processes/{process}/metrics"): perm("workflow.metrics"),
    ("GET", "/api/v1/federation/status"): perm("federation.status"),
    # other nodes: signed messages only
    ("POST", "/api/v1/federation/messages"): PEER,
    # the partner bank: signed callbacks only
    ("POST", "/api/v1/bank-callbacks"): PEER,
    # tax registration and the bank account of a company
    ("PUT", "/api/v1/formations/{formation_id}/tax-preferences"): E_RESIDENT,
    ("GET", "/api/v1/companies/{uscc}/tax"): E_RESIDENT,
    ("GET", "/api/v1/companies/{uscc}/tax/obligations"): E_RESIDENT,
    ("GET", "/api/v1/banks"): PUBLIC,
    ("POST", "/api/v1/formations/{formation_id}/bank-consent"): E_RESIDENT,
    ("POST", "/api/v1/companies/{uscc}/bank/requests"): E_RESIDENT,
    ("GET", "/api/v1/companies/{uscc}/bank"): E_RESIDENT,
    ("POST", "/api/v1/companies/{uscc}/bank/video-call"): E_RESIDENT,
    ("GET", "/api/v1/tax-registrations"): perm("tax.review"),
    ("GET", "/api/v1/tax-registrations/{registration_id}"): perm("tax.review"),
    ("POST", "/api/v1/tax-registrations/{registration_id}/claim"): perm("tax.review"),
    ("POST", "/api/v1/tax-registrations/{registration_id}/decide"): perm("tax.review"),
    ("GET", "/api/v1/bank-requests/stuck"): perm("banking.monitor"),
    # cadre exchange: administrators arrange secondments; an official fetches their own credential
    ("POST", "/api/v1/secondments"): perm("secondment.manage"),
    ("GET", "/api/v1/secondments"): perm("secondment.read"),
    ("POST", "/api/v1/secondments/{secondment_id}/accept"): perm("secondment.manage"),
    ("POST", "/api/v1/secondments/{secondment_id}/decline"): perm("secondment.manage"),
    ("POST", "/api/v1/secondments/{secondment_id}/withdraw"): perm("secondment.manage"),
    ("GET", "/api/v1/officials/me/secondments"): OFFICIAL,
    ("POST", "/api/v1/officials/me/secondments/{secondment_id}/credential"): OFFICIAL,
    ("POST", "/api/v1/officials/secondee-login"): SIGN_IN,
    ("GET", "/official/exchange"): perm("secondment.read"),
    ("GET", "/official/secondments"): OFFICIAL,
    # cross-region cases: an e-resident files at home; people in a case follow and sign it (others: not found)
    ("POST", "/api/v1/cross-region-cases"): E_RESIDENT,
    ("GET", "/api/v1/cross-region-cases"): APPLICANT,
    ("GET", "/api/v1/cross-region-cases/{case_number}"): APPLICANT,
    ("GET", "/api/v1/cross-region-cases/{case_number}/articles"): APPLICANT,
    ("GET", "/api/v1/cross-region-cases/{case_number}/licence"): APPLICANT,
    ("POST", "/api/v1/cross-region-cases/{case_number}/signatures"): APPLICANT,
    ("GET", "/api/v1/official/cross-region-cases"): perm("enterprise.read"),
    ("GET", "/api/v1/official/cross-region-cases/{case_number}"): perm("enterprise.read"),
    ("POST", "/official/secondments/{secondment_id}/credential"): OFFICIAL,
    ("GET", "/official/secondee-login"): PUBLIC,
    ("POST", "/official/secondee-login"): SIGN_IN,
    # the leadership dashboard
    ("GET", "/official/dashboard"): perm("dashboard.read"),
    # the language a person reads
    ("GET", "/language"): PUBLIC,
    # recognition of another region's e-resident: any applicant account presents a credential
    ("GET", "/api/v1/recognitions/challenge"): APPLICANT,
    ("POST", "/api/v1/recognitions"): APPLICANT,
    ("GET", "/api/v1/recognitions"): APPLICANT,
    # pages for applicants
    ("GET", "/"): PUBLIC,
    ("GET", "/signup"): PUBLIC,
    ("POST", "/signup"): PUBLIC,
    ("GET", "/confirm"): PUBLIC,
    ("POST", "/confirm"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): SIGN_IN,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/my"): APPLICANT,
    ("GET", "/apply"): APPLICANT,
    ("POST", "/apply"): APPLICANT,
    ("GET", "/apply/one-page"): APPLICANT,
    ("GET", "/apply/check"): APPLICANT,
    ("POST", "/apply/check"): APPLICANT,
    ("GET", "/apply/{slug}"): APPLICANT,
    ("POST", "/apply/{slug}"): APPLICANT,
    ("GET", "/my/applications/{application_id}/edit"): APPLICANT,
    ("POST", "/my/applications/{application_id}/edit"): APPLICANT,
    ("POST", "/my/applications/{application_id}/book"): APPLICANT,
    ("POST", "/my/credential"): APPLICANT,
    ("GET", "/my/companies"): E_RESIDENT,
    ("GET", "/my/companies/name"): E_RESIDENT,
    ("POST", "/my/companies/name"): E_RESIDENT,
    ("GET", "/my/companies/new"): E_RESIDENT,
    ("POST", "/my/companies/new"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}/edit"): E_RESIDENT,
    ("POST", "/my/companies/{formation_id}/edit"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}"): E_RESIDENT,
    ("POST", "/my/companies/{formation_id}/submit"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}/articles"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}/sign"): E_RESIDENT,
    ("POST", "/my/companies/{formation_id}/sign"): E_RESIDENT,
    ("POST", "/my/companies/{formation_id}/sign-with-key"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}/licence"): E_RESIDENT,
    ("GET", "/my/companies/{formation_id}/report"): E_RESIDENT,
    ("POST", "/api/v1/formations/{formation_id}/bank-consent/withdrawal"): E_RESIDENT,
    ("POST", "/api/v1/companies/{uscc}/bank/consent-withdrawal"): E_RESIDENT,
    ("GET", "/my/companies/{uscc}/tax"): APPLICANT,
    ("GET", "/my/companies/{uscc}/bank"): APPLICANT,
    ("POST", "/my/companies/{uscc}/bank/requests"): APPLICANT,
    ("POST", "/my/companies/{uscc}/bank/video-call"): APPLICANT,
    ("POST", "/my/companies/{uscc}/bank/withdrawal"): APPLICANT,
    ("GET", "/my/cross-region-cases"): E_RESIDENT,
    ("GET", "/my/cross-region-cases/new"): E_RESIDENT,
    ("POST", "/my/cross-region-cases/new"): E_RESIDENT,
    ("GET", "/my/cross-region-cases/{case_number}"): APPLICANT,
    ("POST", "/my/cross-region-cases/{case_number}/sign"): APPLICANT,
    ("GET", "/my/cross-region-cases/{case_number}/articles"): APPLICANT,
    ("GET", "/my/cross-region-cases/{case_number}/licence"): APPLICANT,
    # pages for officials
    ("GET", "/official/login"): PUBLIC,
    ("POST", "/official/login"): SIGN_IN,
    ("GET", "/official"): OFFICIAL,
    ("GET", "/official/cases/{application_id}"): perm("residency.read"),
    # the page needs residency.read; each action then its own permission (here: claim)
    ("POST", "/official/cases/{application_id}/{action}"): perm("residency.review"),
    ("GET", "/agent"): perm("identity_check.record"),
    ("GET", "/agent/cases/{application_id}"): perm("identity_check.record"),
    ("POST", "/agent/cases/{application_id}"): perm("identity_check.record"),
    # administrators: officials and roles (API and pages); process definitions (auditors read them)
    ("GET", "/api/v1/officials"): perm("officials.manage"),
    ("POST", "/api/v1/officials"): perm("officials.manage"),
    ("POST", "/api/v1/officials/{official_id}/roles"): perm("officials.manage"),
    ("DELETE", "/api/v1/officials/{official_id}/roles/{role}"): perm("officials.manage"),
    ("POST", "/api/v1/officials/{official_id}/deactivate"): perm("officials.manage"),
    ("POST", "/api/v1/officials/{official_id}/activate"): perm("officials.manage"),
    ("GET", "/official/admin/officials"): perm("officials.manage"),
    ("GET", "/official/admin/officials/new"): perm("officials.manage"),
    ("POST", "/official/admin/officials/new"): perm("officials.manage"),
    ("GET", "/official/admin/officials/{official_id}"): perm("officials.manage"),
    ("POST", "/official/admin/officials/{official_id}/grant"): perm("officials.manage"),
    ("POST", "/official/admin/officials/{official_id}/revoke"): perm("officials.manage"),
    ("POST", "/official/admin/officials/{official_id}/deactivate"): perm("officials.manage"),
    ("POST", "/official/admin/officials/{official_id}/reactivate"): perm("officials.manage"),
    ("GET", "/api/v1/workflow/processes"): perm("workflow.read"),
    ("GET", "/api/v1/workflow/processes/{process}/versions/{version}"): perm("workflow.read"),
    ("POST", "/api/v1/workflow/processes/validate"): perm("workflow.publish"),
    ("POST", "/api/v1/workflow/processes"): perm("workflow.publish"),
    ("GET", "/official/admin/processes"): perm("workflow.read"),
    ("GET", "/official/admin/processes/{process}/{version}"): perm("workflow.read"),
    ("GET", "/official/admin/processes/publish"): perm("workflow.publish"),
    ("POST", "/official/admin/processes/publish"): perm("workflow.publish"),
}

# Sample values for path parameters: well-formed, naming nothing that exists.
PATH_VALUES = {"code": "MK-ZZZ", "number": "LJ-ER-2026-999999", "uscc": "91500000MA5U000000",
               "process": "e-residency", "version": "1", "role": "auditor", "action": "claim", "list_id": "1",
               "case_number": "LJ-CF-2026-999999"}


def app_routes(app) -> dict[tuple[str, str], APIRoute]:
    """Every (method, path) the application serves, included routers too."""
    found: dict[tuple[str, str], APIRoute] = {}

    def walk(routes):
        for route in routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.120)
                walk(route.original_router.routes)
            elif isinstance(route, APIRoute):
                for method in route.methods - {"HEAD"}:
                    found[(method, route.path)] = route
            elif hasattr(route, "routes") and not hasattr(route, "app"):
                walk(route.routes)

    walk(app.router.routes)
    return found


def concrete(path: str) -> str:
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        value = PATH_VALUES.get(name, str(uuid.uuid4()))
        path = path.replace("{" + name + "}", value)
    return path


@dataclass(frozen=True)
class Caller:
    name: str
    kind: str  # anonymous | applicant | e-resident | official | expired
    roles: frozenset[str] = frozenset()  # roles held in THIS region


def allowed(policy: str, caller: Caller) -> bool | None:
    """Whether the caller must get past authorisation; None: the route decides case by case."""
    if policy == PUBLIC:
        return True
    if policy == SIGN_IN:
        return None
    if policy == SESSION:
        return caller.kind in ("applicant", "e-resident", "official")
    if policy == E_RESIDENT:
        return True if caller.kind == "e-resident" else None if caller.kind == "applicant" else False
    if policy == PEER:
        return False  # no session of any kind signs a federation message
    if policy == APPLICANT:
        return caller.kind in ("applicant", "e-resident")
    if policy == OFFICIAL:
        return caller.kind == "official"
    if policy == "document":
        return None if caller.kind in ("applicant", "e-resident", "official") else False
    assert policy.startswith("perm:"), policy
    return caller.kind == "official" and bool(caller.roles & roles_for(policy.removeprefix("perm:")))


def refused(response) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    return response.status_code in (302, 303, 307) and "login" in location


def test_every_route_has_a_policy(node):
    served = set(app_routes(node.app))
    missing = sorted(served - set(POLICY))
    stale = sorted(set(POLICY) - served)
    assert not missing, "routes without an entry in POLICY (decide who may call them):\n" + \
        "\n".join(f"    {m!r}: ...," for m in missing)
    assert not stale, f"POLICY names routes the app no longer serves: {stale}"


@pytest.fixture
def callers(node):
    """Callers and a way to give each a fresh session: {caller: () -> bearer token}."""
    ctx = node.ctx
    api = Api(node)
    api.applicant(email="matrix-applicant@example.dz")
    _token, number = api.e_resident()
    other_region = "TF" if ctx.region != "TF" else "LJ"
    people: dict[Caller, tuple[str, uuid.UUID]] = {}
    with ctx.database.session(write=True) as db:
        from sqlalchemy import select

        from eresident.identity.models import Applicant

        applicant = db.scalar(select(Applicant).where(Applicant.email == "matrix-applicant@example.dz"))
        people[Caller("applicant", "applicant")] = ("applicant", applicant.id)
        people[Caller("expired-applicant", "expired")] = ("applicant", applicant.id)
        from eresident.identity.models import EResident

        resident = db.scalar(select(EResident).where(EResident.number == number))
        people[Caller("e-resident", "e-resident")] = ("applicant", resident.applicant_id)
        for role in ROLES:
            here, _ = create_official(ctx=ctx, db=db, username=f"matrix-{role}", display_name=role,
                                      password="matrix password 2026", roles=[role], actor=Actor.system())
            people[Caller(f"{role}@{ctx.region}", "official", frozenset({role}))] = ("official", here.id)
            there, _ = create_official(ctx=ctx, db=db, username=f"matrix-{role}-elsewhere",
                                       display_name=role, password="matrix password 2026", roles=[],
                                       actor=Actor.system())
            grant_role(ctx=ctx, db=db, official=there, role=role, actor=Actor.system(), region=other_region)
            people[Caller(f"{role}@{other_region}", "official")] = ("official", there.id)

    def session_for(caller: Caller) -> str | None:
        if caller.kind == "anonymous":
            return None
        principal_type, principal_id = people[caller]
        now = ctx.clock.now()
        if caller.kind == "expired":
            now -= timedelta(hours=48)  # started two days ago: long over
        with ctx.database.session(write=True) as db:
            return start_session(db=db, principal_type=principal_type, principal_id=principal_id, now=now,
                                 hours=8)

    return [Caller("anonymous", "anonymous"), *people], session_for


def test_permissions_matrix(node, callers):
    everyone, session_for = callers
    routes = app_routes(node.app)
    client = node.client()
    wrong: list[str] = []
    cells = 0
    for (method, path), policy in sorted(POLICY.items()):
        if (method, path) not in routes:
            continue  # test_every_route_has_a_policy reports it
        url = concrete(path)
        for caller in everyone:
            expected = allowed(policy, caller)
            token = session_for(caller)
            headers = bearer(token) if token else {}
            kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            r = client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
            cells += 1
            if r.status_code >= 500:
                wrong.append(f"{method} {path} as {caller.name}: {r.status_code} (a server error)")
            elif expected is True and refused(r):
                wrong.append(f"{method} {path} as {caller.name}: refused ({r.status_code}), should be allowed")
            elif expected is False and not refused(r):
                wrong.append(f"{method} {path} as {caller.name}: {r.status_code}, should be refused")
    print(f"permissions matrix: {cells} cells, {len(POLICY)} routes, {len(everyone)} callers")
    assert cells >= len(POLICY) * len(everyone) * 0.9
    assert not wrong, f"{len(wrong)} wrong cells:\n" + "\n".join(wrong[:40])


def test_a_cookie_session_without_a_csrf_token_changes_nothing(node):
    api = Api(node)
    token = api.applicant()
    client = node.client()
    client.cookies.set("er_session", token)
    documents = node.count("documents") if hasattr(node, "count") else None
    r = client.post("/api/v1/documents", data={"kind": "photo"}, files={"file": ("p.png", b"x", "image/png")})
    assert r.status_code == 403 and r.json()["type"].endswith("/csrf"), r.text
    r = client.post("/my/credential", data={})
    assert r.status_code == 403
    if documents is not None:
        assert node.count("documents") == documents


def test_an_applicant_cannot_read_another_applicants_case_or_document(node):
    api = Api(node)
    owner = api.applicant()
    r = api.submit(owner)
    assert r.status_code == 201, r.text
    case = r.json()
    with node.ctx.database.session(write=False) as db:
        from sqlalchemy import select

        from eresident.identity.models import Application

        photo = db.scalar(select(Application.photo_document_id).where(Application.id == uuid.UUID(case["id"])))
    stranger = api.applicant()
    for url in (f"/api/v1/applications/{case['id']}", f"/api/v1/documents/{photo}",
                f"/my/applications/{case['id']}/edit"):
        r = api.client.get(url, headers=bearer(stranger), follow_redirects=False)
        assert r.status_code == 404, (url, r.status_code)  # not 403: its existence is not revealed
        assert api.client.get(url, headers=bearer(owner), follow_redirects=False).status_code == 200, url
