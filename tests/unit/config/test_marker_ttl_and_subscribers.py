"""The idempotency marker outlives every copy of an event; a channel alone must reach a subscriber."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config.loader import load_config
from chalicelib.config.model import DEAD_LETTER_RETENTION_SECONDS, WebhookConfig
from chalicelib.errors import ConfigError
from operations.queue_bootstrap import MAX_RETENTION_SECONDS

DLQ_RETENTION = 1_209_600  # 14 days: what the bootstrap and the deploy template give the DLQ
DAY = 86_400


def load_webhook(tmp_path: Path, redis: dict[str, Any], retry: dict[str, Any] | None = None) -> WebhookConfig:
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({"hook": {"data_type": "json", "redis": redis, "retry": retry or {}}}))
    webhook = load_config(str(path), {}).webhook("hook")
    assert webhook is not None
    return webhook


def test_relay_counts_the_same_dead_letter_retention_as_the_queues_get() -> None:
    assert DEAD_LETTER_RETENTION_SECONDS == MAX_RETENTION_SECONDS == DLQ_RETENTION


def test_marker_ttl_shorter_than_max_age_plus_dead_letter_retention_is_refused_naming_both_fields(
    tmp_path: Path,
) -> None:
    # given a TTL one second short of max_age_seconds plus 14 days
    redis = {"stream": "events", "idempotency_ttl_seconds": 3_600 + DLQ_RETENTION - 1}

    # when
    with pytest.raises(ConfigError) as caught:
        load_webhook(tmp_path, redis, {"max_age_seconds": 3_600})

    # then the error names the file, the webhook, the field, and the field it depends on
    error = caught.value
    assert (error.path, error.webhook_id, error.field) == (
        str(tmp_path / "webhooks.json"),
        "hook",
        "redis.idempotency_ttl_seconds",
    )
    assert "retry.max_age_seconds (3600)" in error.problem
    assert f"= {3_600 + DLQ_RETENTION}" in error.problem


def test_the_old_one_day_marker_ttl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"retry\.max_age_seconds"):
        load_webhook(tmp_path, {"stream": "events", "idempotency_ttl_seconds": DAY})


def test_marker_ttl_of_exactly_max_age_plus_dead_letter_retention_is_taken(tmp_path: Path) -> None:
    webhook = load_webhook(
        tmp_path, {"stream": "events", "idempotency_ttl_seconds": 3_600 + DLQ_RETENTION}, {"max_age_seconds": 3_600}
    )
    assert webhook.redis.idempotency_ttl_seconds == 3_600 + DLQ_RETENTION


@pytest.mark.parametrize("max_age", [60, DAY, 13 * DAY])
def test_default_marker_ttl_is_max_age_plus_dead_letter_retention_plus_a_day(tmp_path: Path, max_age: int) -> None:
    webhook = load_webhook(tmp_path, {"stream": "events"}, {"max_age_seconds": max_age})
    assert webhook.redis.idempotency_ttl_seconds == max_age + DLQ_RETENTION + DAY


def test_channel_only_webhook_needs_one_subscriber_by_default(tmp_path: Path) -> None:
    assert load_webhook(tmp_path, {"channel": "events"}).redis.min_subscribers == 1


def test_webhook_with_a_stream_needs_no_subscriber_by_default(tmp_path: Path) -> None:
    assert load_webhook(tmp_path, {"channel": "events", "stream": "events"}).redis.min_subscribers == 0


@pytest.mark.parametrize(
    ("redis", "expected"),
    [({"channel": "c", "min_subscribers": 0}, 0), ({"channel": "c", "stream": "s", "min_subscribers": 2}, 2)],
)
def test_min_subscribers_can_be_set(tmp_path: Path, redis: dict[str, Any], expected: int) -> None:
    assert load_webhook(tmp_path, redis).redis.min_subscribers == expected


@pytest.mark.parametrize(
    ("redis", "problem"),
    [
        ({"stream": "s", "min_subscribers": 1}, "only applies with 'channel'"),
        ({"channel": "c", "min_subscribers": -1}, "must be at least 0"),
        ({"channel": "c", "min_subscribers": "many"}, "must be a whole number"),
    ],
)
def test_bad_min_subscribers_is_refused_naming_the_field(tmp_path: Path, redis: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_webhook(tmp_path, redis)
    assert caught.value.field == "redis.min_subscribers"
    assert problem in caught.value.problem
