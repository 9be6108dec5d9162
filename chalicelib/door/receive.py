"""The door: check the request, build the envelope, deliver inline or spill, answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from chalicelib.config.model import WebhookConfig
from chalicelib.config.settings import get_relay_config, get_settings
from chalicelib.delivery.deliver import deliver
from chalicelib.door.answers import Answer, error_answer, unavailable_answer
from chalicelib.door.checks import check_content_type, check_source_ip, verify_sender
from chalicelib.door.envelope_builder import build_envelope
from chalicelib.envelope import Envelope, encode_envelope
from chalicelib.errors import ConfigError, DeliveryError, QueueUnavailable, RejectedRequest
from chalicelib.queue.spill import spill_to_retry_queue
from chalicelib.structured_log import log_event

DEFAULT_RETRY_AFTER_SECONDS = 30
# SQS refuses messages over 256 KiB; anything we accept must fit once wrapped for the queue.
SQS_MESSAGE_LIMIT_BYTES = 256 * 1024


def _retry_after_seconds() -> int:
    try:
        return get_settings().retry_after_seconds
    except ConfigError:
        return DEFAULT_RETRY_AFTER_SECONDS


# Room kept around the envelope for the queue message's wrapper and redrive state (its last
# error is at most 500 characters) and for a dead letter's reason block.
QUEUE_WRAPPER_BYTES = 2048


def _check_fits_queue(encoded_envelope: str) -> None:
    try:
        size = len(encoded_envelope.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # A JSON escape of a lone UTF-16 surrogate (\ud800) parses, but is no Unicode text.
        raise RejectedRequest(400, "invalid_json", "body holds a lone UTF-16 surrogate escape") from exc
    if size > SQS_MESSAGE_LIMIT_BYTES - QUEUE_WRAPPER_BYTES:
        raise RejectedRequest(413, "payload_too_large", "the event would not fit a retry-queue message once wrapped")


def _check_request(
    webhook: WebhookConfig, raw_body: bytes, headers: Mapping[str, str], source_ip: str | None
) -> str | None:
    """Everything decided before the body is parsed; returns the provider that verified it."""
    check_source_ip(webhook.door, source_ip)
    if len(raw_body) > webhook.max_body_bytes:
        raise RejectedRequest(413, "payload_too_large", f"body is over {webhook.max_body_bytes} bytes")
    check_content_type(webhook.door, headers.get("content-type"))
    if not raw_body:
        raise RejectedRequest(400, "empty_body", "the request has no body")
    return verify_sender(webhook.door, raw_body, headers, time.time())


def _spill(
    webhook: WebhookConfig, envelope: Envelope, inline_error: DeliveryError, fields: dict[str, object]
) -> Answer:
    fields["inline_error"] = str(inline_error)
    if not webhook.retry.enabled:
        fields.update(outcome="refused", path="inline")
        return unavailable_answer("Redis is unavailable and retries are off for this webhook", _retry_after_seconds())
    try:
        spill_to_retry_queue(envelope, str(inline_error))
    except QueueUnavailable as queue_error:
        fields.update(outcome="unavailable", path="none", queue_error=str(queue_error))
        return unavailable_answer("neither Redis nor the retry queue could take the event", _retry_after_seconds())
    fields.update(outcome="queued", path="queue")
    return Answer(202, {"status": "queued", "event_id": envelope["id"]})


def _accept(
    webhook: WebhookConfig, raw_body: bytes, headers: Mapping[str, str], source_ip: str | None
) -> tuple[Answer, dict[str, object]]:
    verified_by = _check_request(webhook, raw_body, headers, source_ip)
    envelope = build_envelope(webhook, raw_body, headers, datetime.now(UTC), verified_by)
    encoded = encode_envelope(envelope)
    _check_fits_queue(encoded)
    fields: dict[str, object] = {"event_id": envelope["id"]}
    try:
        outcome = deliver(envelope, webhook.redis, webhook.inline, encoded=encoded)
    except DeliveryError as inline_error:
        return _spill(webhook, envelope, inline_error, fields), fields
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
