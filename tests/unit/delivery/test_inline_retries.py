"""The inline path's retries: a healthy delivery takes one try with no retry machinery; after a
first try fails, the inline policy decides, counting that try as its attempt 1 and its budget
from when that try started."""

from __future__ import annotations

import threading

import pytest
import redis

from chalicelib.config.model import InlineBudget, RedisConnection, RedisTarget
from chalicelib.delivery.circuit_breaker import breaker_for
from chalicelib.delivery.deliver import deliver
from chalicelib.delivery.redis_script import DeliveryOutcome
from chalicelib.errors import DestinationUnavailable
from devstack.redis_server import RedisServer
from tests.conftest import STREAM, stream_events
from tests.queue_events import make_envelope


def target_on(redis_server: RedisServer) -> RedisTarget:
    return RedisTarget(connection=RedisConnection(host=redis_server.host, port=redis_server.port), stream=STREAM)


def test_unreachable_redis_is_tried_max_attempts_times_then_the_error_is_raised(
    redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    # given Redis refusing connections, and a breaker that would not open within the attempts
    redis_server.stop()
    target = target_on(redis_server)
    budget = InlineBudget(max_attempts=3, budget_seconds=5.0, breaker_failures=10)

    # when
    with pytest.raises(DestinationUnavailable):
        deliver(make_envelope(), target, budget)

    # then the first try and two retries, no more
    assert breaker_for(target.connection, budget).consecutive_failures == 3


def test_a_first_try_that_fails_is_retried_and_the_event_delivered_once(
    redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    # given Redis stopped, and starting again while the first try is refused
    redis_server.stop()
    target = target_on(redis_server)
    budget = InlineBudget(max_attempts=50, budget_seconds=10.0, breaker_failures=100)
    starting = threading.Thread(target=redis_server.start)
    starting.start()
    envelope = make_envelope(event_id="retried-1")

    # when
    try:
        outcome = deliver(envelope, target, budget)
    finally:
        starting.join(timeout=15)

    # then a retry delivered it, once
    assert outcome is DeliveryOutcome.DELIVERED
    assert "ConnectionError" in breaker_for(target.connection, budget).last_error
    assert [event["id"] for event in stream_events(redis_db)] == ["retried-1"]


def test_the_inline_budget_counts_from_the_first_try(redis_server: RedisServer, redis_db: redis.Redis) -> None:
    # given a hung Redis (SIGSTOP): each try lasts its socket timeout, 0.5 s, and no try may
    # start past budget_seconds - (connect + socket timeout) = 1.0 s after the first began
    redis_server.pause()
    target = target_on(redis_server)
    budget = InlineBudget(
        max_attempts=10, budget_seconds=1.6, socket_timeout=0.5, connect_timeout=0.1, breaker_failures=10
    )

    # when
    with pytest.raises(DestinationUnavailable):
        deliver(make_envelope(), target, budget)

    # then two tries (the second starts ~0.53 s in, a third would start past 1.0 s); a budget
    # counted from the second try would have allowed a third
    assert breaker_for(target.connection, budget).consecutive_failures == 2
