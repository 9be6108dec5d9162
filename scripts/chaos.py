"""`make chaos`: webhooks under faults, then every event reconciled against the Redis stream.

Starts its own stack of separate processes on free ports (redis-server, moto's SQS server
behind a TCP proxy, the HTTP function, the drain's event-source runner), sends --events
webhooks over --seconds from --senders concurrent senders while a fault injector, seeded by
--seed, crashes, stops and hangs Redis, cuts off and hangs SQS, and SIGKILLs the runner. Then
it heals everything (--cluster: a local Redis Cluster whose faults are a killed primary, a
CLUSTER FAILOVER and a stalled replica instead), waits for the queues to drain, and checks that every event answered 200
or 202 is on the stream exactly once. Exit status 0 only for no loss, no duplicate, no 5xx
but 503, no 4xx and an empty dead-letter queue.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from devstack.chaos.soak import SoakOptions, run_soak


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    defaults = SoakOptions()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=defaults.events, help=f"webhooks to send ({defaults.events})")
    parser.add_argument(
        "--seconds", type=float, default=defaults.seconds, help=f"spread over this long ({defaults.seconds:g})"
    )
    parser.add_argument(
        "--senders", type=int, default=defaults.senders, help=f"concurrent senders ({defaults.senders})"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"the fault schedule's seed ({defaults.seed})")
    parser.add_argument(
        "--drain-deadline",
        type=float,
        default=defaults.drain_deadline_seconds,
        help=f"seconds to wait for the queues to drain after sending ({defaults.drain_deadline_seconds:g})",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="a local Redis Cluster (3+3, min_replicas_acked 1) with its faults: primary killed, failover, replica lag",
    )
    parser.add_argument("--no-faults", action="store_true", help="the same load with no fault (a baseline)")
    parser.add_argument("--logs", help="keep the processes' logs in this folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    arguments = parser.parse_args(argv)
    if arguments.events < 1 or arguments.senders < 1 or arguments.seconds <= 0:
        parser.error("--events and --senders must be at least 1, --seconds above 0")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.logs:
        os.makedirs(arguments.logs, exist_ok=True)
    options = SoakOptions(
        events=arguments.events,
        seconds=arguments.seconds,
        senders=arguments.senders,
        seed=arguments.seed,
        drain_deadline_seconds=arguments.drain_deadline,
        faults=not arguments.no_faults,
        cluster=arguments.cluster,
        work_dir=os.path.abspath(arguments.logs) if arguments.logs else None,
    )
    report = run_soak(options, out=sys.stdout)
    print(report.summary_line())
    if not report.passed:
        print(f"logs kept in {report.work_dir}")
    if arguments.json:
        print(json.dumps(report.as_json()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
