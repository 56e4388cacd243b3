"""Many concurrent writes to a node finish: requests wait for a connection (and, on SQLite, the write
lock) in the event loop, so they never take every worker thread while the holders need one."""

from __future__ import annotations

import threading
import time
import uuid

from fastapi.testclient import TestClient

from tests.factories import Api, bearer


def test_a_burst_of_writes_beyond_the_thread_pool_all_finish(node):
    api = Api(node)
    token = api.applicant()
    statuses: list[int] = []
    with TestClient(node.app, base_url=node.settings.base_url, raise_server_exceptions=False) as client:
        def post():
            # each write takes the write slot, then finds no such application: 404, nothing written
            r = client.post(f"/api/v1/applications/{uuid.uuid4()}/appointment", headers=bearer(token),
                            json={"starts_at": "2026-12-01T09:00:00Z", "mode": "video"})
            statuses.append(r.status_code)

        threads = [threading.Thread(target=post, daemon=True) for _ in range(150)]  # > 40 pool threads
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert sum(t.is_alive() for t in threads) == 0, "requests hung: a writer waited for a thread forever"
    assert statuses.count(404) == 150
    assert not node.ctx.database._write_lock.locked()
