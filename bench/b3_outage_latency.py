"""B3: how fast the handler answers while Redis is stopped, and while it hangs (SIGSTOP).

Requests go one at a time, as one Lambda instance takes them, through `app(event, context)`.
Baseline: the same requests with Redis up. While Redis is down each event spills to the
retry queue on moto's server (a process of its own, reached over HTTP, as SQS is). Each
outage starts with fresh circuit breakers: the requests answered before the breaker opened
pay the inline budget, and are reported apart from the p50 and p99 of the requests after.
The queue is purged every PURGE_EVERY requests, untimed: moto's SendMessage costs grow with
the backlog (it counts every message on each call), which real SQS does not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.api_gateway import BENCH_WEBHOOK_ID, GithubDeliveries, LambdaContext
from bench.processes import moto_sqs_process
from bench.relay_setup import RETRY_QUEUE, BenchRelay, bench_relay, load_app_in_process
from bench.results import Row, Target, benchmark_main, figure_row
from bench.sqs_query import SqsQueryClient

P99_TARGET = Target(25, at_most=True, on_ratio=False, unit="ms")
PURGE_EVERY = 50
WARM_UP_REQUESTS = 50


@dataclass(frozen=True)
class Answer:
    milliseconds: float
    status: int
    outcome: str
    breaker_open: bool
    probed: bool


@dataclass(frozen=True)
class Phase:
    name: str
    answers: list[Answer]
    breaker_reset_seconds: float

    @property
    def opening(self) -> list[Answer]:
        """The requests up to the one after which the breaker was first open."""
        for index, answer in enumerate(self.answers):
            if answer.breaker_open:
                return self.answers[: index + 1]
        return []

    @property
    def settled(self) -> list[Answer]:
        return self.answers[len(self.opening) :]

    def latencies(self, answers: list[Answer] | None = None) -> list[float]:
        return [answer.milliseconds for answer in (self.answers if answers is None else answers)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


class OutageDriver:
    """Sends requests to the app and records each answer with what the breaker did."""

    def __init__(self, app: Any, sqs: SqsQueryClient, queue_url: str) -> None:
        from chalicelib.config.settings import get_relay_config
        from chalicelib.delivery.circuit_breaker import breaker_for

        webhook = get_relay_config().webhook(BENCH_WEBHOOK_ID)
        if webhook is None:
            raise RuntimeError(f"no {BENCH_WEBHOOK_ID} webhook in the bench configuration")
        self.webhook = webhook
        self.app = app
        self.sqs = sqs
        self.queue_url = queue_url
        self.deliveries = GithubDeliveries()
        self.context = LambdaContext()
        self.breaker = breaker_for(webhook.redis.connection, webhook.inline)
        self.breaker_reset_seconds = webhook.inline.breaker_reset_seconds

    def run_phase(self, name: str, requests: int, expected_outcome: str) -> Phase:
        from chalicelib.delivery.circuit_breaker import breaker_for
        from chalicelib.process_state import reset_process_state

        reset_process_state()
        # A new breaker per outage: the one the relay creates on its next delivery.
        self.breaker = breaker_for(self.webhook.redis.connection, self.webhook.inline)
        answers: list[Answer] = []
        for index in range(requests):
            if index % PURGE_EVERY == 0:
                self.sqs.purge_queue(self.queue_url)
            answers.append(self.send_one())
        unexpected = [answer for answer in answers if answer.outcome != expected_outcome]
        if unexpected:
            raise RuntimeError(
                f"{name}: {len(unexpected)} of {requests} answers were not {expected_outcome!r}, "
                f"e.g. {unexpected[0].status} {unexpected[0].outcome}"
            )
        return Phase(name, answers, self.breaker_reset_seconds)

    def send_one(self) -> Answer:
        event = self.deliveries.next_event()
        opened_at = self.breaker.opened_at
        started = time.perf_counter()
        response = self.app(event, self.context)
        milliseconds = (time.perf_counter() - started) * 1000
        body = json.loads(response["body"])
        return Answer(
            milliseconds=milliseconds,
            status=response["statusCode"],
            outcome=str(body.get("status") or body.get("error", {}).get("code")),
            breaker_open=self.breaker.is_open,
            # An open breaker that opened again during the request let a half-open probe through.
            probed=opened_at is not None and self.breaker.opened_at != opened_at,
        )


def measure(relay: BenchRelay, sqs_endpoint: str, requests: int) -> tuple[Phase, Phase, Phase, bool]:
    app = load_app_in_process(relay)
    sqs = SqsQueryClient(sqs_endpoint)
    driver = OutageDriver(app, sqs, sqs.create_queue(RETRY_QUEUE))
    redis_server = relay.redis_server
    driver.run_phase("warm-up", WARM_UP_REQUESTS, "delivered")
    up = driver.run_phase("Redis up", requests, "delivered")
    boto3_loaded_before_outage = "boto3" in sys.modules
    redis_server.stop()
    stopped = driver.run_phase("Redis stopped", requests, "queued")
    redis_server.start()
    driver.run_phase("warm-up", WARM_UP_REQUESTS, "delivered")
    redis_server.pause()
    try:
        hung = driver.run_phase("Redis hung", requests, "queued")
    finally:
        redis_server.resume()
    return up, stopped, hung, boto3_loaded_before_outage


def describe_opening(phase: Phase) -> str:
    opening = phase.opening
    if not opening:
        return "the breaker never opened"
    times = ", ".join(f"{milliseconds:.0f}" for milliseconds in phase.latencies(opening))
    return f"the breaker opened after {len(opening)} request(s), answered in {times} ms"


def outage_rows(row_id: str, what: str, phase: Phase, up: Phase, first_spill_note: str) -> list[Row]:
    settled = phase.latencies(phase.settled)
    if not settled:
        raise RuntimeError(f"{phase.name}: the breaker opened only on the last request; send more requests")
    probes = [answer.milliseconds for answer in phase.settled if answer.probed]
    up_latencies = up.latencies()
    probe_note = (
        f"{len(probes)} half-open probe(s) took {', '.join(f'{value:.0f}' for value in probes)} ms"
        if probes
        else "no half-open probe in the run"
    )
    return [
        figure_row(
            row_id,
            f"p99 answer while Redis {what} (breaker open) vs up",
            "ms",
            percentile(settled, 0.99),
            percentile(up_latencies, 0.99),
            target=P99_TARGET,
            note=(
                f"{len(settled)} requests: p50 {statistics.median(settled):.1f} ms "
                f"(up {statistics.median(up_latencies):.1f}), "
                f"max {max(settled):.1f} ms; p99 of all {len(phase.answers)} incl. the opening ones "
                f"{percentile(phase.latencies(), 0.99):.1f} ms; {probe_note} "
                f"(the phase lasted {sum(phase.latencies()) / 1000:.1f} s; a breaker lets one probe through "
                f"every {phase.breaker_reset_seconds:g} s, which pays what the opening requests paid)"
            ),
        ),
        figure_row(
            f"{row_id}-open",
            f"slowest answer while Redis {what}, until the breaker opened",
            "ms",
            max(phase.latencies(phase.opening), default=float("nan")),
            target=None,
            note=describe_opening(phase) + first_spill_note,
        ),
    ]


def run(arguments: argparse.Namespace) -> list[Row]:
    requests = arguments.requests or (200 if arguments.quick else 500)
    with moto_sqs_process() as sqs_endpoint, bench_relay(sqs_endpoint) as relay:
        up, stopped, hung, boto3_loaded = measure(relay, sqs_endpoint, requests)
    first_spill = (
        "" if boto3_loaded else "; the first includes importing boto3 and building the SQS client (first spill)"
    )
    return [
        *outage_rows("B3a", "is stopped", stopped, up, first_spill),
        *outage_rows("B3b", "hangs (SIGSTOP)", hung, up, ""),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="requests per phase (default 500; --quick 200)")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
