"""`make run`: the whole local stack in the foreground until Ctrl-C (`make chalice-local`: the
same with stock `chalice local` serving HTTP).

Environment: PORT (8000), REDIS_HOST/REDIS_PORT (127.0.0.1:6379) or REDIS_URL,
AWS_ENDPOINT_URL (an SQS endpoint such as LocalStack; default: moto's server on :4566).
A Redis or endpoint named by a variable must answer (or within --wait-for-endpoints).
SIGUSR1 starts the Redis this stack started again (`make redis-start`); with --cluster
(`make run CLUSTER=1`), the cluster nodes that stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from devstack.stack import BUILTIN_HTTP, CHALICE_LOCAL, LocalStack, StackError, StackOptions
from devstack.stop_signals import StopSignals
from operations.sqs_admin import SqsAdminError

# How often the stack looks at its children: a dead one is reported within this long.
WATCH_INTERVAL_SECONDS = 0.5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make run", description="The whole local stack, until Ctrl-C.")
    parser.add_argument(
        "--wait-for-endpoints",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a Redis or SQS endpoint named by REDIS_URL, REDIS_HOST or AWS_ENDPOINT_URL "
        "to answer (default: 0, fail at once)",
    )
    parser.add_argument(
        "--allow-invalid-config",
        action="store_true",
        help="start even when webhooks.json does not load (every webhook answers 503 until it does)",
    )
    parser.add_argument(
        "--chalice-local",
        dest="http_server",
        action="store_const",
        const=CHALICE_LOCAL,
        default=BUILTIN_HTTP,
        help="serve HTTP with stock `chalice local --stage local --no-autoreload` (make chalice-local)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="a local Redis Cluster (3 primaries + 3 replicas) and webhooks with cluster: true (make run CLUSTER=1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    # The same clock as the relay's text lines (LOG_FORMAT=text), so one terminal reads as one log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s.%(msecs)03d %(name)s %(message)s", datefmt="%H:%M:%S")
    # "Found credentials in environment variables", once per client: nothing a person acts on.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stop_signals = StopSignals()
    restart_redis = threading.Event()
    signal.signal(signal.SIGUSR1, lambda signum, frame: restart_redis.set())
    options = StackOptions.from_environ(os.environ)
    options.wait_for_endpoints = arguments.wait_for_endpoints
    options.allow_invalid_config = arguments.allow_invalid_config
    options.http_server = arguments.http_server
    options.cluster = arguments.cluster
    stack = LocalStack(options, stop_requested=stop_signals.requested)
    try:
        summary = stack.start()
    except (StackError, SqsAdminError) as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    print(summary.describe(), flush=True)
    try:
        while not stop_signals.wait(timeout=WATCH_INTERVAL_SECONDS):
            stack.watch()
            if stack.http_exited:
                return 1
            if restart_redis.is_set():
                restart_redis.clear()
                stack.restart_redis()
    finally:
        print("stopping the local stack...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
