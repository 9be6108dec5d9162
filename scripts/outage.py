"""`make outage`: the seed's Redis-outage drill; exits 0 only for 20/20 delivered exactly once.

Self-contained by default: starts its own stack on free ports and stops Redis by PID. Aim it
at a running stack with --url and --redis-url, and say how to stop and start its Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.outage_drill import DrillReport, format_report, report_as_json, run_drill
from devstack.redis_server import RedisServer
from devstack.stack import LocalStack, StackOptions


class CommandSwitch:
    """Stops and starts a Redis we do not own: shell commands, or a Docker container."""

    def __init__(self, stop_command: list[str], start_command: list[str]):
        self.stop_command = stop_command
        self.start_command = start_command

    def stop_redis(self) -> None:
        subprocess.run(self.stop_command, check=True, timeout=60)

    def start_redis(self) -> None:
        subprocess.run(self.start_command, check=True, timeout=60)


class OwnedRedisSwitch:
    def __init__(self, server: RedisServer):
        self.server = server

    def stop_redis(self) -> None:
        self.server.stop()

    def start_redis(self) -> None:
        self.server.start()


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage-seconds", type=float, default=30.0, help="how long Redis stays down (default 30)")
    parser.add_argument("--deadline-seconds", type=float, default=120.0, help="wait this long for the drain after")
    parser.add_argument("--webhook", default="redis_test", help="the webhook to post to (default redis_test)")
    parser.add_argument("--stream", default="webhook_events", help="the stream the webhook writes to")
    parser.add_argument("--url", help="a running stack's HTTP base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--redis-url", help="the running stack's Redis, read to check deliveries")
    parser.add_argument("--docker-container", help="stop/start this container to take Redis down (as the seed did)")
    parser.add_argument("--stop-redis-cmd", help="shell command that stops the running stack's Redis")
    parser.add_argument("--start-redis-cmd", help="shell command that starts it again")
    parser.add_argument("--endpoint-url", help="the running stack's SQS endpoint (LocalStack): queues are reported")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    arguments = parser.parse_args(argv)
    external = arguments.url or arguments.redis_url
    if external and not (arguments.url and arguments.redis_url):
        parser.error("--url and --redis-url go together")
    if external and not (arguments.docker_container or (arguments.stop_redis_cmd and arguments.start_redis_cmd)):
        parser.error("against a running stack, give --docker-container or both --stop-redis-cmd and --start-redis-cmd")
    return arguments


def _switch_for(arguments: argparse.Namespace) -> CommandSwitch:
    if arguments.docker_container:
        return CommandSwitch(
            ["docker", "stop", arguments.docker_container], ["docker", "start", arguments.docker_container]
        )
    return CommandSwitch(shlex.split(arguments.stop_redis_cmd), shlex.split(arguments.start_redis_cmd))


def _queue_depths(endpoint_url: str) -> dict[str, str]:
    from urllib.parse import urlsplit

    from localstack_client.session import Session

    parts = urlsplit(endpoint_url)
    sqs = Session(localstack_host=f"{parts.hostname}:{parts.port or 4566}").client("sqs")
    depths = {}
    for name in (
        os.environ.get("RETRY_QUEUE_NAME", "spillway-retry"),
        os.environ.get("DEAD_LETTER_QUEUE_NAME", "spillway-dead-letter"),
    ):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        depths[name] = attributes["Attributes"]["ApproximateNumberOfMessages"]
    return depths


def drill(arguments: argparse.Namespace) -> DrillReport:
    common = {
        "outage_seconds": arguments.outage_seconds,
        "deadline_seconds": arguments.deadline_seconds,
        "webhook_id": arguments.webhook,
        "stream": arguments.stream,
        "out": sys.stdout,
    }
    if arguments.url:
        return run_drill(arguments.url, arguments.redis_url, _switch_for(arguments), **common)
    with tempfile.TemporaryDirectory(prefix="spillway-outage-") as data_dir:
        stack = LocalStack(StackOptions.isolated_stack(data_dir))
        summary = stack.start()
        try:
            print(f"own stack: HTTP {summary.http_url}, Redis {summary.redis_url}, SQS {summary.sqs_endpoint}")
            assert stack.redis_server is not None
            return run_drill(summary.http_url, summary.redis_url, OwnedRedisSwitch(stack.redis_server), **common)
        finally:
            stack.stop()


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    report = drill(arguments)
    print(format_report(report))
    if arguments.endpoint_url:
        print(f"queue depths: {_queue_depths(arguments.endpoint_url)}")
    if arguments.json:
        print(json.dumps(report_as_json(report)))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
