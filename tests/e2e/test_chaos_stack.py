"""Faults on real processes: the HTTP function, the drain's runner, redis-server and SQS each in
a process of its own (devstack/chaos/stack.py), hit by signals as the chaos soak hits them.

The in-process versions of these cases (tests/test_webhook_route.py, tests/test_sqs_event_source.py)
pin the logic; these add what only processes have: a runner that dies without a word, a Redis
that executes a dead client's command when it wakes up, an SQS endpoint that refuses
connections, and many senders at once against one bounded server.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.chaos.faults import messages_in_flight
from devstack.chaos.reconcile import StreamReader, queue_depth
from devstack.chaos.stack import HOST, STREAM, ChaosStack

pytestmark = pytest.mark.e2e

# The default inline budget (webhooks.json leaves it out), and room for the spill's SQS send.
INLINE_BUDGET_SECONDS = 1.5
SPILL_ALLOWANCE_SECONDS = 0.5


def post(stack: ChaosStack, event_id: str, timeout: float = 10.0) -> tuple[int, dict[str, str], float]:
    """Status, headers and seconds taken for one webhook with its own delivery id."""
    connection = http.client.HTTPConnection(HOST, stack.http_port, timeout=timeout)
    started = time.monotonic()
    try:
        headers = {"Content-Type": "application/json", "Idempotency-Key": event_id}
        connection.request("POST", "/webhook/redis_test", body=json.dumps({"id": event_id}), headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders()), time.monotonic() - started
    finally:
        connection.close()


def stream_copies(stack: ChaosStack) -> dict[str, int]:
    client = stack.redis_client()
    try:
        reader = StreamReader(client, STREAM)
        reader.read_new()
        return {event_id: len(delivery.added_at) for event_id, delivery in reader.deliveries.items()}
    finally:
        client.close()


def retry_queue_depth(stack: ChaosStack) -> int | None:
    assert stack.queues is not None
    return queue_depth(stack.admin_sqs(), stack.queues.retry_queue_url)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def drain_outcomes(stack: ChaosStack, event_id: str) -> list[str]:
    """What the runner's drain logged for the event (delivered_from_queue, duplicate, redriven...)."""
    outcomes = []
    with open(stack.runner.log_path) as log:
        for line in log:
            if line.startswith("{") and f'"{event_id}"' in line:
                outcomes.append(json.loads(line)["message"])
    return outcomes


def in_flight(stack: ChaosStack) -> int | None:
    assert stack.queues is not None
    return messages_in_flight(stack.admin_sqs(), stack.queues.retry_queue_url)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ChaosStack]:
    with ChaosStack(str(tmp_path)) as running:
        yield running


def test_runner_killed_mid_batch_leaves_the_message_to_come_back_after_the_visibility_timeout_and_publish_once(
    tmp_path: Path,
) -> None:
    # given a queued event, and a runner that holds it while Redis hangs (a 5 s socket timeout
    # makes "mid-batch" last long enough to aim at); visibility timeout 6 x 1 s
    inline = {"socket_timeout": 5.0, "connect_timeout": 1.0, "budget_seconds": 6.0}
    with ChaosStack(str(tmp_path), drain_timeout_seconds=1, inline=inline) as stack:
        stack.runner.stop()
        stack.crash_redis()
        status, _, _ = post(stack, "killed-mid-batch")
        assert status == 202
        stack.start_redis()
        stack.hang_redis()
        stack.start_runner()
        assert stack.queues is not None
        assert wait_until(lambda: in_flight(stack) == 1, timeout=15), "the runner never took the message"

        # when the runner is SIGKILLed with its publish sent to the hung Redis, then everything comes back
        killed_at = time.monotonic()
        stack.crash_runner()
        stack.resume_redis()
        stack.start_runner()

        # then the message was neither deleted nor redriven by the dead runner: it reappears after the
        # visibility timeout, and the new runner settles it; the stream has the event once
        assert retry_queue_depth(stack) == 1
        assert wait_until(lambda: retry_queue_depth(stack) == 0, timeout=30)
        settled_after = time.monotonic() - killed_at
        assert settled_after >= 6 * 1 - 1.5  # the visibility timeout, less the time it was already held
        assert stream_copies(stack) == {"killed-mid-batch": 1}
        # published either by the dead runner's command (Redis ran it on waking) or by the new one
        assert drain_outcomes(stack, "killed-mid-batch") in (["duplicate"], ["delivered_from_queue"])


def test_redis_and_sqs_both_down_answers_503_with_retry_after_and_stores_nothing(stack: ChaosStack) -> None:
    # given Redis crashed and the SQS endpoint refuses connections
    stack.crash_redis()
    stack.cut_sqs()

    # when
    status, headers, seconds = post(stack, "nowhere-to-go")

    # then the sender is told to come back, promptly
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert seconds < INLINE_BUDGET_SECONDS + 1.0
    # and once both are back, nothing was accepted anywhere: not on the stream, not on the queue
    stack.heal()
    time.sleep(1.0)
    assert retry_queue_depth(stack) == 0
    assert stream_copies(stack) == {}


def test_hung_redis_answers_every_concurrent_sender_within_the_inline_budget(stack: ChaosStack) -> None:
    # given Redis hangs (SIGSTOP: connections are accepted, nothing answers)
    stack.hang_redis()
    answers: dict[str, tuple[int, float]] = {}

    def send(event_id: str) -> None:
        status, _, seconds = post(stack, event_id)
        answers[event_id] = (status, seconds)

    # when 24 senders post at once (more than the Redis connection pool's 16)
    senders = [threading.Thread(target=send, args=(f"hung-{n:02d}",)) for n in range(24)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=15)

    # then every one is queued, none waited longer than the inline budget and the spill
    assert sorted(status for status, _ in answers.values()) == [202] * 24
    slowest = max(seconds for _, seconds in answers.values())
    assert slowest < INLINE_BUDGET_SECONDS + SPILL_ALLOWANCE_SECONDS
    # and once Redis is back, the drain delivers each exactly once
    stack.resume_redis()
    assert wait_until(lambda: len(stream_copies(stack)) == 24, timeout=60)
    assert set(stream_copies(stack).values()) == {1}


def test_redis_crashed_right_after_a_200_keeps_the_event_on_restart(stack: ChaosStack) -> None:
    """The soak counts an event answered 200 as Redis's to keep. With appendfsync everysec this
    failed every time: Redis answered while an fsync was in progress and had not written the
    event yet, so the SIGKILL lost it. The stack runs appendfsync always."""
    # given an event delivered inline (200: Redis acknowledged it)
    assert post(stack, "kept")[0] == 200
    # when Redis is SIGKILLed at once and started again from its append-only file
    stack.crash_redis()
    stack.start_redis()
    # then the event is still there
    assert stream_copies(stack) == {"kept": 1}
