"""Requests as each sender signs them, and the answers the door gives.

Signed by the provider's own library where one is on PyPI (stripe, standardwebhooks, svix,
slack-sdk), else by the documented algorithm (../shared/notes/FACTS.md, "Webhook
signatures"). Every signer takes the same arguments, (secret, body, timestamp, message_id),
and returns the headers the sender would add; a scheme that has no timestamp or no id of its
own ignores them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import standardwebhooks
import stripe
import svix.webhooks
from slack_sdk.signature import SignatureVerifier

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

Signer = Callable[[str, bytes, int, str], dict[str, str]]


# --- the door's answers -------------------------------------------------------------------


def post(client: Any, webhook_id: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(f"/webhook/{webhook_id}", headers=JSON if headers is None else headers, body=body)


def answer(response: Any) -> Any:
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.body)


def assert_error_shape(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is exactly {"error": {"code": str, "message": str}}; returns the error."""
    body = answer(response)
    assert response.status_code == status, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


# --- provider libraries --------------------------------------------------------------------


def stripe_signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """`t=<timestamp>,v1=<hex>` exactly as stripe-python builds it for its own tests
    (WebhookSignature.generate_signature_header -> _compute_signature over "<t>.<payload>")."""
    return str(stripe.WebhookSignature.generate_signature_header(body.decode("utf-8"), secret, timestamp))


def sign_stripe(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    return {"Stripe-Signature": stripe_signature_header(secret, body, timestamp)}


def sign_slack(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


def sign_standard_webhooks(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    moment = datetime.fromtimestamp(timestamp, UTC)
    signature = standardwebhooks.Webhook(secret).sign(message_id, moment, body.decode("utf-8"))
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def sign_svix(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    moment = datetime.fromtimestamp(timestamp, UTC)
    signature = svix.webhooks.Webhook(secret).sign(message_id, moment, body.decode("utf-8"))
    return {"svix-id": message_id, "svix-timestamp": str(timestamp), "svix-signature": signature}


def whsec(key: str) -> str:
    """A Standard Webhooks secret as senders show it: whsec_ + base64 of the key."""
    return "whsec_" + base64.b64encode(key.encode()).decode("ascii")


# --- documented algorithms -----------------------------------------------------------------


def hmac_signature(secret: str, content: bytes, algorithm: str = "sha256", encoding: str = "hex") -> str:
    digest = hmac.new(secret.encode(), content, getattr(hashlib, algorithm)).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def sign_github(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    return {"X-GitHub-Delivery": message_id, "X-Hub-Signature-256": "sha256=" + hmac_signature(secret, body)}


def sign_shopify(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    return {
        "X-Shopify-Webhook-Id": message_id,
        "X-Shopify-Hmac-Sha256": hmac_signature(secret, body, encoding="base64"),
    }


def generic_hmac_signer(
    header: str,
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
    timestamp_header: str | None = None,
    id_header: str | None = None,
) -> Signer:
    """A sender of the generic `hmac` scheme; with timestamp and id headers it signs
    "{id}.{timestamp}.{body}"."""

    def sign(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
        content = body
        headers: dict[str, str] = {}
        if timestamp_header and id_header:
            content = f"{message_id}.{timestamp}.".encode() + body
            headers = {timestamp_header: str(timestamp), id_header: message_id}
        headers[header] = prefix + hmac_signature(secret, content, algorithm, encoding)
        return headers

    return sign


def token_signer(header: str) -> Signer:
    def sign(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
        return {header: secret}

    return sign


def sign_bearer(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def sign_basic(secret: str, body: bytes, timestamp: int, message_id: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode("ascii")}
