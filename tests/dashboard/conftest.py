"""The dashboard's tests use two region nodes, as the federation tests do."""

from tests.federation.conftest import pair, peer_database_url, pg_peer_database  # noqa: F401  (fixtures)
