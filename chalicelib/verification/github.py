"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.verification.settings import VerifySettings
from chalicelib.verification.signing import any_digest_matches, decode_hex, hmac_digest, invalid, missing
from chalicelib.verification.verified import NO_SIGNED_ID, Verified

HEADER = "x-hub-signature-256"
PREFIX = "sha256="


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    value = headers.get(HEADER, "")
    signature = decode_hex(value[len(PREFIX) :]) if value.startswith(PREFIX) else None
    if not signature:
        raise missing(HEADER)
    expected = (hmac_digest(secret.encode(), body) for secret in settings.secrets)
    if not any_digest_matches(expected, [signature]):
        raise invalid()
    return NO_SIGNED_ID
