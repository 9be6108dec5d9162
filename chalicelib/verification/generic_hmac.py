"""Any HMAC scheme: a header, an algorithm, hex or base64, an optional prefix, and the signed
content as a template over `{id}`, `{timestamp}` and `{body}` (the raw bytes)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from chalicelib.verification.settings import VerifySettings
from chalicelib.verification.signing import (
    any_digest_matches,
    check_timestamp,
    decode_base64,
    decode_hex,
    hmac_digest,
    invalid,
    missing,
)

PLACEHOLDER = re.compile(r"\{(body|timestamp|id)\}")


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


def verify(settings: VerifySettings, body: bytes, headers: Mapping[str, str], now: float) -> None:
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
    message_id = headers.get(settings.id_header, "") if settings.id_header else ""
    content = signed_content(settings.signed_content, body, timestamp, message_id)
    expected = (hmac_digest(secret.encode(), content, settings.algorithm) for secret in settings.secrets)
    if not any_digest_matches(expected, [signature]):
        raise invalid()
