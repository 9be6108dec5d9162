"""GET /health: is the configuration loaded? GET /health?deep=1 with the admin token: can every Redis
target and both queues be reached right now?

The endpoint is public, so only the deep answer names hosts, ports, errors, queue depths or webhook
ids; without `Authorization: Bearer <ADMIN_TOKEN>` a deep request gets the shallow answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import redis

from chalicelib.config.model import RedisConnection, RelayConfig
from chalicelib.config.settings import Settings, get_relay_config, get_settings
from chalicelib.delivery.redis_clients import get_redis
from chalicelib.door.answers import Answer, error_answer
from chalicelib.errors import ConfigError, QueueUnavailable
from chalicelib.queue.sqs import queue_attributes, queue_url
from chalicelib.status.admin_token import is_admin
from chalicelib.structured_log import log_event

DEEP_VALUES = frozenset({"1", "true", "yes"})
# The HTTP function's timeout is 15 s (.chalice/config.json) and one SQS call may take up to
# ~8 s with its retry: a check that has not answered by then is reported as down, not waited for.
DEEP_CHECK_DEADLINE_SECONDS = 5.0
MAX_PARALLEL_CHECKS = 8
MAX_ERROR_CHARS = 300
QUEUE_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def health_answer(query_params: Mapping[str, str] | None, authorization: str | None) -> Answer:
    """The route's answer: shallow unless the query asks for `deep=1` (or `true`, `yes`) and the
    caller holds the admin token. Anyone else asking for deep is answered like the shallow check,
    the same with or without a token, so a probe learns nothing from trying."""
    deep = query_params is not None and query_params.get("deep", "").lower() in DEEP_VALUES
    if deep and is_admin(authorization):
        return deep_health()
    return shallow_health()


def config_invalid_answer(error: ConfigError) -> Answer:
    """Says which file, webhook, field or reference is wrong, never what AWS or a library said
    about it (an AccessDenied names the account and the role): that goes to the log."""
    log_event("config_invalid", level=logging.ERROR, error=str(error))
    return error_answer(503, "config_invalid", error.public_message)


def shallow_health() -> Answer:
    try:
        get_relay_config()
    except ConfigError as exc:
        return config_invalid_answer(exc)
    return Answer(200, {"status": "ok"})


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    details: dict[str, Any]


class Probe(Protocol):
    @property
    def name(self) -> str: ...

    def run(self) -> CheckResult: ...


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def redis_label(connection: RedisConnection) -> str:
    """Where a connection goes, without its credentials: `redis:host:port/db`."""
    if connection.url is None:
        return f"redis:{connection.host}:{connection.port}/{connection.db}"
    parts = urlsplit(connection.url)
    if parts.scheme == "unix":
        return f"redis:unix:{parts.path}"
    return f"redis:{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def connection_traits(connection: RedisConnection) -> dict[str, Any]:
    """How a connection talks to Redis, for the deep check: never a password or a token."""
    if connection.iam is not None:
        auth = "iam"
    elif connection.username or (connection.url and urlsplit(connection.url).username):
        auth = "acl"
    elif connection.password or (connection.url and urlsplit(connection.url).password):
        auth = "password"
    else:
        auth = "none"
    return {"tls": connection.tls, "cluster": connection.cluster, "auth": auth}


@dataclass(frozen=True)
class RedisProbe:
    """One PING per distinct connection, within the tightest inline timeouts of the webhooks using it:
    if it cannot answer in those, some webhook's inline delivery cannot either."""

    name: str
    connection: RedisConnection
    socket_timeout: float
    connect_timeout: float
    webhooks: tuple[str, ...]

    def run(self) -> CheckResult:
        details: dict[str, Any] = {"webhooks": list(self.webhooks), **connection_traits(self.connection)}
        started = time.perf_counter()
        try:
            client = get_redis(self.connection, self.socket_timeout, self.connect_timeout)
            if isinstance(client, redis.RedisCluster):
                # Every primary: each owns the slots of some webhook's keys, and one that cannot
                # answer leaves those webhooks spilling while the rest deliver.
                client.ping(target_nodes=redis.RedisCluster.PRIMARIES)
            else:
                client.ping()
        except redis.RedisError as exc:
            return CheckResult(False, {"ok": False, **details, "error": _describe(exc)})
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return CheckResult(True, {"ok": True, **details, "latency_ms": latency_ms})


@dataclass(frozen=True)
class QueueProbe:
    """GetQueueAttributes: the queue exists, this function may read it, and how deep it is."""

    name: str
    role: str
    queue_name: str
    explicit_url: str | None

    def run(self) -> CheckResult:
        details: dict[str, Any] = {"role": self.role}
        try:
            attributes = queue_attributes(queue_url(self.queue_name, self.explicit_url), QUEUE_DEPTH_ATTRIBUTES)
        except QueueUnavailable as exc:
            return CheckResult(False, {"ok": False, **details, "error": _describe(exc)})
        depths = {_snake_case(name): int(attributes.get(name, "0")) for name in QUEUE_DEPTH_ATTRIBUTES}
        return CheckResult(True, {"ok": True, **details, **depths})


def _snake_case(attribute: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in attribute).lstrip("_")


def redis_probes(config: RelayConfig) -> list[RedisProbe]:
    by_connection: dict[RedisConnection, list[str]] = {}
    for webhook_id, webhook in sorted(config.webhooks.items()):
        by_connection.setdefault(webhook.redis.connection, []).append(webhook_id)
    probes: list[RedisProbe] = []
    names: set[str] = set()
    for connection, webhook_ids in by_connection.items():
        name = redis_label(connection)
        # Two connections to one place (another password, TLS or not) stay two checks.
        while name in names:
            name += "'"
        names.add(name)
        inlines = [config.webhooks[webhook_id].inline for webhook_id in webhook_ids]
        probes.append(
            RedisProbe(
                name=name,
                connection=connection,
                socket_timeout=min(inline.socket_timeout for inline in inlines),
                connect_timeout=min(inline.connect_timeout for inline in inlines),
                webhooks=tuple(webhook_ids),
            )
        )
    return probes


def queue_probes(settings: Settings) -> list[QueueProbe]:
    return [
        QueueProbe(f"queue:{settings.retry_queue_name}", "retry", settings.retry_queue_name, settings.retry_queue_url),
        QueueProbe(
            f"queue:{settings.dead_letter_queue_name}",
            "dead_letter",
            settings.dead_letter_queue_name,
            settings.dead_letter_queue_url,
        ),
    ]


def run_probes(
    probes: Iterable[Probe], deadline_seconds: float = DEEP_CHECK_DEADLINE_SECONDS
) -> dict[str, CheckResult]:
    """Every probe at once; one still running at the deadline is reported as down."""
    probes = list(probes)
    executor = ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_CHECKS, len(probes))))
    try:
        futures: list[tuple[str, Future[CheckResult]]] = [(probe.name, executor.submit(probe.run)) for probe in probes]
        deadline = time.monotonic() + deadline_seconds
        results: dict[str, CheckResult] = {}
        for name, future in futures:
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                results[name] = CheckResult(False, {"ok": False, "error": f"no answer within {deadline_seconds} s"})
        return results
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def deep_health() -> Answer:
    try:
        config = get_relay_config()
    except ConfigError as exc:
        return error_answer(503, "config_invalid", str(exc))
    results = run_probes([*redis_probes(config), *queue_probes(get_settings())])
    checks = {name: result.details for name, result in results.items()}
    down = [name for name, result in results.items() if not result.ok]
    if down:
        return Answer(503, {"status": "degraded", "down": down, "checks": checks})
    return Answer(200, {"status": "ok", "webhooks": sorted(config.webhooks), "checks": checks})
