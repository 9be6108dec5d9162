"""The door's part of a webhook's configuration: verify, event_id, content types, depth,
schema and IP allowlist, validated into DoorRules."""

from __future__ import annotations

import ipaddress
from typing import cast

from chalicelib.config import declarations as declared
from chalicelib.config.declarations import DEFAULT_CONTENT_TYPES, DataType
from chalicelib.config.fields import Field, FieldBlock
from chalicelib.config.model import DoorRules, EventIdSource, IpNetwork
from chalicelib.config.payload_schema import parse_schema
from chalicelib.errors import ConfigError
from chalicelib.verification.registry import PROVIDERS, checks, signs_delivery_id
from chalicelib.verification.settings import Algorithm, Encoding, InvalidSettings, VerifySettings, credential_header


def parse_verify(parent: FieldBlock) -> VerifySettings | None:
    if not parent.is_present(declared.VERIFY.name):
        return None
    block = parent.section(declared.VERIFY)

    def header(field: Field[str | None]) -> str | None:
        value = block.read(field)
        return value.lower() if value else None

    settings = VerifySettings(
        provider=block.read(declared.VERIFY_PROVIDER),
        secrets=block.read(declared.VERIFY_SECRETS),
        tolerance_seconds=block.read(declared.VERIFY_TOLERANCE_SECONDS),
        header=header(declared.VERIFY_HEADER),
        # The provider that reads them checks their values (check_settings below).
        algorithm=cast(Algorithm, block.read(declared.VERIFY_ALGORITHM).lower()),
        encoding=cast(Encoding, block.read(declared.VERIFY_ENCODING).lower()),
        prefix=block.read(declared.VERIFY_PREFIX),
        signed_content=block.read(declared.VERIFY_SIGNED_CONTENT),
        timestamp_header=header(declared.VERIFY_TIMESTAMP_HEADER),
        id_header=header(declared.VERIFY_ID_HEADER),
    )
    check_settings = checks(settings.provider).check_settings
    if check_settings is not None:
        try:
            check_settings(settings)
        except InvalidSettings as exc:
            raise block.error(exc.field, exc.problem) from exc
    return settings


def parse_event_id(parent: FieldBlock, data_type: DataType, verify: VerifySettings | None) -> EventIdSource:
    if verify is not None and signs_delivery_id(verify):
        # Any other source could be swapped on a replay inside the tolerance window.
        if parent.is_present(declared.EVENT_ID.name):
            raise parent.error(
                "event_id",
                f"cannot be set: verify.provider {verify.provider} signs its delivery id, which is the event id",
            )
        return EventIdSource()
    if not parent.is_present(declared.EVENT_ID.name):
        provider = PROVIDERS[verify.provider] if verify else None
        if provider is None:
            return EventIdSource()
        pointer = provider.id_json_pointer if data_type == "json" else None
        return EventIdSource(header=provider.id_header, json_pointer=pointer)
    block = parent.section(declared.EVENT_ID)
    chosen = [name for name in sorted(declared.EVENT_ID.names()) if block.is_present(name)]
    if len(chosen) != 1:
        raise block.error(None, "needs exactly one of header, json_pointer, body_hash")
    if block.is_present(declared.EVENT_ID_BODY_HASH.name):
        if not block.read(declared.EVENT_ID_BODY_HASH):
            raise block.error("body_hash", "must be true when given")
        return EventIdSource(body_hash=True)
    pointer = block.read(declared.EVENT_ID_JSON_POINTER)
    if pointer is not None:
        if data_type != "json":
            raise block.error("json_pointer", "needs data_type json")
        if not pointer.startswith("/"):
            raise block.error("json_pointer", "must be a JSON Pointer such as /id or /data/object/id")
        return EventIdSource(json_pointer=pointer)
    header = block.read(declared.EVENT_ID_HEADER)
    return EventIdSource(header=header.lower() if header else None)


def parse_content_types(parent: FieldBlock, data_type: DataType) -> tuple[str, ...]:
    configured = parent.read(declared.CONTENT_TYPES)
    for index, media_type in enumerate(configured):
        if "/" not in media_type:
            field = f"{parent.field_name('content_types')}[{index}]"
            raise ConfigError(parent.path, parent.webhook_id, field, "must be a media type such as text/plain")
    return tuple(media_type.lower() for media_type in configured) or DEFAULT_CONTENT_TYPES[data_type]


def parse_allow_ips(parent: FieldBlock) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    cidrs = parent.read(declared.ALLOW_IPS)
    for index, cidr in enumerate(cidrs):
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            field = f"{parent.field_name('allow_ips')}[{index}]"
            raise ConfigError(parent.path, parent.webhook_id, field, f"is not an IP network: {cidr!r}") from exc
    return tuple(networks)


def parse_forward_headers(parent: FieldBlock, verify: VerifySettings | None) -> tuple[str, ...] | None:
    if not parent.is_present(declared.FORWARD_HEADERS.name):
        return None
    names = tuple(name.strip().lower() for name in parent.read(declared.FORWARD_HEADERS) or ())
    secret_header = credential_header(verify) if verify is not None else None
    if secret_header in names:
        field = f"{parent.field_name('forward_headers')}[{names.index(secret_header)}]"
        problem = f"{secret_header} carries this webhook's verify credential and is never forwarded"
        raise ConfigError(parent.path, parent.webhook_id, field, problem)
    return names


def parse_door_rules(parent: FieldBlock, data_type: DataType) -> DoorRules:
    verify = parse_verify(parent)
    return DoorRules(
        verify=verify,
        event_id=parse_event_id(parent, data_type, verify),
        content_types=parse_content_types(parent, data_type),
        max_json_depth=parent.read(declared.MAX_JSON_DEPTH_FIELD),
        schema=parse_schema(parent, data_type),
        allow_ips=parse_allow_ips(parent),
        include_raw_body=parent.read(declared.INCLUDE_RAW_BODY),
        forward_headers=parse_forward_headers(parent, verify),
    )
