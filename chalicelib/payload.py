"""Turns the raw body into the envelope's payload according to the webhook's data_type."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

from chalicelib.errors import RejectedRequest
from chalicelib.webhook_config import DataType


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: consumers' parsers would choke on what we re-emit.
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise RejectedRequest(400, "invalid_json", "body is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RejectedRequest(400, "invalid_json", f"body is not valid JSON: {exc}") from exc


def parse_form(raw: bytes) -> dict[str, str | list[str]]:
    try:
        text = raw.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise RejectedRequest(
            400, "invalid_form", f"body is not application/x-www-form-urlencoded UTF-8: {exc}"
        ) from exc
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


def parse_blob(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def parse_payload(data_type: DataType, raw: bytes) -> Any:
    if not raw:
        raise RejectedRequest(400, "empty_body", "the request has no body")
    if data_type == "json":
        return parse_json(raw)
    if data_type == "form":
        return parse_form(raw)
    return parse_blob(raw)
