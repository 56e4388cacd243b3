"""Two region nodes in one test, each with its own database (SQLite files, or two PostgreSQL
databases), that know each other through their trust lists."""

from __future__ import annotations

import shutil

import httpx
import pytest

from eresident.config import Settings
from eresident.federation import trust
from eresident.kit.db import Database
from eresident.kit.migrate import upgrade
from tests.conftest import PG_URL, Node, new_pg_database, truncate_all


@pytest.fixture(scope="session")
def pg_peer_database():
    """A second migrated PostgreSQL database: the peer node's own."""
    if not PG_URL:
        pytest.skip("ERESIDENT_TEST_POSTGRES_URL is not set")
    with new_pg_database("eresident_peer") as url:
        upgrade(url)
        yield url


@pytest.fixture
def peer_database_url(request, database_url, tmp_path, sqlite_template) -> str:
    if database_url.startswith("sqlite"):
        path = tmp_path / "peer.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_peer_database")
    truncate_all(url)
    return url


def introduce(node: Node, peer: Node) -> None:
    """`node` trusts `peer`: its published node-keys document goes into node's trust list."""
    with peer.client() as client:
        document = client.get("/.well-known/eresident/node-keys").json()
    incoming = trust.parse_node_keys(document, own_region=node.settings.region)
    merged, _ = trust.merge_peer(trust.load_trust(node.settings), incoming, now=node.clock.now())
    trust.save_trust(node.settings, merged)


class Pair:
    def __init__(self, lj: Node, tf: Node):
        self.lj, self.tf = lj, tf

    def advance(self, delta) -> None:
        self.lj.clock.advance(delta)
        self.tf.clock.advance(delta)


@pytest.fixture
def pair(database_url, peer_database_url, tmp_path):
    databases = []

    def node(region: str, url: str) -> Node:
        settings = Settings(region=region, database_url=url, data_dir=tmp_path / f"data-{region}",
                            base_url=f"http://{region.lower()}.test")
        databases.append(Database(url))
        return Node(settings, databases[-1])

    lj, tf = node("LJ", database_url), node("TF", peer_database_url)
    introduce(lj, tf)
    introduce(tf, lj)
    yield Pair(lj, tf)
    for database in databases:
        database.dispose()


class Network(httpx.BaseTransport):
    """The wire between test nodes: a request goes to the node whose base URL host it names, or
    fails as a dead peer would (connection refused), or is answered by a stand-in `answer`."""

    def __init__(self, *nodes: Node):
        self.nodes = {httpx.URL(n.settings.base_url).host: n.client() for n in nodes}
        self.down: set[str] = set()
        self.answer = None  # callable(request) -> httpx.Response, to play a misbehaving peer
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        host = request.url.host
        if host in self.down or host not in self.nodes:
            raise httpx.ConnectError("connection refused", request=request)
        if self.answer is not None:
            return self.answer(request)
        return self.nodes[host]._transport.handle_request(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self)
