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

HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
PREFIX = "v0="


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> None:
    value = headers.get(HEADER, "")
    signature = decode_hex(value[len(PREFIX) :]) if value.startswith(PREFIX) else None
    if not signature:
        raise missing(HEADER)
    timestamp = check_timestamp(headers.get(TIMESTAMP_HEADER), TIMESTAMP_HEADER, now, settings.tolerance_seconds)
    signed = b"v0:" + str(timestamp).encode() + b":" + body
    expected = (hmac_digest(secret.encode(), signed) for secret in settings.secrets)
    if not any_digest_matches(expected, [signature]):
        raise invalid()
