"""Cluster mode: every key of one delivery hashes to the target's slot; a single Redis keeps the
names it always had."""

from __future__ import annotations

from typing import Any

import pytest
from redis.crc import key_slot

from chalicelib.config.loader import parse_webhook
from chalicelib.config.model import RedisConnection, RedisTarget
from chalicelib.delivery.redis_script import body_marker_key, marker_key, stats_key
from chalicelib.errors import ConfigError


def slot(key: str) -> int:
    return key_slot(key.encode())


def keys_of(target: RedisTarget) -> list[str]:
    return [
        marker_key(target, "hook", "event-1"),
        stats_key(target, "hook"),
        body_marker_key(target, "hook", "ab" * 32),
    ]


def test_single_redis_keeps_the_key_names_written_before_cluster_mode_existed() -> None:
    # given
    target = RedisTarget(connection=RedisConnection(), stream="events")
    # then: markers and counters written before an upgrade are still found
    assert keys_of(target) == [
        "spillway:delivered:hook:event-1",
        "spillway:stats:hook",
        f"spillway:body:hook:{'ab' * 32}",
    ]


@pytest.mark.parametrize(
    ("stream", "channel"),
    [("events", None), ("orders:{shop-1}:events", None), (None, "live"), (None, "{tenant}.live"), ("a{", None)],
)
def test_cluster_keys_hash_to_the_slot_of_the_stream_or_else_the_channel(
    stream: str | None, channel: str | None
) -> None:
    # given
    target = RedisTarget(connection=RedisConnection(cluster=True), stream=stream, channel=channel)
    named = stream if stream is not None else channel
    assert named is not None
    # then
    assert {slot(key) for key in keys_of(target)} == {slot(named)}


def redis_block(**fields: Any) -> dict[str, Any]:
    return {"data_type": "json", "redis": {"host": "localhost", "cluster": True, **fields}}


def test_a_stream_name_whose_hashed_part_holds_a_closing_brace_is_refused_in_cluster_mode() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_webhook("hook", redis_block(stream="a}b"), "webhooks.json")
    assert "field 'redis.stream'" in str(caught.value)


def test_sharded_channel_in_another_slot_than_the_stream_is_refused_in_cluster_mode() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_webhook("hook", redis_block(stream="events", channel="live", sharded_channel=True), "webhooks.json")
    assert "field 'redis.channel'" in str(caught.value)
    assert "{events}" in str(caught.value)


def test_sharded_channel_sharing_the_streams_tag_is_accepted() -> None:
    webhook = parse_webhook(
        "hook", redis_block(stream="{orders}:events", channel="{orders}:live", sharded_channel=True), "webhooks.json"
    )
    assert webhook.redis.sharded_channel


def test_replica_ack_timeout_must_be_below_the_socket_timeout() -> None:
    raw = redis_block(stream="events", min_replicas_acked=1, replica_ack_timeout_ms=500)
    with pytest.raises(ConfigError) as caught:
        parse_webhook("hook", raw, "webhooks.json")
    assert "field 'redis.replica_ack_timeout_ms'" in str(caught.value)
