"""The validated, immutable shape of webhooks.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

DataType = Literal["json", "form", "blob"]
DATA_TYPES: tuple[DataType, ...] = ("json", "form", "blob")
MODULES = ("redis_publish",)


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


@dataclass(frozen=True)
class WebhookConfig:
    webhook_id: str
    data_type: DataType
    module: str
    redis: RedisTarget
    retry: RetryPolicy
    inline: InlineBudget
    max_body_bytes: int


@dataclass(frozen=True)
class RelayConfig:
    path: str
    webhooks: Mapping[str, WebhookConfig]

    def webhook(self, webhook_id: str) -> WebhookConfig | None:
        return self.webhooks.get(webhook_id)
