"""A bounded Redis connection pool: when every connection is busy, the event spills at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection

from chalicelib.config.model import InlineBudget, RedisConnection, RedisTarget
from chalicelib.delivery.redis_clients import MAX_CONNECTIONS_PER_CLIENT, MAX_POOL_WAIT_SECONDS, get_redis
from chalicelib.delivery.redis_script import run_delivery_script
from chalicelib.errors import DestinationUnavailable
from devstack.redis_server import RedisServer
from tests.conftest import STREAM, stream_events
from tests.queue_events import make_envelope

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def target(redis_server: RedisServer) -> RedisTarget:
    return RedisTarget(RedisConnection(host=redis_server.host, port=redis_server.port), stream=STREAM)


@pytest.fixture
def every_connection_busy(target: RedisTarget) -> Iterator[list[AbstractConnection]]:
    """Takes every connection of the pool the default inline budget uses, as busy threads would."""
    budget = InlineBudget()
    pool = get_redis(target.connection, budget.socket_timeout, budget.connect_timeout).connection_pool
    held = [pool.get_connection() for _ in range(MAX_CONNECTIONS_PER_CLIENT)]
    yield held
    for connection in held:
        pool.release(connection)


def test_delivery_that_finds_every_connection_busy_reports_redis_unavailable_within_the_pool_wait(
    redis_db: redis.Redis, target: RedisTarget, every_connection_busy: list[AbstractConnection]
) -> None:
    # given every pooled connection is taken
    # when
    started = time.monotonic()
    with pytest.raises(DestinationUnavailable, match="No connection available"):
        run_delivery_script(make_envelope(event_id="crowded"), target, InlineBudget())
    waited = time.monotonic() - started

    # then it gave up after the pool wait, and wrote nothing
    assert MAX_POOL_WAIT_SECONDS <= waited < MAX_POOL_WAIT_SECONDS + 0.3
    assert stream_events(redis_db) == []


def test_webhook_that_finds_every_connection_busy_is_queued_without_waiting_out_its_budget(
    relay_config: dict[str, Any],
    sqs: Any,
    chalice_client: Any,
    every_connection_busy: list[AbstractConnection],
) -> None:
    # given every pooled connection is taken
    # when
    started = time.monotonic()
    response = chalice_client.http.post("/webhook/redis_test", headers={**JSON, "Idempotency-Key": "busy"}, body=b"{}")
    elapsed = time.monotonic() - started

    # then the event is safe on the retry queue, answered well within the 1.5 s inline budget
    assert response.status_code == 202
    assert elapsed < 1.0
