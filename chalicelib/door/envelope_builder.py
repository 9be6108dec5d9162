"""Builds the envelope from a request the door has checked: payload, event id, headers."""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping
from datetime import datetime

from chalicelib.config.model import DoorRules, WebhookConfig
from chalicelib.door.event_ids import choose_event_id
from chalicelib.door.payload import check_schema, parse_payload
from chalicelib.envelope import Envelope, utc_timestamp
from chalicelib.verification.settings import credential_header
from chalicelib.verification.verified import Verified

# Credentials and signatures never leave the door; transport noise is not the sender's.
# Names of API keys and cloud credentials (Azure Functions, API Management, AWS STS) are
# listed too, though most hold a word below: the list is what a reader checks first.
SECRET_HEADERS = frozenset(
    {
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "apikey",
        "x-functions-key", "x-amz-security-token",
    }
)  # fmt: skip
SECRET_HEADER_WORDS = ("signature", "hmac", "token", "secret", "password", "auth", "key", "credential")
TRANSPORT_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "accept-encoding", "via", "expect"}
)
TRANSPORT_HEADER_PREFIXES = ("x-forwarded-", "x-amzn-", "x-amz-", "cloudfront-")


# A pure function of the name, asked ~15 times a request for the same few names: remembered,
# it costs 0.7 us a request instead of 8 (bench B1). Bounded, so names a sender makes up only
# evict; nothing here depends on configuration, so nothing needs resetting.
@functools.lru_cache(maxsize=1024)
def is_forwarded_header(name: str) -> bool:
    if name in SECRET_HEADERS or name in TRANSPORT_HEADERS:
        return False
    if name.startswith(TRANSPORT_HEADER_PREFIXES):
        return False
    return not any(word in name for word in SECRET_HEADER_WORDS)


def forwarded_headers(headers: Mapping[str, str], rules: DoorRules) -> dict[str, str]:
    """All but credentials and transport noise, or exactly the webhook's forward_headers;
    never the header holding the secret its `verify` checks (token, basic)."""
    secret_header = credential_header(rules.verify) if rules.verify else None
    if rules.forward_headers is not None:
        return {name: headers[name] for name in rules.forward_headers if name in headers and name != secret_header}
    # Without an allowlist the header `verify` reads is dropped whatever its name (a generic
    # hmac's signature may be called anything).
    verify_header = rules.verify.header if rules.verify else None
    return {
        name: value
        for name, value in headers.items()
        if is_forwarded_header(name) and name not in (verify_header, secret_header)
    }


def build_envelope(
    webhook: WebhookConfig,
    raw_body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    verified: Verified | None = None,
) -> Envelope:
    """Parses and checks the body for the webhook; headers must have lower-case names.
    verified: what the webhook's `verify` proved (None: it has none)."""
    payload = parse_payload(webhook.data_type, raw_body, webhook.door.max_json_depth)
    check_schema(webhook.door.schema, payload)
    signed_id = verified.signed_id if verified else None
    envelope = Envelope(
        id=choose_event_id(webhook.door.event_id, headers, payload, raw_body, signed_id),
        webhook_id=webhook.webhook_id,
        received_at=utc_timestamp(now),
        data_type=webhook.data_type,
        content_type=headers.get("content-type"),
        headers=forwarded_headers(headers, webhook.door),
        payload=payload,
        verified_by=webhook.door.verify.provider if verified and webhook.door.verify else None,
    )
    if webhook.door.include_raw_body:
        envelope["raw_body"] = base64.b64encode(raw_body).decode("ascii")
    if webhook.redis.dedupe_body_seconds is not None:
        envelope["body_sha256"] = hashlib.sha256(raw_body).hexdigest()
    return envelope
