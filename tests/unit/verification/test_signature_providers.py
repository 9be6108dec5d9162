"""Every `verify` provider through POST /webhook/{id}, with a real redis-server and moto's SQS.

Genuine requests are signed by the provider's own library where one is on PyPI (stripe,
standardwebhooks, svix, slack-sdk) and by the documented algorithm otherwise; forged, stale,
future and unsigned ones must be refused with 401 before anything is published or queued.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from devstack.redis_server import RedisServer
from tests.conftest import RETRY_QUEUE, WriteConfig, drain_messages, stream_events, webhook_settings
from tests.signed_requests import (
    FORM,
    JSON,
    Signer,
    answer,
    assert_error_shape,
    generic_hmac_signer,
    post,
    sign_basic,
    sign_bearer,
    sign_github,
    sign_shopify,
    sign_slack,
    sign_standard_webhooks,
    sign_stripe,
    sign_svix,
    stripe_signature_header,
    token_signer,
    whsec,
)

DEFAULT_TOLERANCE_SECONDS = 300
WEBHOOK = "signed"


def plain_secret(label: str) -> str:
    return f"{label}-secret"


@dataclass(frozen=True)
class Scheme:
    """One way a sender proves who it is, as a webhook's `verify` block and a signer."""

    name: str
    verify: dict[str, Any]
    sign: Signer
    # The header a sender without a signature (or credentials) would leave out.
    signature_header: str
    secret: Callable[[str], str] = plain_secret
    timestamped: bool = False
    # A header of its own carrying the timestamp (Stripe puts it inside Stripe-Signature).
    timestamp_header: str | None = None
    data_type: str = "json"
    missing_code: str = "missing_signature"
    invalid_code: str = "invalid_signature"
    signs_body: bool = True
    # The signature covers the sender's delivery id, which is then the event id.
    signs_id: bool = False

    @property
    def provider(self) -> str:
        return str(self.verify["provider"])

    def webhook(self, redis_server: RedisServer, *labels: str, **verify: Any) -> dict[str, Any]:
        block = {**self.verify, **verify, "secrets": [self.secret(label) for label in labels]}
        return webhook_settings(redis_server, data_type=self.data_type, verify=block)

    def body(self, tag: str) -> bytes:
        if self.data_type == "form":
            return f"command=%2Fdeploy&text={tag}".encode()
        return json.dumps({"id": f"evt_{tag}", "event_id": f"Ev{tag}", "type": "ping", "data": {"n": 1}}).encode()

    def tampered(self, body: bytes) -> bytes:
        changed = (
            body.replace(b"deploy", b"destroy") if self.data_type == "form" else body.replace(b'"n": 1', b'"n": 9')
        )
        assert changed != body
        return changed

    def headers(
        self, label: str, body: bytes, timestamp: int | None = None, message_id: str = "msg_1"
    ) -> dict[str, str]:
        content_type = FORM if self.data_type == "form" else JSON
        signed = self.sign(self.secret(label), body, int(time.time()) if timestamp is None else timestamp, message_id)
        return {**content_type, **signed}


SCHEMES = [
    Scheme("github", {"provider": "github"}, sign_github, "X-Hub-Signature-256"),
    Scheme(
        "stripe",
        {"provider": "stripe"},
        sign_stripe,
        "Stripe-Signature",
        secret=lambda label: f"whsec_{label}",
        timestamped=True,
    ),
    Scheme(
        "slack-events",
        {"provider": "slack"},
        sign_slack,
        "X-Slack-Signature",
        timestamped=True,
        timestamp_header="X-Slack-Request-Timestamp",
    ),
    Scheme(
        "slack-commands",
        {"provider": "slack"},
        sign_slack,
        "X-Slack-Signature",
        timestamped=True,
        timestamp_header="X-Slack-Request-Timestamp",
        data_type="form",
    ),
    Scheme("shopify", {"provider": "shopify"}, sign_shopify, "X-Shopify-Hmac-Sha256"),
    Scheme(
        "standard_webhooks",
        {"provider": "standard_webhooks"},
        sign_standard_webhooks,
        "webhook-signature",
        secret=whsec,
        timestamped=True,
        timestamp_header="webhook-timestamp",
        signs_id=True,
    ),
    Scheme(
        "svix",
        {"provider": "standard_webhooks"},
        sign_svix,
        "svix-signature",
        secret=whsec,
        timestamped=True,
        timestamp_header="svix-timestamp",
        signs_id=True,
    ),
    Scheme(
        "hmac-sha256-hex-prefixed",
        {"provider": "hmac", "header": "X-Signature", "prefix": "sha256="},
        generic_hmac_signer("X-Signature", prefix="sha256="),
        "X-Signature",
    ),
    Scheme(
        "hmac-sha1-base64",
        {"provider": "hmac", "header": "X-Hook-Signature", "algorithm": "sha1", "encoding": "base64"},
        generic_hmac_signer("X-Hook-Signature", algorithm="sha1", encoding="base64"),
        "X-Hook-Signature",
    ),
    Scheme(
        "hmac-sha512-hex",
        {"provider": "hmac", "header": "X-Payload-Hmac", "algorithm": "sha512"},
        generic_hmac_signer("X-Payload-Hmac", algorithm="sha512"),
        "X-Payload-Hmac",
    ),
    Scheme(
        "hmac-timestamped",
        {
            "provider": "hmac",
            "header": "X-Acme-Signature",
            "encoding": "base64",
            "signed_content": "{id}.{timestamp}.{body}",
            "timestamp_header": "X-Acme-Timestamp",
            "id_header": "X-Acme-Id",
        },
        generic_hmac_signer(
            "X-Acme-Signature", encoding="base64", timestamp_header="X-Acme-Timestamp", id_header="X-Acme-Id"
        ),
        "X-Acme-Signature",
        timestamped=True,
        timestamp_header="X-Acme-Timestamp",
        signs_id=True,
    ),
    Scheme(
        "token-header",
        {"provider": "token", "header": "X-Webhook-Token"},
        token_signer("X-Webhook-Token"),
        "X-Webhook-Token",
        missing_code="missing_credentials",
        invalid_code="invalid_credentials",
        signs_body=False,
    ),
    Scheme(
        "token-bearer",
        {"provider": "token"},
        sign_bearer,
        "Authorization",
        missing_code="missing_credentials",
        invalid_code="invalid_credentials",
        signs_body=False,
    ),
    Scheme(
        "basic",
        {"provider": "basic"},
        sign_basic,
        "Authorization",
        secret=lambda label: f"relay:{label}-password",
        missing_code="missing_credentials",
        invalid_code="invalid_credentials",
        signs_body=False,
    ),
]


def schemes(keep: Callable[[Scheme], bool] = lambda scheme: True) -> list[Any]:
    return [pytest.param(scheme, id=scheme.name) for scheme in SCHEMES if keep(scheme)]


def scheme_named(name: str) -> Scheme:
    [scheme] = [scheme for scheme in SCHEMES if scheme.name == name]
    return scheme


def queued_messages(sqs: Any) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain_messages(sqs, RETRY_QUEUE)]


def assert_nothing_stored(redis_db: redis.Redis, sqs: Any) -> None:
    assert stream_events(redis_db) == []
    assert queued_messages(sqs) == []


# --- genuine requests ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", schemes())
def test_genuine_request_is_delivered_and_names_the_check_that_passed(
    scheme: Scheme, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook that knows the sender's secret
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("genuine")

    # when the sender posts a signed request
    response = post(chalice_client, WEBHOOK, body, scheme.headers("current", body))

    # then it is delivered, and the envelope says which check passed
    assert response.status_code == 200
    assert answer(response)["status"] == "delivered"
    [event] = stream_events(redis_db)
    assert event["verified_by"] == scheme.provider
    assert event["id"] == answer(response)["event_id"]
    # and neither the signature nor the secret travels on with the event
    assert scheme.signature_header.lower() not in event["headers"]
    assert scheme.secret("current") not in json.dumps(event)


@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.data_type == "json" and scheme.signs_body))
def test_signature_is_checked_over_the_raw_bytes_not_re_serialised_json(
    scheme: Scheme, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a body whose spacing any JSON re-serialisation would change
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = b'{"id":"evt_raw",  "event_id" :"Evraw",\n "a":1,   "b" : [2 ,3]}'
    assert json.dumps(json.loads(body)).encode() != body

    # when it is signed and sent exactly as written
    response = post(chalice_client, WEBHOOK, body, scheme.headers("current", body))

    # then the signature over those bytes verifies, and consumers get the parsed payload
    assert answer(response)["status"] == "delivered"
    [event] = stream_events(redis_db)
    assert event["payload"] == {"id": "evt_raw", "event_id": "Evraw", "a": 1, "b": [2, 3]}


@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.data_type == "json" and scheme.signs_body))
def test_signature_over_the_re_serialised_json_is_refused(
    scheme: Scheme,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given the same JSON value, signed in its compact form but sent with other spacing
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    sent = b'{"id": "evt_raw",  "a": 1}'
    compact = json.dumps(json.loads(sent), separators=(",", ":")).encode()

    # when
    response = post(chalice_client, WEBHOOK, sent, scheme.headers("current", compact))

    # then the relay did not compare against a re-serialisation of the body
    assert_error_shape(response, 401, "invalid_signature")
    assert_nothing_stored(redis_db, sqs)


def test_verified_event_queued_while_redis_is_down_keeps_verified_by(
    write_config: WriteConfig, redis_server: RedisServer, chalice_client: Any, sqs: Any
) -> None:
    # given a GitHub webhook and Redis stopped
    scheme = scheme_named("github")
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    redis_server.stop()
    body = scheme.body("queued")

    # when a genuine delivery arrives
    response = post(chalice_client, WEBHOOK, body, scheme.headers("current", body, message_id="gh-queued"))

    # then it is queued, and the queued envelope still says which check passed
    assert response.status_code == 202
    assert answer(response) == {"status": "queued", "event_id": "gh-queued"}
    [message] = queued_messages(sqs)
    assert message["envelope"]["verified_by"] == "github"


# --- forged and unsigned requests ----------------------------------------------------------


@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.signs_body))
def test_tampered_body_is_refused_with_401_and_nothing_is_stored(
    scheme: Scheme,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given a genuine signature over one body
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("tampered")
    headers = scheme.headers("current", body)

    # when the body is changed on the way
    response = post(chalice_client, WEBHOOK, scheme.tampered(body), headers)

    # then
    assert_error_shape(response, 401, "invalid_signature")
    assert_nothing_stored(redis_db, sqs)


@pytest.mark.parametrize("scheme", schemes())
def test_wrong_secret_is_refused_with_401_and_nothing_is_stored(
    scheme: Scheme,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given a webhook configured with one secret
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("forged")

    # when a request is signed with another
    response = post(chalice_client, WEBHOOK, body, scheme.headers("attacker", body))

    # then
    assert_error_shape(response, 401, scheme.invalid_code)
    assert_nothing_stored(redis_db, sqs)


@pytest.mark.parametrize("scheme", schemes())
def test_missing_signature_header_is_refused_with_401_and_nothing_is_stored(
    scheme: Scheme,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given a request without its signature (or credentials) header
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("unsigned")
    headers = scheme.headers("current", body)
    del headers[scheme.signature_header]

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then
    assert_error_shape(response, 401, scheme.missing_code)
    assert_nothing_stored(redis_db, sqs)


@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.timestamp_header is not None))
def test_missing_timestamp_header_is_refused_with_401(
    scheme: Scheme,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given a signed request without its timestamp header
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("no-timestamp")
    headers = scheme.headers("current", body)
    assert scheme.timestamp_header is not None
    del headers[scheme.timestamp_header]

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then
    assert_error_shape(response, 401, "missing_timestamp")
    assert_nothing_stored(redis_db, sqs)


@pytest.mark.parametrize("scheme", schemes())
def test_forged_request_while_redis_is_down_is_refused_not_queued(
    scheme: Scheme, write_config: WriteConfig, redis_server: RedisServer, chalice_client: Any, sqs: Any
) -> None:
    # given Redis is stopped, so anything accepted would go to the retry queue
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    redis_server.stop()
    body = scheme.body("forged-while-down")

    # when a forged request arrives
    response = post(chalice_client, WEBHOOK, body, scheme.headers("attacker", body))

    # then it is refused before the spill
    assert_error_shape(response, 401, scheme.invalid_code)
    assert queued_messages(sqs) == []


# --- the replay window ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset_seconds",
    [
        pytest.param(-(DEFAULT_TOLERANCE_SECONDS + 60), id="stale"),
        pytest.param(DEFAULT_TOLERANCE_SECONDS + 60, id="future"),
        pytest.param(-86_400 * 365, id="a-year-old"),
    ],
)
@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.timestamped))
def test_timestamp_outside_the_tolerance_is_refused_as_a_replay(
    scheme: Scheme,
    offset_seconds: int,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    sqs: Any,
) -> None:
    # given a request genuinely signed, but at a moment beyond the default 300 s tolerance
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("replayed")
    headers = scheme.headers("current", body, timestamp=int(time.time()) + offset_seconds)

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then
    assert_error_shape(response, 401, "timestamp_out_of_tolerance")
    assert_nothing_stored(redis_db, sqs)


@pytest.mark.parametrize("offset_seconds", [pytest.param(-240, id="late"), pytest.param(240, id="early")])
@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.timestamped))
def test_timestamp_inside_the_tolerance_is_accepted(
    scheme: Scheme,
    offset_seconds: int,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    # given clocks 4 minutes apart, within the default 300 s
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("skewed")

    # when
    response = post(
        chalice_client, WEBHOOK, body, scheme.headers("current", body, timestamp=int(time.time()) + offset_seconds)
    )

    # then
    assert answer(response)["status"] == "delivered"


def test_configured_tolerance_narrows_the_replay_window(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a Stripe webhook that accepts clocks at most 60 s apart
    scheme = scheme_named("stripe")
    write_config({WEBHOOK: scheme.webhook(redis_server, "current", tolerance_seconds=60)})
    now = int(time.time())
    old_body, fresh_body = scheme.body("ninety-seconds-old"), scheme.body("thirty-seconds-old")

    # when
    old = post(chalice_client, WEBHOOK, old_body, scheme.headers("current", old_body, timestamp=now - 90))
    fresh = post(chalice_client, WEBHOOK, fresh_body, scheme.headers("current", fresh_body, timestamp=now - 30))

    # then
    assert_error_shape(old, 401, "timestamp_out_of_tolerance")
    assert answer(fresh)["status"] == "delivered"


@pytest.mark.parametrize(
    "timestamp", [pytest.param("\u00b2", id="superscript-two"), pytest.param("9" * 5000, id="5000-digits")]
)
@pytest.mark.parametrize("scheme_name", ["stripe", "slack-events", "standard_webhooks", "hmac-timestamped"])
def test_timestamp_that_is_not_a_plain_number_answers_401_not_500(
    scheme_name: str,
    timestamp: str,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    # given a signed request whose timestamp str.isdigit() accepts and int() refuses
    scheme = scheme_named(scheme_name)
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("odd-timestamp")
    headers = scheme.headers("current", body)
    if scheme.timestamp_header is None:
        headers["Stripe-Signature"] = f"t={timestamp}," + headers["Stripe-Signature"].split(",", 1)[1]
    else:
        headers[scheme.timestamp_header] = timestamp

    # when
    response = post(chalice_client, WEBHOOK, body, headers)

    # then
    assert_error_shape(response, 401, "missing_timestamp")


# --- secret rotation -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", schemes())
def test_either_secret_of_a_rotation_is_accepted(
    scheme: Scheme, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook in the middle of a rotation
    write_config({WEBHOOK: scheme.webhook(redis_server, "old", "new")})
    old_body, new_body, retired_body = scheme.body("old"), scheme.body("new"), scheme.body("retired")

    # when senders sign with the old, the new and a retired secret
    by_old = post(chalice_client, WEBHOOK, old_body, scheme.headers("old", old_body, message_id="msg_old"))
    by_new = post(chalice_client, WEBHOOK, new_body, scheme.headers("new", new_body, message_id="msg_new"))
    by_retired = post(
        chalice_client, WEBHOOK, retired_body, scheme.headers("retired", retired_body, message_id="msg_retired")
    )

    # then the old and the new are delivered, the retired one refused
    assert (by_old.status_code, by_new.status_code) == (200, 200)
    assert (answer(by_old)["status"], answer(by_new)["status"]) == ("delivered", "delivered")
    assert_error_shape(by_retired, 401, scheme.invalid_code)
    assert len(stream_events(redis_db)) == 2


@pytest.mark.parametrize("rolled_first", [pytest.param(True, id="rolled-first"), pytest.param(False, id="rolled-last")])
def test_stripe_header_with_a_v1_from_the_rolled_secret_is_accepted(
    rolled_first: bool,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    # given Stripe rolling its secret: the header carries one v1 per secret, and the relay
    # knows only the current one
    write_config({WEBHOOK: scheme_named("stripe").webhook(redis_server, "current")})
    body = b'{"id": "evt_rolled", "type": "invoice.paid"}'
    now = int(time.time())
    current = stripe_signature_header("whsec_current", body, now).split(",")[1]
    rolled = stripe_signature_header("whsec_rolled", body, now).split(",")[1]
    entries = [rolled, current] if rolled_first else [current, rolled]

    # when
    response = post(chalice_client, WEBHOOK, body, {**JSON, "Stripe-Signature": ",".join([f"t={now}", *entries])})

    # then
    assert answer(response) == {"status": "delivered", "event_id": "evt_rolled"}
    assert [event["id"] for event in stream_events(redis_db)] == ["evt_rolled"]


def test_stripe_header_with_only_foreign_v1_entries_is_refused(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    write_config({WEBHOOK: scheme_named("stripe").webhook(redis_server, "current")})
    body = b'{"id": "evt_foreign"}'
    now = int(time.time())
    entries = [stripe_signature_header(f"whsec_{label}", body, now).split(",")[1] for label in ("one", "two")]

    response = post(chalice_client, WEBHOOK, body, {**JSON, "Stripe-Signature": ",".join([f"t={now}", *entries])})

    assert_error_shape(response, 401, "invalid_signature")
    assert stream_events(redis_db) == []


@pytest.mark.parametrize("scheme", schemes(lambda scheme: scheme.provider == "standard_webhooks"))
def test_standard_webhooks_signature_list_with_one_known_entry_is_accepted(
    scheme: Scheme, write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a sender rotating its key: a space-separated list of v1 signatures
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("listed")
    now = int(time.time())
    genuine = scheme.headers("current", body, timestamp=now)
    other = scheme.headers("next", body, timestamp=now)
    header = scheme.signature_header
    genuine[header] = f"{other[header]} {genuine[header]}"

    # when
    response = post(chalice_client, WEBHOOK, body, genuine)

    # then
    assert answer(response) == {"status": "delivered", "event_id": "msg_1"}


# --- known gaps, pinned --------------------------------------------------------------------


def test_token_in_a_custom_header_never_reaches_the_envelope(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a token webhook whose header name has none of the words the envelope filters on
    verify = {"provider": "token", "header": "X-Shared-Key", "secrets": ["correct-horse-battery"]}
    write_config({WEBHOOK: webhook_settings(redis_server, verify=verify)})

    # when the sender authenticates with it
    response = post(chalice_client, WEBHOOK, b'{"a": 1}', {**JSON, "X-Shared-Key": "correct-horse-battery"})

    # then the event is delivered without the credential
    assert answer(response)["status"] == "delivered"
    [event] = stream_events(redis_db)
    assert "correct-horse-battery" not in json.dumps(event)


# --- the event id is the id the signature covers ---------------------------------------------


UNSIGNED_ID_HEADERS = ("webhook-id", "svix-id", "x-github-delivery", "idempotency-key")
# Where each scheme that signs its id carries it (replacing that one breaks the signature).
SIGNED_ID_HEADERS = {"standard_webhooks": "webhook-id", "svix": "svix-id", "hmac-timestamped": "x-acme-id"}


def unsigned_id_replays() -> list[Any]:
    return [
        pytest.param(scheme, header, id=f"{scheme.name}-{header}")
        for scheme in SCHEMES
        if scheme.signs_id
        for header in UNSIGNED_ID_HEADERS
        if header != SIGNED_ID_HEADERS[scheme.name]
    ]


@pytest.mark.parametrize(("scheme", "unsigned_header"), unsigned_id_replays())
def test_replay_with_a_fresh_unsigned_id_header_is_a_duplicate_of_the_signed_id(
    scheme: Scheme,
    unsigned_header: str,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    # given a webhook whose sender signs its delivery id, and an event delivered
    write_config({WEBHOOK: scheme.webhook(redis_server, "current")})
    body = scheme.body("replayed")
    signed = scheme.headers("current", body, message_id="msg_signed_1")
    assert answer(post(chalice_client, WEBHOOK, body, signed)) == {"status": "delivered", "event_id": "msg_signed_1"}

    # when someone replays the request inside the tolerance window with a fresh id in a
    # header the signature does not cover (svix-id beside signed webhook-* headers, ...)
    replay = post(chalice_client, WEBHOOK, body, {**signed, unsigned_header: "fresh-unsigned-id"})

    # then the signed id is the event id: a duplicate, published once
    assert answer(replay) == {"status": "duplicate", "event_id": "msg_signed_1"}
    assert [event["id"] for event in stream_events(redis_db)] == ["msg_signed_1"]
