"""The event envelope: what consumers read from Redis, whichever path it took."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from chalicelib.event_ids import choose_event_id
from chalicelib.payload import check_schema, parse_payload
from chalicelib.webhook_config import WebhookConfig

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
    # Which check the door passed (a provider name), or None for a webhook without `verify`.
    # Absent from events queued before it existed.
    verified_by: NotRequired[str | None]


def is_forwarded_header(name: str) -> bool:
    if name in SECRET_HEADERS or name in TRANSPORT_HEADERS:
        return False
    if name.startswith(TRANSPORT_HEADER_PREFIXES):
        return False
    return not any(word in name for word in SECRET_HEADER_WORDS)


def forwarded_headers(headers: Mapping[str, str], credential_header: str | None = None) -> dict[str, str]:
    """credential_header: the one a webhook's `verify` reads, whatever its name."""
    return {name: value for name, value in headers.items() if is_forwarded_header(name) and name != credential_header}


def utc_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_envelope(
    webhook: WebhookConfig,
    raw_body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    verified_by: str | None = None,
) -> Envelope:
    """Parses and checks the body for the webhook; headers must have lower-case names."""
    payload = parse_payload(webhook.data_type, raw_body, webhook.door.max_json_depth)
    check_schema(webhook.door.schema, payload)
    return Envelope(
        id=choose_event_id(webhook.door.event_id, headers, payload, raw_body),
        webhook_id=webhook.webhook_id,
        received_at=utc_timestamp(now),
        data_type=webhook.data_type,
        content_type=headers.get("content-type"),
        headers=forwarded_headers(headers, webhook.door.verify.header if webhook.door.verify else None),
        payload=payload,
        verified_by=verified_by,
    )


def encode_envelope(envelope: Envelope) -> str:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
