"""The one-command local stack and the seed's outage drill, end to end over real HTTP."""

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

from devstack.outage_drill import format_report, run_drill
from devstack.stack import LocalStack, StackError, StackOptions, StackSummary

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


def test_outage_drill_delivers_all_twenty_events_exactly_once(stack: LocalStack) -> None:
    # given the seed's scenario against a stack of its own, Redis stopped by PID
    summary = stack.summary
    server = stack.redis_server
    assert summary is not None and server is not None

    class Switch:
        def stop_redis(self) -> None:
            server.stop()

        def start_redis(self) -> None:
            server.start()

    # when
    report = run_drill(summary.http_url, summary.redis_url, Switch(), outage_seconds=30, deadline_seconds=90)
    # then
    print(format_report(report))
    assert [event.status for event in report.events] == [200] * 5 + [202] * 15
    assert report.delivered_once == 20
    assert report.duplicates == 0
    assert report.passed
