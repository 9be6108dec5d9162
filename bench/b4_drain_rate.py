"""B4: events per second draining a retry-queue backlog once Redis is back, against the raw
ReceiveMessage(10) + DeleteMessageBatch rate of the same endpoint with no handler. B6b: the
drain's peak RSS.

The backlog is real queue messages (new_queue_message + encode_queue_message over envelopes
the door would build), sent with SendMessageBatch to moto's server. The drain is the real
one: devstack's SqsEventSource polling the queue and invoking app.py's `drain` handler, timed
until the Redis stream holds every event. Raw and drain each run in a child process of their
own, from the same backlog size.

Rounds alternate which drain goes first (raw, drain; then drain, raw), each from a fresh
backlog of new events; each rate is the median of its rounds.

Why not 10,000 events by default: moto 5.2's SQS does work proportional to the backlog on
every call (SendMessage computes the queue's attributes over all messages; ReceiveMessage and
DeleteMessage scan them), so 10,000 take over an hour to fill and drain; 2,000 drained at
~16 events/s. The default, 2 rounds of 500 (--quick: 1 round of 300), takes about a minute.
`--events 10000 --rounds 1 --deadline-seconds 5400` runs the issue's figure where time allows.
Because moto's cost per call dominates, the ratio measures what the handler adds on top of the
endpoint; the note gives the handler's own time per event.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.api_gateway import BENCH_WEBHOOK_ID, github_headers, github_push_payload
from bench.processes import ChildRun, bench_command, moto_sqs_process, run_measured
from bench.relay_setup import DEAD_LETTER_QUEUE, RETRY_QUEUE, STREAM, bench_relay, import_app
from bench.results import Row, Target, benchmark_main, exit_cleanly_on_sigterm, figure_row

DRAIN_TARGET = Target(0.8, at_most=False)
RSS_TARGET = Target(80, at_most=True, on_ratio=False, unit="MB")
# As the local stack sets it (devstack.stack.LOCAL_DRAIN_TIMEOUT_SECONDS).
DRAIN_TIMEOUT_SECONDS = 10
SQS_BATCH = 10
# Empty receives in a row (each a 1 s long poll) before the raw drain stops looking.
EMPTY_RECEIVES_TO_STOP = 3
DRAIN_HANDLER = "drain"
WORKER_KINDS = ("raw", "drain")


def queue_message_bodies(events: int) -> list[str]:
    """Queue messages as the spill writes them, each a distinct event of the bench webhook."""
    from chalicelib.config.settings import get_relay_config
    from chalicelib.door.envelope_builder import build_envelope
    from chalicelib.envelope import utc_timestamp
    from chalicelib.queue.message import encode_queue_message, new_queue_message
    from chalicelib.verification.verified import NO_SIGNED_ID

    webhook = get_relay_config().webhook(BENCH_WEBHOOK_ID)
    if webhook is None:
        raise RuntimeError(f"no {BENCH_WEBHOOK_ID} webhook in the bench configuration")
    body = github_push_payload().encode()
    now = datetime.now(UTC)
    bodies = []
    for _ in range(events):
        headers = {name.lower(): value for name, value in github_headers(body, str(uuid.uuid4())).items()}
        envelope = build_envelope(webhook, body, headers, now, NO_SIGNED_ID)
        message = new_queue_message(envelope, utc_timestamp(now), "ConnectionError: Redis was down (bench)")
        bodies.append(encode_queue_message(message))
    return bodies


def fill_queue(sqs: Any, queue_url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[start : start + SQS_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)]
        )
        if response.get("Failed"):
            raise RuntimeError(f"SendMessageBatch refused {response['Failed'][0]}")


# --- the two workers, each in a child process -------------------------------------------


def drain_raw(queue_url: str, events: int, deadline: float) -> dict[str, float]:
    """Receive and delete, with no handler: the endpoint's own rate, with the event source's parameters."""
    from devstack.sqs_event_source import default_sqs_client

    sqs = default_sqs_client()
    deleted = empty_receives = 0
    started = time.perf_counter()
    while deleted < events and empty_receives < EMPTY_RECEIVES_TO_STOP and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=SQS_BATCH,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            empty_receives += 1
            continue
        empty_receives = 0
        response = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)
            ],
        )
        deleted += len(response.get("Successful", []))
    return {"events": deleted, "seconds": time.perf_counter() - started, "handler_seconds": 0.0, "failed": 0}


def drain_through_handler(events: int, deadline: float) -> dict[str, float]:
    """app.py's drain fed by the local SQS event source, until the stream holds `events` more entries."""
    import redis

    from devstack.sqs_event_source import BatchResult, SqsEventSource, default_sqs_client

    app = import_app()
    handler = app.handler_map[DRAIN_HANDLER]
    handler_seconds = [0.0]

    def timed_handler(event: dict[str, Any], context: Any) -> Any:
        started = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            handler_seconds[0] += time.perf_counter() - started

    # Swapped in before the event source reads handler_map.
    app.handler_map[DRAIN_HANDLER] = timed_handler
    failed = [0]

    def count_failures(result: BatchResult) -> None:
        failed[0] += len(result.failed)

    from chalicelib.config.settings import get_relay_config

    webhook = get_relay_config().webhook(BENCH_WEBHOOK_ID)
    if webhook is None:
        raise RuntimeError(f"no {BENCH_WEBHOOK_ID} webhook in the bench configuration")
    connection = webhook.redis.connection
    stream = redis.Redis(host=connection.host, port=connection.port, socket_timeout=5)
    source = SqsEventSource(
        app,
        default_sqs_client(),
        stage="local",
        report_batch_item_failures=True,
        lambda_timeout_seconds=DRAIN_TIMEOUT_SECONDS,
        on_batch=count_failures,
    )
    try:
        stream_before = int(stream.xlen(STREAM))
        delivered = 0
        started = time.perf_counter()
        source.start()
        try:
            while delivered < events and time.monotonic() < deadline:
                time.sleep(0.02)
                delivered = int(stream.xlen(STREAM)) - stream_before
            seconds = time.perf_counter() - started
        finally:
            source.stop()
    finally:
        stream.close()
    return {"events": delivered, "seconds": seconds, "handler_seconds": handler_seconds[0], "failed": failed[0]}


def run_worker(arguments: argparse.Namespace) -> int:
    deadline = time.monotonic() + arguments.deadline_seconds
    if arguments.worker == "raw":
        result = drain_raw(arguments.queue_url, arguments.events, deadline)
    else:
        result = drain_through_handler(arguments.events, deadline)
    with open(arguments.result, "w", encoding="utf-8") as file:
        json.dump(result, file)
    return 0


# --- the benchmark --------------------------------------------------------------------------


def run_drain_worker(
    kind: str, *, queue_url: str, events: int, deadline_seconds: float, environ: dict[str, str], folder: str
) -> tuple[dict[str, float], ChildRun]:
    result_path = os.path.join(folder, f"{kind}.json")
    command = bench_command(
        "b4_drain_rate",
        "--worker",
        kind,
        "--queue-url",
        queue_url,
        "--events",
        str(events),
        "--deadline-seconds",
        str(deadline_seconds),
        "--result",
        result_path,
    )
    child = run_measured(command, environ, timeout=deadline_seconds + 60)
    with open(result_path, encoding="utf-8") as file:
        result: dict[str, float] = json.load(file)
    if result["events"] < events:
        raise RuntimeError(f"the {kind} drain moved {result['events']:.0f} of {events} events by its deadline")
    return result, child


@dataclass
class DrainRuns:
    """Each drain's events/s by kind, and what the handler drains reported."""

    rates: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in WORKER_KINDS})
    handler_seconds: float = 0.0
    handler_events: float = 0.0
    failed: float = 0.0
    fill_rates: list[float] = field(default_factory=list)
    drain_peak_rss_mb: float = 0.0

    def add(self, kind: str, result: dict[str, float], child: ChildRun) -> None:
        self.rates[kind].append(result["events"] / result["seconds"])
        if kind == "drain":
            self.handler_seconds += result["handler_seconds"]
            self.handler_events += result["events"]
            self.failed += result["failed"]
            self.drain_peak_rss_mb = max(self.drain_peak_rss_mb, child.max_rss_mb)


def measure(
    sqs_endpoint: str, environ: dict[str, str], *, events: int, rounds: int, deadline_seconds: float, folder: str
) -> tuple[DrainRuns, int]:
    """Rounds of (raw, drain), the order reversed every round, each from a fresh backlog of new events."""
    from operations.queue_bootstrap import bootstrap_queues
    from operations.sqs_admin import admin_client, message_count

    sqs = admin_client(endpoint_url=sqs_endpoint)
    queue_url = bootstrap_queues(
        sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE, drain_timeout_seconds=DRAIN_TIMEOUT_SECONDS
    ).retry_queue_url
    runs = DrainRuns()
    for round_index in range(rounds):
        for kind in WORKER_KINDS if round_index % 2 == 0 else WORKER_KINDS[::-1]:
            # New event ids every time: a drained event sent again would be a duplicate, never reaching the stream.
            bodies = queue_message_bodies(events)
            fill_started = time.perf_counter()
            fill_queue(sqs, queue_url, bodies)
            runs.fill_rates.append(events / (time.perf_counter() - fill_started))
            result, child = run_drain_worker(
                kind,
                queue_url=queue_url,
                events=events,
                deadline_seconds=deadline_seconds,
                environ=environ,
                folder=folder,
            )
            runs.add(kind, result, child)
    return runs, message_count(sqs, queue_url)


def run(arguments: argparse.Namespace) -> list[Row]:
    events = arguments.events or (300 if arguments.quick else 500)
    rounds = arguments.rounds or (1 if arguments.quick else 2)
    with (
        moto_sqs_process() as sqs_endpoint,
        bench_relay(sqs_endpoint) as relay,
        tempfile.TemporaryDirectory(prefix="spillway-b4-") as folder,
    ):
        os.environ.clear()
        os.environ.update(relay.environ)
        runs, left = measure(
            sqs_endpoint,
            relay.environ,
            events=events,
            rounds=rounds,
            deadline_seconds=arguments.deadline_seconds,
            folder=folder,
        )
    handler_us = runs.handler_seconds / runs.handler_events * 1e6
    return [
        figure_row(
            "B4",
            f"drain events/s, {events:,}-event backlog, vs raw receive+delete",
            "events/s",
            statistics.median(runs.rates["drain"]),
            statistics.median(runs.rates["raw"]),
            target=DRAIN_TARGET,
            note=(
                f"moto server, median of {rounds} alternating round(s); fill {statistics.median(runs.fill_rates):.0f} "
                f"msg/s; the drain handler itself took {handler_us:.0f} us per event ({runs.failed:.0f} failed, "
                f"{left} left on the queue); moto's per-call cost grows with the backlog and bounds both rates"
            ),
        ),
        figure_row(
            "B6b",
            "peak RSS of the B4 drain process",
            "MB",
            runs.drain_peak_rss_mb,
            target=RSS_TARGET,
            note="wait4 rusage of the drain's child process: app.py, SqsEventSource, boto3, redis-py",
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="backlog size (default 500; --quick 300)")
    parser.add_argument("--rounds", type=int, help="rounds of (raw, drain) (default 2; --quick 1)")
    parser.add_argument("--deadline-seconds", type=float, default=300, help="per drain (default 300)")
    parser.add_argument("--worker", choices=("raw", "drain"), help=argparse.SUPPRESS)
    parser.add_argument("--queue-url", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    parser = build_parser()
    known, _ = parser.parse_known_args()
    if known.worker:
        exit_cleanly_on_sigterm()
        sys.exit(run_worker(known))
    sys.exit(benchmark_main(__doc__, run, parser))
