"""Property-based tests of the door: whatever a sender puts in the body, the headers, the
content type or the webhook id, the answer is JSON, never a 5xx, and has one of two shapes.

Through chalice.test.Client with a real redis-server and moto's SQS. Header values are
printable ASCII (what HTTP/1.1 senders send); the Unicode and oversized timestamps that once
made a 500 are tested in test_signature_providers.py. Generated text has no lone surrogates
(Hypothesis leaves them out by default): a JSON escape of one still makes a 500, pinned in
test_door_limits.py.
"""

from __future__ import annotations

import json
import string
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devstack.redis_server import RedisServer
from tests.conftest import WriteConfig, webhook_settings
from tests.signed_requests import sign_github, sign_standard_webhooks, sign_stripe, whsec

GITHUB_SECRET = "gh-fuzz-secret"
STRIPE_SECRET = "whsec_fuzz"
STANDARD_WEBHOOKS_SECRET = whsec("fuzz-key")
SIGNED_WEBHOOKS = ("github_hook", "stripe_hook", "standard_webhooks_hook")
PLAIN_WEBHOOKS = ("json_hook", "form_hook", "blob_hook", "strict_hook")
SUCCESS_STATUSES = {200: {"delivered", "duplicate"}, 202: {"queued"}}

FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def door_config(redis_server: RedisServer) -> dict[str, Any]:
    """Every kind of webhook the door knows, including one with every optional rule."""
    schema = {"type": "object", "properties": {"id": {"type": ["string", "integer"]}, "n": {"type": "number"}}}
    return {
        "json_hook": webhook_settings(redis_server),
        "form_hook": webhook_settings(redis_server, data_type="form"),
        "blob_hook": webhook_settings(redis_server, data_type="blob"),
        "strict_hook": webhook_settings(
            redis_server,
            max_body_bytes=512,
            max_json_depth=4,
            schema=schema,
            event_id={"json_pointer": "/id"},
            content_types=["application/json", "text/*"],
            allow_ips=["127.0.0.0/8", "2001:db8::/32"],
        ),
        "github_hook": webhook_settings(redis_server, verify={"provider": "github", "secrets": [GITHUB_SECRET]}),
        "stripe_hook": webhook_settings(redis_server, verify={"provider": "stripe", "secrets": [STRIPE_SECRET]}),
        "standard_webhooks_hook": webhook_settings(
            redis_server, verify={"provider": "standard_webhooks", "secrets": [STANDARD_WEBHOOKS_SECRET]}
        ),
    }


@pytest.fixture
def door(write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any) -> redis.Redis:
    """webhooks.json with every kind of webhook, Redis up and empty, SQS mocked."""
    write_config(door_config(redis_server))
    return redis_db


@pytest.fixture
def door_without_redis(door: redis.Redis, redis_server: RedisServer) -> Iterator[None]:
    """The same, with Redis stopped (redis_db starts it again afterwards)."""
    redis_server.stop()
    yield


# --- strategies ----------------------------------------------------------------------------

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
# RFC 9110 token characters: what a header name may be made of.
TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~", min_size=1, max_size=24)
# RFC 3986 unreserved characters: a webhook id that stays one path segment.
URL_SAFE_ID = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=70)

json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
json_bodies = json_values.map(lambda value: json.dumps(value).encode())
# JSON cut short or with a byte changed: mostly invalid, sometimes still valid.
damaged_json = st.tuples(json_bodies, st.integers(min_value=0, max_value=60), st.binary(max_size=2)).map(
    lambda parts: parts[0][: parts[1]] + parts[2] + parts[0][parts[1] :]
)
form_bodies = st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(
    lambda fields: urlencode(fields).encode()
)
deep_json = st.integers(min_value=1, max_value=200).map(lambda depth: b"[" * depth + b"]" * depth)
bodies = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(lambda text: text.encode("utf-8")),
    json_bodies,
    damaged_json,
    form_bodies,
    deep_json,
)

content_types = st.one_of(
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "application/octet-stream"]),
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/vnd.api+json",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "multipart/form-data; boundary=xyz",
            "text/plain",
            "image/png",
            "*/*",
            "",
            ";",
            "application/",
            "+json",
        ]
    ),
    PRINTABLE,
)

# Names the door reads, so that fuzzed values reach the parsers of each scheme.
READ_HEADERS = [
    "x-hub-signature-256",
    "stripe-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-github-delivery",
    "x-shopify-webhook-id",
    "x-gitlab-event-uuid",
    "idempotency-key",
    "authorization",
]
hex_text = st.binary(max_size=40).map(bytes.hex)
header_values = st.one_of(
    PRINTABLE,
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    hex_text.map(lambda text: "sha256=" + text),
    st.tuples(st.integers(min_value=0, max_value=2**40), hex_text).map(lambda parts: f"t={parts[0]},v1={parts[1]}"),
    st.lists(st.binary(max_size=40).map(bytes.hex), max_size=3).map(
        lambda entries: " ".join(f"v1,{e}" for e in entries)
    ),
    st.just(str(int(time.time()))),
)
headers = st.dictionaries(st.one_of(st.sampled_from(READ_HEADERS), TOKEN), header_values, max_size=6)
# Mostly configured ids, so that most requests get past the first check.
webhook_ids = st.one_of(st.sampled_from(PLAIN_WEBHOOKS), st.sampled_from(SIGNED_WEBHOOKS), URL_SAFE_ID)


# --- the property --------------------------------------------------------------------------


def request(client: Any, webhook_id: str, body: bytes, content_type: str | None, extra: dict[str, str]) -> Any:
    # Lower-case names, as API Gateway hands them to Lambda (and as chalice's local gateway
    # needs to see content-type to base64 a binary body, like API Gateway does).
    sent = {name.lower(): value for name, value in extra.items() if name.lower() != "content-type"}
    if content_type is not None:
        sent["content-type"] = content_type
    return client.http.post(f"/webhook/{webhook_id}", headers=sent, body=body)


def assert_well_formed(response: Any, allowed_statuses: set[int] | None = None) -> dict[str, Any]:
    """Never a 5xx; a 2xx is {"status", "event_id"}; a 4xx is exactly {"error": {"code", "message"}}."""
    assert response.status_code < 500, response.body
    event(f"answered {response.status_code}")
    if allowed_statuses is not None:
        assert response.status_code in allowed_statuses, response.body
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    if response.status_code in SUCCESS_STATUSES:
        assert set(body) == {"status", "event_id"}, body
        assert body["status"] in SUCCESS_STATUSES[response.status_code]
        assert isinstance(body["event_id"], str)
        assert body["event_id"]
    else:
        assert 400 <= response.status_code < 500, body
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message"}, body
        assert isinstance(body["error"]["code"], str)
        assert isinstance(body["error"]["message"], str)
    return dict(body)


@FUZZ
@given(webhook_id=webhook_ids, body=bodies, content_type=content_types, extra=headers)
def test_any_request_gets_a_json_answer_of_the_right_shape_and_never_a_5xx(
    door: redis.Redis,
    chalice_client: Any,
    webhook_id: str,
    body: bytes,
    content_type: str | None,
    extra: dict[str, str],
) -> None:
    response = request(chalice_client, webhook_id, body, content_type, extra)

    assert_well_formed(response)


@settings(FUZZ, max_examples=150)
@given(
    webhook_id=st.sampled_from(PLAIN_WEBHOOKS),
    body=bodies,
    content_type=content_types,
    extra=headers,
)
def test_with_redis_down_any_request_is_queued_or_refused_never_a_5xx(
    door_without_redis: None,
    chalice_client: Any,
    webhook_id: str,
    body: bytes,
    content_type: str | None,
    extra: dict[str, str],
) -> None:
    response = request(chalice_client, webhook_id, body, content_type, extra)

    assert_well_formed(response)
    assert response.status_code != 200


@settings(FUZZ, max_examples=300)
@given(
    webhook_id=st.sampled_from(SIGNED_WEBHOOKS),
    body=bodies,
    content_type=st.sampled_from(["application/json", None, "text/plain"]),
    extra=headers,
)
def test_forged_signatures_are_refused_with_401_or_an_earlier_4xx(
    door: redis.Redis,
    chalice_client: Any,
    webhook_id: str,
    body: bytes,
    content_type: str | None,
    extra: dict[str, str],
) -> None:
    # given fuzzed signature headers (no fuzzer guesses an HMAC)
    response = request(chalice_client, webhook_id, body, content_type, extra)

    # then never accepted, and the refusal has the error shape
    assert_well_formed(response, allowed_statuses={400, 401, 413, 415})


@settings(FUZZ, max_examples=300)
@given(
    webhook_id=st.sampled_from(SIGNED_WEBHOOKS),
    data=json_values,
    message_number=st.integers(min_value=0, max_value=10**6),
    skew_seconds=st.integers(min_value=-250, max_value=250),
    extra=st.dictionaries(TOKEN, PRINTABLE, max_size=3),
)
def test_genuinely_signed_json_is_always_accepted(
    door: redis.Redis,
    chalice_client: Any,
    webhook_id: str,
    data: Any,
    message_number: int,
    skew_seconds: int,
    extra: dict[str, str],
) -> None:
    # given any JSON document under one key (a top-level "id" would be Stripe's event id),
    # signed by the sender's library with a clock up to 250 s off
    body = json.dumps({"data": data}, allow_nan=True).encode()
    timestamp = int(time.time()) + skew_seconds
    message_id = f"msg_{message_number}"
    sign = {
        "github_hook": lambda: sign_github(GITHUB_SECRET, body, timestamp, message_id),
        "stripe_hook": lambda: sign_stripe(STRIPE_SECRET, body, timestamp, message_id),
        "standard_webhooks_hook": lambda: sign_standard_webhooks(STANDARD_WEBHOOKS_SECRET, body, timestamp, message_id),
    }[webhook_id]
    signed = {name.lower(): value for name, value in sign().items()}
    noise = {name.lower(): value for name, value in extra.items() if name.lower() not in READ_HEADERS}

    # when
    response = request(chalice_client, webhook_id, body, "application/json", {**noise, **signed})

    # then delivered (or a duplicate of an earlier example), unless the document itself is
    # not JSON (NaN and Infinity are refused) or nests too deep
    answer = assert_well_formed(response)
    if response.status_code == 400:
        assert answer["error"]["code"] in {"invalid_json", "json_too_deep"}, answer
    else:
        assert response.status_code == 200, answer
