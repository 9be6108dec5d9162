"""One delivery to Redis: the idempotency marker and every target in one atomic round trip."""

from __future__ import annotations

import contextlib
import enum
import hashlib
from typing import Any, NamedTuple

import redis.exceptions as redis_errors
from redis import RedisCluster

from chalicelib.config.model import InlineBudget, RedisTarget
from chalicelib.delivery.direct_connections import DirectConnections, RedisCommand, round_trip
from chalicelib.delivery.redis_clients import RedisClient, direct_connections, get_redis
from chalicelib.envelope import Envelope, encode_envelope
from chalicelib.errors import DeliveryRefused, DestinationUnavailable, NoSubscribers, ReplicasBehind, SlotMoved

# KEYS[1] idempotency marker, KEYS[2] the webhook's stats hash, KEYS[3] stream (absent when
# the webhook has none).
# ARGV: marker TTL, envelope JSON, event id, channel ('' for none), stream MAXLEN ('' for
# none), the stats field this delivery counts under, redrives the event took (queued only),
# the PUBLISH receivers that make a channel delivery count (0: any number, none included),
# ARGV[10] the publishing command (PUBLISH, or SPUBLISH with redis.sharded_channel).
# Returns 1 delivered, 0 duplicate, -1 too few subscribers (nothing kept, nothing counted), -2
# duplicate whose counting write failed (OOM): a WAIT after it cannot vouch for the marker.
# Body dedupe (redis.dedupe_body_seconds): ARGV[9] is the body marker's TTL ('' for none) and
# the body marker is then the last key (KEYS[4] after a stream, else KEYS[3]). An event whose
# body was delivered within the window is a duplicate whatever its event id; the body marker
# is set after the first write, so it can never be what an OOM refuses.
#
# Order matters because Redis never rolls a script back, and because of maxmemory: a script
# over the limit is refused (OOM) at its first memory-growing write only when nothing was
# written before it; after that the script runs to its end. So the first write is the one
# that may be refused, and it comes before the PUBLISH (a PUBLISH is no write: it would go
# out, and the marker after it be refused). With a stream, XADD is that first write (a refused
# XADD, OOM or WRONGTYPE, leaves nothing behind); without one, the marker is. A PUBLISH that
# reached too few subscribers then undoes that first write, so the event stays undelivered
# (it spills and waits); one that reached enough is delivered, and its marker is already set
# or set next, in this same atomic script. (With a stream and min_subscribers above 0, the
# undone XADD may still have trimmed old entries by its MAXLEN.) A duplicate is counted with
# pcall: a Redis out of memory still answers "duplicate" for an event it already has. A
# PUBLISH Redis refuses (an ACL user without channel rights, SPUBLISH on Redis 6) undoes the
# first write like too few subscribers do, then fails the script: otherwise the marker alone
# would stay (a channel-only event never published) or each try add a stream entry. The
# counters after a delivery are pcalls too: once the event is written, nothing may fail the
# script (a stats key someone made a string would answer WRONGTYPE to a delivered event).
DELIVER_LUA = """
local body_marker = false
if ARGV[9] ~= '' then
  body_marker = KEYS[#KEYS]
end
if redis.call('EXISTS', KEYS[1]) == 1 or (body_marker and redis.call('EXISTS', body_marker) == 1) then
  local counted = redis.pcall('HINCRBY', KEYS[2], 'duplicates', 1)
  if type(counted) == 'table' and counted.err then
    return -2
  end
  return 0
end
local entry = false
if KEYS[3] and KEYS[3] ~= body_marker then
  if ARGV[5] ~= '' then
    entry = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'event_id', ARGV[3], 'event', ARGV[2])
  else
    entry = redis.call('XADD', KEYS[3], '*', 'event_id', ARGV[3], 'event', ARGV[2])
  end
else
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
end
if ARGV[4] ~= '' then
  local receivers = redis.pcall(ARGV[10], ARGV[4], ARGV[2])
  local refused = type(receivers) == 'table' and receivers.err
  if refused or receivers < tonumber(ARGV[8]) then
    if entry then
      redis.call('XDEL', KEYS[3], entry)
    else
      redis.call('DEL', KEYS[1])
    end
    if refused then
      return redis.error_reply(receivers.err)
    end
    return -1
  end
end
if entry then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
end
if body_marker then
  redis.call('SET', body_marker, ARGV[3], 'EX', ARGV[9])
end
redis.pcall('HINCRBY', KEYS[2], ARGV[6], 1)
if tonumber(ARGV[7]) > 0 then
  redis.pcall('HINCRBY', KEYS[2], 'redriven', ARGV[7])
end
return 1
"""

# Answers from a Redis that is there but cannot take writes yet: waiting fixes them. OOM
# (maxmemory reached) is one of them: the event is fine, Redis needs room (eviction, a
# consumer trimming its stream, an operator), so it waits without spending attempts.
UNAVAILABLE_PREFIXES = (
    "LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "NOREPLICAS", "OOM",
)  # fmt: skip
# What the delivery script returns besides 1 (delivered) and 0 (a duplicate, counted).
TOO_FEW_SUBSCRIBERS = -1
UNCOUNTED_DUPLICATE = -2


class DeliveryOutcome(enum.Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"


def _key(target: RedisTarget, kind: str, rest: str) -> str:
    # Cluster mode: the target's hashed part as a {tag} puts every key of a delivery in the
    # stream's (or channel's) slot. A single Redis keeps the untagged names, so markers and
    # counters written before an upgrade are still found.
    if target.connection.cluster:
        return f"spillway:{kind}:{{{target.slot_tag}}}:{rest}"
    return f"spillway:{kind}:{rest}"


def marker_key(target: RedisTarget, webhook_id: str, event_id: str) -> str:
    return _key(target, "delivered", f"{webhook_id}:{event_id}")


def body_marker_key(target: RedisTarget, webhook_id: str, body_sha256: str) -> str:
    return _key(target, "body", f"{webhook_id}:{body_sha256}")


def stats_key(target: RedisTarget, webhook_id: str) -> str:
    return _key(target, "stats", webhook_id)


# KEYS[1] idempotency marker, KEYS[2] the webhook's stats hash. Returns 1 (and counts a
# duplicate, as the delivery script would) when the event was delivered before, 2 when it was
# but the count failed (OOM), 0 when it was not.
DUPLICATE_CHECK_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local counted = redis.pcall('HINCRBY', KEYS[2], 'duplicates', 1)
  if type(counted) == 'table' and counted.err then
    return 2
  end
  return 1
end
return 0
"""


# A NamedTuple, not a frozen dataclass: as immutable, but Python builds a frozen dataclass's
# methods at import, ~0.25 ms a class on every cold start (bench B5).
class LuaScript(NamedTuple):
    """Sent as EVALSHA; loaded (SCRIPT LOAD) only where a server answers NOSCRIPT: one extra
    round trip per server, once. Not redis-py's Script: in a pipeline that sends SCRIPT EXISTS
    before every execute, a round trip per event. Built by lua_script()."""

    source: bytes
    # Redis names a script by the SHA-1 of its source.
    sha: str


def lua_script(source: str) -> LuaScript:
    encoded = source.encode()
    return LuaScript(encoded, hashlib.sha1(encoded).hexdigest())


DELIVER_SCRIPT = lua_script(DELIVER_LUA)
DUPLICATE_CHECK_SCRIPT = lua_script(DUPLICATE_CHECK_LUA)


def is_unavailable_answer(error: redis_errors.ResponseError) -> bool:
    # redis-py strips a code it knows (CLUSTERDOWN, READONLY, ...) off the message and keeps it as
    # status_code. Errors raised inside a script come back wrapped, the code as a word of their
    # own, with a dash on Redis 6.2: "Error running script ...: @user_script: 1: -OOM command not allowed".
    words = {word.lstrip("-") for word in str(error).upper().split()}
    words.add(str(getattr(error, "status_code", "") or "").upper())
    return any(prefix in words for prefix in UNAVAILABLE_PREFIXES)


def run_delivery_script(
    envelope: Envelope,
    target: RedisTarget,
    budget: InlineBudget,
    encoded: str | None = None,
    redrives: int | None = None,
) -> DeliveryOutcome:
    """Publish once; `encoded` is the envelope's JSON when the caller already has it, and
    `redrives` how often the queue sent it round (None: delivered inline).
    Raises DestinationUnavailable (wait and retry; NoSubscribers, ReplicasBehind and SlotMoved
    among them) or DeliveryRefused."""
    webhook_id = envelope["webhook_id"]
    keys = [marker_key(target, webhook_id, envelope["id"]), stats_key(target, webhook_id)]
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
        target.min_subscribers,
        "",
        "SPUBLISH" if target.sharded_channel else "PUBLISH",
    ]
    body_sha256 = envelope.get("body_sha256")
    if target.dedupe_body_seconds is not None and isinstance(body_sha256, str):
        keys.append(body_marker_key(target, webhook_id, body_sha256))
        args[8] = target.dedupe_body_seconds
    written, acked = _run_script(DELIVER_SCRIPT, keys, args, target, budget)
    if written == TOO_FEW_SUBSCRIBERS:
        command = "SPUBLISH" if target.sharded_channel else "PUBLISH"
        raise NoSubscribers(
            f"{command} to channel {target.channel!r} reached fewer than min_subscribers ({target.min_subscribers})"
        )
    _require_replicas(target, acked, counted=written != UNCOUNTED_DUPLICATE)
    return DeliveryOutcome.DELIVERED if written == 1 else DeliveryOutcome.DUPLICATE


def check_duplicate(webhook_id: str, event_id: str, target: RedisTarget, budget: InlineBudget) -> bool:
    """Whether the event's marker is set (an earlier copy was delivered, and with
    min_replicas_acked, is on that many replicas); a duplicate found is counted.
    Raises DestinationUnavailable (ReplicasBehind among them) or DeliveryRefused when Redis
    cannot tell."""
    keys = [marker_key(target, webhook_id, event_id), stats_key(target, webhook_id)]
    found, acked = _run_script(DUPLICATE_CHECK_SCRIPT, keys, [], target, budget)
    if found:
        _require_replicas(target, acked, counted=found == 1)
    return bool(found)


def _require_replicas(target: RedisTarget, acked: int | None, counted: bool) -> None:
    """A delivery or a duplicate counts only once min_replicas_acked replicas have it. For a
    duplicate the script wrote nothing but its count; that count follows the marker in the
    primary's replication stream, so WAIT for it vouches for the marker too. A duplicate whose
    count failed (OOM) wrote nothing: WAIT covers only this connection's earlier writes."""
    if acked is None:
        return
    if not counted:
        raise ReplicasBehind("a duplicate on a primary out of memory: not known whether its replicas have the marker")
    if acked < target.min_replicas_acked:
        raise ReplicasBehind(
            f"WAIT: {acked} of min_replicas_acked ({target.min_replicas_acked}) replicas confirmed "
            f"within {target.replica_ack_timeout_ms} ms"
        )


def _run_script(
    script: LuaScript, keys: list[str], args: list[str | int], target: RedisTarget, budget: InlineBudget
) -> tuple[Any, int | None]:
    """One round trip: the script, and with min_replicas_acked its WAIT pipelined behind it on
    the same connection (WAIT counts the replicas that have that connection's writes). Returns
    the script's answer and the replicas WAIT counted (None: no WAIT). A single Redis is sent it
    over Spillway's own connections (delivery/direct_connections.py), a cluster through
    redis-py's cluster client; either way redis-py's errors are mapped to ours."""
    client: RedisClient | None = None
    pipelined = target.min_replicas_acked > 0
    try:
        if not target.connection.cluster:
            connections = direct_connections(target.connection, budget.socket_timeout, budget.connect_timeout)
            return _script_on_single_redis(connections, script, keys, args, target)
        client = get_redis(target.connection, budget.socket_timeout, budget.connect_timeout)
        if not pipelined:
            return _evalsha(client, script, keys, args), None
        return _evalsha_and_wait(client, script, keys, args, target)
    except (redis_errors.AskError, redis_errors.TryAgainError, redis_errors.ClusterError) as exc:
        # MOVED, ASK and TRYAGAIN (a multi-key call while its slot migrates), and redis-py's
        # "TTL exhausted" after following too many of them: the slot is on the move, the cluster
        # is up. MovedError is an AskError; ClusterDownError a ClusterError, but a wait.
        if isinstance(exc, redis_errors.ClusterDownError):
            _refresh_slots(client, pipelined)
            raise DestinationUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(exc, redis_errors.MovedError) and isinstance(client, RedisCluster):
            client.nodes_manager.move_slot(exc)
        raise SlotMoved(f"{type(exc).__name__}: {exc}") from exc
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        _refresh_slots(client, pipelined)
        raise DestinationUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except redis_errors.ResponseError as exc:
        if is_unavailable_answer(exc):
            _refresh_slots(client, pipelined)
            raise DestinationUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise DeliveryRefused(f"{type(exc).__name__}: {exc}") from exc
    except redis_errors.RedisClusterException as exc:
        # Not a RedisError: the client's own view of the cluster failed (a slot no node it
        # knows covers, no node reachable to ask), which a refreshed slot table may mend.
        _refresh_slots(client, pipelined)
        raise DestinationUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except redis_errors.RedisError as exc:
        raise DeliveryRefused(f"{type(exc).__name__}: {exc}") from exc


def _script_on_single_redis(
    connections: DirectConnections, script: LuaScript, keys: list[str], args: list[str | int], target: RedisTarget
) -> tuple[Any, int | None]:
    evalsha: RedisCommand = ("EVALSHA", script.sha, len(keys), *keys, *args)
    wait: RedisCommand | None = None
    if target.min_replicas_acked > 0:
        wait = ("WAIT", target.min_replicas_acked, target.replica_ack_timeout_ms)
    for _ in range(2):
        replies = round_trip(connections, [evalsha] if wait is None else [evalsha, wait])
        if isinstance(replies[0], redis_errors.NoScriptError):
            # Scripts are the server's: loaded on any connection, every connection finds it.
            (loaded,) = round_trip(connections, [("SCRIPT", "LOAD", script.source)])
            if isinstance(loaded, Exception):
                raise loaded
            continue
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies[0], None if wait is None else int(replies[1])
    raise DeliveryRefused("the server answered NOSCRIPT right after SCRIPT LOAD")


def _evalsha(client: RedisClient, script: LuaScript, keys: list[str], args: list[str | int]) -> Any:
    # Cluster mode: the client routes EVALSHA by its keys and follows MOVED and ASK itself.
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except redis_errors.NoScriptError:
        client.script_load(script.source)
        return client.evalsha(script.sha, len(keys), *keys, *args)


def _evalsha_and_wait(
    client: RedisClient, script: LuaScript, keys: list[str], args: list[str | int], target: RedisTarget
) -> tuple[Any, int]:
    # Cluster mode: the pipeline goes to the node that owns the keys' slot, as the cluster
    # client knows it: a stale slot table gets MOVED, which refreshes it (_run_script).
    node = client
    if isinstance(client, RedisCluster):
        node = client.get_redis_connection(client.get_node_from_key(keys[0]))  # type: ignore[no-untyped-call]
    for _ in range(2):
        # Not transactional: MULTI/EXEC would add two commands, and EVALSHA is atomic already.
        pipeline = node.pipeline(transaction=False)
        pipeline.evalsha(script.sha, len(keys), *keys, *args)
        pipeline.wait(target.min_replicas_acked, target.replica_ack_timeout_ms)
        written, acked = pipeline.execute(raise_on_error=False)
        if isinstance(written, redis_errors.NoScriptError):
            node.script_load(script.source)
            continue
        for answer in (written, acked):
            if isinstance(answer, Exception):
                raise answer
        return written, int(acked)
    raise DeliveryRefused("the server answered NOSCRIPT right after SCRIPT LOAD")


def _refresh_slots(client: RedisClient | None, pipelined: bool) -> None:
    """After a cluster node failed or answered CLUSTERDOWN: ask the cluster for its slot table
    again, so the next try finds a promoted replica. Only for the pipeline sent to a node: a
    command the cluster client ran was refreshed after by redis-py itself. Best effort: with no
    node answering, the next try fails as fast as this one did."""
    if pipelined and isinstance(client, RedisCluster):
        with contextlib.suppress(redis_errors.RedisError, redis_errors.RedisClusterException):
            client.nodes_manager.initialize()
