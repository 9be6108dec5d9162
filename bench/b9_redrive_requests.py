"""B9: SQS requests the drain makes per record it redrives while Redis is down.

A backlog of queue messages (as the spill writes them) waits on the retry queue of moto's
server; the bench webhook's redis-server is stopped; app.py's `drain` handler takes the backlog
in batches of 10 from devstack's SqsEventSource (Lambda's event source mapping), so every record
is redriven. The drain's own SQS client (chalicelib/queue/sqs.py) names every request it makes
through botocore's event hooks, as tests/conftest.py's `sent` fixture does; the event source's
ReceiveMessage and DeleteMessageBatch are Lambda's, on a client of their own, and not counted.

Before issue 16 the drain sent each record back with a SendMessage of its own: 1 request per
record. Batched, a batch of 10 takes one SendMessageBatch, plus one GetQueueUrl per process.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

from bench.b4_drain_rate import DRAIN_HANDLER, DRAIN_TIMEOUT_SECONDS, fill_queue, queue_message_bodies
from bench.processes import moto_sqs_process
from bench.relay_setup import DEAD_LETTER_QUEUE, RETRY_QUEUE, bench_relay, load_app_in_process
from bench.results import Row, Target, benchmark_main, figure_row

REQUESTS_TARGET = Target(0.15, at_most=True, on_ratio=False)
# Empty receives in a row (each a 1 s long poll) before the drain stops looking.
EMPTY_RECEIVES_TO_STOP = 3
DEADLINE_SECONDS = 120


def count_relay_requests(requests: Counter[str]) -> None:
    """Every request the relay's SQS client makes from now on is counted by operation name."""
    from chalicelib.queue.sqs import get_sqs

    def count(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    get_sqs().meta.events.register("provide-client-params.sqs", count)


def run(arguments: argparse.Namespace) -> list[Row]:
    from devstack.sqs_event_source import SqsEventSource, default_sqs_client
    from operations.queue_bootstrap import bootstrap_queues
    from operations.sqs_admin import admin_client, message_count

    events = arguments.events or (50 if arguments.quick else 100)
    requests: Counter[str] = Counter()
    with moto_sqs_process() as sqs_endpoint, bench_relay(sqs_endpoint) as relay:
        app = load_app_in_process(relay)
        sqs = admin_client(endpoint_url=sqs_endpoint)
        queues = bootstrap_queues(sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE, drain_timeout_seconds=DRAIN_TIMEOUT_SECONDS)
        fill_queue(sqs, queues.retry_queue_url, queue_message_bodies(events))
        relay.redis_server.stop()
        count_relay_requests(requests)
        source = SqsEventSource(
            app, default_sqs_client(), report_batch_item_failures=True, lambda_timeout_seconds=DRAIN_TIMEOUT_SECONDS
        )
        handled = deleted = batches = empty = 0
        deadline = time.monotonic() + DEADLINE_SECONDS
        while handled < events and empty < EMPTY_RECEIVES_TO_STOP and time.monotonic() < deadline:
            result = source.run_once(DRAIN_HANDLER, wait_seconds=1)
            if result is None:
                empty += 1
                continue
            empty = 0
            if result.error is not None:
                raise RuntimeError(f"the drain failed a batch: {result.error}")
            batches += 1
            handled += len(result.message_ids)
            deleted += len(result.deleted)
        waiting = message_count(sqs, queues.retry_queue_url, ("ApproximateNumberOfMessagesDelayed",))
        waiting += message_count(sqs, queues.retry_queue_url, ("ApproximateNumberOfMessages",))
    if handled < events or deleted != handled:
        raise RuntimeError(f"{handled} of {events} records handled, {deleted} of them redriven")
    if waiting != events:
        raise RuntimeError(f"{waiting} messages on the retry queue after redriving {events}")
    total = sum(requests.values())
    breakdown = ", ".join(f"{name} {count}" for name, count in sorted(requests.items()))
    return [
        figure_row(
            "B9",
            "SQS requests per record redriven while Redis is down",
            "",
            total / deleted,
            target=REQUESTS_TARGET,
            note=(
                f"{deleted} records in {batches} batches, all redriven, {waiting} on the retry queue after; "
                f"the drain's requests: {breakdown} (moto server; ReceiveMessage and DeleteMessageBatch are the "
                f"event source's, not counted). Before batching: 1 SendMessage per record"
            ),
        )
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="records drained (default 100; --quick 50)")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
