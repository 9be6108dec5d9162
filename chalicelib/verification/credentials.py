"""Shared credentials instead of signatures: a token in a header, or HTTP Basic."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from chalicelib.errors import RejectedRequest
from chalicelib.verification.settings import AUTHORIZATION, InvalidSettings, VerifySettings
from chalicelib.verification.verified import NO_SIGNED_ID, Verified


def check_basic_settings(settings: VerifySettings) -> None:
    for index, secret in enumerate(settings.secrets):
        if ":" not in secret:
            raise InvalidSettings(f"secrets[{index}]", "must be 'username:password'")


def _matches_any(received: str, secrets: tuple[str, ...]) -> bool:
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(received.encode(), secret.encode())
    return matched


def verify_token(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    header = settings.header or AUTHORIZATION
    value = headers.get(header)
    if value is not None and header == AUTHORIZATION:
        scheme, _, token = value.partition(" ")
        value = token.strip() if scheme.lower() == "bearer" else None
    if not value:
        raise RejectedRequest(401, "missing_credentials", f"the {header} header is missing")
    if not _matches_any(value, settings.secrets):
        raise RejectedRequest(401, "invalid_credentials", f"the {header} token is not one of the configured secrets")
    return NO_SIGNED_ID


def verify_basic(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    scheme, _, encoded = headers.get(AUTHORIZATION, "").partition(" ")
    try:
        credentials = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        credentials = ""
    if scheme.lower() != "basic" or ":" not in credentials:
        raise RejectedRequest(401, "missing_credentials", "HTTP Basic credentials are missing")
    if not _matches_any(credentials, settings.secrets):
        raise RejectedRequest(401, "invalid_credentials", "the HTTP Basic credentials are not configured")
    return NO_SIGNED_ID
