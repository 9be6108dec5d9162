"""Building the envelope: delivery id, forwarded headers, payload by data type."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import redis

from chalicelib.config.loader import parse_webhook
from chalicelib.config.model import WebhookConfig
from chalicelib.door.envelope_builder import build_envelope
from chalicelib.envelope import encode_envelope
from chalicelib.errors import ConfigError, RejectedRequest
from chalicelib.process_state import reset_process_state
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import RETRY_QUEUE, WriteConfig, drain_messages, stream_events, webhook_settings
from tests.signed_requests import JSON, answer, post, sign_github

NOW = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
JSON_HEADERS = {"content-type": "application/json"}


WEBHOOK = "events"
WEBHOOK_SETTINGS: dict[str, Any] = {
    "data_type": "json",
    "redis": {"channel": "webhook_events", "stream": "webhook_events"},
}


def webhook(data_type: str = "json") -> WebhookConfig:
    return parse_webhook("redis_test", {**WEBHOOK_SETTINGS, "data_type": data_type}, "webhooks.json")


def rejection(data_type: str, body: bytes, headers: dict[str, str] | None = None) -> RejectedRequest:
    with pytest.raises(RejectedRequest) as caught:
        build_envelope(webhook(data_type), body, headers or JSON_HEADERS, NOW)
    return caught.value


# --- the envelope's fields ----------------------------------------------------------------


def test_envelope_carries_everything_a_consumer_reads() -> None:
    # given
    headers = {"content-type": "application/json", "x-github-event": "push", "x-github-delivery": "d-1"}

    # when
    envelope = build_envelope(webhook(), b'{"ref": "main", "n": 1}', headers, NOW)

    # then
    assert envelope == {
        "id": "d-1",
        "webhook_id": "redis_test",
        "received_at": "2026-01-02T03:04:05.678Z",
        "data_type": "json",
        "content_type": "application/json",
        "headers": headers,
        "payload": {"ref": "main", "n": 1},
        "verified_by": None,
    }


def test_received_at_is_utc_with_milliseconds_and_z() -> None:
    paris_winter = timezone(timedelta(hours=1))
    moment = datetime(2026, 1, 2, 4, 4, 5, 999_999, tzinfo=paris_winter)

    envelope = build_envelope(webhook(), b"{}", JSON_HEADERS, moment)

    assert envelope["received_at"] == "2026-01-02T03:04:05.999Z"


def test_missing_content_type_is_null() -> None:
    envelope = build_envelope(webhook(), b"{}", {}, NOW)

    assert envelope["content_type"] is None


def test_encoded_envelope_is_compact_json_that_keeps_unicode() -> None:
    envelope = build_envelope(webhook(), '{"name": "Zoë ☃"}'.encode(), JSON_HEADERS, NOW)

    encoded = encode_envelope(envelope)

    assert json.loads(encoded) == envelope
    assert "Zoë ☃" in encoded
    assert ", " not in encoded


# --- delivery id --------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["x-github-delivery", "x-shopify-webhook-id", "webhook-id"])
def test_sender_delivery_id_becomes_the_event_id(header: str) -> None:
    envelope = build_envelope(webhook(), b"{}", {**JSON_HEADERS, header: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, NOW)

    assert envelope["id"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_github_delivery_id_wins_over_standard_webhook_id() -> None:
    headers = {**JSON_HEADERS, "webhook-id": "msg_standard", "x-github-delivery": "gh-1"}

    assert build_envelope(webhook(), b"{}", headers, NOW)["id"] == "gh-1"


def test_delivery_id_is_trimmed() -> None:
    assert build_envelope(webhook(), b"{}", {"webhook-id": "  msg_1 \t"}, NOW)["id"] == "msg_1"


def test_without_a_delivery_id_each_event_gets_a_fresh_uuid() -> None:
    # when the sender names no delivery
    first = build_envelope(webhook(), b"{}", JSON_HEADERS, NOW)
    second = build_envelope(webhook(), b"{}", JSON_HEADERS, NOW)

    # then
    assert uuid.UUID(first["id"]).version == 4
    assert uuid.UUID(second["id"]).version == 4
    assert first["id"] != second["id"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("has space", id="inner-space"),
        pytest.param("tab\there", id="control-character"),
        pytest.param("zoë", id="non-ascii"),
        pytest.param("x" * 201, id="over-200"),
    ],
)
def test_invalid_delivery_id_is_rejected_with_400(value: str) -> None:
    error = rejection("json", b"{}", {**JSON_HEADERS, "x-github-delivery": value})

    assert (error.status, error.code) == (400, "invalid_delivery_id")
    assert "x-github-delivery" in error.message


def test_delivery_id_of_200_printable_characters_is_accepted() -> None:
    longest = "~" + "a" * 198 + "!"

    assert build_envelope(webhook(), b"{}", {"webhook-id": longest}, NOW)["id"] == longest


# --- forwarded headers --------------------------------------------------------------------

NEVER_FORWARDED = {
    "authorization": "Bearer secret-token",
    "proxy-authorization": "Basic c2VjcmV0",
    "cookie": "session=secret",
    "x-hub-signature-256": "sha256=abc123",
    "x-hub-signature": "sha1=abc123",
    "stripe-signature": "t=1,v1=abc123",
    "x-slack-signature": "v0=abc123",
    "x-shopify-hmac-sha256": "c2lnbmF0dXJl",
    "webhook-signature": "v1,c2lnbmF0dXJl",
    "x-gitlab-token": "secret-token",
    "x-api-key": "secret-key",
    "api-key": "secret-key",
    "apikey": "secret-key",
    "x-functions-key": "secret-key",
    "x-amz-security-token": "secret-session-token",
    "ocp-apim-subscription-key": "secret-key",
    "x-partner-key": "secret-key",
    "x-client-credential": "secret-credential",
    "host": "abc.execute-api.us-east-1.amazonaws.com",
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-proto": "https",
    "x-amzn-trace-id": "Root=1-abc",
    "content-length": "2",
    "connection": "keep-alive",
}
FORWARDED = {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/abc",
    "x-github-event": "push",
    "x-github-delivery": "d-1",
    "x-slack-request-timestamp": "1700000000",
    "webhook-timestamp": "1700000000",
}


def test_only_the_senders_own_headers_are_forwarded() -> None:
    # given a request with signatures, credentials and transport headers
    headers = {**FORWARDED, **NEVER_FORWARDED}

    # when
    envelope = build_envelope(webhook(), b"{}", headers, NOW)

    # then
    assert envelope["headers"] == FORWARDED
    encoded = encode_envelope(envelope)
    for secret in ("secret", "abc123", "c2lnbmF0dXJl", "c2VjcmV0"):
        assert secret not in encoded


@pytest.mark.parametrize("name", sorted(NEVER_FORWARDED))
def test_header_is_never_forwarded(name: str) -> None:
    envelope = build_envelope(webhook(), b"{}", {name: NEVER_FORWARDED[name]}, NOW)

    assert envelope["headers"] == {}


# --- payload by data type -----------------------------------------------------------------


@pytest.mark.parametrize("data_type", ["json", "form", "blob"])
def test_empty_body_is_rejected_with_400(data_type: str) -> None:
    error = rejection(data_type, b"")

    assert (error.status, error.code) == (400, "empty_body")


def test_json_payload_is_the_parsed_document() -> None:
    body = json.dumps({"list": [1, 2.5, None, True], "text": "Zoë"}).encode()

    assert build_envelope(webhook(), body, JSON_HEADERS, NOW)["payload"] == {
        "list": [1, 2.5, None, True],
        "text": "Zoë",
    }


@pytest.mark.parametrize("body", [b'{"n": NaN}', b'{"n": Infinity}', b"[-Infinity]", b"NaN"])
def test_json_not_a_number_is_rejected(body: bytes) -> None:
    error = rejection("json", body)

    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"a": 1', id="truncated"),
        pytest.param(b"{'a': 1}", id="single-quotes"),
        pytest.param(b'{"a": "\xff"}', id="invalid-utf8"),
        pytest.param(b"   ", id="whitespace-only"),
    ],
)
def test_invalid_json_is_rejected_with_400(body: bytes) -> None:
    error = rejection("json", body)

    assert (error.status, error.code) == (400, "invalid_json")


def test_json_nested_100000_levels_is_rejected_not_crashing() -> None:
    # given a body the parser would recurse into 100,000 times
    body = b"[" * 100_000 + b"]" * 100_000

    # when / then: a 400, not a RecursionError
    error = rejection("json", body)
    assert (error.status, error.code) == (400, "json_too_deep")
    assert "deeper than" in error.message


def test_form_repeated_keys_become_lists_and_single_keys_stay_strings() -> None:
    # given
    body = b"tag=a&tag=b&text=hello+world&euro=%E2%82%AC&blank="

    # when
    payload = build_envelope(webhook("form"), body, {"content-type": "application/x-www-form-urlencoded"}, NOW)[
        "payload"
    ]

    # then
    assert payload == {"tag": ["a", "b"], "text": "hello world", "euro": "€", "blank": ""}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"name=\xff\xfe", id="raw-invalid-utf8"),
        pytest.param(b"name=%FF%FE", id="percent-encoded-invalid-utf8"),
    ],
)
def test_form_that_is_not_utf8_is_rejected_with_400(body: bytes) -> None:
    error = rejection("form", body)

    assert (error.status, error.code) == (400, "invalid_form")


def test_blob_payload_is_base64_of_the_exact_bytes() -> None:
    # given every byte value, including ones that are not UTF-8
    body = bytes(range(256)) + b"\xff\xfe\x80\x00"

    # when the envelope goes through its JSON encoding, as it does to Redis
    envelope = json.loads(encode_envelope(build_envelope(webhook("blob"), body, {}, NOW)))

    # then
    assert envelope["data_type"] == "blob"
    assert base64.b64decode(envelope["payload"], validate=True) == body


# --- forward_headers: an allowlist ------------------------------------------------------------


def test_forward_headers_forwards_exactly_the_listed_headers() -> None:
    # given a webhook listing three headers (any case), one of them a name the default rules drop
    rules = {"forward_headers": ["X-GitHub-Event", "x-hub-signature-256", "x-not-sent"]}
    configured = parse_webhook("redis_test", {**WEBHOOK_SETTINGS, **rules}, "webhooks.json")
    headers = {**FORWARDED, "x-hub-signature-256": "sha256=abc123", "authorization": "Bearer secret-token"}

    # when
    envelope = build_envelope(configured, b"{}", headers, NOW)

    # then only those sent are forwarded: the signature (so a consumer can re-verify), not the rest
    assert envelope["headers"] == {"x-github-event": "push", "x-hub-signature-256": "sha256=abc123"}


@pytest.mark.parametrize(
    ("verify", "listed"),
    [
        pytest.param({"provider": "token", "secrets": ["t"], "header": "X-Relay-Token"}, "x-relay-token", id="token"),
        pytest.param({"provider": "token", "secrets": ["t"]}, "authorization", id="bearer"),
        pytest.param({"provider": "basic", "secrets": ["user:pass"]}, "Authorization", id="basic"),
    ],
)
def test_forward_headers_listing_the_verify_credential_header_is_a_config_error(
    verify: dict[str, Any], listed: str
) -> None:
    # given a webhook whose allowlist names the header that carries its shared secret
    settings = {**WEBHOOK_SETTINGS, "verify": verify, "forward_headers": ["x-request-id", listed]}

    # when
    with pytest.raises(ConfigError) as raised:
        parse_webhook("redis_test", settings, "webhooks.json")

    # then the error names the entry
    assert (raised.value.webhook_id, raised.value.field) == ("redis_test", "forward_headers[1]")
    assert "never forwarded" in raised.value.problem


# --- include_raw_body: consumers can re-verify ----------------------------------------------


def test_include_raw_body_lets_a_consumer_check_the_github_signature_itself(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a GitHub webhook that forwards its signature header and the raw body
    settings = webhook_settings(
        redis_server,
        verify={"provider": "github", "secrets": ["gh-secret"]},
        include_raw_body=True,
        forward_headers=["x-github-event", "x-hub-signature-256"],
    )
    write_config({WEBHOOK: settings})
    body = b'{"zen":  "spaces and key order kept", "a": 0.10000000000000000555}'

    # when GitHub delivers
    response = post(chalice_client, WEBHOOK, body, {**JSON, **sign_github("gh-secret", body, 0, "d-1")})

    # then the consumer finds the exact bytes, and they verify with the secret
    assert answer(response)["status"] == "delivered"
    [event] = stream_events(redis_db)
    raw_body = base64.b64decode(event["raw_body"], validate=True)
    assert raw_body == body
    expected = "sha256=" + hmac.new(b"gh-secret", raw_body, hashlib.sha256).hexdigest()
    assert event["headers"]["x-hub-signature-256"] == expected


def test_without_include_raw_body_the_envelope_has_no_raw_body() -> None:
    assert "raw_body" not in build_envelope(webhook(), b"{}", JSON_HEADERS, NOW)


# --- numbers keep the value that was sent ---------------------------------------------------

# Each is a value a double would change: 0.1, 0.0, inf and 1.2345678901234568e+22.
EXACT_NUMBERS = b'{"a": 0.10000000000000000555, "b": 1e-400, "c": 1E400, "d": 12345678901234567890123.5, "e": 2.5}'
EXACT_TEXTS = ("0.10000000000000000555", "1E-400", "1E+400", "12345678901234567890123.5")


def assert_numbers_kept(event_json: str | bytes, queued: bool = False) -> None:
    """The envelope (or the queue message holding it) as JSON text carries each exact value."""
    document = json.loads(event_json, parse_float=Decimal)
    payload = (document["envelope"] if queued else document)["payload"]
    assert payload == {
        "a": Decimal("0.10000000000000000555"),
        "b": Decimal("1e-400"),
        "c": Decimal("1e400"),
        "d": Decimal("12345678901234567890123.5"),
        "e": Decimal("2.5"),
    }
    text = event_json.decode() if isinstance(event_json, bytes) else event_json
    for number in EXACT_TEXTS:
        assert number in text


def test_numbers_a_double_would_change_reach_the_stream_as_sent(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given
    write_config({WEBHOOK: webhook_settings(redis_server)})

    # when
    response = post(chalice_client, WEBHOOK, EXACT_NUMBERS)

    # then the event in Redis holds each number's exact value, as valid JSON
    assert answer(response)["status"] == "delivered"
    [(_, fields)] = redis_db.xrange("webhook_events")
    assert_numbers_kept(fields[b"event"])


def test_numbers_a_double_would_change_survive_the_retry_queue_and_the_drain(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any, sqs: Any
) -> None:
    # given Redis is down, so the event is queued
    write_config({WEBHOOK: webhook_settings(redis_server)})
    redis_server.stop()
    assert post(chalice_client, WEBHOOK, EXACT_NUMBERS).status_code == 202
    [message] = drain_messages(sqs, RETRY_QUEUE)
    assert_numbers_kept(message["Body"], queued=True)

    # when Redis is back and the drain delivers it
    redis_server.start()
    reset_process_state()
    report = drain_batch([DrainRecord(message_id=message["MessageId"], body=message["Body"])])

    # then what reaches the stream still holds the exact values
    assert list(report.outcomes.values()) == [DrainOutcome.DELIVERED]
    [(_, fields)] = redis_db.xrange("webhook_events")
    assert_numbers_kept(fields[b"event"])


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"properties": {"a": {"multipleOf": 0.01}}}, id="multiple-of"),
        pytest.param({"properties": {"c": {"type": "integer"}}}, id="integer"),
        pytest.param({"properties": {"c": {"multipleOf": 0.5}}}, id="multiple-of-past-a-double"),
        pytest.param({"properties": {"b": {"exclusiveMinimum": 0}}}, id="exclusive-minimum"),
    ],
)
def test_schema_checks_on_exact_numbers_answer_4xx_or_deliver_never_500(
    schema: dict[str, Any],
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    # given a schema whose keywords do arithmetic on numbers a double cannot hold
    write_config({WEBHOOK: webhook_settings(redis_server, schema=schema)})

    # when
    response = post(chalice_client, WEBHOOK, EXACT_NUMBERS)

    # then a clear answer
    assert response.status_code in (200, 422), response.body
    if response.status_code == 422:
        assert answer(response)["error"]["code"] == "schema_violation"
