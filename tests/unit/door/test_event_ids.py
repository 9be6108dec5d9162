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
    generic_hmac_signer,
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


# --- the event id is the id the signature covers ---------------------------------------------


def test_standard_webhooks_event_id_is_the_signed_webhook_id_not_an_added_svix_id(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a request signed with webhook-* headers, plus an svix-id nobody signed
    write_config(
        {
            WEBHOOK: webhook_settings(
                redis_server, verify={"provider": "standard_webhooks", "secrets": [STANDARD_WEBHOOKS_SECRET]}
            )
        }
    )
    body = b'{"type": "invoice.paid"}'
    headers = {
        **JSON,
        **sign_standard_webhooks(STANDARD_WEBHOOKS_SECRET, body, int(time.time()), "msg_signed"),
        "svix-id": "msg_unsigned",
    }

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then
    assert answer(response) == {"status": "delivered", "event_id": "msg_signed"}


HMAC_SIGNING_ID = {
    "provider": "hmac",
    "secrets": ["hmac-secret"],
    "header": "X-Signature",
    "timestamp_header": "X-Timestamp",
    "id_header": "X-Message-Id",
    "signed_content": "{id}.{timestamp}.{body}",
}
sign_hmac_with_id = generic_hmac_signer("X-Signature", timestamp_header="X-Timestamp", id_header="X-Message-Id")


def test_generic_hmac_that_signs_its_id_takes_the_event_id_from_its_id_header(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a generic hmac webhook whose signed content covers {id}, and an event delivered
    write_config({WEBHOOK: webhook_settings(redis_server, verify=HMAC_SIGNING_ID)})
    body = b'{"n": 1}'
    now = int(time.time())
    first = post(chalice_client, WEBHOOK, body, {**JSON, **sign_hmac_with_id("hmac-secret", body, now, "m-1")})

    # when the sender retries it, re-signed a moment later, and with an unsigned id added
    retry_headers = {**JSON, **sign_hmac_with_id("hmac-secret", body, now + 1, "m-1"), "idempotency-key": "other"}
    retry = post(chalice_client, WEBHOOK, body, retry_headers)

    # then both carry the signed id; the retry is a duplicate
    assert answer(first) == {"status": "delivered", "event_id": "m-1"}
    assert answer(retry) == {"status": "duplicate", "event_id": "m-1"}
    assert len(stream_events(redis_db)) == 1


def test_generic_hmac_that_signs_its_id_refuses_a_request_without_the_id_header(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a request signed over an empty id, its id header left out
    write_config({WEBHOOK: webhook_settings(redis_server, verify=HMAC_SIGNING_ID)})
    body = b'{"n": 1}'
    headers = {**JSON, **sign_hmac_with_id("hmac-secret", body, int(time.time()), "")}
    headers.pop("X-Message-Id")

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then it is refused: an event id nobody signed could be swapped on a replay
    assert response.status_code == 401
    assert answer(response)["error"]["code"] == "missing_signature"
    assert stream_events(redis_db) == []


@pytest.mark.parametrize(
    "verify",
    [
        pytest.param({"provider": "standard_webhooks", "secrets": [STANDARD_WEBHOOKS_SECRET]}, id="standard-webhooks"),
        pytest.param(HMAC_SIGNING_ID, id="hmac-signing-id"),
    ],
)
def test_event_id_on_a_webhook_whose_signature_covers_the_id_is_a_config_error(
    verify: dict[str, Any], write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # given a webhook that would take its event id from an unsigned header
    path = write_config({WEBHOOK: webhook_settings(redis_server, verify=verify, event_id={"header": "X-Request-Id"})})

    # when
    with pytest.raises(ConfigError) as raised:
        load_config(path)

    # then the error names the field and says why
    assert (raised.value.path, raised.value.webhook_id, raised.value.field) == (path, WEBHOOK, "event_id")
    assert "signs its delivery id" in raised.value.problem


# --- body dedupe for senders that do not sign their delivery id -----------------------------

GITHUB_BODY = b'{"action": "opened", "number": 7}'


def github_webhook(redis_server: RedisServer, **redis_overrides: Any) -> dict[str, Any]:
    settings = webhook_settings(redis_server, verify={"provider": "github", "secrets": ["gh-secret"]})
    settings["redis"] = {**settings["redis"], **redis_overrides}
    return settings


def test_github_replay_with_a_fresh_delivery_id_is_published_again_without_body_dedupe(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a GitHub webhook without dedupe_body_seconds (GitHub does not sign X-GitHub-Delivery)
    write_config({WEBHOOK: github_webhook(redis_server)})
    signed = {**JSON, **sign_github("gh-secret", GITHUB_BODY, 0, "d-1")}

    # when the signed body is replayed with a fresh delivery id
    post(chalice_client, WEBHOOK, GITHUB_BODY, signed)
    replay = post(chalice_client, WEBHOOK, GITHUB_BODY, {**signed, "X-GitHub-Delivery": "d-2"})

    # then it is a new event: the documented limit body dedupe exists for
    assert answer(replay) == {"status": "delivered", "event_id": "d-2"}
    assert len(stream_events(redis_db)) == 2


def test_github_replay_with_a_fresh_delivery_id_is_a_duplicate_within_the_body_dedupe_window(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a GitHub webhook with a body dedupe window, and an event delivered
    write_config({WEBHOOK: github_webhook(redis_server, dedupe_body_seconds=300)})
    signed = {**JSON, **sign_github("gh-secret", GITHUB_BODY, 0, "d-1")}
    assert answer(post(chalice_client, WEBHOOK, GITHUB_BODY, signed))["status"] == "delivered"

    # when the same bytes come again under a fresh delivery id, and then a different body
    replay = post(chalice_client, WEBHOOK, GITHUB_BODY, {**signed, "X-GitHub-Delivery": "d-2"})
    other_body = b'{"action": "closed", "number": 7}'
    other = post(chalice_client, WEBHOOK, other_body, {**JSON, **sign_github("gh-secret", other_body, 0, "d-3")})

    # then the replay is a duplicate, the other body an event of its own
    assert answer(replay) == {"status": "duplicate", "event_id": "d-2"}
    assert answer(other) == {"status": "delivered", "event_id": "d-3"}
    assert [event["id"] for event in stream_events(redis_db)] == ["d-1", "d-3"]
    # and the window is the body marker's lifetime
    body_markers = list(redis_db.scan_iter("spillway:body:*"))
    assert len(body_markers) == 2
    assert all(0 < redis_db.ttl(key) <= 300 for key in body_markers)


def test_body_dedupe_on_a_channel_only_webhook_publishes_once(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook with a channel and no stream (the body marker is then the script's
    # third key), and a subscriber
    settings = github_webhook(redis_server, dedupe_body_seconds=60)
    del settings["redis"]["stream"]
    write_config({WEBHOOK: settings})
    subscriber = redis_db.pubsub()
    subscriber.subscribe(settings["redis"]["channel"])
    assert subscriber.get_message(timeout=1.0)["type"] == "subscribe"  # type: ignore[index]
    signed = {**JSON, **sign_github("gh-secret", GITHUB_BODY, 0, "d-1")}

    # when the same body arrives under two delivery ids
    first = post(chalice_client, WEBHOOK, GITHUB_BODY, signed)
    replay = post(chalice_client, WEBHOOK, GITHUB_BODY, {**signed, "X-GitHub-Delivery": "d-2"})

    # then one message went out
    assert [answer(first)["status"], answer(replay)["status"]] == ["delivered", "duplicate"]
    received = [subscriber.get_message(timeout=0.2) for _ in range(3)]
    subscriber.close()
    assert [json.loads(message["data"])["id"] for message in received if message] == ["d-1"]


def test_body_dedupe_holds_for_copies_queued_while_redis_was_down(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any, sqs: Any
) -> None:
    # given a GitHub webhook with a body dedupe window and Redis down
    write_config({WEBHOOK: github_webhook(redis_server, dedupe_body_seconds=300)})
    redis_server.stop()
    signed = {**JSON, **sign_github("gh-secret", GITHUB_BODY, 0, "d-1")}

    # when the body arrives twice under different delivery ids: both are queued
    answers = [post(chalice_client, WEBHOOK, GITHUB_BODY, {**signed, "X-GitHub-Delivery": f"d-{n}"}) for n in (1, 2)]
    assert [response.status_code for response in answers] == [202, 202]

    # and the drain runs once Redis is back
    redis_server.start()
    reset_process_state()
    messages = drain_messages(sqs, RETRY_QUEUE)
    report = drain_batch([DrainRecord(message_id=message["MessageId"], body=message["Body"]) for message in messages])

    # then one copy is published, the other is a duplicate
    assert sorted(outcome.value for outcome in report.outcomes.values()) == sorted(
        [DrainOutcome.DELIVERED.value, DrainOutcome.DUPLICATE.value]
    )
    assert len(stream_events(redis_db)) == 1


def test_dedupe_body_seconds_must_be_positive(write_config: WriteConfig, redis_server: RedisServer) -> None:
    path = write_config({WEBHOOK: github_webhook(redis_server, dedupe_body_seconds=0)})

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert (raised.value.webhook_id, raised.value.field) == (WEBHOOK, "redis.dedupe_body_seconds")
