"""Every setting of webhooks.json, declared once: name, type, default, bounds and meaning.

The loader checks values against these declarations, the dataclasses of model.py take their
defaults from them, and `python -m operations.config_reference --write` renders them as the
reference tables of docs/configuration.md (a test fails when the two drift apart). Checks that
span fields (url excludes host, max_delay >= initial_delay, ...) stay in the loader; settings
only one verify provider reads are checked by that provider (verification/registry.py).
"""

from __future__ import annotations

from typing import Literal

from chalicelib.config.fields import (
    Block,
    Field,
    boolean,
    number,
    optional_string,
    optional_whole_number,
    required_string,
    string,
    string_list,
    text,
    whole_number,
)
from chalicelib.config.message_size import (
    LAMBDA_MAX_BODY_BYTES,
    SQS_DEFAULT_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    max_body_bytes_limit,
)
from chalicelib.verification.registry import PROVIDERS

DataType = Literal["json", "form", "blob"]
DATA_TYPES: tuple[DataType, ...] = ("json", "form", "blob")
MODULES = ("redis_publish",)
DEFAULT_CONTENT_TYPES: dict[DataType, tuple[str, ...]] = {
    "json": ("application/json", "*/*+json"),
    "form": ("application/x-www-form-urlencoded",),
    "blob": ("*/*",),
}
# Real webhook payloads nest a dozen levels; the envelope and the queue message add two more,
# and Python's encoder recurses, so a cap far below the interpreter's limit keeps every
# accepted body encodable.
MAX_JSON_DEPTH = 128

# --- redis ------------------------------------------------------------------------------------

REDIS_URL = optional_string(
    "url", "`redis://`, `rediss://` (TLS) or `unix://`; excludes host, port, db, username, password and ssl."
)
REDIS_HOST = string("host", "localhost", "The Redis host, when there is no url.")
REDIS_PORT = whole_number("port", 6379, "The Redis port, when there is no url.", minimum=1, maximum=65_535)
REDIS_DB = whole_number("db", 0, "The Redis database number, when there is no url.")
REDIS_PASSWORD = optional_string("password", "The Redis password, when there is no url; never logged.")
REDIS_SSL = boolean("ssl", False, "Connect over TLS, when there is no url.")
REDIS_SSL_CA_CERTS = optional_string(
    "ssl_ca_certs",
    "With TLS: a PEM file of the certificate authorities to trust, instead of the system's.",
    shown_default="the system's CAs",
)
REDIS_SSL_VERIFY = boolean(
    "ssl_verify",
    True,
    "With TLS: check the server's certificate and host name. `false` is unsafe (anyone on the path can "
    "read and change events): only for a test endpoint.",
)
REDIS_USERNAME = optional_string(
    "username", "The ACL user, with password (Redis 6+ ACL, ElastiCache RBAC); with auth iam, the IAM user id."
)
REDIS_AUTH = string(
    "auth",
    "password",
    "`password` (password and username, when given) or `iam` (ElastiCache and MemoryDB IAM "
    "authentication: needs TLS and the iam block).",
    choices=("password", "iam"),
)
REDIS_IAM_CACHE_NAME = required_string(
    "cache_name", "The serverless cache's name, the replication group id, or the MemoryDB cluster name."
)
REDIS_IAM_USER_ID = required_string("user_id", "The ElastiCache/MemoryDB user id (its name, for Redis, too).")
REDIS_IAM_SERVICE = string(
    "service", "elasticache", "Which service signs the token.", choices=("elasticache", "memorydb")
)
REDIS_IAM_SERVERLESS = boolean("serverless", False, "The cache is ElastiCache Serverless.")
REDIS_IAM_REGION = optional_string(
    "region", "The cache's AWS region.", shown_default="AWS_REGION, else AWS_DEFAULT_REGION"
)
REDIS_IAM = Block(
    name="iam",
    meaning="With auth iam: the cache and user the token is signed for.",
    fields=(REDIS_IAM_CACHE_NAME, REDIS_IAM_USER_ID, REDIS_IAM_SERVICE, REDIS_IAM_SERVERLESS, REDIS_IAM_REGION),
    shown_default="none (required with auth iam)",
)
REDIS_CLUSTER = boolean(
    "cluster",
    False,
    "Redis Cluster mode (ElastiCache Serverless, MemoryDB, cluster-mode ElastiCache): host/port or url "
    "name any node; the client discovers the others and follows MOVED/ASK. Only db 0.",
)
REDIS_CHANNEL = optional_string(
    "channel", "`PUBLISH` the envelope to this channel (at least one of channel and stream)."
)
REDIS_STREAM = optional_string("stream", "`XADD` the envelope to this stream (at least one of channel and stream).")
REDIS_STREAM_MAXLEN = optional_whole_number(
    "stream_maxlen", "Trim the stream to about this many entries (`MAXLEN ~`); only with stream.", minimum=1
)
REDIS_IDEMPOTENCY_TTL_SECONDS = optional_whole_number(
    "idempotency_ttl_seconds",
    "How long an event id is remembered as delivered; at least retry.max_age_seconds plus the "
    "dead-letter queue's 14 days, so no queued or replayed copy publishes twice.",
    minimum=1,
    shown_default="retry.max_age_seconds + 15 days",
)
REDIS_MIN_SUBSCRIBERS = optional_whole_number(
    "min_subscribers",
    "`PUBLISH` receivers a delivery must reach to count; with fewer the event spills and waits (only with channel).",
    maximum=10_000,
    shown_default="1 without a stream, 0 with one",
)
REDIS_DEDUPE_BODY_SECONDS = optional_whole_number(
    "dedupe_body_seconds",
    "Opt-in: a body already delivered within this many seconds is a duplicate whatever its event id "
    "(for senders that do not sign their delivery id: GitHub, Shopify).",
    minimum=1,
    shown_default="off",
)
REDIS_SHARDED_CHANNEL = boolean(
    "sharded_channel",
    False,
    "`SPUBLISH` (Redis 7+, sharded pub/sub) instead of `PUBLISH`. In cluster mode PUBLISH counts only "
    "the subscribers of the node it ran on, SPUBLISH those of the channel's shard (where `SSUBSCRIBE` "
    "connects): use it with min_subscribers; channel and stream must then share a slot.",
)
REDIS_MIN_REPLICAS_ACKED = whole_number(
    "min_replicas_acked",
    0,
    "Replicas that must confirm a delivery (`WAIT`, same round trip) before it counts; with fewer the "
    "event spills and waits. A `200` then means the event is on this many replicas plus the primary.",
    maximum=16,
)
REDIS_REPLICA_ACK_TIMEOUT_MS = whole_number(
    "replica_ack_timeout_ms",
    100,
    "How long `WAIT` waits for min_replicas_acked confirmations, in milliseconds; below inline.socket_timeout.",
    minimum=1,
    maximum=10_000,
)
REDIS = Block(
    name="redis",
    required=True,
    meaning="Where events are published: the redis table.",
    fields=(
        REDIS_URL,
        REDIS_HOST,
        REDIS_PORT,
        REDIS_DB,
        REDIS_PASSWORD,
        REDIS_SSL,
        REDIS_SSL_CA_CERTS,
        REDIS_SSL_VERIFY,
        REDIS_USERNAME,
        REDIS_AUTH,
        REDIS_IAM,
        REDIS_CLUSTER,
        REDIS_CHANNEL,
        REDIS_STREAM,
        REDIS_STREAM_MAXLEN,
        REDIS_IDEMPOTENCY_TTL_SECONDS,
        REDIS_MIN_SUBSCRIBERS,
        REDIS_DEDUPE_BODY_SECONDS,
        REDIS_SHARDED_CHANNEL,
        REDIS_MIN_REPLICAS_ACKED,
        REDIS_REPLICA_ACK_TIMEOUT_MS,
    ),
)

# --- retry ------------------------------------------------------------------------------------

# The event must be delivered or dead-lettered before SQS drops it: our queues keep
# messages 14 days, and a day of margin covers the last redrive hop.
MAX_AGE_LIMIT_SECONDS = 13 * 86_400
# SQS caps one delay at 900 s; longer waits hop, but a schedule that never reaches its cap
# inside a day is almost certainly a typo.
MAX_DELAY_LIMIT_SECONDS = 86_400

RETRY_ENABLED = boolean(
    "enabled", True, "`false`: no retry queue for this webhook, and the sender gets `503` when Redis fails inline."
)
RETRY_MAX_ATTEMPTS = whole_number(
    "max_attempts",
    5,
    "Attempts the drain makes when Redis refuses the write, before dead-lettering.",
    minimum=1,
    maximum=1_000,
)
RETRY_INITIAL_DELAY = number("initial_delay", 1.0, "Seconds before redrive 1.")
RETRY_MAX_DELAY = number(
    "max_delay",
    10.0,
    "The longest wait between redrives, at least initial_delay (waits over SQS's 900 s hop several times).",
    maximum=MAX_DELAY_LIMIT_SECONDS,
)
RETRY_BACKOFF_MULTIPLIER = number(
    "backoff_multiplier",
    2.0,
    "Redrive n waits `min(initial_delay * backoff_multiplier^(n-1), max_delay)`, jittered.",
    minimum=1.0,
    maximum=100.0,
)
RETRY_MAX_AGE_SECONDS = whole_number(
    "max_age_seconds",
    86_400,
    "An event queued longer than this (from when it spilled or was replayed) is dead-lettered as "
    "`expired`; below the queues' 14-day retention.",
    minimum=1,
    maximum=MAX_AGE_LIMIT_SECONDS,
)
RETRY = Block(
    name="retry",
    meaning="The retry queue's schedule: the retry table.",
    fields=(
        RETRY_ENABLED,
        RETRY_MAX_ATTEMPTS,
        RETRY_INITIAL_DELAY,
        RETRY_MAX_DELAY,
        RETRY_BACKOFF_MULTIPLIER,
        RETRY_MAX_AGE_SECONDS,
    ),
)

# --- inline -----------------------------------------------------------------------------------

INLINE_MAX_ATTEMPTS = whole_number(
    "max_attempts", 3, "Tries at Redis while the sender waits, before the event spills.", minimum=1, maximum=10
)
INLINE_BUDGET_SECONDS = number(
    "budget_seconds",
    1.5,
    "The inline path never starts an attempt that could end past this many seconds (the first is always "
    "made). With the spill after it (12 s at most) and 1.5 s to answer, the longer of this and "
    "connect_timeout + socket_timeout must fit the HTTP function's lambda_timeout: deploys refuse a stage "
    "where it does not.",
    minimum=0.01,
    maximum=10.0,
)
INLINE_SOCKET_TIMEOUT = number(
    "socket_timeout",
    0.5,
    "Per Redis call, inline and in the drain (a hung Redis is cut off here); at most budget_seconds.",
    minimum=0.01,
    maximum=10.0,
)
INLINE_CONNECT_TIMEOUT = number("connect_timeout", 0.25, "Per connection attempt to Redis.", minimum=0.01, maximum=10.0)
# Two: a hung Redis gets two tries per request inside the default budget, so the first
# request that finds it hung opens the circuit for everyone after it.
INLINE_BREAKER_FAILURES = whole_number(
    "breaker_failures",
    2,
    "Consecutive connection failures that open this Redis's circuit: while open, the door spills at "
    "once and the drain redrives without trying.",
    minimum=1,
    maximum=1_000,
)
INLINE_BREAKER_RESET_SECONDS = number(
    "breaker_reset_seconds",
    5.0,
    "How long the circuit stays open before one request probes Redis again.",
    minimum=0.01,
    maximum=3_600.0,
)
INLINE = Block(
    name="inline",
    meaning="How long the sender may wait on Redis before the event spills: the inline table.",
    fields=(
        INLINE_MAX_ATTEMPTS,
        INLINE_BUDGET_SECONDS,
        INLINE_SOCKET_TIMEOUT,
        INLINE_CONNECT_TIMEOUT,
        INLINE_BREAKER_FAILURES,
        INLINE_BREAKER_RESET_SECONDS,
    ),
)

# --- verify -----------------------------------------------------------------------------------

MAX_TOLERANCE_SECONDS = 86_400

VERIFY_PROVIDER = required_string(
    "provider", "The signature or credential scheme the sender uses.", choices=tuple(sorted(PROVIDERS))
)
VERIFY_SECRETS = string_list(
    "secrets",
    "Secrets that verify (several during a rotation); basic takes `username:password`, "
    "standard_webhooks `whsec_` + base64.",
    required=True,
)
VERIFY_TOLERANCE_SECONDS = whole_number(
    "tolerance_seconds",
    300,
    "How far a signed timestamp may be from the relay's clock, either way (timestamped schemes).",
    minimum=1,
    maximum=MAX_TOLERANCE_SECONDS,
)
VERIFY_HEADER = optional_string(
    "header", "The signature header (hmac, required) or the token's header (token; default `Authorization: Bearer`)."
)
VERIFY_ALGORITHM = string("algorithm", "sha256", "The HMAC digest of provider hmac: sha1, sha256 or sha512.")
VERIFY_ENCODING = string("encoding", "hex", "How provider hmac's signature is encoded: hex or base64.")
VERIFY_PREFIX = text("prefix", "", "Text before provider hmac's signature in its header, such as `sha256=`.")
VERIFY_SIGNED_CONTENT = string(
    "signed_content", "{body}", "What provider hmac signs: a template over `{id}`, `{timestamp}` and `{body}`."
)
VERIFY_TIMESTAMP_HEADER = optional_string(
    "timestamp_header", "Provider hmac: the header carrying `{timestamp}` (checked against tolerance_seconds)."
)
VERIFY_ID_HEADER = optional_string(
    "id_header", "Provider hmac: the header carrying `{id}`, which is then the event id."
)
VERIFY = Block(
    name="verify",
    meaning="How a request proves it comes from its sender: the verify table.",
    shown_default="none (no check)",
    fields=(
        VERIFY_PROVIDER,
        VERIFY_SECRETS,
        VERIFY_TOLERANCE_SECONDS,
        VERIFY_HEADER,
        VERIFY_ALGORITHM,
        VERIFY_ENCODING,
        VERIFY_PREFIX,
        VERIFY_SIGNED_CONTENT,
        VERIFY_TIMESTAMP_HEADER,
        VERIFY_ID_HEADER,
    ),
)

# --- event_id ---------------------------------------------------------------------------------

EVENT_ID_HEADER = optional_string("header", "Take the event id from this request header.")
EVENT_ID_JSON_POINTER = optional_string(
    "json_pointer", "Take the event id from the JSON body at this pointer, such as `/id` (data_type json)."
)
EVENT_ID_BODY_HASH = boolean("body_hash", False, "Take the SHA-256 of the body as the event id (`true` when given).")
EVENT_ID = Block(
    name="event_id",
    meaning="Where the event id comes from, exactly one of its fields: the event_id table.",
    shown_default="the provider's delivery id, then the generic delivery-id headers, then a UUID",
    fields=(EVENT_ID_HEADER, EVENT_ID_JSON_POINTER, EVENT_ID_BODY_HASH),
)

# --- webhook ----------------------------------------------------------------------------------

# A queue message must hold the envelope around a body (headers, base64 for blobs), so without
# a claim-check bucket bodies are capped below the queue's limit (message_size.py): 168 KiB with
# the default QUEUE_MAX_MESSAGE_BYTES; the loader raises the cap with a larger setting, and to
# what Lambda can receive (4,416 KiB) when LARGE_PAYLOAD_BUCKET is set. The cap is the default.
MAX_BODY_BYTES_LIMIT = max_body_bytes_limit(SQS_DEFAULT_MESSAGE_BYTES)

DATA_TYPE = required_string(
    "data_type", "How the body is parsed: JSON, a URL-encoded form, or bytes (base64 in the envelope).", DATA_TYPES
)
# Checked and never dispatched on: a config written for a destination this relay does not
# have fails at load instead of being published to Redis.
MODULE = string(
    "module",
    "redis_publish",
    "The destination; `redis_publish` is the only one, so the field is only checked: a config "
    "meant for another destination fails at load instead of publishing to Redis.",
    MODULES,
)
MAX_BODY_BYTES = whole_number(
    "max_body_bytes",
    MAX_BODY_BYTES_LIMIT,
    "Larger bodies get `413`. At most, and by default, the largest body Lambda can receive behind "
    "API Gateway (4,521,984 bytes) when `LARGE_PAYLOAD_BUCKET` is set; without it, the largest that "
    "fits one queue message (172,032 bytes, growing with `QUEUE_MAX_MESSAGE_BYTES`).",
    minimum=1,
    maximum=LAMBDA_MAX_BODY_BYTES,
    shown_default="the largest allowed",
)
CONTENT_TYPES = string_list(
    "content_types",
    "Media types accepted (`415` otherwise); `*/*`, `type/*` and `*/*+suffix` match many.",
    shown_default="by data_type: json `application/json`, `*/*+json`; form "
    "`application/x-www-form-urlencoded`; blob `*/*`",
)
MAX_JSON_DEPTH_FIELD = whole_number(
    "max_json_depth",
    64,
    "Deeper JSON nesting is refused with `400 json_too_deep`.",
    minimum=1,
    maximum=MAX_JSON_DEPTH,
)
SCHEMA = Field[object](
    name="schema",
    kind="JSON Schema",
    default=None,
    meaning="A JSON Schema (inline, or a file path relative to webhooks.json) that json and form "
    "payloads must match (`422` otherwise); only local `$ref`s are taken.",
    shown_default="none",
)
ALLOW_IPS = string_list("allow_ips", "Source networks (CIDR) allowed to post (`403` otherwise).", shown_default="any")
INCLUDE_RAW_BODY = boolean(
    "include_raw_body",
    False,
    "Add `raw_body` (base64 of the exact bytes received) to the envelope, so consumers can re-verify.",
)
FORWARD_HEADERS = Field[tuple[str, ...] | None](
    name="forward_headers",
    kind="list of strings",
    default=None,
    meaning="Only these request headers reach the envelope (an allowlist); never the verify credential.",
    shown_default="all but credentials and noise",
)
WEBHOOK = Block(
    name="webhook",
    required=True,
    meaning="One entry of webhooks.json, keyed by the webhook id (1-64 of `A-Z a-z 0-9 _ . -`).",
    fields=(
        DATA_TYPE,
        MODULE,
        REDIS,
        RETRY,
        INLINE,
        MAX_BODY_BYTES,
        VERIFY,
        EVENT_ID,
        CONTENT_TYPES,
        MAX_JSON_DEPTH_FIELD,
        SCHEMA,
        ALLOW_IPS,
        INCLUDE_RAW_BODY,
        FORWARD_HEADERS,
    ),
)

# --- environment --------------------------------------------------------------------------------

ENV_WEBHOOKS_CONFIG = optional_string(
    "WEBHOOKS_CONFIG",
    "The configuration file, or `ssm:/name`: an SSM parameter (String or SecureString) holding it.",
    shown_default="`webhooks.json` beside `app.py`; else `chalicelib/webhooks.json` (the copy `make deploy` "
    "and `make package` bundle, as on Lambda)",
)
ENV_RETRY_QUEUE_NAME = string("RETRY_QUEUE_NAME", "spillway-retry", "The retry queue.")
ENV_RETRY_QUEUE_URL = optional_string(
    "RETRY_QUEUE_URL", "The retry queue's URL, which saves a lookup by name.", shown_default="looked up"
)
ENV_DEAD_LETTER_QUEUE_NAME = string("DEAD_LETTER_QUEUE_NAME", "spillway-dead-letter", "The dead-letter queue.")
ENV_DEAD_LETTER_QUEUE_URL = optional_string(
    "DEAD_LETTER_QUEUE_URL", "The dead-letter queue's URL, which saves a lookup by name.", shown_default="looked up"
)
ENV_RETRY_AFTER_SECONDS = whole_number("RETRY_AFTER_SECONDS", 30, "The `Retry-After` of a `503`, in seconds.")
ENV_REPORT_BATCH_ITEM_FAILURES = boolean(
    "REPORT_BATCH_ITEM_FAILURES",
    False,
    "`true`, `1` or `yes` only when the drain's event source mapping has `ReportBatchItemFailures` "
    "([Batches and duplicates](guarantees.md#batches-and-duplicates)); anything else is false.",
)
ENV_QUEUE_MAX_MESSAGE_BYTES = whole_number(
    "QUEUE_MAX_MESSAGE_BYTES",
    SQS_DEFAULT_MESSAGE_BYTES,
    "The largest queue message the door may count on: at most the retry and dead-letter queues' `MaximumMessageSize`.",
    minimum=SQS_DEFAULT_MESSAGE_BYTES,
    maximum=SQS_MAX_MESSAGE_BYTES,
)
ENV_LARGE_PAYLOAD_BUCKET = optional_string(
    "LARGE_PAYLOAD_BUCKET",
    "The S3 bucket of the claim check: a spilled event too large for a queue message goes there and "
    "its queue message carries a pointer (with the object's SHA-256). Raises `max_body_bytes` to what "
    "Lambda can receive.",
    shown_default="none: bodies are capped at what fits a queue message",
)
ENV_AWS_REGION = string("AWS_REGION", "us-east-1", "The queues' region (else `AWS_DEFAULT_REGION`).")
ENV_SECRETS_REFRESH_SECONDS = whole_number(
    "SECRETS_REFRESH_SECONDS",
    300,
    "How often a configuration with `${ssm:...}` or `${secretsmanager:...}` values, or `WEBHOOKS_CONFIG=ssm:...`, "
    "is read again (a rotation needs no redeploy); a failed read keeps the last good one.",
    minimum=1,
    maximum=86_400,
)
ENV_ADMIN_TOKEN = optional_string(
    "ADMIN_TOKEN",
    "The bearer token of `GET /stats` and `GET /health?deep=1`; while it is unset, neither shows internals.",
)
ENVIRONMENT = Block(
    name="environment",
    meaning="The stage's variables (`.chalice/config.json`); an empty value counts as unset.",
    fields=(
        ENV_WEBHOOKS_CONFIG,
        ENV_RETRY_QUEUE_NAME,
        ENV_RETRY_QUEUE_URL,
        ENV_DEAD_LETTER_QUEUE_NAME,
        ENV_DEAD_LETTER_QUEUE_URL,
        ENV_RETRY_AFTER_SECONDS,
        ENV_REPORT_BATCH_ITEM_FAILURES,
        ENV_QUEUE_MAX_MESSAGE_BYTES,
        ENV_LARGE_PAYLOAD_BUCKET,
        ENV_AWS_REGION,
        ENV_SECRETS_REFRESH_SECONDS,
        ENV_ADMIN_TOKEN,
    ),
)

# What the reference documents: each block, and each block nested in it, gets a table.
REFERENCE = (WEBHOOK, ENVIRONMENT)
