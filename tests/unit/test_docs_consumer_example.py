"""The consumer-group example the docs link to (docs/examples/consumer.py) runs as written
against a real redis-server holding events the door delivered: every event handled once, a
crashed worker's entry claimed back, nothing left pending."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import redis

from devstack.redis_server import RedisServer
from tests.chalice_project import PROJECT_ROOT
from tests.conftest import STREAM
from tests.signed_requests import post

EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "consumer.py"
GROUP = "billing"
# The example claims entries idle for a minute; the crashed worker's has been for two.
STUCK_FOR_MS = 120_000


def test_consumer_example_handles_new_and_stuck_entries_and_acknowledges_all(
    relay_config: dict[str, Any], chalice_client: Any, redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    # given three events the door delivered to the stream
    event_ids = []
    for number in range(3):
        response = post(chalice_client, "redis_test", json.dumps({"order": number}).encode())
        assert response.status_code == 200
        event_ids.append(json.loads(response.body)["event_id"])
    # and a worker of the group that took the first one, crashed, and never acknowledged it
    redis_db.xgroup_create(STREAM, GROUP, id="0")
    [[_, [(stuck_entry, _)]]] = redis_db.xreadgroup(GROUP, "crashed-worker", {STREAM: ">"}, count=1)
    redis_db.xclaim(STREAM, GROUP, "crashed-worker", 0, [stuck_entry], idle=STUCK_FOR_MS)

    # when the example runs as its docstring says, stopping once idle
    result = subprocess.run(
        [sys.executable, str(EXAMPLE.relative_to(PROJECT_ROOT))],
        cwd=PROJECT_ROOT,
        env={**os.environ, "REDIS_URL": redis_server.url, "EXIT_WHEN_IDLE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then each event was handled once (the stuck one claimed back) and nothing is pending
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines) == sorted(f'redis_test {event_id} {{"order": {n}}}' for n, event_id in enumerate(event_ids))
    assert redis_db.xpending(STREAM, GROUP)["pending"] == 0
