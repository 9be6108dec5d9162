"""Builds the envelope from a request the door has checked: payload, event id, headers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chalicelib.config.model import WebhookConfig
from chalicelib.door.event_ids import choose_event_id
from chalicelib.door.payload import check_schema, parse_payload
from chalicelib.envelope import Envelope, utc_timestamp

# Credentials and signatures never leave the door; transport noise is not the sender's.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
SECRET_HEADER_WORDS = ("signature", "hmac", "token", "secret", "password", "auth")
TRANSPORT_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "accept-encoding", "via", "expect"}
)
TRANSPORT_HEADER_PREFIXES = ("x-forwarded-", "x-amzn-", "x-amz-", "cloudfront-")


def is_forwarded_header(name: str) -> bool:
    if name in SECRET_HEADERS or name in TRANSPORT_HEADERS:
        return False
    if name.startswith(TRANSPORT_HEADER_PREFIXES):
        return False
    return not any(word in name for word in SECRET_HEADER_WORDS)


def forwarded_headers(headers: Mapping[str, str], credential_header: str | None = None) -> dict[str, str]:
    """credential_header: the one a webhook's `verify` reads, whatever its name."""
    return {name: value for name, value in headers.items() if is_forwarded_header(name) and name != credential_header}


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
