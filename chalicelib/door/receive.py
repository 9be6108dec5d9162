"""The door: check the request, build the envelope, deliver inline or spill, answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from chalicelib.config.declarations import ENV_RETRY_AFTER_SECONDS
from chalicelib.config.model import WebhookConfig
from chalicelib.config.settings import get_relay_config, get_settings
from chalicelib.delivery.deliver import deliver
from chalicelib.door.answers import Answer, error_answer, unavailable_answer
from chalicelib.door.checks import check_content_type, check_source_ip, verify_sender
from chalicelib.door.envelope_builder import build_envelope
from chalicelib.envelope import Envelope, encode_envelope
from chalicelib.errors import ConfigError, DeliveryError, QueueUnavailable, RejectedRequest
from chalicelib.queue.message import QUEUE_MESSAGE_GROWTH_BYTES
from chalicelib.queue.spill import SPILL_WRAPPER_BYTES, spill_to_retry_queue, spilled_size
from chalicelib.structured_log import log_event
from chalicelib.verification.verified import Verified


def _retry_after_seconds() -> int:
    try:
        return get_settings().retry_after_seconds
    except ConfigError:
        # The environment itself is what is broken: the declared default still tells the
        # sender when to come back.
        return int(ENV_RETRY_AFTER_SECONDS.default)


def _check_fits_queue(envelope: Envelope, encoded_envelope: str) -> bool:
    """Whatever path the event takes, its queue message as SQS counts it (U+FFFE/U+FFFF escaped,
    with its redrive state) must fit the retry queue with room to grow: an event answered 202 is
    redriven and dead-lettered without being refused for its size. False: it does not, and a
    spill would go through the claim-check bucket (LARGE_PAYLOAD_BUCKET); without one, a 413."""
    room = get_settings().queue_max_message_bytes - QUEUE_MESSAGE_GROWTH_BYTES
    if encoded_envelope.isascii():
        # Known without a scan: the size is the length, and nothing needs escaping.
        upper_bound = len(encoded_envelope)
    else:
        try:
            utf8_bytes = len(encoded_envelope.encode("utf-8"))
        except UnicodeEncodeError as exc:
            # A JSON escape of a lone UTF-16 surrogate (\ud800) parses, but is no Unicode text.
            raise RejectedRequest(400, "invalid_json", "body holds a lone UTF-16 surrogate escape") from exc
        # SQS's escapes turn a 3-byte U+FFFF into 6 bytes: the text at most doubles.
        upper_bound = 2 * utf8_bytes
    if upper_bound + SPILL_WRAPPER_BYTES <= room:
        return True
    # Only large events pay for encoding the real queue message.
    if spilled_size(envelope) <= room:
        return True
    if get_settings().large_payload_bucket is None:
        raise RejectedRequest(413, "payload_too_large", "the event would not fit a retry-queue message once wrapped")
    return False


def _check_request(
    webhook: WebhookConfig, raw_body: bytes, headers: Mapping[str, str], source_ip: str | None
) -> Verified | None:
    """Everything decided before the body is parsed; returns what `verify` proved (None: no
    `verify` block)."""
    check_source_ip(webhook.door, source_ip)
    if len(raw_body) > webhook.max_body_bytes:
        raise RejectedRequest(413, "payload_too_large", f"body is over {webhook.max_body_bytes} bytes")
    check_content_type(webhook.door, headers.get("content-type"))
    if not raw_body:
        raise RejectedRequest(400, "empty_body", "the request has no body")
    return verify_sender(webhook.door, raw_body, headers, time.time())


def _spill(
    webhook: WebhookConfig,
    envelope: Envelope,
    inline_error: DeliveryError,
    fields: dict[str, object],
    *,
    claim_check_bucket: str | None,
    encoded: str,
) -> Answer:
    fields["inline_error"] = str(inline_error)
    if not webhook.retry.enabled:
        fields.update(outcome="refused", path="inline")
        # Not always "Redis is down": too few subscribers, or replicas behind, end here too.
        return unavailable_answer(
            "Redis could not take the event now and retries are off for this webhook",
            _retry_after_seconds(),
        )
    try:
        spill_to_retry_queue(envelope, str(inline_error), claim_check_bucket, encoded)
    except QueueUnavailable as queue_error:
        fields.update(outcome="unavailable", path="none", queue_error=str(queue_error))
        return unavailable_answer("neither Redis nor the retry queue could take the event", _retry_after_seconds())
    fields.update(outcome="queued", path="queue", claim_check=claim_check_bucket is not None)
    return Answer(202, {"status": "queued", "event_id": envelope["id"]})


def _accept(
    webhook: WebhookConfig, raw_body: bytes, headers: Mapping[str, str], source_ip: str | None
) -> tuple[Answer, dict[str, object]]:
    verified = _check_request(webhook, raw_body, headers, source_ip)
    envelope = build_envelope(webhook, raw_body, headers, datetime.now(UTC), verified)
    encoded = encode_envelope(envelope)
    claim_check_bucket = None if _check_fits_queue(envelope, encoded) else get_settings().large_payload_bucket
    fields: dict[str, object] = {"event_id": envelope["id"]}
    try:
        outcome = deliver(envelope, webhook.redis, webhook.inline, encoded=encoded)
    except DeliveryError as inline_error:
        answer = _spill(webhook, envelope, inline_error, fields, claim_check_bucket=claim_check_bucket, encoded=encoded)
        return answer, fields
    fields.update(outcome=outcome.value, path="inline")
    return Answer(200, {"status": outcome.value, "event_id": envelope["id"]}), fields


def receive(webhook_id: str, raw_body: bytes, headers: Mapping[str, str], source_ip: str | None = None) -> Answer:
    """Headers must have lower-case names. Never raises for anything the sender controls."""
    started = time.perf_counter()
    fields: dict[str, object] = {"webhook_id": webhook_id}
    try:
        webhook = get_relay_config().webhook(webhook_id)
        if webhook is None:
            raise RejectedRequest(404, "unknown_webhook", f"no webhook is configured with id {webhook_id!r}")
        answer, outcome_fields = _accept(webhook, raw_body, headers, source_ip)
        fields.update(outcome_fields)
    except RejectedRequest as rejection:
        answer = error_answer(rejection.status, rejection.code, rejection.message)
        fields.update(outcome="rejected", error_code=rejection.code)
    except ConfigError as config_error:
        answer = unavailable_answer("the relay's configuration is invalid", _retry_after_seconds())
        fields.update(outcome="config_invalid", error=str(config_error))
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    fields.update(status=answer.status, latency_ms=latency_ms)
    level = logging.WARNING if answer.status >= 500 else logging.INFO
    log_event("webhook", level=level, metrics=_metrics_for(fields, latency_ms), **fields)
    return answer


# CloudWatch metric per outcome. Unknown webhook ids get none: a metric dimension per id a
# scanner makes up would cost money and hide the real ones.
OUTCOME_METRICS = {
    "delivered": "Delivered",
    "duplicate": "Duplicates",
    "queued": "Queued",
    "rejected": "Rejected",
    "refused": "Unavailable",
    "unavailable": "Unavailable",
}


def _metrics_for(fields: Mapping[str, object], latency_ms: float) -> dict[str, float] | None:
    metric = OUTCOME_METRICS.get(str(fields.get("outcome")))
    if metric is None or fields.get("error_code") == "unknown_webhook":
        return None
    return {metric: 1, "LatencyMs": latency_ms}
