"""One delivery to Redis: the idempotency marker and every target in one atomic round trip."""

from __future__ import annotations

import enum

import redis.exceptions as redis_errors
from redis.commands.core import Script

from chalicelib.config.model import InlineBudget, RedisTarget
from chalicelib.delivery.redis_clients import get_redis
from chalicelib.envelope import Envelope, encode_envelope
from chalicelib.errors import DeliveryRefused, DestinationUnavailable

# KEYS[1] idempotency marker, KEYS[2] the webhook's stats hash, KEYS[3] stream (absent when
# the webhook has none).
# ARGV: marker TTL, envelope JSON, event id, channel ('' for none), stream MAXLEN ('' for
# none), the stats field this delivery counts under, redrives the event took (queued only).
# The marker is checked first and set last: a write Redis refuses (WRONGTYPE on the stream)
# raises before anything is written, so a failed delivery never leaves a marker behind. The
# counters ride in the same round trip, so /stats is exact for delivered events.
DELIVER_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'duplicates', 1)
  return 0
end
if KEYS[3] then
  if ARGV[5] ~= '' then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'event_id', ARGV[3], 'event', ARGV[2])
  else
    redis.call('XADD', KEYS[3], '*', 'event_id', ARGV[3], 'event', ARGV[2])
  end
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[2])
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[6], 1)
if tonumber(ARGV[7]) > 0 then
  redis.call('HINCRBY', KEYS[2], 'redriven', ARGV[7])
end
return 1
"""

# Answers from a Redis that is there but cannot take writes yet: waiting fixes them.
UNAVAILABLE_PREFIXES = ("LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "NOREPLICAS")


class DeliveryOutcome(enum.Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"


def marker_key(webhook_id: str, event_id: str) -> str:
    return f"spillway:delivered:{webhook_id}:{event_id}"


def stats_key(webhook_id: str) -> str:
    return f"spillway:stats:{webhook_id}"


# Bytes, so no client is needed to hash it; redis-py sends EVALSHA and loads the script
# only when a server does not know it yet (one extra round trip per server, once).
DELIVER_SCRIPT = Script(None, DELIVER_LUA.encode())  # type: ignore[arg-type]


def is_unavailable_answer(error: redis_errors.ResponseError) -> bool:
    message = str(error).upper()
    # Errors raised inside a script come back wrapped: "... script: ... LOADING ...".
    return any(message.startswith(prefix) or f" {prefix} " in f" {message} " for prefix in UNAVAILABLE_PREFIXES)


def run_delivery_script(
    envelope: Envelope,
    target: RedisTarget,
    budget: InlineBudget,
    encoded: str | None = None,
    redrives: int | None = None,
) -> DeliveryOutcome:
    """Publish once; `encoded` is the envelope's JSON when the caller already has it, and
    `redrives` how often the queue sent it round (None: delivered inline).
    Raises DestinationUnavailable (wait and retry) or DeliveryRefused."""
    client = get_redis(target.connection, budget.socket_timeout, budget.connect_timeout)
    keys = [marker_key(envelope["webhook_id"], envelope["id"]), stats_key(envelope["webhook_id"])]
    if target.stream is not None:
        keys.append(target.stream)
    args: list[str | int] = [
        target.idempotency_ttl_seconds,
        encoded if encoded is not None else encode_envelope(envelope),
        envelope["id"],
        target.channel or "",
        target.stream_maxlen or "",
        "delivered_inline" if redrives is None else "delivered_from_queue",
        redrives or 0,
    ]
    try:
        written = DELIVER_SCRIPT(keys=keys, args=args, client=client)
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        raise DestinationUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except redis_errors.ResponseError as exc:
        if is_unavailable_answer(exc):
            raise DestinationUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise DeliveryRefused(f"{type(exc).__name__}: {exc}") from exc
    except redis_errors.RedisError as exc:
        raise DeliveryRefused(f"{type(exc).__name__}: {exc}") from exc
    return DeliveryOutcome.DELIVERED if written == 1 else DeliveryOutcome.DUPLICATE
