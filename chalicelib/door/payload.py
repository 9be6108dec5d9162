"""Turns the raw body into the envelope's payload according to the webhook's data_type."""

from __future__ import annotations

import base64
import json
import math
from typing import Any
from urllib.parse import parse_qs

import fastjsonschema

from chalicelib.config.model import MAX_JSON_DEPTH, DataType, PayloadSchema
from chalicelib.errors import RejectedRequest


def _finite_float(text: str) -> float:
    number = float(text)
    # 1e400 parses as inf: re-emitted as a bare Infinity, which is not JSON.
    if math.isinf(number):
        raise ValueError(f"{text} is beyond the range of a double")
    return number


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: consumers' parsers would choke on what we re-emit.
    raise ValueError(f"{name} is not valid JSON")


def json_depth_exceeds(document: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    try:
        document = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise RejectedRequest(400, "json_too_deep", f"body nests deeper than {max_depth} levels") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RejectedRequest(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    # Depth cannot pass the number of opening brackets: most bodies skip the walk.
    could_be_too_deep = raw.count(b"[") + raw.count(b"{") > max_depth
    if could_be_too_deep and isinstance(document, (dict, list)) and json_depth_exceeds(document, max_depth):
        raise RejectedRequest(400, "json_too_deep", f"body nests deeper than {max_depth} levels")
    return document


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


def parse_payload(data_type: DataType, raw: bytes, max_json_depth: int = MAX_JSON_DEPTH) -> Any:
    if not raw:
        raise RejectedRequest(400, "empty_body", "the request has no body")
    if data_type == "json":
        return parse_json(raw, max_json_depth)
    if data_type == "form":
        return parse_form(raw)
    return parse_blob(raw)


def check_schema(schema: PayloadSchema | None, payload: Any) -> None:
    if schema is None:
        return
    try:
        schema.validate(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        pointer = "/" + "/".join(str(part) for part in exc.path[1:])
        raise RejectedRequest(422, "schema_violation", f"{pointer}: {exc.message}") from exc
