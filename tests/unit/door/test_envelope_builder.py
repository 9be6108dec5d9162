"""Building the envelope: delivery id, forwarded headers, payload by data type."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.config.loader import parse_webhook
from chalicelib.config.model import WebhookConfig
from chalicelib.door.envelope_builder import build_envelope
from chalicelib.envelope import encode_envelope
from chalicelib.errors import RejectedRequest

NOW = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
JSON_HEADERS = {"content-type": "application/json"}


def webhook(data_type: str = "json") -> WebhookConfig:
    settings = {"data_type": data_type, "redis": {"channel": "webhook_events", "stream": "webhook_events"}}
    return parse_webhook("redis_test", settings, "webhooks.json")


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
