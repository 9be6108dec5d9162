"""What an operator reads: /stats counters, and the metrics embedded in the log lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import ADMIN_TOKEN, STREAM, WriteConfig, webhook_settings
from tests.queue_events import body_of, make_envelope, make_queue_message

JSON = {"content-type": "application/json"}


def get_stats(chalice_client: Any, token: str | None = ADMIN_TOKEN) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return chalice_client.http.get("/stats", headers=headers)


def post(chalice_client: Any, delivery_id: str, webhook_id: str = "redis_test") -> Any:
    return chalice_client.http.post(
        f"/webhook/{webhook_id}", body=b'{"n": 1}', headers={**JSON, "x-github-delivery": delivery_id}
    )


# /stats


def test_stats_is_refused_without_the_admin_token(
    relay_config: Any, sqs: Any, chalice_client: Any, admin_token: str
) -> None:
    # when
    missing = get_stats(chalice_client, token=None)
    wrong = get_stats(chalice_client, token="guess")
    # then
    assert missing.status_code == wrong.status_code == 401
    assert missing.json_body["error"]["code"] == "invalid_credentials"


def test_stats_is_off_when_no_admin_token_is_configured(relay_config: Any, sqs: Any, chalice_client: Any) -> None:
    # when
    response = get_stats(chalice_client)
    # then
    assert response.status_code == 403
    assert response.json_body["error"]["code"] == "stats_disabled"


def test_stats_counts_inline_deliveries_and_duplicates(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, chalice_client: Any, admin_token: str
) -> None:
    # given two events, one of them sent twice
    for delivery_id in ("a", "b", "a"):
        assert post(chalice_client, delivery_id).status_code == 200
    # when
    response = get_stats(chalice_client)
    # then
    assert response.status_code == 200
    counts = response.json_body["webhooks"]["redis_test"]
    assert counts["delivered_inline"] == 2
    assert counts["duplicates"] == 1
    assert counts["delivered_from_queue"] == counts["dead_lettered"] == counts["queued"] == 0


def test_stats_counts_queued_redriven_and_dead_lettered_events_and_shows_queue_depth(
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    sqs: Any,
    chalice_client: Any,
    admin_token: str,
) -> None:
    # given a webhook whose stream key Redis refuses, with one attempt allowed
    refused = webhook_settings(redis_server, retry={"max_attempts": 1})
    refused["redis"] = {**refused["redis"], "stream": "not_a_stream"}
    write_config({"redis_test": webhook_settings(redis_server), "refused": refused})
    redis_db.set("not_a_stream", "x")
    # and an event that waited twice on the queue before Redis came back
    waited = make_queue_message(make_envelope(event_id="q-1"), waits=2)
    dead = make_queue_message(make_envelope(webhook_id="refused", event_id="q-2"))
    # when both are drained, and one more event is spilled while Redis is down
    report = drain_batch([DrainRecord("m-1", body_of(waited)), DrainRecord("m-2", body_of(dead))])
    redis_server.stop()
    assert post(chalice_client, "still-queued").status_code == 202
    redis_server.start()
    response = get_stats(chalice_client)
    # then
    assert list(report.outcomes.values()) == [DrainOutcome.DELIVERED, DrainOutcome.DEAD_LETTERED]
    stats = response.json_body
    assert stats["webhooks"]["redis_test"]["delivered_from_queue"] == 1
    assert stats["webhooks"]["redis_test"]["redriven"] == 2
    assert stats["webhooks"]["refused"]["dead_lettered"] == 1
    assert stats["webhooks"]["refused"]["queued"] == 1
    assert stats["queues"]["queue:spillway-retry"]["approximate_number_of_messages"] == 1
    assert stats["queues"]["queue:spillway-dead-letter"]["approximate_number_of_messages"] == 1


def test_stats_reports_a_webhook_whose_redis_is_down_without_failing(
    relay_config: Any, sqs: Any, redis_server: RedisServer, chalice_client: Any, admin_token: str
) -> None:
    # given
    redis_server.stop()
    # when
    response = get_stats(chalice_client)
    # then
    assert response.status_code == 200
    assert "Redis unavailable" in response.json_body["webhooks"]["redis_test"]["error"]


# Embedded metrics


def metric_names(line: dict[str, Any]) -> list[str]:
    return [metric["Name"] for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def test_each_request_writes_one_line_with_its_metrics_in_embedded_metric_format(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, chalice_client: Any, relay_log: Callable[[], list[Any]]
) -> None:
    # when
    post(chalice_client, "emf-1")
    [line] = [line for line in relay_log() if line["message"] == "webhook"]
    # then
    assert metric_names(line) == ["Delivered", "LatencyMs"]
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Spillway"
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["webhook_id"]]
    assert line["Delivered"] == 1
    assert line["LatencyMs"] == line["latency_ms"]
    assert (line["webhook_id"], line["event_id"], line["outcome"]) == ("redis_test", "emf-1", "delivered")


def test_metrics_are_written_even_when_the_log_level_hides_info(
    relay_config: Any,
    sqs: Any,
    redis_db: redis.Redis,
    chalice_client: Any,
    relay_log: Callable[[], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a production log level
    from chalicelib.structured_log import get_logger

    monkeypatch.setattr(get_logger(), "level", 30)
    # when
    post(chalice_client, "emf-2")
    post(chalice_client, "x", webhook_id="no_such_webhook")
    lines = relay_log()
    # then the delivery's metrics are there, and an unknown id (a dimension per guess) is not
    assert [line["event_id"] for line in lines if "_aws" in line] == ["emf-2"]


def test_drain_outcomes_carry_their_metrics(
    relay_config: Any, sqs: Any, redis_db: redis.Redis, redis_server: RedisServer, relay_log: Callable[[], list[Any]]
) -> None:
    # given Redis down, then up
    redis_server.stop()
    drain_batch([DrainRecord("m-1", body_of(make_queue_message(make_envelope(event_id="d-1"))))])
    redis_server.start()
    drain_batch([DrainRecord("m-2", body_of(make_queue_message(make_envelope(event_id="d-2"))))])
    # then
    by_message = {line["message"]: line for line in relay_log() if "_aws" in line}
    assert by_message["redriven"]["Redriven"] == 1
    assert by_message["delivered_from_queue"]["DeliveredFromQueue"] == 1
    assert redis_db.xlen(STREAM) == 1


def test_stats_with_an_invalid_config_answers_503_config_invalid_not_500(
    write_config: WriteConfig, sqs: Any, chalice_client: Any, admin_token: str
) -> None:
    # given a webhooks.json whose webhook lacks its data_type, and the admin's token
    write_config({"broken": {"redis": {"channel": "events"}}})

    # when the admin asks for the stats
    response = chalice_client.http.get("/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    # then the answer says the configuration is invalid, as /health does
    assert response.status_code == 503
    assert response.json_body["error"]["code"] == "config_invalid"
    assert "data_type" in response.json_body["error"]["message"]
