"""Fixtures the enterprise tests share: the API client of the test's node and two e-residents."""

from __future__ import annotations

import pytest

from tests.enterprise.helpers import Founders
from tests.factories import Api


@pytest.fixture
def api(node) -> Api:
    return Api(node)


@pytest.fixture
def people(api):
    """Two e-residents: the founder (investor, legal representative, director) and the supervisor."""
    founders = Founders(api)
    founder_token, founder = founders.new("BENALI")
    supervisor_token, supervisor = founders.new("HADDAD")
    return founders, (founder_token, founder), (supervisor_token, supervisor)
