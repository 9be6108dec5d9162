"""Reads webhooks.json once, substitutes the environment, validates, and freezes it.

Every error names the file, the webhook and the field, so an operator can fix it from the
message alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from chalicelib.config.door_rules import parse_door_rules
from chalicelib.config.env_substitution import MissingVariable, substitute
from chalicelib.config.fields import FieldBlock
from chalicelib.config.model import (
    DATA_TYPES,
    MODULES,
    InlineBudget,
    RedisConnection,
    RedisTarget,
    RelayConfig,
    RetryPolicy,
    WebhookConfig,
)
from chalicelib.errors import ConfigError

WEBHOOK_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# SQS takes 256 KiB per message; the envelope around a body (headers, base64 for blobs)
# must still fit, so bodies are capped well below it.
MAX_BODY_BYTES_DEFAULT = 128 * 1024
MAX_BODY_BYTES_LIMIT = 168 * 1024
# The event must be delivered or dead-lettered before SQS drops it: our queues keep
# messages 14 days, and a day of margin covers the last redrive hop.
MAX_AGE_LIMIT_SECONDS = 13 * 86_400
# SQS caps one delay at 900 s; longer waits hop, but a schedule that never reaches its cap
# inside a day is almost certainly a typo.
MAX_DELAY_LIMIT_SECONDS = 86_400


def _substitute_all(value: Any, path: str, webhook_id: str, field: str, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        try:
            return substitute(value, environ)
        except MissingVariable as exc:
            raise ConfigError(
                path, webhook_id, field or None, f"environment variable {exc.name} is not set and has no default"
            ) from exc
    if isinstance(value, dict):
        return {
            key: _substitute_all(item, path, webhook_id, f"{field}.{key}" if field else key, environ)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute_all(item, path, webhook_id, f"{field}[{index}]", environ) for index, item in enumerate(value)
        ]
    return value


WEBHOOK_FIELDS = {
    "data_type", "module", "redis", "retry", "inline", "max_body_bytes",
    "verify", "event_id", "content_types", "max_json_depth", "schema", "allow_ips",
}  # fmt: skip
REDIS_FIELDS = {
    "url", "host", "port", "db", "password", "ssl",
    "channel", "stream", "stream_maxlen", "idempotency_ttl_seconds",
}  # fmt: skip
RETRY_FIELDS = {"enabled", "max_attempts", "initial_delay", "max_delay", "backoff_multiplier", "max_age_seconds"}
INLINE_FIELDS = {
    "max_attempts", "budget_seconds", "socket_timeout", "connect_timeout", "breaker_failures", "breaker_reset_seconds",
}  # fmt: skip


def _redis_target(block: FieldBlock) -> RedisTarget:
    block.reject_unknown(REDIS_FIELDS)
    url = block.optional_string("url")
    if url is not None:
        for key in ("host", "port", "db", "password", "ssl"):
            if key in block.raw:
                raise block.error(key, "cannot be combined with 'url'; put it in the URL")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise block.error("url", "must start with redis://, rediss:// or unix://")
        connection = RedisConnection(url=url)
    else:
        connection = RedisConnection(
            host=block.string("host", "localhost"),
            port=block.integer("port", 6379, minimum=1, maximum=65_535),
            db=block.integer("db", 0, minimum=0),
            password=block.optional_string("password"),
            ssl=block.boolean("ssl", False),
        )
    channel = block.optional_string("channel")
    stream = block.optional_string("stream")
    if channel is None and stream is None:
        raise block.error(None, "needs at least one target: 'channel' (PUBLISH) or 'stream' (XADD)")
    maxlen = block.optional_integer("stream_maxlen", minimum=1)
    if maxlen is not None and stream is None:
        raise block.error("stream_maxlen", "only applies with 'stream'")
    return RedisTarget(
        connection=connection,
        channel=channel,
        stream=stream,
        stream_maxlen=maxlen,
        idempotency_ttl_seconds=block.integer("idempotency_ttl_seconds", 86_400, minimum=1),
    )


def _retry_policy(block: FieldBlock) -> RetryPolicy:
    block.reject_unknown(RETRY_FIELDS)
    policy = RetryPolicy(
        enabled=block.boolean("enabled", True),
        max_attempts=block.integer("max_attempts", 5, minimum=1, maximum=1_000),
        initial_delay=block.number("initial_delay", 1.0, minimum=0.0),
        max_delay=block.number("max_delay", 10.0, minimum=0.0, maximum=MAX_DELAY_LIMIT_SECONDS),
        backoff_multiplier=block.number("backoff_multiplier", 2.0, minimum=1.0, maximum=100.0),
        max_age_seconds=block.integer("max_age_seconds", 86_400, minimum=1, maximum=MAX_AGE_LIMIT_SECONDS),
    )
    if policy.max_delay < policy.initial_delay:
        raise block.error("max_delay", f"must be at least initial_delay ({policy.initial_delay})")
    return policy


def _inline_budget(block: FieldBlock) -> InlineBudget:
    block.reject_unknown(INLINE_FIELDS)
    budget = InlineBudget(
        max_attempts=block.integer("max_attempts", 3, minimum=1, maximum=10),
        budget_seconds=block.number("budget_seconds", 1.5, minimum=0.01, maximum=10.0),
        socket_timeout=block.number("socket_timeout", 0.5, minimum=0.01, maximum=10.0),
        connect_timeout=block.number("connect_timeout", 0.25, minimum=0.01, maximum=10.0),
        breaker_failures=block.integer("breaker_failures", 2, minimum=1, maximum=1_000),
        breaker_reset_seconds=block.number("breaker_reset_seconds", 5.0, minimum=0.01, maximum=3_600.0),
    )
    if budget.socket_timeout > budget.budget_seconds:
        raise block.error("socket_timeout", f"must not exceed budget_seconds ({budget.budget_seconds})")
    return budget


def parse_webhook(webhook_id: str, raw: Any, path: str) -> WebhookConfig:
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise ConfigError(path, webhook_id, None, "webhook id must be 1-64 of A-Z a-z 0-9 _ . -")
    if not isinstance(raw, dict):
        raise ConfigError(path, webhook_id, None, f"must be an object, got {type(raw).__name__}")
    block = FieldBlock(raw, path, webhook_id, "")
    block.reject_unknown(WEBHOOK_FIELDS)
    data_type = block.string("data_type")
    if data_type not in DATA_TYPES:
        raise block.error("data_type", f"must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
    module = block.string("module", "redis_publish")
    if module not in MODULES:
        raise block.error("module", f"must be one of {', '.join(MODULES)}, got {module!r}")
    return WebhookConfig(
        webhook_id=webhook_id,
        data_type=data_type,
        module=module,
        redis=_redis_target(block.block("redis", required=True)),
        retry=_retry_policy(block.block("retry")),
        inline=_inline_budget(block.block("inline")),
        max_body_bytes=block.integer("max_body_bytes", MAX_BODY_BYTES_DEFAULT, minimum=1, maximum=MAX_BODY_BYTES_LIMIT),
        door=parse_door_rules(block, data_type),
    )


def parse_config(document: Any, path: str, environ: Mapping[str, str]) -> RelayConfig:
    if not isinstance(document, dict):
        raise ConfigError(path, None, None, "must be a JSON object of webhook id -> settings")
    webhooks = {}
    for webhook_id, raw in document.items():
        resolved = _substitute_all(raw, path, webhook_id, "", environ)
        webhooks[webhook_id] = parse_webhook(webhook_id, resolved, path)
    return RelayConfig(path=path, webhooks=MappingProxyType(webhooks))


class _UnacceptableJson(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _UnacceptableJson(f"key {key!r} appears twice in one object (the first would be silently lost)")
        document[key] = value
    return document


def load_config(path: str, environ: Mapping[str, str] | None = None) -> RelayConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle, object_pairs_hook=_reject_duplicate_keys)
    except FileNotFoundError as exc:
        raise ConfigError(path, None, None, "file not found (set WEBHOOKS_CONFIG to its path)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, None, f"cannot be read: {exc}") from exc
    except _UnacceptableJson as exc:
        raise ConfigError(path, None, None, str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            path, None, None, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return parse_config(document, path, os.environ if environ is None else environ)
