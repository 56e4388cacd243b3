"""Which roles grant which permission. A route names a permission; roles are data on officials."""

from __future__ import annotations

PERMISSIONS: dict[str, frozenset[str]] = {
    "residency.review": frozenset({"reviewer"}),
    "residency.decide": frozenset({"approver"}),
    "residency.status": frozenset({"approver", "admin"}),
    "residency.read": frozenset({"reviewer", "approver", "auditor", "admin"}),
    "identity_check.record": frozenset({"site_agent"}),
    "officials.manage": frozenset({"admin"}),
    "screening.manage": frozenset({"admin"}),
    "audit.read": frozenset({"auditor", "admin"}),
    "federation.status": frozenset({"admin"}),
    "enterprise.review": frozenset({"reviewer"}),
    "enterprise.decide": frozenset({"approver"}),
    "enterprise.read": frozenset({"reviewer", "approver", "registrar", "auditor", "admin"}),
    "licence.revoke": frozenset({"registrar"}),
    "workflow.metrics": frozenset({"admin"}),
    "workflow.read": frozenset({"admin", "auditor"}),
    "workflow.publish": frozenset({"admin"}),
    "dashboard.read": frozenset({"admin", "auditor"}),
    "secondment.manage": frozenset({"admin"}),
    "secondment.read": frozenset({"admin", "auditor"}),
    "tax.review": frozenset({"tax_officer"}),
    "banking.monitor": frozenset({"tax_officer", "registrar", "admin"}),
}


def roles_for(permission: str) -> frozenset[str]:
    try:
        return PERMISSIONS[permission]
    except KeyError:  # a typo in a route must not silently open it
        raise LookupError(f"unknown permission {permission!r}") from None
