"""POST /webhook/{id} and GET /health through Chalice's test client, a real redis-server and moto."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from redis.client import PubSub

from chalicelib.door.receive import receive
from chalicelib.process_state import reset_process_state
from devstack.ports import free_port
from devstack.redis_server import RedisServer
from tests.conftest import CHANNEL, RETRY_QUEUE, STREAM, WriteConfig, drain_messages, stream_events, webhook_settings

RECEIVED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JSON = {"Content-Type": "application/json"}
DEFAULT_RETRY_AFTER = "30"


def post(client: Any, webhook_id: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(f"/webhook/{webhook_id}", headers=JSON if headers is None else headers, body=body)


def answer(response: Any) -> Any:
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.body)


def assert_error_shape(response: Any, status: int, code: str) -> None:
    body = answer(response)
    assert response.status_code == status
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def assert_received_between(envelope: dict[str, Any], before: datetime, after: datetime) -> None:
    assert RECEIVED_AT.match(envelope["received_at"])
    received = datetime.fromisoformat(envelope["received_at"].replace("Z", "+00:00"))
    # the envelope keeps milliseconds, so allow the truncated part
    assert before - timedelta(milliseconds=1) <= received <= after


def queued_bodies(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, RETRY_QUEUE)]


def next_channel_message(subscriber: PubSub, timeout: float = 2.0) -> dict[str, Any] | None:
    """The next PUBLISHed event on the subscribed channel, or None once the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = subscriber.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None and message["type"] == "message":
            return dict(json.loads(message["data"]))
    return None


@pytest.fixture
def subscriber(redis_db: redis.Redis) -> Iterator[PubSub]:
    """Subscribed to the webhooks' channel, subscription confirmed, before the test posts."""
    pubsub = redis_db.pubsub()
    pubsub.subscribe(CHANNEL)
    deadline = time.monotonic() + 2.0
    confirmed = False
    while not confirmed and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.05)
        confirmed = message is not None and message["type"] == "subscribe"
    assert confirmed, "the subscription was not confirmed within 2 s"
    yield pubsub
    pubsub.close()


# --- delivered ---------------------------------------------------------------------------


def test_delivered_event_answers_200_and_reaches_stream_and_channel(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, subscriber: PubSub, sqs: Any
) -> None:
    # given a GitHub-shaped delivery
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": "sha256=d57c68ca6f92289e6987922ff26938930f6e66a2d161ef06abdf1859230aa23c",
    }
    payload = {"ref": "refs/heads/main", "commits": [{"id": "abc", "message": "Zoë ☃"}]}
    before = datetime.now(UTC)

    # when
    response = post(chalice_client, "redis_test", json.dumps(payload).encode(), headers)
    after = datetime.now(UTC)

    # then the sender is told it was delivered
    assert response.status_code == 200
    assert answer(response) == {"status": "delivered", "event_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    # and the stream holds exactly this envelope
    [streamed] = stream_events(redis_db)
    assert_received_between(streamed, before, after)
    assert streamed == {
        "id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "webhook_id": "redis_test",
        "received_at": streamed["received_at"],
        "data_type": "json",
        "content_type": "application/json",
        "headers": {
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/044aadd",
            "x-github-event": "push",
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        },
        "payload": payload,
        "verified_by": None,
    }
    # and the channel's subscriber got the same envelope
    assert next_channel_message(subscriber) == streamed
    # and nothing went to the retry queue
    assert queued_bodies(sqs) == []


def test_stream_entry_is_tagged_with_the_event_id(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis
) -> None:
    post(chalice_client, "redis_test", b'{"a": 1}', {**JSON, "webhook-id": "msg_1"})

    [(_, fields)] = redis_db.xrange(STREAM)
    assert fields[b"event_id"] == b"msg_1"


def test_same_delivery_id_twice_is_delivered_once_and_answers_duplicate(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, subscriber: PubSub
) -> None:
    # given an event already delivered
    headers = {**JSON, "X-GitHub-Delivery": "delivery-1"}
    first = post(chalice_client, "redis_test", b'{"n": 1}', headers)
    assert answer(first) == {"status": "delivered", "event_id": "delivery-1"}
    assert next_channel_message(subscriber) is not None

    # when the sender delivers it again
    second = post(chalice_client, "redis_test", b'{"n": 1}', headers)

    # then it is acknowledged but not delivered a second time
    assert second.status_code == 200
    assert answer(second) == {"status": "duplicate", "event_id": "delivery-1"}
    assert len(stream_events(redis_db)) == 1
    assert next_channel_message(subscriber, timeout=0.2) is None


def test_same_delivery_id_on_two_webhooks_is_two_events(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis
) -> None:
    headers = {"Content-Type": "application/octet-stream", "webhook-id": "msg_1"}

    first = post(chalice_client, "redis_test", b'{"n": 1}', {**JSON, "webhook-id": "msg_1"})
    second = post(chalice_client, "blob_hook", b"\x00", headers)

    assert (answer(first)["status"], answer(second)["status"]) == ("delivered", "delivered")
    assert [event["webhook_id"] for event in stream_events(redis_db)] == ["redis_test", "blob_hook"]


def test_form_body_is_delivered_as_an_object(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis
) -> None:
    # given a Slack-style slash command
    body = b"command=%2Fdeploy&text=api+prod&user=U1&user=U2"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    # when
    response = post(chalice_client, "form_hook", body, headers)

    # then
    assert answer(response)["status"] == "delivered"
    [event] = stream_events(redis_db)
    assert event["data_type"] == "form"
    assert event["content_type"] == "application/x-www-form-urlencoded"
    assert event["payload"] == {"command": "/deploy", "text": "api prod", "user": ["U1", "U2"]}


def test_blob_body_is_delivered_as_base64_of_the_exact_bytes(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis
) -> None:
    # given bytes that are not UTF-8
    body = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x80" + bytes(range(256))

    # when
    response = post(chalice_client, "blob_hook", body, {"Content-Type": "application/octet-stream"})

    # then
    assert answer(response)["status"] == "delivered"
    [event] = stream_events(redis_db)
    assert event["data_type"] == "blob"
    assert base64.b64decode(event["payload"], validate=True) == body


def test_environment_substitution_reaches_the_configured_redis(
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a port that only the environment knows
    settings = webhook_settings(redis_server)
    settings["redis"]["port"] = "${TEST_REDIS_PORT}"
    settings["redis"]["host"] = "${TEST_REDIS_HOST:-127.0.0.1}"
    write_config({"redis_test": settings})
    monkeypatch.setenv("TEST_REDIS_PORT", str(redis_server.port))

    # when
    response = post(chalice_client, "redis_test", b'{"ok": true}')

    # then
    assert answer(response)["status"] == "delivered"
    assert [event["payload"] for event in stream_events(redis_db)] == [{"ok": True}]


# --- Redis down: the spill ---------------------------------------------------------------


def test_redis_down_queues_event_and_answers_202(
    relay_config: dict[str, Any], chalice_client: Any, redis_server: RedisServer, sqs: Any
) -> None:
    # given Redis is not running
    redis_server.stop()
    headers = {**JSON, "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "X-Shopify-Topic": "orders"}
    before = datetime.now(UTC)

    # when
    response = post(chalice_client, "redis_test", b'{"order": 1001}', headers)
    after = datetime.now(UTC)

    # then the sender is told it is queued
    assert response.status_code == 202
    assert answer(response) == {"status": "queued", "event_id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
    # and the retry queue holds the envelope Redis would have had
    [message] = queued_bodies(sqs)
    envelope = message["envelope"]
    assert_received_between(envelope, before, after)
    assert envelope == {
        "id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "webhook_id": "redis_test",
        "received_at": envelope["received_at"],
        "data_type": "json",
        "content_type": "application/json",
        "headers": {
            "content-type": "application/json",
            "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "x-shopify-topic": "orders",
        },
        "payload": {"order": 1001},
        "verified_by": None,
    }
    # and no redrive has happened yet
    redrive = message["redrive"]
    assert (redrive["attempts"], redrive["waits"], redrive["not_before"]) == (0, 0, None)
    assert RECEIVED_AT.match(redrive["first_failed_at"])
    assert "ConnectionError" in redrive["last_error"]


def test_queued_envelope_is_the_one_redis_gets_when_up(
    relay_config: dict[str, Any], chalice_client: Any, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any
) -> None:
    # given the same request sent once with Redis up and once with it down
    headers = {**JSON, "webhook-id": "msg_same", "webhook-timestamp": "1700000000"}
    post(chalice_client, "redis_test", b'{"same": [1, 2]}', headers)
    [delivered] = stream_events(redis_db)
    redis_server.stop()

    # when
    response = post(chalice_client, "redis_test", b'{"same": [1, 2]}', headers)

    # then the two envelopes differ only by when they were received
    assert response.status_code == 202
    [message] = queued_bodies(sqs)
    queued = message["envelope"]
    assert {**queued, "received_at": None} == {**delivered, "received_at": None}


def test_redis_and_queue_down_answers_503_with_retry_after(
    relay_config: dict[str, Any], chalice_client: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given Redis is stopped and SQS points at a port nothing listens on
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{free_port()}")
    reset_process_state()
    redis_server.stop()

    # when
    response = post(chalice_client, "redis_test", b'{"a": 1}')

    # then the sender is told to come back later
    assert_error_shape(response, 503, "unavailable")
    assert response.headers["Retry-After"] == DEFAULT_RETRY_AFTER


def test_retry_after_follows_the_setting(
    relay_config: dict[str, Any], redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given RETRY_AFTER_SECONDS=7 (called through the door: the test client would apply
    # .chalice/config.json's RETRY_AFTER_SECONDS over the test's environment)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("RETRY_AFTER_SECONDS", "7")
    reset_process_state()
    redis_server.stop()

    # when
    refused = receive("redis_test", b'{"a": 1}', {"content-type": "application/json"})

    # then
    assert refused.status == 503
    assert refused.headers == {"Retry-After": "7"}


def test_retries_disabled_and_redis_down_answers_503_and_queues_nothing(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any, sqs: Any
) -> None:
    # given a webhook that must not be queued
    write_config({"redis_test": webhook_settings(redis_server, retry={"enabled": False})})
    redis_server.stop()

    # when
    response = post(chalice_client, "redis_test", b'{"a": 1}')

    # then
    assert_error_shape(response, 503, "unavailable")
    assert response.headers["Retry-After"] == DEFAULT_RETRY_AFTER
    assert queued_bodies(sqs) == []


def test_redis_refusing_the_write_inline_spills_once_without_retrying_and_answers_202(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any, sqs: Any
) -> None:
    # given a webhook whose stream key holds a string, so Redis answers WRONGTYPE to the XADD,
    # and a server that knows the delivery script already (no NOSCRIPT round in the count)
    warm = webhook_settings(redis_server)
    warm["redis"] = {**warm["redis"], "stream": "warm_events"}
    write_config({"redis_test": webhook_settings(redis_server), "warm": warm})
    assert post(chalice_client, "warm", b'{"a": 0}').status_code == 200
    redis_db.set(STREAM, "not a stream")
    redis_db.config_resetstat()

    # when
    response = post(chalice_client, "redis_test", b'{"a": 1}')

    # then the event is queued for the drain (which spends attempts on refusals), after one try
    assert response.status_code == 202
    [queued] = queued_bodies(sqs)
    assert "WRONGTYPE" in queued["redrive"]["last_error"]
    assert int(redis_db.info("commandstats")["cmdstat_evalsha"]["calls"]) == 1
    assert not redis_db.keys("spillway:delivered:redis_test:*")


def test_hung_redis_spills_to_queue_within_the_inline_budget(
    relay_config: dict[str, Any], chalice_client: Any, redis_server: RedisServer, sqs: Any
) -> None:
    # given Redis accepts connections but never answers (SIGSTOP)
    budget_seconds = 1.5  # the default inline budget
    redis_server.pause()

    # when
    started = time.monotonic()
    response = post(chalice_client, "redis_test", b'{"a": 1}', {**JSON, "webhook-id": "msg_hung"})
    elapsed = time.monotonic() - started

    # then the sender waited no longer than the budget (plus the SQS send), and the event is queued
    assert response.status_code == 202
    assert answer(response) == {"status": "queued", "event_id": "msg_hung"}
    assert elapsed < budget_seconds + 0.5
    [message] = queued_bodies(sqs)
    assert message["envelope"]["id"] == "msg_hung"
    assert "TimeoutError" in message["redrive"]["last_error"]


# --- rejected requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("webhook_id", "body", "headers", "status", "code"),
    [
        pytest.param("redis_test", b'{"a": ', JSON, 400, "invalid_json", id="invalid-json"),
        pytest.param("redis_test", b'{"a": NaN}', JSON, 400, "invalid_json", id="json-nan"),
        pytest.param("redis_test", b"[" * 100_000, JSON, 400, "json_too_deep", id="json-nested-100000"),
        pytest.param("no_such_hook", b'{"a": 1}', JSON, 404, "unknown_webhook", id="unknown-webhook"),
        pytest.param("redis_test", b"", JSON, 400, "empty_body", id="empty-body"),
        pytest.param(
            "blob_hook", b"", {"Content-Type": "application/octet-stream"}, 400, "empty_body", id="empty-blob"
        ),
        pytest.param(
            "form_hook",
            b"a=%FF",
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
            "invalid_form",
            id="form-not-utf8",
        ),
        pytest.param(
            "redis_test", b"{}", {**JSON, "X-GitHub-Delivery": "not valid"}, 400, "invalid_delivery_id", id="bad-id"
        ),
    ],
)
def test_rejected_request_answers_error_and_delivers_nothing(
    relay_config: dict[str, Any],
    chalice_client: Any,
    redis_db: redis.Redis,
    sqs: Any,
    webhook_id: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    # when
    response = post(chalice_client, webhook_id, body, headers)

    # then
    assert_error_shape(response, status, code)
    assert "Retry-After" not in response.headers
    assert stream_events(redis_db) == []
    assert queued_bodies(sqs) == []


def test_body_over_max_body_bytes_answers_413(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook that takes at most 64 bytes
    write_config({"redis_test": webhook_settings(redis_server, max_body_bytes=64)})
    at_limit = json.dumps({"pad": "x" * 53}).encode()
    assert len(at_limit) == 64

    # when
    over = post(chalice_client, "redis_test", at_limit + b" ")
    fits = post(chalice_client, "redis_test", at_limit)

    # then
    assert_error_shape(over, 413, "payload_too_large")
    assert "64 bytes" in answer(over)["error"]["message"]
    assert answer(fits)["status"] == "delivered"
    assert len(stream_events(redis_db)) == 1


def test_body_that_would_not_fit_a_queue_message_answers_413(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a form body whose control characters grow sixfold as JSON ("%01" -> "\u0001")
    write_config({"form_hook": webhook_settings(redis_server, data_type="form", max_body_bytes=168 * 1024)})
    body = b"f=" + b"%01" * 50_000

    # when
    response = post(chalice_client, "form_hook", body, {"Content-Type": "application/x-www-form-urlencoded"})

    # then
    assert_error_shape(response, 413, "payload_too_large")
    assert stream_events(redis_db) == []


# --- configuration and health ------------------------------------------------------------


def test_good_config_passes_health(relay_config: dict[str, Any], chalice_client: Any) -> None:
    response = chalice_client.http.get("/health")

    assert response.status_code == 200
    assert answer(response) == {"status": "ok"}


def test_broken_config_fails_health_with_config_invalid_naming_the_field(
    write_config: WriteConfig, redis_server: RedisServer, chalice_client: Any
) -> None:
    # given a webhooks.json with a port out of range
    settings = webhook_settings(redis_server)
    settings["redis"]["port"] = 70_000
    path = write_config({"redis_test": settings})

    # when
    response = chalice_client.http.get("/health")

    # then
    assert_error_shape(response, 503, "config_invalid")
    message = answer(response)["error"]["message"]
    assert path in message
    assert "webhook 'redis_test'" in message
    assert "field 'redis.port'" in message


def test_broken_config_answers_503_to_webhooks_not_500(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhooks.json that is not even JSON
    path = write_config({})
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"redis_test": ')

    # when
    response = post(chalice_client, "redis_test", b'{"a": 1}')

    # then
    assert_error_shape(response, 503, "unavailable")
    assert response.headers["Retry-After"] == DEFAULT_RETRY_AFTER
    assert stream_events(redis_db) == []


def test_fixed_config_is_picked_up_without_a_restart_once_reset(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a broken file that is then fixed
    write_config({"redis_test": {"data_type": "xml"}})
    assert chalice_client.http.get("/health").status_code == 503

    # when the fixed file is written (write_config forgets the cached configuration)
    write_config({"redis_test": webhook_settings(redis_server)})

    # then
    assert chalice_client.http.get("/health").status_code == 200
    assert answer(post(chalice_client, "redis_test", b"{}"))["status"] == "delivered"


# --- the log ------------------------------------------------------------------------------


def test_each_request_writes_one_structured_log_line_without_body_or_signature(
    relay_config: dict[str, Any], chalice_client: Any, relay_log: Callable[[], list[Any]]
) -> None:
    # given a signed request whose body holds a secret-looking value
    signature = "sha256=5ce4fd3c1bd0c5e1dd06a9a0d14f3a0bde3a5d5f6c7b8a9e0d1c2b3a4f5e6d7c"
    body = b'{"card": "4242424242424242"}'
    headers = {**JSON, "X-GitHub-Delivery": "d-logged", "X-Hub-Signature-256": signature}
    relay_log()  # drop anything written before the request

    # when
    response = post(chalice_client, "redis_test", body, headers)

    # then exactly one line describes the request
    lines = relay_log()
    [line] = [entry for entry in lines if entry.get("message") == "webhook"]
    assert response.status_code == 200
    assert line["logger"] == "spillway.relay"
    assert line["webhook_id"] == "redis_test"
    assert line["event_id"] == "d-logged"
    assert line["outcome"] == "delivered"
    assert line["status"] == 200
    assert isinstance(line["latency_ms"], (int, float))
    assert line["latency_ms"] >= 0
    # and neither the body nor the signature is anywhere in the log
    logged = json.dumps(lines)
    assert "4242424242424242" not in logged
    assert signature not in logged
    assert "5ce4fd3c1bd0" not in logged


@pytest.mark.parametrize(
    ("webhook_id", "body", "outcome", "status"),
    [
        pytest.param("redis_test", b'{"a": ', "rejected", 400, id="rejected"),
        pytest.param("no_such_hook", b"{}", "rejected", 404, id="unknown"),
    ],
)
def test_rejected_request_is_logged_with_its_outcome(
    relay_config: dict[str, Any],
    chalice_client: Any,
    relay_log: Callable[[], list[Any]],
    webhook_id: str,
    body: bytes,
    outcome: str,
    status: int,
) -> None:
    relay_log()

    post(chalice_client, webhook_id, body)

    [line] = [entry for entry in relay_log() if entry.get("message") == "webhook"]
    assert (line["webhook_id"], line["outcome"], line["status"]) == (webhook_id, outcome, status)
    assert "latency_ms" in line


def test_queued_request_is_logged_as_queued(
    relay_config: dict[str, Any],
    chalice_client: Any,
    redis_server: RedisServer,
    sqs: Any,
    relay_log: Callable[[], list[Any]],
) -> None:
    redis_server.stop()
    relay_log()

    post(chalice_client, "redis_test", b'{"secret_field": "s3cr3t"}', {**JSON, "webhook-id": "msg_q"})

    lines = relay_log()
    [line] = [entry for entry in lines if entry.get("message") == "webhook"]
    assert (line["event_id"], line["outcome"], line["status"], line["path"]) == ("msg_q", "queued", 202, "queue")
    assert line["level"] == "INFO"
    assert "s3cr3t" not in json.dumps(lines)


# --- known gaps, pinned ------------------------------------------------------------------


def test_json_nested_near_the_parser_limit_never_answers_500(
    relay_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis
) -> None:
    # given bodies nested deeper and deeper, across the interpreter's limit (1000 frames)
    statuses = {}
    for depth in range(700, 1001):
        response = post(chalice_client, "redis_test", b"[" * depth + b"]" * depth)
        statuses[depth] = response.status_code

    # then each was either delivered or refused as a bad request
    assert {depth: status for depth, status in statuses.items() if status not in (200, 400)} == {}


def test_invalid_retry_after_setting_answers_503_not_500(
    relay_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a stage whose RETRY_AFTER_SECONDS is not a number (through the door, for the
    # reason given in test_retry_after_follows_the_setting)
    monkeypatch.setenv("RETRY_AFTER_SECONDS", "soon")

    # when
    refused = receive("redis_test", b'{"a": 1}', {"content-type": "application/json"})

    # then
    assert refused.status == 503
