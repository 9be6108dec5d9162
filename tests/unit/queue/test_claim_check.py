"""The claim check: a large event spilled while Redis is down waits in S3 (moto), its queue message
carries a pointer, and the drain (real redis-server) delivers it and only then deletes it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from chalicelib.process_state import reset_process_state
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.ports import free_port
from devstack.redis_server import RedisServer
from operations.claim_check_bucket import ensure_claim_check_bucket
from operations.dead_letter_messages import ScanLimits
from operations.dead_letters import main as dlq_main
from tests.conftest import DEAD_LETTER_QUEUE, RETRY_QUEUE, SentMessages, drain_messages, stream_events
from tests.queue_events import sqs_event

BUCKET = "spillway-test-large-payloads"
BLOB = {"Content-Type": "application/octet-stream"}
# No long polling: moto really waits WaitTimeSeconds on an empty queue.
FAST = ScanLimits(wait_seconds=0, max_seconds=10.0)


def large_body(size: int = 3 * 1024 * 1024) -> bytes:
    """Bytes that do not compress and hold every byte value (the body is base64 in the envelope)."""
    return os.urandom(size)


@pytest.fixture
def s3(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's S3 (in the same mock as `sqs`) with the claim-check bucket as bootstrap makes it,
    and LARGE_PAYLOAD_BUCKET naming it."""
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    ensure_claim_check_bucket(client, BUCKET)
    monkeypatch.setenv("LARGE_PAYLOAD_BUCKET", BUCKET)
    reset_process_state()
    return client


def objects(s3: Any) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def retry_bodies(sqs: Any) -> list[str]:
    return [message["Body"] for message in drain_messages(sqs, RETRY_QUEUE)]


def dead_letters(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, DEAD_LETTER_QUEUE)]


@pytest.fixture
def spilled(
    relay_config: dict[str, Any], chalice_client: Any, redis_server: RedisServer, sqs: Any, s3: Any
) -> Iterator[tuple[bytes, str]]:
    """A 3 MiB blob posted while Redis was down: its body and its queue message, which the test
    owns (it is received, so it will not come back in this test). Redis runs again afterwards."""
    redis_server.stop()
    body = large_body()
    response = chalice_client.http.post("/webhook/blob_hook", headers=BLOB, body=body)
    assert response.status_code == 202, response.body
    [queued] = retry_bodies(sqs)
    redis_server.start()
    # The drain runs in a Lambda of its own: no circuit breaker remembers the door's failures.
    reset_process_state()
    yield body, queued


def drain(chalice_client: Any, body: str) -> Any:
    return chalice_client.lambda_.invoke("drain", sqs_event([body]))


def test_large_event_spilled_while_redis_is_down_is_delivered_intact_once_redis_returns(
    spilled: tuple[bytes, str], chalice_client: Any, redis_db: redis.Redis, s3: Any
) -> None:
    # given a 3 MiB event answered 202 while Redis was down
    body, queued = spilled
    # whose queue message is a pointer to one object in the bucket, not the event
    message = json.loads(queued)
    assert set(message) == {"claim_check", "redrive"}
    assert len(queued.encode()) < 2_000
    [key] = objects(s3)
    assert message["claim_check"]["key"] == key
    stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert message["claim_check"]["sha256"] == hashlib.sha256(stored).hexdigest()

    # when the drain runs with Redis back
    response = drain(chalice_client, queued)

    # then the event arrived in Redis with the very bytes that were posted
    assert response.payload == {"batchItemFailures": []}
    [event] = stream_events(redis_db)
    assert event["webhook_id"] == "blob_hook"
    assert event["id"] == message["claim_check"]["event_id"]
    assert base64.b64decode(event["payload"]) == body
    # and its object is gone
    assert objects(s3) == []


def test_large_event_with_redis_up_is_delivered_inline_and_nothing_is_stored(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, sqs: Any, s3: Any
) -> None:
    # given Redis is up
    body = large_body()

    # when
    response = chalice_client.http.post("/webhook/blob_hook", headers=BLOB, body=body)

    # then delivered at once, as any event
    assert response.status_code == 200
    [event] = stream_events(redis_db)
    assert base64.b64decode(event["payload"]) == body
    assert objects(s3) == []
    assert retry_bodies(sqs) == []


def test_redriven_large_event_keeps_its_object_until_delivered(
    spilled: tuple[bytes, str], chalice_client: Any, redis_server: RedisServer, s3: Any, sent: SentMessages
) -> None:
    # given Redis down again when the drain runs
    _, queued = spilled
    redis_server.stop()

    # when
    response = drain(chalice_client, queued)

    # then the redrive (delayed, so not yet visible) carries the pointer again, and the object stays for it
    assert response.payload == {"batchItemFailures": []}
    [redriven] = [call["MessageBody"] for call in sent.to(RETRY_QUEUE)]
    assert json.loads(redriven)["claim_check"] == json.loads(queued)["claim_check"]
    assert json.loads(redriven)["redrive"]["waits"] == 1
    assert len(objects(s3)) == 1


@pytest.mark.parametrize(
    ("tamper", "detail"),
    [
        pytest.param(lambda s3, key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}"), "does not match", id="changed"),
        pytest.param(lambda s3, key: s3.delete_object(Bucket=BUCKET, Key=key), "is missing", id="missing"),
    ],
)
def test_claim_check_whose_object_changed_or_vanished_is_dead_lettered_as_poison(
    spilled: tuple[bytes, str], chalice_client: Any, redis_db: redis.Redis, sqs: Any, s3: Any, tamper: Any, detail: str
) -> None:
    # given the object no longer matches its pointer
    _, queued = spilled
    [key] = objects(s3)
    tamper(s3, key)

    # when
    response = drain(chalice_client, queued)

    # then nothing is delivered; the dead letter says why and keeps the pointer
    assert response.payload == {"batchItemFailures": []}
    assert stream_events(redis_db) == []
    [letter] = dead_letters(sqs)
    assert letter["dead_letter"]["reason"] == "poison"
    assert detail in letter["dead_letter"]["detail"]
    assert letter["dead_letter"]["event_id"] == json.loads(queued)["claim_check"]["event_id"]
    assert letter["claim_check"] == json.loads(queued)["claim_check"]


def test_large_event_handed_out_again_after_its_delivery_is_a_duplicate_not_a_dead_letter(
    spilled: tuple[bytes, str], redis_db: redis.Redis, sqs: Any, s3: Any
) -> None:
    # given the large event delivered from the queue, and its object released
    _, queued = spilled
    assert drain_batch([DrainRecord("m-1", queued)]).outcomes == {"m-1": DrainOutcome.DELIVERED}
    assert objects(s3) == []

    # when SQS hands the same message out again (at least once; or its batch ran again as a whole)
    report = drain_batch([DrainRecord("m-1", queued)])

    # then it is a duplicate: nothing published again, nothing dead-lettered
    assert report.outcomes == {"m-1": DrainOutcome.DUPLICATE}
    assert len(stream_events(redis_db)) == 1
    assert dead_letters(sqs) == []


@pytest.fixture
def s3_reads(s3: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of every GetObject the relay's S3 client makes during the test."""
    from chalicelib.queue import claim_check

    keys: list[str] = []
    build = claim_check._build_client

    def build_recorded(region: str) -> Any:
        client = build(region)
        client.meta.events.register(
            "provide-client-params.s3.GetObject", lambda params, **_: keys.append(params["Key"])
        )
        return client

    monkeypatch.setattr(claim_check, "_build_client", build_recorded)
    reset_process_state()
    return keys


def with_not_before(queued: str, moment: datetime) -> str:
    message = json.loads(queued)
    message["redrive"]["not_before"] = moment.isoformat()
    return json.dumps(message)


@pytest.mark.parametrize(
    ("make_record", "now", "outcome"),
    [
        pytest.param(
            lambda queued: with_not_before(queued, datetime.now(UTC) + timedelta(hours=2)),
            None,
            DrainOutcome.HOPPED,
            id="hop",
        ),
        pytest.param(
            lambda queued: queued, datetime.now(UTC) + timedelta(days=2), DrainOutcome.DEAD_LETTERED, id="expire"
        ),
    ],
)
def test_large_event_that_hops_or_expires_is_not_fetched_from_s3(
    spilled: tuple[bytes, str], s3_reads: list[str], s3: Any, make_record: Any, now: datetime | None, outcome: Any
) -> None:
    # given a large event that waits longer than SQS delays one message, or is older than max_age
    _, queued = spilled
    record = make_record(queued)

    # when
    report = drain_batch([DrainRecord("m-1", record)], now=now)

    # then it is decided from its pointer alone: no 4 MB download, and its object stays
    assert report.outcomes == {"m-1": outcome}
    assert s3_reads == []
    assert len(objects(s3)) == 1


def test_large_event_due_for_delivery_is_fetched_once(
    spilled: tuple[bytes, str], s3_reads: list[str], redis_db: redis.Redis
) -> None:
    # given
    _, queued = spilled

    # when
    report = drain_batch([DrainRecord("m-1", queued)])

    # then the object is read once, right before the delivery
    assert report.outcomes == {"m-1": DrainOutcome.DELIVERED}
    assert s3_reads == [json.loads(queued)["claim_check"]["key"]]


def test_dead_lettered_large_event_is_shown_replayed_and_delivered_then_its_object_deleted(
    spilled: tuple[bytes, str], chalice_client: Any, redis_db: redis.Redis, sqs: Any, s3: Any
) -> None:
    # given the large event dead-lettered (too old when the drain saw it), its object kept
    body, queued = spilled
    later = datetime.now(UTC) + timedelta(days=2)
    report = drain_batch([DrainRecord("m-old", queued)], now=later)
    assert report.outcomes == {"m-old": DrainOutcome.DEAD_LETTERED}
    [key] = objects(s3)
    event_id = json.loads(queued)["claim_check"]["event_id"]

    # when the operator looks at it, then replays it
    shown, replayed = io.StringIO(), io.StringIO()
    assert dlq_main(["show", event_id], client=sqs, out=shown, err=shown, environ={}, limits=FAST) == 0
    assert dlq_main(["replay", "--all"], client=sqs, out=replayed, err=replayed, environ={}, limits=FAST) == 0

    # then show named the object, and the replay put the pointer back on the retry queue
    assert f"s3://{BUCKET}/{key}" in shown.getvalue()
    assert "replayed 1" in replayed.getvalue(), replayed.getvalue()
    [requeued] = retry_bodies(sqs)
    assert json.loads(requeued)["claim_check"]["key"] == key
    assert objects(s3) == [key]
    # and the drain delivers the same bytes, and only then deletes the object
    assert drain(chalice_client, requeued).payload == {"batchItemFailures": []}
    [event] = stream_events(redis_db)
    assert base64.b64decode(event["payload"]) == body
    assert objects(s3) == []


def test_purging_a_large_events_dead_letter_deletes_its_object(spilled: tuple[bytes, str], sqs: Any, s3: Any) -> None:
    # given the large event dead-lettered
    _, queued = spilled
    drain_batch([DrainRecord("m-old", queued)], now=datetime.now(UTC) + timedelta(days=2))
    assert len(objects(s3)) == 1

    # when
    out = io.StringIO()
    code = dlq_main(["purge", "--yes"], client=sqs, out=out, err=out, environ={}, limits=FAST, s3=s3)

    # then the letter and its object are gone
    assert code == 0, out.getvalue()
    assert dead_letters(sqs) == []
    assert objects(s3) == []


def test_s3_unreachable_at_spill_answers_503_with_retry_after_and_queues_nothing(
    relay_config: dict[str, Any],
    chalice_client: Any,
    redis_server: RedisServer,
    sqs: Any,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given Redis down and S3 at a port nothing listens on
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    reset_process_state()
    redis_server.stop()

    # when
    response = chalice_client.http.post("/webhook/blob_hook", headers=BLOB, body=large_body())

    # then the sender is told to come back later, as when SQS fails
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "30"
    assert retry_bodies(sqs) == []


def test_without_a_bucket_an_event_too_large_for_a_queue_message_is_refused_413(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, sqs: Any
) -> None:
    # given no LARGE_PAYLOAD_BUCKET: bodies are capped at what fits a queue message (172,032 bytes)

    # when
    response = chalice_client.http.post("/webhook/blob_hook", headers=BLOB, body=large_body(172_033))

    # then
    assert response.status_code == 413
    assert json.loads(response.body)["error"]["code"] == "payload_too_large"


def test_s3_unreachable_at_drain_leaves_the_record_to_sqs_and_its_object_in_place(
    spilled: tuple[bytes, str],
    chalice_client: Any,
    redis_db: redis.Redis,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the drain cannot reach S3 (and its event source honours batch item failures)
    _, queued = spilled
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    event = sqs_event([queued])

    # when
    response = chalice_client.lambda_.invoke("drain", event)

    # then the record is reported failed (SQS hands it out again), nothing is delivered or lost
    [record] = event["Records"]
    assert response.payload == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert stream_events(redis_db) == []
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert len(objects(s3)) == 1
