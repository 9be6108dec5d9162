"""The relay as the benchmarks run it: a real redis-server, a webhooks.json naming it, and the
environment Lambda would give the function (placeholder AWS credentials, no real account)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.api_gateway import BENCH_SECRET, BENCH_WEBHOOK_ID
from devstack.redis_server import RedisServer

STREAM = "webhook_events"
CHANNEL = "webhook_events"
RETRY_QUEUE = "spillway-bench-retry"
DEAD_LETTER_QUEUE = "spillway-bench-dead-letter"
# Variables that would send boto3 somewhere else than the endpoint a benchmark chose.
FOREIGN_AWS_VARIABLES = ("AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_SESSION_TOKEN", "RETRY_QUEUE_URL")


def bench_webhook(redis_server: RedisServer) -> dict[str, Any]:
    """The seed's redis_test webhook (channel and stream) with GitHub's signature check on."""
    return {
        "data_type": "json",
        "module": "redis_publish",
        "redis": {"host": redis_server.host, "port": redis_server.port, "channel": CHANNEL, "stream": STREAM},
        "retry": {
            "enabled": True,
            "max_attempts": 5,
            "initial_delay": 1.0,
            "max_delay": 10.0,
            "backoff_multiplier": 2.0,
        },
        "verify": {"provider": "github", "secrets": [BENCH_SECRET]},
    }


def relay_environment(config_path: str, sqs_endpoint: str | None = None) -> dict[str, str]:
    """os.environ plus what the relay reads, for this process or a child."""
    environ = {name: value for name, value in os.environ.items() if name not in FOREIGN_AWS_VARIABLES}
    environ.pop("AWS_ENDPOINT_URL", None)
    environ.update(
        {
            "WEBHOOKS_CONFIG": config_path,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "RETRY_QUEUE_NAME": RETRY_QUEUE,
            "DEAD_LETTER_QUEUE_NAME": DEAD_LETTER_QUEUE,
            "REPORT_BATCH_ITEM_FAILURES": "true",
            # The prod stage's level: only lines that carry metrics (one per webhook) are written.
            "LOG_LEVEL": "WARNING",
        }
    )
    if sqs_endpoint is not None:
        environ["AWS_ENDPOINT_URL"] = sqs_endpoint
    return environ


@dataclass(frozen=True)
class BenchRelay:
    redis_server: RedisServer
    config_path: str
    environ: dict[str, str]


@contextmanager
def bench_relay(sqs_endpoint: str | None = None) -> Iterator[BenchRelay]:
    """A redis-server of its own and a webhooks.json with the `bench` webhook; both removed after."""
    folder = tempfile.mkdtemp(prefix="spillway-bench-")
    try:
        with RedisServer() as redis_server:
            config_path = os.path.join(folder, "webhooks.json")
            with open(config_path, "w", encoding="utf-8") as file:
                json.dump({BENCH_WEBHOOK_ID: bench_webhook(redis_server)}, file)
            yield BenchRelay(redis_server, config_path, relay_environment(config_path, sqs_endpoint))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def reset_relay_state() -> None:
    """Forget cached settings, configuration, clients and breakers: the next call reads os.environ."""
    from chalicelib.process_state import reset_process_state

    reset_process_state()


def load_app_in_process(relay: BenchRelay) -> Any:
    """Puts the relay's environment into os.environ (app.py reads webhooks.json at import), then
    imports app.py."""
    os.environ.clear()
    os.environ.update(relay.environ)
    return import_app()


def import_app() -> Any:
    """app.py's Chalice app, configured from os.environ. Relay log lines are still formatted,
    as on Lambda, but go to /dev/null."""
    reset_relay_state()
    silence_relay_log()
    from app import app

    return app


def silence_relay_log() -> None:
    from chalicelib.structured_log import get_logger

    for handler in get_logger().handlers:
        if hasattr(handler, "setStream"):
            handler.setStream(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the process
