"""`make outage`: the seed's Redis-outage drill, a fixed fault plan run with the chaos soak's parts.

5 webhooks with Redis up (200 each); Redis stopped, 15 more (202 each); Redis down for
--outage-seconds, then restarted; then every event must be on the stream exactly once with its
payload, and no answer a 5xx. Exit status: 0 PASS, 1 FAIL, 2 when the stack cannot be used.

By default it drills a stack of its own on free ports (redis-server, moto's SQS server, the
HTTP function and the drain's runner, each a process) and stops Redis by PID. To drill a running
stack, give --url and --redis-url and how to stop and start its Redis (--docker-container, or
--stop-redis-cmd and --start-redis-cmd); --endpoint-url (default: AWS_ENDPOINT_URL_SQS or
AWS_ENDPOINT_URL) adds its queues to the check. Whatever it is pointed at must answer: it never
swaps in a part of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Mapping

from devstack.chaos.outage import DrillOptions, run_drill, run_drill_on_own_stack
from devstack.chaos.stack import DEAD_LETTER_QUEUE, RETRY_QUEUE, CommandSwitch, ExternalStack, RedisSwitch
from devstack.processes import ProcessFailed
from devstack.redis_server import RedisServerNotFound
from devstack.stack import StackError

# Where boto3 looks for an SQS endpoint, most specific first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL")
# Variables that point at a running stack: with one set, a drill of a stack of its own would not
# test what the user has configured, so it must be asked for (--own-stack).
STACK_VARIABLES = (*ENDPOINT_VARIABLES, "REDIS_URL")
UNUSABLE_STACK = 2


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    defaults = DrillOptions()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--outage-seconds",
        type=float,
        default=defaults.outage_seconds,
        help=f"how long Redis stays down (default {defaults.outage_seconds:g})",
    )
    parser.add_argument(
        "--deadline-seconds",
        type=float,
        default=defaults.deadline_seconds,
        help=f"how long to wait for the drain after Redis restarts (default {defaults.deadline_seconds:g})",
    )
    parser.add_argument(
        "--webhook", default=defaults.webhook_id, help=f"the webhook to post to (default {defaults.webhook_id})"
    )
    parser.add_argument(
        "--stream", default=defaults.stream, help=f"the stream the webhook writes to (default {defaults.stream})"
    )
    parser.add_argument("--url", help="a running stack's HTTP base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--redis-url", help="the running stack's Redis, read to check deliveries")
    parser.add_argument("--docker-container", help="stop/start this container to take Redis down (as the seed did)")
    parser.add_argument("--stop-redis-cmd", help="shell command that stops the running stack's Redis")
    parser.add_argument("--start-redis-cmd", help="shell command that starts it again")
    parser.add_argument(
        "--endpoint-url",
        help="the running stack's SQS endpoint (LocalStack, moto): its retry queue and dead-letter queue "
        "(RETRY_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME) are checked too; default AWS_ENDPOINT_URL",
    )
    parser.add_argument(
        "--own-stack",
        action="store_true",
        help="drill a stack of its own even though AWS_ENDPOINT_URL or REDIS_URL point at another",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    arguments = parser.parse_args(argv)
    external = arguments.url or arguments.redis_url
    if external and not (arguments.url and arguments.redis_url):
        parser.error("--url and --redis-url go together")
    if external and arguments.own_stack:
        parser.error("--own-stack drills a stack of its own: leave out --url and --redis-url")
    if external and not (arguments.docker_container or (arguments.stop_redis_cmd and arguments.start_redis_cmd)):
        parser.error("against a running stack, give --docker-container or both --stop-redis-cmd and --start-redis-cmd")
    if not external and arguments.endpoint_url:
        parser.error("--endpoint-url goes with --url: a stack of its own uses its own moto")
    if arguments.outage_seconds < 0 or arguments.deadline_seconds <= 0:
        parser.error("--outage-seconds must be at least 0, --deadline-seconds above 0")
    return arguments


def _switch(arguments: argparse.Namespace) -> RedisSwitch:
    if arguments.docker_container:
        return CommandSwitch.docker(arguments.docker_container)
    return CommandSwitch(shlex.split(arguments.stop_redis_cmd), shlex.split(arguments.start_redis_cmd))


def external_stack(arguments: argparse.Namespace, environ: Mapping[str, str]) -> ExternalStack:
    """The running stack the arguments name; its SQS endpoint from --endpoint-url or the environment."""
    endpoint, origin = arguments.endpoint_url, "--endpoint-url"
    if not endpoint:
        origin = next((name for name in ENDPOINT_VARIABLES if environ.get(name)), "")
        endpoint = environ.get(origin) if origin else None
    return ExternalStack(
        arguments.url,
        arguments.redis_url,
        _switch(arguments),
        sqs_endpoint=endpoint or None,
        sqs_endpoint_origin=origin,
        retry_queue_name=environ.get("RETRY_QUEUE_NAME", RETRY_QUEUE),
        dead_letter_queue_name=environ.get("DEAD_LETTER_QUEUE_NAME", DEAD_LETTER_QUEUE),
    )


def _configured_elsewhere(environ: Mapping[str, str]) -> list[str]:
    return [f"{name}={environ[name]}" for name in STACK_VARIABLES if environ.get(name)]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    arguments = parse_arguments(argv)
    options = DrillOptions(
        outage_seconds=arguments.outage_seconds,
        deadline_seconds=arguments.deadline_seconds,
        webhook_id=arguments.webhook,
        stream=arguments.stream,
    )

    def say(line: str) -> None:
        print(line, flush=True)

    configured = _configured_elsewhere(environ)
    if not arguments.url and configured and not arguments.own_stack:
        print(
            f"outage drill: {' and '.join(configured)} set, but without --url this drill runs a stack of its "
            "own and would not use it.\n"
            "  To drill the stack you run: --url http://HOST:PORT --redis-url redis://HOST:PORT/0 and "
            "--docker-container NAME (or --stop-redis-cmd and --start-redis-cmd); its queues are checked at "
            "AWS_ENDPOINT_URL.\n"
            "  To drill a stack of its own anyway: --own-stack.",
            file=sys.stderr,
        )
        return UNUSABLE_STACK
    try:
        if arguments.url:
            stack = external_stack(arguments, environ)
            stack.start()
            say("stack running elsewhere:")
            for line in stack.describe():
                say(f"  {line}")
            report = run_drill(stack, options, say)
        else:
            if configured:
                say(f"--own-stack: not using {', '.join(configured)}")
            report = run_drill_on_own_stack(options, say)
    except (StackError, ProcessFailed, RedisServerNotFound) as exc:
        print(f"outage drill: {exc}", file=sys.stderr)
        return UNUSABLE_STACK
    print(report.table())
    if arguments.json:
        print(json.dumps(report.as_json()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
