"""The checks a request passes before its body is even parsed: who sent it, what it is."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from chalicelib.config.model import DoorRules
from chalicelib.errors import RejectedRequest
from chalicelib.verification.registry import checks
from chalicelib.verification.verified import Verified


def check_source_ip(rules: DoorRules, source_ip: str | None) -> None:
    if not rules.allow_ips:
        return
    try:
        address = ipaddress.ip_address((source_ip or "").strip())
    except ValueError as exc:
        raise RejectedRequest(403, "ip_not_allowed", "the request's source address is unknown") from exc
    if not any(address in network for network in rules.allow_ips):
        raise RejectedRequest(403, "ip_not_allowed", f"{address} is not in this webhook's allow_ips")


def media_type_matches(media_type: str, pattern: str) -> bool:
    if pattern in ("*/*", media_type):
        return True
    if pattern.startswith("*/*+"):
        return media_type.endswith(pattern[3:])
    if pattern.endswith("/*"):
        return media_type.startswith(pattern[:-1])
    return False


def check_content_type(rules: DoorRules, content_type: str | None) -> None:
    if "*/*" in rules.content_types:
        return
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not any(media_type_matches(media_type, pattern) for pattern in rules.content_types):
        shown = media_type or "none"
        raise RejectedRequest(
            415, "unsupported_media_type", f"Content-Type {shown} is not one of {', '.join(rules.content_types)}"
        )


def verify_sender(rules: DoorRules, body: bytes, headers: Mapping[str, str], now: float) -> Verified | None:
    """Runs the webhook's signature or credential check over the raw bytes; returns what it
    proved (the delivery id it signed, if any), or None when the webhook has no `verify` block."""
    if rules.verify is None:
        return None
    return checks(rules.verify.provider).verify(rules.verify, body, headers, now)
