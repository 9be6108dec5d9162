"""The event envelope: what consumers read from Redis, whichever path it took. The door
builds it (door/envelope_builder.py); the queue carries it; delivery publishes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, cast

from chalicelib.json_numbers import dumps_exact

ENVELOPE_FIELDS = ("id", "webhook_id", "received_at", "data_type", "content_type", "headers", "payload")


class Envelope(TypedDict):
    id: str
    webhook_id: str
    received_at: str
    data_type: str
    content_type: str | None
    headers: dict[str, str]
    payload: Any
    # Which check the door passed (a provider name), or None for a webhook without `verify`.
    # Absent from events queued before it existed.
    verified_by: NotRequired[str | None]
    # Base64 of the exact bytes received, for webhooks with include_raw_body (so a consumer
    # can check the sender's signature itself).
    raw_body: NotRequired[str]
    # Hex SHA-256 of the body, for webhooks with redis.dedupe_body_seconds: the drain's
    # delivery of a queued copy needs it, and the payload cannot give the bytes back.
    body_sha256: NotRequired[str]


class MalformedEnvelope(ValueError):
    """A document that claims to be an envelope and is not one."""


def checked_envelope(document: Any) -> Envelope:
    """The document as an Envelope, or MalformedEnvelope saying what is wrong: for what comes
    back from a queue (the drain, the dead-letter tool), never for what the door builds."""
    if not isinstance(document, dict) or any(field not in document for field in ENVELOPE_FIELDS):
        raise MalformedEnvelope("no complete 'envelope'")
    if not isinstance(document["id"], str) or not isinstance(document["webhook_id"], str):
        raise MalformedEnvelope("envelope 'id' and 'webhook_id' must be strings")
    return cast(Envelope, document)


def utc_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_envelope(envelope: Envelope) -> str:
    return dumps_exact(envelope)
