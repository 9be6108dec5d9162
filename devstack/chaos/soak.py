"""The soak: senders and faults at once, then heal, wait for the queues to drain, reconcile."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import redis

from devstack.chaos.faults import FaultInjector, FaultRecord, fault_plan
from devstack.chaos.reconcile import Delivery, Reconciliation, StreamReader, reconcile
from devstack.chaos.senders import SenderPolicy, SenderPool, SentEvent, event_id_for, webhook_url
from devstack.chaos.stack import STREAM, WEBHOOK_ID, ChaosStack, RelayStack

PROGRESS_EVERY_SECONDS = 10.0
DRAIN_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class SoakOptions:
    events: int = 10_000
    seconds: float = 150.0
    senders: int = 32
    seed: int = 1
    # After the last sender is done: redrives wait up to 10 s (the seed's max_delay) and a batch
    # lost with a killed runner comes back after the 12 s visibility timeout.
    drain_deadline_seconds: float = 120.0
    faults: bool = True
    # A local Redis Cluster with min_replicas_acked 1, and the cluster's faults (faults.py).
    cluster: bool = False
    sender_policy: SenderPolicy = field(default_factory=SenderPolicy)
    # Keep the processes' logs here; by default a temporary folder, removed when the soak passes.
    work_dir: str | None = None


@dataclass
class SoakReport:
    options: SoakOptions
    reconciliation: Reconciliation
    faults: list[FaultRecord]
    unexpected_exits: list[str]
    drained: bool
    drain_seconds: float
    work_dir: str
    elapsed_seconds: float = 0.0
    fault_counts: dict[str, int] = field(default_factory=dict)
    logs_kept: bool = True

    @property
    def passed(self) -> bool:
        return self.reconciliation.passed and self.drained and not self.unexpected_exits

    def summary_line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        faults = len(self.faults)
        seed = f"{self.options.seed}{' (cluster)' if self.options.cluster else ''}"
        return f"chaos seed {seed}: {self.reconciliation.summary_line()}, faults {faults}: {verdict}"

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seed": self.options.seed,
            "cluster": self.options.cluster,
            "events": self.options.events,
            "seconds": self.options.seconds,
            "senders": self.options.senders,
            **self.reconciliation.as_json(),
            "drained": self.drained,
            "drain_seconds": round(self.drain_seconds, 1),
            "elapsed_seconds": round(self.elapsed_seconds, 1),
            "unexpected_exits": self.unexpected_exits,
            "faults": self.fault_counts,
            "logs": self.work_dir if self.logs_kept else None,
        }


def _unexpected_exits(stack: ChaosStack) -> list[str]:
    """Processes down although every fault has been undone: they died by themselves."""
    redis_running = all(node.running for node in stack.redis_nodes)
    processes = {"redis-server": redis_running, **{p.name: p.running for p in stack.processes}}
    return sorted(name for name, running in processes.items() if not running)


def _wait_for_drain(
    stack: RelayStack, reader: StreamReader, accepted_ids: set[str], deadline_seconds: float
) -> tuple[bool, float]:
    """Until every accepted event is on the stream and the retry queue is empty (when the stack's
    queues are looked at), or the deadline."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(redis.RedisError):
            reader.read_new()
        if accepted_ids <= reader.deliveries.keys() and _retry_queue_empty(stack):
            return True, time.monotonic() - started
        if time.monotonic() - started > deadline_seconds:
            return False, time.monotonic() - started
        time.sleep(DRAIN_POLL_SECONDS)


def _retry_queue_empty(stack: RelayStack) -> bool:
    depths = stack.queue_depths()
    return depths is None or depths.retry == 0


def _progress(events: list[SentEvent], pool: SenderPool, elapsed: float) -> str:
    answers = [status for event in events[: pool.taken] for status in event.answers]
    accepted = sum(event.accepted for event in events[: pool.taken])
    return (
        f"t+{elapsed:5.1f} s: {pool.taken}/{len(events)} taken, {accepted} accepted, "
        f"503 answers {answers.count(503)}, no answer {answers.count(0)}"
    )


def _send_under_faults(
    options: SoakOptions, events: list[SentEvent], pool: SenderPool, injector: FaultInjector, say: Callable[[str], None]
) -> None:
    """Returns once every sender is done (or past a deadline) and every fault is undone."""
    started = time.monotonic()
    injector.start()
    pool.start()
    deadline = started + options.seconds + options.sender_policy.max_seconds + 30
    while not pool.wait(PROGRESS_EVERY_SECONDS):
        say(_progress(events, pool, time.monotonic() - started))
        if time.monotonic() > deadline:
            say("senders still busy past their deadline: stopping them")
            break
    pool.abort()
    injector.stop()


@dataclass(frozen=True)
class DrainOutcome:
    reconciliation: Reconciliation
    # Every copy of every event on the stream, by event id.
    deliveries: dict[str, Delivery]
    drained: bool
    seconds: float


def drain_and_reconcile(
    stack: RelayStack,
    run_id: str,
    events: list[SentEvent],
    deadline_seconds: float,
    *,
    stream: str = STREAM,
    stream_after: str = "-",
) -> DrainOutcome:
    """Waits (bounded) for the drain, then reconciles what was sent against the stream (its
    entries after stream_after) and the queues."""
    client = stack.redis_client()
    try:
        reader = StreamReader(client, stream, after=stream_after)
        accepted_ids = {event.event_id for event in events if event.accepted}
        drained, drain_seconds = _wait_for_drain(stack, reader, accepted_ids, deadline_seconds)
        reader.read_new()
    finally:
        client.close()
    reconciliation = reconcile(run_id, events, reader.deliveries, stack.queue_depths())
    return DrainOutcome(reconciliation, reader.deliveries, drained, drain_seconds)


def run_soak(options: SoakOptions, out: TextIO | None = None) -> SoakReport:
    def say(line: str) -> None:
        if out is not None:
            print(line, file=out, flush=True)

    started = time.monotonic()
    run_id = f"{options.seed}-{uuid.uuid4().hex[:6]}"
    work_dir = options.work_dir or tempfile.mkdtemp(prefix="spillway-chaos-")
    stack = ChaosStack(work_dir, cluster=options.cluster)
    events = [SentEvent(sequence, event_id_for(run_id, sequence)) for sequence in range(options.events)]
    pool = SenderPool(
        webhook_url(stack.http_url, WEBHOOK_ID),
        run_id,
        events,
        seconds=options.seconds,
        senders=options.senders,
        policy=options.sender_policy,
        seed=options.seed,
    )
    tracks = fault_plan(options.seed, options.seconds, cluster=options.cluster) if options.faults else ([], [])
    injector = FaultInjector(stack, tracks, on_record=_fault_announcer(say))
    stack.start()
    try:
        say(f"stack up: HTTP {stack.http_url}, Redis {stack.redis_url}, SQS {stack.sqs_url} (moto {stack.moto_url})")
        say(
            f"{options.events} events over {options.seconds:g} s from {options.senders} senders; "
            f"{sum(len(track) for track in tracks)} faults planned (seed {options.seed})"
        )
        _send_under_faults(options, events, pool, injector, say)
        unexpected = _unexpected_exits(stack)
        stack.heal()
        say("sending done; every fault healed; waiting for the drain")
        outcome = drain_and_reconcile(stack, run_id, events, options.drain_deadline_seconds)
    finally:
        pool.abort()
        injector.stop()
        stack.close()
    report = SoakReport(
        options=options,
        reconciliation=outcome.reconciliation,
        faults=injector.records,
        unexpected_exits=unexpected,
        drained=outcome.drained,
        drain_seconds=outcome.seconds,
        work_dir=work_dir,
        elapsed_seconds=time.monotonic() - started,
        fault_counts=dict(Counter(record.kind.value for record in injector.records)),
    )
    if report.passed and options.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
        report.logs_kept = False
    return report


def _fault_announcer(say: Callable[[str], None]) -> Callable[[FaultRecord], None]:
    """t+ counts from the start of sending, as the fault plan and the progress lines do."""

    def announce(record: FaultRecord) -> None:
        detail = f" ({record.detail})" if record.detail else ""
        say(f"t+{record.started_at:5.1f} s: fault {record.kind.value}{detail}")

    return announce
