"""B1: microseconds per event through the full Chalice handler, against a bare redis-py loop.

The handler is called as Lambda calls it, `app(event, context)`, with a REST API proxy event
for POST /webhook/bench: 1 KB of JSON, GitHub's X-Hub-Signature-256 checked, a fresh
X-GitHub-Delivery per call (no duplicates), a real redis-server. The baseline does
json.loads + json.dumps + PUBLISH of the same body on the same Redis. Rounds alternate which
loop goes first; each figure is the median of the rounds' means. Only the calls are timed:
building each event is not.

Also B6a: this process's peak RSS (app, Redis client and both loops).
`--loop handler|baseline` runs one loop alone, for a profiler (bench/profile_b1.py).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from bench.api_gateway import GithubDeliveries, LambdaContext
from bench.relay_setup import CHANNEL, STREAM, BenchRelay, bench_relay, load_app_in_process
from bench.results import Row, Target, benchmark_main, figure_row

HANDLER_TARGET = Target(2.0, at_most=True)  # issue 16
RSS_TARGET = Target(80, at_most=True, on_ratio=False, unit="MB")
WARM_UP_EVENTS = 300


def time_handler(app: Any, deliveries: GithubDeliveries, events: int) -> list[float]:
    """Seconds per call. Raises when an answer is not 200 delivered."""
    context = LambdaContext()
    durations: list[float] = []
    answers: list[dict[str, Any]] = []
    for _ in range(events):
        event = deliveries.next_event()
        started = time.perf_counter()
        answer = app(event, context)
        durations.append(time.perf_counter() - started)
        answers.append(answer)
    for answer in answers:
        if answer["statusCode"] != 200 or json.loads(answer["body"]).get("status") != "delivered":
            raise RuntimeError(f"the handler answered {answer['statusCode']} {answer['body']}")
    return durations


def time_baseline(client: redis.Redis, body: str, events: int) -> list[float]:
    durations: list[float] = []
    for _ in range(events):
        started = time.perf_counter()
        client.publish(CHANNEL, json.dumps(json.loads(body)))
        durations.append(time.perf_counter() - started)
    return durations


def mean_microseconds(durations: list[float]) -> float:
    return statistics.fmean(durations) * 1e6


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


@dataclass(frozen=True)
class Measurement:
    handler_means_us: list[float]
    baseline_means_us: list[float]
    handler_calls_s: list[float]
    # Time Redis itself spent per command (INFO commandstats usec_per_call).
    redis_us_per_evalsha: float
    redis_us_per_publish: float


def measure(relay: BenchRelay, rounds: int, events: int) -> Measurement:
    """Per-round means (us) of the handler and the baseline, every handler call (s), Redis's own time."""
    app = load_app_in_process(relay)
    deliveries = GithubDeliveries()
    client = redis.Redis(host=relay.redis_server.host, port=relay.redis_server.port, socket_timeout=5)
    try:
        stream_before = int(client.xlen(STREAM))
        time_handler(app, deliveries, WARM_UP_EVENTS)
        time_baseline(client, deliveries.body, WARM_UP_EVENTS)
        handler_means: list[float] = []
        baseline_means: list[float] = []
        handler_calls: list[float] = []
        loops: list[tuple[Callable[[], list[float]], list[float]]] = [
            (lambda: time_handler(app, deliveries, events), handler_means),
            (lambda: time_baseline(client, deliveries.body, events), baseline_means),
        ]
        for round_index in range(rounds):
            order = loops if round_index % 2 == 0 else loops[::-1]
            for loop, means in order:
                durations = loop()
                means.append(mean_microseconds(durations))
                if means is handler_means:
                    handler_calls += durations
        delivered = int(client.xlen(STREAM)) - stream_before
        expected = WARM_UP_EVENTS + rounds * events
        if delivered != expected:
            raise RuntimeError(f"{delivered} events reached the stream, {expected} were sent")
        command_stats = client.info("commandstats")
        return Measurement(
            handler_means,
            baseline_means,
            handler_calls,
            float(command_stats["cmdstat_evalsha"]["usec_per_call"]),
            float(command_stats["cmdstat_publish"]["usec_per_call"]),
        )
    finally:
        client.close()


def run(arguments: argparse.Namespace) -> list[Row]:
    rounds = arguments.rounds or (3 if arguments.quick else 9)
    events = arguments.events or (500 if arguments.quick else 2000)
    with bench_relay() as relay:
        if arguments.loop:
            return [run_one_loop(relay, arguments.loop, events)]
        measurement = measure(relay, rounds, events)
    handler_means, baseline_means = measurement.handler_means_us, measurement.baseline_means_us
    handler_calls = measurement.handler_calls_s
    round_ratios = [ours / theirs for ours, theirs in zip(handler_means, baseline_means, strict=True)]
    handler = statistics.median(handler_means)
    baseline = statistics.median(baseline_means)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spread = (
        f"{min(handler_means):.0f}-{max(handler_means):.0f} us vs "
        f"{min(baseline_means):.0f}-{max(baseline_means):.0f} us"
    )
    return [
        figure_row(
            "B1",
            "us/event: Chalice handler vs redis-py loads+dumps+PUBLISH",
            "us",
            handler,
            baseline,
            target=HANDLER_TARGET,
            note=(
                f"median of {rounds} alternating rounds x {events} events (round means {spread}; "
                f"median of the rounds' own ratios {statistics.median(round_ratios):.2f}x); "
                f"handler per call p50 {percentile(handler_calls, 0.5) * 1e6:.0f} us, "
                f"p99 {percentile(handler_calls, 0.99) * 1e6:.0f} us; inside Redis: "
                f"{measurement.redis_us_per_evalsha:.0f} us per EVALSHA (the delivery script), "
                f"{measurement.redis_us_per_publish:.1f} us per PUBLISH"
            ),
        ),
        figure_row(
            "B6a",
            "peak RSS of the B1 process (app + both loops)",
            "MB",
            peak_rss_mb,
            target=RSS_TARGET,
            note="getrusage(RUSAGE_SELF).ru_maxrss of the B1 process, redis-server not included",
        ),
    ]


def run_one_loop(relay: BenchRelay, loop: str, events: int) -> Row:
    app = load_app_in_process(relay)
    deliveries = GithubDeliveries()
    client = redis.Redis(host=relay.redis_server.host, port=relay.redis_server.port, socket_timeout=5)
    try:
        if loop == "handler":
            time_handler(app, deliveries, WARM_UP_EVENTS)
            durations = time_handler(app, deliveries, events)
        else:
            time_baseline(client, deliveries.body, WARM_UP_EVENTS)
            durations = time_baseline(client, deliveries.body, events)
    finally:
        client.close()
    return figure_row("B1", f"us per event, {loop} loop alone ({events} events)", "us", mean_microseconds(durations))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 9; --quick 3)")
    parser.add_argument("--events", type=int, help="events per loop per round (default 2000; --quick 500)")
    parser.add_argument("--loop", choices=("handler", "baseline"), help="run this loop alone (for a profiler)")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
