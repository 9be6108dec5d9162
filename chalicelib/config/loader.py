"""Reads webhooks.json once (a file, or an SSM parameter), substitutes the environment and the
values kept in SSM or Secrets Manager (secret_references.py), validates, and freezes it.

Every error names the file, the webhook and the field, so an operator can fix it from the
message alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, cast
from urllib.parse import urlsplit

from redis.crc import key_slot

from chalicelib.config import declarations as declared
from chalicelib.config.declarations import DataType
from chalicelib.config.door_rules import parse_door_rules
from chalicelib.config.env_substitution import MissingVariable, substitute
from chalicelib.config.fields import FieldBlock
from chalicelib.config.message_size import max_body_bytes_limit, queue_max_message_bytes
from chalicelib.config.model import (
    DEAD_LETTER_RETENTION_SECONDS,
    IamService,
    InlineBudget,
    RedisConnection,
    RedisIam,
    RedisTarget,
    RelayConfig,
    RetryPolicy,
    WebhookConfig,
    default_idempotency_ttl,
    default_min_subscribers,
    hashed_part,
    minimum_idempotency_ttl,
)
from chalicelib.errors import ConfigError

if TYPE_CHECKING:
    from chalicelib.config.secret_references import SecretReference, UnresolvedReference

WEBHOOK_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# secret_references.py is imported only for a configuration that refers to SSM or Secrets
# Manager: a cold start without such a reference need not pay for it (bench B5). How its
# references open, and its SSM_PREFIX (tests/unit/config pins that they agree):
SECRET_REFERENCE_OPENINGS = ("${ssm:", "${secretsmanager:")
SSM_DOCUMENT_PREFIX = "ssm:"


SecretValues: TypeAlias = "Mapping[SecretReference, str | UnresolvedReference]"


def _substitute_text(text: str, environ: Mapping[str, str], secrets: SecretValues) -> str | UnresolvedReference:
    """`${VAR}`s from the environment and `${ssm:...}`/`${secretsmanager:...}` from `secrets`, in
    one pass: neither a variable's value nor a secret's is read again for references. A
    reference that has no value comes back instead of the text."""
    if not secrets:
        # _read_secrets found no reference anywhere in the document.
        return substitute(text, environ)
    from chalicelib.config.secret_references import UnresolvedReference, split_references

    pieces: list[str] = []
    for literal, reference in split_references(text):
        pieces.append(substitute(literal, environ))
        if reference is not None:
            value = secrets[reference]
            if isinstance(value, UnresolvedReference):
                return value
            pieces.append(value)
    return "".join(pieces)


def _substitute_all(
    value: Any, path: str, webhook_id: str, field: str, environ: Mapping[str, str], *, secrets: SecretValues
) -> Any:
    if isinstance(value, str):
        try:
            text = _substitute_text(value, environ, secrets)
        except MissingVariable as exc:
            raise ConfigError(
                path, webhook_id, field or None, f"environment variable {exc.name} is not set and has no default"
            ) from exc
        if not isinstance(text, str):
            raise ConfigError(path, webhook_id, field or None, str(text)) from text
        return text
    if isinstance(value, dict):
        return {
            key: _substitute_all(item, path, webhook_id, f"{field}.{key}" if field else key, environ, secrets=secrets)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute_all(item, path, webhook_id, f"{field}[{index}]", environ, secrets=secrets)
            for index, item in enumerate(value)
        ]
    return value


def _redis_iam(block: FieldBlock, auth: str, tls: bool, username: str | None, password: str | None) -> RedisIam | None:
    if auth != "iam":
        if "iam" in block.raw:
            raise block.error("iam", 'only applies with auth: "iam"')
        return None
    if not tls:
        raise block.error("auth", "iam needs TLS (ssl: true, or a rediss:// url): the token is a password")
    if password is not None:
        raise block.error("password", 'cannot be combined with auth: "iam" (the password is the signed token)')
    iam_block = block.block("iam", required=True)
    iam_block.reject_unknown(declared.REDIS_IAM.names())
    iam = RedisIam(
        cache_name=iam_block.read(declared.REDIS_IAM_CACHE_NAME),
        user_id=iam_block.read(declared.REDIS_IAM_USER_ID),
        service=cast(IamService, iam_block.read(declared.REDIS_IAM_SERVICE)),
        serverless=iam_block.read(declared.REDIS_IAM_SERVERLESS),
        region=iam_block.read(declared.REDIS_IAM_REGION),
    )
    if username is not None and username != iam.user_id:
        raise block.error("username", f"with auth iam is the user id ({iam.user_id!r}); leave it out")
    return iam


def _redis_connection(block: FieldBlock) -> RedisConnection:
    url = block.read(declared.REDIS_URL)
    auth = block.read(declared.REDIS_AUTH)
    if url is not None:
        for key in ("host", "port", "db", "username", "password", "ssl"):
            if key in block.raw:
                raise block.error(key, "cannot be combined with 'url'; put it in the URL")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise block.error("url", "must start with redis://, rediss:// or unix://")
        parts = urlsplit(url)
        if auth == "iam" and (parts.username or parts.password):
            # Nor does the message quote the URL: its password may be a secret.
            raise block.error(
                "url", "with auth iam holds no user or password (the user is iam.user_id, the password a signed token)"
            )
        connection = RedisConnection(url=url, iam=_redis_iam(block, auth, url.startswith("rediss://"), None, None))
    else:
        username = block.read(declared.REDIS_USERNAME)
        password = block.read(declared.REDIS_PASSWORD)
        ssl = block.read(declared.REDIS_SSL)
        connection = RedisConnection(
            host=block.read(declared.REDIS_HOST),
            port=block.read(declared.REDIS_PORT),
            db=block.read(declared.REDIS_DB),
            username=username,
            password=password,
            ssl=ssl,
            iam=_redis_iam(block, auth, ssl, username, password),
        )
    for key in ("ssl_ca_certs", "ssl_verify"):
        if key in block.raw and not connection.tls:
            raise block.error(key, "only applies with TLS (ssl: true, or a rediss:// url)")
    return connection._replace(
        ssl_ca_certs=block.read(declared.REDIS_SSL_CA_CERTS),
        ssl_verify=block.read(declared.REDIS_SSL_VERIFY),
        cluster=block.read(declared.REDIS_CLUSTER),
    )


def _redis_target(block: FieldBlock, retry: RetryPolicy) -> RedisTarget:
    connection = _redis_connection(block)
    if connection.cluster and connection.db != 0:
        raise block.error("db", "Redis Cluster has only database 0 (no SELECT); leave db out with cluster: true")
    channel = block.read(declared.REDIS_CHANNEL)
    stream = block.read(declared.REDIS_STREAM)
    if channel is None and stream is None:
        raise block.error(None, "needs at least one target: 'channel' (PUBLISH) or 'stream' (XADD)")
    maxlen = block.read(declared.REDIS_STREAM_MAXLEN)
    if maxlen is not None and stream is None:
        raise block.error("stream_maxlen", "only applies with 'stream'")
    # Optional fields whose default follows from other settings: given that default, never None.
    min_subscribers = cast(int, block.read(declared.REDIS_MIN_SUBSCRIBERS, default=default_min_subscribers(stream)))
    if min_subscribers > 0 and channel is None:
        raise block.error("min_subscribers", "only applies with 'channel'")
    sharded = block.read(declared.REDIS_SHARDED_CHANNEL)
    if sharded and channel is None:
        raise block.error("sharded_channel", "only applies with 'channel'")
    if connection.cluster:
        _check_one_slot(block, channel, stream, sharded)
    shortest_ttl = minimum_idempotency_ttl(retry.max_age_seconds)
    ttl = cast(
        int, block.read(declared.REDIS_IDEMPOTENCY_TTL_SECONDS, default=default_idempotency_ttl(retry.max_age_seconds))
    )
    if ttl < shortest_ttl:
        raise block.error(
            "idempotency_ttl_seconds",
            f"must be at least retry.max_age_seconds ({retry.max_age_seconds}) plus the dead-letter queue's "
            f"retention ({DEAD_LETTER_RETENTION_SECONDS} s, 14 days) = {shortest_ttl}, got {ttl}: a queued or "
            "replayed copy delivered after its marker expired would be published twice; leave it out for "
            f"the default ({default_idempotency_ttl(retry.max_age_seconds)})",
        )
    return RedisTarget(
        connection=connection,
        channel=channel,
        stream=stream,
        stream_maxlen=maxlen,
        idempotency_ttl_seconds=ttl,
        min_subscribers=min_subscribers,
        dedupe_body_seconds=block.read(declared.REDIS_DEDUPE_BODY_SECONDS),
        sharded_channel=sharded,
        min_replicas_acked=block.read(declared.REDIS_MIN_REPLICAS_ACKED),
        replica_ack_timeout_ms=block.read(declared.REDIS_REPLICA_ACK_TIMEOUT_MS),
    )


def _check_one_slot(block: FieldBlock, channel: str | None, stream: str | None, sharded: bool) -> None:
    """Cluster mode: every key of a delivery carries the target's hashed part as its {tag}, so
    that part cannot hold a '}' (the tag would end early, and the keys land in another slot);
    an SPUBLISH inside the script must name a channel in the same slot as its keys."""
    field, name = ("stream", stream) if stream is not None else ("channel", channel)
    assert name is not None
    if "}" in hashed_part(name):
        raise block.error(
            field,
            f"{name!r} cannot be the hash tag of the delivery's keys in cluster mode: give it a {{tag}} without '}}'",
        )
    if sharded and channel and stream and key_slot(channel.encode()) != key_slot(stream.encode()):
        raise block.error(
            "channel",
            f"with sharded_channel in cluster mode, channel {channel!r} must hash to the stream's slot "
            f"(SPUBLISH runs in the delivery script): give both the same {{tag}}, e.g. "
            f"'{{{hashed_part(stream)}}}' inside the channel's name",
        )


def _retry_policy(block: FieldBlock) -> RetryPolicy:
    policy = RetryPolicy(
        enabled=block.read(declared.RETRY_ENABLED),
        max_attempts=block.read(declared.RETRY_MAX_ATTEMPTS),
        initial_delay=block.read(declared.RETRY_INITIAL_DELAY),
        max_delay=block.read(declared.RETRY_MAX_DELAY),
        backoff_multiplier=block.read(declared.RETRY_BACKOFF_MULTIPLIER),
        max_age_seconds=block.read(declared.RETRY_MAX_AGE_SECONDS),
    )
    if policy.max_delay < policy.initial_delay:
        raise block.error("max_delay", f"must be at least initial_delay ({policy.initial_delay})")
    return policy


def read_inline_budget(block: FieldBlock) -> InlineBudget:
    """A webhook's `inline` block (its variables already substituted). Raises ConfigError."""
    budget = InlineBudget(
        max_attempts=block.read(declared.INLINE_MAX_ATTEMPTS),
        budget_seconds=block.read(declared.INLINE_BUDGET_SECONDS),
        socket_timeout=block.read(declared.INLINE_SOCKET_TIMEOUT),
        connect_timeout=block.read(declared.INLINE_CONNECT_TIMEOUT),
        breaker_failures=block.read(declared.INLINE_BREAKER_FAILURES),
        breaker_reset_seconds=block.read(declared.INLINE_BREAKER_RESET_SECONDS),
    )
    if budget.socket_timeout > budget.budget_seconds:
        raise block.error("socket_timeout", f"must not exceed budget_seconds ({budget.budget_seconds})")
    return budget


def parse_webhook(
    webhook_id: str, raw: Any, path: str, body_limit: int = declared.MAX_BODY_BYTES_LIMIT
) -> WebhookConfig:
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise ConfigError(path, webhook_id, None, "webhook id must be 1-64 of A-Z a-z 0-9 _ . -")
    if not isinstance(raw, dict):
        raise ConfigError(path, webhook_id, None, f"must be an object, got {type(raw).__name__}")
    block = FieldBlock(raw, path, webhook_id, "")
    block.reject_unknown(declared.WEBHOOK.names())
    data_type = cast(DataType, block.read(declared.DATA_TYPE))
    module = block.read(declared.MODULE)
    # retry first: the marker's shortest TTL follows from its max_age_seconds.
    retry = _retry_policy(block.section(declared.RETRY))
    redis_block = block.section(declared.REDIS)
    target = _redis_target(redis_block, retry)
    inline = read_inline_budget(block.section(declared.INLINE))
    if target.min_replicas_acked and target.replica_ack_timeout_ms >= inline.socket_timeout * 1000:
        # WAIT holds the connection this long: past socket_timeout the client would cut it off.
        raise redis_block.error(
            "replica_ack_timeout_ms", f"must be below inline.socket_timeout ({inline.socket_timeout * 1000:g} ms)"
        )
    return WebhookConfig(
        webhook_id=webhook_id,
        data_type=data_type,
        module=module,
        redis=target,
        retry=retry,
        inline=inline,
        max_body_bytes=block.read(declared.MAX_BODY_BYTES, default=body_limit, maximum=body_limit),
        door=parse_door_rules(block, data_type),
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _read_secrets(document: Any, path: str, aws_region: str | None) -> SecretValues:
    """Every `${ssm:...}` and `${secretsmanager:...}` of the document, read in one batch."""
    texts = [text for text in _strings(document) if any(opening in text for opening in SECRET_REFERENCE_OPENINGS)]
    if not texts:
        return {}
    from chalicelib.config.secret_references import SecretsUnavailable, references_in, resolve

    references = {reference for text in texts for reference in references_in(text)}
    if not references:
        return {}
    try:
        return resolve(references, aws_region)
    except SecretsUnavailable as exc:
        names = ", ".join(sorted(str(reference) for reference in references))
        raise ConfigError(path, None, None, f"cannot read {names}", cause=str(exc)) from exc


def parse_config(
    document: Any, path: str, environ: Mapping[str, str], aws_region: str | None = None, read_from_aws: bool = False
) -> RelayConfig:
    """`aws_region`: where `${ssm:...}` and `${secretsmanager:...}` are read (None: boto3's default)."""
    if not isinstance(document, dict):
        raise ConfigError(path, None, None, "must be a JSON object of webhook id -> settings")
    secrets = _read_secrets(document, path, aws_region)
    webhooks = {}
    claim_check = bool(environ.get(declared.ENV_LARGE_PAYLOAD_BUCKET.name))
    body_limit = max_body_bytes_limit(queue_max_message_bytes(environ), claim_check)
    for webhook_id, raw in document.items():
        resolved = _substitute_all(raw, path, webhook_id, "", environ, secrets=secrets)
        webhooks[webhook_id] = parse_webhook(webhook_id, resolved, path, body_limit)
    return RelayConfig(path=path, webhooks=MappingProxyType(webhooks), read_from_aws=read_from_aws or bool(secrets))


class _UnacceptableJson(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _UnacceptableJson(f"key {key!r} appears twice in one object (the first would be silently lost)")
        document[key] = value
    return document


# On Lambda, webhooks.json exists only when `make deploy`/`make package` bundled it into chalicelib/.
FILE_NOT_FOUND = (
    "file not found: set WEBHOOKS_CONFIG to its path; on AWS, deploy with `make deploy` or `make package`, "
    "which bundle webhooks.json into chalicelib/ (a bare `chalice deploy` or `chalice package` ships none)"
)


def _read_document(path: str, aws_region: str | None) -> tuple[str, bool]:
    """The configuration's text, and whether it came from SSM (WEBHOOKS_CONFIG=ssm:/name)."""
    if not path.startswith(SSM_DOCUMENT_PREFIX):
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read(), False
        except FileNotFoundError as exc:
            raise ConfigError(path, None, None, FILE_NOT_FOUND) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(path, None, None, f"cannot be read: {exc}") from exc
    from chalicelib.config.secret_references import SecretReference, SecretsUnavailable, UnresolvedReference, resolve

    reference = SecretReference("ssm", path[len(SSM_DOCUMENT_PREFIX) :])
    try:
        value = resolve([reference], aws_region)[reference]
    except SecretsUnavailable as exc:
        raise ConfigError(path, None, None, "cannot be read from SSM Parameter Store", cause=str(exc)) from exc
    if isinstance(value, UnresolvedReference):
        raise ConfigError(path, None, None, value.problem)
    return value, True


def load_config(path: str, environ: Mapping[str, str] | None = None, aws_region: str | None = None) -> RelayConfig:
    """`path`: a file, or `ssm:/name` for an SSM parameter (String or SecureString) holding it."""
    text, from_ssm = _read_document(path, aws_region)
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except _UnacceptableJson as exc:
        raise ConfigError(path, None, None, str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            path, None, None, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise ConfigError(path, None, None, "nests too deep to read") from exc
    try:
        return parse_config(document, path, os.environ if environ is None else environ, aws_region, from_ssm)
    except RecursionError as exc:
        # The walks over the document recurse: a config nested thousands deep is an error in it,
        # not a crash of the import (Lambda's init would fail, and every route answer 502).
        raise ConfigError(path, None, None, "nests too deep to read") from exc
