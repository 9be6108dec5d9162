"""Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<X-Slack-Request-Timestamp>:<body>")>`."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.verification.settings import VerifySettings
from chalicelib.verification.signing import (
    any_digest_matches,
    check_timestamp,
    decode_hex,
    hmac_digest,
    invalid,
    missing,
)
from chalicelib.verification.verified import NO_SIGNED_ID, Verified

HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
PREFIX = "v0="


def signed_content(timestamp: str, body: bytes) -> bytes:
    return b"v0:" + timestamp.encode() + b":" + body


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    value = headers.get(HEADER, "")
    signature = decode_hex(value[len(PREFIX) :]) if value.startswith(PREFIX) else None
    if not signature:
        raise missing(HEADER)
    timestamp = check_timestamp(headers.get(TIMESTAMP_HEADER), TIMESTAMP_HEADER, now, settings.tolerance_seconds)
    signed = signed_content(str(timestamp), body)
    expected = (hmac_digest(secret.encode(), signed) for secret in settings.secrets)
    if not any_digest_matches(expected, [signature]):
        raise invalid()
    return NO_SIGNED_ID
