"""The event envelope: what consumers read from Redis, whichever path it took."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from chalicelib.errors import RejectedRequest
from chalicelib.payload import parse_payload
from chalicelib.webhook_config import WebhookConfig

# Headers that carry the sender's own delivery id, most specific first.
DELIVERY_ID_HEADERS = (
    "x-github-delivery",
    "x-shopify-webhook-id",
    "webhook-id",
    "svix-id",
    "x-gitlab-event-uuid",
    "idempotency-key",
)
DELIVERY_ID = re.compile(r"^[\x21-\x7e]{1,200}$")

# Credentials and signatures never leave the door; transport noise is not the sender's.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
SECRET_HEADER_WORDS = ("signature", "hmac", "token", "secret", "password", "auth")
TRANSPORT_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "accept-encoding", "via", "expect"}
)
TRANSPORT_HEADER_PREFIXES = ("x-forwarded-", "x-amzn-", "x-amz-", "cloudfront-")


class Envelope(TypedDict):
    id: str
    webhook_id: str
    received_at: str
    data_type: str
    content_type: str | None
    headers: dict[str, str]
    payload: Any


def is_forwarded_header(name: str) -> bool:
    if name in SECRET_HEADERS or name in TRANSPORT_HEADERS:
        return False
    if name.startswith(TRANSPORT_HEADER_PREFIXES):
        return False
    return not any(word in name for word in SECRET_HEADER_WORDS)


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if is_forwarded_header(name)}


def sender_delivery_id(headers: Mapping[str, str]) -> str | None:
    for name in DELIVERY_ID_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        value = value.strip()
        if not DELIVERY_ID.match(value):
            raise RejectedRequest(400, "invalid_delivery_id", f"header {name} must be 1-200 printable ASCII characters")
        return value
    return None


def utc_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_envelope(webhook: WebhookConfig, raw_body: bytes, headers: Mapping[str, str], now: datetime) -> Envelope:
    """headers must have lower-case names."""
    payload = parse_payload(webhook.data_type, raw_body)
    return Envelope(
        id=sender_delivery_id(headers) or str(uuid.uuid4()),
        webhook_id=webhook.webhook_id,
        received_at=utc_timestamp(now),
        data_type=webhook.data_type,
        content_type=headers.get("content-type"),
        headers=forwarded_headers(headers),
        payload=payload,
    )


def encode_envelope(envelope: Envelope) -> str:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
