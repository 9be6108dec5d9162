"""Duplicates by each event-id source, through POST /webhook/{id} with a real redis-server.

Senders retry: the same event id again must answer 200 duplicate and publish nothing, and
while Redis is down both copies are queued and the drain publishes one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from chalicelib.config.loader import load_config
from chalicelib.errors import ConfigError
from chalicelib.process_state import reset_process_state
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import RETRY_QUEUE, WriteConfig, drain_messages, stream_events, webhook_settings
from tests.signed_requests import (
    FORM,
    JSON,
    answer,
    post,
    sign_github,
    sign_shopify,
    sign_slack,
    sign_standard_webhooks,
    sign_stripe,
    whsec,
)

WEBHOOK = "events"
STANDARD_WEBHOOKS_SECRET = whsec("standard-webhooks-key")


@dataclass(frozen=True)
class IdSource:
    """A webhook whose event id comes from one place, and a request that carries `expected`."""

    name: str
    settings: dict[str, Any]
    # (body, timestamp) -> headers
    headers: Callable[[bytes, int], dict[str, str]]
    body: bytes
    expected: str


STRIPE_BODY = b'{"id": "evt_1NG8Du2eZvKYlo2C", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}'
ORDER_BODY = b'{"type": "order.created", "data": {"object": {"id": "ord_42", "total": 10}}}'

ID_SOURCES = [
    IdSource(
        "github-delivery-header",
        {"verify": {"provider": "github", "secrets": ["gh-secret"]}},
        lambda body, now: {**JSON, **sign_github("gh-secret", body, now, "72d3162e-cc78-11e3-81ab-4c9367dc0958")},
        b'{"zen": "Keep it logically awesome."}',
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    IdSource(
        "stripe-body-id",
        {"verify": {"provider": "stripe", "secrets": ["whsec_stripe"]}},
        lambda body, now: {**JSON, **sign_stripe("whsec_stripe", body, now, "")},
        STRIPE_BODY,
        "evt_1NG8Du2eZvKYlo2C",
    ),
    IdSource(
        "shopify-webhook-id-header",
        {"verify": {"provider": "shopify", "secrets": ["shpss_secret"]}},
        lambda body, now: {**JSON, **sign_shopify("shpss_secret", body, now, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")},
        b'{"order_id": 1001}',
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    ),
    IdSource(
        "standard-webhooks-webhook-id",
        {"verify": {"provider": "standard_webhooks", "secrets": [STANDARD_WEBHOOKS_SECRET]}},
        lambda body, now: {
            **JSON,
            **sign_standard_webhooks(STANDARD_WEBHOOKS_SECRET, body, now, "msg_2KWPBgLlAfxdpx2A"),
        },
        b'{"type": "invoice.paid"}',
        "msg_2KWPBgLlAfxdpx2A",
    ),
    IdSource(
        "configured-header",
        {"event_id": {"header": "X-Request-Id"}},
        lambda body, now: {**JSON, "X-Request-Id": "req-7f3a"},
        b'{"n": 1}',
        "req-7f3a",
    ),
    IdSource(
        "configured-json-pointer",
        {"event_id": {"json_pointer": "/data/object/id"}},
        lambda body, now: JSON,
        ORDER_BODY,
        "ord_42",
    ),
    IdSource(
        "body-hash",
        {"event_id": {"body_hash": True}},
        lambda body, now: JSON,
        b'{"same": "bytes"}',
        "sha256:" + hashlib.sha256(b'{"same": "bytes"}').hexdigest(),
    ),
]


def id_sources() -> list[Any]:
    return [pytest.param(source, id=source.name) for source in ID_SOURCES]


# --- duplicates with Redis up --------------------------------------------------------------


@pytest.mark.parametrize("source", id_sources())
def test_same_event_id_twice_answers_duplicate_and_publishes_once(
    source: IdSource, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook whose event id comes from this source, and an event already delivered
    write_config({WEBHOOK: webhook_settings(redis_server, **source.settings)})
    first = post(chalice_client, WEBHOOK, source.body, source.headers(source.body, int(time.time())))
    assert answer(first) == {"status": "delivered", "event_id": source.expected}

    # when the sender retries it (re-signed a moment later, as senders do)
    second = post(chalice_client, WEBHOOK, source.body, source.headers(source.body, int(time.time()) + 1))

    # then it is acknowledged as a duplicate and not published again
    assert second.status_code == 200
    assert answer(second) == {"status": "duplicate", "event_id": source.expected}
    assert [event["id"] for event in stream_events(redis_db)] == [source.expected]


def test_stripe_retry_with_a_new_signature_is_still_the_same_event(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a Stripe event delivered once
    write_config({WEBHOOK: webhook_settings(redis_server, verify={"provider": "stripe", "secrets": ["whsec_stripe"]})})
    now = int(time.time())
    post(chalice_client, WEBHOOK, STRIPE_BODY, {**JSON, **sign_stripe("whsec_stripe", STRIPE_BODY, now, "")})

    # when Stripe retries two minutes later, with a fresh timestamp and signature
    retry = post(
        chalice_client, WEBHOOK, STRIPE_BODY, {**JSON, **sign_stripe("whsec_stripe", STRIPE_BODY, now + 120, "")}
    )

    # then the body's id, not the signature, identifies it
    assert answer(retry) == {"status": "duplicate", "event_id": "evt_1NG8Du2eZvKYlo2C"}
    assert len(stream_events(redis_db)) == 1


def test_body_hash_tells_different_bodies_apart(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook keyed on the body's hash
    write_config({WEBHOOK: webhook_settings(redis_server, event_id={"body_hash": True})})

    # when two bodies differing by one space arrive (the hash is over the raw bytes)
    first = post(chalice_client, WEBHOOK, b'{"n": 1}')
    second = post(chalice_client, WEBHOOK, b'{"n":  1}')

    # then both are delivered, each under the hash of its own bytes
    assert answer(first) == {"status": "delivered", "event_id": "sha256:" + hashlib.sha256(b'{"n": 1}').hexdigest()}
    assert answer(second) == {"status": "delivered", "event_id": "sha256:" + hashlib.sha256(b'{"n":  1}').hexdigest()}
    assert len(stream_events(redis_db)) == 2


def test_configured_json_pointer_ignores_the_generic_delivery_headers(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook keyed on /data/object/id, and two requests with the same object id but
    # different webhook-id headers
    write_config({WEBHOOK: webhook_settings(redis_server, event_id={"json_pointer": "/data/object/id"})})

    # when
    first = post(chalice_client, WEBHOOK, ORDER_BODY, {**JSON, "webhook-id": "msg_a"})
    second = post(chalice_client, WEBHOOK, ORDER_BODY, {**JSON, "webhook-id": "msg_b"})

    # then the configured source wins
    assert answer(first) == {"status": "delivered", "event_id": "ord_42"}
    assert answer(second) == {"status": "duplicate", "event_id": "ord_42"}


def test_without_any_id_each_request_is_a_new_event(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook with no id source and requests that carry no delivery id
    write_config({WEBHOOK: webhook_settings(redis_server)})

    # when the same body arrives twice
    first = post(chalice_client, WEBHOOK, b'{"n": 1}')
    second = post(chalice_client, WEBHOOK, b'{"n": 1}')

    # then each got a UUID of its own (a sender's retry cannot be recognised: see body_hash)
    assert answer(first)["event_id"] != answer(second)["event_id"]
    assert [answer(first)["status"], answer(second)["status"]] == ["delivered", "delivered"]
    assert len(stream_events(redis_db)) == 2


# --- duplicates while Redis is down --------------------------------------------------------


@pytest.mark.parametrize("source", id_sources())
def test_same_event_id_twice_while_redis_is_down_is_queued_twice_and_drained_once(
    source: IdSource,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given Redis is stopped
    write_config({WEBHOOK: webhook_settings(redis_server, **source.settings)})
    redis_server.stop()

    # when the sender delivers the same event twice
    answers = [
        post(chalice_client, WEBHOOK, source.body, source.headers(source.body, int(time.time()) + attempt))
        for attempt in range(2)
    ]

    # then both copies are queued under the same id
    assert [response.status_code for response in answers] == [202, 202]
    assert [answer(response) for response in answers] == [{"status": "queued", "event_id": source.expected}] * 2
    messages = drain_messages(sqs, RETRY_QUEUE)
    assert [json.loads(message["Body"])["envelope"]["id"] for message in messages] == [source.expected] * 2

    # when Redis is back and the drain runs over the two queued messages (in its own Lambda
    # instance, whose circuit breaker never saw Redis fail)
    redis_server.start()
    reset_process_state()
    report = drain_batch([DrainRecord(message_id=message["MessageId"], body=message["Body"]) for message in messages])

    # then one is delivered, the other recognised as a duplicate, and the stream holds one
    assert sorted(outcome.value for outcome in report.outcomes.values()) == sorted(
        [DrainOutcome.DELIVERED.value, DrainOutcome.DUPLICATE.value]
    )
    assert [event["id"] for event in stream_events(redis_db)] == [source.expected]


# --- configuration errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        pytest.param(
            {"event_id": {"header": "X-Request-Id", "json_pointer": "/id"}},
            "event_id",
            "exactly one of",
            id="two-sources",
        ),
        pytest.param(
            {"event_id": {"header": "X-Request-Id", "body_hash": True}},
            "event_id",
            "exactly one of",
            id="header-and-body-hash",
        ),
        pytest.param({"event_id": {}}, "event_id", "exactly one of", id="no-source"),
        pytest.param(
            {"data_type": "form", "event_id": {"json_pointer": "/id"}},
            "event_id.json_pointer",
            "data_type json",
            id="json-pointer-on-a-form-webhook",
        ),
        pytest.param(
            {"event_id": {"json_pointer": "data/object/id"}},
            "event_id.json_pointer",
            "JSON Pointer",
            id="pointer-without-leading-slash",
        ),
        pytest.param({"event_id": {"body_hash": False}}, "event_id.body_hash", "must be true", id="body-hash-false"),
        pytest.param({"event_id": {"uuid": True}}, "event_id.uuid", "unknown field", id="unknown-source"),
    ],
)
def test_invalid_event_id_block_names_file_webhook_and_field(
    overrides: dict[str, Any], field: str, problem: str, write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # given
    path = write_config({WEBHOOK: webhook_settings(redis_server, **overrides)})

    # when
    with pytest.raises(ConfigError) as raised:
        load_config(path)

    # then the message says where and what
    error = raised.value
    assert (error.path, error.webhook_id, error.field) == (path, WEBHOOK, field)
    assert problem in error.problem
    assert str(error).startswith(f"{path}: webhook '{WEBHOOK}': field '{field}': ")


def test_slack_form_webhook_does_not_apply_the_json_pointer_default(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a Slack slash-command webhook: a form, so Slack's default /event_id pointer does
    # not apply (and is no configuration error)
    write_config(
        {WEBHOOK: webhook_settings(redis_server, data_type="form", verify={"provider": "slack", "secrets": ["s"]})}
    )
    body = b"command=%2Fdeploy&text=prod"

    # when
    response = post(chalice_client, WEBHOOK, body, {**FORM, **sign_slack("s", body, int(time.time()), "")})

    # then it is delivered under a fresh id
    assert answer(response)["status"] == "delivered"
    assert len(stream_events(redis_db)) == 1
