"""The circuit breaker: while Redis is failing, spill at once instead of waiting on it."""

from __future__ import annotations

import json
from typing import Any

import redis

from chalicelib.config.model import InlineBudget, RedisConnection
from chalicelib.delivery.circuit_breaker import CircuitBreaker, breaker_for
from chalicelib.process_state import reset_process_state
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import RETRY_QUEUE, SentMessages, drain_messages, stream_events
from tests.queue_events import body_of, make_envelope, make_queue_message

JSON = {"content-type": "application/json"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_the_threshold_of_consecutive_failures() -> None:
    # given
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=5, clock=FakeClock())
    # when
    breaker.record_failure()
    breaker.record_failure()
    still_closed = breaker.allow()
    breaker.record_failure()
    # then
    assert still_closed
    assert breaker.is_open
    assert not breaker.allow()


def test_a_success_resets_the_count_of_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert not breaker.is_open


def test_open_breaker_lets_one_probe_through_after_the_reset_time() -> None:
    # given an open breaker
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    # when the reset time has passed
    clock.now += 5
    first, second = breaker.allow(), breaker.allow()
    # then exactly one caller probes
    assert (first, second) == (True, False)


def test_successful_probe_closes_and_failed_probe_reopens_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    # when the probe fails
    breaker.record_failure()
    # then it is open again for a full reset time
    clock.now += 4
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()
    # when this probe succeeds
    breaker.record_success()
    # then everything flows
    assert breaker.allow() and breaker.allow()
    assert not breaker.is_open


def test_a_probe_that_never_reports_is_replaced_after_the_reset_time() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    clock.now += 5
    assert breaker.allow()


def test_hung_redis_opens_the_breaker_and_later_requests_spill_without_trying_redis(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, chalice_client: Any
) -> None:
    # given Redis hangs (SIGSTOP) and one request has spent its inline budget on it
    redis_server.pause()
    first = chalice_client.http.post("/webhook/redis_test", body=b'{"n": 1}', headers=JSON)
    # when the next request comes
    second = chalice_client.http.post("/webhook/redis_test", body=b'{"n": 2}', headers=JSON)
    # then both are queued, the second without a try at Redis
    assert (first.status_code, second.status_code) == (202, 202)
    errors = {
        json.loads(m["Body"])["envelope"]["payload"]["n"]: json.loads(m["Body"])["redrive"]["last_error"]
        for m in drain_messages(sqs, RETRY_QUEUE)
    }
    assert "Timeout" in errors[1]
    assert errors[2].startswith("circuit open")


def test_breaker_probes_again_once_redis_is_back_and_delivers_inline(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, chalice_client: Any
) -> None:
    # given an open breaker on a simulated clock
    clock = FakeClock()
    reset_process_state(clock)
    redis_server.stop()
    assert chalice_client.http.post("/webhook/redis_test", body=b'{"n": 1}', headers=JSON).status_code == 202
    redis_server.start()
    still_open = chalice_client.http.post("/webhook/redis_test", body=b'{"n": 2}', headers=JSON)
    # when the reset time has passed
    clock.now += 5
    probe = chalice_client.http.post("/webhook/redis_test", body=b'{"n": 3}', headers=JSON)
    # then the open breaker spilled, and the probe went through inline
    assert still_open.status_code == 202
    assert probe.status_code == 200
    assert [event["payload"] for event in stream_events(redis_db)] == [{"n": 3}]


def test_drain_redrives_as_a_wait_without_trying_redis_while_the_breaker_is_open(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, sent: SentMessages
) -> None:
    # given the breaker opened on a batch whose first records found Redis down
    redis_server.stop()
    records = [DrainRecord(f"m-{n}", body_of(make_queue_message(make_envelope()))) for n in range(5)]
    # when
    report = drain_batch(records)
    # then every record is redriven, and all after the second without a try
    assert set(report.outcomes.values()) == {DrainOutcome.REDRIVEN}
    redrives = [json.loads(call["MessageBody"])["redrive"] for call in sent.to(RETRY_QUEUE)]
    assert [redrive["waits"] for redrive in redrives] == [1] * 5
    assert [redrive["last_error"].startswith("circuit open") for redrive in redrives] == [False] * 2 + [True] * 3


def test_webhooks_sharing_a_redis_keep_their_own_breaker_thresholds() -> None:
    # given two webhooks on one Redis, one opening its breaker after 1 failure, one after 3
    connection = RedisConnection(host="10.0.0.1", port=6379)
    eager = InlineBudget(breaker_failures=1)
    patient = InlineBudget(breaker_failures=3)

    # when Redis fails once for each
    breaker_for(connection, eager).record_failure("refused")
    breaker_for(connection, patient).record_failure("refused")

    # then the first has stopped trying and the second still tries: neither took the other's threshold
    assert not breaker_for(connection, eager).allow()
    assert breaker_for(connection, patient).allow()
    # and the same thresholds share one breaker
    assert breaker_for(connection, InlineBudget(breaker_failures=1)) is breaker_for(connection, eager)
