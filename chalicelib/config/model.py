"""The validated, immutable shape of webhooks.json."""

# No `from __future__ import annotations` here: a NamedTuple turns each string annotation into
# a ForwardRef, compiling it, ~10 us a field on every cold start (bench B5).
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, TypeAlias

# Defaults come from the declarations (one place per setting); the loader passes every value
# it reads, so these defaults serve code and tests that build a part by hand.
from chalicelib.config import declarations as declared
from chalicelib.config.declarations import DataType
from chalicelib.verification.settings import VerifySettings

# NamedTuples, not frozen dataclasses: as immutable (to mypy and at run time), compared and
# hashed by value, but Python builds a frozen dataclass's methods at import, ~0.25 ms a class
# on every cold start (bench B5), a NamedTuple's in a fraction of that. Values are hashed as
# cache keys (RedisConnection: clients and breakers; InlineBudget: retry policies).

IamService: TypeAlias = Literal["elasticache", "memorydb"]


class RedisIam(NamedTuple):
    """ElastiCache/MemoryDB IAM authentication: the password is a token signed for this cache and user."""

    cache_name: str
    user_id: str
    service: IamService = "elasticache"
    serverless: bool = declared.REDIS_IAM_SERVERLESS.default
    # None: the function's own region (AWS_REGION, as the queues).
    region: str | None = declared.REDIS_IAM_REGION.default


class RedisConnection(NamedTuple):
    """How to reach one Redis (or cluster). Its own __repr__ below keeps secrets out of logs."""

    url: str | None = declared.REDIS_URL.default
    host: str = declared.REDIS_HOST.default
    port: int = declared.REDIS_PORT.default
    db: int = declared.REDIS_DB.default
    password: str | None = declared.REDIS_PASSWORD.default
    ssl: bool = declared.REDIS_SSL.default
    ssl_ca_certs: str | None = declared.REDIS_SSL_CA_CERTS.default
    ssl_verify: bool = declared.REDIS_SSL_VERIFY.default
    username: str | None = declared.REDIS_USERNAME.default
    # Set with auth "iam": the password is then a token signed on each new connection.
    iam: RedisIam | None = None
    cluster: bool = declared.REDIS_CLUSTER.default

    @property
    def tls(self) -> bool:
        return self.ssl or (self.url is not None and self.url.startswith("rediss://"))

    def __repr__(self) -> str:
        # Passwords (and URLs, which may embed one) never reach logs.
        where = "url=<redacted>" if self.url else f"host={self.host!r}, port={self.port}, db={self.db}"
        auth = "iam" if self.iam is not None else ("password" if self.password else "none")
        user = f", username={self.username!r}" if self.username else ""
        return f"RedisConnection({where}, ssl={self.tls}, cluster={self.cluster}, auth={auth}{user})"


# How long the dead-letter queue keeps a letter: SQS's maximum, 14 days, which
# operations/queue_bootstrap.py (MAX_RETENTION_SECONDS) and the deploy template give it.
DEAD_LETTER_RETENTION_SECONDS = 1_209_600
DEFAULT_MAX_AGE_SECONDS = declared.RETRY_MAX_AGE_SECONDS.default
# Past the last moment a copy can still be delivered: the drain's last hop, clock skew.
MARKER_TTL_MARGIN_SECONDS = 86_400


def minimum_idempotency_ttl(max_age_seconds: int) -> int:
    """A queued copy is delivered within max_age_seconds or dead-lettered, and a dead letter
    can be replayed until the dead-letter queue drops it: the marker must outlive both, or
    the copy publishes again."""
    return max_age_seconds + DEAD_LETTER_RETENTION_SECONDS


def default_idempotency_ttl(max_age_seconds: int) -> int:
    return minimum_idempotency_ttl(max_age_seconds) + MARKER_TTL_MARGIN_SECONDS


def default_min_subscribers(stream: str | None) -> int:
    """A stream keeps the event for consumers that come later; a channel alone delivers
    only to whoever listens at that moment, so it must reach someone to count."""
    return 0 if stream is not None else 1


class RedisTarget(NamedTuple):
    """Where a webhook's events go in Redis, and what a delivery must reach to count."""

    connection: RedisConnection
    channel: str | None = declared.REDIS_CHANNEL.default
    stream: str | None = declared.REDIS_STREAM.default
    stream_maxlen: int | None = declared.REDIS_STREAM_MAXLEN.default
    idempotency_ttl_seconds: int = default_idempotency_ttl(DEFAULT_MAX_AGE_SECONDS)
    # PUBLISH receivers below this leave the event undelivered (it spills and waits). The
    # loader derives it from the targets (default_min_subscribers).
    min_subscribers: int = 0
    # Opt-in: a body already delivered within this many seconds is a duplicate whatever its
    # event id (for senders whose delivery id is not signed: GitHub, Shopify).
    dedupe_body_seconds: int | None = None
    sharded_channel: bool = declared.REDIS_SHARDED_CHANNEL.default
    # WAIT after the delivery: replicas that must have it before it counts (0: no WAIT).
    min_replicas_acked: int = declared.REDIS_MIN_REPLICAS_ACKED.default
    replica_ack_timeout_ms: int = declared.REDIS_REPLICA_ACK_TIMEOUT_MS.default

    @property
    def slot_tag(self) -> str:
        """What every key of one delivery hashes on in cluster mode: the part of the stream's
        name (else the channel's) that Redis Cluster hashes, so marker, stats, body marker and
        stream share one slot (a script's keys must: CROSSSLOT otherwise)."""
        name = self.stream if self.stream is not None else self.channel
        assert name is not None, "the loader requires a stream or a channel"
        return hashed_part(name)


def hashed_part(name: str) -> str:
    """The part of a key Redis Cluster hashes to pick its slot: what lies between the first '{'
    and the first '}' after it when that is not empty, else the whole name (cluster spec,
    "Hash tags"). A name that already has a {tag} keeps it."""
    start = name.find("{")
    if start != -1:
        end = name.find("}", start + 1)
        if end > start + 1:
            return name[start + 1 : end]
    return name


class RetryPolicy(NamedTuple):
    """The retry queue's schedule: attempt n waits min(initial * multiplier**(n-1), max)."""

    enabled: bool = declared.RETRY_ENABLED.default
    max_attempts: int = declared.RETRY_MAX_ATTEMPTS.default
    initial_delay: float = declared.RETRY_INITIAL_DELAY.default
    max_delay: float = declared.RETRY_MAX_DELAY.default
    backoff_multiplier: float = declared.RETRY_BACKOFF_MULTIPLIER.default
    max_age_seconds: int = declared.RETRY_MAX_AGE_SECONDS.default


class InlineBudget(NamedTuple):
    """How long the sender may wait while we try Redis before spilling to the queue."""

    max_attempts: int = declared.INLINE_MAX_ATTEMPTS.default
    budget_seconds: float = declared.INLINE_BUDGET_SECONDS.default
    socket_timeout: float = declared.INLINE_SOCKET_TIMEOUT.default
    connect_timeout: float = declared.INLINE_CONNECT_TIMEOUT.default
    breaker_failures: int = declared.INLINE_BREAKER_FAILURES.default
    breaker_reset_seconds: float = declared.INLINE_BREAKER_RESET_SECONDS.default


IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class EventIdSource(NamedTuple):
    """Where the event id comes from, before the generic delivery-id headers and a UUID."""

    header: str | None = declared.EVENT_ID_HEADER.default
    json_pointer: str | None = declared.EVENT_ID_JSON_POINTER.default
    body_hash: bool = declared.EVENT_ID_BODY_HASH.default


class PayloadSchema(NamedTuple):
    """A webhook's JSON Schema, as written and compiled."""

    source: str
    # fastjsonschema's compiled check: raises JsonSchemaValueException naming the path.
    validate: Callable[[Any], Any]


class DoorRules(NamedTuple):
    """What a request must satisfy before anything is queued. Built with keywords."""

    # The default follows from data_type (declarations.DEFAULT_CONTENT_TYPES).
    content_types: tuple[str, ...]
    verify: VerifySettings | None = None
    event_id: EventIdSource = EventIdSource()
    max_json_depth: int = declared.MAX_JSON_DEPTH_FIELD.default
    schema: PayloadSchema | None = None
    allow_ips: tuple[IpNetwork, ...] = ()
    # Base64 of the exact bytes received in the envelope, so consumers can re-verify.
    include_raw_body: bool = declared.INCLUDE_RAW_BODY.default
    # An allowlist of header names (lower case); None forwards all but credentials and noise.
    forward_headers: tuple[str, ...] | None = declared.FORWARD_HEADERS.default


class WebhookConfig(NamedTuple):
    """One webhook of webhooks.json, every default filled in."""

    webhook_id: str
    data_type: DataType
    module: str
    redis: RedisTarget
    retry: RetryPolicy
    inline: InlineBudget
    max_body_bytes: int
    door: DoorRules


class RelayConfig(NamedTuple):
    """The whole of webhooks.json: webhook id -> its settings."""

    path: str
    webhooks: Mapping[str, WebhookConfig]
    # True when the file or a value of it came from SSM or Secrets Manager: it is read again
    # every SECRETS_REFRESH_SECONDS, so a rotation there needs no redeploy.
    read_from_aws: bool = False

    def webhook(self, webhook_id: str) -> WebhookConfig | None:
        return self.webhooks.get(webhook_id)
