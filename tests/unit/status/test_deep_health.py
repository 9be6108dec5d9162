"""GET /health?deep=1 through Chalice's test client, against a real redis-server and moto's SQS.

Deep checks answer the admin token only (the `admin_token` fixture sets ADMIN_TOKEN)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import redis

from chalicelib.config.model import RedisConnection
from chalicelib.process_state import reset_process_state
from chalicelib.status.health import CheckResult, redis_label, run_probes
from devstack.ports import free_port
from devstack.redis_server import RedisServer
from tests.conftest import ADMIN_TOKEN, DEAD_LETTER_QUEUE, RETRY_QUEUE, WriteConfig, queue_url, webhook_settings

pytestmark = pytest.mark.usefixtures("admin_token")


def get_health(
    client: Any, path: str, authorization: str | None = f"Bearer {ADMIN_TOKEN}"
) -> tuple[int, dict[str, Any]]:
    response = client.http.get(path, headers={"authorization": authorization} if authorization else {})
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.body)


def redis_check_name(server: RedisServer) -> str:
    return f"redis:{server.host}:{server.port}/0"


def test_deep_health_answers_200_with_each_redis_target_and_both_queue_depths(
    relay_config: dict[str, Any], sqs: Any, chalice_client: Any
) -> None:
    # given three webhooks on the test Redis, and two messages waiting on the retry queue
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=queue_url(sqs, RETRY_QUEUE), MessageBody=body)

    # when
    status, body = get_health(chalice_client, "/health?deep=1")

    # then one PING covers the three webhooks, and each queue reports its depth
    assert status == 200
    assert body["status"] == "ok"
    redis_name = next(name for name in body["checks"] if name.startswith("redis:"))
    assert body["checks"][redis_name]["ok"] is True
    assert body["checks"][redis_name]["webhooks"] == ["blob_hook", "form_hook", "redis_test"]
    assert body["checks"][f"queue:{RETRY_QUEUE}"]["approximate_number_of_messages"] == 2
    assert body["checks"][f"queue:{DEAD_LETTER_QUEUE}"]["approximate_number_of_messages"] == 0
    assert set(body["checks"]) == {redis_name, f"queue:{RETRY_QUEUE}", f"queue:{DEAD_LETTER_QUEUE}"}


def test_deep_health_answers_503_naming_the_redis_target_when_redis_is_stopped(
    relay_config: dict[str, Any], redis_server: RedisServer, sqs: Any, chalice_client: Any
) -> None:
    # given Redis stopped (the redis_db fixture starts it again afterwards)
    redis_server.stop()

    # when
    status, body = get_health(chalice_client, "/health?deep=1")

    # then
    name = redis_check_name(redis_server)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["down"] == [name]
    assert body["checks"][name]["ok"] is False
    assert "ConnectionError" in body["checks"][name]["error"]
    assert body["checks"][f"queue:{RETRY_QUEUE}"]["ok"] is True


def test_deep_health_answers_503_naming_the_missing_queue(
    relay_config: dict[str, Any], sqs: Any, chalice_client: Any
) -> None:
    # given the dead-letter queue deleted
    sqs.delete_queue(QueueUrl=queue_url(sqs, DEAD_LETTER_QUEUE))

    # when
    status, body = get_health(chalice_client, "/health?deep=1")

    # then
    assert status == 503
    assert body["down"] == [f"queue:{DEAD_LETTER_QUEUE}"]
    assert "get_queue_url" in body["checks"][f"queue:{DEAD_LETTER_QUEUE}"]["error"]
    assert body["checks"][f"queue:{RETRY_QUEUE}"]["ok"] is True


def test_deep_health_pings_each_distinct_connection_once_and_names_only_the_dead_one(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given two webhooks on the test Redis and one on a port where nothing listens
    dead_port = free_port()
    dead = webhook_settings(redis_server)
    dead["redis"] = {**dead["redis"], "port": dead_port}
    write_config({"a": webhook_settings(redis_server), "b": webhook_settings(redis_server), "c": dead})

    # when
    status, body = get_health(chalice_client, "/health?deep=1")

    # then
    dead_name = f"redis:{redis_server.host}:{dead_port}/0"
    assert status == 503
    assert body["down"] == [dead_name]
    assert body["checks"][redis_check_name(redis_server)]["webhooks"] == ["a", "b"]
    assert body["checks"][dead_name]["webhooks"] == ["c"]


def test_shallow_health_touches_neither_redis_nor_sqs(
    relay_config: dict[str, Any], redis_server: RedisServer, chalice_client: Any
) -> None:
    # given Redis stopped and no SQS at all
    redis_server.stop()

    # when
    status, body = get_health(chalice_client, "/health")

    # then: no webhook ids either, the endpoint is public
    assert status == 200
    assert body == {"status": "ok"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", f"bearer {ADMIN_TOKEN}x"],
    ids=["no_header", "wrong_token", "other_scheme", "token_with_extra"],
)
def test_deep_health_without_the_admin_token_answers_like_the_shallow_check(
    relay_config: dict[str, Any], redis_server: RedisServer, sqs: Any, chalice_client: Any, authorization: str | None
) -> None:
    # given Redis stopped, which the deep check would report with its host, port and error
    redis_server.stop()

    # when
    status, body = get_health(chalice_client, "/health?deep=1", authorization)

    # then no host, port, error, queue depth or webhook id is given away
    assert (status, body) == (200, {"status": "ok"})


def test_deep_health_is_shallow_for_everyone_while_no_admin_token_is_configured(
    relay_config: dict[str, Any], sqs: Any, chalice_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given ADMIN_TOKEN unset
    monkeypatch.delenv("ADMIN_TOKEN")
    reset_process_state()

    # when a caller presents an empty bearer token
    status, body = get_health(chalice_client, "/health?deep=1", "Bearer ")

    # then
    assert (status, body) == (200, {"status": "ok"})


def test_deep_health_with_a_broken_config_answers_503_config_invalid(
    write_config: WriteConfig, chalice_client: Any
) -> None:
    # given
    write_config({"redis_test": {"data_type": "xml"}})

    # when
    status, body = get_health(chalice_client, "/health?deep=1")

    # then
    assert status == 503
    assert body["error"]["code"] == "config_invalid"


def test_a_check_still_running_at_the_deadline_is_reported_down_without_waiting_for_it() -> None:
    # given a probe that would hang for 5 s, and one that answers at once
    release = threading.Event()

    class Hung:
        name = "hung"

        def run(self) -> CheckResult:
            release.wait(5)
            return CheckResult(True, {"ok": True})

    class Quick:
        name = "quick"

        def run(self) -> CheckResult:
            return CheckResult(True, {"ok": True})

    # when
    started = time.monotonic()
    try:
        results = run_probes([Hung(), Quick()], deadline_seconds=0.2)
    finally:
        release.set()

    # then
    assert time.monotonic() - started < 1.0
    assert results["quick"].ok is True
    assert results["hung"].ok is False
    assert "no answer within 0.2 s" in results["hung"].details["error"]


def test_redis_check_names_never_carry_a_password() -> None:
    # given / when
    from_url = redis_label(RedisConnection(url="rediss://user:s3cret@cache.example:6380/2"))
    from_fields = redis_label(RedisConnection(host="cache.example", port=6379, db=1, password="s3cret"))
    from_socket = redis_label(RedisConnection(url="unix:///run/redis.sock?db=0"))

    # then
    assert from_url == "redis:cache.example:6380/2"
    assert from_fields == "redis:cache.example:6379/1"
    assert from_socket == "redis:unix:/run/redis.sock"
