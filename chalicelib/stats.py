"""Per-webhook counters in the webhook's own Redis, and the /stats view of them.

Deliveries and duplicates are counted by the delivery script itself (same round trip, so
exact). A dead letter is counted here, best effort: Redis may be the reason it died. Events
still on the retry queue show in its depth.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import redis

from chalicelib.answers import Answer, error_answer
from chalicelib.health import queue_probes
from chalicelib.redis_clients import get_redis
from chalicelib.redis_delivery import stats_key
from chalicelib.runtime import get_relay_config, get_settings
from chalicelib.structured_log import log_event
from chalicelib.webhook_config import WebhookConfig

COUNTERS = ("delivered_inline", "delivered_from_queue", "redriven", "dead_lettered", "duplicates")


def queue_depths() -> dict[str, Any]:
    return {probe.name: probe.run().details for probe in queue_probes(get_settings())}


def count_dead_letter(webhook: WebhookConfig, redrives: int) -> None:
    client = get_redis(webhook.redis.connection, webhook.inline.socket_timeout, webhook.inline.connect_timeout)
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.hincrby(stats_key(webhook.webhook_id), "dead_lettered", 1)
        if redrives:
            pipeline.hincrby(stats_key(webhook.webhook_id), "redriven", redrives)
        pipeline.execute()
    except redis.RedisError as exc:
        log_event("stats_not_counted", level=logging.WARNING, webhook_id=webhook.webhook_id, error=str(exc))


def webhook_stats(webhook: WebhookConfig) -> dict[str, Any]:
    client = get_redis(webhook.redis.connection, webhook.inline.socket_timeout, webhook.inline.connect_timeout)
    try:
        raw = client.hgetall(stats_key(webhook.webhook_id))
    except redis.RedisError as exc:
        return {"error": f"Redis unavailable: {type(exc).__name__}"}
    counts = {name: int(raw.get(name.encode(), 0)) for name in COUNTERS}
    # Every event that went through the queue and is done: delivered from it, or dead.
    counts["queued"] = counts["delivered_from_queue"] + counts["dead_lettered"]
    return counts


def is_admin(authorization: str | None) -> bool:
    token = get_settings().admin_token
    if not token or not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def stats_answer(authorization: str | None) -> Answer:
    if not get_settings().admin_token:
        return error_answer(403, "stats_disabled", "set ADMIN_TOKEN to enable /stats")
    if not is_admin(authorization):
        return error_answer(401, "invalid_credentials", "/stats needs Authorization: Bearer <ADMIN_TOKEN>")
    config = get_relay_config()
    return Answer(
        200,
        {
            "webhooks": {webhook_id: webhook_stats(webhook) for webhook_id, webhook in config.webhooks.items()},
            "queues": queue_depths(),
        },
    )
