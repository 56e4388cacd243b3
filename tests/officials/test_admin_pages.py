"""The administrator's pages on officials: the list (seconded-in officials marked), a new official
whose password and TOTP secret are shown once and work, granting and revoking roles, deactivating
(which ends sessions at once), and the refusals: not an admin, no form token, a duplicate username,
an admin demoting or deactivating themselves, a seconded-in official's roles."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from eresident.audit.models import AuditEvent
from eresident.audit.service import Actor
from eresident.officials import service as officials
from eresident.officials.models import Official
from eresident.officials.secondment_models import Secondee
from eresident.security.models import AuthSession
from eresident.security.totp import current_code
from tests.test_pages import Browser, code_for, count, csrf_of, official_browser

NEW = "/official/admin/officials/new"


def official_id(node, username: str) -> uuid.UUID:
    with node.ctx.database.session(write=False) as db:
        return officials.by_username(db, username).id


def roles_of(node, username: str) -> set[tuple[str, str]]:
    with node.ctx.database.session(write=False) as db:
        return {(g.role, g.region) for g in officials.by_username(db, username).roles}


def audit_actions(node, entity_id: uuid.UUID) -> list[tuple[str, str]]:
    """(action, actor id) of the audit events about an official, oldest first."""
    with node.ctx.database.session(write=False) as db:
        return [(e.action, e.actor_id) for e in db.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == str(entity_id)).order_by(AuditEvent.occurred_at))]


def field_error(page: str, field: str) -> str:
    """The error shown beside a field (inside the field's own block)."""
    block = re.search(rf'<div class="field has-error">\s*<label for="{field}">.*?</div>', page, flags=re.S)
    assert block, f"no error beside {field}"
    return re.sub(r"<[^>]+>", "", re.search(r'class="field-error"[^>]*>(.*?)</p>', block.group(0), re.S).group(1))


def code_text(page: str, element_id: str) -> str:
    return re.search(rf'<code dir="ltr"(?: class="hash")? id="{element_id}">([^<]+)</code>', page).group(1)


def test_the_worklist_links_administrators_to_their_pages(node):
    admin, _ = official_browser(node, "lj-admin")
    page = admin.get("/official").text
    assert 'href="/official/admin/officials"' in page and 'href="/official/admin/processes"' in page
    reviewer, _ = official_browser(node, "lj-reviewer")
    page = reviewer.get("/official").text
    assert "/official/admin/" not in page


def test_an_admin_creates_an_official_who_signs_in_with_what_was_shown_once(node):
    admin, _ = official_browser(node, "lj-admin")
    listing = admin.get("/official/admin/officials")
    assert listing.status_code == 200
    for username in ("lj-admin", "lj-reviewer", "lj-approver"):
        assert f'<span dir="ltr">{username}</span>' in listing.text

    r = admin.submit(NEW, NEW, {"username": "lj-registrar2", "display_name": "Registrar Chen Jie",
                                "roles": ["registrar", "reviewer"]})
    assert r.status_code == 201, r.text
    page = r.text
    assert "cannot be shown again" in page
    password, secret, uri = code_text(page, "password"), code_text(page, "totp-secret"), code_text(page, "totp-uri")
    assert len(password) >= 20 and uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert '<svg role="img" aria-labelledby="totp-qr-label"' in page and 'id="totp-qr-label"' in page
    assert roles_of(node, "lj-registrar2") == {("registrar", "LJ"), ("reviewer", "LJ")}

    # Shown once: the official's own page holds neither the password nor the secret.
    new_id = official_id(node, "lj-registrar2")
    detail = admin.get(f"/official/admin/officials/{new_id}").text
    assert password not in detail and secret not in detail
    assert ("official.created", official_id(node, "lj-admin").__str__()) in audit_actions(node, new_id)

    # What was shown works: the new official signs in with it.
    newcomer = Browser(node)
    r = newcomer.submit("/official/login", "/official/login", {
        "username": "lj-registrar2", "password": password, "totp": current_code(secret, node.clock.now())})
    assert r.status_code == 303 and r.headers["location"] == "/official", r.text
    assert "Registrar Chen Jie" in newcomer.get("/official").text


def test_a_duplicate_or_malformed_username_is_refused_beside_the_field(node):
    admin, _ = official_browser(node, "lj-admin")
    before = count(node, Official)
    r = admin.submit(NEW, NEW, {"username": "lj-reviewer", "display_name": "Someone else", "roles": ["reviewer"]})
    assert r.status_code == 409
    assert "exists" in field_error(r.text, "username")
    assert 'href="#username"' in r.text  # the summary links to the field
    assert 'value="Someone else"' in r.text and 'value="reviewer" checked' in r.text  # what was typed stays

    r = admin.submit(NEW, NEW, {"username": "Lj Reviewer", "display_name": " "})
    assert r.status_code == 422
    assert "lowercase letters" in field_error(r.text, "username")
    assert "Enter the name" in field_error(r.text, "display_name")
    assert count(node, Official) == before


def test_someone_who_is_not_an_admin_is_refused(node):
    reviewer, _ = official_browser(node, "lj-reviewer")
    for url in ("/official/admin/officials", NEW, f"/official/admin/officials/{official_id(node, 'lj-approver')}"):
        assert reviewer.get(url).status_code == 403, url
    before = count(node, Official)
    token = csrf_of(reviewer.get("/official").text)  # a valid token (the sign-out form's): the role is missing
    r = reviewer.post(NEW, {"username": "lj-sneaky", "display_name": "Sneaky", "roles": ["admin"]}, csrf=token)
    assert r.status_code == 403
    r = reviewer.post(f"/official/admin/officials/{official_id(node, 'lj-reviewer')}/grant", {"role": "admin"},
                      csrf=token)
    assert r.status_code == 403
    assert count(node, Official) == before and roles_of(node, "lj-reviewer") == {("reviewer", "LJ")}


def test_a_form_without_its_token_changes_nothing(node):
    admin, _ = official_browser(node, "lj-admin")
    admin.get(NEW)
    before = count(node, Official)
    r = admin.post(NEW, {"username": "lj-no-token", "display_name": "No token"}, csrf="")
    assert r.status_code == 403 and "no longer valid" in r.text
    reviewer = official_id(node, "lj-reviewer")
    r = admin.client.post(f"/official/admin/officials/{reviewer}/deactivate", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert count(node, Official) == before
    with node.ctx.database.session(write=False) as db:
        assert db.get(Official, reviewer).active


def test_an_admin_grants_and_revokes_a_role(node):
    admin, _ = official_browser(node, "lj-admin")
    target = official_id(node, "lj-reviewer")
    page = admin.get(f"/official/admin/officials/{target}").text
    assert '<option value="registrar">' in page and '<option value="reviewer">' not in page  # held already
    r = admin.post(f"/official/admin/officials/{target}/grant", {"role": "registrar"})
    assert r.status_code == 303 and r.headers["location"] == f"/official/admin/officials/{target}?done=granted"
    assert "The role was granted." in admin.get(r.headers["location"]).text
    assert roles_of(node, "lj-reviewer") == {("reviewer", "LJ"), ("registrar", "LJ")}

    r = admin.post(f"/official/admin/officials/{target}/revoke", {"role": "registrar"})
    assert r.status_code == 303
    assert roles_of(node, "lj-reviewer") == {("reviewer", "LJ")}
    admin_id = str(official_id(node, "lj-admin"))
    actions = audit_actions(node, target)
    assert ("official.role_granted", admin_id) in actions and ("official.role_revoked", admin_id) in actions

    # Revoking a role the official does not hold says so on the page.
    admin.get(f"/official/admin/officials/{target}")
    r = admin.post(f"/official/admin/officials/{target}/revoke", {"role": "approver"})
    assert r.status_code == 409 and "does not hold approver" in r.text


def test_an_admin_cannot_remove_their_own_admin_role_or_deactivate_themselves(node):
    admin, _ = official_browser(node, "lj-admin")
    me = official_id(node, "lj-admin")
    page = admin.get(f"/official/admin/officials/{me}").text
    assert "This is your own account" in page
    assert 'value="admin"><button' not in page and "/deactivate" not in page  # no button to do it

    r = admin.post(f"/official/admin/officials/{me}/revoke", {"role": "admin"})
    assert r.status_code == 409
    assert "You cannot remove your own administrator role" in r.text and 'class="error-summary"' in r.text
    admin.get(f"/official/admin/officials/{me}")
    r = admin.post(f"/official/admin/officials/{me}/deactivate", {})
    assert r.status_code == 409 and "You cannot deactivate your own account" in r.text
    assert ("admin", "LJ") in roles_of(node, "lj-admin")
    with node.ctx.database.session(write=False) as db:
        assert db.get(Official, me).active
    # Another role of their own they may give up.
    admin.get(f"/official/admin/officials/{me}")
    assert admin.post(f"/official/admin/officials/{me}/revoke", {"role": "auditor"}).status_code == 303


def test_deactivation_ends_the_officials_sessions_at_once(node):
    reviewer, _ = official_browser(node, "lj-reviewer")
    assert reviewer.get("/official").status_code == 200
    admin, _ = official_browser(node, "lj-admin")
    target = official_id(node, "lj-reviewer")
    admin.get(f"/official/admin/officials/{target}")
    r = admin.post(f"/official/admin/officials/{target}/deactivate", {})
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert "sessions have ended" in page and "/reactivate" in page
    r = reviewer.get("/official")
    assert r.status_code == 303 and r.headers["location"] == "/official/login"
    with node.ctx.database.session(write=False) as db:
        assert db.scalar(select(func.count()).select_from(AuthSession).where(
            AuthSession.principal_id == target, AuthSession.revoked_at.is_(None))) == 0
    node.clock.advance(timedelta(seconds=30))
    refused = Browser(node).submit("/official/login", "/official/login", {
        "username": "lj-reviewer", "password": "demo-password-2026", "totp": code_for(node, "lj-reviewer")})
    assert refused.status_code == 401

    r = admin.post(f"/official/admin/officials/{target}/reactivate", {})
    assert r.status_code == 303
    again, r = official_browser(node, "lj-reviewer")
    assert r.status_code == 303 and again.get("/official").status_code == 200
    assert [a for a, _ in audit_actions(node, target)][-2:] == ["official.deactivated", "official.reactivated"]


def test_a_seconded_in_official_is_marked_and_follows_the_secondment(node):
    with node.ctx.database.session(write=True) as db:
        shadow, _ = officials.create_official(ctx=node.ctx, db=db, username="tf-reviewer-on-loan",
                                              display_name="Reviewer from Tianfu", password="on loan from tianfu",
                                              roles=["reviewer"], actor=Actor.system())
        shadow.home_region = "TF"
        db.add(Secondee(official_id=shadow.id, home_region="TF", home_official_id=str(uuid.uuid4()),
                        created_at=node.clock.now()))
        shadow_id = shadow.id
    admin, _ = official_browser(node, "lj-admin")
    listing = admin.get("/official/admin/officials").text
    row = re.search(r"<tr><th scope=\"row\"><a href=\"/official/admin/officials/%s\">.*?</tr>" % shadow_id, listing,
                    flags=re.S).group(0)
    assert "seconded in" in row
    page = admin.get(f"/official/admin/officials/{shadow_id}").text
    assert "follow the secondment" in page and "/grant" not in page and "/deactivate" not in page
    r = admin.post(f"/official/admin/officials/{shadow_id}/grant", {"role": "approver"})
    assert r.status_code == 409 and "seconded from TF" in r.text
    assert roles_of(node, "tf-reviewer-on-loan") == {("reviewer", "LJ")}


def test_an_unknown_official_is_not_found(node):
    admin, _ = official_browser(node, "lj-admin")
    assert admin.get(f"/official/admin/officials/{uuid.uuid4()}").status_code == 404
    assert admin.get("/official/admin/officials/not-an-id").status_code == 422


def test_the_pages_read_in_chinese_and_arabic(node):
    admin, _ = official_browser(node, "lj-admin")
    target = official_id(node, "lj-reviewer")
    for lang, word in (("zh", "工作人员"), ("ar", "الموظف")):
        admin.client.cookies.set("er_lang", lang)
        for url in ("/official/admin/officials", NEW, f"/official/admin/officials/{target}?done=granted"):
            r = admin.get(url)
            assert r.status_code == 200 and f'<html lang="{lang}"' in r.text and word in r.text, url
        r = admin.submit(NEW, NEW, {"username": f"lj-{lang}-reader", "display_name": "Reader", "roles": ["auditor"]})
        assert r.status_code == 201 and f'<html lang="{lang}"' in r.text
