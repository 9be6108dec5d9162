"""The event id: the sender's own delivery id when it has one, so a retried delivery is
recognised; else a hash of the body (when opted in), else a new UUID. A delivery id the
signature covers comes first and alone: an unsigned one could be swapped on a replay."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

from chalicelib.config.model import EventIdSource
from chalicelib.errors import RejectedRequest

# Headers that carry a sender's delivery id, most specific first.
DELIVERY_ID_HEADERS = (
    "x-github-delivery",
    "x-shopify-webhook-id",
    "webhook-id",
    "svix-id",
    "x-gitlab-event-uuid",
    "idempotency-key",
)
DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,200}")


def _checked(value: str, where: str) -> str:
    value = value.strip()
    if not DELIVERY_ID.fullmatch(value):
        raise RejectedRequest(400, "invalid_delivery_id", f"{where} must be 1-200 printable ASCII characters")
    return value


def sender_delivery_id(headers: Mapping[str, str]) -> str | None:
    for name in DELIVERY_ID_HEADERS:
        value = headers.get(name)
        if value is not None:
            return _checked(value, f"header {name}")
    return None


def resolve_json_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901; None when the path is not there."""
    node = document
    for token in pointer.split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def configured_event_id(source: EventIdSource, headers: Mapping[str, str], payload: Any, body: bytes) -> str | None:
    if source.body_hash:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if source.header is not None and headers.get(source.header) is not None:
        return _checked(headers[source.header], f"header {source.header}")
    if source.json_pointer is not None:
        value = resolve_json_pointer(payload, source.json_pointer)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return _checked(str(value), f"the body's {source.json_pointer}")
    return None


def choose_event_id(
    source: EventIdSource, headers: Mapping[str, str], payload: Any, body: bytes, signed_id: str | None = None
) -> str:
    """signed_id: the delivery id the verified signature covers (Verified.signed_id)."""
    if signed_id is not None:
        return _checked(signed_id, "the signed delivery id")
    return configured_event_id(source, headers, payload, body) or sender_delivery_id(headers) or str(uuid.uuid4())
