"""Standard Webhooks (Svix and others): `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,...]`.

The secret is `whsec_` + base64 of the key. Svix sends the same headers prefixed `svix-`.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.verification.settings import InvalidSettings, VerifySettings
from chalicelib.verification.signing import (
    any_digest_matches,
    check_timestamp,
    decode_base64,
    hmac_digest,
    invalid,
    missing,
)
from chalicelib.verification.verified import Verified

SECRET_PREFIX = "whsec_"
HEADER_PREFIXES = ("webhook-", "svix-")


def signing_key(secret: str) -> bytes:
    key = decode_base64(secret.removeprefix(SECRET_PREFIX))
    if not key:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64")
    return key


def signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def check_settings(settings: VerifySettings) -> None:
    for index, secret in enumerate(settings.secrets):
        try:
            signing_key(secret)
        except ValueError as exc:
            raise InvalidSettings(f"secrets[{index}]", str(exc)) from exc


def _headers(headers: Mapping[str, str]) -> tuple[str, str | None, str | None, str | None]:
    for prefix in HEADER_PREFIXES:
        if f"{prefix}signature" in headers:
            return prefix, headers.get(f"{prefix}id"), headers.get(f"{prefix}timestamp"), headers[f"{prefix}signature"]
    return HEADER_PREFIXES[0], None, None, None


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    prefix, message_id, timestamp, signature_header = _headers(headers)
    signatures = [
        signature
        for entry in (signature_header or "").split()
        if entry.startswith("v1,") and (signature := decode_base64(entry[3:]))
    ]
    if not message_id or not signatures:
        raise missing(f"{prefix}id / {prefix}signature")
    checked = check_timestamp(timestamp, f"{prefix}timestamp", now, settings.tolerance_seconds)
    signed = signed_content(message_id, str(checked), body)
    expected = (hmac_digest(signing_key(secret), signed) for secret in settings.secrets)
    if not any_digest_matches(expected, signatures):
        raise invalid()
    return Verified(signed_id=message_id)
