"""A primary and its replica behind a stable address (a TCP proxy, as node-based ElastiCache's
primary endpoint is a DNS name that moves): the primary is SIGKILLed with writes it has not
replicated yet, the replica is promoted, and the address moves to it.

With min_replicas_acked 1 every event answered 200 or 202 is in the promoted node's stream
exactly once, once the drain has run; with 0 (no WAIT) events answered 200 are gone: the test
can tell the two apart."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.ports import free_port, port_accepts
from devstack.processes import ManagedProcess
from devstack.redis_cluster import ReplicatedRedis
from devstack.redis_server import RedisServer
from tests.conftest import STREAM, WriteConfig
from tests.queue_events import drain_retry_queue

pytestmark = pytest.mark.e2e

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JSON = {"Content-Type": "application/json"}
FILLER_BYTES = 256 * 1024
# The replica's socket buffers hold a few MB at most: this much filler always backs the link up.
MAX_FILLER_WRITES = 2_000


class StableAddress:
    """A port that forwards to whichever node is primary now: scripts/tcp_proxy.py in a process
    of its own, restarted on the same port to point elsewhere."""

    def __init__(self, target: RedisServer):
        self.host, self.port = "127.0.0.1", free_port()
        self.process: ManagedProcess | None = None
        self.point_at(target)

    def point_at(self, target: RedisServer) -> None:
        self.close()
        self.process = ManagedProcess(
            "redis endpoint",
            [
                *(sys.executable, "-m", "scripts.tcp_proxy"),
                *("--listen-port", str(self.port), "--target-port", str(target.port)),
            ],
            env=dict(os.environ),
            log_path=None,
            cwd=PROJECT_DIR,
            ready=lambda: port_accepts(self.host, self.port),
        )
        self.process.start()

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None


@pytest.fixture
def pair() -> Iterator[ReplicatedRedis]:
    with ReplicatedRedis() as started:
        yield started


@pytest.fixture
def endpoint(pair: ReplicatedRedis) -> Iterator[StableAddress]:
    address = StableAddress(pair.primary)
    try:
        yield address
    finally:
        address.close()


def post(chalice_client: Any, event_id: str) -> int:
    response = chalice_client.http.post(
        "/webhook/hook", headers={**JSON, "Idempotency-Key": event_id}, body=json.dumps({"id": event_id})
    )
    return int(response.status_code)


def replica_output_bytes(primary: RedisServer) -> int:
    client = primary.client()
    try:
        replicas = [entry for entry in client.client_list() if "S" in entry["flags"]]
    finally:
        client.close()
    return sum(int(entry["omem"]) for entry in replicas)


def back_up_replication(primary: RedisServer) -> None:
    """With the replica stopped, write filler until the primary holds replication output of its
    own (omem > 0): what comes after stays in the primary's memory, and dies with it. (Writes the
    kernel's socket buffers already hold reach a replica that resumes.)"""
    client = primary.client()
    try:
        for number in range(MAX_FILLER_WRITES):
            client.set(f"filler:{number}", b"x" * FILLER_BYTES)
            if replica_output_bytes(primary) > 0:
                return
    finally:
        client.close()
    raise AssertionError("the replication link never backed up")


@pytest.mark.parametrize(("replicas", "loses_events"), [(1, False), (0, True)])
def test_events_answered_before_a_primary_crash_survive_only_with_replica_acknowledgement(
    replicas: int,
    loses_events: bool,
    pair: ReplicatedRedis,
    endpoint: StableAddress,
    write_config: WriteConfig,
    sqs: Any,
    chalice_client: Any,
) -> None:
    # given: the relay talks to the stable address
    write_config(
        {
            "hook": {
                "data_type": "json",
                "redis": {
                    "host": endpoint.host,
                    "port": endpoint.port,
                    "stream": STREAM,
                    "min_replicas_acked": replicas,
                    "replica_ack_timeout_ms": 100,
                },
                "retry": {"initial_delay": 0.0, "max_delay": 0.0},
                "inline": {"breaker_reset_seconds": 0.5},
            }
        }
    )
    answers: dict[str, int] = {}
    for number in range(5):
        answers[f"healthy-{number}"] = post(chalice_client, f"healthy-{number}")
    # when: the replica stops, the link backs up, events arrive, and the primary dies
    pair.replica.pause()
    back_up_replication(pair.primary)
    for number in range(10):
        answers[f"unreplicated-{number}"] = post(chalice_client, f"unreplicated-{number}")
    pair.primary.kill()
    pair.replica.resume()
    for number in range(3):
        answers[f"no-primary-{number}"] = post(chalice_client, f"no-primary-{number}")
    # when: the replica is promoted and the address moves to it
    promoted = pair.replica
    client = promoted.client()
    try:
        client.replicaof("NO", "ONE")
    finally:
        client.close()
    endpoint.point_at(promoted)
    # and: a new replica follows it (until then WAIT 1 cannot be met: every event waits)
    with RedisServer() as new_replica:
        ReplicatedRedis.follow(new_replica, promoted)
        time.sleep(0.6)  # past breaker_reset_seconds: the circuit lets a probe through again
        for number in range(5):
            answers[f"promoted-{number}"] = post(chalice_client, f"promoted-{number}")
        outcomes = drain_retry_queue(sqs)
    # then
    assert set(answers.values()) <= {200, 202}, answers
    assert not {"dead_lettered", "failed"} & set(outcomes), Counter(outcomes)
    if replicas:
        assert {answers[f"unreplicated-{number}"] for number in range(10)} == {202}
    reader = promoted.client()
    try:
        copies = Counter(json.loads(fields[b"event"])["id"] for _, fields in reader.xrange(STREAM))
    finally:
        reader.close()
    assert [event_id for event_id, count in copies.items() if count > 1] == []
    lost = sorted(set(answers) - set(copies))
    if loses_events:
        # Answered 200 by the primary alone, never replicated: the loss WAIT exists to prevent.
        assert lost, answers
        assert all(answers[event_id] == 200 for event_id in lost)
    else:
        assert lost == []
