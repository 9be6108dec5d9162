"""The one-command local stack, and the seed's outage drill aimed at it, end to end over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.chaos.outage import DrillOptions, run_drill
from devstack.chaos.stack import ExternalStack
from devstack.ports import free_port
from devstack.redis_server import RedisServer
from devstack.stack import LocalStack, StackError, StackOptions, StackSummary
from operations.claim_check_bucket import s3_admin_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(StackOptions.isolated_stack(str(tmp_path)))
    local.start()
    yield local
    local.stop()


def post(summary: StackSummary, body: dict[str, Any], delivery_id: str) -> tuple[int, dict[str, Any]]:
    host, port = summary.http_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery_id}
        connection.request("POST", "/webhook/redis_test", body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def stream_ids(redis_url: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(fields[b"event"])["id"] for _, fields in client.xrange("webhook_events")]
    finally:
        client.close()


def wait_for_ids(redis_url: str, wanted: set[str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        seen = stream_ids(redis_url)
        if wanted <= set(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_stack_delivers_inline_and_drains_a_spilled_event_once_redis_returns(stack: LocalStack) -> None:
    # given the stack is up
    summary = stack.summary
    assert summary is not None and stack.redis_server is not None
    assert summary.redis_started and summary.sqs_started
    # when Redis is up
    assert post(summary, {"n": 1}, "stack-1") == (200, {"status": "delivered", "event_id": "stack-1"})
    # when Redis is stopped
    stack.redis_server.stop()
    assert post(summary, {"n": 2}, "stack-2") == (202, {"status": "queued", "event_id": "stack-2"})
    # when Redis comes back, with no one touching the stack
    stack.redis_server.start()
    seen = wait_for_ids(summary.redis_url, {"stack-1", "stack-2"}, timeout=30)
    # then the drain has delivered the queued event, once
    assert sorted(seen) == ["stack-1", "stack-2"]


def test_stack_keeps_a_large_event_in_its_bucket_through_a_redis_outage_and_delivers_it_intact(
    stack: LocalStack,
) -> None:
    # given the stack is up, its claim check on by default, and Redis stopped
    summary = stack.summary
    assert summary is not None and stack.redis_server is not None
    assert summary.large_payload_bucket == "spillway-large-payloads"
    s3 = s3_admin_client("us-east-1", endpoint_url=summary.sqs_endpoint)
    stack.redis_server.stop()
    body = {"blob": "x" * (3 * 1024 * 1024)}

    # when a 3 MiB event arrives
    assert post(summary, body, "stack-large") == (202, {"status": "queued", "event_id": "stack-large"})
    assert s3.list_objects_v2(Bucket=summary.large_payload_bucket)["KeyCount"] == 1
    # and Redis comes back, with no one touching the stack
    stack.redis_server.start()
    seen = wait_for_ids(summary.redis_url, {"stack-large"}, timeout=30)

    # then the drain delivered it, the same payload, and deleted its object
    assert seen == ["stack-large"]
    client = redis.Redis.from_url(summary.redis_url)
    try:
        [(_, fields)] = client.xrange("webhook_events")
    finally:
        client.close()
    assert json.loads(fields[b"event"])["payload"] == body
    assert s3.list_objects_v2(Bucket=summary.large_payload_bucket)["KeyCount"] == 0


def test_second_stack_on_the_same_http_port_says_what_is_in_the_way(stack: LocalStack, tmp_path: Path) -> None:
    # given a stack serving HTTP on some port
    assert stack.http is not None
    options = StackOptions.isolated_stack(str(tmp_path / "second"))
    options.http_port = stack.http.port
    second = LocalStack(options)
    # when / then
    with pytest.raises(StackError, match=str(stack.http.port)):
        second.start()
    assert second.redis_server is None and second.sqs_server is None


def test_stack_stop_leaves_no_thread_and_no_server_behind(tmp_path: Path) -> None:
    # given
    threads_before = set(threading.enumerate())
    local = LocalStack(StackOptions.isolated_stack(str(tmp_path)))
    summary = local.start()
    redis_server = local.redis_server
    assert redis_server is not None
    # when
    started = time.monotonic()
    local.stop()
    stop_seconds = time.monotonic() - started
    # then
    assert not redis_server.running
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftover == [], leftover
    assert stop_seconds < 10
    with pytest.raises(OSError):
        http.client.HTTPConnection(*summary.http_url.removeprefix("http://").split(":"), timeout=1).connect()


class PidSwitch:
    """Stops and starts the stack's Redis by PID, as --stop-redis-cmd and --start-redis-cmd would."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server

    def stop_redis(self) -> None:
        self.server.stop()

    def start_redis(self) -> None:
        self.server.start()

    def describe(self) -> str:
        return "stopped and started by PID"


def running_elsewhere(stack: LocalStack, sqs_endpoint: str) -> ExternalStack:
    summary, server = stack.summary, stack.redis_server
    assert summary is not None and server is not None
    return ExternalStack(summary.http_url, summary.redis_url, PidSwitch(server), sqs_endpoint=sqs_endpoint)


def test_outage_drill_aimed_at_a_running_stack_delivers_all_twenty_events_exactly_once(stack: LocalStack) -> None:
    # given the seed's scenario aimed at a stack running elsewhere, its queues checked too
    assert stack.summary is not None
    target = running_elsewhere(stack, stack.summary.sqs_endpoint)
    target.start()
    # when Redis is down for a short outage
    report = run_drill(target, DrillOptions(outage_seconds=3, deadline_seconds=60))
    # then
    print(report.table())
    assert [planned.event.answers for planned in report.planned] == [[200]] * 5 + [[202]] * 15
    assert report.delivered_once == 20
    assert report.outcome.reconciliation.duplicates == 0
    assert report.outcome.reconciliation.dead_letters == 0
    assert report.passed


def test_outage_drill_refuses_an_sqs_endpoint_that_does_not_answer(stack: LocalStack) -> None:
    # given a running stack, and an SQS endpoint where nothing listens
    silent = f"http://127.0.0.1:{free_port()}"
    target = running_elsewhere(stack, silent)
    # when / then the drill stops before it sends anything, naming the endpoint
    with pytest.raises(StackError, match=f"SQS endpoint {silent} .* does not answer"):
        target.start()
