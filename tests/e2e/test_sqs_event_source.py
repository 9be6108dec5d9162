"""The local SQS event source: Chalice SQS handlers fed from moto's server as Lambda would feed them."""

from __future__ import annotations

import queue
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from chalice import Chalice
from chalice.app import SQSEvent

from chalicelib.config.settings import get_relay_config
from chalicelib.door.envelope_builder import build_envelope
from chalicelib.envelope import utc_timestamp
from chalicelib.process_state import reset_process_state
from chalicelib.queue.message import encode_queue_message, new_queue_message
from devstack.moto_sqs import MotoServerError, MotoSqsServer, endpoint_answers
from devstack.sqs_event_source import (
    BatchResult,
    MalformedBatchResponse,
    SqsEventSource,
    discover_sqs_subscriptions,
    reported_failures,
)
from tests.conftest import DEAD_LETTER_QUEUE, RETRY_QUEUE, stream_events

TOY_QUEUE = "toy-queue"
ACCOUNT = "123456789012"


@pytest.fixture
def sqs_client(moto_sqs: MotoSqsServer) -> Any:
    import boto3

    return boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_sqs.url)


def create_queue(sqs_client: Any, name: str, visibility_timeout: int = 1) -> str:
    """A 1 s visibility timeout, so records left undeleted come back within the test."""
    attributes = {"VisibilityTimeout": str(visibility_timeout)}
    return str(sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def send_bodies(sqs_client: Any, url: str, bodies: list[str]) -> None:
    for body in bodies:
        sqs_client.send_message(QueueUrl=url, MessageBody=body)


def messages_left(sqs_client: Any, url: str) -> int:
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def next_result(results: queue.Queue[BatchResult], timeout: float = 5.0) -> BatchResult:
    return results.get(timeout=timeout)


class ToyApp:
    """A Chalice app with one SQS handler that records every event and answers as told."""

    def __init__(self, batch_size: int = 3, queue_name: str = TOY_QUEUE) -> None:
        self.app = Chalice(app_name="toy")
        self.events: list[dict[str, Any]] = []
        self.fail_bodies: set[str] = set()
        self.raise_error = False

        @self.app.on_sqs_message(queue=queue_name, batch_size=batch_size, name="consume")
        def consume(event: SQSEvent) -> dict[str, Any]:
            self.events.append(event.to_dict())
            if self.raise_error:
                raise RuntimeError("handler failed")
            failures = [record.to_dict()["messageId"] for record in event if record.body in self.fail_bodies]
            return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    def bodies_seen(self) -> list[str]:
        return [record["body"] for event in self.events for record in event["Records"]]


# --- discovery and the batch response rules: no server needed ---


def test_discovers_sqs_handlers_by_queue_name_and_arn() -> None:
    app = Chalice(app_name="two")

    @app.on_sqs_message(queue="by-name", batch_size=3, name="first")
    def first(event: SQSEvent) -> None:
        return None

    @app.on_sqs_message(queue_arn=f"arn:aws:sqs:eu-west-1:{ACCOUNT}:by-arn", maximum_batching_window_in_seconds=2)
    def second(event: SQSEvent) -> None:
        return None

    @app.route("/")
    def index() -> dict[str, str]:
        return {}

    subscriptions = {subscription.name: subscription for subscription in discover_sqs_subscriptions(app)}

    assert sorted(subscriptions) == ["first", "second"]
    assert (subscriptions["first"].queue_name, subscriptions["first"].batch_size) == ("by-name", 3)
    assert subscriptions["second"].queue_arn == f"arn:aws:sqs:eu-west-1:{ACCOUNT}:by-arn"
    assert subscriptions["second"].batching_window_seconds == 2
    assert subscriptions["first"].handler is first


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_empty_batch_response_means_complete_success(response: object) -> None:
    assert reported_failures(response, ["a", "b"]) == set()


@pytest.mark.parametrize(
    "response",
    [
        "ok",
        {"batchItemFailures": "a"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "a"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
    ],
)
def test_malformed_batch_response_fails_the_whole_batch(response: object) -> None:
    with pytest.raises(MalformedBatchResponse):
        reported_failures(response, ["a", "b"])


# --- against moto's server ---


@pytest.mark.e2e
def test_discovered_handler_gets_lambda_shaped_batches_of_at_most_batch_size(sqs_client: Any) -> None:
    url = create_queue(sqs_client, TOY_QUEUE, visibility_timeout=30)
    bodies = [f"message-{number}" for number in range(7)]
    send_bodies(sqs_client, url, bodies)
    sqs_client.send_message(
        QueueUrl=url,
        MessageBody="with-attributes",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "order"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    toy = ToyApp(batch_size=3)
    results: queue.Queue[BatchResult] = queue.Queue()
    source = SqsEventSource(toy.app, sqs_client, on_batch=results.put)

    source.start()
    try:
        deleted = 0
        for _ in range(8):
            if deleted == 8:
                break
            result = next_result(results)
            assert len(result.message_ids) <= 3
            deleted += len(result.deleted)
    finally:
        started = time.monotonic()
        source.stop()
        stop_seconds = time.monotonic() - started

    assert deleted == 8
    assert stop_seconds < 3.0
    assert sorted(toy.bodies_seen()) == sorted([*bodies, "with-attributes"])
    assert all(len(event["Records"]) <= 3 for event in toy.events)
    assert messages_left(sqs_client, url) == 0
    records = {record["body"]: record for event in toy.events for record in event["Records"]}
    record = records["with-attributes"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{TOY_QUEUE}"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "order"
    assert record["messageAttributes"]["blob"] == {
        "binaryValue": "AAE=",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }
    assert len({record["messageId"] for record in records.values()}) == 8


@pytest.mark.e2e
def test_batching_window_gathers_messages_sent_after_the_first(sqs_client: Any) -> None:
    url = create_queue(sqs_client, TOY_QUEUE, visibility_timeout=30)
    send_bodies(sqs_client, url, ["early-1", "early-2"])
    app = Chalice(app_name="windowed")
    batches: list[list[str]] = []

    @app.on_sqs_message(queue=TOY_QUEUE, batch_size=5, maximum_batching_window_in_seconds=1)
    def consume(event: SQSEvent) -> None:
        batches.append([record.body for record in event])

    late_sender = threading.Timer(0.2, send_bodies, args=(sqs_client, url, ["late-1", "late-2"]))
    late_sender.start()
    try:
        result = SqsEventSource(app, sqs_client).run_once(wait_seconds=1)
    finally:
        late_sender.join(timeout=5)

    assert result is not None
    assert sorted(batches[0]) == ["early-1", "early-2", "late-1", "late-2"]
    assert len(result.deleted) == 4


@pytest.mark.e2e
def test_reported_item_failure_is_kept_and_redelivered_others_deleted(sqs_client: Any) -> None:
    url = create_queue(sqs_client, TOY_QUEUE)
    send_bodies(sqs_client, url, ["good-1", "bad", "good-2"])
    toy = ToyApp(batch_size=3)
    toy.fail_bodies = {"bad"}
    source = SqsEventSource(toy.app, sqs_client)

    first = source.run_once(wait_seconds=1)
    assert first is not None
    assert (len(first.deleted), len(first.failed)) == (2, 1)
    assert source.run_once() is None  # "bad" is in flight until its visibility timeout ends

    toy.fail_bodies = set()
    again = source.run_once(wait_seconds=3)

    assert again is not None
    assert again.message_ids == first.failed
    assert again.deleted == first.failed
    assert toy.events[-1]["Records"][0]["body"] == "bad"
    assert toy.events[-1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert messages_left(sqs_client, url) == 0


@pytest.mark.e2e
def test_handler_that_raises_deletes_nothing_and_batch_is_redelivered(sqs_client: Any) -> None:
    url = create_queue(sqs_client, TOY_QUEUE)
    send_bodies(sqs_client, url, ["one", "two"])
    toy = ToyApp(batch_size=3)
    toy.raise_error = True
    source = SqsEventSource(toy.app, sqs_client)

    first = source.run_once(wait_seconds=1)
    assert first is not None
    assert first.deleted == ()
    assert first.error == "RuntimeError: handler failed"
    assert messages_left(sqs_client, url) == 2

    toy.raise_error = False
    again = source.run_once(wait_seconds=3)

    assert again is not None
    assert sorted(again.deleted) == sorted(first.message_ids)
    assert {record["attributes"]["ApproximateReceiveCount"] for record in toy.events[-1]["Records"]} == {"2"}
    assert messages_left(sqs_client, url) == 0


@pytest.mark.e2e
def test_batch_abandoned_at_stop_is_redelivered_and_published_exactly_once(
    sqs_client: Any, relay_config: dict[str, Any], redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the real drain published an event and its runner is stopped before deleting it, the
    message comes back after the visibility timeout and the next drain does not publish it again."""
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    reset_process_state()
    from app import app

    create_queue(sqs_client, DEAD_LETTER_QUEUE)
    url = create_queue(sqs_client, RETRY_QUEUE)
    webhook = get_relay_config().webhook("redis_test")
    assert webhook is not None
    now = datetime.now(UTC)
    envelope = build_envelope(webhook, b'{"order": 7}', {"content-type": "application/json"}, now)
    sqs_client.send_message(
        QueueUrl=url, MessageBody=encode_queue_message(new_queue_message(envelope, utc_timestamp(now), "test"))
    )

    # A stand-in for a process killed mid-batch: the real drain runs, then the handler never returns.
    published, release = threading.Event(), threading.Event()
    stalling = Chalice(app_name="stalling")

    @stalling.on_sqs_message(queue=RETRY_QUEUE, batch_size=10, name="drain")
    def drain_then_stall(event: SQSEvent) -> dict[str, Any]:
        answer: dict[str, Any] = app.handler_map["drain"](event.to_dict(), event.context)
        published.set()
        release.wait(timeout=10)
        return answer

    stalled_results: queue.Queue[BatchResult] = queue.Queue()
    stalled = SqsEventSource(stalling, sqs_client, on_batch=stalled_results.put)
    stalled.start()
    try:
        assert published.wait(timeout=5)
        stalled.stop(timeout=0.2)

        real_results: queue.Queue[BatchResult] = queue.Queue()
        with SqsEventSource(app, sqs_client, on_batch=real_results.put):
            redelivered = next_result(real_results)
    finally:
        release.set()
        stalled.stop()

    abandoned = next_result(stalled_results)
    assert (abandoned.deleted, abandoned.error) == ((), "abandoned at stop")
    assert redelivered.message_ids == abandoned.message_ids
    assert redelivered.deleted == redelivered.message_ids
    assert messages_left(sqs_client, url) == 0
    events = stream_events(redis_db)
    assert [(event["id"], event["payload"]) for event in events] == [(envelope["id"], {"order": 7})]


# --- moto's server itself ---


@pytest.mark.e2e
@pytest.mark.parametrize("listening", [True, False], ids=["listening", "bound-only"])
def test_moto_server_on_busy_port_raises_error_naming_the_port(listening: bool) -> None:
    """bound-only: nothing answers, so only the bind inside moto's thread can find out."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        if listening:
            squatter.listen()
        port = squatter.getsockname()[1]

        with pytest.raises(MotoServerError, match=f"port {port} .*already in use"):
            MotoSqsServer(port=port).start()


@pytest.mark.e2e
def test_endpoint_answers_only_where_a_server_listens(moto_sqs: MotoSqsServer) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]

    started = time.monotonic()
    assert endpoint_answers(moto_sqs.url)
    assert not endpoint_answers(f"http://127.0.0.1:{closed_port}")
    assert time.monotonic() - started < 1.0
