"""Turns the raw body into the envelope's payload according to the webhook's data_type."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from chalicelib.config.declarations import MAX_JSON_DEPTH, DataType
from chalicelib.config.model import PayloadSchema
from chalicelib.errors import RejectedRequest
from chalicelib.json_numbers import loads_exact


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
        # Numbers a float would change (0.10000000000000000555, 1e-400, 1e400) stay exact
        # Decimals, written back as sent; NaN and Infinity are refused (not JSON): no
        # consumer's parser ever chokes on what we re-emit.
        document = loads_exact(raw)
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


def as_floats(document: Any) -> Any:
    """The document with each exact Decimal as the double a JSON parser would read."""
    if isinstance(document, Decimal):
        return float(document)
    if isinstance(document, dict):
        return {key: as_floats(value) for key, value in document.items()}
    if isinstance(document, list):
        return [as_floats(item) for item in document]
    return document


def _validate_as_floats(schema: PayloadSchema, payload: Any) -> None:
    try:
        schema.validate(as_floats(payload))
    except (ArithmeticError, TypeError) as exc:
        # multipleOf on a number past a double's range (1e400 reads as inf) cannot be decided.
        raise RejectedRequest(422, "schema_violation", "a number is beyond the range the schema can check") from exc


def check_schema(schema: PayloadSchema | None, payload: Any) -> None:
    if schema is None:
        return
    # Here, not at the top: a config without a schema never imports fastjsonschema (bench B5).
    from fastjsonschema import JsonSchemaValueException

    try:
        try:
            schema.validate(payload)
        except JsonSchemaValueException as exc:
            if not isinstance(exc.value, Decimal):
                raise
            # An exact number fails "type": "integer" (1E+400) or breaks multipleOf's
            # arithmetic: those keywords judge it as the double every JSON parser reads.
            _validate_as_floats(schema, payload)
        except (ArithmeticError, TypeError):
            _validate_as_floats(schema, payload)
    except JsonSchemaValueException as exc:
        pointer = "/" + "/".join(str(part) for part in exc.path[1:])
        raise RejectedRequest(422, "schema_violation", f"{pointer}: {exc.message}") from exc
