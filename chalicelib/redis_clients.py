"""Redis clients, one per connection setting, built on first use and reused across invocations."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chalicelib.webhook_config import RedisConnection


@dataclass(frozen=True)
class ClientKey:
    connection: RedisConnection
    socket_timeout: float
    connect_timeout: float


_lock = threading.Lock()
_clients: dict[ClientKey, redis.Redis] = {}


def _build(key: ClientKey) -> redis.Redis:
    # tenacity (inline) and the SQS redrive (drain) are the only retry layers: redis-py's
    # own default of 10 jittered retries would hold a dead server for ~4 s per call.
    conn = key.connection
    no_retries = Retry(NoBackoff(), 0)
    if conn.url is not None:
        return redis.Redis.from_url(
            conn.url,
            socket_timeout=key.socket_timeout,
            socket_connect_timeout=key.connect_timeout,
            retry=no_retries,
        )
    return redis.Redis(
        host=conn.host,
        port=conn.port,
        db=conn.db,
        password=conn.password,
        ssl=conn.ssl,
        socket_timeout=key.socket_timeout,
        socket_connect_timeout=key.connect_timeout,
        retry=no_retries,
    )


def get_redis(connection: RedisConnection, socket_timeout: float, connect_timeout: float) -> redis.Redis:
    key = ClientKey(connection, socket_timeout, connect_timeout)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = _build(key)
    return client


def reset_redis_clients() -> None:
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
