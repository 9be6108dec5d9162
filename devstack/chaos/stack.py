"""The local stack as five processes, each of which a fault can hit alone.

redis-server (append-only, so a restart keeps what it acknowledged), moto's SQS server, a TCP
proxy in front of moto (the SQS endpoint the relay sees: killing it cuts SQS off without losing
moto's in-memory queues), the HTTP function (scripts/serve_http.py) and the drain's event-source
runner (scripts/run_event_source.py).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import redis

from devstack.moto_sqs import endpoint_answers
from devstack.ports import free_port, port_accepts
from devstack.processes import ManagedProcess
from devstack.redis_server import RedisServer
from operations.queue_bootstrap import QueueUrls, bootstrap_queues

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"
WEBHOOK_ID = "redis_test"
STREAM = "webhook_events"
RETRY_QUEUE = "spillway-retry"
DEAD_LETTER_QUEUE = "spillway-dead-letter"
# The drain's "Lambda timeout": the retry queue's visibility timeout is 6 x it (12 s), so a batch
# lost with a killed runner comes back within the soak instead of after Lambda's 6 x 60 s.
DRAIN_TIMEOUT_SECONDS = 2
# The seed's redis_test schedule (webhooks.json): 1 s doubling to at most 10 s, 5 refusals.
SEED_RETRY = {"enabled": True, "max_attempts": 5, "initial_delay": 1.0, "max_delay": 10.0, "backoff_multiplier": 2.0}
# Whatever credentials moto sees: never a real account's.
PLACEHOLDER_AWS = {
    "AWS_ACCESS_KEY_ID": "chaos",
    "AWS_SECRET_ACCESS_KEY": "chaos",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# Variables of the calling shell that would point a child somewhere else.
FOREIGN_VARIABLES = ("AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_SESSION_TOKEN", "RETRY_QUEUE_URL", "REDIS_URL")


def webhooks_document(redis_port: int, inline: dict[str, float] | None = None) -> dict[str, Any]:
    webhook: dict[str, Any] = {
        "data_type": "json",
        "module": "redis_publish",
        "redis": {"host": HOST, "port": redis_port, "channel": STREAM, "stream": STREAM},
        "retry": SEED_RETRY,
    }
    if inline:
        webhook["inline"] = inline
    return {WEBHOOK_ID: webhook}


def _script(name: str) -> str:
    return os.path.join(PROJECT_DIR, "scripts", name)


class ChaosStack:
    """start() brings every process up; the fault methods each hit one; heal() undoes them all."""

    def __init__(
        self,
        work_dir: str,
        drain_timeout_seconds: int = DRAIN_TIMEOUT_SECONDS,
        inline: dict[str, float] | None = None,
    ) -> None:
        """inline: the webhook's inline budget, when not the default (tests stretch it)."""
        self.work_dir = work_dir
        self.drain_timeout_seconds = drain_timeout_seconds
        self.inline = inline
        redis_dir = os.path.join(work_dir, "redis")
        os.makedirs(redis_dir, exist_ok=True)
        # "always": a crash keeps every write Redis answered for, as a durable Redis (MemoryDB) does.
        # With "everysec" a SIGKILL can lose an event already answered 200 (see README: Chaos soak).
        self.redis = RedisServer(host=HOST, data_dir=redis_dir, appendfsync="always")
        self.moto_port, self.proxy_port, self.http_port = free_port(), free_port(), free_port()
        self.queues: QueueUrls | None = None
        self._admin_sqs: Any = None
        environment = self._child_environment()
        self.moto = ManagedProcess(
            "moto SQS server",
            [sys.executable, _script("moto_sqs_server.py"), "--host", HOST, "--port", str(self.moto_port)],
            env=environment,
            log_path=self._log("moto.log"),
            ready=lambda: endpoint_answers(self.moto_url),
        )
        self.sqs_proxy = ManagedProcess(
            "sqs proxy",
            [
                sys.executable,
                _script("tcp_proxy.py"),
                *("--listen-port", str(self.proxy_port)),
                *("--target-port", str(self.moto_port)),
            ],
            env=environment,
            log_path=self._log("sqs-proxy.log"),
            ready=lambda: port_accepts(HOST, self.proxy_port),
        )
        self.http = ManagedProcess(
            "HTTP function",
            [sys.executable, _script("serve_http.py"), "--host", HOST, "--port", str(self.http_port)],
            env=environment,
            log_path=self._log("http.log"),
            cwd=PROJECT_DIR,
            ready=lambda: port_accepts(HOST, self.http_port),
        )
        self.runner = ManagedProcess(
            "event-source runner",
            [sys.executable, _script("run_event_source.py"), "--lambda-timeout-seconds", str(drain_timeout_seconds)],
            env=environment,
            log_path=self._log("runner.log"),
            cwd=PROJECT_DIR,
        )

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.moto, self.sqs_proxy, self.http, self.runner]

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.moto_port}"

    @property
    def sqs_url(self) -> str:
        """The SQS endpoint the relay's processes use: the proxy."""
        return f"http://{HOST}:{self.proxy_port}"

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def _log(self, name: str) -> str:
        return os.path.join(self.work_dir, name)

    def _child_environment(self) -> dict[str, str]:
        environment = {name: value for name, value in os.environ.items() if name not in FOREIGN_VARIABLES}
        config_path = os.path.join(self.work_dir, "webhooks.json")
        with open(config_path, "w") as config_file:
            json.dump(webhooks_document(self.redis.port, self.inline), config_file)
        environment.update(PLACEHOLDER_AWS)
        environment.update(
            {
                "AWS_ENDPOINT_URL": self.sqs_url,
                "WEBHOOKS_CONFIG": config_path,
                "RETRY_QUEUE_NAME": RETRY_QUEUE,
                "DEAD_LETTER_QUEUE_NAME": DEAD_LETTER_QUEUE,
                "REPORT_BATCH_ITEM_FAILURES": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return environment

    def admin_sqs(self) -> Any:
        """A client straight to moto (never through the proxy), quick to give up while moto hangs."""
        if self._admin_sqs is None:
            self._admin_sqs = self._build_admin_sqs()
        return self._admin_sqs

    def _build_admin_sqs(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 1})
        return boto3.client(
            "sqs",
            endpoint_url=self.moto_url,
            region_name=PLACEHOLDER_AWS["AWS_DEFAULT_REGION"],
            aws_access_key_id=PLACEHOLDER_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=PLACEHOLDER_AWS["AWS_SECRET_ACCESS_KEY"],
            config=config,
        )

    def redis_client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.redis.port, socket_timeout=5, socket_connect_timeout=1)

    # Lifecycle

    def start(self) -> None:
        try:
            self.redis.start()
            self.moto.start()
            self.queues = bootstrap_queues(
                self.admin_sqs(), RETRY_QUEUE, DEAD_LETTER_QUEUE, drain_timeout_seconds=self.drain_timeout_seconds
            )
            self.sqs_proxy.start()
            self.http.start()
            self.runner.start()
        except BaseException:
            self.close()
            raise

    def heal(self) -> None:
        """Every process running and answering, whatever faults left behind."""
        self.resume_redis()
        self.start_redis()
        self.resume_sqs()
        self.restore_sqs()
        self.http.start()
        self.start_runner()

    def close(self) -> None:
        """Stops every process, newest first; each stop is bounded, and one failing skips none."""
        errors: list[BaseException] = []
        for stop in (self.runner.stop, self.http.stop, self.sqs_proxy.stop, self.moto.stop, self.redis.stop):
            try:
                stop()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> ChaosStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Faults, each on one process

    def stop_redis(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        self.redis.stop()

    def crash_redis(self) -> None:
        """SIGKILL: what Redis acknowledged is in the append-only file (the kernel's page cache)."""
        self.redis.kill()

    def start_redis(self) -> None:
        self.redis.start()

    def hang_redis(self) -> None:
        self.redis.pause()

    def resume_redis(self) -> None:
        self.redis.resume()

    def cut_sqs(self) -> None:
        """Connections to SQS refused, requests in flight cut; moto keeps every message."""
        self.sqs_proxy.kill()

    def restore_sqs(self) -> None:
        self.sqs_proxy.start()

    def hang_sqs(self) -> None:
        """moto stops answering; requests already sent run when it resumes (an ambiguous failure)."""
        self.moto.pause()

    def resume_sqs(self) -> None:
        self.moto.resume()

    def crash_runner(self) -> None:
        self.runner.kill()

    def start_runner(self) -> None:
        self.runner.start()
