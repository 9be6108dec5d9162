"""A channel alone is delivered only when PUBLISH reaches a subscriber; otherwise the event waits.

Real redis-server, moto's SQS, Chalice's test client; the subscriber is a real redis-py PubSub
connection whose subscription the server confirmed before the test posts.
"""

from __future__ import annotations

import json
import random
from typing import Any

import redis
from redis.client import PubSub

from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import CHANNEL, RETRY_QUEUE, STREAM, SentMessages, WriteConfig, drain_messages, stream_events
from tests.conftest import webhook_settings as seed_settings
from tests.queue_events import body_of, make_envelope, make_queue_message
from tests.unit.door.test_receive import next_channel_message, subscriber

__all__ = ["subscriber"]  # the fixture, shared with the door's tests

JSON = {"Content-Type": "application/json"}
MARKER = "spillway:delivered:{webhook}:{event}"


def channel_only(redis_server: RedisServer, **redis_fields: Any) -> dict[str, Any]:
    settings = seed_settings(redis_server)
    settings["redis"] = {"host": redis_server.host, "port": redis_server.port, "channel": CHANNEL, **redis_fields}
    return settings


def post(chalice_client: Any, event_id: str, body: bytes = b'{"order": 7}') -> Any:
    headers = {**JSON, "X-GitHub-Delivery": event_id}
    return chalice_client.http.post("/webhook/hook", headers=headers, body=body)


def queued(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, RETRY_QUEUE)]


def marker_set(redis_db: redis.Redis, event_id: str) -> bool:
    return bool(redis_db.exists(MARKER.format(webhook="hook", event=event_id)))


def publishes(redis_db: redis.Redis) -> int:
    """PUBLISH commands the server ran since the last CONFIG RESETSTAT (scripts' included)."""
    stats = redis_db.info("commandstats").get("cmdstat_publish", {"calls": 0})
    return int(stats["calls"])


# --- the door -----------------------------------------------------------------------------


def test_channel_only_with_no_subscriber_queues_the_event_and_sets_no_marker(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a channel-only webhook and nobody subscribed
    write_config({"hook": channel_only(redis_server)})
    redis_db.config_resetstat()

    # when
    response = post(chalice_client, "evt-nobody")

    # then the sender is told it is queued, and it is: not lost, not marked delivered
    assert response.status_code == 202
    assert json.loads(response.body) == {"status": "queued", "event_id": "evt-nobody"}
    [message] = queued(sqs)
    assert message["envelope"]["id"] == "evt-nobody"
    assert "min_subscribers" in message["redrive"]["last_error"]
    assert not marker_set(redis_db, "evt-nobody")
    # and the inline path spent one PUBLISH on it, not its whole budget of tries
    assert publishes(redis_db) == 1
    # and nothing counts it as delivered
    assert redis_db.hget("spillway:stats:hook", "delivered_inline") is None


def test_channel_only_with_a_subscriber_answers_200_and_the_subscriber_gets_the_event(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any,
    subscriber: PubSub,
) -> None:  # fmt: skip
    # given
    write_config({"hook": channel_only(redis_server)})

    # when
    response = post(chalice_client, "evt-heard")

    # then
    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "delivered", "event_id": "evt-heard"}
    got = next_channel_message(subscriber)
    assert got is not None and got["id"] == "evt-heard" and got["payload"] == {"order": 7}
    assert marker_set(redis_db, "evt-heard")
    assert queued(sqs) == []


def test_a_second_copy_after_a_subscriber_got_it_is_a_duplicate_and_not_published_again(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any,
    subscriber: PubSub,
) -> None:  # fmt: skip
    # given an event the subscriber got
    write_config({"hook": channel_only(redis_server)})
    assert post(chalice_client, "evt-once").status_code == 200
    assert next_channel_message(subscriber) is not None

    # when the sender retries it
    response = post(chalice_client, "evt-once")

    # then
    assert json.loads(response.body)["status"] == "duplicate"
    assert next_channel_message(subscriber, timeout=0.3) is None


def test_too_few_subscribers_for_min_subscribers_queues_the_event(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any,
    subscriber: PubSub,
) -> None:  # fmt: skip
    # given a webhook that needs two listeners, and one listening
    write_config({"hook": channel_only(redis_server, min_subscribers=2)})

    # when
    response = post(chalice_client, "evt-two")

    # then the one listener heard it (PUBLISH cannot be taken back), but it is not delivered
    assert response.status_code == 202
    assert [message["envelope"]["id"] for message in queued(sqs)] == ["evt-two"]
    assert not marker_set(redis_db, "evt-two")


def test_min_subscribers_zero_keeps_fire_and_forget_publishing(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a webhook that opted out
    write_config({"hook": channel_only(redis_server, min_subscribers=0)})

    # when
    response = post(chalice_client, "evt-void")

    # then
    assert response.status_code == 200
    assert queued(sqs) == []


def test_with_a_stream_no_subscriber_still_answers_200_and_the_stream_holds_it(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given the seed shape: channel and stream
    write_config({"hook": seed_settings(redis_server)})

    # when
    response = post(chalice_client, "evt-streamed")

    # then
    assert response.status_code == 200
    assert [event["id"] for event in stream_events(redis_db)] == ["evt-streamed"]
    assert queued(sqs) == []


def test_with_a_stream_and_min_subscribers_no_subscriber_leaves_the_stream_untouched(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a stream webhook that also wants a live listener, and an older event on the stream
    settings = seed_settings(redis_server)
    settings["redis"]["min_subscribers"] = 1
    write_config({"hook": settings})
    redis_db.xadd(STREAM, {"event_id": "older", "event": "{}"})

    # when
    response = post(chalice_client, "evt-unheard")

    # then it waits on the queue, and the stream was not given a copy the redrive would repeat
    assert response.status_code == 202
    assert [message["envelope"]["id"] for message in queued(sqs)] == ["evt-unheard"]
    assert [fields[b"event_id"] for _, fields in redis_db.xrange(STREAM)] == [b"older"]
    assert not marker_set(redis_db, "evt-unheard")


def test_no_subscriber_never_opens_the_circuit_breaker(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given more subscriber-less deliveries than the breaker's threshold (2)
    write_config({"hook": channel_only(redis_server)})
    for index in range(4):
        assert post(chalice_client, f"evt-early-{index}").status_code == 202
    # and then a consumer subscribes
    listener = redis_db.pubsub()
    listener.subscribe(CHANNEL)
    try:
        assert listener.get_message(timeout=2.0) is not None  # the subscribe confirmation

        # when the next event comes
        response = post(chalice_client, "evt-late")

        # then it is tried at once, not spilled by an open circuit
        assert response.status_code == 200
        got = next_channel_message(listener)
        assert got is not None and got["id"] == "evt-late"
    finally:
        listener.close()


# --- the drain ----------------------------------------------------------------------------


def test_drain_with_no_subscriber_redrives_it_as_a_wait_without_spending_an_attempt(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, sent: SentMessages
) -> None:
    # given a queued event of a channel-only webhook, and still nobody subscribed
    write_config({"hook": channel_only(redis_server)})
    envelope = make_envelope(webhook_id="hook", event_id="evt-waiting")
    record = DrainRecord("m-1", body_of(make_queue_message(envelope, attempts=1, waits=2)))

    # when
    report = drain_batch([record], rng=random.Random(3))

    # then it goes back on the retry queue as a wait
    assert report.outcomes == {"m-1": DrainOutcome.REDRIVEN}
    [redrive] = sent.to(RETRY_QUEUE)
    message = json.loads(redrive["MessageBody"])
    assert message["envelope"] == envelope
    assert (message["redrive"]["attempts"], message["redrive"]["waits"]) == (1, 3)
    assert "min_subscribers" in message["redrive"]["last_error"]
    assert not marker_set(redis_db, "evt-waiting")


def test_drain_delivers_the_waiting_event_once_a_subscriber_is_there(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, sent: SentMessages,
    subscriber: PubSub,
) -> None:  # fmt: skip
    # given
    write_config({"hook": channel_only(redis_server)})
    envelope = make_envelope(webhook_id="hook", event_id="evt-finally")
    record = DrainRecord("m-1", body_of(make_queue_message(envelope, waits=6)))

    # when
    report = drain_batch([record])

    # then
    assert report.outcomes == {"m-1": DrainOutcome.DELIVERED}
    assert next_channel_message(subscriber) == envelope
    assert marker_set(redis_db, "evt-finally")
    assert sent.calls == []


def test_channel_only_with_retries_off_and_no_subscriber_answers_503_without_blaming_redis(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a channel-only webhook that must not be queued, and nobody subscribed
    settings = channel_only(redis_server)
    settings["retry"] = {"enabled": False}
    write_config({"hook": settings})

    # when
    response = post(chalice_client, "evt-unheard")

    # then the sender is told to retry later, without a claim that Redis is down, and nothing is kept
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    message = response.json_body["error"]["message"]
    assert "could not take the event" in message
    assert "unavailable" not in message
    assert queued(sqs) == []
    assert not marker_set(redis_db, "evt-unheard")
