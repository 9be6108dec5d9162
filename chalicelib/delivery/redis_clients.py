"""Redis clients, one per connection setting, built on first use and reused across invocations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, cast

import redis
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import RedisClusterException, SlotNotCoveredError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from chalicelib.config.model import RedisConnection
from chalicelib.config.settings import get_settings
from chalicelib.delivery.direct_connections import DirectConnections
from chalicelib.process_state import ProcessCache

if TYPE_CHECKING:
    from chalicelib.delivery.direct_connections import WireConnection


class ClientKey(NamedTuple):
    # A tuple, not a frozen dataclass: built on every delivery, ~1 us cheaper (bench B1).
    connection: RedisConnection
    socket_timeout: float
    connect_timeout: float


# At most this many connections per client (per Redis and timeouts) in one process. Lambda hands
# an execution environment one request at a time, so there it uses one; the bound matters where
# threads share a process (the local HTTP server), and it caps what Redis's maxclients must allow:
# environments x clients x this (docs/operate.md: Capacity).
MAX_CONNECTIONS_PER_CLIENT = 16
# With every connection busy, wait this long for one, then report Redis unavailable (the event
# spills). Busy connections to a healthy Redis free up within milliseconds; to a hung one only
# after socket_timeout, and waiting that out would spend the sender's inline budget.
MAX_POOL_WAIT_SECONDS = 0.1


RedisClient: TypeAlias = redis.Redis | redis.RedisCluster


def _no_retries() -> Retry:
    # tenacity (inline) and the SQS redrive (drain) are the only retry layers: redis-py's
    # own default of 10 jittered retries would hold a dead server for ~4 s per call.
    return Retry(NoBackoff(), 0)


def _driver_info() -> DriverInfo:
    # What CLIENT SETINFO reports, with the version written out: left to redis-py, every first
    # connection of a process scans site-packages for redis's metadata (importlib.metadata),
    # about half of a cold start's first delivery (bench B5).
    return DriverInfo(lib_version=redis.__version__)


def _auth_options(conn: RedisConnection) -> dict[str, Any]:
    if conn.iam is not None:
        # Imported only for a connection that uses it (a cold start need not, bench B5).
        from chalicelib.delivery.iam_auth import IamAuth, IamCredentialProvider

        # Each new connection asks the provider; it signs a fresh token before the old one expires.
        auth = IamAuth(
            cache_name=conn.iam.cache_name,
            user_id=conn.iam.user_id,
            region=conn.iam.region or get_settings().aws_region,
            service=conn.iam.service,
            serverless=conn.iam.serverless,
        )
        return {"credential_provider": IamCredentialProvider(auth)}
    if conn.url is not None:
        return {}  # username and password, if any, are in the URL
    return {"username": conn.username, "password": conn.password}


def _tls_options(conn: RedisConnection) -> dict[str, Any]:
    if not conn.tls:
        return {}
    options: dict[str, Any] = {}
    if conn.ssl_ca_certs is not None:
        options["ssl_ca_certs"] = conn.ssl_ca_certs
    if not conn.ssl_verify:
        options["ssl_cert_reqs"] = "none"
        options["ssl_check_hostname"] = False
    return options


def _node_url(conn: RedisConnection) -> str:
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    return f"{'rediss' if conn.ssl else 'redis'}://{host}:{conn.port}"


def _single_pool(key: ClientKey, **extra_options: Any) -> redis.BlockingConnectionPool:
    conn = key.connection
    options: dict[str, Any] = {
        "socket_timeout": key.socket_timeout,
        "socket_connect_timeout": key.connect_timeout,
        "retry": _no_retries(),
        "driver_info": _driver_info(),
        "max_connections": MAX_CONNECTIONS_PER_CLIENT,
        "timeout": min(MAX_POOL_WAIT_SECONDS, key.connect_timeout),
        **_auth_options(conn),
        **_tls_options(conn),
        **extra_options,
    }
    if conn.url is not None:
        pool = redis.BlockingConnectionPool.from_url(conn.url, **options)
    else:
        if conn.ssl:
            options["connection_class"] = redis.SSLConnection
        pool = redis.BlockingConnectionPool(host=conn.host, port=conn.port, db=conn.db, **options)  # type: ignore[no-untyped-call]
    return pool


def _build_single(key: ClientKey) -> redis.Redis:
    client = redis.Redis(connection_pool=_single_pool(key))
    # The client owns its pool: close() (on reset_process_state) closes the pool's connections too.
    client.auto_close_connection_pool = True
    return client


def as_redis_error(exc: RedisClusterException) -> redis.RedisError:
    """redis-py's cluster client raises RedisClusterException, which is no RedisError, when no
    node answers (it rediscovers the topology after a connection error, and that fails too) or
    a slot has no primary: Redis being down, for us, so a ConnectionError (the event waits).
    Any other (keys of one call in different slots, ...) is a refusal."""
    cause = exc.__cause__
    if isinstance(exc, SlotNotCoveredError) or isinstance(cause, (redis.ConnectionError, redis.TimeoutError)):
        return redis.ConnectionError(f"no node of the cluster answered: {exc}")
    return redis.RedisError(f"{type(exc).__name__}: {exc}")


class _ClusterClient(redis.RedisCluster):
    """A RedisCluster whose failures are RedisErrors, like a single Redis's, so every caller
    handles both with one `except redis.RedisError`."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisClusterException as exc:
            raise as_redis_error(exc) from exc


def _build_cluster(key: ClientKey) -> redis.RedisCluster:
    conn = key.connection
    try:
        return _ClusterClient(
            # redis-py gives each node a pool of `connection_pool_class` only for a client built
            # from a URL: host and port become one (credentials stay out of it), so every node
            # gets the same bounded, briefly-waiting pool as a single Redis.
            url=conn.url if conn.url is not None else _node_url(conn),
            connection_pool_class=redis.BlockingConnectionPool,
            max_connections=MAX_CONNECTIONS_PER_CLIENT,
            timeout=min(MAX_POOL_WAIT_SECONDS, key.connect_timeout),
            socket_timeout=key.socket_timeout,
            socket_connect_timeout=key.connect_timeout,
            # Cluster-level retries off too (node connections never retry in redis-py);
            # MOVED and ASK are still followed within the one call (_execute_command).
            retry=_no_retries(),
            driver_info=_driver_info(),
            # Serve the slots whose primary is up while another shard fails over, instead of
            # refusing to build the client at all.
            require_full_coverage=False,
            # Rediscover from every node found (redis-py's default), not only the configured one:
            # a self-hosted or local configuration names one node, and its death must not blind
            # the client to the replica promoted in its place. (ElastiCache Serverless lists its
            # endpoint in CLUSTER SLOTS, so it stays among them.)
            dynamic_startup_nodes=True,
            **_auth_options(conn),
            **_tls_options(conn),
        )
    except RedisClusterException as exc:
        # Building the client asks a node for the slot map: with none reachable that is Redis
        # being down (the event spills), not a fault in our code.
        raise as_redis_error(exc) from exc


def _build(key: ClientKey) -> RedisClient:
    return _build_cluster(key) if key.connection.cluster else _build_single(key)


_clients: ProcessCache[ClientKey, RedisClient] = ProcessCache("redis clients", discard=lambda client: client.close())


def get_redis(connection: RedisConnection, socket_timeout: float, connect_timeout: float) -> RedisClient:
    """The client for `connection`: a RedisCluster with `cluster: true`, else a Redis. Raises
    redis.ConnectionError when a cluster client cannot be built (no node reachable): call it
    inside the same `except redis.RedisError` as the command."""
    return _clients.get(ClientKey(connection, socket_timeout, connect_timeout), _build)


def _build_direct(key: ClientKey) -> DirectConnections:
    # The pool only translates the settings (URL, credentials, TLS, timeouts) into a connection
    # class and its arguments, as for the client; it never opens a connection itself. Without
    # maintenance notifications (Redis Enterprise's MOVING pushes): they would update that
    # pool, which owns none of these connections.
    pool = _single_pool(key, maint_notifications_config=MaintNotificationsConfig(enabled=False))
    return DirectConnections(
        lambda: cast("WireConnection", pool.connection_class(**pool.connection_kwargs)),
        limit=MAX_CONNECTIONS_PER_CLIENT,
        wait_seconds=min(MAX_POOL_WAIT_SECONDS, key.connect_timeout),
    )


_direct: ProcessCache[ClientKey, DirectConnections] = ProcessCache(
    "redis script connections", discard=lambda connections: connections.close()
)


def direct_connections(connection: RedisConnection, socket_timeout: float, connect_timeout: float) -> DirectConnections:
    """The connections the delivery script goes over to a single Redis (not a cluster):
    delivery/direct_connections.py says why they are not the client's."""
    return _direct.get(ClientKey(connection, socket_timeout, connect_timeout), _build_direct)
