"""The door's part of a webhook's configuration: verify, event_id, content types, depth,
schema and IP allowlist, validated into DoorRules."""

from __future__ import annotations

import ipaddress
import json
import os
from typing import Any, cast

import fastjsonschema

from chalicelib.config.fields import FieldBlock
from chalicelib.config.model import MAX_JSON_DEPTH, DataType, DoorRules, EventIdSource, IpNetwork, PayloadSchema
from chalicelib.errors import ConfigError
from chalicelib.verification import standard_webhooks
from chalicelib.verification.generic_hmac import PLACEHOLDER
from chalicelib.verification.registry import PROVIDERS
from chalicelib.verification.settings import Algorithm, Encoding, VerifySettings
from chalicelib.verification.signing import DIGESTS

VERIFY_FIELDS = {
    "provider", "secrets", "tolerance_seconds", "header", "algorithm", "encoding", "prefix",
    "signed_content", "timestamp_header", "id_header",
}  # fmt: skip
EVENT_ID_FIELDS = {"header", "json_pointer", "body_hash"}
DEFAULT_CONTENT_TYPES: dict[DataType, tuple[str, ...]] = {
    "json": ("application/json", "*/*+json"),
    "form": ("application/x-www-form-urlencoded",),
    "blob": ("*/*",),
}
DEFAULT_JSON_DEPTH = 64
MAX_TOLERANCE_SECONDS = 86_400


def _secrets(block: FieldBlock, provider: str) -> tuple[str, ...]:
    secrets = block.string_list("secrets", required=True)
    for index, secret in enumerate(secrets):
        field = f"{block.field_name('secrets')}[{index}]"
        if provider == "standard_webhooks":
            try:
                standard_webhooks.signing_key(secret)
            except ValueError as exc:
                raise ConfigError(block.path, block.webhook_id, field, str(exc)) from exc
        if provider == "basic" and ":" not in secret:
            raise ConfigError(block.path, block.webhook_id, field, "must be 'username:password'")
    return secrets


def _generic_hmac(block: FieldBlock, settings: dict[str, Any]) -> None:
    if settings["header"] is None:
        raise block.error("header", "is required for provider 'hmac'")
    if settings["algorithm"] not in DIGESTS:
        raise block.error("algorithm", f"must be one of {', '.join(DIGESTS)}")
    if settings["encoding"] not in ("hex", "base64"):
        raise block.error("encoding", "must be hex or base64")
    template = settings["signed_content"]
    if "{body}" not in template:
        raise block.error("signed_content", "must contain {body}")
    stray = PLACEHOLDER.sub("", template)
    if "{" in stray or "}" in stray:
        raise block.error("signed_content", "may only use the placeholders {id}, {timestamp} and {body}")
    if "{timestamp}" in template and settings["timestamp_header"] is None:
        raise block.error("timestamp_header", "is required when signed_content uses {timestamp}")
    if "{id}" in template and settings["id_header"] is None:
        raise block.error("id_header", "is required when signed_content uses {id}")


def parse_verify(parent: FieldBlock) -> VerifySettings | None:
    if not parent.is_present("verify"):
        return None
    block = parent.block("verify")
    block.reject_unknown(VERIFY_FIELDS)
    provider = block.string("provider")
    if provider not in PROVIDERS:
        raise block.error("provider", f"must be one of {', '.join(sorted(PROVIDERS))}, got {provider!r}")

    def header(key: str) -> str | None:
        value = block.optional_string(key)
        return value.lower() if value else None

    settings: dict[str, Any] = {
        "header": header("header"),
        "algorithm": block.string("algorithm", "sha256").lower(),
        "encoding": block.string("encoding", "hex").lower(),
        "prefix": block.get("prefix", str, "a string", ""),
        "signed_content": block.string("signed_content", "{body}"),
        "timestamp_header": header("timestamp_header"),
        "id_header": header("id_header"),
    }
    if provider == "hmac":
        _generic_hmac(block, settings)
    return VerifySettings(
        provider=provider,
        secrets=_secrets(block, provider),
        tolerance_seconds=block.integer("tolerance_seconds", 300, minimum=1, maximum=MAX_TOLERANCE_SECONDS),
        header=settings["header"],
        algorithm=cast(Algorithm, settings["algorithm"]),
        encoding=cast(Encoding, settings["encoding"]),
        prefix=settings["prefix"],
        signed_content=settings["signed_content"],
        timestamp_header=settings["timestamp_header"],
        id_header=settings["id_header"],
    )


def parse_event_id(parent: FieldBlock, data_type: DataType, verify: VerifySettings | None) -> EventIdSource:
    if not parent.is_present("event_id"):
        provider = PROVIDERS[verify.provider] if verify else None
        if provider is None:
            return EventIdSource()
        pointer = provider.id_json_pointer if data_type == "json" else None
        return EventIdSource(header=provider.id_header, json_pointer=pointer)
    block = parent.block("event_id")
    block.reject_unknown(EVENT_ID_FIELDS)
    chosen = [key for key in EVENT_ID_FIELDS if block.is_present(key)]
    if len(chosen) != 1:
        raise block.error(None, "needs exactly one of header, json_pointer, body_hash")
    if block.is_present("body_hash"):
        if not block.boolean("body_hash"):
            raise block.error("body_hash", "must be true when given")
        return EventIdSource(body_hash=True)
    pointer = block.optional_string("json_pointer")
    if pointer is not None:
        if data_type != "json":
            raise block.error("json_pointer", "needs data_type json")
        if not pointer.startswith("/"):
            raise block.error("json_pointer", "must be a JSON Pointer such as /id or /data/object/id")
        return EventIdSource(json_pointer=pointer)
    return EventIdSource(header=block.string("header").lower())


def parse_content_types(parent: FieldBlock, data_type: DataType) -> tuple[str, ...]:
    configured = parent.string_list("content_types")
    for index, media_type in enumerate(configured):
        if "/" not in media_type:
            field = f"{parent.field_name('content_types')}[{index}]"
            raise ConfigError(parent.path, parent.webhook_id, field, "must be a media type such as text/plain")
    return tuple(media_type.lower() for media_type in configured) or DEFAULT_CONTENT_TYPES[data_type]


def parse_schema(parent: FieldBlock, data_type: DataType) -> PayloadSchema | None:
    raw = parent.raw.get("schema")
    if raw is None:
        return None
    if data_type == "blob":
        raise parent.error("schema", "does not apply to data_type blob")
    source = "inline"
    if isinstance(raw, str):
        schema_path = os.path.join(os.path.dirname(os.path.abspath(parent.path)), raw)
        try:
            with open(schema_path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as exc:
            raise parent.error("schema", f"cannot read the schema file {schema_path}: {exc}") from exc
        source = schema_path
    if not isinstance(raw, dict):
        raise parent.error("schema", "must be a JSON Schema object or the path of a file holding one")
    try:
        validate = fastjsonschema.compile(raw)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise parent.error("schema", f"is not a valid JSON Schema: {exc}") from exc
    return PayloadSchema(source=source, validate=validate)


def parse_allow_ips(parent: FieldBlock) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    for index, cidr in enumerate(parent.string_list("allow_ips")):
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            field = f"{parent.field_name('allow_ips')}[{index}]"
            raise ConfigError(parent.path, parent.webhook_id, field, f"is not an IP network: {cidr!r}") from exc
    return tuple(networks)


def parse_door_rules(parent: FieldBlock, data_type: DataType) -> DoorRules:
    verify = parse_verify(parent)
    return DoorRules(
        verify=verify,
        event_id=parse_event_id(parent, data_type, verify),
        content_types=parse_content_types(parent, data_type),
        max_json_depth=parent.integer("max_json_depth", DEFAULT_JSON_DEPTH, minimum=1, maximum=MAX_JSON_DEPTH),
        schema=parse_schema(parent, data_type),
        allow_ips=parse_allow_ips(parent),
    )
