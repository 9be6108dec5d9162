"""The validated, immutable shape of webhooks.json."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from chalicelib.verification.settings import VerifySettings

DataType = Literal["json", "form", "blob"]
DATA_TYPES: tuple[DataType, ...] = ("json", "form", "blob")
MODULES = ("redis_publish",)
# Real webhook payloads nest a dozen levels; the envelope and the queue message add two more,
# and Python's encoder recurses, so a cap far below the interpreter's limit keeps every
# accepted body encodable.
MAX_JSON_DEPTH = 128


@dataclass(frozen=True)
class RedisConnection:
    url: str | None = None
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    password: str | None = None
    ssl: bool = False

    def __repr__(self) -> str:
        # Passwords (and URLs, which may embed one) never reach logs.
        where = "url=<redacted>" if self.url else f"host={self.host!r}, port={self.port}, db={self.db}"
        return f"RedisConnection({where}, ssl={self.ssl})"


@dataclass(frozen=True)
class RedisTarget:
    connection: RedisConnection
    channel: str | None = None
    stream: str | None = None
    stream_maxlen: int | None = None
    idempotency_ttl_seconds: int = 86_400


@dataclass(frozen=True)
class RetryPolicy:
    """The retry queue's schedule: attempt n waits min(initial * multiplier**(n-1), max)."""

    enabled: bool = True
    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 10.0
    backoff_multiplier: float = 2.0
    max_age_seconds: int = 86_400


@dataclass(frozen=True)
class InlineBudget:
    """How long the sender may wait while we try Redis before spilling to the queue."""

    max_attempts: int = 3
    budget_seconds: float = 1.5
    socket_timeout: float = 0.5
    connect_timeout: float = 0.25
    # Consecutive connection failures that open the circuit, and how long it stays open. Two:
    # a hung Redis gets two tries per request inside the default budget, so the first request
    # that finds it hung opens the circuit for everyone after it.
    breaker_failures: int = 2
    breaker_reset_seconds: float = 5.0


IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EventIdSource:
    """Where the event id comes from, before the generic delivery-id headers and a UUID."""

    header: str | None = None
    json_pointer: str | None = None
    body_hash: bool = False


@dataclass(frozen=True)
class PayloadSchema:
    source: str
    # fastjsonschema's compiled check: raises JsonSchemaValueException naming the path.
    validate: Callable[[Any], Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class DoorRules:
    """What a request must satisfy before anything is queued."""

    verify: VerifySettings | None = None
    event_id: EventIdSource = EventIdSource()
    content_types: tuple[str, ...] = ()
    max_json_depth: int = 64
    schema: PayloadSchema | None = None
    allow_ips: tuple[IpNetwork, ...] = ()


@dataclass(frozen=True)
class WebhookConfig:
    webhook_id: str
    data_type: DataType
    module: str
    redis: RedisTarget
    retry: RetryPolicy
    inline: InlineBudget
    max_body_bytes: int
    door: DoorRules = DoorRules()


@dataclass(frozen=True)
class RelayConfig:
    path: str
    webhooks: Mapping[str, WebhookConfig]

    def webhook(self, webhook_id: str) -> WebhookConfig | None:
        return self.webhooks.get(webhook_id)
