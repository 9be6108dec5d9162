"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.verification.settings import VerifySettings
from chalicelib.verification.signing import any_digest_matches, decode_base64, hmac_digest, invalid, missing
from chalicelib.verification.verified import NO_SIGNED_ID, Verified

HEADER = "x-shopify-hmac-sha256"


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    signature = decode_base64(headers.get(HEADER, ""))
    if not signature:
        raise missing(HEADER)
    expected = (hmac_digest(secret.encode(), body) for secret in settings.secrets)
    if not any_digest_matches(expected, [signature]):
        raise invalid()
    return NO_SIGNED_ID
