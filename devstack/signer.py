"""Signs a request as a webhook's sender would: the inverse of chalicelib/verification/.

Header names, signed contents and digests come from the verifiers' own modules, so a change to
a check changes the signer with it; tests/e2e/test_send.py runs every provider's signed request
through the door.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from chalicelib.verification import generic_hmac, github, shopify, slack, standard_webhooks, stripe
from chalicelib.verification.registry import PROVIDERS
from chalicelib.verification.settings import AUTHORIZATION, VerifySettings, credential_header
from chalicelib.verification.signing import hmac_digest

# (verify settings, secret, body, timestamp, delivery id) -> the headers that prove it.
Sign = Callable[[VerifySettings, str, bytes, str, str], dict[str, str]]


def _hex_hmac(secret: str, content: bytes) -> str:
    return hmac_digest(secret.encode(), content).hex()


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _github(settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str) -> dict[str, str]:
    return {github.HEADER: github.PREFIX + _hex_hmac(secret, body)}


def _stripe(settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str) -> dict[str, str]:
    return {stripe.HEADER: f"t={timestamp},v1={_hex_hmac(secret, stripe.signed_content(timestamp, body))}"}


def _slack(settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str) -> dict[str, str]:
    signature = _hex_hmac(secret, slack.signed_content(timestamp, body))
    return {slack.TIMESTAMP_HEADER: timestamp, slack.HEADER: slack.PREFIX + signature}


def _shopify(settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str) -> dict[str, str]:
    return {shopify.HEADER: _base64(hmac_digest(secret.encode(), body))}


def _standard_webhooks(
    settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str
) -> dict[str, str]:
    prefix = standard_webhooks.HEADER_PREFIXES[0]
    content = standard_webhooks.signed_content(message_id, timestamp, body)
    signature = _base64(hmac_digest(standard_webhooks.signing_key(secret), content))
    return {f"{prefix}id": message_id, f"{prefix}timestamp": timestamp, f"{prefix}signature": f"v1,{signature}"}


def _generic_hmac(
    settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str
) -> dict[str, str]:
    content = generic_hmac.signed_content(settings.signed_content, body, timestamp, message_id)
    digest = hmac_digest(secret.encode(), content, settings.algorithm)
    headers = {
        settings.header or "": settings.prefix + (digest.hex() if settings.encoding == "hex" else _base64(digest))
    }
    if settings.timestamp_header:
        headers[settings.timestamp_header] = timestamp
    if settings.id_header:
        headers[settings.id_header] = message_id
    return headers


def _token(settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str) -> dict[str, str]:
    header = credential_header(settings) or AUTHORIZATION
    return {header: f"Bearer {secret}" if header == AUTHORIZATION else secret}


def _basic(settings: VerifySettings, secret: str, body: bytes, timestamp: str, message_id: str) -> dict[str, str]:
    return {AUTHORIZATION: "Basic " + _base64(secret.encode())}


# One per provider of chalicelib/verification/registry.py (a test holds the two lists equal).
SIGNERS: dict[str, Sign] = {
    "github": _github,
    "stripe": _stripe,
    "slack": _slack,
    "shopify": _shopify,
    "standard_webhooks": _standard_webhooks,
    "hmac": _generic_hmac,
    "token": _token,
    "basic": _basic,
}


def signed_headers(
    settings: VerifySettings, secret: str, body: bytes, *, timestamp: int, message_id: str
) -> dict[str, str]:
    """The headers the sender adds for this body: its signature (or credential) and, where the
    provider carries one in a header, its delivery id (the event id the door takes)."""
    headers = SIGNERS[settings.provider](settings, secret, body, str(timestamp), message_id)
    id_header = PROVIDERS[settings.provider].id_header
    if id_header is not None:
        headers.setdefault(id_header, message_id)
    return headers
