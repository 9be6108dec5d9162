"""Any HMAC scheme: a header, an algorithm, hex or base64, an optional prefix, and the signed
content as a template over `{id}`, `{timestamp}` and `{body}` (the raw bytes)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from chalicelib.verification.settings import InvalidSettings, VerifySettings
from chalicelib.verification.signing import (
    DIGESTS,
    any_digest_matches,
    check_timestamp,
    decode_base64,
    decode_hex,
    hmac_digest,
    invalid,
    missing,
)
from chalicelib.verification.verified import NO_SIGNED_ID, Verified

PLACEHOLDER = re.compile(r"\{(body|timestamp|id)\}")


ENCODINGS = ("hex", "base64")


def check_settings(settings: VerifySettings) -> None:
    if settings.header is None:
        raise InvalidSettings("header", "is required for provider 'hmac'")
    if settings.algorithm not in DIGESTS:
        raise InvalidSettings("algorithm", f"must be one of {', '.join(DIGESTS)}")
    if settings.encoding not in ENCODINGS:
        raise InvalidSettings("encoding", f"must be {' or '.join(ENCODINGS)}")
    template = settings.signed_content
    if "{body}" not in template:
        raise InvalidSettings("signed_content", "must contain {body}")
    stray = PLACEHOLDER.sub("", template)
    if "{" in stray or "}" in stray:
        raise InvalidSettings("signed_content", "may only use the placeholders {id}, {timestamp} and {body}")
    if "{timestamp}" in template and settings.timestamp_header is None:
        raise InvalidSettings("timestamp_header", "is required when signed_content uses {timestamp}")
    if "{id}" in template and settings.id_header is None:
        raise InvalidSettings("id_header", "is required when signed_content uses {id}")


def signed_content(template: str, body: bytes, timestamp: str, message_id: str) -> bytes:
    values = {"timestamp": timestamp.encode(), "id": message_id.encode()}
    parts: list[bytes] = []
    position = 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(template[position : match.start()].encode())
        parts.append(body if match.group(1) == "body" else values[match.group(1)])
        position = match.end()
    parts.append(template[position:].encode())
    return b"".join(parts)


def signs_message_id(settings: VerifySettings) -> bool:
    return "{id}" in settings.signed_content


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    header = settings.header or ""
    value = headers.get(header, "")
    if not value.startswith(settings.prefix):
        raise missing(header)
    encoded = value[len(settings.prefix) :]
    signature = decode_hex(encoded) if settings.encoding == "hex" else decode_base64(encoded)
    if not signature:
        raise missing(header)
    timestamp = ""
    if settings.timestamp_header:
        checked = check_timestamp(
            headers.get(settings.timestamp_header), settings.timestamp_header, now, settings.tolerance_seconds
        )
        timestamp = str(checked)
    signs_id = signs_message_id(settings)
    message_id = headers.get(settings.id_header or "", "") if signs_id else ""
    if signs_id and not message_id:
        # An empty id signed is no id: the event id would fall back to an unsigned source.
        raise missing(settings.id_header or "")
    content = signed_content(settings.signed_content, body, timestamp, message_id)
    expected = (hmac_digest(secret.encode(), content, settings.algorithm) for secret in settings.secrets)
    if not any_digest_matches(expected, [signature]):
        raise invalid()
    return Verified(signed_id=message_id) if signs_id else NO_SIGNED_ID
