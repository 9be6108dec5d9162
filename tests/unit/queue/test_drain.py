"""The drain: retry-queue records delivered once, redriven on schedule, or dead-lettered."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from chalicelib.config.model import RetryPolicy
from chalicelib.envelope import utc_timestamp
from chalicelib.process_state import reset_process_state
from chalicelib.queue.dead_letter import DeadLetter, DeadLetterInfo
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from chalicelib.queue.drain_handler import BatchIncomplete, handle_drain_batch
from chalicelib.queue.message import (
    LAST_ERROR_LIMIT,
    MAX_REDRIVE_COUNT,
    QUEUE_MESSAGE_GROWTH_BYTES,
    decode_queue_message,
    encode_queue_message,
    encoded_size,
    new_queue_message,
)
from chalicelib.queue.redrive_schedule import SQS_MAX_DELAY_SECONDS, backoff_delay
from chalicelib.queue.spill import spilled_size
from chalicelib.queue.sqs import OutgoingMessage, batch_requests, dead_letter_queue_url, get_sqs
from devstack.redis_server import RedisServer
from tests.conftest import (
    DEAD_LETTER_QUEUE,
    RETRY_QUEUE,
    STREAM,
    SentMessages,
    WriteConfig,
    drain_messages,
    stream_events,
    webhook_settings,
)
from tests.queue_events import body_of, make_envelope, make_queue_message, sqs_event

SEED_POLICY = RetryPolicy(enabled=True, max_attempts=5, initial_delay=1.0, max_delay=10.0, backoff_multiplier=2.0)


class SimulatedClock:
    """The drain's `now` and the circuit breaker's clock, moved together by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


def record_of(body: str) -> DrainRecord:
    return DrainRecord(message_id=f"m-{abs(hash(body))}", body=body)


def dead_letters(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, DEAD_LETTER_QUEUE)]


# The schedule


def test_backoff_follows_the_seed_schedule_and_caps_at_max_delay() -> None:
    # when
    delays = [backoff_delay(SEED_POLICY, attempt) for attempt in range(1, 8)]
    # then
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_backoff_never_overflows_for_huge_attempt_numbers() -> None:
    assert backoff_delay(SEED_POLICY, 10_000) == 10.0


@pytest.mark.parametrize("attempt", range(1, 9))
def test_redrive_delay_uses_equal_jitter_between_half_and_the_full_delay(attempt: int) -> None:
    from chalicelib.queue.redrive_schedule import redrive_delay

    # given
    full = backoff_delay(SEED_POLICY, attempt)
    rng = random.Random(attempt)
    # when
    delays = {redrive_delay(SEED_POLICY, attempt, rng) for _ in range(500)}
    # then
    assert min(delays) >= max(1, math.ceil(full / 2))
    assert max(delays) <= math.ceil(full)
    if full >= 4:
        assert len(delays) > 1, "jitter must spread redrives"


# Delivery through the drain function


def test_redis_up_delivers_once_and_redrives_nothing(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, chalice_client: Any, sent: SentMessages
) -> None:
    # given
    envelope = make_envelope(event_id="evt-up")
    event = sqs_event([body_of(make_queue_message(envelope))])
    # when
    response = chalice_client.lambda_.invoke("drain", event)
    # then
    assert response.payload == {"batchItemFailures": []}
    assert stream_events(redis_db) == [envelope]
    assert sent.calls == []


def test_redis_stopped_redrives_with_scheduled_delay_without_spending_an_attempt(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, sent: SentMessages
) -> None:
    # given Redis is down and the record was already redriven twice
    redis_server.stop()
    envelope = make_envelope(event_id="evt-down")
    record = record_of(body_of(make_queue_message(envelope, attempts=1, waits=1)))
    # when
    report = drain_batch([record], rng=random.Random(7))
    # then it goes back to the retry queue for attempt 3's delay (4 s, jittered in [2, 4])
    assert report.outcomes[record.message_id] is DrainOutcome.REDRIVEN
    [redrive] = sent.to(RETRY_QUEUE)
    assert 2 <= redrive["DelaySeconds"] <= 4
    message = json.loads(redrive["MessageBody"])
    assert message["envelope"] == envelope
    assert message["redrive"]["attempts"] == 1
    assert message["redrive"]["waits"] == 2
    assert "ConnectionError" in message["redrive"]["last_error"]
    assert sent.to(DEAD_LETTER_QUEUE) == []

    # when Redis is back and the redriven message comes round
    redis_server.start()
    report = drain_batch([record_of(redrive["MessageBody"])])
    # then
    assert list(report.outcomes.values()) == [DrainOutcome.DELIVERED]
    assert stream_events(redis_db) == [envelope]


def test_redriven_message_really_waits_its_delay_on_the_queue(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer
) -> None:
    # given
    redis_server.stop()
    record = record_of(body_of(make_queue_message(make_envelope())))
    # when
    drain_batch([record], rng=random.Random(1))
    # then the first redrive (1 s) is not visible at once
    assert drain_messages(sqs, RETRY_QUEUE) == []


def test_redis_refusing_the_write_spends_attempts_then_dead_letters_with_the_last_error(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, sent: SentMessages
) -> None:
    # given the stream key holds a string, so XADD answers WRONGTYPE
    redis_db.set(STREAM, "not a stream")
    envelope = make_envelope(event_id="evt-wrongtype")
    body = body_of(make_queue_message(envelope))
    outcomes = []
    # when the record comes round as often as the schedule sends it back (bounded)
    for _ in range(10):
        report = drain_batch([record_of(body)])
        outcomes.extend(report.outcomes.values())
        redrives = sent.to(RETRY_QUEUE)
        if outcomes[-1] is not DrainOutcome.REDRIVEN:
            break
        body = redrives[-1]["MessageBody"]
    # then four redrives, with growing delays, and the fifth attempt dead-letters
    assert outcomes == [DrainOutcome.REDRIVEN] * 4 + [DrainOutcome.DEAD_LETTERED]
    attempts = [json.loads(call["MessageBody"])["redrive"]["attempts"] for call in sent.to(RETRY_QUEUE)]
    assert attempts == [1, 2, 3, 4]
    [letter] = dead_letters(sqs)
    assert letter["envelope"] == envelope
    assert letter["dead_letter"]["reason"] == "exhausted"
    assert letter["dead_letter"]["attempts"] == 5
    assert letter["dead_letter"]["webhook_id"] == "redis_test"
    assert "WRONGTYPE" in letter["dead_letter"]["last_error"]
    assert redis_db.type(STREAM) == b"string"


def test_event_older_than_max_age_is_dead_lettered_without_delivering_it(
    relay_config: Any, sqs: Any, redis_db: redis.Redis
) -> None:
    # given an event received 25 hours ago (default max_age_seconds is 24 h)
    envelope = make_envelope(event_id="evt-old", age_seconds=25 * 3600)
    record = record_of(body_of(make_queue_message(envelope, waits=300)))
    # when
    report = drain_batch([record])
    # then
    assert report.outcomes[record.message_id] is DrainOutcome.DEAD_LETTERED
    [letter] = dead_letters(sqs)
    assert letter["dead_letter"]["reason"] == "expired"
    assert letter["dead_letter"]["age_seconds"] >= 25 * 3600
    assert stream_events(redis_db) == []


def test_expired_copy_of_an_event_already_delivered_is_a_duplicate_not_a_dead_letter(
    relay_config: Any, sqs: Any, redis_db: redis.Redis
) -> None:
    # given an event delivered by one copy, and a second copy queued 25 hours ago (an inline
    # try Redis ran after the door had given up on it and spilled)
    delivered = drain_batch([record_of(body_of(make_queue_message(make_envelope(event_id="evt-twice"))))])
    assert list(delivered.outcomes.values()) == [DrainOutcome.DELIVERED]
    envelope = make_envelope(event_id="evt-twice", age_seconds=25 * 3600)
    record = record_of(body_of(make_queue_message(envelope, waits=300)))
    # when
    report = drain_batch([record])
    # then it is done, counted as a duplicate, and nothing waits on the dead-letter queue
    assert report.outcomes[record.message_id] is DrainOutcome.DUPLICATE
    assert dead_letters(sqs) == []
    assert len(stream_events(redis_db)) == 1
    assert redis_db.hget("spillway:stats:redis_test", "duplicates") == b"1"


def test_expired_event_is_dead_lettered_with_a_note_when_redis_cannot_say_it_was_delivered(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer
) -> None:
    # given an expired event and Redis down
    redis_server.stop()
    envelope = make_envelope(event_id="evt-unknown", age_seconds=25 * 3600)
    record = record_of(body_of(make_queue_message(envelope, waits=300)))
    # when
    report = drain_batch([record])
    # then it is not kept going round: the dead letter says what is not known
    assert report.outcomes[record.message_id] is DrainOutcome.DEAD_LETTERED
    [letter] = dead_letters(sqs)
    assert letter["dead_letter"]["reason"] == "expired"
    assert "not known whether another copy was delivered" in letter["dead_letter"]["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("this is not json", "not a Spillway queue message"),
        (json.dumps({"hello": "world"}), "not a Spillway queue message"),
        (body_of(make_queue_message(make_envelope(webhook_id="removed_hook"))), "'removed_hook' is not configured"),
    ],
)
def test_poison_record_goes_to_the_dead_letter_queue_at_once(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, sent: SentMessages, body: str, detail: str
) -> None:
    # when
    report = drain_batch([record_of(body)])
    # then
    assert list(report.outcomes.values()) == [DrainOutcome.DEAD_LETTERED]
    assert sent.to(RETRY_QUEUE) == []
    [letter] = dead_letters(sqs)
    assert letter["dead_letter"]["reason"] == "poison"
    assert detail in letter["dead_letter"]["detail"]


def test_mixed_batch_delivers_the_good_once_redrives_the_bad_and_reports_no_failure(
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    sqs: Any,
    chalice_client: Any,
    sent: SentMessages,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given one webhook whose stream is a string key, and REPORT_BATCH_ITEM_FAILURES on
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    broken = webhook_settings(redis_server)
    broken["redis"] = {**broken["redis"], "stream": "broken_stream", "channel": "broken"}
    write_config({"redis_test": webhook_settings(redis_server), "broken_hook": broken})
    redis_db.set("broken_stream", "x")
    good = [make_envelope(event_id=f"good-{n}") for n in range(3)]
    bad = make_envelope(webhook_id="broken_hook", event_id="bad-1")
    bodies = [body_of(make_queue_message(envelope)) for envelope in good[:2]]
    bodies += [body_of(make_queue_message(bad)), "poison", body_of(make_queue_message(good[2]))]
    # when
    response = chalice_client.lambda_.invoke("drain", sqs_event(bodies))
    # then
    assert response.payload == {"batchItemFailures": []}
    assert stream_events(redis_db) == good
    [redrive] = sent.to(RETRY_QUEUE)
    assert json.loads(redrive["MessageBody"])["envelope"]["id"] == "bad-1"
    assert [letter["dead_letter"]["reason"] for letter in dead_letters(sqs)] == ["poison"]


def with_redrive(**fields: Any) -> str:
    """A queue message for the seed webhook with some of its redrive fields replaced."""
    message: dict[str, Any] = dict(make_queue_message(make_envelope(event_id="evt-bad")))
    message["redrive"] = {**message["redrive"], **fields}
    return body_of(message)


@pytest.mark.parametrize(
    "bad_body",
    [
        pytest.param(with_redrive(not_before="next tuesday"), id="not_before-not-a-timestamp"),
        pytest.param(with_redrive(not_before=1_700_000_000), id="not_before-a-number"),
        pytest.param(with_redrive(not_before="9999-12-31T23:59:59-12:00"), id="not_before-past-year-9999-in-utc"),
        pytest.param(with_redrive(first_failed_at="yesterday"), id="first_failed_at-not-a-timestamp"),
        pytest.param(with_redrive(waits=True), id="waits-a-boolean"),
        pytest.param(with_redrive(attempts=-1), id="attempts-negative"),
        pytest.param(with_redrive(attempts=MAX_REDRIVE_COUNT + 1), id="attempts-beyond-any-count"),
        pytest.param(with_redrive(last_error=["refused"]), id="last_error-a-list"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested-too-deep-to-parse"),
        pytest.param(
            body_of(make_queue_message(make_envelope(event_id="evt-bad", payload={"text": "\ud800"}))),
            id="lone-surrogate-redis-cannot-encode",
        ),
    ],
)
def test_bad_record_is_dead_lettered_as_poison_and_the_rest_of_its_batch_is_delivered(
    relay_config: Any,
    sqs: Any,
    redis_db: redis.Redis,
    chalice_client: Any,
    sent: SentMessages,
    monkeypatch: pytest.MonkeyPatch,
    bad_body: str,
) -> None:
    # given a batch with one bad record between two good ones
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    good = [make_envelope(event_id=f"good-{n}") for n in range(2)]
    bodies = [body_of(make_queue_message(good[0])), bad_body, body_of(make_queue_message(good[1]))]
    # when
    response = chalice_client.lambda_.invoke("drain", sqs_event(bodies))
    # then the good ones are delivered, the bad one is a poison dead letter, nothing fails
    assert response.payload == {"batchItemFailures": []}
    assert stream_events(redis_db) == good
    assert sent.to(RETRY_QUEUE) == []
    [letter] = dead_letters(sqs)
    assert letter["dead_letter"]["reason"] == "poison"
    # and the letter keeps what can be replayed: the decoded event when the record decoded (the
    # lone surrogate fails only at Redis), else the record as it came, for whoever looks into it
    if letter["envelope"] is not None:
        assert letter["envelope"]["id"] == "evt-bad"
        assert letter["raw_body"] is None
    else:
        assert letter["raw_body"] == bad_body[: len(letter["raw_body"])]


def test_event_whose_delivery_raises_the_unforeseen_is_dead_lettered_whole_and_can_be_replayed(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a well-formed queued event of 100 KB whose delivery raises something no check foresaw
    envelope = make_envelope(event_id="evt-unforeseen", payload={"blob": "x" * 100_000})

    def unforeseen(*_: Any, **__: Any) -> None:
        raise LookupError("a bug, not the event's fault")

    monkeypatch.setattr("chalicelib.queue.drain.deliver", unforeseen)
    # when the drain handles it
    report = drain_batch([record_of(body_of(make_queue_message(envelope)))])
    # then it is a poison letter that keeps the whole event, not the first 40,000 characters
    assert list(report.outcomes.values()) == [DrainOutcome.DEAD_LETTERED]
    [letter] = dead_letters(sqs)
    assert letter["dead_letter"]["reason"] == "poison"
    assert "LookupError" in letter["dead_letter"]["detail"]
    assert letter["envelope"] == envelope
    assert letter["raw_body"] is None


def test_dead_letter_of_an_envelope_holding_a_lone_surrogate_still_reaches_the_dead_letter_queue(
    relay_config: Any, sqs: Any, redis_db: redis.Redis
) -> None:
    # given a record for a webhook id that is no text (a JSON escape of a lone surrogate)
    envelope = make_envelope(webhook_id="hook-\udc80", event_id="evt-surrogate")
    body = body_of(make_queue_message(envelope))
    assert body.isascii(), "the queue carries the escape, never the raw surrogate"
    # when
    report = drain_batch([record_of(body)])
    # then it is dead-lettered for what it is, with its envelope, not as a failure to dead-letter
    assert list(report.outcomes.values()) == [DrainOutcome.DEAD_LETTERED]
    [letter] = dead_letters(sqs)
    assert "is not configured" in letter["dead_letter"]["detail"]
    assert letter["envelope"] == envelope


def test_queue_message_with_a_lone_surrogate_is_encoded_as_text_sqs_takes_and_decodes_unchanged() -> None:
    # given
    message = make_queue_message(make_envelope(payload={"text": "a\ud800b\uffff\ufffe\U0001f600\u00e9"}))
    # when
    body = encode_queue_message(message)
    # then
    body.encode("utf-8")
    assert "\uffff" not in body and "\ufffe" not in body
    assert decode_queue_message(body) == message


def test_worst_case_dead_letter_grows_no_more_than_the_door_allows_for() -> None:
    # given the largest ids, counters, errors and details the drain can write (control
    # characters escape to 6 bytes, quotes in an event id to 2)
    envelope = make_envelope(webhook_id="w" * 64, event_id='"' * 200)
    fresh = spilled_size(envelope)
    worst_error = "\x01" * (LAST_ERROR_LIMIT + 10)
    message = make_queue_message(envelope, attempts=MAX_REDRIVE_COUNT, waits=MAX_REDRIVE_COUNT)
    message["redrive"]["last_error"] = worst_error[:LAST_ERROR_LIMIT]
    message["redrive"]["not_before"] = utc_timestamp(datetime.now(UTC))
    info = DeadLetterInfo(
        reason="exhausted",
        detail=worst_error[:LAST_ERROR_LIMIT],
        webhook_id=envelope["webhook_id"],
        event_id=envelope["id"],
        attempts=MAX_REDRIVE_COUNT,
        age_seconds=-1.2345678901234567e300,
        last_error=message["redrive"]["last_error"],
        dead_lettered_at=utc_timestamp(datetime.now(UTC)),
        source_message_id="m" * 100,
    )
    # when
    letter = encode_queue_message(
        dict(DeadLetter(envelope=envelope, redrive=message["redrive"], dead_letter=info, raw_body=None))
    )
    # then
    assert encoded_size(letter) - fresh <= QUEUE_MESSAGE_GROWTH_BYTES


def test_record_that_cannot_be_put_anywhere_is_reported_as_a_batch_item_failure(
    relay_config: Any,
    redis_db: redis.Redis,
    redis_server: RedisServer,
    sqs: Any,
    chalice_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given Redis is down and the retry queue is gone
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=RETRY_QUEUE)["QueueUrl"])
    redis_server.stop()
    event = sqs_event([body_of(make_queue_message(make_envelope()))])
    # when
    response = chalice_client.lambda_.invoke("drain", event)
    # then SQS is told to keep exactly that record
    assert response.payload == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_without_batch_item_failures_a_failed_record_fails_the_whole_invocation(
    relay_config: Any, redis_db: redis.Redis, redis_server: RedisServer, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the event source mapping does not report batch item failures
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "false")
    reset_process_state()
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=RETRY_QUEUE)["QueueUrl"])
    redis_server.stop()
    # when / then Lambda must see an error so that it keeps the batch
    with pytest.raises(BatchIncomplete):
        handle_drain_batch([record_of(body_of(make_queue_message(make_envelope())))])


# Exactly once


def test_event_delivered_inline_then_drained_is_published_once(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given the sender's delivery went through inline
    answer = chalice_client.http.post(
        "/webhook/redis_test",
        body=b'{"n": 1}',
        headers={"content-type": "application/json", "x-github-delivery": "evt-twice"},
    )
    assert answer.status_code == 200
    [delivered] = stream_events(redis_db)
    # when the same envelope also comes through the queue, twice
    record = DrainRecord("m-1", body_of(make_queue_message(delivered)))
    report = drain_batch([record, DrainRecord("m-2", record.body)])
    # then
    assert list(report.outcomes.values()) == [DrainOutcome.DUPLICATE, DrainOutcome.DUPLICATE]
    assert len(stream_events(redis_db)) == 1


def test_marker_expires_with_the_configured_ttl(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any
) -> None:
    # given the shortest TTL the loader takes: max_age_seconds plus the DLQ's 14 days
    settings = webhook_settings(redis_server)
    settings["retry"]["max_age_seconds"] = 60
    settings["redis"]["idempotency_ttl_seconds"] = 60 + 1_209_600
    write_config({"redis_test": settings})
    envelope = make_envelope(event_id="evt-ttl")
    # when
    drain_batch([record_of(body_of(make_queue_message(envelope)))])
    # then
    ttl = redis_db.ttl("spillway:delivered:redis_test:evt-ttl")
    assert 1_209_600 < ttl <= 60 + 1_209_600


# Long waits and long outages


def test_wait_longer_than_900_seconds_hops_with_a_not_before_mark(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, sent: SentMessages
) -> None:
    # given a schedule whose delays reach an hour
    settings = webhook_settings(redis_server)
    settings["retry"] = {"initial_delay": 3600, "max_delay": 3600, "max_attempts": 5}
    write_config({"redis_test": settings})
    redis_server.stop()
    now = datetime.now(UTC)
    # when
    drain_batch([record_of(body_of(make_queue_message(make_envelope())))], now=now)
    # then the first hop is SQS's maximum and the message knows when it is due
    [hop] = sent.to(RETRY_QUEUE)
    assert hop["DelaySeconds"] == SQS_MAX_DELAY_SECONDS
    due = datetime.fromisoformat(json.loads(hop["MessageBody"])["redrive"]["not_before"].replace("Z", "+00:00"))
    assert timedelta(seconds=1800) <= due - now <= timedelta(seconds=3600)

    # when it comes round early, with Redis back
    redis_server.start()
    report = drain_batch([record_of(hop["MessageBody"])], now=now + timedelta(seconds=900))
    # then it hops again instead of delivering, and the last hop carries no mark
    assert list(report.outcomes.values()) == [DrainOutcome.HOPPED]
    assert stream_events(redis_db) == []
    last_hop = sent.to(RETRY_QUEUE)[-1]
    assert last_hop["DelaySeconds"] <= SQS_MAX_DELAY_SECONDS
    # when it comes round on time
    report = drain_batch([record_of(last_hop["MessageBody"])], now=due)
    # then
    assert list(report.outcomes.values()) == [DrainOutcome.DELIVERED]


def test_event_past_max_age_is_dead_lettered_even_when_its_not_before_is_far_away(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, sent: SentMessages
) -> None:
    # given an event queued two days ago (max_age one day) whose not_before lies years ahead
    write_config({"redis_test": webhook_settings(redis_server)})
    now = datetime.now(UTC)
    message = make_queue_message(make_envelope(event_id="evt-for-ever"))
    message["redrive"]["first_failed_at"] = utc_timestamp(now - timedelta(days=2))
    message["redrive"]["not_before"] = utc_timestamp(now + timedelta(days=3650))
    # when the drain sees it
    report = drain_batch([record_of(body_of(message))], now=now)
    # then it expires instead of hopping round every 900 s until then
    assert list(report.outcomes.values()) == [DrainOutcome.DEAD_LETTERED]
    assert sent.to(RETRY_QUEUE) == []
    [letter] = sent.to(DEAD_LETTER_QUEUE)
    assert json.loads(letter["MessageBody"])["dead_letter"]["reason"] == "expired"
    assert stream_events(redis_db) == []


def test_thirty_second_outage_with_seed_settings_ends_with_every_event_delivered(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, sent: SentMessages
) -> None:
    # given 15 events spilled at the start of a 30 s outage (simulated clock)
    start = datetime.now(UTC)
    envelopes = [make_envelope(event_id=f"outage-{n}") for n in range(15)]
    pending = {envelope["id"]: (start, body_of(make_queue_message(envelope))) for envelope in envelopes}
    redis_server.stop()
    redis_back_at = start + timedelta(seconds=30)
    clock = SimulatedClock(start)
    reset_process_state(clock)
    dead = 0
    # when each message comes round at its scheduled time (bounded rounds)
    for _ in range(15 * 20):
        if not pending:
            break
        event_id, (due, body) = min(pending.items(), key=lambda item: item[1][0])
        if due >= redis_back_at and not redis_server.running:
            redis_server.start()
        calls_before = len(sent.calls)
        clock.now = due
        outcome = drain_batch([record_of(body)], now=due).outcomes
        [result] = outcome.values()
        del pending[event_id]
        if result is DrainOutcome.REDRIVEN:
            redrive = sent.calls[calls_before]
            pending[event_id] = (due + timedelta(seconds=redrive["DelaySeconds"]), redrive["MessageBody"])
        dead += result is DrainOutcome.DEAD_LETTERED
    # then
    assert pending == {}
    assert dead == 0
    assert sorted(event["id"] for event in stream_events(redis_db)) == sorted(e["id"] for e in envelopes)


def test_event_replayed_from_the_dead_letter_queue_gets_a_fresh_max_age(
    relay_config: Any, sqs: Any, redis_db: redis.Redis
) -> None:
    # given an event received two days ago, dead-lettered as expired, then replayed just now
    envelope = make_envelope(event_id="evt-replayed", age_seconds=2 * 86_400)
    replayed = new_queue_message(envelope, utc_timestamp(datetime.now(UTC)), "replayed from the dead-letter queue")
    # when
    report = drain_batch([record_of(body_of(replayed))])
    # then
    assert list(report.outcomes.values()) == [DrainOutcome.DELIVERED]
    assert stream_events(redis_db) == [envelope]


# Batched sends: a batch's redrives, hops and dead letters go out in SendMessageBatch requests


def refuse_entries_holding(marker: str) -> None:
    """SQS refuses, entry by entry, each batched message whose body holds marker: moto fails on
    its own an entry whose DelaySeconds is over 900, and takes the rest of the request."""

    def over_the_delay_limit(params: dict[str, Any], **_: Any) -> None:
        for entry in params["Entries"]:
            if marker in entry["MessageBody"]:
                entry["DelaySeconds"] = SQS_MAX_DELAY_SECONDS + 1

    get_sqs().meta.events.register("provide-client-params.sqs.SendMessageBatch", over_the_delay_limit)


def messages_waiting(sqs: Any, queue_name: str) -> int:
    """Visible and delayed messages on a queue (a redrive is delayed by at least 1 s)."""
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_batch_of_ten_redriven_while_redis_is_down_takes_one_request_and_each_keeps_its_own_delay(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, sent: SentMessages
) -> None:
    # given ten records that waited 0 to 9 times before, and Redis down
    redis_server.stop()
    records = [
        DrainRecord(f"m-{n}", body_of(make_queue_message(make_envelope(event_id=f"evt-{n}"), waits=n)))
        for n in range(10)
    ]
    # when
    report = drain_batch(records, rng=random.Random(3))
    # then every record is redriven by one SendMessageBatch, not ten SendMessage
    assert list(report.outcomes.values()) == [DrainOutcome.REDRIVEN] * 10
    assert [name for name in sent.requests if name.startswith("SendMessage")] == ["SendMessageBatch"]
    assert messages_waiting(sqs, RETRY_QUEUE) == 10
    # and each message waits its own record's scheduled delay (wait n+1: 2**n s, capped, jittered)
    redrives = sent.to(RETRY_QUEUE)
    assert [json.loads(call["MessageBody"])["envelope"]["id"] for call in redrives] == [f"evt-{n}" for n in range(10)]
    for n, call in enumerate(redrives):
        full = backoff_delay(SEED_POLICY, n + 1)
        assert max(1, math.ceil(full / 2)) <= call["DelaySeconds"] <= math.ceil(full)
    assert redrives[0]["DelaySeconds"] == 1 and redrives[-1]["DelaySeconds"] >= 5


def test_entry_sqs_refuses_leaves_only_its_record_to_sqs_and_the_others_are_done_once(
    relay_config: Any,
    sqs: Any,
    redis_db: redis.Redis,
    redis_server: RedisServer,
    sent: SentMessages,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a batch of ten while Redis is down, and SQS refusing one of the ten redrives
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    redis_server.stop()
    records = [
        DrainRecord(f"m-{n}", body_of(make_queue_message(make_envelope(event_id=f"evt-{n}")))) for n in range(10)
    ]
    refuse_entries_holding('"evt-4"')
    # when
    answer = handle_drain_batch(records)
    # then exactly that record is a batch item failure, in the one request made
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-4"}]}
    assert [name for name in sent.requests if name.startswith("SendMessage")] == ["SendMessageBatch"]
    # and the nine others are on the retry queue, once each
    assert messages_waiting(sqs, RETRY_QUEUE) == 9

    # when SQS hands the refused record out again and its send goes through
    reset_process_state()
    report = drain_batch([records[4]])
    # then it is redriven too: ten events on the queue, none lost, none twice
    assert report.outcomes == {"m-4": DrainOutcome.REDRIVEN}
    assert messages_waiting(sqs, RETRY_QUEUE) == 10


def test_redrives_and_dead_letters_of_a_batch_go_in_one_request_per_queue(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, sent: SentMessages
) -> None:
    # given Redis down, three records to redrive and three to dead-letter (poison, expired)
    redis_server.stop()
    redriven = [body_of(make_queue_message(make_envelope(event_id=f"evt-{n}"))) for n in range(3)]
    expired = body_of(make_queue_message(make_envelope(event_id="evt-old", age_seconds=25 * 3600), waits=300))
    bodies = [redriven[0], "poison", redriven[1], expired, "more poison", redriven[2]]
    records = [DrainRecord(f"m-{n}", body) for n, body in enumerate(bodies)]
    # when
    report = drain_batch(records)
    # then
    redrive, dead = DrainOutcome.REDRIVEN, DrainOutcome.DEAD_LETTERED
    assert list(report.outcomes.values()) == [redrive, dead, redrive, dead, dead, redrive]
    send_requests = [name for name in sent.requests if name.startswith("SendMessage")]
    assert send_requests == ["SendMessageBatch", "SendMessageBatch"]
    assert messages_waiting(sqs, RETRY_QUEUE) == 3
    reasons = sorted(letter["dead_letter"]["reason"] for letter in dead_letters(sqs))
    assert reasons == ["expired", "poison", "poison"]


def test_dead_letter_sqs_refuses_is_neither_logged_nor_counted_and_stays_with_sqs(
    relay_config: Any,
    sqs: Any,
    redis_db: redis.Redis,
    sent: SentMessages,
    relay_log: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two expired events, and SQS refusing the dead letter of one of them
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    records = [
        DrainRecord(
            f"m-{n}",
            body_of(make_queue_message(make_envelope(event_id=f"evt-old-{n}", age_seconds=25 * 3600), waits=300)),
        )
        for n in range(2)
    ]
    refuse_entries_holding('"evt-old-1"')
    relay_log()
    # when
    answer = handle_drain_batch(records)
    # then only the letter SQS took is on the queue, in the log and in the counters
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    [letter] = dead_letters(sqs)
    assert letter["envelope"]["id"] == "evt-old-0"
    logged = [line["message_id"] for line in relay_log() if line.get("message") == "dead_lettered"]
    assert logged == ["m-0"]
    assert redis_db.hget("spillway:stats:redis_test", "dead_lettered") == b"1"


def test_hops_of_a_batch_go_in_one_request_each_with_its_own_remaining_wait(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, sent: SentMessages
) -> None:
    # given three records due 100, 300 and 2,000 s from now
    now = datetime.now(UTC)
    records = []
    for n, due_in in enumerate((100, 300, 2_000)):
        message = make_queue_message(make_envelope(event_id=f"evt-later-{n}"))
        message["redrive"]["not_before"] = utc_timestamp(now + timedelta(seconds=due_in))
        records.append(DrainRecord(f"m-{n}", body_of(message)))
    # when they come round early
    report = drain_batch(records, now=now)
    # then each hops for its own remaining wait (SQS's 900 s at most), all in one request
    assert list(report.outcomes.values()) == [DrainOutcome.HOPPED] * 3
    assert [name for name in sent.requests if name.startswith("SendMessage")] == ["SendMessageBatch"]
    assert [call["DelaySeconds"] for call in sent.to(RETRY_QUEUE)] == [100, 300, SQS_MAX_DELAY_SECONDS]
    assert stream_events(redis_db) == []


def test_batch_request_sqs_refuses_as_a_whole_leaves_each_of_its_records_to_sqs(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given Redis down and the dead-letter queue gone, a batch of two redrives and a poison record
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    redis_server.stop()
    dead_letter_url = sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    records = [
        DrainRecord("m-0", body_of(make_queue_message(make_envelope(event_id="evt-0")))),
        DrainRecord("m-1", "poison"),
        DrainRecord("m-2", body_of(make_queue_message(make_envelope(event_id="evt-2")))),
    ]
    # the relay looked the dead-letter queue's URL up, and keeps it, before the queue goes
    assert dead_letter_queue_url() == dead_letter_url
    sqs.delete_queue(QueueUrl=dead_letter_url)
    # when
    answer = handle_drain_batch(records)
    # then the redrives went, and the record whose request failed is left to SQS
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert messages_waiting(sqs, RETRY_QUEUE) == 2


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "expected"),
    [
        pytest.param([10] * 23, 262_144, [list(range(0, 10)), list(range(10, 20)), list(range(20, 23))], id="ten-each"),
        pytest.param([100_000] * 5, 262_144, [[0, 1], [2, 3], [4]], id="bytes-split"),
        pytest.param([300_000, 10], 262_144, [[0], [1]], id="one-larger-than-the-sum-goes-alone"),
    ],
)
def test_batch_requests_hold_at_most_ten_entries_and_the_queue_s_message_size(
    sizes: list[int], max_bytes: int, expected: list[list[int]]
) -> None:
    # given
    messages = [OutgoingMessage("https://sqs/retry", "x" * size) for size in sizes]
    # when / then
    assert batch_requests(messages, max_bytes) == expected


def test_batch_requests_keep_each_queue_s_messages_apart_in_order() -> None:
    # given messages for two queues, interleaved
    urls = ["https://sqs/retry", "https://sqs/dead", "https://sqs/retry", "https://sqs/dead", "https://sqs/retry"]
    messages = [OutgoingMessage(url, "{}") for url in urls]
    # when / then
    assert batch_requests(messages, 262_144) == [[0, 2, 4], [1, 3]]


def test_batch_bytes_are_counted_as_sqs_counts_them_in_utf_8() -> None:
    # given two bodies of 100,000 characters of two bytes each (200,000 bytes)
    messages = [OutgoingMessage("https://sqs/retry", "\u00e9" * 100_000) for _ in range(2)]
    # when / then they cannot share a 262,144-byte request
    assert batch_requests(messages, 262_144) == [[0], [1]]
