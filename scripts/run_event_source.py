"""Lambda's SQS event source mapping for app.py, alone in its own process, until SIGTERM.

The drain of `make run`, split out so a fault can hit it alone: SIGKILL it mid-batch and the
batch reappears after the retry queue's visibility timeout, as when a Lambda invocation dies.
Environment: the stage's environment_variables (not overriding what is set), AWS_ENDPOINT_URL
for the SQS endpoint, WEBHOOKS_CONFIG and what it names.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from devstack.local_http import load_stage_config
from devstack.sqs_event_source import DEFAULT_POLL_WAIT_SECONDS, SqsEventSource
from devstack.stack import LOCAL_DRAIN_TIMEOUT_SECONDS
from devstack.stop_signals import StopSignals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="local")
    parser.add_argument(
        "--lambda-timeout-seconds",
        type=int,
        default=LOCAL_DRAIN_TIMEOUT_SECONDS,
        help="the drain's timeout as its Lambda context reports it; the queue's visibility is 6 x it",
    )
    parser.add_argument("--poll-wait-seconds", type=int, default=DEFAULT_POLL_WAIT_SECONDS)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop_signals = StopSignals()
    config = load_stage_config(".", arguments.stage)
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)
    from app import app

    source = SqsEventSource(
        app,
        stage=arguments.stage,
        report_batch_item_failures=os.environ.get("REPORT_BATCH_ITEM_FAILURES", "true").lower() == "true",
        lambda_timeout_seconds=arguments.lambda_timeout_seconds,
        poll_wait_seconds=arguments.poll_wait_seconds,
    )
    source.start()
    print(f"event source running: {', '.join(s.name for s in source.subscriptions)}", flush=True)
    try:
        stop_signals.wait()
    finally:
        source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
