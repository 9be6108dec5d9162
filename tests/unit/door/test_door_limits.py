"""The door's limits and rules through POST /webhook/{id}: size, JSON depth, content type,
empty body, JSON Schema and the IP allowlist; and the configuration errors of each, which
name file, webhook and field and never show a secret."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest
import redis
from chalice.local import LambdaEventConverter

from chalicelib.config.declarations import MAX_BODY_BYTES, MAX_BODY_BYTES_LIMIT
from chalicelib.config.loader import load_config
from chalicelib.config.message_size import SQS_MAX_MESSAGE_BYTES, max_body_bytes_limit
from chalicelib.config.settings import Settings
from chalicelib.errors import ConfigError
from devstack.redis_server import RedisServer
from tests.conftest import (
    DEAD_LETTER_QUEUE,
    RETRY_QUEUE,
    WriteConfig,
    drain_messages,
    queue_url,
    stream_events,
    webhook_settings,
)
from tests.signed_requests import FORM, JSON, answer, assert_error_shape, post, sign_github

WEBHOOK = "door"
OCTET_STREAM = {"Content-Type": "application/octet-stream"}
# What a queue created without MaximumMessageSize takes: QUEUE_MAX_MESSAGE_BYTES's default.
SQS_MESSAGE_LIMIT_BYTES = 256 * 1024
# API Gateway REST APIs take at most 10,240 bytes of request headers.
API_GATEWAY_HEADER_BYTES = 10_240
# What chalice.test.Client's requests carry as requestContext.identity.sourceIp.
TEST_CLIENT_SOURCE_IP = "127.0.0.1"
SECRET = "s3cr3t-VALUE-9f2c"


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def queued_messages(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, RETRY_QUEUE)]


def config_error(write_config: WriteConfig, document: dict[str, Any]) -> tuple[str, ConfigError]:
    path = write_config(document)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return path, raised.value


def assert_names(error: ConfigError, path: str, field: str) -> None:
    assert (error.path, error.webhook_id, error.field) == (path, WEBHOOK, field)
    assert str(error).startswith(f"{path}: webhook '{WEBHOOK}': field '{field}': ")


# --- body size -----------------------------------------------------------------------------


def test_body_over_max_body_bytes_answers_413_and_stores_nothing(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any, sqs: Any
) -> None:
    # given a webhook that takes at most 100 bytes
    write_config({WEBHOOK: webhook_settings(redis_server, data_type="blob", max_body_bytes=100)})

    # when
    over = post(chalice_client, WEBHOOK, b"x" * 101, OCTET_STREAM)
    at_limit = post(chalice_client, WEBHOOK, b"x" * 100, OCTET_STREAM)

    # then
    assert "100 bytes" in assert_error_shape(over, 413, "payload_too_large")["message"]
    assert answer(at_limit)["status"] == "delivered"
    assert len(stream_events(redis_db)) == 1
    assert queued_messages(sqs) == []


def test_body_over_the_default_max_body_bytes_answers_413(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook with no max_body_bytes
    write_config({WEBHOOK: webhook_settings(redis_server, data_type="blob")})

    # when
    response = post(chalice_client, WEBHOOK, b"\x00" * (MAX_BODY_BYTES.default + 1), OCTET_STREAM)

    # then
    assert_error_shape(response, 413, "payload_too_large")
    assert stream_events(redis_db) == []


@pytest.mark.parametrize(
    ("queue_bytes", "max_body_bytes", "size"),
    [
        pytest.param(SQS_MESSAGE_LIMIT_BYTES, None, MAX_BODY_BYTES.default, id="default-128KiB"),
        pytest.param(SQS_MESSAGE_LIMIT_BYTES, MAX_BODY_BYTES_LIMIT, MAX_BODY_BYTES_LIMIT, id="highest-allowed-168KiB"),
        pytest.param(
            SQS_MAX_MESSAGE_BYTES,
            max_body_bytes_limit(SQS_MAX_MESSAGE_BYTES),
            max_body_bytes_limit(SQS_MAX_MESSAGE_BYTES),
            id="highest-allowed-with-1MiB-queues-744KiB",
        ),
    ],
)
def test_largest_accepted_blob_still_fits_a_retry_queue_message_when_redis_is_down(
    queue_bytes: int,
    max_body_bytes: int | None,
    size: int,
    write_config: WriteConfig,
    redis_server: RedisServer,
    chalice_client: Any,
    sqs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a retry queue that refuses messages over queue_bytes (moto's default, like SQS's
    # maximum since 2025, is 1 MiB) and the setting that says so, Redis stopped, and a blob
    # webhook at its size limit
    monkeypatch.setenv("QUEUE_MAX_MESSAGE_BYTES", str(queue_bytes))
    sqs.set_queue_attributes(QueueUrl=queue_url(sqs, RETRY_QUEUE), Attributes={"MaximumMessageSize": str(queue_bytes)})
    overrides = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
    write_config({WEBHOOK: webhook_settings(redis_server, data_type="blob", **overrides)})
    redis_server.stop()
    # the largest body accepted (base64 grows it by a third), with nearly all the request
    # headers API Gateway lets through, all forwarded in the envelope
    body = random.Random(5).randbytes(size)
    headers = {**OCTET_STREAM, **{f"X-Padding-{n}": "p" * 900 for n in range(10)}}
    assert sum(len(name) + len(value) for name, value in headers.items()) < API_GATEWAY_HEADER_BYTES

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then the spill took it, and the queued envelope carries the exact bytes
    assert response.status_code == 202, answer(response)
    [message] = drain_messages(sqs, RETRY_QUEUE)
    assert len(message["Body"].encode()) <= queue_bytes
    envelope = json.loads(message["Body"])["envelope"]
    assert base64.b64decode(envelope["payload"], validate=True) == body


def json_of_noncharacters(size: int) -> bytes:
    """A JSON body of about `size` bytes, nearly all U+FFFF: 3 bytes each in the body and in the
    envelope, 6 once escaped for SQS (which refuses the raw character)."""
    count = (size - len(b'{"s":""}')) // 3
    return ('{"s":"' + "\uffff" * count + '"}').encode()


def test_body_whose_queue_message_outgrows_the_queue_once_escaped_answers_413_and_queues_nothing(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any, sqs: Any
) -> None:
    # given a 256 KiB retry queue, Redis stopped (the event would spill), and a body whose bare
    # envelope fits the queue but whose queue message, escaped for SQS, is twice as large
    sqs.set_queue_attributes(
        QueueUrl=queue_url(sqs, RETRY_QUEUE), Attributes={"MaximumMessageSize": str(SQS_MESSAGE_LIMIT_BYTES)}
    )
    write_config({WEBHOOK: webhook_settings(redis_server, max_body_bytes=MAX_BODY_BYTES_LIMIT)})
    redis_server.stop()
    body = json_of_noncharacters(MAX_BODY_BYTES_LIMIT)
    assert len(body) + 2048 < SQS_MESSAGE_LIMIT_BYTES < 2 * len(body)

    # when
    response = post(chalice_client, WEBHOOK, body)

    # then
    assert "would not fit" in assert_error_shape(response, 413, "payload_too_large")["message"]
    assert queued_messages(sqs) == []


def test_body_that_grows_when_escaped_is_queued_whole_when_the_queues_take_1_mib(
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given queues made for 1 MiB messages (as bootstrap makes them) and the setting that says so
    monkeypatch.setenv("QUEUE_MAX_MESSAGE_BYTES", str(SQS_MAX_MESSAGE_BYTES))
    for name in (RETRY_QUEUE, DEAD_LETTER_QUEUE):
        sqs.set_queue_attributes(
            QueueUrl=queue_url(sqs, name), Attributes={"MaximumMessageSize": str(SQS_MAX_MESSAGE_BYTES)}
        )
    write_config({WEBHOOK: webhook_settings(redis_server, max_body_bytes=MAX_BODY_BYTES_LIMIT)})
    redis_server.stop()
    body = json_of_noncharacters(MAX_BODY_BYTES_LIMIT)

    # when
    response = post(chalice_client, WEBHOOK, body)

    # then SQS took a message larger than 256 KiB, escaped, with the payload unchanged
    assert response.status_code == 202, answer(response)
    [message] = drain_messages(sqs, RETRY_QUEUE)
    assert len(message["Body"].encode()) > SQS_MESSAGE_LIMIT_BYTES
    assert "\uffff" not in message["Body"]
    assert json.loads(message["Body"])["envelope"]["payload"] == json.loads(body)


def test_max_body_bytes_beyond_what_the_queues_take_is_a_config_error_until_the_limit_is_raised(
    write_config: WriteConfig, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a blob webhook taking 512 KiB bodies, with the default 256 KiB queue limit
    path = write_config({WEBHOOK: webhook_settings(redis_server, data_type="blob", max_body_bytes=512 * 1024)})

    # then it is refused, naming the field
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert_names(raised.value, path, "max_body_bytes")

    # when the queues are said to take 1 MiB
    monkeypatch.setenv("QUEUE_MAX_MESSAGE_BYTES", str(SQS_MAX_MESSAGE_BYTES))

    # then it loads
    webhook = load_config(path).webhook(WEBHOOK)
    assert webhook is not None and webhook.max_body_bytes == 512 * 1024


@pytest.mark.parametrize("value", ["262143", "1048577", "1MiB"])
def test_queue_limit_outside_sqs_limits_answers_503_and_names_the_variable(
    value: str,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setenv("QUEUE_MAX_MESSAGE_BYTES", value)
    write_config({WEBHOOK: webhook_settings(redis_server)})

    # when
    response = post(chalice_client, WEBHOOK, b'{"n": 1}')

    # then
    assert_error_shape(response, 503)
    assert stream_events(redis_db) == []
    with pytest.raises(ConfigError, match="QUEUE_MAX_MESSAGE_BYTES"):
        Settings.from_environ({"QUEUE_MAX_MESSAGE_BYTES": value})


# --- JSON depth ----------------------------------------------------------------------------


def test_json_deeper_than_the_default_64_levels_answers_400_json_too_deep(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    write_config({WEBHOOK: webhook_settings(redis_server)})

    at_limit = post(chalice_client, WEBHOOK, nested_arrays(64))
    too_deep = post(chalice_client, WEBHOOK, nested_arrays(65))

    assert answer(at_limit)["status"] == "delivered"
    assert "64" in assert_error_shape(too_deep, 400, "json_too_deep")["message"]
    assert len(stream_events(redis_db)) == 1


def test_configured_max_json_depth_refuses_deeper_objects(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook that takes at most 3 levels
    write_config({WEBHOOK: webhook_settings(redis_server, max_json_depth=3)})

    # when
    three = post(chalice_client, WEBHOOK, b'{"a": {"b": {"c": 1}}}')
    four = post(chalice_client, WEBHOOK, b'{"a": {"b": {"c": [1]}}}')

    # then
    assert answer(three)["status"] == "delivered"
    assert "3 levels" in assert_error_shape(four, 400, "json_too_deep")["message"]
    assert [event["payload"] for event in stream_events(redis_db)] == [{"a": {"b": {"c": 1}}}]


@pytest.mark.parametrize("depth", [0, 129, "deep"])
def test_max_json_depth_out_of_range_is_a_config_error(
    depth: Any, write_config: WriteConfig, redis_server: RedisServer
) -> None:
    path, error = config_error(write_config, {WEBHOOK: webhook_settings(redis_server, max_json_depth=depth)})

    assert_names(error, path, "max_json_depth")


# --- content type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "content_type", "body"),
    [
        pytest.param("json", "text/plain", b'{"a": 1}', id="json-webhook-text-plain"),
        pytest.param("json", None, b'{"a": 1}', id="json-webhook-no-content-type"),
        pytest.param("json", "application/jsonp", b'{"a": 1}', id="json-webhook-jsonp"),
        pytest.param("json", "application/x-www-form-urlencoded", b'{"a": 1}', id="json-webhook-form"),
        pytest.param("form", "application/json", b"a=1", id="form-webhook-json"),
        pytest.param("form", None, b"a=1", id="form-webhook-no-content-type"),
        pytest.param("form", "multipart/form-data; boundary=x", b"a=1", id="form-webhook-multipart"),
    ],
)
def test_content_type_not_matching_data_type_answers_415(
    data_type: str,
    content_type: str | None,
    body: bytes,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given
    write_config({WEBHOOK: webhook_settings(redis_server, data_type=data_type)})
    headers = {} if content_type is None else {"Content-Type": content_type}

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then
    assert_error_shape(response, 415, "unsupported_media_type")
    assert stream_events(redis_db) == []
    assert queued_messages(sqs) == []


@pytest.mark.parametrize(
    ("data_type", "content_type", "body"),
    [
        pytest.param("json", "application/json", b'{"a": 1}', id="json"),
        pytest.param("json", "application/json; charset=utf-8", b'{"a": 1}', id="json-charset"),
        pytest.param("json", "Application/JSON", b'{"a": 1}', id="json-upper-case"),
        pytest.param("json", "application/vnd.api+json", b'{"a": 1}', id="json-api"),
        pytest.param("json", "application/cloudevents+json", b'{"a": 1}', id="cloudevents"),
        pytest.param("form", "application/x-www-form-urlencoded", b"a=1", id="form"),
        pytest.param("form", "application/x-www-form-urlencoded; charset=UTF-8", b"a=1", id="form-charset"),
        pytest.param("blob", "image/png", b"\x89PNG", id="blob-png"),
        pytest.param("blob", "text/xml", b"<a/>", id="blob-xml"),
        pytest.param("blob", None, b"\x00\x01", id="blob-no-content-type"),
    ],
)
def test_content_type_matching_data_type_is_accepted(
    data_type: str,
    content_type: str | None,
    body: bytes,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    write_config({WEBHOOK: webhook_settings(redis_server, data_type=data_type)})

    response = post(chalice_client, WEBHOOK, body, {} if content_type is None else {"Content-Type": content_type})

    assert answer(response)["status"] == "delivered"
    assert len(stream_events(redis_db)) == 1


def test_configured_content_types_take_other_media_types(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a JSON webhook whose sender labels its JSON text/plain
    write_config({WEBHOOK: webhook_settings(redis_server, content_types=["application/json", "text/plain"])})

    # when
    plain = post(chalice_client, WEBHOOK, b'{"a": 1}', {"Content-Type": "text/plain; charset=utf-8"})
    labelled = post(chalice_client, WEBHOOK, b'{"a": 2}', JSON)
    other = post(chalice_client, WEBHOOK, b'{"a": 3}', {"Content-Type": "text/csv"})

    # then
    assert (answer(plain)["status"], answer(labelled)["status"]) == ("delivered", "delivered")
    assert_error_shape(other, 415, "unsupported_media_type")
    assert [event["payload"] for event in stream_events(redis_db)] == [{"a": 1}, {"a": 2}]


def test_configured_content_types_replace_the_defaults_and_take_wildcards(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a JSON webhook that lists only text/* (docs/verification.md: "A list here replaces it")
    write_config({WEBHOOK: webhook_settings(redis_server, content_types=["text/*"])})

    # when
    plain = post(chalice_client, WEBHOOK, b'{"a": 1}', {"Content-Type": "text/plain"})
    labelled = post(chalice_client, WEBHOOK, b'{"a": 2}', JSON)

    # then
    assert answer(plain)["status"] == "delivered"
    assert_error_shape(labelled, 415, "unsupported_media_type")


def test_content_type_entry_that_is_not_a_media_type_is_a_config_error(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    path, error = config_error(
        write_config, {WEBHOOK: webhook_settings(redis_server, content_types=["application/json", "json"])}
    )

    assert_names(error, path, "content_types[1]")


# --- empty body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "headers"),
    [
        pytest.param("json", JSON, id="json"),
        pytest.param("form", FORM, id="form"),
        pytest.param("blob", OCTET_STREAM, id="blob"),
    ],
)
def test_empty_body_answers_400(
    data_type: str,
    headers: dict[str, str],
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    write_config({WEBHOOK: webhook_settings(redis_server, data_type=data_type)})

    response = post(chalice_client, WEBHOOK, b"", headers)

    assert_error_shape(response, 400, "empty_body")
    assert stream_events(redis_db) == []


def test_empty_body_is_refused_before_its_signature_is_checked(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a GitHub webhook and a genuinely signed empty body
    write_config({WEBHOOK: webhook_settings(redis_server, verify={"provider": "github", "secrets": [SECRET]})})

    # when
    response = post(chalice_client, WEBHOOK, b"", {**JSON, **sign_github(SECRET, b"", 0, "d-empty")})

    # then
    assert_error_shape(response, 400, "empty_body")


# --- JSON Schema ---------------------------------------------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order"],
    "properties": {
        "order": {
            "type": "object",
            "required": ["total"],
            "properties": {"total": {"type": "number"}, "lines": {"type": "array", "items": {"type": "string"}}},
        }
    },
}


def schema_webhook(write_config: WriteConfig, redis_server: RedisServer, source: str) -> None:
    """The order schema, inline or in schemas/order.json beside webhooks.json."""
    if source == "inline":
        write_config({WEBHOOK: webhook_settings(redis_server, schema=ORDER_SCHEMA)})
        return
    path = write_config({WEBHOOK: webhook_settings(redis_server, schema="schemas/order.json")})
    schemas = Path(path).parent / "schemas"
    schemas.mkdir()
    (schemas / "order.json").write_text(json.dumps(ORDER_SCHEMA))


@pytest.mark.parametrize("source", ["inline", "file"])
@pytest.mark.parametrize(
    ("payload", "failing_path"),
    [
        pytest.param({"order": {"total": "12.50"}}, "/order/total", id="wrong-type"),
        pytest.param({"order": {"total": 1, "lines": ["a", 2]}}, "/order/lines/1", id="array-item"),
        pytest.param({"order": {}}, "/order", id="missing-property"),
        pytest.param({"customer": 1}, "/", id="missing-top-level"),
    ],
)
def test_payload_failing_the_schema_answers_422_naming_the_path(
    source: str,
    payload: dict[str, Any],
    failing_path: str,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given a webhook with a JSON Schema
    schema_webhook(write_config, redis_server, source)

    # when
    response = post(chalice_client, WEBHOOK, json.dumps(payload).encode())

    # then the message starts with the failing path, and nothing was stored
    message = assert_error_shape(response, 422, "schema_violation")["message"]
    assert message.startswith(f"{failing_path}: "), message
    assert stream_events(redis_db) == []
    assert queued_messages(sqs) == []


@pytest.mark.parametrize("source", ["inline", "file"])
def test_payload_matching_the_schema_is_delivered(
    source: str, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    schema_webhook(write_config, redis_server, source)

    response = post(chalice_client, WEBHOOK, b'{"order": {"total": 12.5, "lines": ["sku-1"]}}')

    assert answer(response)["status"] == "delivered"
    assert [event["payload"] for event in stream_events(redis_db)] == [{"order": {"total": 12.5, "lines": ["sku-1"]}}]


def test_form_payload_is_checked_against_the_schema(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a slash-command webhook that needs a command
    schema = {"type": "object", "required": ["command"], "properties": {"command": {"pattern": "^/"}}}
    write_config({WEBHOOK: webhook_settings(redis_server, data_type="form", schema=schema)})

    # when
    bad = post(chalice_client, WEBHOOK, b"command=deploy", FORM)
    good = post(chalice_client, WEBHOOK, b"command=%2Fdeploy", FORM)

    # then
    assert assert_error_shape(bad, 422, "schema_violation")["message"].startswith("/command: ")
    assert answer(good)["status"] == "delivered"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param({"schema": {"type": "no-such-type"}}, "not a valid JSON Schema", id="unknown-type"),
        pytest.param(
            {"schema": {"properties": {"a": {"minLength": "two"}}}}, "not a valid JSON Schema", id="bad-keyword"
        ),
        pytest.param({"schema": ["not", "an", "object"]}, "JSON Schema object", id="not-an-object"),
        pytest.param({"schema": "schemas/missing.json"}, "cannot read", id="missing-file"),
        pytest.param({"data_type": "blob", "schema": {"type": "string"}}, "blob", id="on-a-blob-webhook"),
    ],
)
def test_invalid_schema_is_a_config_error_naming_the_schema_field(
    overrides: dict[str, Any], problem: str, write_config: WriteConfig, redis_server: RedisServer
) -> None:
    path, error = config_error(write_config, {WEBHOOK: webhook_settings(redis_server, **overrides)})

    assert_names(error, path, "schema")
    assert problem in error.problem


# --- IP allowlist --------------------------------------------------------------------------


def test_chalice_test_client_requests_come_from_127_0_0_1() -> None:
    # the assumption every allowlist test below builds on (chalice/local.py)
    assert LambdaEventConverter.LOCAL_SOURCE_IP == TEST_CLIENT_SOURCE_IP


@pytest.mark.parametrize(
    "allow_ips",
    [
        pytest.param(["127.0.0.0/8"], id="ipv4-network"),
        pytest.param(["127.0.0.1"], id="ipv4-address"),
        pytest.param(["10.0.0.0/8", "127.0.0.1/32"], id="second-of-two"),
        pytest.param(["2001:db8::/32", "127.0.0.0/24"], id="ipv6-and-ipv4"),
        pytest.param("127.0.0.0/8", id="a-single-string"),
    ],
)
def test_source_ip_inside_allow_ips_is_accepted(
    allow_ips: Any, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    write_config({WEBHOOK: webhook_settings(redis_server, allow_ips=allow_ips)})

    response = post(chalice_client, WEBHOOK, b'{"a": 1}')

    assert response.status_code == 200
    assert answer(response)["status"] == "delivered"


@pytest.mark.parametrize(
    "allow_ips",
    [
        pytest.param(["10.0.0.0/8", "192.168.0.0/16"], id="private-networks"),
        pytest.param(["127.0.0.2/32"], id="the-neighbour"),
        pytest.param(["::1/128"], id="ipv6-loopback"),
    ],
)
def test_source_ip_outside_allow_ips_answers_403_and_stores_nothing(
    allow_ips: list[str],
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    write_config({WEBHOOK: webhook_settings(redis_server, allow_ips=allow_ips)})

    response = post(chalice_client, WEBHOOK, b'{"a": 1}')

    message = assert_error_shape(response, 403, "ip_not_allowed")["message"]
    assert TEST_CLIENT_SOURCE_IP in message
    assert stream_events(redis_db) == []
    assert queued_messages(sqs) == []


@pytest.mark.parametrize(
    ("allow_ips", "status"),
    [
        pytest.param(["2001:db8::/32"], 200, id="inside-ipv6-network"),
        pytest.param(["2001:db8:0:1::/64", "127.0.0.0/8"], 403, id="outside-ipv6-network"),
        pytest.param(["0.0.0.0/0"], 403, id="any-ipv4-but-not-ipv6"),
    ],
)
def test_ipv6_source_ip_is_checked_against_ipv6_networks(
    allow_ips: list[str],
    status: int,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given requests from an IPv6 address (API Gateway passes one as sourceIp)
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "2001:db8::7")
    write_config({WEBHOOK: webhook_settings(redis_server, allow_ips=allow_ips)})

    # when
    response = post(chalice_client, WEBHOOK, b'{"a": 1}')

    # then
    assert response.status_code == status
    if status == 403:
        assert_error_shape(response, 403, "ip_not_allowed")


def test_allowlist_is_checked_before_the_signature(
    write_config: WriteConfig, redis_server: RedisServer, chalice_client: Any
) -> None:
    # given a signed webhook that only its sender's network may reach
    verify = {"provider": "github", "secrets": [SECRET]}
    write_config({WEBHOOK: webhook_settings(redis_server, verify=verify, allow_ips=["192.30.252.0/22"])})

    # when a request from elsewhere arrives unsigned
    response = post(chalice_client, WEBHOOK, b'{"a": 1}')

    # then it is told it is not allowed, not how its signature failed
    assert_error_shape(response, 403, "ip_not_allowed")


@pytest.mark.parametrize(
    ("allow_ips", "field"),
    [
        pytest.param(["10.0.0.0/33"], "allow_ips[0]", id="prefix-too-long"),
        pytest.param(["not-an-ip"], "allow_ips[0]", id="not-an-address"),
        pytest.param(["10.0.0.0/8", "2001:db8::/129"], "allow_ips[1]", id="second-entry"),
        pytest.param(["10.0.0.0/8", ""], "allow_ips[1]", id="empty-entry"),
        pytest.param([], "allow_ips", id="empty-list"),
    ],
)
def test_invalid_allow_ips_entry_is_a_config_error_naming_its_index(
    allow_ips: list[str], field: str, write_config: WriteConfig, redis_server: RedisServer
) -> None:
    path, error = config_error(write_config, {WEBHOOK: webhook_settings(redis_server, allow_ips=allow_ips)})

    assert_names(error, path, field)


# --- verify configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verify", "field"),
    [
        pytest.param({"provider": "gitlab", "secrets": [SECRET]}, "verify.provider", id="unknown-provider"),
        pytest.param({"secrets": [SECRET]}, "verify.provider", id="no-provider"),
        pytest.param({"provider": "github"}, "verify.secrets", id="missing-secrets"),
        pytest.param({"provider": "github", "secrets": []}, "verify.secrets", id="empty-secrets"),
        pytest.param({"provider": "github", "secrets": [SECRET, ""]}, "verify.secrets[1]", id="empty-secret"),
        pytest.param({"provider": "hmac", "secrets": [SECRET]}, "verify.header", id="hmac-without-header"),
        pytest.param(
            {"provider": "hmac", "header": "X-Sig", "algorithm": "md5", "secrets": [SECRET]},
            "verify.algorithm",
            id="hmac-md5",
        ),
        pytest.param(
            {"provider": "hmac", "header": "X-Sig", "encoding": "base32", "secrets": [SECRET]},
            "verify.encoding",
            id="hmac-base32",
        ),
        pytest.param(
            {"provider": "hmac", "header": "X-Sig", "signed_content": "{body}.{nonce}", "secrets": [SECRET]},
            "verify.signed_content",
            id="unknown-placeholder",
        ),
        pytest.param(
            {"provider": "hmac", "header": "X-Sig", "signed_content": "{timestamp}", "secrets": [SECRET]},
            "verify.signed_content",
            id="signed-content-without-body",
        ),
        pytest.param(
            {"provider": "hmac", "header": "X-Sig", "signed_content": "{timestamp}.{body}", "secrets": [SECRET]},
            "verify.timestamp_header",
            id="timestamp-placeholder-without-header",
        ),
        pytest.param(
            {"provider": "hmac", "header": "X-Sig", "signed_content": "{id}.{body}", "secrets": [SECRET]},
            "verify.id_header",
            id="id-placeholder-without-header",
        ),
        pytest.param(
            {"provider": "standard_webhooks", "secrets": [f"whsec_{SECRET}!"]},
            "verify.secrets[0]",
            id="standard-webhooks-secret-not-base64",
        ),
        pytest.param(
            {"provider": "standard_webhooks", "secrets": ["whsec_c2VjcmV0", f"{SECRET}!"]},
            "verify.secrets[1]",
            id="standard-webhooks-second-secret",
        ),
        pytest.param({"provider": "basic", "secrets": [SECRET]}, "verify.secrets[0]", id="basic-without-colon"),
        pytest.param(
            {"provider": "github", "secrets": [SECRET], "tolerance_seconds": 0},
            "verify.tolerance_seconds",
            id="zero-tolerance",
        ),
        pytest.param(
            {"provider": "github", "secrets": [SECRET], "tolerance_seconds": 86_401},
            "verify.tolerance_seconds",
            id="tolerance-over-a-day",
        ),
        pytest.param({"provider": "github", "secret": SECRET}, "verify.secret", id="misspelt-secrets"),
    ],
)
def test_invalid_verify_block_names_file_webhook_and_field_and_never_the_secret(
    verify: dict[str, Any], field: str, write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # given
    path, error = config_error(write_config, {WEBHOOK: webhook_settings(redis_server, verify=verify)})

    # then the operator is told where, and the secret is nowhere in what is logged or shown
    assert_names(error, path, field)
    assert SECRET not in str(error)


def test_invalid_verify_block_answers_503_config_invalid_on_health_without_the_secret(
    write_config: WriteConfig, redis_server: RedisServer, chalice_client: Any
) -> None:
    # given a basic webhook whose secret lacks the username part
    write_config({WEBHOOK: webhook_settings(redis_server, verify={"provider": "basic", "secrets": [SECRET]})})

    # when
    health = chalice_client.http.get("/health")
    webhook = post(chalice_client, WEBHOOK, b'{"a": 1}')

    # then
    message = assert_error_shape(health, 503, "config_invalid")["message"]
    assert "field 'verify.secrets[0]'" in message
    assert SECRET not in message
    assert webhook.status_code == 503
    assert SECRET not in webhook.body.decode()


# --- edge cases found by review --------------------------------------------------------------------


def test_json_with_a_lone_surrogate_escape_answers_400_not_500(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    write_config({WEBHOOK: webhook_settings(redis_server)})

    response = post(chalice_client, WEBHOOK, b'{"name": "\\ud800"}')

    assert response.status_code == 400
    assert_error_shape(response, 400, "invalid_json")


def test_number_beyond_a_double_never_reaches_consumers_as_infinity(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given
    write_config({WEBHOOK: webhook_settings(redis_server)})

    # when
    response = post(chalice_client, WEBHOOK, b'{"amount": 1e400}')

    # then it is refused like NaN and Infinity, or delivered as JSON a strict parser reads
    if response.status_code != 200:
        assert_error_shape(response, 400, "invalid_json")
        return
    for _, fields in redis_db.xrange("webhook_events"):
        json.loads(fields[b"event"], parse_constant=lambda name: pytest.fail(f"{name} in the envelope"))


def test_standard_webhooks_secret_with_an_empty_key_is_a_config_error(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    path = write_config(
        {WEBHOOK: webhook_settings(redis_server, verify={"provider": "standard_webhooks", "secrets": ["whsec_"]})}
    )

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert_names(raised.value, path, "verify.secrets[0]")
