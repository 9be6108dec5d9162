"""Faults on a seeded random schedule, and the threads that inflict them on a ChaosStack.

Two tracks run side by side. The infrastructure track takes Redis and SQS down one episode at
a time (now and then both at once, the only way a sender can get a 503). The runner track
SIGKILLs the drain's event-source runner, preferably while it holds messages in flight, and
restarts it. Every kind of infrastructure fault comes once before any comes twice, so a short
run still meets them all.

Against a Redis Cluster (`make chaos ARGS=--cluster`) the Redis faults are the cluster's own,
each on the shard that holds the webhook's stream: its primary SIGKILLed (the cluster promotes
the replica; the node comes back as a replica), a coordinated CLUSTER FAILOVER, and replica lag
(the replica SIGSTOPped, so WAIT falls short). A whole-Redis outage stays the default soak's.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devstack.chaos.stack import ChaosStack


class FaultKind(enum.Enum):
    REDIS_STOP = "redis_stop"
    REDIS_CRASH = "redis_crash"
    REDIS_HANG = "redis_hang"
    SQS_CUT = "sqs_cut"
    SQS_HANG = "sqs_hang"
    REDIS_AND_SQS_DOWN = "redis_and_sqs_down"
    REDIS_AND_SQS_HANG = "redis_and_sqs_hang"
    RUNNER_CRASH = "runner_crash"
    CLUSTER_PRIMARY_CRASH = "cluster_primary_crash"
    CLUSTER_FAILOVER = "cluster_failover"
    CLUSTER_REPLICA_LAG = "cluster_replica_lag"


INFRASTRUCTURE_FAULTS = (
    FaultKind.REDIS_STOP,
    FaultKind.REDIS_CRASH,
    FaultKind.REDIS_HANG,
    FaultKind.SQS_CUT,
    FaultKind.SQS_HANG,
    FaultKind.REDIS_AND_SQS_DOWN,
    FaultKind.REDIS_AND_SQS_HANG,
)
CLUSTER_INFRASTRUCTURE_FAULTS = (
    FaultKind.CLUSTER_PRIMARY_CRASH,
    FaultKind.CLUSTER_FAILOVER,
    FaultKind.CLUSTER_REPLICA_LAG,
    FaultKind.SQS_CUT,
    FaultKind.SQS_HANG,
)
# Seconds a fault lasts: long enough to open the circuit breaker (3 failures) and to make the
# drain redrive, short enough that a soak of minutes sees many.
DURATIONS: dict[FaultKind, tuple[float, float]] = {
    FaultKind.REDIS_STOP: (2.0, 8.0),
    FaultKind.REDIS_CRASH: (2.0, 8.0),
    FaultKind.REDIS_HANG: (1.0, 6.0),
    FaultKind.SQS_CUT: (2.0, 8.0),
    FaultKind.SQS_HANG: (1.0, 5.0),
    FaultKind.REDIS_AND_SQS_DOWN: (2.0, 6.0),
    FaultKind.REDIS_AND_SQS_HANG: (1.0, 4.0),
    FaultKind.RUNNER_CRASH: (0.5, 4.0),
    # Long enough for the cluster to call the primary failed (node timeout 1 s) and promote.
    FaultKind.CLUSTER_PRIMARY_CRASH: (3.0, 8.0),
    # The switch itself is done when it returns; this is the calm after it.
    FaultKind.CLUSTER_FAILOVER: (1.0, 3.0),
    FaultKind.CLUSTER_REPLICA_LAG: (1.0, 6.0),
}
INFRASTRUCTURE_GAP_SECONDS = (2.0, 8.0)
RUNNER_GAP_SECONDS = (5.0, 15.0)
# No fault in the first seconds: the stack is seen working before it is broken.
WARM_UP_SECONDS = 2.0
# How long a runner crash waits for the runner to hold messages in flight (mid-batch).
IN_FLIGHT_WAIT_SECONDS = 3.0


@dataclass(frozen=True)
class Fault:
    at: float
    kind: FaultKind
    seconds: float


def _track(
    rng: random.Random,
    kinds: Callable[[], FaultKind],
    gap: tuple[float, float],
    window_seconds: float,
) -> list[Fault]:
    faults: list[Fault] = []
    at = WARM_UP_SECONDS + rng.uniform(*gap) / 2
    while True:
        kind = kinds()
        seconds = rng.uniform(*DURATIONS[kind])
        if at + seconds > window_seconds:
            return faults
        faults.append(Fault(round(at, 2), kind, round(seconds, 2)))
        at += seconds + rng.uniform(*gap)


def fault_plan(seed: int, window_seconds: float, *, cluster: bool = False) -> tuple[list[Fault], list[Fault]]:
    """The infrastructure track and the runner track, each in time order, all within the window."""
    infrastructure_rng = random.Random(f"{seed}-infrastructure")
    order: list[FaultKind] = []
    kinds = CLUSTER_INFRASTRUCTURE_FAULTS if cluster else INFRASTRUCTURE_FAULTS

    def next_infrastructure_kind() -> FaultKind:
        if not order:
            order.extend(kinds)
            infrastructure_rng.shuffle(order)
        return order.pop()

    runner_rng = random.Random(f"{seed}-runner")
    return (
        _track(infrastructure_rng, next_infrastructure_kind, INFRASTRUCTURE_GAP_SECONDS, window_seconds),
        _track(runner_rng, lambda: FaultKind.RUNNER_CRASH, RUNNER_GAP_SECONDS, window_seconds),
    )


@dataclass
class FaultRecord:
    kind: FaultKind
    started_at: float
    ended_at: float | None = None
    detail: str = ""


def _begin(stack: ChaosStack, kind: FaultKind) -> str:
    """Inflicts the fault; returns a note for the record."""
    if kind is FaultKind.REDIS_STOP:
        stack.stop_redis()
    elif kind is FaultKind.REDIS_CRASH:
        stack.crash_redis()
    elif kind is FaultKind.REDIS_HANG:
        stack.hang_redis()
    elif kind is FaultKind.SQS_CUT:
        stack.cut_sqs()
    elif kind is FaultKind.SQS_HANG:
        stack.hang_sqs()
    elif kind is FaultKind.REDIS_AND_SQS_DOWN:
        stack.crash_redis()
        stack.cut_sqs()
    elif kind is FaultKind.REDIS_AND_SQS_HANG:
        stack.hang_redis()
        stack.hang_sqs()
    elif kind is FaultKind.CLUSTER_PRIMARY_CRASH:
        return stack.crash_stream_primary()
    elif kind is FaultKind.CLUSTER_FAILOVER:
        return stack.fail_over_stream_shard()
    elif kind is FaultKind.CLUSTER_REPLICA_LAG:
        return stack.hang_stream_replica()
    elif kind is FaultKind.RUNNER_CRASH:
        in_flight = _wait_for_messages_in_flight(stack, IN_FLIGHT_WAIT_SECONDS)
        stack.crash_runner()
        return f"{in_flight} message(s) in flight" if in_flight is not None else "in flight unknown"
    return ""


def _end(stack: ChaosStack, kind: FaultKind) -> None:
    if kind in (FaultKind.REDIS_STOP, FaultKind.REDIS_CRASH, FaultKind.REDIS_AND_SQS_DOWN):
        stack.start_redis()
    if kind in (FaultKind.REDIS_HANG, FaultKind.REDIS_AND_SQS_HANG):
        stack.resume_redis()
    if kind in (FaultKind.SQS_CUT, FaultKind.REDIS_AND_SQS_DOWN):
        stack.restore_sqs()
    if kind in (FaultKind.SQS_HANG, FaultKind.REDIS_AND_SQS_HANG):
        stack.resume_sqs()
    if kind is FaultKind.RUNNER_CRASH:
        stack.start_runner()
    if kind in (FaultKind.CLUSTER_PRIMARY_CRASH, FaultKind.CLUSTER_REPLICA_LAG):
        stack.heal_cluster()


def messages_in_flight(sqs: Any, queue_url: str) -> int | None:
    """Received but not yet deleted; None while SQS cannot say (moto hung)."""
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
    except Exception:
        return None
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _wait_for_messages_in_flight(stack: ChaosStack, timeout: float) -> int | None:
    assert stack.queues is not None
    sqs = stack.admin_sqs()  # built by start(), in one thread: boto3 builds clients unsafely across threads
    deadline = time.monotonic() + timeout
    in_flight = messages_in_flight(sqs, stack.queues.retry_queue_url)
    while not in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
        in_flight = messages_in_flight(sqs, stack.queues.retry_queue_url)
    return in_flight


class FaultInjector:
    """Runs each track in its own thread; stop() cuts the current fault short and heals it."""

    def __init__(
        self,
        stack: ChaosStack,
        tracks: tuple[list[Fault], ...],
        on_record: Callable[[FaultRecord], None] | None = None,
    ) -> None:
        self.stack = stack
        self.tracks = tracks
        self.on_record = on_record
        self.records: list[FaultRecord] = []
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0

    def start(self) -> None:
        self._started_at = time.monotonic()
        for index, track in enumerate(self.tracks):
            thread = threading.Thread(target=self._run, args=(track,), name=f"faults-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, track: list[Fault]) -> None:
        for fault in track:
            if self.stopping.wait(max(0.0, self._started_at + fault.at - time.monotonic())):
                return
            record = FaultRecord(fault.kind, time.monotonic() - self._started_at)
            self.records.append(record)
            try:
                record.detail = _begin(self.stack, fault.kind)
                if self.on_record is not None:
                    self.on_record(record)
                self.stopping.wait(fault.seconds)
            finally:
                _end(self.stack, fault.kind)
                record.ended_at = time.monotonic() - self._started_at
