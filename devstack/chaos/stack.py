"""The stacks the soak and the outage drill run against: RelayStack is what both need.

ChaosStack is the local stack as five processes, each of which a fault can hit alone:
redis-server (append-only, so a restart keeps what it acknowledged), moto's SQS server, a TCP
proxy in front of moto (the SQS endpoint the relay sees: killing it cuts SQS off without losing
moto's in-memory queues), the HTTP function (scripts/serve_http.py) and the drain's event-source
runner (scripts/run_event_source.py). With cluster=True the Redis is a local Redis Cluster
(3 primaries + 3 replicas) and the webhook asks for min_replicas_acked 1, so an event answered
200 is on two nodes and survives its primary's crash.

ExternalStack is a stack someone else runs (`make run`, Docker Compose, a deployment): its URLs
are given, and so is how to stop and start its Redis.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import redis

from devstack.chaos.reconcile import QueueDepths, queue_depth
from devstack.moto_sqs import endpoint_answers
from devstack.ports import free_port, port_accepts
from devstack.processes import ManagedProcess
from devstack.redis_cluster import RedisCluster
from devstack.redis_server import RedisServer
from devstack.stack import StackError, redis_answers
from operations.queue_bootstrap import QueueUrls, bootstrap_queues
from operations.sqs_admin import SqsAdminError, find_queue_url

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


class RelayStack(Protocol):
    """What a soak or a drill needs of a stack: where to send, where to look, how to stop Redis."""

    @property
    def http_url(self) -> str: ...

    @property
    def redis_url(self) -> str: ...

    def redis_client(self) -> redis.Redis: ...

    def stop_redis(self) -> None: ...

    def start_redis(self) -> None: ...

    def queue_depths(self) -> QueueDepths | None:
        """None: this stack's queues are not looked at."""
        ...

    def describe(self) -> list[str]:
        """What this stack uses (HTTP, Redis, SQS), one line each, and where each came from."""
        ...


def admin_sqs_client(endpoint_url: str, *, placeholders_only: bool) -> Any:
    """A client quick to give up while SQS hangs. Credentials and region: the placeholders the
    stack's own processes use, or (placeholders_only False) the environment's where it has them;
    moto and LocalStack take any."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 1})
    session = boto3.Session()
    credentials = {
        "aws_access_key_id": PLACEHOLDER_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": PLACEHOLDER_AWS["AWS_SECRET_ACCESS_KEY"],
    }
    region = PLACEHOLDER_AWS["AWS_DEFAULT_REGION"]
    if not placeholders_only:
        region = session.region_name or region
        if session.get_credentials() is not None:
            credentials = {}
    return session.client("sqs", endpoint_url=endpoint_url, region_name=region, config=config, **credentials)


def webhooks_document(
    redis_port: int, inline: dict[str, float] | None = None, *, cluster: bool = False
) -> dict[str, Any]:
    webhook: dict[str, Any] = {
        "data_type": "json",
        "module": "redis_publish",
        "redis": {"host": HOST, "port": redis_port, "channel": STREAM, "stream": STREAM},
        "retry": SEED_RETRY,
    }
    if cluster:
        # A 200 only once the stream's replica has the event: a SIGKILLed primary's replica,
        # promoted, then holds everything answered 200 (without it, an event the primary alone
        # had when it died is lost, replication being asynchronous).
        webhook["redis"].update({"cluster": True, "min_replicas_acked": 1})
    if inline:
        webhook["inline"] = inline
    return {WEBHOOK_ID: webhook}


def _script(name: str) -> list[str]:
    """scripts/<name>.py run as a module, so the child must start in PROJECT_DIR (cwd=PROJECT_DIR)."""
    return [sys.executable, "-m", f"scripts.{name}"]


class ChaosStack:
    """start() brings every process up; the fault methods each hit one; heal() undoes them all."""

    def __init__(
        self,
        work_dir: str,
        drain_timeout_seconds: int = DRAIN_TIMEOUT_SECONDS,
        inline: dict[str, float] | None = None,
        *,
        cluster: bool = False,
    ) -> None:
        """inline: the webhook's inline budget, when not the default (tests stretch it)."""
        self.work_dir = work_dir
        self.drain_timeout_seconds = drain_timeout_seconds
        self.inline = inline
        self.cluster = RedisCluster(primaries=3, replicas_per_primary=1, host=HOST) if cluster else None
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
            [*_script("moto_sqs_server"), "--host", HOST, "--port", str(self.moto_port)],
            env=environment,
            log_path=self._log("moto.log"),
            cwd=PROJECT_DIR,
            ready=lambda: endpoint_answers(self.moto_url),
        )
        self.sqs_proxy = ManagedProcess(
            "sqs proxy",
            [
                *_script("tcp_proxy"),
                *("--listen-port", str(self.proxy_port)),
                *("--target-port", str(self.moto_port)),
            ],
            env=environment,
            log_path=self._log("sqs-proxy.log"),
            cwd=PROJECT_DIR,
            ready=lambda: port_accepts(HOST, self.proxy_port),
        )
        self.http = ManagedProcess(
            "HTTP function",
            [*_script("serve_http"), "--host", HOST, "--port", str(self.http_port)],
            env=environment,
            log_path=self._log("http.log"),
            cwd=PROJECT_DIR,
            ready=lambda: port_accepts(HOST, self.http_port),
        )
        self.runner = ManagedProcess(
            "event-source runner",
            [*_script("run_event_source"), "--lambda-timeout-seconds", str(drain_timeout_seconds)],
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
        return self.cluster.url if self.cluster is not None else self.redis.url

    @property
    def redis_nodes(self) -> list[RedisServer]:
        return list(self.cluster.nodes) if self.cluster is not None else [self.redis]

    def _log(self, name: str) -> str:
        return os.path.join(self.work_dir, name)

    def _child_environment(self) -> dict[str, str]:
        environment = {name: value for name, value in os.environ.items() if name not in FOREIGN_VARIABLES}
        config_path = os.path.join(self.work_dir, "webhooks.json")
        with open(config_path, "w") as config_file:
            redis_port = self.cluster.nodes[0].port if self.cluster is not None else self.redis.port
            json.dump(webhooks_document(redis_port, self.inline, cluster=self.cluster is not None), config_file)
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
            self._admin_sqs = admin_sqs_client(self.moto_url, placeholders_only=True)
        return self._admin_sqs

    def redis_client(self) -> redis.Redis:
        if self.cluster is not None:
            # Reads the stream wherever its shard's primary is now; typed as the Redis the
            # reconciler reads, as it calls only commands both clients share (XRANGE).
            return self.cluster.client()  # type: ignore[return-value]
        return redis.Redis(host=HOST, port=self.redis.port, socket_timeout=5, socket_connect_timeout=1)

    def queue_depths(self) -> QueueDepths:
        assert self.queues is not None, "start() first"
        sqs = self.admin_sqs()
        return QueueDepths(
            retry=queue_depth(sqs, self.queues.retry_queue_url),
            dead_letters=queue_depth(sqs, self.queues.dead_letter_queue_url),
        )

    def describe(self) -> list[str]:
        """What this stack uses, one line each."""
        redis_words = (
            "a Redis Cluster started here, 3 primaries + 3 replicas, min_replicas_acked 1"
            if self.cluster is not None
            else "started here; stopped and started by PID"
        )
        return [
            f"HTTP   {self.http_url}  (started here)",
            f"Redis  {self.redis_url}  ({redis_words})",
            f"SQS    {self.sqs_url}  (moto started here at {self.moto_url}, behind a TCP proxy)",
        ]

    # Lifecycle

    def start(self) -> None:
        try:
            if self.cluster is not None:
                self.cluster.start()
            else:
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
        if self.cluster is not None:
            self.heal_cluster()
        else:
            self.resume_redis()
            self.start_redis()
        self.resume_sqs()
        self.restore_sqs()
        self.http.start()
        self.start_runner()

    def close(self) -> None:
        """Stops every process, newest first; each stop is bounded, and one failing skips none."""
        errors: list[BaseException] = []
        stop_redis = self.cluster.close if self.cluster is not None else self.redis.stop
        for stop in (self.runner.stop, self.http.stop, self.sqs_proxy.stop, self.moto.stop, stop_redis):
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

    # Cluster faults, each on the shard that holds the stream (every key of a delivery is there).
    # Each returns a note for the fault's record; a fault that cannot be inflicted says why.

    def _stream_primary(self) -> RedisServer:
        assert self.cluster is not None, "a cluster fault needs ChaosStack(cluster=True)"
        return self.cluster.node_for_key(STREAM)

    def crash_stream_primary(self) -> str:
        """SIGKILL: the cluster calls it failed after its node timeout and promotes the replica."""
        try:
            primary = self._stream_primary()
        except (redis.RedisError, redis.exceptions.RedisClusterException, StopIteration) as exc:
            return f"skipped: no primary found ({exc})"
        primary.kill()
        return f"primary on port {primary.port} killed"

    def fail_over_stream_shard(self) -> str:
        """CLUSTER FAILOVER on the replica: a coordinated switch that loses nothing."""
        assert self.cluster is not None
        try:
            primary = self._stream_primary()
            replica = self.cluster.replica_of(primary)
            self.cluster.failover_to(replica)
        except (redis.RedisError, redis.exceptions.RedisClusterException, LookupError, RuntimeError) as exc:
            return f"skipped: {exc}"
        return f"replica on port {replica.port} took over from port {primary.port}"

    def hang_stream_replica(self) -> str:
        """SIGSTOP of the replica: replication and so WAIT stall; the primary still answers."""
        assert self.cluster is not None
        try:
            replica = self.cluster.replica_of(self._stream_primary())
        except (redis.RedisError, redis.exceptions.RedisClusterException, LookupError, StopIteration) as exc:
            return f"skipped: {exc}"
        replica.pause()
        return f"replica on port {replica.port} stopped"

    def heal_cluster(self) -> None:
        """Every node running again (a killed one rejoins from its nodes.conf, as a replica when
        its replica took over) and the cluster healthy."""
        assert self.cluster is not None
        for node in self.cluster.nodes:
            node.resume()
            if not node.running:
                node.start()
        self.cluster.wait_until_healthy()

    def start_runner(self) -> None:
        self.runner.start()


# A `docker stop` waits up to 10 s for the container before killing it.
SWITCH_COMMAND_TIMEOUT_SECONDS = 60
# A stop command may return before Redis is down (`kill` sends SIGTERM; Redis then flushes its
# append-only file and exits): the outage starts once Redis stops answering.
REDIS_DOWN_WAIT_SECONDS = 10.0


class RedisSwitch(Protocol):
    """How to take down a Redis the drill does not own, and bring it back."""

    def stop_redis(self) -> None: ...

    def start_redis(self) -> None: ...

    def describe(self) -> str: ...


class CommandSwitch:
    """Stops and starts Redis by commands, e.g. `docker stop` and `docker start` of its container."""

    def __init__(self, stop_command: Sequence[str], start_command: Sequence[str]) -> None:
        self.stop_command = list(stop_command)
        self.start_command = list(start_command)

    @classmethod
    def docker(cls, container: str) -> CommandSwitch:
        return cls(["docker", "stop", container], ["docker", "start", container])

    def stop_redis(self) -> None:
        self._run(self.stop_command)

    def start_redis(self) -> None:
        self._run(self.start_command)

    def describe(self) -> str:
        return f"stopped by `{shlex.join(self.stop_command)}`, started by `{shlex.join(self.start_command)}`"

    @staticmethod
    def _run(command: list[str]) -> None:
        try:
            subprocess.run(command, check=True, timeout=SWITCH_COMMAND_TIMEOUT_SECONDS)
        except (OSError, subprocess.SubprocessError) as exc:
            raise StackError(f"`{shlex.join(command)}` failed: {exc}") from exc


class ExternalStack:
    """A stack run elsewhere. start() checks that each part given answers, and says which does not:
    a drill never swaps in a part of its own for one it was pointed at."""

    def __init__(
        self,
        http_url: str,
        redis_url: str,
        switch: RedisSwitch,
        *,
        sqs_endpoint: str | None = None,
        sqs_endpoint_origin: str = "--endpoint-url",
        retry_queue_name: str = RETRY_QUEUE,
        dead_letter_queue_name: str = DEAD_LETTER_QUEUE,
    ) -> None:
        """sqs_endpoint: where its queues are (LocalStack, moto); None leaves them unchecked.
        sqs_endpoint_origin names where the endpoint came from, for the messages."""
        self._http_url = http_url
        self._redis_url = redis_url
        self.switch = switch
        self.sqs_endpoint = sqs_endpoint
        self.sqs_endpoint_origin = sqs_endpoint_origin
        self.queue_names = (retry_queue_name, dead_letter_queue_name)
        self._sqs: Any = None
        self._queue_urls: tuple[str, str] | None = None

    @property
    def http_url(self) -> str:
        return self._http_url

    @property
    def redis_url(self) -> str:
        return self._redis_url

    def start(self) -> None:
        parts = urlsplit(self.http_url)
        if parts.scheme != "http" or not parts.hostname:
            raise StackError(f"--url must be an http:// URL, got {self.http_url!r}")
        if not port_accepts(parts.hostname, parts.port or 80, timeout=2.0):
            raise StackError(f"nothing answers at {self.http_url} (--url)")
        if not redis_answers(self.redis_url):
            raise StackError(f"Redis does not answer at {self.redis_url} (--redis-url)")
        if self.sqs_endpoint is not None:
            self._start_sqs(self.sqs_endpoint)

    def _start_sqs(self, endpoint: str) -> None:
        if not endpoint_answers(endpoint, timeout=2.0):
            raise StackError(f"the SQS endpoint {endpoint} ({self.sqs_endpoint_origin}) does not answer")
        self._sqs = admin_sqs_client(endpoint, placeholders_only=False)
        try:
            retry, dead_letters = (find_queue_url(self._sqs, name) for name in self.queue_names)
        except SqsAdminError as exc:
            raise StackError(f"at the SQS endpoint {endpoint} ({self.sqs_endpoint_origin}): {exc}") from exc
        self._queue_urls = (retry, dead_letters)

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=1)

    def stop_redis(self) -> None:
        self.switch.stop_redis()
        deadline = time.monotonic() + REDIS_DOWN_WAIT_SECONDS
        while redis_answers(self.redis_url):
            if time.monotonic() > deadline:
                raise StackError(
                    f"Redis at {self.redis_url} still answers {REDIS_DOWN_WAIT_SECONDS:g} s after "
                    f"it was {self.switch.describe()}"
                )
            time.sleep(0.1)

    def start_redis(self) -> None:
        self.switch.start_redis()

    def queue_depths(self) -> QueueDepths | None:
        if self._queue_urls is None:
            return None
        retry, dead_letters = self._queue_urls
        return QueueDepths(retry=queue_depth(self._sqs, retry), dead_letters=queue_depth(self._sqs, dead_letters))

    def describe(self) -> list[str]:
        if self.sqs_endpoint is None:
            sqs = "not checked (give --endpoint-url, or set AWS_ENDPOINT_URL, to check the queues)"
        else:
            sqs = f"{self.sqs_endpoint}  ({self.sqs_endpoint_origin}; queues {', '.join(self.queue_names)})"
        return [
            f"HTTP   {self.http_url}  (--url, running elsewhere)",
            f"Redis  {self.redis_url}  (--redis-url; {self.switch.describe()})",
            f"SQS    {sqs}",
        ]
