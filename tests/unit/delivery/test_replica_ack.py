"""Replica-acknowledged delivery (redis.min_replicas_acked): WAIT after the delivery script, in
the same round trip, against a real primary and its replica."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from chalicelib.config.model import InlineBudget, RedisConnection, RedisTarget
from chalicelib.delivery.circuit_breaker import breaker_for
from chalicelib.delivery.deliver import deliver
from chalicelib.delivery.redis_script import DeliveryOutcome
from chalicelib.errors import ReplicasBehind
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_cluster import ReplicatedRedis
from tests.conftest import RETRY_QUEUE, STREAM, SentMessages, WriteConfig, drain_messages, stream_events
from tests.queue_events import body_of, drain_retry_queue, make_envelope, make_queue_message

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def replicated() -> Iterator[ReplicatedRedis]:
    with ReplicatedRedis() as pair:
        yield pair


@pytest.fixture
def pair(replicated: ReplicatedRedis) -> Iterator[ReplicatedRedis]:
    """Both running, the replica following and caught up, no data."""
    replicated.replica.resume()
    client = replicated.primary.client()
    try:
        client.flushall()
        assert client.wait(1, 5_000) == 1
    finally:
        client.close()
    yield replicated
    replicated.replica.resume()


def target_on(pair: ReplicatedRedis, replicas: int = 1) -> RedisTarget:
    return RedisTarget(
        connection=RedisConnection(host=pair.primary.host, port=pair.primary.port),
        stream=STREAM,
        min_replicas_acked=replicas,
        replica_ack_timeout_ms=100,
    )


def settings(pair: ReplicatedRedis, replicas: int) -> dict[str, Any]:
    return {
        "data_type": "json",
        "redis": {
            "host": pair.primary.host,
            "port": pair.primary.port,
            "stream": STREAM,
            "min_replicas_acked": replicas,
            "replica_ack_timeout_ms": 100,
        },
        "retry": {"initial_delay": 0.0, "max_delay": 0.0},
    }


def post(chalice_client: Any, event_id: str) -> int:
    response = chalice_client.http.post(
        "/webhook/acked", headers={**JSON, "Idempotency-Key": event_id}, body=json.dumps({"id": event_id}).encode()
    )
    return int(response.status_code)


def event_ids(client: redis.Redis) -> list[str]:
    return [event["id"] for event in stream_events(client, STREAM)]


def test_delivery_the_replica_confirms_answers_200_and_is_on_the_replica(
    pair: ReplicatedRedis, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given
    write_config({"acked": settings(pair, replicas=1)})
    # when
    status = post(chalice_client, "confirmed-1")
    # then: a 200 means the replica has it too
    replica = pair.replica.client()
    try:
        assert status == 200
        assert event_ids(replica) == ["confirmed-1"]
    finally:
        replica.close()
    assert drain_messages(sqs, RETRY_QUEUE) == []


def test_paused_replica_makes_the_door_spill_and_the_drain_confirm_the_write_later(
    pair: ReplicatedRedis, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given: the replica hung, so WAIT 1 cannot be met
    write_config({"acked": settings(pair, replicas=1)})
    pair.replica.pause()
    # when
    status = post(chalice_client, "unconfirmed-1")
    # then: not a 200; the event waits on the retry queue
    assert status == 202
    # when: the replica is back and the drain runs
    pair.replica.resume()
    outcomes = drain_retry_queue(sqs)
    # then: the write had survived, so the drain's try is a duplicate, confirmed by its own WAIT
    assert outcomes == ["duplicate"]
    replica = pair.replica.client()
    try:
        assert event_ids(replica) == ["unconfirmed-1"]
    finally:
        replica.close()


def test_the_same_run_without_replica_acknowledgement_answers_200_with_the_replica_hung(
    pair: ReplicatedRedis, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given: min_replicas_acked 0, today's behaviour
    write_config({"acked": settings(pair, replicas=0)})
    pair.replica.pause()
    # when
    status = post(chalice_client, "unacked-1")
    # then: 200 from the primary alone
    assert status == 200


def test_a_duplicate_counts_only_once_the_replica_has_caught_up(pair: ReplicatedRedis) -> None:
    # given: an event delivered and confirmed
    target, budget = target_on(pair), InlineBudget(max_attempts=1)
    envelope = make_envelope(event_id="dup-1")
    assert deliver(envelope, target, budget) is DeliveryOutcome.DELIVERED
    # when: a copy arrives while the replica is hung
    pair.replica.pause()
    # then: the duplicate is not confirmed either (the drain waits, no attempt spent)
    with pytest.raises(ReplicasBehind):
        deliver(envelope, target, budget, redrives=1)
    # when: the replica is back
    pair.replica.resume()
    # then
    assert deliver(envelope, target, budget, redrives=1) is DeliveryOutcome.DUPLICATE


def test_replicas_behind_never_opens_the_circuit(pair: ReplicatedRedis) -> None:
    # given
    target, budget = target_on(pair), InlineBudget(max_attempts=1, breaker_failures=1)
    pair.replica.pause()
    # when: more shortfalls than the breaker's threshold
    for number in range(3):
        with pytest.raises(ReplicasBehind):
            deliver(make_envelope(event_id=f"behind-{number}"), target, budget)
    # then: the primary answered every time, so the next event is still tried
    assert breaker_for(target.connection, budget).allow()
    assert not breaker_for(target.connection, budget).is_open


def test_wait_rides_in_the_delivery_round_trip_without_script_exists(pair: ReplicatedRedis) -> None:
    # given: the script loaded by a first delivery
    target, budget = target_on(pair), InlineBudget(max_attempts=1)
    deliver(make_envelope(event_id="warm"), target, budget)
    primary = pair.primary.client()
    try:
        primary.config_resetstat()
        # when
        for number in range(5):
            deliver(make_envelope(event_id=f"counted-{number}"), target, budget)
        calls = {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in primary.info("commandstats").items()}
    finally:
        primary.close()
    # then: per event one EVALSHA and one WAIT (pipelined), and no SCRIPT EXISTS
    assert calls["evalsha"] == 5
    assert calls["wait"] == 5
    assert not any(name.startswith("script") for name in calls)


def test_the_drain_treats_replicas_behind_as_a_wait_not_an_attempt(
    pair: ReplicatedRedis, write_config: WriteConfig, sent: SentMessages
) -> None:
    # given: a queued event, and a replica that cannot confirm it
    write_config({"acked": settings(pair, replicas=1)})
    message = make_queue_message(make_envelope(webhook_id="acked", event_id="queued-1"), attempts=1)
    pair.replica.pause()
    # when
    report = drain_batch([DrainRecord("m-1", body_of(message))])
    # then: sent round again with one more wait, the attempt count untouched
    assert report.outcomes == {"m-1": DrainOutcome.REDRIVEN}
    [requeued] = sent.to(RETRY_QUEUE)
    redrive = json.loads(requeued["MessageBody"])["redrive"]
    assert (redrive["attempts"], redrive["waits"]) == (1, 1)
    assert "WAIT" in redrive["last_error"]
