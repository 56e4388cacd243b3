"""The two-node fixtures of the federation tests, for witnessing (tests/audit/test_witnessing.py)."""

from tests.federation.conftest import pair, peer_database_url, pg_peer_database  # noqa: F401
