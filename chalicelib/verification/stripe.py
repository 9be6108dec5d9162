"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]`.

Several v1 entries arrive while Stripe rolls a secret; any one matching is enough.
"""

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

HEADER = "stripe-signature"


def signed_content(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    timestamp: str | None = None
    signatures: list[bytes] = []
    for item in headers.get(HEADER, "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and (signature := decode_hex(value)):
            signatures.append(signature)
    if timestamp is None or not signatures:
        raise missing(HEADER)
    check_timestamp(timestamp, HEADER, now, settings.tolerance_seconds)
    signed = signed_content(timestamp, body)
    expected = (hmac_digest(secret.encode(), signed) for secret in settings.secrets)
    if not any_digest_matches(expected, signatures):
        raise invalid()
    return NO_SIGNED_ID
