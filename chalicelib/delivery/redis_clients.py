"""Redis clients, one per connection setting, built on first use and reused across invocations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chalicelib.config.model import RedisConnection
from chalicelib.process_state import ProcessCache


@dataclass(frozen=True)
class ClientKey:
    connection: RedisConnection
    socket_timeout: float
    connect_timeout: float


# At most this many connections per client (per Redis and timeouts) in one process. Lambda hands
# an execution environment one request at a time, so there it uses one; the bound matters where
# threads share a process (the local HTTP server), and it caps what Redis's maxclients must allow:
# environments x clients x this (README: Capacity).
MAX_CONNECTIONS_PER_CLIENT = 16
# With every connection busy, wait this long for one, then report Redis unavailable (the event
# spills). Busy connections to a healthy Redis free up within milliseconds; to a hung one only
# after socket_timeout, and waiting that out would spend the sender's inline budget.
MAX_POOL_WAIT_SECONDS = 0.1


def _build(key: ClientKey) -> redis.Redis:
    # tenacity (inline) and the SQS redrive (drain) are the only retry layers: redis-py's
    # own default of 10 jittered retries would hold a dead server for ~4 s per call.
    conn = key.connection
    options: dict[str, Any] = {
        "socket_timeout": key.socket_timeout,
        "socket_connect_timeout": key.connect_timeout,
        "retry": Retry(NoBackoff(), 0),
        "max_connections": MAX_CONNECTIONS_PER_CLIENT,
        "timeout": min(MAX_POOL_WAIT_SECONDS, key.connect_timeout),
    }
    if conn.url is not None:
        pool = redis.BlockingConnectionPool.from_url(conn.url, **options)
    else:
        if conn.ssl:
            options["connection_class"] = redis.SSLConnection
        pool = redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]
            host=conn.host, port=conn.port, db=conn.db, password=conn.password, **options
        )
    client = redis.Redis(connection_pool=pool)
    # The client owns its pool: close() (on reset_process_state) closes the pool's connections too.
    client.auto_close_connection_pool = True
    return client


_clients: ProcessCache[ClientKey, redis.Redis] = ProcessCache("redis clients", discard=lambda client: client.close())


def get_redis(connection: RedisConnection, socket_timeout: float, connect_timeout: float) -> redis.Redis:
    return _clients.get(ClientKey(connection, socket_timeout, connect_timeout), _build)
