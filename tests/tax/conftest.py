"""The tax tests use the enterprise tests' fixtures: the node's API client and two e-residents."""

from tests.enterprise.conftest import api, people  # noqa: F401  (pytest finds fixtures by their name here)
