"""Per-webhook counters in the webhook's own Redis: what /stats reports.

Deliveries and duplicates are counted by the delivery script itself (same round trip, so
exact). A dead letter is counted here, best effort: Redis may be the reason it died. Events
still on the retry queue show in its depth, not here.
"""

from __future__ import annotations

import logging

import redis
from redis.exceptions import RedisClusterException

from chalicelib.config.model import WebhookConfig
from chalicelib.delivery.redis_clients import get_redis
from chalicelib.delivery.redis_script import stats_key
from chalicelib.errors import DestinationUnavailable
from chalicelib.structured_log import log_event

COUNTERS = ("delivered_inline", "delivered_from_queue", "redriven", "dead_lettered", "duplicates")


def count_dead_letter(webhook: WebhookConfig, redrives: int) -> None:
    key = stats_key(webhook.redis, webhook.webhook_id)
    try:
        client = get_redis(webhook.redis.connection, webhook.inline.socket_timeout, webhook.inline.connect_timeout)
        pipeline = client.pipeline(transaction=False)
        pipeline.hincrby(key, "dead_lettered", 1)
        if redrives:
            pipeline.hincrby(key, "redriven", redrives)
        pipeline.execute()
    except (redis.RedisError, RedisClusterException) as exc:
        log_event("stats_not_counted", level=logging.WARNING, webhook_id=webhook.webhook_id, error=str(exc))


def read_counters(webhook: WebhookConfig) -> dict[str, int]:
    """Raises DestinationUnavailable when the webhook's Redis cannot be read."""
    try:
        client = get_redis(webhook.redis.connection, webhook.inline.socket_timeout, webhook.inline.connect_timeout)
        raw = client.hgetall(stats_key(webhook.redis, webhook.webhook_id))
    except (redis.RedisError, RedisClusterException) as exc:
        raise DestinationUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
    counts = {name: int(raw.get(name.encode(), 0)) for name in COUNTERS}
    # Every event that went through the queue and is done: delivered from it, or dead.
    counts["queued"] = counts["delivered_from_queue"] + counts["dead_lettered"]
    return counts
