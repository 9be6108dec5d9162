"""Redis out of memory (maxmemory reached, noeviction) is a wait: the event spills, spends no attempt."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.client import PubSub

from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import RETRY_QUEUE, SentMessages, WriteConfig, drain_messages, stream_events, webhook_settings
from tests.queue_events import body_of, make_envelope, make_queue_message
from tests.unit.delivery.test_channel_subscribers import channel_only, marker_set, post
from tests.unit.door.test_receive import next_channel_message, subscriber

__all__ = ["subscriber"]  # the fixture, shared with the door's tests


@pytest.fixture
def out_of_memory(redis_db: redis.Redis) -> Iterator[None]:
    """Every memory-growing write is refused with OOM until the test ends."""
    redis_db.config_set("maxmemory-policy", "noeviction")
    redis_db.config_set("maxmemory", 1)
    try:
        yield
    finally:
        redis_db.config_set("maxmemory", 0)


def queued(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, RETRY_QUEUE)]


def test_out_of_memory_queues_the_event_and_answers_202(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any,
    out_of_memory: None,
) -> None:  # fmt: skip
    # given the seed shape (stream and channel)
    write_config({"hook": webhook_settings(redis_server)})

    # when
    response = post(chalice_client, "evt-full")

    # then
    assert response.status_code == 202
    [message] = queued(sqs)
    assert message["envelope"]["id"] == "evt-full"
    assert "OOM" in message["redrive"]["last_error"]
    assert stream_events(redis_db) == []
    assert not marker_set(redis_db, "evt-full")


def test_out_of_memory_publishes_nothing_to_a_channel_it_cannot_mark(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any,
    subscriber: PubSub, out_of_memory: None,
) -> None:  # fmt: skip
    # given a channel-only webhook with a listener: a PUBLISH that went out unmarked would be
    # published again by the redrive
    write_config({"hook": channel_only(redis_server)})

    # when
    response = post(chalice_client, "evt-unmarked")

    # then
    assert response.status_code == 202
    assert next_channel_message(subscriber, timeout=0.3) is None
    assert [message["envelope"]["id"] for message in queued(sqs)] == ["evt-unmarked"]


def test_an_event_delivered_before_is_still_a_duplicate_when_redis_is_full(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given an event delivered while there was room
    write_config({"hook": webhook_settings(redis_server)})
    assert post(chalice_client, "evt-known").status_code == 200
    redis_db.config_set("maxmemory-policy", "noeviction")
    redis_db.config_set("maxmemory", 1)
    try:
        # when the sender retries it
        response = post(chalice_client, "evt-known")
    finally:
        redis_db.config_set("maxmemory", 0)

    # then
    assert response.status_code == 200
    assert json.loads(response.body)["status"] == "duplicate"
    assert queued(sqs) == []


def test_drain_redrives_an_out_of_memory_failure_as_a_wait_without_spending_an_attempt(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, sent: SentMessages,
    out_of_memory: None,
) -> None:  # fmt: skip
    # given a queued event one attempt from being dead-lettered as exhausted
    write_config({"hook": webhook_settings(redis_server)})
    envelope = make_envelope(webhook_id="hook", event_id="evt-drained")
    record = DrainRecord("m-1", body_of(make_queue_message(envelope, attempts=4, waits=1)))

    # when
    report = drain_batch([record], rng=random.Random(5))

    # then it waits instead
    assert report.outcomes == {"m-1": DrainOutcome.REDRIVEN}
    [redrive] = sent.to(RETRY_QUEUE)
    state = json.loads(redrive["MessageBody"])["redrive"]
    assert (state["attempts"], state["waits"]) == (4, 2)
    assert "OOM" in state["last_error"]
    assert stream_events(redis_db) == []


def test_a_counter_redis_cannot_write_never_fails_a_delivered_event(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a webhook whose stats hash someone replaced with a string (HINCRBY answers WRONGTYPE)
    write_config({"hook": webhook_settings(redis_server)})
    redis_db.set("spillway:stats:hook", "not a hash")

    # when an event arrives
    response = post(chalice_client, "evt-counted-nowhere")

    # then it is delivered once, marked, and nothing spilled: the counters are best effort
    assert response.status_code == 200
    assert response.json_body["status"] == "delivered"
    assert [event["id"] for event in stream_events(redis_db)] == ["evt-counted-nowhere"]
    assert marker_set(redis_db, "evt-counted-nowhere")
    assert queued(sqs) == []
