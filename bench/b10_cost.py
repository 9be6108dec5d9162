"""B10: what a million events cost on the default stage (dev), from AWS's public prices
(bench/aws_prices.py) and what this process measures, when Redis is up and during an outage
that spills every event.

Redis up, per event: one API Gateway REST request, one Lambda request, and the handler's
billed duration at api_handler's memory (.chalice/config.json). Outage, per event: the same
for the door (its duration now the spill's SendMessage), the spill's SQS requests, then the
drain: one pass per redrive while Redis is down (receive, delete, redrive sends) and a last
pass that delivers, each pass a batch of up to 10 records per drain invocation (one Lambda
request and one billed duration per batch).

Measured here, as in B1 and B4: the Chalice handler called as Lambda calls it (a 1 KB GitHub
push, signature checked) with a real redis-server, the spill and the drain against moto's SQS
server (bench/processes.py), the drain fed by devstack's SQS event source poller. SQS requests
are counted on botocore's calls in this process, each billed per 64 KB chunk of its payload.

A Lambda duration is estimated from this machine's figures: CPU time scaled by 1,769 MB / the
function's memory (Lambda's CPU share; this core taken as one vCPU) plus the time spent waiting
(Redis, SQS), then rounded up to the 1 ms Lambda bills. moto answers in about a millisecond, like
SQS inside a region. Left out: the free tiers, data transfer, CloudWatch Logs (one line per
request), ElastiCache, and the drain's empty long polls (time-based, not per event).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench import aws_prices
from bench.api_gateway import GithubDeliveries, LambdaContext
from bench.processes import PROJECT_DIR, moto_sqs_process
from bench.relay_setup import DEAD_LETTER_QUEUE, RETRY_QUEUE, STREAM, BenchRelay, bench_relay, load_app_in_process
from bench.results import Row, benchmark_main, figure_row
from bench.sqs_query import SqsQueryClient

STAGE = "dev"
DRAIN_HANDLER = "drain"
WARM_UP_EVENTS = 100
# Requests after Redis stops before the spills are counted: the breaker opens (bench B3).
SPILL_WARM_UP_EVENTS = 20
DRAIN_PASS_SECONDS = 60.0


def stage_memory_mb(function: str, stage: str = STAGE) -> int:
    with open(os.path.join(PROJECT_DIR, ".chalice", "config.json"), encoding="utf-8") as file:
        config = json.load(file)
    return int(config["stages"][stage]["lambda_functions"][function]["lambda_memory_size"])


@dataclass
class SqsRequests:
    """Every SQS call botocore makes in this process: per operation, and billed (64 KB chunks)."""

    calls: Counter[str] = dataclasses.field(default_factory=Counter)
    billed: Counter[str] = dataclasses.field(default_factory=Counter)

    def record(self, operation: str, params: dict[str, Any]) -> None:
        entries = params.get("Entries")
        bodies = [entry.get("MessageBody", "") for entry in entries] if entries else [params.get("MessageBody", "")]
        payload_bytes = sum(len(str(body).encode("utf-8")) for body in bodies)
        self.calls[operation] += 1
        self.billed[operation] += max(1, math.ceil(payload_bytes / aws_prices.SQS_BILLING_CHUNK_BYTES))

    def reset(self) -> None:
        self.calls.clear()
        self.billed.clear()


@contextmanager
def counting_sqs_requests() -> Iterator[SqsRequests]:
    """Wraps botocore's one call path for this process (the relay's client and the poller's)."""
    from botocore.client import BaseClient

    requests = SqsRequests()
    original = BaseClient._make_api_call

    def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "sqs":
            requests.record(operation_name, api_params)
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = counted
    try:
        yield requests
    finally:
        BaseClient._make_api_call = original


@dataclass(frozen=True)
class Timing:
    """One invocation: wall and CPU seconds on this machine."""

    wall: float
    cpu: float

    def lambda_ms(self, memory_mb: int) -> float:
        waiting = max(self.wall - self.cpu, 0.0)
        return (self.cpu * aws_prices.LAMBDA_MB_PER_VCPU / memory_mb + waiting) * 1000

    def billed_ms(self, memory_mb: int) -> int:
        granularity = aws_prices.LAMBDA_BILLING_GRANULARITY_MS
        return granularity * math.ceil(self.lambda_ms(memory_mb) / granularity)


def timed(call: Callable[[], Any]) -> tuple[Any, Timing]:
    started, started_cpu = time.perf_counter(), time.thread_time()
    result = call()
    return result, Timing(time.perf_counter() - started, time.thread_time() - started_cpu)


def call_door(app: Any, deliveries: GithubDeliveries, events: int, expected: str) -> list[Timing]:
    context = LambdaContext()
    timings: list[Timing] = []
    for _ in range(events):
        answer, timing = timed(lambda: app(deliveries.next_event(), context))
        status = json.loads(answer["body"]).get("status")
        if status != expected:
            raise RuntimeError(f"the door answered {answer['statusCode']} {answer['body']}, not {expected!r}")
        timings.append(timing)
    return timings


@dataclass(frozen=True)
class DrainPass:
    records: int
    batches: list[Timing]
    sqs_billed: dict[str, int]

    def requests_per_record(self) -> str:
        return describe_requests(self.sqs_billed, self.records)


def drain_pass(app: Any, records: int, requests: SqsRequests) -> DrainPass:
    """The drain over `records` queue messages, batch by batch, as Lambda's event source mapping
    would invoke it (receive up to 10, invoke, delete what succeeded)."""
    from devstack.sqs_event_source import QueuePoller, default_sqs_client, discover_sqs_subscriptions

    [subscription] = [s for s in discover_sqs_subscriptions(app) if s.name == DRAIN_HANDLER]
    batches: list[Timing] = []

    def timed_handler(event: Any, context: Any) -> Any:
        answer, timing = timed(lambda: subscription.handler(event, context))
        batches.append(timing)
        return answer

    poller = QueuePoller(
        dataclasses.replace(subscription, handler=timed_handler),
        default_sqs_client(),
        function_name=DRAIN_HANDLER,
        lambda_timeout_seconds=60,
        report_batch_item_failures=True,
        stopping=threading.Event(),
    )
    # Resolved before counting: Lambda's mapping knows its queue and asks nothing per batch.
    poller.queue_url  # noqa: B018
    poller.queue_arn  # noqa: B018
    requests.reset()
    seen = 0
    deadline = time.monotonic() + DRAIN_PASS_SECONDS
    while seen < records and time.monotonic() < deadline:
        result = poller.poll_once(wait_seconds=1)
        if result is not None:
            seen += len(result.message_ids)
    if seen < records:
        raise RuntimeError(f"the drain saw {seen} of {records} records within {DRAIN_PASS_SECONDS:.0f} s")
    return DrainPass(seen, batches, dict(requests.billed))


@dataclass(frozen=True)
class Measurement:
    up: list[Timing]
    spill: list[Timing]
    spill_sqs_billed: dict[str, int]
    redrive_pass: DrainPass
    delivering_pass: DrainPass


def measure(relay: BenchRelay, endpoint: str, events: int) -> Measurement:
    import redis

    from bench.relay_setup import reset_relay_state

    sqs = SqsQueryClient(endpoint)
    queue_url = sqs.create_queue(RETRY_QUEUE)
    sqs.create_queue(DEAD_LETTER_QUEUE)
    app = load_app_in_process(relay)
    deliveries = GithubDeliveries()
    with counting_sqs_requests() as requests:
        call_door(app, deliveries, WARM_UP_EVENTS, "delivered")
        up = call_door(app, deliveries, events, "delivered")
        relay.redis_server.stop()
        call_door(app, deliveries, SPILL_WARM_UP_EVENTS, "queued")
        sqs.purge_queue(queue_url)
        requests.reset()
        spill = call_door(app, deliveries, events, "queued")
        spill_billed = dict(requests.billed)
        # Redis still down: every record is sent round again (a redrive, waiting for Redis).
        redrive_pass = drain_pass(app, events, requests)
        relay.redis_server.start()
        # A drain process whose breaker has closed again, as after breaker_reset_seconds.
        reset_relay_state()
        stream = redis.Redis(host=relay.redis_server.host, port=relay.redis_server.port, socket_timeout=5)
        try:
            before = int(stream.xlen(STREAM))
            delivering_pass = drain_pass(app, events, requests)
            delivered = int(stream.xlen(STREAM)) - before
        finally:
            stream.close()
    if delivered != events:
        raise RuntimeError(f"the delivering pass put {delivered} of {events} events in the stream")
    return Measurement(up, spill, spill_billed, redrive_pass, delivering_pass)


def lambda_cost(invocations: float, billed_ms: float, memory_mb: int) -> float:
    gb_seconds = billed_ms / 1000 * memory_mb / 1024
    return (
        invocations * aws_prices.LAMBDA_REQUESTS_PER_MILLION / 1e6
        + invocations * gb_seconds * aws_prices.LAMBDA_X86_PER_GB_SECOND
    )


def door_cost(timings: list[Timing], memory_mb: int) -> float:
    """Per event: API Gateway, Lambda request, the mean billed duration."""
    billed_ms = statistics.fmean(timing.billed_ms(memory_mb) for timing in timings)
    return aws_prices.API_GATEWAY_REST_PER_MILLION / 1e6 + lambda_cost(1, billed_ms, memory_mb)


def drain_cost(drain: DrainPass, memory_mb: int) -> float:
    """Per record of the pass: its share of the invocations, their durations and the SQS requests."""
    billed_ms = sum(timing.billed_ms(memory_mb) for timing in drain.batches)
    lambda_part = (
        len(drain.batches) * aws_prices.LAMBDA_REQUESTS_PER_MILLION / 1e6
        + billed_ms / 1000 * memory_mb / 1024 * aws_prices.LAMBDA_X86_PER_GB_SECOND
    )
    return (lambda_part + sqs_cost(drain.sqs_billed)) / drain.records


def sqs_cost(billed: dict[str, int]) -> float:
    return sum(billed.values()) * aws_prices.SQS_STANDARD_PER_MILLION / 1e6


def describe_requests(billed: dict[str, int], per: int) -> str:
    return ", ".join(f"{name} {count / per:.2f}" for name, count in sorted(billed.items())) or "none"


def run(arguments: argparse.Namespace) -> list[Row]:
    events = arguments.events or (100 if arguments.quick else 300)
    redrives = arguments.redrives
    door_mb, drain_mb = stage_memory_mb("api_handler"), stage_memory_mb(DRAIN_HANDLER)
    with moto_sqs_process() as endpoint, bench_relay(endpoint) as relay:
        measured = measure(relay, endpoint, events)
    up = door_cost(measured.up, door_mb) * 1e6
    spill = door_cost(measured.spill, door_mb) + sqs_cost(measured.spill_sqs_billed) / events
    per_redrive = drain_cost(measured.redrive_pass, drain_mb)
    delivering = drain_cost(measured.delivering_pass, drain_mb)
    outage = (spill + redrives * per_redrive + delivering) * 1e6
    up_ms = statistics.fmean(timing.lambda_ms(door_mb) for timing in measured.up)
    spill_ms = statistics.fmean(timing.lambda_ms(door_mb) for timing in measured.spill)
    redrive_batch_ms = statistics.fmean(timing.lambda_ms(drain_mb) for timing in measured.redrive_pass.batches)
    delivering_batch_ms = statistics.fmean(timing.lambda_ms(drain_mb) for timing in measured.delivering_pass.batches)
    spill_requests = describe_requests(measured.spill_sqs_billed, events)
    prices = (
        f"us-east-1 prices read {aws_prices.PRICES_READ_ON} (bench/aws_prices.py): API Gateway REST "
        f"${aws_prices.API_GATEWAY_REST_PER_MILLION:.2f}/M, Lambda ${aws_prices.LAMBDA_REQUESTS_PER_MILLION:.2f}/M + "
        f"${aws_prices.LAMBDA_X86_PER_GB_SECOND}/GB-s (x86), SQS ${aws_prices.SQS_STANDARD_PER_MILLION:.2f}/M per 64 KB"
    )
    return [
        figure_row(
            "B10",
            f"USD per million events, stage {STAGE}, Redis up",
            "USD",
            up,
            note=(
                f"{events} events; api_handler {door_mb} MB: est. {up_ms:.2f} ms on Lambda, billed "
                f"{statistics.fmean(t.billed_ms(door_mb) for t in measured.up):.2f} ms; API Gateway is "
                f"${aws_prices.API_GATEWAY_REST_PER_MILLION:.2f} of it; {prices}"
            ),
        ),
        figure_row(
            "B10-outage",
            f"USD per million events, stage {STAGE}, all spilled, {redrives} redrive(s) each",
            "USD",
            outage,
            up,
            note=(
                f"door spill est. {spill_ms:.2f} ms (SQS per event: {spill_requests}); "
                f"drain {drain_mb} MB, batches of up to 10: a redrive pass est. {redrive_batch_ms:.1f} ms a batch, "
                f"${per_redrive * 1e6:.2f}/M events (SQS per record: "
                f"{measured.redrive_pass.requests_per_record()}), "
                f"the delivering pass est. {delivering_batch_ms:.1f} ms a batch, ${delivering * 1e6:.2f}/M "
                f"(SQS per record: {measured.delivering_pass.requests_per_record()}); "
                f"each further redrive adds ${per_redrive * 1e6:.2f}/M; baseline: Redis up"
            ),
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="events per phase (default 300; --quick 100)")
    parser.add_argument(
        "--redrives", type=int, default=1, help="drain passes an event takes while Redis is down (default 1)"
    )
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
