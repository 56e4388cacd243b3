"""Audit tests run against a node whose app serves the audit API."""

from __future__ import annotations

import pytest

from eresident.audit.routes import router


@pytest.fixture
def node(node):
    """The seeded node of tests/conftest.py, with the audit routes mounted if create_app does
    not mount them yet (until `eresident.audit.routes:router` is included in app.py)."""
    paths = {getattr(route, "path", None) for route in node.app.routes}
    if "/api/v1/audit/checkpoint" not in paths:
        node.app.include_router(router)
    return node
